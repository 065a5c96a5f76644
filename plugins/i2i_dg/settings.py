"""Settings of DG's discriminator head backbone and of the ``discriminator`` energy (torch-free).

Head fields follow DG's ``create_classifier`` arguments (dg.md §5.3); the energy names its
head (a ``dg-discriminator`` preset and checkpoint) and its frozen feature extractor (an ADM
classifier backbone, preset and checkpoint), both loaded through the core.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from i2i_cli.model_choice import BackboneChoice
from i2i_cli.settings import Settings


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
