"""``i2i evaluate ssim|psnr|mse|l2|ms-ssim|miou``: folders, pairing by name, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner, Result

from i2i_cli.cli.app import app
from i2i_cli.metrics import paired
from i2i_cli.metrics.miou import Confusion, cityscapes_train_ids


def evaluate(*args: str) -> Result:
    """Run ``i2i evaluate ARGS`` in-process."""
    return CliRunner().invoke(app, ["evaluate", *args, "--device", "cpu"])


def evaluated(metric: str, images: Path, source: Path, out: Path) -> dict[str, Any]:
    """``result.json`` of a successful ``i2i evaluate <metric> --images ... --source ...``."""
    result = evaluate(
        metric, "--images", str(images), "--source", str(source), "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "result.json").read_text())


def write_rgb(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def pairs(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Three translated PNGs and their sources (PNG, so decoding is lossless), sorted apart."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    y = np.clip(x.astype(int) + rng.integers(-40, 40, x.shape), 0, 255).astype(np.uint8)
    for index, name in enumerate(["b", "c", "a"]):
        write_rgb(tmp_path / "out" / f"{name}.png", x[index])
        write_rgb(tmp_path / "src" / f"{name}.png", y[index])
    write_rgb(tmp_path / "src" / "extra.png", y[0])  # a source that was not translated
    return tmp_path / "out", tmp_path / "src", x, y


def _unit(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255)


@pytest.mark.parametrize("metric", ["ssim", "psnr", "mse", "l2"])
def test_paired_metric_is_the_mean_over_pairs_matched_by_name(
    metric: str, pairs: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, source, x, y = pairs
    result = evaluate(
        metric, "--images", str(images), "--source", str(source), "--paired-size", "0",
        "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "eval" / "result.json").read_text())
    expected = getattr(paired, metric)(_unit(x), _unit(y)).double().mean().item()
    assert record[metric] == pytest.approx(expected, rel=1e-6)
    assert record["metric"] == metric
    assert record["pairs"] == 3 and record["source_count"] == 4
    assert record["pairing"] == "by file name without suffix"
    assert "torch" in record["versions"] and "numpy" in record["versions"]


def test_paired_metrics_resize_both_images_to_256_like_egsde(
    pairs: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, source, _, _ = pairs
    record = evaluated("psnr", images, source, tmp_path / "eval")
    assert "shorter side to 256" in record["paired_resize"]


def test_identical_folders_have_ssim_one_and_zero_l2(
    pairs: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, _, _, _ = pairs
    for metric, value in (("ssim", 1.0), ("l2", 0.0)):
        result = evaluate(
            metric, "--images", str(images), "--source", str(images),
            "--output", str(tmp_path / metric),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        record = json.loads((tmp_path / metric / "result.json").read_text())
        assert record[metric] == pytest.approx(value, abs=1e-6)


def test_image_without_a_source_of_its_name_is_one_clear_error(
    pairs: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, source, x, _ = pairs
    write_rgb(images / "lonely.png", x[0])
    result = evaluate("ssim", "--images", str(images), "--source", str(source))
    assert result.exit_code == 2
    assert "1 of 4 images" in result.output and "lonely" in result.output
    assert "Traceback" not in result.output


def test_pair_of_different_sizes_is_one_clear_error(tmp_path: Path) -> None:
    write_rgb(tmp_path / "out" / "a.png", np.zeros((20, 30, 3), np.uint8))
    write_rgb(tmp_path / "src" / "a.png", np.zeros((20, 20, 3), np.uint8))
    result = evaluate(
        "l2", "--images", str(tmp_path / "out"), "--source", str(tmp_path / "src"),
        "--paired-size", "0",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "30x20" in result.output and "20x20" in result.output


def test_ms_ssim_on_images_too_small_for_five_scales_is_one_clear_error(
    pairs: tuple[Path, Path, np.ndarray, np.ndarray],
) -> None:
    images, source, _, _ = pairs
    result = evaluate(
        "ms-ssim", "--images", str(images), "--source", str(source), "--paired-size", "64"
    )
    assert result.exit_code == 2
    assert "at least 161 px" in result.output


def test_empty_or_missing_folders_and_missing_flags_are_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not an image")
    cases = [
        (["--images", str(tmp_path / "empty"), "--source", str(tmp_path / "notes")], "no images"),
        (["--images", str(tmp_path / "notes"), "--source", str(tmp_path / "notes")], "no images"),
        (["--images", str(tmp_path / "gone"), "--source", str(tmp_path / "notes")], "not found"),
        (["--images", str(tmp_path / "notes")], "needs --source"),
    ]
    for args, message in cases:
        result = evaluate("ssim", *args)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_unreadable_pair_is_skipped_with_a_warning(
    pairs: tuple[Path, Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, source, _, _ = pairs
    (images / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    record = evaluated("mse", images, source, tmp_path / "eval")
    assert record["pairs"] == 2 and record["pairs_skipped"] == 1
    assert "a.png" in record["warnings"][0]


def test_confusion_matrix_counts_pixels_and_ignores_void() -> None:
    truth = np.array([[0, 0, 1], [1, 2, 255]])
    prediction = np.array([[0, 1, 1], [1, 255, 0]])
    confusion = Confusion(classes=3)
    confusion.add(truth, prediction)
    # class 0: TP 1, FN 1 (predicted 1), FP 0 -> 1/2; class 1: TP 2, FP 1 -> 2/3;
    # class 2: its one pixel predicted void -> 0/1. The void truth pixel is not counted.
    np.testing.assert_allclose(confusion.per_class_iou(), [0.5, 2 / 3, 0.0])
    assert confusion.mean_iou() == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)
    assert confusion.pixel_accuracy() == pytest.approx(3 / 5)


def test_cityscapes_label_ids_map_to_the_19_train_ids() -> None:
    ids = np.array([7, 8, 11, 33, 0, 6, 34])
    np.testing.assert_array_equal(cityscapes_train_ids(ids), [0, 1, 2, 18, 255, 255, 255])


def test_miou_command_reads_label_maps_paired_by_name(tmp_path: Path) -> None:
    truth = np.array([[7, 7, 8], [8, 11, 0]], dtype=np.uint8)  # road, road, sidewalk, ...
    prediction = np.array([[0, 1, 1], [1, 2, 2]], dtype=np.uint8)
    for folder, labels in (("pred", prediction), ("gt", truth)):
        (tmp_path / folder).mkdir()
        Image.fromarray(labels, mode="L").save(tmp_path / folder / "frame.png")
    result = evaluate(
        "miou", "--images", str(tmp_path / "pred"), "--truth", str(tmp_path / "gt"),
        "--classes", "3", "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "eval" / "result.json").read_text())
    assert record["per_class_iou"] == pytest.approx([0.5, 2 / 3, 1.0])
    assert record["miou"] == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
