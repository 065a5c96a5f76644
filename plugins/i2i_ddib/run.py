"""``i2i translate ddib`` and ``i2i sample ddib``: 2-D points or images, by the backbone's input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from i2i_cli.errors import UsageError
from i2i_cli.model_choice import spec_for

if TYPE_CHECKING:
    from i2i_cli.context import RunContext
    from i2i_ddib.settings import DDIBSettings


def is_point_backbone(settings: DDIBSettings) -> bool:
    """Whether the backbone takes 2-D points (one input dimension) rather than images."""
    return len(spec_for(settings).input_shape) == 1


def translate_ddib(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any] | None:
    """Run the 2-D point translation or, on an image backbone, the image translation."""
    if is_point_backbone(settings):
        from i2i_ddib.points import translate_points

        return translate_points(settings, ctx)
    from i2i_ddib.images import translate_ddib_images

    return translate_ddib_images(settings, ctx)


def sample_ddib(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any]:
    """Decode Gaussian latents with the ``--target`` 2-D model (``synthetic_sample.py``)."""
    if not is_point_backbone(settings):
        raise UsageError(
            "i2i sample ddib draws 2-D points; sample images with `i2i sample diffusion`"
        )
    from i2i_ddib.points import sample_points

    return sample_points(settings, ctx)
