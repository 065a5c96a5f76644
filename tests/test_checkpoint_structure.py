"""Checkpoints verified by structure: the manifests name each model file's backbone and preset,
and a file without a published sha256 must hold exactly that network's tensors (shapes built on
the meta device), an .npz its arrays; the shipped entries are checked against the registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.checkpoints.cache import read_record
from i2i_cli.checkpoints.manifest import Artifact, ManifestSource
from i2i_cli.checkpoints.store import CheckpointStore
from i2i_cli.checkpoints.structure import check_contents, expected_shapes, shape_problems
from i2i_cli.networks.backbones import backbone_descriptor, backbone_presets
from tests.conftest import run_i2i

MODEL_SUFFIXES = (".pt", ".pth", ".pkl", ".zip", ".ckpt", ".safetensors")
NO_BACKBONE = {
    "fid_pt_inception": "the FID detector is the core's Inception, not a registered backbone",
    "fid_nvidia_inception": "the FID detector",
    "fid_nvidia_inception_torchscript": "the FID detector (published sha256)",
    "lpips_alexnet": "the LPIPS trunk",
    "lpips_alex_v0_1": "the LPIPS heads",
    "bbdm_deeplabv3_cityscapes": "the mIoU segmenter",
    "adm_128x128_classifier": "no adm-classifier preset",
    "adm_64x64_classifier": "no adm-classifier preset",
    "dg_imagenet_classifier": "no adm-classifier preset for the latent classifier",
    "dit_xl_2_256": "DiT is not a registered backbone",
}
"""The model files whose structure is not checked against a backbone, and why."""


@pytest.fixture(scope="module")
def shipped() -> dict[str, Artifact]:
    """Every artifact of every installed manifest."""
    return dict(CheckpointStore.open(Path("unused")).entries)


def test_every_model_file_names_a_backbone_or_a_reason(shipped: dict[str, Artifact]) -> None:
    models = {name for name, a in shipped.items() if a.file.endswith(MODEL_SUFFIXES)}
    unnamed = {name for name in models if shipped[name].backbone is None}
    assert unnamed == set(NO_BACKBONE)


def test_every_backbone_and_preset_named_is_registered(shipped: dict[str, Artifact]) -> None:
    for artifact in shipped.values():
        if artifact.backbone is None:
            continue
        descriptor = backbone_descriptor(artifact.backbone)
        if artifact.preset is not None:
            assert artifact.preset in backbone_presets(descriptor), artifact.name


def test_every_npz_names_its_arrays(shipped: dict[str, Artifact]) -> None:
    for artifact in shipped.values():
        if artifact.file.endswith(".npz"):
            assert artifact.arrays, artifact.name
    assert shipped["dg_true_data_label"].arrays == ("samples", "label")
    assert shipped["edm_fid_refs_cifar10_32x32"].arrays == ("mu", "sigma")


def test_the_issue_s_named_entries() -> None:
    store = CheckpointStore.open(Path("unused"))
    vgg = store.artifact("sddm_vgg_normalised")
    assert (vgg.backbone, vgg.preset) == ("adain-vgg", "vgg_normalised")
    vq = store.artifact("bbdm_vqgan_f4")
    assert (vq.backbone, vq.preset) == ("vq-f4", "vq_f4")
    assert store.artifact("egsde_afhq_dse").overrides == {"out_channels": 3}


@pytest.mark.slow
def test_every_named_network_builds_on_the_meta_device(shipped: dict[str, Artifact]) -> None:
    for artifact in shipped.values():
        if artifact.backbone is not None:
            shapes = expected_shapes(artifact.backbone, artifact.preset, artifact.overrides)
            assert shapes, artifact.name


def test_shapes_come_without_allocating_the_weights() -> None:
    shapes = expected_shapes("adm-unet", "imagenet256_cond")
    assert sum(int(np.prod(shape)) for shape in shapes.values()) > 500_000_000  # 2 GB unbuilt


def test_shape_problems_name_missing_unexpected_and_reshaped_keys() -> None:
    expected = {"a": (2, 3), "b": (4,), "c": (1,)}
    found = {"a": (3, 2), "b": (4,), "z": (1,)}
    problems = shape_problems(expected, found)
    assert problems == [
        "1 missing keys (first: c)",
        "1 unexpected keys (first: z)",
        "1 shape mismatches (first: a (3, 2) vs (2, 3), file vs network)",
    ]
    assert shape_problems(expected, {f"module.{k}": v for k, v in expected.items()}) == []


def _tiny_artifact(**fields: object) -> Artifact:
    """A ddib-2d artifact shrunk to width 32, depth 1."""
    return Artifact.model_validate(
        {
            "name": "t_points",
            "file": "points.pt",
            "backbone": "ddib-2d",
            "overrides": {"num_channels": 32, "num_res_blocks": 1},
            "sources": [{"url": "http://127.0.0.1:9/points.pt"}],
            **fields,
        }
    )


def test_a_file_under_a_temporary_name_is_checked_as_its_artifact(tmp_path: Path) -> None:
    artifact = _tiny_artifact()
    shapes = expected_shapes("ddib-2d", None, artifact.overrides)
    partial = tmp_path / "points.pt.download"
    torch.save({f"module.{k}": torch.zeros(s) for k, s in shapes.items()}, partial)
    store = CheckpointStore(tmp_path, {"t_points": artifact}, {"t_points": "test"})
    check = store.check_contents(artifact, partial)
    assert (
        check.ok
        and check.checked
        == f"ddib-2d with num_channels=32, num_res_blocks=1, {len(shapes)} tensors"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.pt.download"]  # link removed


def test_an_npz_without_named_arrays_lists_what_it_holds(tmp_path: Path) -> None:
    artifact = Artifact.model_validate(
        {"name": "s", "file": "s.npz", "sources": [{"url": "http://h/s.npz"}]}
    )
    path = tmp_path / "s.npz"
    np.savez(path, mu=np.zeros(2))
    assert check_contents(artifact, path).checked == "arrays mu"


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"preset": "x"}, "preset and overrides need a backbone"),
        ({"arrays": ["mu"]}, "arrays describe an .npz file"),
        ({"sha256_prefix": "xyz"}, "8 to 63 hex digits"),
        ({"sha256_prefix": "abcdef01", "sha256": "0" * 64}, "does not start with"),
    ],
)
def test_bad_structure_fields_are_refused(fields: dict[str, object], complaint: str) -> None:
    from i2i_cli.checkpoints.manifest import parse_manifest

    table = {"file": "f.pt", "sources": [{"url": "https://h/f"}], **fields}
    with pytest.raises(UsageError, match=complaint):
        parse_manifest({"artifacts": {"t": table}}, "test")


def test_a_record_written_before_structure_checks_still_reads(tmp_path: Path) -> None:
    path = tmp_path / ".verified.json"
    path.write_text(json.dumps({"sha256": "0" * 64, "size": 1, "mtime_ns": 1, "published": False}))
    record = read_record(path)
    assert record is not None and record.checked is None


# ----------------------------------------------------------------------------------------------
# The issue's own cases, on the real afhq_dog_4m entry.


def test_random_bytes_are_not_adopted_as_afhq_dog_4m(tmp_path: Path) -> None:
    garbage = tmp_path / "afhq_dog_4m.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(100_000))
    result = run_i2i(["download", "--from", str(garbage), "afhq_dog_4m"])
    assert result.returncode == 2, result.stdout
    assert "is not 'afhq_dog_4m'" in result.stderr and "is not a checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert not CheckpointStore.open().is_cached("afhq_dog_4m")


def test_another_network_is_not_adopted_as_afhq_dog_4m(tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    shapes = expected_shapes("ddib-2d")
    torch.save({k: torch.zeros(s) for k, s in shapes.items()}, other)
    result = run_i2i(["download", "--from", str(other), "afhq_dog_4m"])
    assert result.returncode == 2
    assert "do not fit adm-unet preset afhq_dog_4m" in result.stderr


def test_verify_on_garbage_in_the_cache_is_a_mismatch() -> None:
    store = CheckpointStore.open()
    path = store.path("afhq_dog_4m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"<html>quota exceeded</html>")
    result = run_i2i(["download", "--verify", "afhq_dog_4m"])
    assert result.returncode == 1
    assert "afhq_dog_4m: MISMATCH" in result.stdout and "web page (HTML)" in result.stdout
    assert path.read_bytes() == b"<html>quota exceeded</html>"


def test_store_sources_of_a_test_manifest_do_not_need_a_backbone(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text('[artifacts.t]\nfile = "t.bin"\nsources = [{ url = "http://h/t" }]\n')
    store = CheckpointStore.open(
        tmp_path, manifests=[ManifestSource("test", manifest, strict=True)]
    )
    assert store.artifact("t").backbone is None


def test_a_zip_is_checked_by_its_backbone_s_reader_under_the_artifact_s_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vq-f4's reader opens the zip it is given; the adopted copy is checked as vq-f4.zip."""
    import zipfile

    from tests.test_ldm_vq import TINY_VQ_F4, random_state

    overrides = ", ".join(f"{k} = {v!r}" for k, v in TINY_VQ_F4.items()).replace("'", '"')
    overrides = overrides.replace("True", "true").replace("False", "false")
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[artifacts.t_vq]\nfile = "vq-f4.zip"\nbackbone = "vq-f4"\npreset = "vq_f4"\n'
        f"overrides = {{ {overrides} }}\n"
        'sources = [{ url = "http://127.0.0.1:9/vq-f4.zip" }]\n'
    )
    monkeypatch.setenv("I2I_MANIFESTS", str(manifest))
    ckpt = tmp_path / "model.ckpt"
    torch.save(random_state(), ckpt)
    download = tmp_path / "download.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.write(ckpt, "model.ckpt")
    result = run_i2i(
        ["download", "--from", str(download), "t_vq"], env={"I2I_MANIFESTS": str(manifest)}
    )
    assert result.returncode == 0, result.stderr
    assert "structure verified (vq-f4 preset vq_f4 with" in result.stdout
    cached = CheckpointStore.open().directory("t_vq")
    assert sorted(p.name for p in cached.iterdir()) == [".verified.json", "vq-f4.zip"]
