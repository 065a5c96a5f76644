"""Registration of the ``diffusion`` method and trainer (torch-free at import)."""

from __future__ import annotations

from i2i_cli.api.plugin import Method, Trainer
from i2i_diffusion.settings import DiffusionSettings, DiffusionTrainSettings

diffusion = Method(
    summary="Unconditional or class-conditional DDPM/DDIM sampling from any discrete backbone.",
    settings=DiffusionSettings,
    sample="i2i_diffusion.sample:sample_diffusion",
)

diffusion_trainer = Trainer(
    summary="A DDPM/ADM backbone on a folder of images: L_simple or L_hybrid, AdamW, EMA.",
    settings=DiffusionTrainSettings,
    train="i2i_diffusion.train:train_diffusion",
)
"""``i2i train diffusion``: guided-diffusion's image_train.py on the core training loop."""
