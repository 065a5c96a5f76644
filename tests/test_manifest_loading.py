"""Reading and collecting checkpoint manifests: bad ones and clashes fail clearly, naming the
file."""

from __future__ import annotations

import importlib.metadata as metadata
import os
from pathlib import Path

import pytest

from i2i_cli.api.registry import PluginEntry, Registry
from i2i_cli.base.errors import UsageError
from i2i_cli.checkpoints.discovery import load_manifests, plugin_manifests
from i2i_cli.checkpoints.manifest import ManifestSource, core_manifest, read_manifest
from i2i_cli.checkpoints.store import CheckpointStore


def write_manifest(path: Path, text: str) -> Path:
    """Write a manifest file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


GOOD_ENTRY = """
[artifacts.private_model]
file = "private.pt"
experiments = ["private"]
note = "a user's own checkpoint"
sources = [{ url = "https://example.invalid/private.pt" }]
"""


# ----------------------------------------------------------------------------------------------
# Bad manifests.


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('experiments = ["x"]\nsources = [{ url = "https://h/f" }]', "file"),
        ('file = "f.pt"\nsources = [{ url = "https://h/f" }]\ncolour = "red"', "colour"),
        (
            'file = "f.pt"\nsources = [{ url = "https://h/f", drive_file = "abcdefghijkl" }]',
            "one of",
        ),
        ('file = "f.pt"\nsources = [{ drive_folder = "abcdefghijkl" }]', "one of"),
        ('file = "f.pt"\nsources = [{ url = "ftp://h/f" }]', "https://"),
        ('file = "f.pt"', "at least one source"),
        ('file = "f.pt"\nstatus = "unreleased"\nsources = [{ url = "https://h/f" }]', "no sources"),
        ('file = "f.pt"\nsha256 = "abc"\nsources = [{ url = "https://h/f" }]', "64 hex"),
        ('file = "../f.pt"\nsources = [{ url = "https://h/f" }]', "plain file name"),
        ('file = "f.pt"\nstatus = "gone"', "status"),
    ],
)
def test_a_bad_entry_is_an_error_naming_the_file_and_the_entry(
    tmp_path: Path, entry: str, complaint: str
) -> None:
    path = write_manifest(tmp_path / "bad.toml", f"[artifacts.broken_one]\n{entry}\n")
    with pytest.raises(UsageError) as caught:
        read_manifest(ManifestSource(str(path), path))
    message = str(caught.value)
    assert str(path) in message and "'broken_one'" in message and complaint in message
    assert "\n" not in message


def test_invalid_toml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "bad.toml", "[artifacts.x\nfile = 1\n")
    with pytest.raises(UsageError, match=r"bad\.toml"):
        read_manifest(ManifestSource(str(path), path))


def test_a_bad_manifest_in_i2i_manifests_stops_the_cli_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_manifest(tmp_path / "bad.toml", '[artifacts.broken_one]\nfile = "f.pt"\n')
    monkeypatch.setenv("I2I_MANIFESTS", str(path))
    with pytest.raises(UsageError, match=r"bad\.toml.*broken_one.*at least one source"):
        CheckpointStore.open()


# ----------------------------------------------------------------------------------------------
# Collecting manifests.


def test_i2i_manifests_adds_private_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_manifest(tmp_path / "one.toml", GOOD_ENTRY)
    second = write_manifest(tmp_path / "two.toml", GOOD_ENTRY.replace("private", "other"))
    monkeypatch.setenv("I2I_MANIFESTS", f"{first}{os.pathsep}{second}")
    store = CheckpointStore.open(tmp_path / "cache")
    assert store.artifact("private_model").file == "private.pt"
    assert store.artifact("other_model").experiments == ("other",)
    assert "afhq_dog_4m" in store.entries  # the shipped manifest is still there
    assert str(first) in store.origins["private_model"]


def test_a_missing_file_in_i2i_manifests_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("I2I_MANIFESTS", str(tmp_path / "absent.toml"))
    with pytest.raises(UsageError, match=r"absent\.toml.*I2I_MANIFESTS"):
        CheckpointStore.open()


def test_one_name_in_two_manifests_is_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clash = GOOD_ENTRY.replace("private_model", "afhq_dog_4m")
    path = write_manifest(tmp_path / "clash.toml", clash)
    monkeypatch.setenv("I2I_MANIFESTS", str(path))
    with pytest.raises(UsageError) as caught:
        CheckpointStore.open()
    message = str(caught.value)
    assert "'afhq_dog_4m' is defined twice" in message
    assert "checkpoints.toml" in message and "clash.toml" in message


def _registry_with(**targets: str) -> Registry:
    """A registry whose ``checkpoints`` kind holds the given ``name=module:attr`` entry points."""
    entries = {
        name: (
            PluginEntry(
                kind="checkpoints",
                name=name,
                target=target,
                distribution="test-dist",
                version="0",
                entry_point=metadata.EntryPoint(name, target, "i2i.checkpoints"),
            ),
        )
        for name, target in targets.items()
    }
    return Registry({"checkpoints": entries})


def test_a_broken_manifest_plugin_is_one_warning_and_skipped() -> None:
    registry = _registry_with(
        i2i="i2i_cli.checkpoints.manifest:core_manifest", broken="no_such_module_xyz:manifest"
    )
    warnings: list[str] = []
    sources = plugin_manifests(registry, warnings.append)
    assert [s.label.split(" ")[1] for s in sources] == ["(plugin"]
    assert len(warnings) == 1 and "broken" in warnings[0] and "\n" not in warnings[0]


def test_a_plugin_manifest_with_bad_content_is_a_warning(tmp_path: Path) -> None:
    bad = write_manifest(tmp_path / "plugin.toml", '[artifacts.x]\nfile = "f.pt"\n')
    warnings: list[str] = []
    sources = [
        ManifestSource("core", core_manifest(), strict=False),
        ManifestSource(str(bad), bad, strict=False),
    ]
    artifacts, _ = load_manifests(sources, warnings.append)
    assert "fid_pt_inception" in artifacts and "x" not in artifacts
    assert len(warnings) == 1 and "plugin.toml" in warnings[0] and "'x'" in warnings[0]
