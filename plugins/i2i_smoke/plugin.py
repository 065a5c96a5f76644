"""Registration of the ``smoke`` method (no torch import here: loading it stays instant)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field

from i2i_cli.plugin import Method
from i2i_cli.settings import Settings


class SmokeSettings(Settings):
    """Settings of the smoke method."""

    image_size: int = Field(64, ge=8, le=1024, description="Side of the square working size, px.")
    noise_level: float = Field(
        0.1, ge=0.0, le=1.0, description="Std of the Gaussian perturbation added to each image."
    )
    steps: int = Field(4, ge=0, le=1000, description="Denoising steps (3x3 box filter each).")


def example_image() -> Path:
    """The embedded example image used when no --input is given."""
    return Path(str(resources.files(__package__) / "example.png"))


def translate(settings: SmokeSettings, ctx: Any) -> None:
    """Translate the input images (or the embedded example) with the smoke sampler."""
    from i2i_cli.pipeline import translate_images
    from i2i_smoke.sampler import sample_smoke

    def translate_batch(x: Any, noise: Any, callback: Any) -> Any:
        return sample_smoke(x, noise, settings.noise_level, settings.steps, callback=callback)

    translate_images(
        ctx, translate_batch, image_size=settings.image_size, default_input=example_image()
    )


def sample(settings: SmokeSettings, ctx: Any) -> None:
    """Draw smoothed-noise images with the smoke sampler."""
    import torch

    from i2i_cli.pipeline import sample_images
    from i2i_smoke.sampler import sample_smoke

    def sample_batch(batch_size: int, noise: Any, callback: Any) -> Any:
        shape = (batch_size, 3, settings.image_size, settings.image_size)
        start = torch.zeros(shape, device=ctx.runtime.device)
        return sample_smoke(start, noise, 1.0, settings.steps, callback=callback)

    sample_images(ctx, sample_batch)


smoke = Method(
    summary="Plumbing check: perturb with seeded noise, then box-filter (not a real method).",
    settings=SmokeSettings,
    translate=translate,
    sample=sample,
    presets="i2i_smoke.tasks",
)
