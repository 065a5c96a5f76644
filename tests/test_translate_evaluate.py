"""The README workflow on real non-square photos: translate a folder, then evaluate that run's
folder as it was written (issue 16.1): its images only, against the sources prepared as the run
prepared them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import run_i2i
from tests.fixture_dists import use_dists
from tests.metrics_helpers import random_inception_state

skimage_data = pytest.importorskip(
    "skimage.data", reason="scikit-image (test extra) has the photos"
)


@pytest.fixture
def translated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """scikit-image's cat (451x300) and coffee (600x400) photos translated by ``smoke``."""
    use_dists(monkeypatch, "smoke")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(skimage_data.chelsea()).save(photos / "cat.jpg", quality=95)
    Image.fromarray(skimage_data.coffee()).save(photos / "coffee.png")
    run = tmp_path / "run"
    command = ["translate", "smoke", "--input", str(photos), "--output", str(run)]
    options = ["--device", "cpu", "--image-size", "64", "--set", "noise_level=0"]
    result = run_i2i([*command, *options])
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in run.glob("*.png")) == ["cat.png", "coffee.png", "grid.png"]
    return photos, run


def evaluate(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "eval" / args[0]
    result = run_i2i(["evaluate", *args, "--device", "cpu", "--output", str(out)])
    assert result.returncode == 0, result.stderr
    return json.loads((out / "result.json").read_text())


@pytest.mark.parametrize("metric", ["ssim", "psnr"])
def test_paired_metrics_take_the_run_folder_as_written(
    translated: tuple[Path, Path], tmp_path: Path, metric: str
) -> None:
    photos, run = translated
    record = evaluate(tmp_path, metric, "--images", str(run), "--source", str(photos))
    assert record["pairs"] == 2 and record["pairs_skipped"] == 0
    assert record["source_prepared"] == "crop to 64x64, as the run prepared them"
    assert np.isfinite(record[metric])


def test_the_source_defaults_to_the_runs_input(
    translated: tuple[Path, Path], tmp_path: Path
) -> None:
    photos, run = translated
    record = evaluate(tmp_path, "mse", "--images", str(run))
    assert record["source"] == str(photos) and record["pairs"] == 2


def test_a_prepared_source_is_the_centre_crop_the_run_translated(
    translated: tuple[Path, Path], tmp_path: Path
) -> None:
    """Without noise the smoke method only blurs: its output lines up with the prepared crop."""
    _, run = translated
    record = evaluate(tmp_path, "psnr", "--images", str(run), "--paired-size", "0")
    assert record["pairs"] == 2 and record["psnr"] > 20
    (run / "inputs.json").unlink()  # as stored: the 451x300 photo beside its 64x64 result
    command = ["evaluate", "psnr", "--images", str(run), "--paired-size", "0", "--device", "cpu"]
    result = run_i2i([*command, "--source", record["source"], "--output", str(tmp_path / "e")])
    assert result.returncode != 0 and "paired metrics need equal sizes" in result.stderr


def test_fid_counts_only_the_runs_images(translated: tuple[Path, Path], tmp_path: Path) -> None:
    """The README workflow's FID step on the run folder: its two images, not its grid.png."""
    photos, run = translated
    weights = tmp_path / "inception.pth"
    torch.save(random_inception_state(), weights)
    command = ["fid", "--images", str(run), "--ref", str(photos), "--detector", str(weights)]
    record = evaluate(tmp_path, *command)
    assert record["images_count"] == 2 and record["images_skipped"] == 0
    assert np.isfinite(record["fid"])


def test_a_failed_evaluate_leaves_no_folder_behind(tmp_path: Path) -> None:
    """Issue 16.5: a failed run left runs/evaluate/<metric>/run.toml in the current folder."""
    missing = str(tmp_path / "missing")
    result = run_i2i(["evaluate", "ssim", "--images", missing, "--source", missing], cwd=tmp_path)
    assert result.returncode == 2 and "images folder not found" in result.stderr
    assert list(tmp_path.iterdir()) == []
