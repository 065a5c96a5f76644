"""Noise sources: per-item streams independent of batching; recorded noise replays exactly."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.diffusion.noise import PerItemNoise, RecordedNoise, SeedNoise, item_seed


def draws(keys: list[str], seed: int = 0, count: int = 3) -> list[torch.Tensor]:
    """``count`` successive draws of shape (len(keys), 2, 3) from one per-item source."""
    noise = PerItemNoise(seed, keys)
    return [noise.randn((len(keys), 2, 3)) for _ in range(count)]


def test_item_noise_is_independent_of_batch_size() -> None:
    together = draws(["a", "b", "c"])
    for index, key in enumerate(["a", "b", "c"]):
        alone = draws([key])
        for step in range(3):
            assert torch.equal(together[step][index], alone[step][0])


def test_item_noise_is_independent_of_order() -> None:
    forward = draws(["a", "b", "c"])
    backward = draws(["c", "b", "a"])
    for step in range(3):
        assert torch.equal(forward[step][0], backward[step][2])


def test_different_keys_and_seeds_give_different_noise() -> None:
    assert not torch.equal(draws(["a"])[0], draws(["b"])[0])
    assert not torch.equal(draws(["a"], seed=0)[0], draws(["a"], seed=1)[0])


def test_item_seed_is_stable() -> None:
    assert item_seed(0, "a") == 6852966567523245171
    assert 0 <= item_seed(2**40, "some/long key") < 2**63


def test_randn_like_and_rand_follow_the_input() -> None:
    noise = PerItemNoise(1, ["x", "y"])
    like = noise.randn_like(torch.zeros(2, 4, dtype=torch.float64))
    assert like.dtype == torch.float64 and like.shape == (2, 4)
    uniform = noise.rand((2, 100))
    assert float(uniform.min()) >= 0.0 and float(uniform.max()) < 1.0


def test_batch_size_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 items"):
        PerItemNoise(0, ["a", "b"]).randn((3, 4))


def test_recorded_noise_replays_in_order_and_checks_shapes() -> None:
    first, second = torch.randn(2, 3), torch.randn(4)
    noise = RecordedNoise([first, second])
    assert torch.equal(noise.randn_like(torch.zeros(2, 3)), first)
    with pytest.raises(ValueError, match="draw 1 has shape"):
        noise.randn((5,))
    assert torch.equal(noise.randn((4,)), second)
    noise.assert_exhausted()


def test_recorded_noise_reports_exhaustion() -> None:
    noise = RecordedNoise([torch.zeros(1)])
    with pytest.raises(AssertionError, match="1 recorded draws"):
        noise.assert_exhausted()
    noise.randn((1,))
    with pytest.raises(ValueError, match="exhausted after 1 draws"):
        noise.randn((1,))


def test_seed_noise_is_edms_generator_per_seed() -> None:
    """Item "42" draws from ``torch.Generator().manual_seed(42)`` whatever its batch (EDM)."""
    batch = SeedNoise(7, ["000042", "000003"]).randn((2, 3, 4))
    for row, seed in zip(batch, (42, 3), strict=True):
        expected = torch.randn((3, 4), generator=torch.Generator().manual_seed(seed))
        assert torch.equal(row, expected)
    assert torch.equal(SeedNoise(0, ["000003"]).randn((1, 3, 4))[0], batch[1])
    big = SeedNoise(0, [str(5 + (1 << 32))]).randn((1, 2))
    assert torch.equal(big, SeedNoise(0, ["5"]).randn((1, 2)))
