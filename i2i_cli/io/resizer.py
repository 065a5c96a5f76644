"""The anti-aliased Resizer (ResizeRight, MATLAB ``imresize`` semantics) as 1-D matrices.

EGSDE's faithfulness energy uses its linear (triangle) kernel, ILVR's and SDDM's reference
conditioning its cubic kernel (egsde.md §3, sddm.md §10). Each 1-D resize is a fixed linear map:
we build its (out x in) matrix once per (length, scale, kernel) in float64 and apply it with
matmuls, which is exact, differentiable and fast on any device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

Kernel = Literal["linear", "cubic"]


def linear_kernel(d: np.ndarray) -> np.ndarray:
    """The triangle ``max(0, 1 - |d|)`` (support 2)."""
    return np.clip(1.0 - np.abs(d), 0.0, None)


def cubic_kernel(d: np.ndarray) -> np.ndarray:
    """Keys' cubic with a = -0.5, MATLAB's ``imresize`` default (support 4)."""
    a = np.abs(d)
    near = (1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1)
    far = (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2))
    return near + far


KERNELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "linear": (linear_kernel, 2.0),
    "cubic": (cubic_kernel, 4.0),
}
"""Each kernel and its support width."""


def resize_matrix(length: int, scale: float, kernel: Kernel, antialias: bool = True) -> np.ndarray:
    """The (ceil(length * scale) x length) float64 matrix of one 1-D resize.

    Output pixel j (1-based) is centred at input coordinate ``j/s + (1 - 1/s)/2``; taps start at
    ``floor(c - width/2)`` over ``ceil(width) + 2`` pixels, weights ``k(c - p)`` (stretched to
    ``s k(s d)`` when anti-aliasing a downscale) normalised to sum 1, and out-of-range taps are
    mirrored with edge repetition (egsde.md §3).
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {', '.join(KERNELS)}")
    base, width = KERNELS[kernel]
    stretch = antialias and scale < 1

    def weigh(d: np.ndarray) -> np.ndarray:
        return scale * base(scale * d) if stretch else base(d)

    if stretch:
        width = width / scale
    out_length = math.ceil(length * scale)
    centres = np.arange(1, out_length + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(centres - width / 2)
    positions = left[:, None] + np.arange(math.ceil(width) + 2)[None]  # 1-based
    weights = weigh(centres[:, None] - positions)
    weights = weights / weights.sum(axis=1, keepdims=True)
    index = (positions.astype(np.int64) - 1) % (2 * length)
    index = np.where(index >= length, 2 * length - 1 - index, index)
    matrix = np.zeros((out_length, length))
    rows = np.repeat(np.arange(out_length), positions.shape[1])
    np.add.at(matrix, (rows, index.ravel()), weights.ravel())
    return matrix


def _check_factor(size: int, factor: int) -> None:
    """ValueError unless ``factor`` divides ``size`` and leaves more than one pixel."""
    if factor < 1 or size % factor or size // factor < 2:
        raise ValueError(
            f"low-pass factor {factor} must divide the image side {size} and leave at least "
            "2 pixels"
        )


@dataclass(frozen=True, eq=False)
class LowPassFilter:
    """``up(down(x))`` by an integer ``factor`` over the last two dims (EGSDE's and ILVR's phi_N).

    The per-dimension operators ``P = U D`` are built once; ``x -> P_h x P_w^T`` per channel.
    """

    height: int
    width: int
    factor: int
    kernel: Kernel = "linear"
    _operators: dict[tuple[str, torch.dtype], tuple[torch.Tensor, ...]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        _check_factor(self.height, self.factor)
        _check_factor(self.width, self.factor)

    def _matrices(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """The down and up matrices of one dimension of length ``side``."""
        down = resize_matrix(side, 1 / self.factor, self.kernel)
        up = resize_matrix(side // self.factor, float(self.factor), self.kernel)
        return down, up

    def operators(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """``(D_h, D_w, P_h, P_w)`` as tensors on ``device``, built once per device and dtype."""
        key = (str(device), dtype)
        if key not in self._operators:
            down_h, up_h = self._matrices(self.height)
            down_w, up_w = self._matrices(self.width)
            mats = (down_h, down_w, up_h @ down_h, up_w @ down_w)
            self._operators[key] = tuple(
                torch.from_numpy(m).to(device=device, dtype=dtype) for m in mats
            )
        return self._operators[key]

    def _check(self, x: torch.Tensor) -> None:
        """ValueError unless the last two dims of ``x`` are the ones the filter was built for."""
        if tuple(x.shape[-2:]) != (self.height, self.width):
            raise ValueError(
                f"low-pass filter built for {self.height}x{self.width}, got {tuple(x.shape)}"
            )

    def down(self, x: torch.Tensor) -> torch.Tensor:
        """Down-sample the last two dims by ``factor`` (anti-aliased)."""
        self._check(x)
        down_h, down_w, _, _ = self.operators(x.device, x.dtype)
        return down_h @ x @ down_w.T

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The low-passed image ``up(down(x))``, same shape as ``x``."""
        self._check(x)
        _, _, pass_h, pass_w = self.operators(x.device, x.dtype)
        return pass_h @ x @ pass_w.T


def low_pass(x: torch.Tensor, factor: int, kernel: Kernel = "linear") -> torch.Tensor:
    """``up(down(x))`` over the last two dims of ``x`` (egsde.md §3, sddm.md §10).

    Builds the operators on every call: loops should hold one ``LowPassFilter`` instead.
    """
    return LowPassFilter(x.shape[-2], x.shape[-1], factor, kernel)(x)
