"""A task preset's relative path that does not exist is reported with the flag that sets it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_i2i
from tests.robustness.run_helpers import make_images

TRAIN_DSE = ["train", "dse", "--task", "cat2dog", "--device", "cpu"]


def test_a_missing_preset_folder_names_its_flag_and_where_it_was_looked_for(
    tmp_path: Path,
) -> None:
    result = run_i2i([*TRAIN_DSE, "--output", str(tmp_path / "out")], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert line == f"error: --data-a data/afhq/train/cat does not exist (looked for in {tmp_path})"
    assert not (tmp_path / "out").exists()


def test_the_second_domain_missing_names_its_own_flag(tmp_path: Path) -> None:
    make_images(tmp_path / "data" / "afhq" / "train" / "cat", 1)
    result = run_i2i([*TRAIN_DSE, "--output", str(tmp_path / "out")], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "error: --data-b data/afhq/train/dog does not exist" in result.stderr
