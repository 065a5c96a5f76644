"""Settings of ``i2i train bbdm``: SDE-BBDM's ``examples/train.py`` (bbdm.md §3, §6, §9).

Defaults are the reference's: 256x256 pairs, T = 1000, lambda = 2, batch 64, Adam lr 1e-4,
gradient norm clipped to 1, no EMA, the official ``build_unet(3, 3)`` (preset ``sde_bbdm``)
trained from scratch, image space unless ``latent = "vq-f4"``. Torch-free.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from i2i_bbdm.settings import BridgeChoice

Layout = Literal["edges2shoes", "cityscapes", "ab"]


class BBDMTrainSettings(BridgeChoice):
    """Train the SDE-BBDM bridge UNet on (source, target) pairs (bbdm.md §3)."""

    checkpoint: str | None = Field(
        None, description="Start from these weights (artifact or file; none: fresh, seeded)."
    )
    data: str | None = Field(None, description="Data folder holding the layout's split(s).")
    layout: Layout = Field(
        "edges2shoes",
        description="edges2shoes: <split>/* images, source left and target right; cityscapes: "
        "gtFine_color maps (source) and leftImg8bit photos; ab: <split>/A (source), "
        "<split>/B (target). Pairs match by file name.",
    )
    split: str = Field("train", description="Split folder to train on.")
    image_size: int = Field(
        256, ge=8, le=4096, description="Both sides resized to this square (bilinear, antialias)."
    )
    batch_size: int = Field(64, ge=1, le=65_536, description="Pairs per optimiser step.")
    iterations: int = Field(100_000, ge=1, le=100_000_000, description="Optimiser steps.")
    lr: float = Field(1e-4, gt=0.0, le=1.0, description="Adam learning rate.")
    grad_clip: float | None = Field(
        1.0, gt=0.0, description="Max global gradient norm (none: off)."
    )
    ema_decay: float | None = Field(
        None, ge=0.0, lt=1.0, description="EMA decay of the exported weights (none: off)."
    )
    checkpoint_every: int = Field(
        1000, ge=1, le=100_000_000, description="Steps between resumable checkpoints."
    )
    log_every: int = Field(10, ge=1, description="Steps between metrics.jsonl lines.")
    workers: int | None = Field(
        None,
        ge=0,
        le=256,
        description="Processes decoding pairs per rank (0: in the loop; none: the CPUs per rank, "
        "at most 8).",
    )
