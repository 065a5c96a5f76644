"""Settings of ``i2i train bbdm``: SDE-BBDM's ``examples/train.py`` (bbdm.md §3, §6, §9).

Defaults are the reference's: 256x256 pairs, T = 1000, lambda = 2, batch 64, Adam lr 1e-4,
gradient norm clipped to 1, no EMA, the official ``build_unet(3, 3)`` (preset ``sde_bbdm``)
trained from scratch, image space unless ``latent = "vq-f4"``. Torch-free.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from i2i_cli.model_choice import BackboneChoice

Layout = Literal["edges2shoes", "cityscapes", "ab"]
Latent = Literal["none", "vq-f4"]


class BBDMTrainSettings(BackboneChoice):
    """Train the SDE-BBDM bridge UNet on (source, target) pairs (bbdm.md §3)."""

    backbone: str = Field("bbdm-unet", description="Registered backbone of the bridge UNet.")
    preset: str | None = Field(
        "sde_bbdm", description="Backbone preset (sde_bbdm: the official build_unet(3, 3))."
    )
    model: dict[str, Any] = Field(
        default_factory=dict, description="UNet settings overriding the preset."
    )
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
    steps: int = Field(1000, ge=2, le=100_000, description="Bridge steps T.")
    c_lambda: float = Field(2.0, gt=0.0, le=100.0, description="Bridge noise scale lambda.")
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
    latent: Latent = Field(
        "none", description="none: train on pixels; vq-f4: on the VQ-f4 autoencoder's latents."
    )
    vq_preset: str = Field("vq_f4", description="vq-f4 backbone preset (latent mode).")
    vq_model: dict[str, Any] = Field(
        default_factory=dict, description="vq-f4 settings overriding its preset (latent mode)."
    )
    vq_checkpoint: str | None = Field(
        "bbdm_vqgan_f4", description="VQ-f4 weights: artifact or file (latent mode)."
    )
    workers: int | None = Field(
        None,
        ge=0,
        le=256,
        description="Processes decoding pairs per rank (0: in the loop; none: the CPUs per rank, "
        "at most 8).",
    )

    def autoencoder(self) -> BackboneChoice:
        """The VQ-f4 backbone choice of latent mode (bbdm.md §6)."""
        return BackboneChoice(
            backbone="vq-f4",
            preset=self.vq_preset,
            model=self.vq_model,
            checkpoint=self.vq_checkpoint,
        )
