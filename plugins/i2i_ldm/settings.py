"""Settings of LDM's VQ-regularised autoencoder (``VQModel``), torch-free (bbdm.md §6).

Field names follow LDM's config (``models/first_stage_models/vq-f4/config.yaml``): the model's
``embed_dim`` and ``n_embed`` and its ``ddconfig``; the defaults are the VQ-f4 values. Two more
fields describe ports rather than LDM: ``apply_proj_out`` and ``norm_eps``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from i2i_cli.api.settings import Settings

GROUPS = 32
"""GroupNorm groups of LDM's ``Normalize``: every width must be a multiple of it."""


def int_list(flag: str) -> tuple[int, ...]:
    """A comma list of integers (``"1,2,4"``) as a tuple; empty -> ()."""
    return tuple(int(part) for part in flag.split(",") if part.strip())


class VqAutoencoderSettings(Settings):
    """LDM ``VQModel(ddconfig, n_embed, embed_dim)`` with ``double_z`` false (bbdm.md §6)."""

    embed_dim: int = Field(3, ge=1, le=256, description="Codebook vector size (latent channels).")
    n_embed: int = Field(8192, ge=2, le=1 << 20, description="Codebook vectors.")
    z_channels: int = Field(3, ge=1, le=256, description="Encoder output / decoder input channels.")
    resolution: int = Field(256, ge=8, le=4096, description="Training image side (attn levels).")
    in_channels: int = Field(3, ge=1, le=16, description="Image channels in.")
    out_ch: int = Field(3, ge=1, le=16, description="Image channels out.")
    ch: int = Field(128, ge=GROUPS, le=1024, description="Base width (a multiple of 32).")
    ch_mult: str = Field(
        "1,2,4", description="Comma list of width multipliers, one per level (f = 2^(levels-1))."
    )
    num_res_blocks: int = Field(2, ge=1, le=8, description="Residual blocks per encoder level.")
    attn_resolutions: str = Field(
        "", description="Comma list of feature sides (px) with level attention ('' = none)."
    )
    attn_type: Literal["vanilla", "none"] = Field(
        "vanilla", description="Middle-block attention: 'vanilla' (vq-f4), 'none' (vq-f4-noattn)."
    )
    dropout: float = Field(0.0, ge=0.0, le=1.0, description="Dropout in residual blocks.")
    apply_proj_out: bool = Field(
        True,
        description="Apply attention's proj_out (LDM); false = the SDE-BBDM port's quirk.",
    )
    norm_eps: float = Field(
        1e-6, gt=0.0, le=1e-2, description="GroupNorm eps (LDM 1e-6; the SDE-BBDM port 1e-5)."
    )

    @field_validator("ch_mult", "attn_resolutions")
    @classmethod
    def _comma_integers(cls, flag: str) -> str:
        """A comma list of positive integers."""
        if any(value < 1 for value in int_list(flag)):
            raise ValueError("expected positive integers")
        return flag

    @model_validator(mode="after")
    def _widths_fit_group_norm(self) -> VqAutoencoderSettings:
        """At least one level, and every level's width a multiple of the GroupNorm groups."""
        mults = int_list(self.ch_mult)
        if not mults:
            raise ValueError("ch_mult needs at least one level")
        if any(self.ch * m % GROUPS for m in mults):
            raise ValueError(f"every ch * ch_mult must be a multiple of {GROUPS}")
        return self

    @property
    def factor(self) -> int:
        """The spatial downsampling factor f = 2^(levels - 1)."""
        return 2 ** (len(int_list(self.ch_mult)) - 1)
