"""Parity with EGSDE's evaluation tool (golden/egsde_metrics.pt, egsde.md §7 and §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.io.data import find_images
from i2i_cli.metrics import paired
from i2i_cli.metrics.frechet import FeatureStats, frechet_distance
from i2i_cli.metrics.images import pair_by_key
from i2i_cli.metrics.paired_eval import score_pairs


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict[str, Any]:
    """The EGSDE metrics golden file."""
    return torch.load(golden_dir / "egsde_metrics.pt", weights_only=True)


def _close(ours: Any, theirs: Any, golden: dict[str, Any]) -> None:
    tolerance = golden["tolerance"]
    np.testing.assert_allclose(
        np.asarray(ours, dtype=np.float64),
        np.asarray(theirs, dtype=np.float64),
        atol=tolerance["atol"],
        rtol=tolerance["rtol"],
    )


def _unit(pixels: torch.Tensor) -> torch.Tensor:
    """HWC uint8 -> NCHW float32 in [0, 1], as ToTensor."""
    return pixels.permute(0, 3, 1, 2).float().div(255)


@pytest.mark.parametrize("name", ["ssim", "psnr", "mse", "l2"])
def test_per_image_metrics_match_egsde(golden: dict[str, Any], name: str) -> None:
    level = golden["outputs"]["tensor_level"]
    x, y = _unit(level["X_uint8"]), _unit(level["Y_uint8"])
    ours = getattr(paired, name)(x, y)
    _close(ours, level[name], golden)
    if name in ("psnr", "mse"):
        assert ours.dtype == torch.float64


def test_folder_means_match_egsde_directory_functions(
    golden: dict[str, Any], tmp_path: Path
) -> None:
    level = golden["outputs"]["path_level"]
    (tmp_path / "translated").mkdir()
    (tmp_path / "source").mkdir()
    for index in range(level["translated_uint8"].shape[0]):
        Image.fromarray(level["translated_uint8"][index].numpy()).save(
            tmp_path / "translated" / f"{index}.png"
        )
        Image.fromarray(level["source_uint8_decoded"][index].numpy()).save(
            tmp_path / "source" / f"{index}.png"
        )
    pairs = pair_by_key(
        find_images(tmp_path / "translated"),
        find_images(tmp_path / "source"),
        tmp_path / "translated",
        tmp_path / "source",
    )
    golden_keys = {
        "l2": "l2_mean",
        "mse": "mse_mean",
        "psnr": "psnr_mean",
        "ssim": "ssim_mean",
        "ms-ssim": "msssim_mean",
    }
    means = score_pairs(pairs, list(golden_keys), size=256, batch_size=50).means(list(golden_keys))
    for name, key in golden_keys.items():
        _close(means[name], level[key], golden)


def test_statistics_and_frechet_distance_match_pytorch_fid(golden: dict[str, Any]) -> None:
    fid = golden["outputs"]["fid"]
    for acts, mu, sigma in (("act1", "mu1", "sigma1"), ("act2", "mu2", "sigma2")):
        stats = FeatureStats(dim=fid[acts].shape[1])
        stats.add(fid[acts][:25].numpy())
        stats.add(fid[acts][25:].numpy())
        _close(stats.mean(), fid[mu], golden)
        _close(stats.covariance(), fid[sigma], golden)
    value = frechet_distance(
        fid["mu1"].numpy(), fid["sigma1"].numpy(), fid["mu2"].numpy(), fid["sigma2"].numpy()
    )
    _close(value, fid["frechet_distance"], golden)
