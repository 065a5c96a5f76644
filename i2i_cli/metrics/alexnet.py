"""AlexNet's convolutional trunk (Krizhevsky et al. 2012, torchvision's single-GPU variant) in plain
torch, as the five feature taps LPIPS reads (Zhang et al. 2018, section 3).

The layers are numbered as torchvision's ``alexnet().features`` (0 conv, 1 ReLU, 2 pool, 3 conv,
...) so ImageNet weights load under their own keys; the final max-pool (index 12) is never
reached by LPIPS and is left out. Weight files come as torchvision's ``alexnet-owt-7be5be79.pth``
(``features.<i>.*``; the classifier is dropped) or as the ``lpips`` package's trunk
(``slice<k>.<i>.*``, the same indices).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from i2i_cli.base.errors import I2IError

CHANNELS = (64, 192, 384, 256, 256)
"""Channels of the five taps (conv1..conv5 after their ReLU)."""

TAPS = (1, 4, 7, 9, 11)
"""Indices in ``features`` whose outputs are the taps (the ReLUs after each convolution)."""

_LPIPS_SLICE_KEY = re.compile(r"^(?:net\.)?slice[1-5]\.(\d+\.(?:weight|bias))$")


class AlexNetFeatures(nn.Module):
    """Conv(11, /4) ReLU Pool Conv(5) ReLU Pool Conv(3) ReLU Conv(3) ReLU Conv(3) ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of the five ReLUs in ``TAPS`` for a (N, 3, H, W) batch."""
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in TAPS:
                taps.append(x)
        return taps


def trunk_state_dict(state: Mapping[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """``features.<i>.*`` tensors of a torchvision AlexNet or an ``lpips`` trunk state dict.

    torchvision's ``classifier.*`` is dropped; ``lpips``' ``slice<k>.<i>.*`` (``net.slice...`` in
    a whole ``LPIPS`` module's state dict) is renamed to ``features.<i>.*``; the heads and the
    scaling buffers of a whole module are ignored. Any other key is an I2IError.
    """
    trunk: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _LPIPS_SLICE_KEY.match(key)
        if key.startswith("features."):
            trunk[key] = value
        elif match:
            trunk[f"features.{match.group(1)}"] = value
        elif not key.startswith(("classifier.", "lin", "scaling_layer.")):
            raise I2IError(
                f"{origin} is not an AlexNet state dict: unexpected key {key} (expected "
                "torchvision's features.<i>.* or lpips' slice<k>.<i>.*)"
            )
    return trunk
