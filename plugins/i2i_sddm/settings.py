"""Settings of SDDM, its VGG block-AdaIN energy and the AdaIN encoder (torch-free; sddm.md §3-5)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from i2i_cli.api.settings import Settings
from i2i_cli.io.image_fit import Fit
from i2i_cli.run.energy_terms import EnergyTerm
from i2i_cli.run.model_choice import BackboneChoice

ENERGY_SCALE = 25.0
"""SDDM's hard-coded factor: each energy direction gets 25 beta_i/sqrt(alpha_i) ||dg_m||."""


class SDDMSettings(BackboneChoice):
    """SDDM (Sun et al. 2023): ancestral sampling, scores decomposed on block-AdaIN manifolds."""

    respacing: str = Field(
        "100", description="guided-diffusion timestep respacing of the sampler ('100', ...)."
    )
    range_t: int = Field(
        50, ge=0, le=100_000, description="Condition on the manifolds while the step is above this."
    )
    area: int = Field(16, ge=1, le=1024, description="Blocks per side of the block statistics.")
    detail_merge: bool = Field(
        False, description="One Frank-Wolfe combination per block (not per channel)."
    )
    refine_iterations: int = Field(
        4, ge=0, le=100, description="Extra manifold updates of x at step range_t + 1."
    )
    frank_wolfe_stop: Literal["per-item", "batch"] = Field(
        "per-item",
        description="per-item: each image stops on its own mean |gamma| (a batch gives what "
        "single runs give); batch: on the whole batch's, as the reference does.",
    )
    combination_scale: float = Field(
        1.0, ge=0.0, description="Factor on the min-norm direction (the reference's HEAD: 1)."
    )
    clip_denoised: bool = Field(True, description="Clamp each x0 estimate to [-1, 1].")
    fixed_variance: Literal["small", "large"] = Field(
        "small", description="Reverse variance of backbones without learned variance (SDDM: small)."
    )
    fit: Fit = Field(
        "adm-crop",
        description="How each reference image reaches the model's size: adm-crop "
        "(guided-diffusion's center_crop_arr, as ae_sample.py loads them), crop (bicubic + "
        "centre crop), stretch (bilinear, aspect not kept).",
    )
    energy: list[EnergyTerm] = Field(
        default_factory=lambda: [EnergyTerm(name="vgg-adain", weight=ENERGY_SCALE)],
        description="Energies and weights; each tangent direction is rescaled to weight x "
        "beta_i/sqrt(alpha_i) x the tangent score's norm (SDDM: --energy vgg-adain:weight=25).",
        json_schema_extra={"cli_flag": "--energy"},
    )


class AdaINEncoderSettings(Settings):
    """The AdaIN ``vgg_normalised`` VGG-19 encoder (Huang & Belongie 2017; sddm.md §4)."""

    level: int = Field(
        1, ge=1, le=5, description="Output: relu{level}_1 (SDDM's StageVGG uses level 1)."
    )
    layers: Literal["all", "used"] = Field(
        "all",
        description="all: the whole 53-module encoder, as the official file holds it; used: only "
        "the modules up to the output level (for files holding only those).",
    )


class VggAdainEnergySettings(BackboneChoice):
    """SDDM's energy: the gap between VGG features and their block AdaIN to the source's (§4)."""

    backbone: str = Field("adain-vgg", description="Registered backbone of the encoder.")
    preset: str | None = Field("vgg_normalised", description="Backbone preset of the encoder.")
    checkpoint: str | None = Field(
        "sddm_vgg_normalised", description="Encoder weights: an artifact name or a file path."
    )
    area: int = Field(
        16, ge=1, le=1024, description="Blocks per side (under sddm: the method's --area)."
    )
