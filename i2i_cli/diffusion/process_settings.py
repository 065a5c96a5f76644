"""The settings a discrete-time backbone records about its training process (torch-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from i2i_cli.api.settings import Settings


class DiscreteProcessSettings(Settings):
    """Beta schedule and number of steps T of the process a backbone was trained on."""

    noise_schedule: Literal["linear", "cosine"] = Field(
        "linear", description="Beta schedule the model was trained with."
    )
    diffusion_steps: int = Field(
        1000, ge=1, le=100_000, description="Steps T of the training process."
    )
