"""EDM's layers (Karras et al. 2022, ``training/networks.py``; spec dg.md §2.2).

Parameter and buffer names are EDM's (``weight``, ``bias``, ``resample_filter``, ``freqs``), so an
official state dict loads with ``strict=True``. Every layer casts its weights to the input's dtype,
as EDM does, so a network fed float16 runs in float16. Weights are drawn from the ``generator`` a
layer is given (a fresh one seeded 0 when none is), never from torch's global generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

InitMode = Literal["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"]


def fill_weight_(
    tensor: torch.Tensor,
    mode: InitMode,
    fan_in: int,
    fan_out: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """EDM's ``weight_init``: Xavier/Kaiming uniform or normal, in place, from ``generator``."""
    with torch.no_grad():
        if mode == "xavier_uniform":
            bound = math.sqrt(6 / (fan_in + fan_out))
            return tensor.uniform_(-bound, bound, generator=generator)
        if mode == "xavier_normal":
            return tensor.normal_(0.0, math.sqrt(2 / (fan_in + fan_out)), generator=generator)
        if mode == "kaiming_uniform":
            bound = math.sqrt(3 / fan_in)
            return tensor.uniform_(-bound, bound, generator=generator)
        return tensor.normal_(0.0, math.sqrt(1 / fan_in), generator=generator)


def seeded(generator: torch.Generator | None) -> torch.Generator:
    """``generator``, or a fresh CPU generator seeded 0 (model initialisation is always seeded)."""
    return generator if generator is not None else torch.Generator().manual_seed(0)


def init_parameter(
    shape: Sequence[int],
    mode: InitMode,
    fan_in: int,
    fan_out: int,
    scale: float,
    generator: torch.Generator,
) -> nn.Parameter:
    """A parameter of ``shape`` drawn as EDM's ``weight_init(...) * scale``."""
    tensor = torch.empty(*shape)
    fill_weight_(tensor, mode, fan_in, fan_out, generator)
    with torch.no_grad():
        tensor.mul_(scale)
    return nn.Parameter(tensor)


def weight_and_bias(
    shape: Sequence[int],
    fan_in: int,
    fan_out: int,
    init: tuple[InitMode, float, float],
    bias: bool,
    generator: torch.Generator | None,
) -> tuple[nn.Parameter, nn.Parameter | None]:
    """EDM's ``weight_init(shape) * init_weight``, then (if ``bias``) ``weight_init([out]) *
    init_bias``, drawn in that order from ``generator``; ``init`` is (mode, weight, bias scale).
    """
    g = seeded(generator)
    mode, init_weight, init_bias = init
    weight = init_parameter(shape, mode, fan_in, fan_out, init_weight, g)
    if not bias:
        return weight, None
    return weight, init_parameter((shape[0],), mode, fan_in, fan_out, init_bias, g)


class Linear(nn.Module):
    """Fully connected layer ``x W^T + b`` with EDM's initialisation (dg.md §2.2)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init_mode: InitMode = "kaiming_normal",
        init_weight: float = 1.0,
        init_bias: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        shape = (out_features, in_features)
        init = (init_mode, init_weight, init_bias)
        self.weight, self.bias = weight_and_bias(
            shape, in_features, out_features, init, bias, generator
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x W^T (+ b)`` in the dtype of ``x``."""
        x = x @ self.weight.to(x.dtype).t()
        if self.bias is not None:
            x = x + self.bias.to(x.dtype)
        return x


class Conv2d(nn.Module):
    """Convolution with optional 2x up/down-sampling by a separable FIR filter (dg.md §2.2).

    ``kernel=0`` makes a weight-less resampler. The filter ``f = outer(r, r) / sum(r)^2`` is the
    buffer ``resample_filter``, present only when up- or down-sampling. ``fused_resample`` folds
    the resampling into the convolution (NCSN++'s residual encoder path).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        bias: bool = True,
        up: bool = False,
        down: bool = False,
        resample_filter: Sequence[int] = (1, 1),
        fused_resample: bool = False,
        init_mode: InitMode = "kaiming_normal",
        init_weight: float = 1.0,
        init_bias: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        if up and down:
            raise ValueError("Conv2d resamples up or down, not both")
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.up = up
        self.down = down
        self.fused_resample = fused_resample
        self.weight: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None
        if kernel:
            shape = (out_channels, in_channels, kernel, kernel)
            fans = (in_channels * kernel * kernel, out_channels * kernel * kernel)
            init = (init_mode, init_weight, init_bias)
            self.weight, self.bias = weight_and_bias(shape, *fans, init, bias, generator)
        r = torch.as_tensor(list(resample_filter), dtype=torch.float32)
        f = torch.outer(r, r).unsqueeze(0).unsqueeze(1) / r.sum().square()
        self.register_buffer("resample_filter", f if up or down else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Resample (if asked) then convolve with 'same' padding; or both fused."""
        w = self.weight.to(x.dtype) if self.weight is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        f = self.resample_filter.to(x.dtype) if self.resample_filter is not None else None
        w_pad = w.shape[-1] // 2 if w is not None else 0
        f_pad = (f.shape[-1] - 1) // 2 if f is not None else 0
        if self.fused_resample and self.up and w is not None and f is not None:
            up_filter = f.mul(4).tile([self.in_channels, 1, 1, 1])
            padding = max(f_pad - w_pad, 0)
            x = F.conv_transpose2d(x, up_filter, groups=self.in_channels, stride=2, padding=padding)
            x = F.conv2d(x, w, padding=max(w_pad - f_pad, 0))
        elif self.fused_resample and self.down and w is not None and f is not None:
            x = F.conv2d(x, w, padding=w_pad + f_pad)
            x = F.conv2d(
                x, f.tile([self.out_channels, 1, 1, 1]), groups=self.out_channels, stride=2
            )
        else:
            if self.up and f is not None:
                up_filter = f.mul(4).tile([self.in_channels, 1, 1, 1])
                x = F.conv_transpose2d(
                    x, up_filter, groups=self.in_channels, stride=2, padding=f_pad
                )
            if self.down and f is not None:
                down_filter = f.tile([self.in_channels, 1, 1, 1])
                x = F.conv2d(x, down_filter, groups=self.in_channels, stride=2, padding=f_pad)
            if w is not None:
                x = F.conv2d(x, w, padding=w_pad)
        if b is not None:
            x = x + b.reshape(1, -1, 1, 1)
        return x


class GroupNorm(nn.Module):
    """Group normalisation with ``min(num_groups, C // min_channels_per_group)`` groups."""

    def __init__(
        self,
        num_channels: int,
        num_groups: int = 32,
        min_channels_per_group: int = 4,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.num_groups = min(num_groups, num_channels // min_channels_per_group)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each group to zero mean, unit variance, then scale and shift per channel."""
        weight, bias = self.weight.to(x.dtype), self.bias.to(x.dtype)
        return F.group_norm(x, num_groups=self.num_groups, weight=weight, bias=bias, eps=self.eps)


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """EDM's ``AttentionOp``: ``softmax_k(q^T k / sqrt(C))`` in float32, cast back to q's dtype."""
    scaled_k = (k / math.sqrt(k.shape[1])).to(torch.float32)
    logits = torch.einsum("ncq,nck->nqk", q.to(torch.float32), scaled_k)
    return logits.softmax(dim=2).to(q.dtype)


class PositionalEmbedding(nn.Module):
    """Transformer sinusoidal embedding ``[cos(x f), sin(x f)]``, ``f_k = (1/P)^(k/(C/2-e))``."""

    def __init__(
        self, num_channels: int, max_positions: int = 10000, endpoint: bool = False
    ) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.max_positions = max_positions
        self.endpoint = endpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed the noise labels ``x`` [N] as [N, num_channels] (dg.md §2.1, step 1)."""
        half = self.num_channels // 2
        freqs = torch.arange(0, half, dtype=torch.float32, device=x.device)
        freqs = freqs / (half - (1 if self.endpoint else 0))
        freqs = (1 / self.max_positions) ** freqs
        x = torch.outer(x, freqs.to(x.dtype))
        return torch.cat([x.cos(), x.sin()], dim=1)


class FourierEmbedding(nn.Module):
    """Random Fourier features ``[cos(2 pi f x), sin(2 pi f x)]``, ``f`` a buffer (NCSN++)."""

    def __init__(
        self, num_channels: int, scale: float = 16.0, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        freqs = torch.empty(num_channels // 2)
        with torch.no_grad():
            freqs.normal_(generator=seeded(generator)).mul_(scale)
        self.register_buffer("freqs", freqs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed the noise labels ``x`` [N] as [N, num_channels] (dg.md §2.1, step 1)."""
        x = torch.outer(x, (2 * math.pi * self.freqs).to(x.dtype))
        return torch.cat([x.cos(), x.sin()], dim=1)
