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
from scipy.linalg import lapack

from i2i_cli.base.errors import UsageError

SINGULAR_OFFSET = 1e-6
"""Added to both covariance diagonals when sqrtm of their product is not finite (pytorch-fid)."""

FrechetStyle = Literal["pytorch-fid", "edm"]

IMAGINARY_TOLERANCE = 1e-3
"""Largest imaginary part of sqrtm's diagonal that counts as rounding noise (pytorch-fid)."""

COVARIANCE_TOLERANCE = 1e-8
"""Largest asymmetry and Frobenius norm of ``Σ - GGᵀ``, relative to tr Σ, of a covariance."""


class FrechetError(UsageError):
    """Statistics whose Fréchet distance is undefined (imaginary square root, shape mismatch)."""


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    """scipy's matrix square root, its singular-matrix warning silenced (callers check the
    result for non-finite values and imaginary parts, and report the image count)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return linalg.sqrtm(matrix)


def covariance_factor(sigma: np.ndarray) -> np.ndarray | None:
    """``G`` (d x r, r the rank) with ``Σ = G Gᵀ``, from Cholesky with complete pivoting.

    LAPACK's ``dpstrf`` stops at the rank (a pivot under ``d·eps·max Σᵢᵢ``), so a covariance of
    n < d images gives its n - 1 columns. ``None`` where ``Σ`` is not a covariance: asymmetric,
    or ``‖Σ - GGᵀ‖_F`` over ``COVARIANCE_TOLERANCE · tr Σ`` (a negative eigenvalue).
    """
    scale = float(np.trace(sigma))
    if not scale > 0:
        return np.zeros((sigma.shape[0], 0)) if not np.any(sigma) else None
    if np.max(np.abs(sigma - sigma.T)) > COVARIANCE_TOLERANCE * scale:
        return None
    symmetric = (sigma + sigma.T) / 2
    packed, pivots, rank, info = lapack.dpstrf(symmetric, lower=1)
    if info < 0:
        raise ValueError(f"dpstrf rejected argument {-info}")
    factor = np.zeros((sigma.shape[0], rank))
    factor[pivots - 1] = np.tril(packed)[:, :rank]
    left_out = rank < sigma.shape[0]  # it must be rounding noise, not a negative direction
    if left_out and np.linalg.norm(symmetric - factor @ factor.T) > COVARIANCE_TOLERANCE * scale:
        return None
    return factor


def trace_sqrt_product(factor1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr sqrtm(Σ₁Σ₂) = Σᵢ √λᵢ``, ``λ`` the eigenvalues of ``Gᵀ Σ₂ G`` for ``Σ₁ = G Gᵀ``.

    ``Σ₁Σ₂ = G (Gᵀ Σ₂)`` has the eigenvalues of ``(Gᵀ Σ₂) G``, plus zeros; that matrix is
    symmetric positive semidefinite, so ``λ`` is real and non-negative, and the principal square
    root's trace is the sum of their square roots (the same matrix as ``√Σ₁ Σ₂ √Σ₁``, written
    with the pivoted Cholesky factor instead of the symmetric root). Negative ``λ`` are
    rounding noise and count 0, as the real part of their root would.
    """
    if factor1.shape[1] == 0:
        return 0.0
    projected = factor1.T @ sigma2 @ factor1
    eigenvalues = linalg.eigh(projected, eigvals_only=True, check_finite=False)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def _frechet_from_sqrtm(
    diff: np.ndarray,
    sigma1: np.ndarray,
    sigma2: np.ndarray,
    style: FrechetStyle,
    warn: Callable[[str], None] | None,
) -> float:
    """``‖μ₁-μ₂‖² + tr Σ₁ + tr Σ₂ - 2 tr sqrtm(Σ₁Σ₂)`` with scipy's sqrtm, as the references do.

    ``pytorch-fid`` (egsde.md §7): if the root is not finite, 1e-6·I is added to both
    covariances and it is taken again; an imaginary part within 1e-3 on the diagonal is
    dropped, a larger one is an error. ``edm`` (EDM ``fid.py``, dg.md §9): the real part of the
    whole expression, with neither the retry nor the check.
    """
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


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    *,
    style: FrechetStyle = "pytorch-fid",
    warn: Callable[[str], None] | None = None,
) -> float:
    """``‖μ₁-μ₂‖² + tr Σ₁ + tr Σ₂ - 2 tr sqrtm(Σ₁Σ₂)``, its trace from eigenvalues (float64).

    For covariances (symmetric positive semidefinite, as every statistics file and folder gives)
    ``tr sqrtm(Σ₁Σ₂)`` is ``trace_sqrt_product`` of the lower-rank one's factor: seconds for
    2048-d statistics where scipy's sqrtm takes tens, and at most a few 1e-7 apart from scipy's
    value (which adds the roots of the rounding noise in the product's zero eigenvalues; this
    drops it). The eigenvalues are real and non-negative, so pytorch-fid's imaginary-part check
    has nothing to check and its 1e-6 retry nothing to retry: both references' styles give the
    same number, the exact one also where scipy's sqrtm would not have been finite. Anything
    else (not symmetric, a negative eigenvalue beyond ``COVARIANCE_TOLERANCE``) takes the
    references' own sqrtm route, with each style's retry, check or real part.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise FrechetError(
            f"the two statistics describe different features: mean {mu1.shape} against "
            f"{mu2.shape}, covariance {sigma1.shape} against {sigma2.shape}"
        )
    if not all(np.isfinite(value).all() for value in (mu1, mu2, sigma1, sigma2)):
        raise FrechetError("the statistics hold non-finite values (NaN or infinity)")
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    factor1, factor2 = covariance_factor(sigma1), covariance_factor(sigma2)
    if factor1 is None or factor2 is None:
        if warn is not None:
            warn(
                "the statistics' covariances are not symmetric positive semidefinite; taking "
                "scipy's sqrtm of their product, as the references do"
            )
        return _frechet_from_sqrtm(diff, sigma1, sigma2, style, warn)
    if factor1.shape[1] <= factor2.shape[1]:
        covmean_trace = trace_sqrt_product(factor1, sigma2)
    else:
        covmean_trace = trace_sqrt_product(factor2, sigma1)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * covmean_trace)


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
