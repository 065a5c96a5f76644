"""A ``train bbdm`` run of non-default size given back to ``translate sde-bbdm`` as ``--config``."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_i2i
from tests.test_bbdm_train import TINY_TRAINING, shoes

BRIDGE = ["--set", "steps=10", "--set", "sampler=fast", "--set", "taus=10,5,1"]
"""The bridge the tiny run trained (T = 10) and a 3-step schedule of it."""


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """The folder of a one-step ``train bbdm`` of a 32-channel, 16 px network."""
    config = tmp_path / "train.toml"
    config.write_text(TINY_TRAINING)
    out = tmp_path / "run"
    result = run_i2i(
        ["train", "bbdm", "--data", str(shoes(tmp_path / "shoes")), "--layout", "edges2shoes",
         "--config", str(config), "--device", "cpu", "--set", "iterations=1",
         "--output", str(out)]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def _translate(tmp_path: Path, *args: str) -> object:
    sources = tmp_path / "sources"
    sources.mkdir(exist_ok=True)
    Image.new("RGB", (12, 12), (40, 40, 40)).save(sources / "edge.png")
    return run_i2i(
        ["translate", "sde-bbdm", "--input", str(sources), "--device", "cpu",
         "--output", str(tmp_path / "made"), *args]
    )  # fmt: skip


def test_its_backbone_toml_as_config_builds_the_trained_network(
    trained: Path, tmp_path: Path
) -> None:
    args = ["--config", str(trained / "backbone.toml"), "--image-size", "16", *BRIDGE]
    result = _translate(tmp_path, *args)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert "UNet(3->3, 32 x [1, 1], 1 blocks)" in result.stderr  # type: ignore[attr-defined]
    assert Image.open(tmp_path / "made" / "edge.png").size == (16, 16)


def test_its_run_toml_as_config_lists_the_known_settings_once(
    trained: Path, tmp_path: Path
) -> None:
    result = _translate(tmp_path, "--config", str(trained / "run.toml"), *BRIDGE)
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    assert stderr.count("(known settings:") == 1, stderr
    assert "unknown settings 'data', 'layout'" in stderr and "'lr'" in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_its_backbone_toml_carries_the_bridge_it_was_trained_on(
    trained: Path, tmp_path: Path
) -> None:
    """No --image-size, no --steps: the record gives T = 10 and 16 px, not the defaults."""
    from i2i_cli.api.settings import read_toml

    record = read_toml(trained / "backbone.toml")
    assert (record["steps"], record["image_size"], record["latent"]) == (10, 16, "none")
    schedule = ["--set", "sampler=fast", "--set", "taus=10,5,1"]
    result = _translate(tmp_path, "--config", str(trained / "backbone.toml"), *schedule)
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    assert Image.open(tmp_path / "made" / "edge.png").size == (16, 16)
