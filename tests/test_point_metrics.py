"""The 2-D point-cloud distances: sliced Wasserstein by sorted projections, and MMD."""

from __future__ import annotations

import numpy as np
import pytest

from i2i_ddib.point_metrics import mmd_rbf, sliced_wasserstein, sorted_quantiles


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
