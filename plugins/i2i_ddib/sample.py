"""``i2i sample ddib``: 2-D samples decoded from Gaussian latents (``synthetic_sample.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from i2i_cli.base.errors import UsageError
from i2i_ddib.translate import check_model_flags, is_point_backbone

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_ddib.settings import DDIBSettings


def sample_ddib(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any]:
    """Decode Gaussian latents with the ``--target`` 2-D model (``synthetic_sample.py``)."""
    if not is_point_backbone(settings):
        raise UsageError(
            "i2i sample ddib draws 2-D points; sample images with `i2i sample diffusion`"
        )
    check_model_flags(settings, points=True)
    from i2i_ddib.points import sample_points

    return sample_points(settings, ctx)
