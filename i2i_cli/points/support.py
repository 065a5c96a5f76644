"""Support precision and coverage of 2-D samples against their data set, at the data's own radii.

Precision is the share of samples that lie within the radius at which 99% of a fresh draw of the
data lies within reach of a 60 000-point draw (so the data itself scores 0.99; Kynkäänniemi et
al. 2019, with one fixed radius instead of per-point k-NN balls). Coverage is the share of a
draw of the data that has a sample within the radius at which 95% of a fresh draw lies within
reach of a draw of the samples' size; the same count of data points in place of the samples
gives the data's own coverage (about 0.95). Both are exact on the known data sets: no learned
feature, no kernel bandwidth.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from i2i_cli.points.metrics import nearest_distances, within
from i2i_cli.points.synthetic_data import SyntheticTask, seeded_rng, synthetic_array

REFERENCE_POINTS = 60_000
"""The dense draw precision's radius and test are measured against."""

PRECISION_QUANTILE = 0.99
"""Share of a fresh data draw within the precision radius of the dense draw."""

COVERAGE_QUANTILE = 0.95
"""Share of a fresh data draw within the coverage radius of a draw of the samples' size."""


@dataclass(frozen=True)
class SupportScores:
    """How well samples lie on, and fill, their data set's support."""

    precision: float
    """Share of the samples near the data (the data itself: 0.99)."""
    coverage: float
    """Share of the data near a sample."""
    data_coverage: float
    """The coverage a draw of the data itself reaches with as many points (about 0.95)."""
    precision_radius: float
    """The data's own 99% nearest-neighbour radius against the dense draw."""
    coverage_radius: float
    """The data's own 95% nearest-neighbour radius at the samples' count."""


def support_scores(samples: np.ndarray, task: SyntheticTask, seed: int = 0) -> SupportScores:
    """Precision and coverage of ``samples`` (n, 2) against draws of ``task`` from ``seed``."""
    samples = np.asarray(samples, dtype=np.float64)
    count = len(samples) - len(samples) % task.multiple_of
    if count < task.multiple_of:
        raise ValueError(f"{len(samples)} samples are too few to score against {task.name}")
    dense, probe, data, companion, coverage_probe = split_draw(
        task, (REFERENCE_POINTS, count, count, count, count), seed
    )
    precision_radius = quantile_radius(probe, dense, PRECISION_QUANTILE)
    coverage_radius = quantile_radius(coverage_probe, companion, COVERAGE_QUANTILE)
    return SupportScores(
        precision=within(samples, dense, precision_radius),
        coverage=within(data, samples, coverage_radius),
        data_coverage=within(data, companion, coverage_radius),
        precision_radius=precision_radius,
        coverage_radius=coverage_radius,
    )


def split_draw(task: SyntheticTask, sizes: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Disjoint random parts of one draw of ``task`` with the given sizes.

    One draw, so every part shares its normalisation: the reference normalises each draw by
    its own statistics, and separate small draws would differ in scale by more than the radii.
    """
    rng = seeded_rng(seed)
    total = sum(sizes)
    total += -total % task.multiple_of
    points = synthetic_array(task, total, rng)[rng.permutation(total)]
    bounds = np.cumsum((0, *sizes))
    return [points[start:stop] for start, stop in itertools.pairwise(bounds)]


def quantile_radius(fresh: np.ndarray, reference: np.ndarray, quantile: float) -> float:
    """The radius within which a share ``quantile`` of ``fresh`` reaches ``reference``."""
    return float(np.quantile(nearest_distances(fresh, reference), quantile))
