"""Every settings model of the DG plugin (torch-free): its networks, energy, method and trainer.

Head fields follow DG's ``create_classifier`` arguments (dg.md §5.3); the energy names its
head (a ``dg-discriminator`` preset and checkpoint) and its frozen feature extractor (an ADM
classifier backbone, preset and checkpoint), both loaded through the core. ``sample dg``'s
defaults are DG's ``generate.py`` on CIFAR-10 unconditional (dg.md §4): 18 Heun steps,
deterministic, w1 = 2, no boosting, the epoch-60 unconditional discriminator. ``train
discriminator``'s are DG's CIFAR-10 unconditional ``train.py`` (dg.md §6): the frozen 32x32
ADM classifier, a fresh ``cifar10_uncond`` head, 50 epochs of batch 128 on the first 50,000
real and fake images, Adam (lr 3e-4, weight decay 1e-7), importance-sampled VP times from
t_min 1e-5.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from i2i_cli.api.settings import Settings
from i2i_cli.run.karras_choice import KarrasChoice
from i2i_cli.run.model_choice import BackboneChoice
from i2i_cli.run.seeds import SeedOutput


def int_list(flag: str) -> tuple[int, ...]:
    """A comma list of integers (``"1,2,4"``) as a tuple."""
    return tuple(int(part) for part in flag.split(",") if part.strip())


class DiscriminatorHeadSettings(Settings):
    """DG's head ``EncoderUNetModel`` on extractor features (dg.md §5.3)."""

    image_size: int = Field(8, ge=1, le=256, description="Side of the feature map it reads.")
    in_channels: int = Field(512, ge=1, le=4096, description="Feature channels.")
    width: int = Field(128, ge=32, le=1024, description="Base width (multiple of 32).")
    depth: int = Field(2, ge=1, le=8, description="Residual blocks per level.")
    channel_mult: str = Field("1", description="Comma list of width multipliers per level.")
    attention_rates: str = Field(
        "0,0,1", description="Downsample rates with self-attention (DG: image_size // r)."
    )
    num_head_channels: int = Field(64, ge=1, le=1024, description="Channels per attention head.")
    out_channels: int = Field(1, ge=1, le=16, description="Logits (DG: 1).")
    condition: bool = Field(False, description="Class-conditional head (a label embedding).")
    num_class: int = Field(1000, ge=1, le=100_000, description="Rows of the label embedding.")


class PointDiscriminatorSettings(Settings):
    """DG's discriminator on 2-D points: a residual MLP on (x_vp, 999 tau) (``point_head``)."""

    in_channels: int = Field(2, ge=1, le=64, description="Point dimension.")
    width: int = Field(128, ge=8, le=4096, description="Hidden width (also the time embedding).")
    depth: int = Field(3, ge=1, le=32, description="Residual MLP blocks.")


class ExtractorChoice(Settings):
    """DG's frozen feature extractor: the 32x32 ADM noisy classifier (dg.md §5.3)."""

    extractor_backbone: str | None = Field(
        "adm-classifier",
        description="Backbone of the frozen feature extractor ('none': the discriminator "
        "reads its input itself, as the 2-D one does).",
    )

    @field_validator("extractor_backbone", mode="before")
    @classmethod
    def _none_spelled(cls, value: Any) -> Any:
        """``"none"`` (a TOML file or flag cannot write null) means no extractor."""
        return None if isinstance(value, str) and value.strip().lower() == "none" else value

    extractor_preset: str | None = Field(
        "dg_cifar10_classifier32", description="Preset of the feature extractor."
    )
    extractor_model: dict[str, Any] = Field(
        default_factory=dict, description="Feature-extractor settings overriding its preset."
    )
    extractor_checkpoint: str | None = Field(
        "dg_cifar10_classifier", description="Feature-extractor weights: an artifact or a path."
    )

    def extractor(self) -> BackboneChoice | None:
        """The feature extractor's backbone choice (None: no extractor)."""
        if self.extractor_backbone is None:
            return None
        return BackboneChoice(
            backbone=self.extractor_backbone,
            preset=self.extractor_preset,
            model=self.extractor_model,
            checkpoint=self.extractor_checkpoint,
        )


class DiscriminatorEnergySettings(BackboneChoice, ExtractorChoice):
    """E(x; sigma) = -log d/(1-d) under DG's discriminator (dg.md §4, §5.2)."""

    backbone: str = Field("dg-discriminator", description="Backbone of the discriminator head.")
    preset: str | None = Field("cifar10_uncond", description="Preset of the discriminator head.")
    checkpoint: str | None = Field(
        "dg_cifar10_discriminator_uncond", description="Head weights: an artifact or a path."
    )
    time_min: float = Field(0.01, ge=0.0, le=1.0, description="Guide only from this VP time.")
    time_max: float = Field(1.0, ge=0.0, le=1.0, description="Guide only up to this VP time.")
    cond: bool = Field(False, description="Feed the items' class labels to the head.")


class DgSampleSettings(BackboneChoice, KarrasChoice, SeedOutput):
    """EDM-G++ (Kim et al. 2023): EDM's Heun sampler with discriminator guidance (dg.md §4)."""

    backbone: str = Field("edm", description="Registered sigma-time backbone (i2i plugins).")
    preset: str | None = Field(
        None,
        description="Backbone preset to check the EDM checkpoint against (none: the file's own "
        "record decides).",
    )
    checkpoint: str | None = Field(
        "edm_cifar10_32x32_uncond_vp", description="EDM network weights: an artifact or a path."
    )
    w1: float = Field(
        2.0, ge=0.0, le=1e4, description="DG weight of the first-order term (0: plain EDM)."
    )
    boosting: bool = Field(
        False, description="Re-noise and double the correction of low log-ratio samples."
    )
    data: str | None = Field(
        None,
        description="On a 2-D model: the data set (concentric_rings, ...) the points are "
        "scored against (support precision, coverage, sliced Wasserstein).",
    )
    discriminator: DiscriminatorEnergySettings = Field(
        default_factory=DiscriminatorEnergySettings,
        description="The discriminator energy: head/extractor checkpoints, time window, cond.",
    )


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
