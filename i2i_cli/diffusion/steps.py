"""What a sampler reports after each step: the callback type and the callback that ignores it.

Samplers call ``callback({"i": step index, "total": steps, ...})`` after every step; the run's
progress bar (``i2i_cli.run.progress``) and the tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

StepCallback = Callable[[Mapping[str, Any]], None]
"""Per-step sampler callback: receives ``{"i": step index, "total": steps, ...}``."""


def no_step(info: Mapping[str, Any]) -> None:
    """A step callback that does nothing."""
