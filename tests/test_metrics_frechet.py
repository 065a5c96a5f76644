"""Fréchet distance, feature statistics, statistics files and KID (no network involved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import linalg

from i2i_cli.errors import UsageError
from i2i_cli.metrics.frechet import FeatureStats, FrechetError, frechet_distance
from i2i_cli.metrics.kid import kernel_inception_distance
from i2i_cli.metrics.statsfile import ReferenceStats, read_stats, stats_digest, write_stats


def test_statistics_from_sums_equal_numpy_mean_and_cov() -> None:
    features = np.random.default_rng(0).standard_normal((30, 6)) + 3.0
    stats = FeatureStats(dim=6)
    for chunk in np.array_split(features, 4):
        stats.add(chunk)
    np.testing.assert_allclose(stats.mean(), features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance(), np.cov(features, rowvar=False), rtol=1e-10)


def test_one_image_has_no_covariance() -> None:
    stats = FeatureStats(dim=3)
    stats.add(np.ones((1, 3)))
    with pytest.raises(UsageError, match="at least 2 images, got 1"):
        stats.covariance()


def test_identical_statistics_are_at_distance_zero() -> None:
    features = np.random.default_rng(1).standard_normal((50, 5))
    mu, sigma = features.mean(axis=0), np.cov(features, rowvar=False)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-10


def test_distance_is_the_closed_form_for_diagonal_covariances() -> None:
    mu1, mu2 = np.array([0.0, 1.0]), np.array([1.0, 3.0])
    s1, s2 = np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
    expected = 1 + 4 + (4 + 1 + 1 + 9) - 2 * (2 * 1 + 1 * 3)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-12)


def test_singular_product_is_retried_with_an_offset_and_reported() -> None:
    warnings: list[str] = []
    nilpotent = np.array([[0.0, 1.0], [0.0, 0.0]])
    value = frechet_distance(np.zeros(2), nilpotent, np.zeros(2), np.eye(2), warn=warnings.append)
    offset = np.eye(2) * 1e-6
    covmean = linalg.sqrtm((nilpotent + offset) @ (np.eye(2) + offset)).real
    assert value == pytest.approx(0 + 2 - 2 * np.trace(covmean), rel=1e-12)
    assert len(warnings) == 1 and "singular" in warnings[0]


def test_large_imaginary_part_is_an_error_with_pytorch_fid_and_dropped_with_edm() -> None:
    with pytest.raises(FrechetError, match="imaginary part"):
        frechet_distance(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2))
    # EDM takes the real part of the whole expression: tr(-I + I) - 2 Re tr(iI) = 0.
    assert frechet_distance(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2), style="edm") == 0.0


def test_statistics_of_different_widths_are_a_usage_error() -> None:
    with pytest.raises(FrechetError, match="different features"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_statistics_file_round_trips_in_pytorch_fid_and_edm_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    mu, sigma = rng.standard_normal(4), np.cov(rng.standard_normal((9, 4)), rowvar=False)
    path = tmp_path / "ref.npz"
    write_stats(path, ReferenceStats(mu=mu, sigma=sigma, info={"count": 9}))
    with np.load(path) as data:  # what pytorch-fid and EDM read
        np.testing.assert_array_equal(data["mu"], mu)
        np.testing.assert_array_equal(data["sigma"], sigma)
    loaded = read_stats(path)
    assert loaded.info == {"count": 9} and loaded.features is None
    assert stats_digest(loaded.mu, loaded.sigma) == stats_digest(mu, sigma)


def test_foreign_statistics_file_without_sigma_is_one_clear_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", mu=np.zeros(3))
    with pytest.raises(UsageError, match="lack sigma"):
        read_stats(tmp_path / "bad.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(UsageError, match=r"not an \.npz"):
        read_stats(tmp_path / "text.npz")


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((200, 16)), rng.standard_normal((200, 16))
    same = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    shifted = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=100)
    assert abs(same.mean) < 0.02
    assert shifted.mean > 10 * abs(same.mean) + 0.05
    again = kernel_inception_distance(a, b, subsets=20, subset_size=100)
    assert again == same  # seeded subsets, no global RNG


def test_kid_subset_value_is_the_unbiased_polynomial_mmd() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    kernel = lambda p, q: (p @ q.T / 3 + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    off = lambda k: (k.sum() - np.trace(k)) / (5 * 4)  # noqa: E731
    expected = off(kxx) + off(kyy) - 2 * kxy.mean()
    kid = kernel_inception_distance(x, y, subsets=1, subset_size=5)
    assert kid.mean == pytest.approx(expected, rel=1e-12)
