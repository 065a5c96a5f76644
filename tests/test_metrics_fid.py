"""``i2i evaluate fid|kid|stats|all`` end to end on a random-weight Inception (real code paths).

The Inception runs at its real size (299x299), so the image sets are tiny; it is the slow part
(the Fréchet distance of their 2048-d statistics takes about a second).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.metrics_helpers import evaluate, i2i, random_inception_state, sha256, write_images

# -- the commands on folders -------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Random weights, tiny folders and the results of stats, fid, all --task wild2dog and kid."""
    root = tmp_path_factory.mktemp("fid")
    weights = root / "pt_random.pth"
    torch.save(random_inception_state(), weights)
    images, ref, source = root / "images", root / "ref", root / "source"
    write_images(images, 3, seed=1)
    write_images(images / "wide", 1, seed=2, size=(48, 32))  # a second size
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (images / "notes.txt").write_text("not an image, ignored")
    write_images(ref, 4, seed=3)
    write_images(source, 3, seed=4)
    write_images(source / "wide", 1, seed=5, size=(48, 32))
    (source / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    detector = ["--detector", str(weights)]
    stats_npz = root / "ref.npz"
    records = {
        "stats": evaluate(
            root / "stats", "stats", "--images", str(ref), "--out", str(stats_npz), "--features",
            *detector,
        ),
        "fid": evaluate(root / "fid", "fid", "--images", str(images), "--ref", str(ref), *detector),
        "all": evaluate(
            root / "all", "all", "--task", "wild2dog", "--images", str(images),
            "--ref", str(stats_npz), "--source", str(source), *detector,
        ),
        "kid": evaluate(
            root / "kid", "kid", "--images", str(images), "--ref", str(stats_npz),
            "--subsets", "10", *detector,
        ),
    }  # fmt: skip
    return {"records": records, "weights": weights, "npz": stats_npz, "root": root}


@pytest.mark.slow
def test_fid_of_two_folders_equals_fid_from_the_saved_statistics(runs: dict[str, Any]) -> None:
    records = runs["records"]
    assert math.isfinite(records["fid"]["fid"]) and records["fid"]["fid"] > 0
    assert records["all"]["fid"] == pytest.approx(records["fid"]["fid"], rel=1e-9, abs=1e-9)
    assert records["all"]["ref_stats_sha256"] == records["fid"]["ref_stats_sha256"]


@pytest.mark.slow
def test_fid_result_records_how_it_was_computed(runs: dict[str, Any]) -> None:
    record = runs["records"]["fid"]
    assert record["metric"] == "fid" and record["backend"] == "pytorch-fid"
    assert record["detector_sha256"] == sha256(runs["weights"])
    assert record["detector_source"] == "file"
    assert record["images_count"] == 4 and record["images_skipped"] == 1
    assert record["images_sizes"] == "32x32 (3), 48x32 (1)"
    assert record["ref_kind"] == "folder" and record["ref_count"] == 4
    assert "bilinear" in record["resize"] and "299x299" in record["resize"]
    assert record["dtype"] == "float32" and record["frechet"] == "pytorch-fid"
    assert {"torch", "numpy", "scipy", "python"} <= set(record["versions"])
    from_stats = runs["records"]["all"]
    assert from_stats["ref_kind"] == "statistics"
    assert from_stats["ref_sha256"] == sha256(runs["npz"])
    assert from_stats["ref_count"] == 4


@pytest.mark.slow
def test_few_images_mixed_sizes_and_unreadable_files_are_warned_and_counted(
    runs: dict[str, Any],
) -> None:
    warnings = " | ".join(runs["records"]["fid"]["warnings"])
    assert "only 4 images" in warnings and "fewer than the 2048" in warnings
    assert "come in 2 sizes" in warnings
    assert "skipped 1 unreadable" in warnings and "corrupt.png" in warnings


@pytest.mark.slow
def test_wild2dog_protocol_gives_fid_and_the_paired_metrics(runs: dict[str, Any]) -> None:
    record = runs["records"]["all"]
    assert record["protocol"] == "wild2dog"
    assert record["metrics"] == ["fid", "l2", "mse", "psnr", "ssim"]
    for name in ("l2", "mse", "psnr", "ssim"):
        assert math.isfinite(record[name])
    assert record["pairs"] == 4 and record["pairs_skipped"] == 1  # corrupt.png on both sides
    assert "shorter side to 256" in record["paired_resize"]


@pytest.mark.slow
def test_statistics_file_holds_mu_sigma_and_features(runs: dict[str, Any]) -> None:
    with np.load(runs["npz"]) as data:
        assert data["mu"].shape == (2048,) and data["sigma"].shape == (2048, 2048)
        assert data["features"].shape == (4, 2048)
        np.testing.assert_allclose(data["mu"], data["features"].mean(axis=0), rtol=1e-5)
    record = runs["records"]["stats"]
    assert record["out_sha256"] == sha256(runs["npz"]) and record["images_count"] == 4


@pytest.mark.slow
def test_kid_uses_the_features_saved_with_the_statistics(runs: dict[str, Any]) -> None:
    record = runs["records"]["kid"]
    assert math.isfinite(record["kid"]) and record["kid_subsets"] == 10
    assert record["kid_subset_size"] == 4


def test_missing_detector_names_the_download_command(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 2, seed=0)
    result = i2i(
        "evaluate", "fid", "--images", str(tmp_path / "a"), "--ref", str(tmp_path / "a"),
        "--device", "cpu", "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "i2i download fid_pt_inception" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_feature_inputs_are_one_clear_line_each(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_images(tmp_path / "a", 2, seed=0)
    np.savez(tmp_path / "mu_only.npz", mu=np.zeros(2048))
    cases = [
        (["fid", "--images", str(tmp_path / "empty"), "--ref", str(tmp_path / "a")], "no images"),
        (["fid", "--images", str(tmp_path / "a")], "needs --ref"),
        (["fid", "--images", str(tmp_path / "a"), "--ref", str(tmp_path / "nope")], "not found"),
        (["stats"], "needs --images"),
        (["fid", "--backend", "nvidia", "--transform", "egsde-celebahq"], "pytorch-fid backend"),
    ]
    for args, message in cases:
        result = i2i("evaluate", *args, "--device", "cpu", "--output", str(tmp_path / "o"))
        assert result.exit_code == 2, result.output
        assert message in result.output, result.output
        assert "Traceback" not in result.output
