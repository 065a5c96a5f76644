"""LPIPS v0.1, AlexNet trunk (Zhang et al. 2018, eq. 1), as the ``lpips`` package computes it.

d(x, y) = sum_l mean_hw( w_l . (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|)^2 ): both images go
through the scaling layer, the AlexNet trunk gives five ReLU taps f_l, each is unit-normalised
over channels (``f / (sqrt(sum_c f^2) + 1e-10)``), the squared difference is weighted per channel
by a learned 1x1 head w_l (no bias) and averaged over space (or, for the spatial map, upsampled
bilinearly to the input size), and the five layers are summed. Inputs are in [-1, 1].
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2i_cli.base.errors import I2IError
from i2i_cli.metrics.alexnet import CHANNELS, AlexNetFeatures, trunk_state_dict

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
"""The v0.1 scaling layer: ``(x - shift) / scale`` per RGB channel (lpips' ``ScalingLayer``)."""

NORM_EPS = 1e-10
"""Added to the channel norm before dividing (lpips' ``normalize_tensor``)."""

_HEAD_KEY = re.compile(r"^(?:lin|lins\.)([0-4])\.model\.1\.weight$")


def scale_input(x: torch.Tensor) -> torch.Tensor:
    """The v0.1 scaling layer ``(x - shift) / scale`` on a (N, 3, H, W) batch in [-1, 1]."""
    shift = x.new_tensor(SHIFT).view(1, 3, 1, 1)
    scale = x.new_tensor(SCALE).view(1, 3, 1, 1)
    return (x - shift) / scale


def unit_normalize(features: torch.Tensor) -> torch.Tensor:
    """Each spatial position's feature vector divided by its L2 norm over channels (+1e-10)."""
    norm = features.pow(2).sum(dim=1, keepdim=True).sqrt()
    return features / (norm + NORM_EPS)


class LPIPS(nn.Module):
    """The AlexNet trunk and the five 1x1 linear heads of LPIPS v0.1."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = AlexNetFeatures()
        self.heads = nn.ModuleList(
            nn.Conv2d(channels, 1, kernel_size=1, bias=False) for channels in CHANNELS
        )

    def layer_maps(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per layer, the weighted squared difference of unit-normalised taps, (N, 1, h_l, w_l)."""
        taps_x = self.trunk(scale_input(x))
        taps_y = self.trunk(scale_input(y))
        return [
            head((unit_normalize(fx) - unit_normalize(fy)).pow(2))
            for head, fx, fy in zip(self.heads, taps_x, taps_y, strict=True)
        ]

    def per_layer(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's spatial mean, five (N,) tensors; their sum is the distance."""
        return [layer.mean(dim=(1, 2, 3)) for layer in self.layer_maps(x, y)]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The LPIPS distance of each pair of a (N, 3, H, W) batch in [-1, 1], shape (N,)."""
        layers = self.per_layer(x, y)
        total = layers[0]
        for layer in layers[1:]:
            total = total + layer
        return total

    def spatial(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The distance map: each layer upsampled bilinearly to H x W and summed, (N, 1, H, W)."""
        size = x.shape[-2:]
        maps = [
            F.interpolate(layer, size=size, mode="bilinear", align_corners=False)
            for layer in self.layer_maps(x, y)
        ]
        total = maps[0]
        for layer in maps[1:]:
            total = total + layer
        return total


def heads_state_dict(state: Mapping[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """``<l>.weight`` of ``LPIPS.heads`` from lpips' ``lin<l>.model.1.weight`` (or ``lins.<l>``).

    The package's ``alex.pth`` holds ``lin0..lin4``; its module's own state dict repeats them
    as ``lins.<l>``, so both spellings are accepted (equal copies). Trunk keys are ignored.
    """
    heads: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _HEAD_KEY.match(key)
        if match is None:
            if key.startswith(("net.", "slice", "features.", "scaling_layer.")):
                continue
            raise I2IError(
                f"{origin} is not an LPIPS heads file: unexpected key {key} (expected "
                "lin<l>.model.1.weight)"
            )
        heads.setdefault(f"{match.group(1)}.weight", value)
    return heads


def lpips_from_states(
    trunk: Mapping[str, torch.Tensor],
    heads: Mapping[str, torch.Tensor],
    *,
    trunk_origin: str = "the AlexNet weights",
    heads_origin: str = "the LPIPS heads",
) -> LPIPS:
    """An LPIPS network in eval mode, loaded strictly from a trunk and a heads state dict."""
    from i2i_cli.networks.backbones import load_state_dict_strictly

    network = LPIPS()
    load_state_dict_strictly(network.trunk, trunk_state_dict(trunk, trunk_origin), trunk_origin)
    load_state_dict_strictly(network.heads, heads_state_dict(heads, heads_origin), heads_origin)
    return network.eval().requires_grad_(False)
