"""The low-pass filter's contract beyond the golden vectors."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.io.resizer import LowPassFilter, low_pass, resize_matrix


@pytest.mark.parametrize("kernel", ["linear", "cubic"])
def test_constant_images_pass_unchanged(kernel: str) -> None:
    x = torch.full((1, 3, 32, 32), 0.37, dtype=torch.float64)
    torch.testing.assert_close(LowPassFilter(32, 32, 4, kernel)(x), x)  # type: ignore[arg-type]


def test_rows_of_every_resize_matrix_sum_to_one() -> None:
    for scale in (1 / 32, 1 / 3, 1 / 2, 2.0, 3.0, 32.0):
        matrix = resize_matrix(96 if scale < 1 else 4, scale, "cubic")
        torch.testing.assert_close(
            torch.from_numpy(matrix.sum(axis=1)), torch.ones(len(matrix), dtype=torch.float64)
        )


def test_interior_weights_are_the_stretched_triangle_and_keys_cubic() -> None:
    down = resize_matrix(16, 1 / 2, "linear")
    torch.testing.assert_close(
        torch.from_numpy(down[3, 4:10]), torch.tensor([0, 1, 3, 3, 1, 0], dtype=torch.float64) / 8
    )
    up = resize_matrix(8, 2.0, "cubic")
    expected = torch.tensor([-0.0234375, 0.2265625, 0.8671875, -0.0703125], dtype=torch.float64)
    torch.testing.assert_close(torch.from_numpy(up[6, 1:5]), expected)


def test_factor_that_does_not_divide_the_size_is_refused() -> None:
    with pytest.raises(ValueError, match="must divide the image side 30"):
        LowPassFilter(30, 30, 4)
    with pytest.raises(ValueError, match="at least 2 pixels"):
        LowPassFilter(32, 32, 32)
    with pytest.raises(ValueError, match="must divide the image side 30"):
        low_pass(torch.zeros(1, 3, 32, 30), 4)


def test_unknown_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kernel 'lanczos3'"):
        resize_matrix(32, 0.5, "lanczos3")  # type: ignore[arg-type]


def test_wrong_input_size_is_refused() -> None:
    with pytest.raises(ValueError, match="built for 32x32"):
        LowPassFilter(32, 32, 4)(torch.zeros(1, 3, 16, 16))


def test_non_square_images_keep_shape_and_dtype() -> None:
    x = torch.randn(2, 3, 24, 48, dtype=torch.float64)
    low = LowPassFilter(24, 48, 3, "cubic")
    assert low.down(x).shape == (2, 3, 8, 16) and low(x).dtype == torch.float64
    torch.testing.assert_close(low_pass(x, 3, "cubic"), low(x))


def test_gradient_flows_and_operators_are_built_once() -> None:
    low = LowPassFilter(16, 16, 2)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    low(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    first = low.operators(x.device, x.dtype)
    assert low.operators(x.device, x.dtype) is first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    low = LowPassFilter(64, 64, 8, "cubic")
    torch.testing.assert_close(low(x.cuda()).cpu(), low(x))
