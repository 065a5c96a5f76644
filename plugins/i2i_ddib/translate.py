"""``i2i translate ddib``: 2-D points or images, by the backbone's input (and the checks of
the model flags ``i2i sample ddib`` shares)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from i2i_cli.base.errors import UsageError
from i2i_cli.run.model_choice import spec_for
from i2i_ddib.settings import IMAGE_MODEL_ON_POINTS

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_ddib.settings import DDIBSettings


def is_point_backbone(settings: DDIBSettings) -> bool:
    """Whether the backbone takes 2-D points (one input dimension) rather than images."""
    return len(spec_for(settings).input_shape) == 1


def check_model_flags(settings: DDIBSettings, points: bool) -> None:
    """The model flags fit the backbone: no image model for 2-D points, no --official on images."""
    if points and settings.checkpoint:
        raise UsageError(IMAGE_MODEL_ON_POINTS.format(backbone=settings.backbone))
    if not points and settings.official:
        raise UsageError(
            f"--official picks the official 2-D models and the backbone {settings.backbone} "
            "takes images: give --checkpoint, or --source-checkpoint and --target-checkpoint"
        )


def translate_ddib(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any] | None:
    """Run the 2-D point translation or, on an image backbone, the image translation."""
    points = is_point_backbone(settings)
    check_model_flags(settings, points)
    if points:
        from i2i_ddib.points import translate_points

        return translate_points(settings, ctx)
    from i2i_ddib.images import translate_ddib_images

    return translate_ddib_images(settings, ctx)
