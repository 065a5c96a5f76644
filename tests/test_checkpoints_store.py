"""The checkpoint store without network: names, selections, the cache location, require()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from i2i_cli.api.registry import Registry
from i2i_cli.base.errors import UsageError
from i2i_cli.checkpoints.cache import cache_root
from i2i_cli.checkpoints.index import shipped_manifests
from i2i_cli.checkpoints.store import CheckpointStore, MissingCheckpointError


@pytest.fixture
def store(tmp_path: Path) -> CheckpointStore:
    """A store over the shipped manifests, cached in a temporary folder."""
    return CheckpointStore.open(
        tmp_path / "cache", manifests=shipped_manifests(Registry.discover())
    )


def test_unknown_name_suggests_close_matches(store: CheckpointStore) -> None:
    with pytest.raises(UsageError, match="did you mean afhq_dog_4m"):
        store.artifact("afhq_dog4m")


def test_select_by_experiment_and_name(store: CheckpointStore) -> None:
    chosen = store.select(["ilvr_ffhq_10m"], ["imagenet"])
    assert [a.name for a in chosen] == [
        "ilvr_ffhq_10m",
        "adm_256x256_diffusion",
        "adm_256x256_classifier",
    ]
    with pytest.raises(UsageError, match="no experiment named 'imagnet'; did you mean imagenet"):
        store.select([], ["imagnet"])


def test_cache_layout_is_root_name_file(store: CheckpointStore, tmp_path: Path) -> None:
    assert store.path("dg_imagenet_classifier") == (
        tmp_path / "cache" / "dg_imagenet_classifier" / "32x32_classifier.pt"
    )


def test_require_names_the_path_and_the_download_command(store: CheckpointStore) -> None:
    with pytest.raises(MissingCheckpointError) as caught:
        store.require("afhq_dog_4m")
    message = str(caught.value)
    assert str(store.path("afhq_dog_4m")) in message
    assert "`i2i download afhq_dog_4m`" in message and "\n" not in message


def test_require_of_an_unreleased_artifact_says_how_to_supply_it(store: CheckpointStore) -> None:
    with pytest.raises(MissingCheckpointError, match="i2i download --from FILE sde_bbdm_unet"):
        store.require("sde_bbdm_unet")


def test_require_returns_a_cached_file(store: CheckpointStore) -> None:
    path = store.path("dg_cifar10_discriminator_uncond")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    assert store.require("dg_cifar10_discriminator_uncond") == path
    assert store.status("dg_cifar10_discriminator_uncond").verified == "unverified"


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({"I2I_HOME": "/data/i2i"}, "linux", "/data/i2i"),
        ({"XDG_CACHE_HOME": "/xdg"}, "linux", "/xdg/i2i"),
        ({"XDG_CACHE_HOME": "relative"}, "linux", "/home/u/.cache/i2i"),
        ({}, "linux", "/home/u/.cache/i2i"),
        ({}, "darwin", "/home/u/Library/Caches/i2i"),
        ({"LOCALAPPDATA": "/appdata"}, "win32", "/appdata/i2i/Cache"),
    ],
)
def test_cache_root_follows_the_platform(
    environ: dict[str, str], platform: str, expected: str
) -> None:
    assert cache_root(environ, platform, Path("/home/u")) == Path(expected)


def test_importing_the_store_imports_neither_torch_nor_gdown() -> None:
    modules = "i2i_cli.checkpoints, i2i_cli.weights.safe_pickle, i2i_cli.checkpoints.index"
    probe = f"import sys, {modules}; print(sorted({{'torch', 'gdown'}} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
