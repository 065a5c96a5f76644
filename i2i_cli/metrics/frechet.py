"""The Fréchet distance between two Gaussians fitted to Inception features, and their statistics.

Statistics are accumulated as sums (count, Σf, Σfᵀf in float64) so that ranks of a torchrun job
add theirs up with one all-reduce; the mean and the unbiased covariance follow at the end,
``μ = Σf/n`` and ``Σ = (Σfᵀf - n μμᵀ)/(n - 1)`` (dg.md §9), which equals ``np.cov(rowvar=False)``
of pytorch-fid up to float64 rounding.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import linalg

from i2i_cli.errors import UsageError

SINGULAR_OFFSET = 1e-6
"""Added to both covariance diagonals when sqrtm of their product is not finite (pytorch-fid)."""

FrechetStyle = Literal["pytorch-fid", "edm"]

IMAGINARY_TOLERANCE = 1e-3
"""Largest imaginary part of sqrtm's diagonal that counts as rounding noise (pytorch-fid)."""


class FrechetError(UsageError):
    """Statistics whose Fréchet distance is undefined (imaginary square root, shape mismatch)."""


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    """scipy's matrix square root, its singular-matrix warning silenced (callers check the
    result for non-finite values and imaginary parts, and report the image count)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return linalg.sqrtm(matrix)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    *,
    style: FrechetStyle = "pytorch-fid",
    warn: Callable[[str], None] | None = None,
) -> float:
    """``‖μ₁-μ₂‖² + tr Σ₁ + tr Σ₂ - 2 tr sqrtm(Σ₁Σ₂)`` as the reference computes it.

    ``pytorch-fid`` (egsde.md §7): scipy's sqrtm of the product; if that is not finite, 1e-6·I
    is added to both covariances and it is taken again; an imaginary part within 1e-3 on the
    diagonal is dropped, a larger one is an error. ``edm`` (EDM ``fid.py``, dg.md §9): the real
    part of the whole expression, with neither the retry nor the check.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise FrechetError(
            f"the two statistics describe different features: mean {mu1.shape} against "
            f"{mu2.shape}, covariance {sigma1.shape} against {sigma2.shape}"
        )
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if style == "edm":
        return float(np.real(diff.dot(diff) + np.trace(sigma1 + sigma2 - covmean * 2)))
    if not np.isfinite(covmean).all():
        if warn is not None:
            warn(
                "the product of the covariances is singular; adding "
                f"{SINGULAR_OFFSET} to their diagonals (as pytorch-fid does)"
            )
        offset = np.eye(sigma1.shape[0]) * SINGULAR_OFFSET
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_TOLERANCE):
            largest = np.max(np.abs(covmean.imag))
            raise FrechetError(
                f"the square root of the covariance product has an imaginary part of {largest:g}; "
                "the Fréchet distance is undefined for these statistics"
            )
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


@dataclass
class FeatureStats:
    """Running sums of feature vectors: count, Σf and Σfᵀf, all float64."""

    dim: int
    count: int = 0
    total: np.ndarray = field(init=False)
    outer: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.total = np.zeros(self.dim, dtype=np.float64)
        self.outer = np.zeros((self.dim, self.dim), dtype=np.float64)

    def add(self, features: np.ndarray) -> None:
        """Add a (N, dim) batch of feature vectors."""
        batch = np.asarray(features, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[1] != self.dim:
            raise ValueError(f"expected features of shape (N, {self.dim}), got {batch.shape}")
        self.count += batch.shape[0]
        self.total += batch.sum(axis=0)
        self.outer += batch.T @ batch

    def merge(self, count: int, total: np.ndarray, outer: np.ndarray) -> None:
        """Replace the sums by ``count, total, outer`` (e.g. after an all-reduce)."""
        self.count, self.total, self.outer = int(count), total, outer

    def mean(self) -> np.ndarray:
        """μ = Σf / n."""
        if self.count < 1:
            raise UsageError("no features were extracted: there are no images to describe")
        return self.total / self.count

    def covariance(self) -> np.ndarray:
        """Σ = (Σfᵀf - n μμᵀ) / (n - 1): the unbiased covariance, as np.cov(rowvar=False)."""
        if self.count < 2:
            raise UsageError(
                f"a covariance needs at least 2 images, got {self.count}; add more images"
            )
        mu = self.mean()
        return (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)
