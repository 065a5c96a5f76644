"""Settings of ``i2i train discriminator``: DG's ``train.py`` (dg.md §6), torch-free.

Defaults are DG's CIFAR-10 unconditional command: the frozen 32x32 ADM classifier as feature
extractor, a fresh ``cifar10_uncond`` head, 50 epochs of batch 128 on the first 50,000 real and
fake images, Adam (lr 3e-4, weight decay 1e-7), importance-sampled VP times from t_min 1e-5.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from i2i_cli.model_choice import BackboneChoice
from i2i_dg.settings import ExtractorChoice


class DiscriminatorTrainSettings(ExtractorChoice):
    """Train DG's discriminator head on noised real (1) vs. generated (0) images (dg.md §6)."""

    real: str | None = Field(
        None,
        description="Real images: a folder of images or an .npz ('samples'/'arr_0' uint8); "
        "points: a 2-D data set's name (concentric_rings, ...) or an .npy.",
    )
    fake: str | None = Field(
        None,
        description="Generated images: a folder (images, else sample*.npz) or an .npz; "
        "points: an .npy of samples (points.npy of i2i sample dg / sample ddib).",
    )
    backbone: str = Field(
        "dg-discriminator",
        description="Backbone of the trained network: dg-discriminator (a head on extractor "
        "features) or dg-discriminator-2d (points, with extractor_backbone = 'none').",
    )
    preset: str | None = Field("cifar10_uncond", description="Preset of the head's backbone.")
    model: dict[str, Any] = Field(
        default_factory=dict, description="Head settings overriding its preset."
    )
    init_checkpoint: str | None = Field(
        None, description="Start the head from these weights (none: fresh, seeded by --seed)."
    )
    cond: bool = Field(
        False, description="Conditional head: feed each image's class ('label' of the npz files)."
    )
    num_data: int = Field(50_000, ge=1, description="Use the first N real and N fake images.")
    epochs: int = Field(50, ge=1, le=100_000, description="Passes over real + fake.")
    batch_size: int = Field(128, ge=1, le=65_536, description="Images per step (drop_last).")
    lr: float = Field(3e-4, gt=0.0, le=1.0, description="Adam learning rate.")
    weight_decay: float = Field(1e-7, ge=0.0, le=1.0, description="Adam weight decay.")
    t_min: float = Field(1e-5, gt=0.0, lt=1.0, description="Smallest VP training time.")
    importance_sampling: bool = Field(
        True, description="Draw t by the VP likelihood weighting (else uniform on [t_min, 1])."
    )
    accuracy_bins: int = Field(
        5, ge=1, le=100, description="Equal-width VP-time bins of the logged accuracy."
    )
    keep_epochs: bool = Field(
        True, description="Write discriminator_<epoch>.pt after every epoch (as train.py)."
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="Steps between resumable checkpoints (none: once per epoch)."
    )
    log_every: int = Field(10, ge=1, description="Steps between metrics.jsonl lines.")

    def head(self) -> BackboneChoice:
        """The head's backbone choice (its checkpoint: ``init_checkpoint``)."""
        return BackboneChoice(
            backbone=self.backbone,
            preset=self.preset,
            model=self.model,
            checkpoint=self.init_checkpoint,
        )
