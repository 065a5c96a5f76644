"""A checkpoint that records its network decides what is built; presets cross-check it.

Two kinds of record: an EDM pickle's class and constructor arguments (``DescribedWeights``), and
the ``backbone.toml`` an i2i trainer writes beside the weights it exports. Formats that record
nothing are built from the preset, as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from i2i_cli.api.settings import parse_toml
from i2i_cli.base.errors import UsageError
from i2i_cli.checkpoints.manifest import Artifact
from i2i_cli.checkpoints.store import CheckpointStore
from i2i_cli.networks.backbones import TRAINED_RECORD, load_backbone, trained_record
from tests.conftest import run_i2i

SMALL_2D = {"num_channels": 32, "num_res_blocks": 1}
"""A ddib-2d network narrower and shallower than the backbone's defaults."""


def small_weights(folder: Path, *, record: str | None = "model.pt") -> Path:
    """A ddib-2d ``model.pt`` of the SMALL_2D size, with a trainer's record naming ``record``."""
    from i2i_cli.networks.backbones import backbone_settings

    descriptor, settings = backbone_settings("ddib-2d", None, SMALL_2D)
    weights = folder / "model.pt"
    torch.save(descriptor.build(settings).state_dict(), weights)
    if record is not None:
        model = ", ".join(f"{key} = {value}" for key, value in SMALL_2D.items())
        text = f'backbone = "ddib-2d"\ncheckpoint = "{folder / record}"\nmodel = {{ {model} }}\n'
        (folder / TRAINED_RECORD).write_text(text)
    return weights


def test_a_trainers_record_builds_the_trained_size_without_flags(tmp_path: Path) -> None:
    loaded = load_backbone("ddib-2d", checkpoint=small_weights(tmp_path))
    assert loaded.settings.num_channels == 32 and loaded.settings.num_res_blocks == 1


def test_without_its_record_the_same_file_does_not_fit_the_defaults(tmp_path: Path) -> None:
    weights = small_weights(tmp_path, record=None)
    with pytest.raises(Exception, match="does not fit the configured network"):
        load_backbone("ddib-2d", checkpoint=weights)


def test_a_record_of_another_weights_file_is_not_this_files(tmp_path: Path) -> None:
    weights = small_weights(tmp_path, record="other.pt")
    assert trained_record("ddib-2d", weights) is None
    assert trained_record("adm-unet", small_weights(tmp_path)) is None  # another backbone's


def test_an_override_contradicting_the_record_names_both_values(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        load_backbone("ddib-2d", checkpoint=small_weights(tmp_path), overrides={"num_channels": 64})
    message = str(caught.value)
    assert "\n" not in message
    assert "model.num_channels: the file records 32" in message and "says 64" in message
    assert TRAINED_RECORD in message


def test_an_agreeing_override_and_an_unrecorded_field_are_taken(tmp_path: Path) -> None:
    loaded = load_backbone(
        "ddib-2d", checkpoint=small_weights(tmp_path), overrides={"num_channels": 32}
    )
    assert loaded.settings.num_res_blocks == 1


def test_a_default_preset_is_not_used_for_a_file_that_records_its_network(
    tmp_path: Path, golden_dir: Path
) -> None:
    """A preset the run did not choose builds plain state dicts only: the pickle's record wins."""
    snapshot = golden_dir / "edm_genuine" / "vp_cond.pkl"
    loaded = load_backbone(
        "edm", checkpoint=snapshot, preset="edm_imagenet_64x64_cond_adm", preset_is_default=True
    )
    assert type(loaded.module).__name__ == "VPPrecond"
    assert (loaded.settings.img_resolution, loaded.settings.label_dim) == (16, 10)


def test_verify_names_what_an_edm_pickle_records(tmp_path: Path, golden_dir: Path) -> None:
    snapshot = golden_dir / "edm_genuine" / "ve_uncond.pkl"
    artifact = Artifact.model_validate(
        {"name": "t_ve", "file": "ve.pkl", "backbone": "edm", "sources": [{"url": "http://h/x"}]}
    )
    store = CheckpointStore(tmp_path, {"t_ve": artifact}, {"t_ve": "test"})
    check = store.check_contents(artifact, snapshot)
    assert check.ok, check.problem
    assert check.checked is not None
    assert check.checked.startswith("records VEPrecond(SongUNet, 16x16, unconditional), as edm")


def test_an_edm_pickle_is_not_adopted_as_an_official_artifact_it_contradicts(
    golden_dir: Path,
) -> None:
    """The genuine VP snapshot is not edm-cifar10-32x32-uncond-vp.pkl (an EDMPrecond)."""
    snapshot = golden_dir / "edm_genuine" / "vp_uncond.pkl"
    result = run_i2i(["download", "--from", str(snapshot), "edm_cifar10_32x32_uncond_vp"])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "records its network (VPPrecond(SongUNet, 16x16, unconditional))" in result.stderr
    assert "model.precond: the file records 'vp'" in result.stderr


@pytest.mark.parametrize(
    ("command", "builds"),
    [
        (["sample", "edm", "--task", "cifar10-32x32-uncond-vp"], "EDMPrecond(SongUNet, 32x32"),
        (["sample", "edm", "--task", "cifar10-32x32-cond-ve"], "EDMPrecond(SongUNet, 32x32, 10"),
        (["sample", "edm", "--task", "imagenet-64x64-cond-adm"], "EDMPrecond(DhariwalUNet, 64"),
        (["sample", "dg", "--task", "cifar10-cond"], "EDMPrecond(SongUNet, 32x32, 10 labels)"),
        (["sample", "edm"], "EDMPrecond(SongUNet, 32x32, unconditional)"),
    ],
)
def test_dry_run_shows_the_network_a_preset_builds(command: list[str], builds: str) -> None:
    result = run_i2i([*command, "--dry-run"])
    assert result.returncode == 0, result.stderr
    network = parse_toml(result.stdout, "dry run")["i2i"]["network"]
    assert network["builds"].startswith(builds)
    assert network["precond"] == "edm"


def test_plugins_inspect_prints_what_a_pickle_records(golden_dir: Path) -> None:
    snapshot = golden_dir / "edm_genuine" / "edm_uncond.pkl"
    result = run_i2i(["plugins", "--inspect", str(snapshot), "--backbone", "edm"])
    assert result.returncode == 0, result.stderr
    assert "records EDMPrecond(SongUNet, 16x16, unconditional)" in result.stdout
    settings = parse_toml(result.stdout, "inspect")
    assert (settings["precond"], settings["model_channels"], settings["augment_dim"]) == (
        "edm",
        16,
        9,
    )


def test_plugins_inspect_says_when_a_file_records_nothing(tmp_path: Path) -> None:
    weights = small_weights(tmp_path, record=None)
    result = run_i2i(["plugins", "--inspect", str(weights), "--backbone", "ddib-2d"])
    assert result.returncode == 0, result.stderr
    assert "records no network" in result.stdout
    recorded = run_i2i(
        ["plugins", "--inspect", str(small_weights(tmp_path)), "--backbone", "ddib-2d"]
    )
    assert "records ddib-2d with its [model]" in recorded.stdout
    assert "num_channels = 32" in recorded.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--inspect", "missing.pt", "--backbone", "edm"], "no such file"),
        (["--inspect", "missing.pt"], "go together"),
    ],
)
def test_plugins_inspect_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = run_i2i(["plugins", *args])
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


TINY_ADM = {
    "image_size": 32,
    "num_channels": 32,
    "num_res_blocks": 1,
    "attention_resolutions": "16",
    "channel_mult": "1,2",
}
"""An adm-unet far smaller than its afhq_dog_4m preset, as ``i2i train diffusion`` may train."""


def trained_adm(folder: Path) -> Path:
    """A TINY_ADM ``model.pt`` with the ``backbone.toml`` i2i train diffusion writes beside it."""
    from i2i_cli.api.settings import to_toml
    from i2i_cli.networks.backbones import backbone_settings

    descriptor, settings = backbone_settings("adm-unet", "afhq_dog_4m", TINY_ADM)
    weights = folder / "model.pt"
    torch.save(descriptor.build(settings).state_dict(), weights)
    record = {"backbone": "adm-unet", "preset": "afhq_dog_4m", "checkpoint": str(weights)}
    (folder / TRAINED_RECORD).write_text(to_toml({**record, "model": TINY_ADM}))
    return weights


def test_the_preset_a_trainers_record_names_is_no_contradiction(tmp_path: Path) -> None:
    weights = trained_adm(tmp_path)
    loaded = load_backbone("adm-unet", preset="afhq_dog_4m", checkpoint=weights)
    assert (loaded.settings.image_size, loaded.settings.num_channels) == (32, 32)


def test_another_chosen_preset_is_checked_against_the_record(tmp_path: Path) -> None:
    weights = trained_adm(tmp_path)
    expected = r"model\.image_size: the file records 32, preset imagenet256_cond says 256"
    with pytest.raises(UsageError, match=expected):
        load_backbone("adm-unet", preset="imagenet256_cond", checkpoint=weights)


def test_a_methods_default_preset_yields_to_a_trained_record(tmp_path: Path) -> None:
    """``i2i translate sdedit --checkpoint <i2i train diffusion's model.pt>``: no --set needed."""
    from PIL import Image

    weights = trained_adm(tmp_path)
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / "in" / "a.png")
    common = ("translate", "sdedit", "--checkpoint", str(weights), "--input", str(tmp_path / "in"))
    out = tmp_path / "out"
    result = run_i2i([*common, "--output", str(out), "--device", "cpu", "--set", "start_step=3"])
    assert result.returncode == 0, result.stderr
    assert (out / "a.png").is_file()
    refused = run_i2i([*common, "--output", str(tmp_path / "o2"), "--set", "model.image_size=64"])
    assert refused.returncode == 2
    assert "model.image_size: the file records 32" in refused.stderr
