"""The shipped checkpoint manifests list every spec artifact, each with a source and a note."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

import pytest

from i2i_cli.api.registry import Registry
from i2i_cli.checkpoints.discovery import load_manifests
from i2i_cli.checkpoints.index import render_index, shipped_manifests
from i2i_cli.checkpoints.manifest import Artifact, ManifestSource, core_manifest, read_manifest

REPO = Path(__file__).resolve().parents[1]

# Files each experiment needs, as the specs name them (adm.md 4, egsde.md 6, ddib.md 4,
# dg.md 2.4 and 8, bbdm.md 8, sddm.md 6 and 10).
EDM_PICKLES = {
    f"edm-{name}.pkl"
    for name in (
        "cifar10-32x32-uncond-vp",
        "cifar10-32x32-cond-vp",
        "cifar10-32x32-uncond-ve",
        "cifar10-32x32-cond-ve",
        "ffhq-64x64-uncond-vp",
        "ffhq-64x64-uncond-ve",
        "afhqv2-64x64-uncond-vp",
        "afhqv2-64x64-uncond-ve",
        "imagenet-64x64-cond-adm",
    )
}
EDM_BASELINE_PICKLES = {
    f"baseline-{name}.pkl"
    for name in ("cifar10-32x32-uncond-vp", "cifar10-32x32-uncond-ve", "imagenet-64x64-cond-adm")
}
"""EDM's config-A pickles its README names (NVlabs/edm README.md:108-117, 222-224)."""
EDM_FID_REFS = {
    f"{name}.npz"
    for name in (
        "cifar10-32x32",
        "ffhq-64x64",
        "afhqv2-64x64",
        "imagenet-64x64",
        "imagenet-64x64-baseline",
    )
}
FILES_OF_EXPERIMENT = {
    "egsde": {
        "afhq_dog_4m.pt",
        "celebahq_female_ddpm.pth",
        "cat2dog_dse.pt",
        "wild2dog_dse.pt",
        "male2female_dse.pt",
        "afhq_dse.pt",
        "256x256_classifier.pt",
        "fid_celebahq_female.npz",
        "pt_inception-2015-12-05-6726825d.pth",
    },
    "imagenet": {"256x256_diffusion.pt", "256x256_classifier.pt"},
    "synthetic": {"model.pt"},
    "dg": {
        "edm-cifar10-32x32-uncond-vp.pkl",
        "edm-cifar10-32x32-cond-vp.pkl",
        "32x32_classifier.pt",
        "discriminator_60.pt",
        "discriminator_250.pt",
        "cifar10-32x32.npz",
        "true_data.npz",
        "true_data_label.npz",
        "inception-2015-12-05.pkl",
    },
    "dg-imagenet": {"32x32_classifier.pt", "discriminator_7.pt", "DiT-XL-2-256x256.pt"},
    "edm": EDM_PICKLES | EDM_BASELINE_PICKLES | EDM_FID_REFS | {"inception-2015-12-05.pkl"},
    "fid": EDM_FID_REFS | {"pt_inception-2015-12-05-6726825d.pth", "inception-2015-12-05.pkl"},
    "ilvr": {"afhq_dog_4m.pt", "ffhq_10m.pt"},
    "sddm": {
        "afhq_dog_4m.pt",
        "celebahq_female_ddpm.pth",
        "vgg_normalised.pth",
        "fid_celebahq_female.npz",
        "pt_inception-2015-12-05-6726825d.pth",
    },
    "bbdm": {"sde_bbdm.pt", "vq-f4.zip", "deeplabv3_resnet101_cityscapes.pt"},
}

# Every Google-Drive id and direct URL the specs give for an artifact.
SPEC_DRIVE_IDS = {
    "1awa0vkcWhd9LIEiS9VtGTwO5hI4WEI3G",  # EGSDE folder
    "14OG_o3aa8Hxmfu36IIRyOgRwEP6ngLdo",  # ILVR afhq_dog_4m.pt
    "117Y6Z6-Hg6TMZVIXMmgYbpZy7QvTXign",  # ILVR ffhq_10m.pt
    "1YRP6nt96OJUOzEYY6N_Qh5xb3wEVFSjg",  # DDIB synthetic folder
    "1gb68C13-QOt8yA6ZnnS6G5pVIlPO7j_y",  # DG CIFAR classifier
    "1Mf3F1yGfWT8bO0_iOBX-PWG3O-OLROE2",  # DG uncond discriminator
    "1P1u7cz7kY1BJDPVrPNiFcksy_HCHY_bI",  # DG cond discriminator
    "1xTdHz2fe71yvO2YpVfsY3sgH5Df7_b6y",  # DG FID stats
    "18qh5QGP2gLgVjr0dh2g8dfBYZoGC0uVT",  # DG real data
    "1yxjvfIW6HvLSJHACkC5-5U46Mny81SSI",  # DG ImageNet classifier
    "1-2ytbvo7yG2X3Z65XNugBhPRKangvZgg",  # DG ImageNet discriminator
}
ADM = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
EDM = "https://nvlabs-fi-cdn.nvidia.com/edm/"
SPEC_URLS = {
    ADM + "256x256_diffusion.pt",
    ADM + "256x256_classifier.pt",
    ADM + "256x256_diffusion_uncond.pt",
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth",
    "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/metrics/"
    "inception-2015-12-05.pkl",
    "https://dl.fbaipublicfiles.com/DiT/models/DiT-XL-2-256x256.pt",
    *(EDM + "pretrained/" + name for name in EDM_PICKLES),
    *(EDM + "pretrained/baseline/" + name for name in EDM_BASELINE_PICKLES),
    *(EDM + "fid-refs/" + name for name in EDM_FID_REFS),
}
ONEDRIVE = "https://1drv.ms/u/s!AkQjJhxDm0Fyhqp_4gkYjwVRBe8V_w?e=Et3ITH"


@pytest.fixture(scope="module")
def shipped_sources() -> list[ManifestSource]:
    """The manifests shipped with i2i: the core's and each first-party plugin's."""
    return shipped_manifests(Registry.discover())


@pytest.fixture(scope="module")
def shipped(shipped_sources: list[ManifestSource]) -> dict[str, Artifact]:
    """The artifacts of every manifest shipped with i2i."""
    warnings: list[str] = []
    artifacts, _ = load_manifests(shipped_sources, warnings.append)
    assert warnings == []
    return artifacts


# ----------------------------------------------------------------------------------------------
# The shipped manifest.


def test_top_level_checkpoints_toml_is_the_index_of_the_shipped_manifests(
    shipped_sources: list[ManifestSource], shipped: dict[str, Artifact]
) -> None:
    top = (REPO / "checkpoints.toml").read_text(encoding="utf-8")
    assert top == render_index(shipped_sources), "run: python -m i2i_cli.checkpoints.index"
    index = read_manifest(ManifestSource("index", REPO / "checkpoints.toml"))
    assert list(index.items()) == list(shipped.items())


def test_core_manifest_is_registered_as_an_entry_point() -> None:
    points = metadata.entry_points(group="i2i.checkpoints")
    assert any(point.value == "i2i_cli.checkpoints.manifest:core_manifest" for point in points)


# What each first-party package's own manifest holds: the artifacts its code reads. The core
# keeps the FID detectors and statistics and the mIoU segmenter.
OWN_ARTIFACTS = {
    "i2i": {"fid_pt_inception", "fid_nvidia_inception", "bbdm_deeplabv3_cityscapes"},
    "i2i_sddm": {"sddm_vgg_normalised"},
    "i2i_bbdm": {"sde_bbdm_unet"},
    "i2i_ldm": {"bbdm_vqgan_f4"},
    "i2i_adm": {"afhq_dog_4m", "adm_256x256_diffusion", "adm_256x256_classifier", "ilvr_ffhq_10m"},
    "i2i_ddpm": {"celebahq_female_ddpm"},
    "i2i_egsde": {"egsde_cat2dog_dse", "egsde_afhq_dse", "egsde_fid_celebahq_female"},
    "i2i_ddib": {f"ddib_2d_{task}" for task in ("moons", "checkerboard", "olympic_squares")},
}


@pytest.mark.parametrize("entry_point", sorted(OWN_ARTIFACTS))
def test_each_first_party_package_ships_its_own_manifest(
    shipped_sources: list[ManifestSource], entry_point: str
) -> None:
    (source,) = [s for s in shipped_sources if s.label.startswith(f"entry point '{entry_point}'")]
    assert OWN_ARTIFACTS[entry_point] <= set(read_manifest(source))


def test_the_core_manifest_is_package_data_and_holds_only_core_and_unlanded_artifacts() -> None:
    core = read_manifest(ManifestSource("core", core_manifest()))
    assert {"fid_pt_inception", "fid_nvidia_inception"} <= set(core)
    assert not any(name.startswith(("adm_", "egsde_", "ddib_")) for name in core)
    assert {"afhq_dog_4m", "celebahq_female_ddpm", "ilvr_ffhq_10m"}.isdisjoint(core)


def test_shipped_manifest_parses(shipped: dict[str, Artifact]) -> None:
    assert len(shipped) >= 40
    assert all(name == artifact.name for name, artifact in shipped.items())


@pytest.mark.parametrize("experiment", sorted(FILES_OF_EXPERIMENT))
def test_every_artifact_of_every_spec_experiment_is_listed(
    shipped: dict[str, Artifact], experiment: str
) -> None:
    files = {a.file for a in shipped.values() if experiment in a.experiments}
    assert files == FILES_OF_EXPERIMENT[experiment]


def test_every_spec_drive_id_and_url_is_a_source(shipped: dict[str, Artifact]) -> None:
    sources = [source for artifact in shipped.values() for source in artifact.sources]
    ids = {source.drive_file or source.drive_folder for source in sources} - {None}
    urls = {source.url for source in sources} - {None}
    assert ids >= SPEC_DRIVE_IDS
    assert urls >= SPEC_URLS


def test_onedrive_links_are_notes_not_sources(shipped: dict[str, Artifact]) -> None:
    assert ONEDRIVE in shipped["afhq_dog_4m"].note
    assert all("1drv.ms" not in (s.url or "") for a in shipped.values() for s in a.sources)


def test_the_two_32x32_classifiers_are_different_entries(shipped: dict[str, Artifact]) -> None:
    same_file = [a for a in shipped.values() if a.file == "32x32_classifier.pt"]
    assert {a.name for a in same_file} == {"dg_cifar10_classifier", "dg_imagenet_classifier"}
    assert same_file[0].sources != same_file[1].sources


def test_synthetic_models_come_one_per_2d_task(shipped: dict[str, Artifact]) -> None:
    synthetic = [a for a in shipped.values() if "synthetic" in a.experiments]
    paths = sorted(source.path or "" for a in synthetic for source in a.sources)
    assert paths == [f"log2D{i}/model*.pt" for i in range(6)]


def test_every_available_artifact_has_a_valid_source(shipped: dict[str, Artifact]) -> None:
    for artifact in shipped.values():
        if artifact.released:
            assert artifact.sources, artifact.name
            for source in artifact.sources:
                assert source.url is None or source.url.startswith("https://"), artifact.name


def test_unreleased_artifacts_say_why(shipped: dict[str, Artifact]) -> None:
    unreleased = {a.name: a for a in shipped.values() if not a.released}
    assert {a.file for a in unreleased.values()} == FILES_OF_EXPERIMENT["bbdm"] - {"vq-f4.zip"}
    assert all(len(a.note) > 40 and not a.sources for a in unreleased.values())


PINNED_SHA256 = {
    "adm_256x256_diffusion_uncond": (
        "a37c32fffd316cd494cf3f35b339936debdc1576dad13fe57c42399a5dbc78b1",
        "Disco Diffusion",
    ),
    "fid_nvidia_inception_torchscript": (
        "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4",
        "k-diffusion",
    ),
}
"""The only published hashes: each as another project pins it, who is named in the note."""


def test_no_sha256_or_size_is_invented(shipped: dict[str, Artifact]) -> None:
    pinned = {name: a.sha256 for name, a in shipped.items() if a.sha256 is not None}
    assert pinned == {name: digest for name, (digest, _) in PINNED_SHA256.items()}
    assert all(who in shipped[name].note for name, (_, who) in PINNED_SHA256.items())
    assert all(a.size is None for a in shipped.values())


def test_a_sha256_prefix_is_the_torch_hub_digits_of_the_file_name(
    shipped: dict[str, Artifact],
) -> None:
    prefixed = {a.name: a for a in shipped.values() if a.sha256_prefix is not None}
    assert set(prefixed) == {"fid_pt_inception", "lpips_alexnet"}
    for artifact in prefixed.values():
        assert artifact.file.endswith(f"-{artifact.sha256_prefix}.pth")


def test_every_artifact_has_a_provenance_note(shipped: dict[str, Artifact]) -> None:
    assert all(a.note for a in shipped.values())
