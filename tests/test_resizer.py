"""The low-pass filter's contract beyond the golden vectors."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.resizer import LowPassFilter, resize_matrix


@pytest.mark.parametrize("kernel", ["linear", "cubic"])
def test_constant_images_pass_unchanged(kernel: str) -> None:
    x = torch.full((1, 3, 32, 32), 0.37, dtype=torch.float64)
    torch.testing.assert_close(LowPassFilter(32, 32, 4, kernel)(x), x)  # type: ignore[arg-type]


def test_rows_of_every_resize_matrix_sum_to_one() -> None:
    for scale in (1 / 32, 1 / 2, 2.0, 32.0):
        matrix = resize_matrix(64 if scale < 1 else 4, scale, "cubic")
        torch.testing.assert_close(
            torch.from_numpy(matrix.sum(axis=1)), torch.ones(len(matrix), dtype=torch.float64)
        )


def test_factor_that_does_not_divide_the_size_is_refused() -> None:
    with pytest.raises(ValueError, match="must divide the image side 30"):
        LowPassFilter(30, 30, 4)
    with pytest.raises(ValueError, match="at least 2 pixels"):
        LowPassFilter(32, 32, 32)


def test_wrong_input_size_is_refused() -> None:
    with pytest.raises(ValueError, match="built for 32x32"):
        LowPassFilter(32, 32, 4)(torch.zeros(1, 3, 16, 16))


def test_gradient_flows_and_operators_are_built_once() -> None:
    low_pass = LowPassFilter(16, 16, 2)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    low_pass(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    first = low_pass.operators(x.device, x.dtype)
    assert low_pass.operators(x.device, x.dtype) is first
