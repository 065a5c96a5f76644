"""Fréchet distance of 2048-d statistics: i2i's eigenvalue trace against scipy's ``sqrtm``.

``python benchmarks/bench_frechet.py`` times ``i2i_cli.metrics.frechet.frechet_distance``
(``tr sqrtm(Σ₁Σ₂)`` as the sum of the square roots of the eigenvalues of ``Gᵀ Σ₂ G``,
``Σ₁ = G Gᵀ``) beside pytorch-fid's expression with ``scipy.linalg.sqrtm(Σ₁Σ₂)``, on the same
statistics, and prints both values, their relative difference and the speed-up. By default the
statistics are those of pool3-like features (non-negative, correlated; the generator below):
a full-rank pair (4096 samples each) and a low-rank one (1000 samples against 4096, as a small
image folder against a reference). ``--stats A.npz B.npz`` times two pytorch-fid/EDM statistics
files instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy
from scipy import linalg

from i2i_cli.metrics.frechet import frechet_distance
from i2i_cli.metrics.statsfile import read_stats

Statistics = tuple[np.ndarray, np.ndarray]


def pool3_like_statistics(count: int, seed: int, dim: int) -> Statistics:
    """Mean and covariance of ``count`` features ``ReLU(z W + 0.2) + 0.05 |e|``, z in R^256."""
    mixing = np.random.default_rng(0).standard_normal((256, dim)) / 16
    rng = np.random.default_rng(seed)
    shared = np.maximum(rng.standard_normal((count, 256)) @ mixing + 0.2, 0)
    features = shared + 0.05 * np.abs(rng.standard_normal((count, dim)))
    return features.mean(axis=0), np.cov(features, rowvar=False)


def scipy_frechet(first: Statistics, second: Statistics) -> float:
    """``‖μ₁-μ₂‖² + tr Σ₁ + tr Σ₂ - 2 tr sqrtm(Σ₁Σ₂)`` with scipy's sqrtm (pytorch-fid's)."""
    (mu1, s1), (mu2, s2) = first, second
    covmean = linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def seconds(function: Callable[[], float]) -> tuple[float, float]:
    """The function's value and its wall time."""
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def row(label: str, first: Statistics, second: Statistics) -> None:
    """Time both computations on one pair and print their values, difference and ratio."""
    ours, ours_s = seconds(lambda: frechet_distance(*first, *second))
    reference, reference_s = seconds(lambda: scipy_frechet(first, second))
    relative = abs(ours - reference) / abs(reference)
    print(f"{label}")
    print(f"  eigenvalues (i2i):  {ours_s:7.2f} s  FD {ours:.10f}")
    print(f"  scipy sqrtm:        {reference_s:7.2f} s  FD {reference:.10f}")
    print(f"  speed-up {reference_s / ours_s:.1f}x, relative difference {relative:.1e}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048, help="feature width of the default pairs")
    parser.add_argument("--stats", nargs=2, type=Path, metavar="NPZ", help="time these two files")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"{platform.processor() or platform.machine()}, {cores} cores, load {load}; "
        f"numpy {np.__version__}, scipy {scipy.__version__}"
    )
    if args.stats:
        first, second = (read_stats(path) for path in args.stats)
        row(
            f"{args.stats[0]} against {args.stats[1]}",
            (first.mu, first.sigma),
            (second.mu, second.sigma),
        )
        return
    reference = pool3_like_statistics(4096, seed=2, dim=args.dim)
    row(
        f"{args.dim}-d, full rank (4096 vs 4096 samples)",
        pool3_like_statistics(4096, 1, args.dim),
        reference,
    )
    row(
        f"{args.dim}-d, low rank (1000 vs 4096 samples)",
        pool3_like_statistics(1000, 3, args.dim),
        reference,
    )


if __name__ == "__main__":
    main()
