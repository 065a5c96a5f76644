"""Settings of the ADM backbones: guided-diffusion's ``create_model`` / ``create_classifier`` flags.

Torch-free. Field names follow the official flags (classifier flags without their ``classifier_``
prefix), so a preset reads like the command line the checkpoint was released with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from i2i_cli.diffusion.process_settings import DiscreteProcessSettings
from i2i_cli.run.model_choice import BackboneChoice

CHANNEL_MULT_BY_SIZE: dict[int, tuple[float, ...]] = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
    32: (1, 2, 4),  # DG's CIFAR-10 classifier (dg.md); guided-diffusion itself refuses 32
}
"""guided-diffusion's channel multipliers when the flag is empty (adm.md §1.1)."""


def channel_mult_of(flag: str, image_size: int) -> tuple[float, ...]:
    """The channel multipliers: the comma list ``flag``, or the image-size table when empty."""
    if flag.strip():
        return tuple(float(part) if "." in part else int(part) for part in flag.split(","))
    if image_size not in CHANNEL_MULT_BY_SIZE:
        sizes = ", ".join(map(str, CHANNEL_MULT_BY_SIZE))
        raise ValueError(f"no default channel_mult for image size {image_size} (sizes: {sizes})")
    return CHANNEL_MULT_BY_SIZE[image_size]


def attention_rates(flag: str, image_size: int) -> tuple[int, ...]:
    """Attention resolutions in pixels (``"32,16,8"``) as downsample rates ``image_size // r``."""
    return tuple(image_size // int(part) for part in flag.split(",") if part.strip())


class AdmUNetSettings(DiscreteProcessSettings):
    """guided-diffusion ``create_model`` flags (spec adm.md §1.1)."""

    image_size: int = Field(256, ge=8, le=1024, description="Image side the model was trained at.")
    in_channels: int = Field(3, ge=1, le=16, description="Input image channels.")
    num_channels: int = Field(128, ge=32, le=1024, description="Base width (multiple of 32).")
    num_res_blocks: int = Field(2, ge=1, le=8, description="Residual blocks per level.")
    channel_mult: str = Field(
        "", description="Comma list of width multipliers per level ('' = by image size)."
    )
    learn_sigma: bool = Field(False, description="Output learned variance channels too.")
    class_cond: bool = Field(False, description="Class-conditional (label embedding).")
    num_classes: int = Field(
        1000, ge=1, le=100_000, description="Label count when class_cond (ImageNet: 1000)."
    )
    attention_resolutions: str = Field(
        "16,8", description="Resolutions (px) with self-attention, comma-separated."
    )
    num_heads: int = Field(4, ge=1, le=64, description="Heads when num_head_channels is -1.")
    num_head_channels: int = Field(
        -1, ge=-1, le=1024, description="Channels per head (-1: use num_heads)."
    )
    num_heads_upsample: int = Field(
        -1, ge=-1, le=64, description="Heads on the up path (-1: num_heads)."
    )
    use_scale_shift_norm: bool = Field(True, description="FiLM-style timestep conditioning.")
    dropout: float = Field(0.0, ge=0.0, le=1.0, description="Dropout in residual blocks.")
    resblock_updown: bool = Field(False, description="Resample with residual blocks.")
    use_fp16: bool = Field(
        False, description="Trained in fp16 (recorded; precision comes from --precision)."
    )
    use_new_attention_order: bool = Field(
        False, description="Split q/k/v before heads (only the 64x64 ImageNet model)."
    )


class AdmClassifierSettings(DiscreteProcessSettings):
    """guided-diffusion ``create_classifier`` flags, plus the fields forks and tests vary."""

    image_size: int = Field(256, ge=8, le=1024, description="Image side (fixes the pool size).")
    in_channels: int = Field(3, ge=1, le=1024, description="Input channels.")
    out_channels: int = Field(1000, ge=1, le=100_000, description="Logits (classes).")
    width: int = Field(128, ge=32, le=1024, description="Base width (classifier_width).")
    depth: int = Field(2, ge=1, le=8, description="Residual blocks per level (classifier_depth).")
    channel_mult: str = Field(
        "", description="Comma list of width multipliers ('' = by image size, as the reference)."
    )
    attention_resolutions: str = Field(
        "32,16,8", description="Resolutions (px) with self-attention (classifier_*)."
    )
    num_head_channels: int = Field(64, ge=1, le=1024, description="Channels per attention head.")
    use_scale_shift_norm: bool = Field(True, description="FiLM-style timestep conditioning.")
    resblock_updown: bool = Field(True, description="Resample with residual blocks.")
    pool: Literal["attention", "adaptive"] = Field(
        "attention", description="Head: attention pooling or global average pooling."
    )
    use_fp16: bool = Field(
        False, description="Trained in fp16 (recorded; precision comes from --precision)."
    )
    head_name: Literal["out", "I2Iout"] = Field(
        "out", description="State-dict name of the head (EGSDE's extractors use I2Iout)."
    )


class ClassifierEnergySettings(BackboneChoice):
    """Classifier guidance toward each item's class (guided-diffusion's ``cond_fn``)."""

    backbone: str = Field("adm-classifier", description="Registered backbone of the classifier.")
    preset: str | None = Field("classifier256", description="Backbone preset of the classifier.")
    checkpoint: str | None = Field(
        "adm_256x256_classifier", description="Classifier weights: an artifact name or a path."
    )
