"""Registration of the ``diffusion`` method (torch-free at import)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from i2i_cli.plugin import Method
from i2i_cli.settings import Settings


class DiffusionSettings(Settings):
    """Sampling from a discrete-time diffusion backbone (guided-diffusion's sampling scripts)."""

    backbone: str = Field("adm-unet", description="Registered backbone plugin (i2i plugins).")
    preset: str | None = Field(
        "afhq_dog_4m", description="Backbone preset: the exact flags of an official checkpoint."
    )
    model: dict[str, Any] = Field(
        default_factory=dict,
        description="Backbone settings overriding the preset (e.g. --set model.image_size=64).",
    )
    checkpoint: str = Field(
        "afhq_dog_4m",
        description="Weights: an artifact name from `i2i download --list`, or a file path.",
    )
    sampler: Literal["ddpm", "ddim"] = Field(
        "ddim", description="Ancestral DDPM steps or DDIM steps with --eta."
    )
    steps: int = Field(50, ge=1, le=100_000, description="Number of sampling steps (respacing).")
    respacing: str | None = Field(
        None,
        description="guided-diffusion respacing ('ddim25', '250', '10,15,20'); overrides --steps.",
    )
    eta: float = Field(0.0, ge=0.0, le=1.0, description="DDIM stochasticity (0: deterministic).")
    noise_schedule: Literal["linear", "cosine"] = Field(
        "linear", description="Beta schedule the backbone was trained with."
    )
    diffusion_steps: int = Field(
        1000, ge=1, le=100_000, description="Steps of the training process (T)."
    )
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


def sample(settings: DiffusionSettings, ctx: Any) -> None:
    """Draw images from the backbone and write them to the output folder, resumably."""
    from i2i_cli.pipeline import sample_images
    from i2i_diffusion.sampling import diffusion_sampler

    sample_images(ctx, diffusion_sampler(settings, ctx))


diffusion = Method(
    summary="Unconditional or class-conditional DDPM/DDIM sampling from any discrete backbone.",
    settings=DiffusionSettings,
    sample=sample,
)
