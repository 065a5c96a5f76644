"""``i2i translate sde-bbdm`` end to end on tiny random networks through the real loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import run_i2i
from tests.tiny_models import manifest_entry, manifest_env, random_weights, toml_table

TINY_BRIDGE: dict[str, Any] = {
    "image_size": 32,
    "model_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": [1, 1],
    "attention_resolutions": [2],
    "num_head_channels": 16,
}
"""The golden files' tiny UNet (bbdm.md §11): two levels, attention at ds 2 and in the middle."""

TINY_VQ: dict[str, Any] = {
    "resolution": 32,
    "ch": 32,
    "ch_mult": "1,1,1",
    "num_res_blocks": 1,
    "n_embed": 16,
}
"""The vq-f4 autoencoder shrunk to 32 px (still f = 4: 32 px images, 8x8x3 latents)."""


def toml_value(value: Any) -> str:
    """A TOML scalar or list of integers."""
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return f'"{value}"' if isinstance(value, str) else str(value).lower()


def model_table(name: str, values: dict[str, Any]) -> str:
    """A TOML table whose values may be integer lists (``toml_table`` writes scalars only)."""
    return f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())


def write_sources(folder: Path, count: int = 3) -> Path:
    """``count`` non-square RGB images (48x24): the method stretches them to 32x32."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(count):
        pixels = rng.integers(0, 256, size=(24, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"edge_{k}.png")
    return folder


@pytest.fixture
def tiny_bridge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Tiny bridge UNet and VQ-f4 weights in a test manifest, adopted into the cache."""
    bridge = random_weights("bbdm-unet", "sde_bbdm", TINY_BRIDGE, tmp_path / "tiny_bridge.pt")
    vq = random_weights("vq-f4", "vq_f4", TINY_VQ, tmp_path / "tiny_vq.pt", seed=1)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        manifest_entry("tiny_sde_bbdm", bridge, "tiny") + manifest_entry("tiny_vq_f4", vq, "tiny")
    )
    monkeypatch.setenv("I2I_MANIFESTS", str(manifest))
    for name, path in (("tiny_sde_bbdm", bridge), ("tiny_vq_f4", vq)):
        adopted = run_i2i(["download", "--from", str(path), name], env=manifest_env())
        assert adopted.returncode == 0, adopted.stderr
    config = tmp_path / "tiny.toml"
    config.write_text(
        'checkpoint = "tiny_sde_bbdm"\nimage_size = 32\nsteps = 10\ntaus = "10,5,1"\n'
        'vq_checkpoint = "tiny_vq_f4"\n\n' + model_table("model", TINY_BRIDGE)
    )
    return {"config": config, "sources": write_sources(tmp_path / "edges"), "bridge": bridge}


def translate(setup: dict[str, Path], out: Path, *extra: str) -> Any:
    """Run ``i2i translate sde-bbdm`` on the tiny sources with the tiny config."""
    args = ["translate", "sde-bbdm", "--config", str(setup["config"])]
    args += ["--input", str(setup["sources"]), "--output", str(out), "--device", "cpu", *extra]
    return run_i2i(args, env=manifest_env())


def outputs(folder: Path) -> dict[str, np.ndarray]:
    """The translated images by name (the quick-look grid left out)."""
    return {
        p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png")) if p.stem != "grid"
    }


def test_fast_translation_writes_one_stretched_target_per_source(
    tiny_bridge: dict[str, Path], tmp_path: Path
) -> None:
    result = translate(tiny_bridge, tmp_path / "out", "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    images = outputs(tmp_path / "out")
    assert sorted(images) == ["edge_0.png", "edge_1.png", "edge_2.png"]
    assert {image.shape for image in images.values()} == {(32, 32, 3)}
    assert "fast sampler, 3 network calls" in result.stderr
    again = translate(tiny_bridge, tmp_path / "again", "--batch-size", "3")
    assert again.returncode == 0, again.stderr
    for name, image in outputs(tmp_path / "again").items():  # per-item noise: batch-free
        np.testing.assert_array_equal(image, images[name])


def test_full_sampler_runs_every_step(tiny_bridge: dict[str, Path], tmp_path: Path) -> None:
    result = translate(tiny_bridge, tmp_path / "out", "--sampler", "full", "--steps", "4")
    assert result.returncode == 0, result.stderr
    assert "full sampler, 4 network calls" in result.stderr
    assert len(outputs(tmp_path / "out")) == 3


def test_latent_mode_round_trips_through_vq_f4(
    tiny_bridge: dict[str, Path], tmp_path: Path
) -> None:
    """Sources encoded to 8x8x3 latents, bridged there and decoded to 32 px (bbdm.md §6)."""
    assignments = [f"--set=vq_model.{k}={toml_value(v)}" for k, v in TINY_VQ.items()]
    result = translate(tiny_bridge, tmp_path / "out", "--latent", "vq-f4", *assignments)
    assert result.returncode == 0, result.stderr
    images = outputs(tmp_path / "out")
    assert {image.shape for image in images.values()} == {(32, 32, 3)}
    assert "vq-f4" in result.stderr


def test_without_checkpoint_says_to_train_one(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "edges")
    result = run_i2i(["translate", "sde-bbdm", "--input", str(sources), "--device", "cpu"])
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "i2i train bbdm" in result.stderr and "--checkpoint" in result.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--taus", "5,10"], "strictly decreasing"),
        (["--taus", "20,10"], "[1, T = 10]"),
        (["--taus", "10,a"], "comma-separated"),
        (["--steps", "20", "--taus", ""], "give --taus for T = 20"),
    ],
)
def test_bad_taus_are_one_line(
    tiny_bridge: dict[str, Path], tmp_path: Path, flags: list[str], says: str
) -> None:
    result = translate(tiny_bridge, tmp_path / "out", *flags)
    assert result.returncode == 2
    assert says in result.stderr and result.stderr.strip().count("\n") == 0


def test_weights_of_another_architecture_are_one_line(
    tiny_bridge: dict[str, Path], tmp_path: Path
) -> None:
    """A bridge file of another width, and an ADM UNet's, each: one line, nothing written."""
    wide = random_weights(
        "bbdm-unet", "sde_bbdm", {**TINY_BRIDGE, "model_channels": 64}, tmp_path / "wide.pt"
    )
    adm = tmp_path / "adm.pt"
    torch.save({"time_embed.0.weight": torch.zeros(4, 4)}, adm)
    for weights in (wide, adm):
        result = translate(tiny_bridge, tmp_path / "out", "--checkpoint", str(weights))
        assert result.returncode == 2, result.stderr
        assert "does not fit the configured network" in result.stderr
        assert result.stderr.strip().count("\n") == 0
    assert not outputs(tmp_path / "out")


def test_a_backbone_predicting_noise_is_refused(
    tiny_bridge: dict[str, Path], tmp_path: Path
) -> None:
    from tests.tiny_models import TINY_ADM_UNET

    adm = random_weights("adm-unet", "afhq_dog_4m", TINY_ADM_UNET, tmp_path / "adm.pt")
    config = tmp_path / "adm.toml"
    config.write_text(
        f'backbone = "adm-unet"\npreset = "afhq_dog_4m"\ncheckpoint = "{adm}"\nsteps = 10\n'
        'taus = "10,5,1"\n\n' + toml_table("model", TINY_ADM_UNET)
    )
    result = translate({**tiny_bridge, "config": config}, tmp_path / "out")
    assert result.returncode == 2
    assert "predicts eps" in result.stderr and "bbdm-unet" in result.stderr


REFERENCE_ATTRIBUTES = (
    "in_channels",
    "model_channels",
    "out_channels",
    "num_res_blocks",
    "attention_resolutions",
    "dropout",
    "channel_mult",
    "conv_resample",
    "num_heads",
    "num_head_channels",
)
"""What the reference's ``UNet.__init__`` keeps of its arguments as they are (besides
``num_classes`` and the resolved ``num_heads_upsample``, bbdm.md §7)."""


def pickle_as_the_reference(
    weights: Path,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unet: dict[str, Any] = TINY_BRIDGE,
    parallel: bool = False,
) -> Path:
    """``torch.save(model, path)`` of a tiny net whose classes carry the reference's names.

    Stand-in modules ``sde_bbdm.networks.openai`` / ``.utils`` exist only while pickling, so
    the file names the reference's classes exactly as examples/train.py's final save does; the
    UNet keeps its constructor's arguments as the reference's does. ``parallel``: inside a
    ``DataParallel``.
    """
    import sys
    import types

    from i2i_bbdm.settings import BridgeUNetSettings
    from i2i_bbdm.unet import BridgeUNet
    from i2i_cli.diffusion import nn as core

    renamed = {
        BridgeUNet: ("openai", "UNet"),
        core.TimestepEmbedSequential: ("openai", "TimestepEmbedSequential"),
        core.ResBlock: ("openai", "ResBlock"),
        core.AttentionBlock: ("openai", "AttentionBlock"),
        core.Downsample: ("openai", "Downsample"),
        core.Upsample: ("openai", "Upsample"),
        core.GroupNorm32: ("utils", "GroupNorm32"),
    }
    packages = (
        "sde_bbdm",
        "sde_bbdm.networks",
        "sde_bbdm.networks.openai",
        "sde_bbdm.networks.utils",
    )
    for package in packages:
        monkeypatch.setitem(sys.modules, package, types.ModuleType(package))
    fakes: dict[type, type] = {}
    for ours, (module, name) in renamed.items():
        qualified = f"sde_bbdm.networks.{module}"
        fakes[ours] = type(name, (ours,), {"__module__": qualified})
        setattr(sys.modules[qualified], name, fakes[ours])
    openai = fakes[BridgeUNet].__module__
    qkv = type("QKVAttentionLegacy", (torch.nn.Module,), {"__module__": openai})
    sys.modules[openai].QKVAttentionLegacy = qkv
    settings = BridgeUNetSettings(**unet)
    model = BridgeUNet(settings)
    model.load_state_dict(torch.load(weights, weights_only=True))
    for name in REFERENCE_ATTRIBUTES:
        setattr(model, name, getattr(settings, name))
    model.num_classes = None
    model.num_heads_upsample = settings.num_heads  # -1 resolved, as the constructor does
    for module in list(model.modules()):
        if isinstance(module, core.AttentionBlock):
            module.attention = qkv()  # the reference's parameter-free attention submodule
        module.__class__ = fakes.get(type(module), type(module))
    torch.save(torch.nn.DataParallel(model) if parallel else model, path)
    return path


def test_a_pickled_reference_network_translates_like_its_state_dict(
    tiny_bridge: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference's ``torch.save(model)`` file, read without its code, gives the same images."""
    pickled = pickle_as_the_reference(tiny_bridge["bridge"], tmp_path / "model.pth", monkeypatch)
    from i2i_bbdm.weights import read_bridge_weights

    state = read_bridge_weights(pickled).state_dict
    expected = torch.load(tiny_bridge["bridge"], weights_only=True)
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    base = translate(tiny_bridge, tmp_path / "base")
    result = translate(tiny_bridge, tmp_path / "out", "--checkpoint", str(pickled))
    assert base.returncode == 0 and result.returncode == 0, result.stderr
    for name, image in outputs(tmp_path / "out").items():
        np.testing.assert_array_equal(image, outputs(tmp_path / "base")[name])


@pytest.mark.parametrize("parallel", [False, True])
def test_a_pickled_reference_network_records_its_constructor_arguments(
    tiny_bridge: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    from i2i_bbdm.weights import read_bridge_weights

    pickled = pickle_as_the_reference(
        tiny_bridge["bridge"], tmp_path / "model.pth", monkeypatch, parallel=parallel
    )
    described = read_bridge_weights(pickled)
    expected = {k: v for k, v in TINY_BRIDGE.items() if k != "image_size"}  # not an argument
    assert {k: described.settings[k] for k in expected} == expected
    assert described.settings["num_heads_upsample"] == -1  # = num_heads, as the settings say
    assert described.settings["use_scale_shift_norm"] is True
    assert described.settings["resblock_updown"] is True
    assert described.settings["use_new_attention_order"] is False
    assert described.recorded_as == "UNet(3->3, 32 x [1, 1], 1 blocks)"


def test_a_pickled_reference_network_is_built_as_it_records(
    tiny_bridge: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --set model.*: the file's own record builds its (non-default) network; a value that
    contradicts it is one line naming both."""
    pickled = pickle_as_the_reference(tiny_bridge["bridge"], tmp_path / "model.pth", monkeypatch)
    bare = tmp_path / "bare.toml"
    bare.write_text('image_size = 32\nsteps = 10\ntaus = "10,5,1"\n')  # no [model], no preset
    setup = {**tiny_bridge, "config": bare}
    base = translate(tiny_bridge, tmp_path / "base")
    result = translate(setup, tmp_path / "out", "--checkpoint", str(pickled))
    assert base.returncode == 0 and result.returncode == 0, result.stderr
    assert "UNet(3->3, 32 x [1, 1], 1 blocks)" in result.stderr
    for name, image in outputs(tmp_path / "out").items():
        np.testing.assert_array_equal(image, outputs(tmp_path / "base")[name])

    for flag, told in (("model.model_channels=64", "64"), ("preset=sde_bbdm", "128")):
        refused = translate(setup, tmp_path / "x", "--checkpoint", str(pickled), "--set", flag)
        assert refused.returncode == 2, refused.stderr
        message = refused.stderr.strip()
        assert "\n" not in message and "Traceback" not in message
        assert "model.model_channels: the file records 32" in message and told in message


def test_the_defaults_are_the_official_build_unet() -> None:
    """With no preset (the method's default) the UNet is preset sde_bbdm's, the official one."""
    from i2i_cli.networks.backbones import backbone_settings

    assert backbone_settings("bbdm-unet")[1] == backbone_settings("bbdm-unet", "sde_bbdm")[1]


def test_a_pickle_naming_other_code_is_refused_in_one_line(
    tiny_bridge: dict[str, Path], tmp_path: Path
) -> None:
    import pickle

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(print))  # a global outside the allow-list
    result = translate(tiny_bridge, tmp_path / "out", "--checkpoint", str(evil))
    assert result.returncode != 0
    assert "builtins.print" in result.stderr and result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize(("task", "sampler"), [("eval", "fast"), ("generate", "full")])
def test_task_presets_are_the_reference_scripts(task: str, sampler: str) -> None:
    """eval: eval.py's 199-step fast schedule; generate: generate.py's full T-step sampler."""
    from i2i_bbdm.settings import SDEBBDMSettings
    from i2i_cli.api.settings import validate
    from i2i_cli.cli.commands.resolve import preset_layer

    settings = validate(SDEBBDMSettings, preset_layer("i2i_bbdm.tasks.sde_bbdm", task))
    assert (settings.sampler, settings.steps, settings.c_lambda) == (sampler, 1000, 2.0)
    assert len(settings.fast_taus()) == 199
