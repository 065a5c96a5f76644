"""Every settings model of the SDE-BBDM plugin (torch-free): the bridge UNet, ``i2i translate
sde-bbdm`` and ``i2i train bbdm`` (SDE-BBDM's ``examples/train.py``, bbdm.md §3, §6, §9).

The UNet's fields are the reference constructor's (``sde_bbdm.networks.UNet``, bbdm.md §7); the
method's are ``examples/generate.py``'s and ``eval.py``'s: T, lambda, full or fast sampling and
the fast sampler's steps (bbdm.md §4, §5), image or latent space (§6).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from i2i_cli.api.settings import Settings
from i2i_cli.run.model_choice import BackboneChoice

EVALUATION_STEPS = 1000
"""The T the evaluation schedule of ``examples/eval.py`` is written for (bbdm.md §5)."""


def evaluation_taus(steps: int = EVALUATION_STEPS) -> list[int]:
    """The 199-step list of ``eval.py``: ``1000, 998, ..., 906`` then ``902, 896, ..., 2`` (§5).

    ``arange(T, 904, -2)`` followed by ``arange(902, 1, -6)``; the reference hard-codes it for
    T = 1000, so any other ``steps`` is a ValueError.
    """
    if steps != EVALUATION_STEPS:
        raise ValueError(
            f"the evaluation schedule is written for T = {EVALUATION_STEPS}, not T = {steps}"
        )
    return list(range(steps, 904, -2)) + list(range(902, 1, -6))


def check_taus(taus: Sequence[int], steps: int) -> None:
    """ValueError unless ``taus`` is a non-empty, strictly decreasing list of times in [1, T]."""
    if not taus:
        raise ValueError("the fast sampler needs at least one step")
    if any(not 1 <= tau <= steps for tau in taus):
        raise ValueError(f"every step must lie in [1, T = {steps}], got {list(taus)}")
    if any(later >= earlier for earlier, later in pairwise(taus)):
        raise ValueError(f"the steps must be strictly decreasing, got {list(taus)}")


def parse_taus(text: str) -> list[int]:
    """The integers of a comma list ``"1000,500,1"``; anything else is a ValueError."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError("expected a comma-separated list of integers, e.g. 1000,500,1") from None


class BridgeUNetSettings(Settings):
    """``sde_bbdm.networks.UNet`` arguments (bbdm.md §7); the official net is preset sde_bbdm."""

    image_size: int = Field(
        256, ge=8, le=4096, description="Side of the maps it runs on (256 px; 64 in latent mode)."
    )
    in_channels: int = Field(3, ge=1, le=64, description="Input channels (x_t only, no y).")
    model_channels: int = Field(128, ge=32, le=1024, description="Base width (multiple of 32).")
    out_channels: int = Field(3, ge=1, le=64, description="Output channels (the objective).")
    num_res_blocks: int = Field(2, ge=1, le=8, description="Residual blocks per level.")
    attention_resolutions: list[int] = Field(
        default_factory=lambda: [32, 16, 8],
        description="Downsample factors (1, 2, 4, ... per level) with attention, not pixel "
        "sizes: the official [32, 16, 8] matches no level, so only the middle block attends.",
    )
    dropout: float = Field(0.0, ge=0.0, le=1.0, description="Dropout in residual blocks.")
    channel_mult: list[int] = Field(
        default_factory=lambda: [1, 4, 8], description="Width multiplier per level."
    )
    conv_resample: bool = Field(True, description="Learned (conv) up/down-sampling.")
    num_heads: int = Field(8, ge=-1, le=64, description="Heads when num_head_channels is -1.")
    num_head_channels: int = Field(
        64, ge=-1, le=1024, description="Channels per head (-1: use num_heads)."
    )
    num_heads_upsample: int = Field(
        -1, ge=-1, le=64, description="Heads on the up path (-1: num_heads)."
    )
    use_scale_shift_norm: bool = Field(True, description="FiLM-style (scale, shift) timesteps.")
    resblock_updown: bool = Field(True, description="Resample with residual blocks.")
    use_new_attention_order: bool = Field(
        False, description="Split q/k/v before heads (the reference: legacy per-head split)."
    )

    @field_validator("channel_mult")
    @classmethod
    def _widths_fit_group_norm(cls, value: list[int], info: ValidationInfo) -> list[int]:
        """Every level's width ``mult * model_channels`` is a positive multiple of 32."""
        base = info.data.get("model_channels", 32)
        if any(mult < 1 or mult * base % 32 for mult in value):
            raise ValueError(f"every level width (mult x {base}) must be a multiple of 32")
        return value

    @field_validator("num_head_channels")
    @classmethod
    def _widths_split_into_heads(cls, value: int, info: ValidationInfo) -> int:
        """Heads are set one way or the other, and every level width splits into them."""
        if value == -1:
            if info.data.get("num_heads") == -1:
                raise ValueError("set num_heads or num_head_channels")
            return value
        base = info.data.get("model_channels", 32)
        widths = [mult * base for mult in info.data.get("channel_mult", [])]
        if any(width % value for width in widths):
            raise ValueError(f"the level widths {widths} must be multiples of it")
        return value


def network_name(settings: BridgeUNetSettings) -> str:
    """The UNet ``settings`` build, for people: ``UNet(3->3, 128 x [1, 4, 8], 2 blocks)``."""
    s = settings
    widths = ", ".join(map(str, s.channel_mult))
    return (
        f"UNet({s.in_channels}->{s.out_channels}, {s.model_channels} x [{widths}], "
        f"{s.num_res_blocks} blocks)"
    )


Latent = Literal["none", "vq-f4"]
Sampler = Literal["full", "fast"]


class BridgeChoice(BackboneChoice):
    """The bridge UNet, the bridge it was trained on, and the space it runs in (bbdm.md §2, §6).

    Shared by ``i2i translate sde-bbdm`` and ``i2i train bbdm``, so one settings file serves both.
    """

    backbone: str = Field("bbdm-unet", description="Registered backbone of the bridge UNet.")
    preset: str | None = Field(
        None,
        description="Backbone preset to check the bridge weights against (sde_bbdm: the "
        "official build_unet(3, 3), which the defaults are; none: a file that records its "
        "network, the reference's pickled model or i2i train bbdm's, decides).",
    )
    model: dict[str, Any] = Field(
        default_factory=dict,
        description="UNet settings overriding the preset (checked against a file's record).",
    )
    steps: int = Field(1000, ge=2, le=100_000, description="Bridge steps T the net is trained on.")
    c_lambda: float = Field(2.0, gt=0.0, le=100.0, description="Bridge noise scale lambda.")
    latent: Latent = Field(
        "none", description="none: bridge on pixels; vq-f4: on the VQ-f4 autoencoder's latents."
    )
    vq_preset: str = Field("vq_f4", description="vq-f4 backbone preset (latent mode).")
    vq_model: dict[str, Any] = Field(
        default_factory=dict, description="vq-f4 settings overriding its preset (latent mode)."
    )
    vq_checkpoint: str | None = Field(
        "bbdm_vqgan_f4", description="VQ-f4 weights: artifact or file (latent mode)."
    )

    def autoencoder(self) -> BackboneChoice:
        """The VQ-f4 backbone choice of latent mode (bbdm.md §6)."""
        return BackboneChoice(
            backbone="vq-f4",
            preset=self.vq_preset,
            model=self.vq_model,
            checkpoint=self.vq_checkpoint,
        )


class SDEBBDMSettings(BridgeChoice):
    """SDE-BBDM: carry each source image y to its target along the reverse bridge (bbdm.md)."""

    checkpoint: str | None = Field(
        None,
        description="Bridge weights: a file from `i2i train bbdm` (none are published).",
    )
    sampler: Sampler = Field(
        "fast",
        description="fast: skip steps over --taus (eval.py); full: all T steps (generate.py).",
    )
    taus: str = Field(
        "",
        description="Fast sampler's decreasing steps in [1, T], comma-separated "
        "('' = eval.py's 199-step list for T = 1000).",
    )
    image_size: int = Field(
        256, ge=8, le=4096, description="Sources resized to this square (bilinear, antialias)."
    )

    @field_validator("taus")
    @classmethod
    def _decreasing_within_the_bridge(cls, value: str, info: ValidationInfo) -> str:
        """The list parses; for the fast sampler it decreases strictly within [1, T], and ''
        (the evaluation schedule) needs T = 1000."""
        steps = info.data.get("steps")
        taus = parse_taus(value)
        if steps is None or info.data.get("sampler") != "fast":
            return value
        if taus:
            check_taus(taus, steps)
        elif steps != EVALUATION_STEPS:
            raise ValueError(
                f"the default (eval.py) schedule is for T = {EVALUATION_STEPS}; "
                f"give --taus for T = {steps}"
            )
        return value

    def fast_taus(self) -> list[int]:
        """The fast sampler's steps: ``taus``, or the evaluation schedule when empty."""
        return parse_taus(self.taus) or evaluation_taus(self.steps)


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
