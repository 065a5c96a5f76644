"""Distances between 2-D point clouds: sliced Wasserstein and kernel MMD (for samples vs data)."""

from __future__ import annotations

import numpy as np


def sliced_wasserstein(
    a: np.ndarray, b: np.ndarray, *, projections: int = 256, seed: int = 0
) -> float:
    """Sliced 1-Wasserstein distance: the mean over random directions of W1 of the projections.

    Each projection's W1 is the mean absolute difference of the sorted projections, after
    resampling both sets to the smaller size by evenly spaced quantiles (Bonneel et al. 2015).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"point sets must be (n, d) of one d, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((a.shape[1], projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    size = min(len(a), len(b))
    levels = (np.arange(size) + 0.5) / size
    pa = sorted_quantiles(sorted_columns(a @ directions), levels)
    pb = sorted_quantiles(sorted_columns(b @ directions), levels)
    return float(np.abs(pa - pb).mean())


def sorted_columns(values: np.ndarray) -> np.ndarray:
    """``np.sort(values, axis=0)``, sorted as contiguous rows of the transpose (twice as fast)."""
    rows = np.ascontiguousarray(values.T)
    rows.sort(axis=1)
    return rows.T


def sorted_quantiles(columns: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``np.quantile(columns, levels, axis=0)`` (linear method) of column-wise sorted values.

    Position ``h = (n - 1) q`` interpolates between the sorted values at floor(h) and floor(h)+1:
    one gather per level instead of a selection per level, O(n log n) for n levels.
    """
    count = len(columns)
    position = (count - 1) * np.asarray(levels, dtype=np.float64)
    below = np.clip(np.floor(position).astype(np.int64), 0, count - 1)
    above = np.minimum(below + 1, count - 1)
    fraction = (position - below)[:, None]
    low, high = columns[below], columns[above]
    return low + fraction * (high - low)


def mmd_rbf(a: np.ndarray, b: np.ndarray, *, bandwidth: float = 0.2) -> float:
    """Squared maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012, eq. 3).

    The biased V-statistic ``mean k(a, a') + mean k(b, b') - 2 mean k(a, b)``; keep the sets to a
    few thousand points (it is quadratic in memory).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)

    def mean_kernel(x: np.ndarray, y: np.ndarray) -> float:
        squared = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return float(np.exp(-squared / (2 * bandwidth**2)).mean())

    return mean_kernel(a, a) + mean_kernel(b, b) - 2 * mean_kernel(a, b)


def nearest_distances(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each of ``points`` to its nearest neighbour in ``reference``."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.asarray(reference, dtype=np.float64))
    distances, _ = tree.query(np.asarray(points, dtype=np.float64), k=1)
    return np.asarray(distances)


def within(points: np.ndarray, reference: np.ndarray, radius: float) -> float:
    """Share of ``points`` with a point of ``reference`` within ``radius`` (closed ball)."""
    return float((nearest_distances(points, reference) <= radius).mean())
