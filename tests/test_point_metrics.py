"""The 2-D point-cloud distances: sliced Wasserstein by sorted projections, and MMD."""

from __future__ import annotations

import numpy as np
import pytest

from i2i_cli.points.metrics import mmd_rbf, sliced_wasserstein, sorted_quantiles


@pytest.mark.parametrize(("count", "levels"), [(1, 1), (7, 7), (500, 499), (3000, 1200)])
def test_sorted_quantiles_are_numpys_linear_quantiles(count: int, levels: int) -> None:
    values = np.random.default_rng(count).standard_normal((count, 5))
    q = (np.arange(levels) + 0.5) / levels
    expected = np.quantile(values, q, axis=0)
    np.testing.assert_allclose(sorted_quantiles(np.sort(values, axis=0), q), expected, atol=1e-12)


def test_sliced_wasserstein_of_a_shift_is_the_mean_projected_shift() -> None:
    points = np.random.default_rng(0).standard_normal((4000, 2))
    shift = np.array([0.3, -0.4])
    distance = sliced_wasserstein(points, points + shift, projections=512)
    directions = np.random.default_rng(0).standard_normal((2, 512))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    assert distance == pytest.approx(np.abs(shift @ directions).mean(), rel=1e-9)
    assert sliced_wasserstein(points, points) == 0.0


def test_sliced_wasserstein_of_unequal_sizes_resamples_to_the_smaller() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((20_000, 2)), rng.standard_normal((3000, 2)) + 1.0
    assert 0.5 < sliced_wasserstein(a, b) < 1.0
    assert mmd_rbf(a[:500], b[:500]) > mmd_rbf(a[:500], a[500:1000])


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("name", ["concentric_squares", "moons"])
def test_support_scores_of_the_data_itself(name: str, seed: int) -> None:
    """A fresh draw scores precision about 0.99 and the data's own coverage (about 0.95)."""
    from i2i_cli.points.support import support_scores
    from i2i_cli.points.synthetic_data import seeded_rng, synthetic_array, synthetic_task

    task = synthetic_task(name)
    scores = support_scores(synthetic_array(task, 3000, seeded_rng(100 + seed)), task, seed)
    assert 0.97 <= scores.precision <= 1.0, scores
    assert abs(scores.coverage - scores.data_coverage) < 0.02, scores
    assert 0.93 <= scores.data_coverage <= 0.97, scores


def test_support_scores_see_blur_and_a_missing_band() -> None:
    """Blurring the bands costs precision; dropping the outer band costs coverage, not precision."""
    from i2i_cli.points.support import support_scores
    from i2i_cli.points.synthetic_data import seeded_rng, synthetic_array, synthetic_task

    task = synthetic_task("concentric_rings")
    data = synthetic_array(task, 6000, seeded_rng(3))
    data = data[np.random.default_rng(0).permutation(len(data))]
    blurred = data[:3000] + np.random.default_rng(1).normal(0.0, 0.1, (3000, 2))
    assert support_scores(blurred, task).precision < 0.8
    radius = np.hypot(data[:, 0], data[:, 1])
    inner = data[radius < np.quantile(radius, 0.6)][:3000]
    scores = support_scores(inner, task)
    assert scores.precision > 0.97, scores
    assert scores.coverage < scores.data_coverage - 0.2, scores
