"""Settings of the EGSDE plugin's methods and energies (torch-free; egsde.md §2, sddm.md §10)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from i2i_cli.api.settings import Settings
from i2i_cli.io.image_fit import Fit
from i2i_cli.run.energy_terms import EnergyTerm
from i2i_cli.run.model_choice import BackboneChoice


class SDEditSettings(BackboneChoice):
    """SDEdit: perturb the source to step M, then denoise (Meng et al. 2022)."""

    start_step: int = Field(
        500, ge=1, le=100_000, description="M: the source is noised to step M-1, then M steps run."
    )


class EGSDESettings(SDEditSettings):
    """EGSDE (Zhao et al. 2022): SDEdit guided by realism and faithfulness energies."""

    energy: list[EnergyTerm] = Field(
        default_factory=lambda: [
            EnergyTerm(name="dse", weight=500.0, settings={"checkpoint": "egsde_wild2dog_dse"}),
            EnergyTerm(name="lowpass", weight=2.0, settings={"factor": 32}),
        ],
        description="Energies and weights, e.g. --energy dse:weight=500 "
        "--energy lowpass:weight=2,factor=32.",
        json_schema_extra={"cli_flag": "--energy"},
    )


class ILVRSettings(BackboneChoice):
    """ILVR (Choi et al. 2021): ancestral sampling steered to the reference's low frequencies."""

    respacing: str = Field(
        "100", description="guided-diffusion timestep respacing ('100', 'ddim50', ...)."
    )
    down_n: int = Field(32, ge=1, le=256, description="Low-pass factor N (a power of 2).")
    range_t: int = Field(
        20, ge=0, le=100_000, description="Refine while the respaced step is above this."
    )
    kernel: Literal["linear", "cubic"] = Field("cubic", description="Resizer kernel (ILVR: cubic).")
    clip_denoised: bool = Field(True, description="Clamp each x0 estimate to [-1, 1].")
    fixed_variance: Literal["small", "large"] = Field(
        "large", description="Reverse variance of backbones without learned variance."
    )
    fit: Fit = Field(
        "adm-crop",
        description="How each reference image reaches the model's size: adm-crop "
        "(guided-diffusion's center_crop_arr, as ilvr_sample.py loads them), crop (bicubic + "
        "centre crop), stretch (bilinear, aspect not kept).",
    )


class DSEEnergySettings(BackboneChoice):
    """EGSDE's realism energy: similarity of domain-specific-extractor features (egsde.md §1.2)."""

    checkpoint: str | None = Field(
        "egsde_wild2dog_dse", description="Extractor weights: an artifact name or a file path."
    )
    backbone: str = Field("adm-classifier", description="Registered backbone of the extractor.")
    preset: str | None = Field("dse256", description="Backbone preset of the extractor.")
    similarity: Literal["cosine", "neg_l2"] = Field(
        "cosine",
        description="cosine: mean per-position cosine; neg_l2: minus the squared distance.",
    )


class LowPassEnergySettings(Settings):
    """EGSDE's faithfulness energy: distance between low-passed images (egsde.md §1.2, §3)."""

    factor: int = Field(32, ge=1, le=256, description="Low-pass factor N (must divide the size).")
    kernel: Literal["linear", "cubic"] = Field(
        "linear", description="Resizer kernel (EGSDE: linear)."
    )
    distance: Literal["l2", "cosine"] = Field(
        "l2", description="l2: per-image sum of squares; cosine: minus the cosine similarity."
    )


class DSETrainSettings(Settings):
    """Training EGSDE's domain-specific extractor (``run_train_dse.py``; egsde.md §5)."""

    data_a: str | None = Field(None, description="Images of domain A (label 0).")
    data_b: str | None = Field(None, description="Images of domain B (label 1).")
    data_c: str | None = Field(None, description="Images of a third domain (label 2), optional.")
    preset: str = Field("dse256", description="adm-classifier preset of the extractor.")
    model: dict[str, Any] = Field(
        default_factory=dict, description="Extractor settings overriding the preset."
    )
    init_checkpoint: str = Field(
        "adm_256x256_classifier",
        description="Initialise the trunk from this classifier when cached ('' = from scratch).",
    )
    iterations: int = Field(5000, ge=1, le=10_000_000, description="Optimiser steps.")
    batch_size: int = Field(32, ge=1, le=4096, description="Images per step.")
    lr: float = Field(3e-4, gt=0.0, le=1.0, description="AdamW learning rate (annealed to 0).")
    weight_decay: float = Field(0.05, ge=0.0, le=1.0, description="AdamW weight decay.")
    hflip: bool = Field(True, description="Random horizontal flips.")
    noised: bool = Field(True, description="Train on q(x_t | x_0) at uniform t (noise-aware).")
    diffusion_steps: int = Field(1000, ge=1, le=100_000, description="Steps of the process.")
    noise_schedule: Literal["linear", "cosine"] = Field("linear", description="Beta schedule.")
    checkpoint_every: int = Field(
        500, ge=1, le=10_000_000, description="Steps between checkpoints."
    )
    ema_decay: float | None = Field(None, ge=0.0, lt=1.0, description="EMA decay (none: off).")
    grad_clip: float | None = Field(None, gt=0.0, description="Max gradient norm (none: off).")
