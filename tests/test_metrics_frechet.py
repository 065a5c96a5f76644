"""Fréchet distance, feature statistics, statistics files and KID (no network involved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import linalg

from i2i_cli.base.errors import UsageError
from i2i_cli.metrics.frechet import (
    FeatureStats,
    FrechetError,
    covariance_factor,
    frechet_distance,
    trace_sqrt_product,
)
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


def inception_like_features(count: int, seed: int, dim: int = 2048) -> np.ndarray:
    """``count`` pool3-like feature vectors: non-negative, correlated, many near zero.

    A ReLU of 256 shared latent directions plus a small independent positive part, as Inception's
    averaged ReLU maps are; fewer than ``dim + 1`` of them give a rank ``count - 1`` covariance.
    """
    mixing = np.random.default_rng(0).standard_normal((256, dim)) / 16
    rng = np.random.default_rng(seed)
    shared = np.maximum(rng.standard_normal((count, 256)) @ mixing + 0.2, 0)
    return shared + 0.05 * np.abs(rng.standard_normal((count, dim)))


def inception_like_statistics(count: int, seed: int, dim: int = 2048) -> tuple[np.ndarray, ...]:
    """Mean and covariance (np.cov, as pytorch-fid) of ``inception_like_features``."""
    features = inception_like_features(count, seed, dim)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def scipy_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """pytorch-fid's expression with scipy's sqrtm, its imaginary part dropped."""
    covmean = linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_distance_of_1024_d_statistics_is_scipys_sqrtm_result_to_1e_6() -> None:
    """Half Inception's width, an eighth of scipy's 2048-d sqrtm cost (which takes 15-45 s here).

    The 2048-d agreement itself is ``python benchmarks/bench_frechet.py``'s column (rel <= 2e-7).
    """
    low_rank = inception_like_statistics(500, seed=1, dim=1024)  # fewer images than features
    full_rank = inception_like_statistics(2048, seed=2, dim=1024)
    value = frechet_distance(*low_rank, *full_rank)
    assert value == pytest.approx(scipy_frechet(*low_rank, *full_rank), rel=1e-6)
    assert frechet_distance(*low_rank, *full_rank, style="edm") == value


@pytest.mark.parametrize("counts", [(200, 300), (20, 300), (300, 15), (20, 15)])
def test_distance_is_scipys_sqrtm_result_for_full_and_low_rank_covariances(
    counts: tuple[int, int],
) -> None:
    first = inception_like_statistics(counts[0], seed=3, dim=128)
    second = inception_like_statistics(counts[1], seed=4, dim=128)
    expected = scipy_frechet(*first, *second)
    assert frechet_distance(*first, *second) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(*second, *first) == pytest.approx(expected, rel=1e-6)


def test_covariance_factor_has_the_covariances_rank_and_reproduces_it() -> None:
    features = inception_like_features(20, seed=5, dim=64)
    sigma = np.cov(features, rowvar=False)
    factor = covariance_factor(sigma)
    assert factor is not None and factor.shape == (64, 19)
    np.testing.assert_allclose(factor @ factor.T, sigma, atol=1e-12)
    # tr sqrtm(Σ) is the sum of the centred features' singular values over sqrt(n - 1), exactly
    centred = (features - features.mean(axis=0)) / np.sqrt(19)
    exact = linalg.svdvals(centred).sum()
    assert trace_sqrt_product(factor, np.eye(64)) == pytest.approx(exact, rel=1e-12)
    assert covariance_factor(np.zeros((3, 3))).shape == (3, 0)  # type: ignore[union-attr]


def test_a_negative_or_asymmetric_matrix_is_no_covariance() -> None:
    assert covariance_factor(np.diag([1.0, -0.5, 2.0])) is None
    assert covariance_factor(np.array([[2.0, 1.0], [0.0, 2.0]])) is None
    assert covariance_factor(-np.eye(2)) is None


def test_non_finite_statistics_are_an_error() -> None:
    with pytest.raises(FrechetError, match="non-finite"):
        frechet_distance(np.array([np.nan, 0]), np.eye(2), np.zeros(2), np.eye(2))


def test_statistics_that_are_no_covariances_take_scipys_sqrtm_with_pytorch_fids_retry() -> None:
    warnings: list[str] = []
    nilpotent = np.array([[0.0, 1.0], [0.0, 0.0]])
    value = frechet_distance(np.zeros(2), nilpotent, np.zeros(2), np.eye(2), warn=warnings.append)
    offset = np.eye(2) * 1e-6
    covmean = linalg.sqrtm((nilpotent + offset) @ (np.eye(2) + offset)).real
    assert value == pytest.approx(0 + 2 - 2 * np.trace(covmean), rel=1e-12)
    assert len(warnings) == 2
    assert "not symmetric positive semidefinite" in warnings[0] and "singular" in warnings[1]


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
