"""Registration of the ``diffusion`` method and trainer (torch-free at import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from i2i_cli.model_choice import BackboneChoice
from i2i_cli.plugin import Method, Trainer
from i2i_diffusion.train_settings import DiffusionTrainSettings


class DiffusionSettings(BackboneChoice):
    """Sampling from a discrete-time diffusion backbone (guided-diffusion's sampling scripts).

    The process (beta schedule, T) is the backbone's own: ``--set model.diffusion_steps=4000``.
    """

    sampler: Literal["ddpm", "ddim"] = Field(
        "ddim", description="Ancestral DDPM steps or DDIM steps with --eta."
    )
    steps: int = Field(50, ge=1, le=100_000, description="Number of sampling steps (respacing).")
    respacing: str | None = Field(
        None,
        description="guided-diffusion respacing ('ddim25', '250', '10,15,20'); overrides --steps.",
    )
    eta: float = Field(0.0, ge=0.0, le=1.0, description="DDIM stochasticity (0: deterministic).")
    clip_denoised: bool = Field(True, description="Clamp each x0 estimate to [-1, 1].")
    fixed_variance: Literal["small", "large"] = Field(
        "large",
        description="Reverse variance of backbones without learned variance (DDPM sampler).",
    )
    class_label: int | None = Field(
        None,
        ge=0,
        description="Class of every sample for class-conditional backbones (default: drawn).",
    )


diffusion = Method(
    summary="Unconditional or class-conditional DDPM/DDIM sampling from any discrete backbone.",
    settings=DiffusionSettings,
    sample="i2i_diffusion.sampling:sample_diffusion",
)

diffusion_trainer = Trainer(
    summary="A DDPM/ADM backbone on a folder of images: L_simple or L_hybrid, AdamW, EMA.",
    settings=DiffusionTrainSettings,
    train="i2i_diffusion.train:train_diffusion",
)
"""``i2i train diffusion``: guided-diffusion's image_train.py on the core training loop."""
