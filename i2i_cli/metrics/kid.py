"""Kernel Inception Distance (Bińkowski et al. 2018), as StyleGAN3's ``kernel_inception_distance``.

An unbiased MMD² estimate with the cubic polynomial kernel ``k(x, y) = (xᵀy / d + 1)³``,
averaged over ``subsets`` random subsets of ``m = min(n_gen, n_ref, subset_size)`` features from
each side (drawn without replacement from a seeded generator, no global RNG).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from i2i_cli.base.errors import UsageError

SUBSETS = 100
SUBSET_SIZE = 1000
"""StyleGAN3's and clean-fid's defaults: 100 subsets of at most 1000 features."""


@dataclass(frozen=True)
class KID:
    """The KID estimate (mean over subsets), its standard deviation, and the subset shape."""

    mean: float
    std: float
    subsets: int
    subset_size: int


def _subset_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of one pair of equal-size subsets under the cubic polynomial kernel."""
    m, dim = x.shape
    a = (x @ x.T / dim + 1) ** 3 + (y @ y.T / dim + 1) ** 3
    b = (x @ y.T / dim + 1) ** 3
    return float((a.sum() - np.diag(a).sum()) / (m - 1) / m - b.sum() * 2 / m / m)


def kernel_inception_distance(
    generated: np.ndarray,
    reference: np.ndarray,
    *,
    subsets: int = SUBSETS,
    subset_size: int = SUBSET_SIZE,
    seed: int = 0,
) -> KID:
    """KID between two (N, D) feature sets (float64 arithmetic)."""
    if generated.ndim != 2 or reference.ndim != 2 or generated.shape[1] != reference.shape[1]:
        raise UsageError(
            f"KID needs two feature sets of one width, got {generated.shape} and {reference.shape}"
        )
    m = min(generated.shape[0], reference.shape[0], subset_size)
    if m < 2:
        raise UsageError(f"KID needs at least 2 images on each side, got {m}")
    rng = np.random.default_rng(seed)
    gen = np.asarray(generated, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    values = np.array(
        [
            _subset_mmd(
                gen[rng.choice(gen.shape[0], m, replace=False)],
                ref[rng.choice(ref.shape[0], m, replace=False)],
            )
            for _ in range(subsets)
        ]
    )
    return KID(mean=float(values.mean()), std=float(values.std()), subsets=subsets, subset_size=m)
