"""What a plugin registers: small descriptors a plugin module builds without importing torch.

An entry point in group ``i2i.methods`` names a ``Method``, ``i2i.trainers`` a ``Trainer``,
``i2i.metrics`` a ``Metric``, ``i2i.energies`` an ``Energy``, ``i2i.backbones`` a ``Backbone``
and ``i2i.checkpoints`` a callable returning the path of a checkpoints TOML manifest.
The functions a descriptor holds receive the resolved settings and a ``RunContext`` and import
their heavy dependencies (torch, the network code) inside their bodies, so that discovering and
describing a plugin (``i2i plugins``, ``--help``) stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from i2i_cli.settings import Settings

if TYPE_CHECKING:
    from i2i_cli.context import RunContext

RunFunction = Callable[[Any, "RunContext"], Any]
"""``fn(settings, ctx)``: runs one command of a plugin with its validated settings."""


@dataclass(frozen=True)
class Method:
    """A translation and/or sampling method: its settings model and what it can run."""

    summary: str
    settings: type[Settings]
    translate: RunFunction | None = None
    sample: RunFunction | None = None
    presets: str | None = None
    """Package holding the method's task presets, one ``<task>.toml`` each."""


@dataclass(frozen=True)
class Trainer:
    """A training recipe run by the core training loop: ``i2i train <name>``."""

    summary: str
    settings: type[Settings]
    train: RunFunction
    presets: str | None = None


@dataclass(frozen=True)
class Metric:
    """An evaluation metric: ``i2i evaluate <name>`` returns a dict of results to record."""

    summary: str
    settings: type[Settings]
    evaluate: RunFunction
    presets: str | None = None


@dataclass(frozen=True)
class Energy:
    """A differentiable score-shaping term a method composes with a weight.

    ``build(settings, ctx)`` returns a callable ``energy(x_t, t, context) -> Tensor`` of one
    value per batch item; guidance takes its gradient with respect to ``x_t`` in fp32.
    """

    summary: str
    settings: type[Settings]
    build: RunFunction


@dataclass(frozen=True)
class Backbone:
    """A network family that loads official checkpoints with their own state-dict keys.

    ``build(settings)`` returns the ``nn.Module`` (weights not loaded); ``prediction(settings)``
    says what its output means (an ``i2i_cli.diffusion.Prediction``: eps or x0, learned-variance
    channels, time convention), so a sampler never branches on which network it runs;
    ``presets`` names a package of ``<name>.toml`` configurations of official checkpoints.
    """

    summary: str
    settings: type[Settings]
    build: Callable[[Any], Any]
    prediction: Callable[[Any], Any] | None = None
    presets: str | None = None


DESCRIPTOR_OF_KIND: dict[str, type] = {
    "methods": Method,
    "trainers": Trainer,
    "metrics": Metric,
    "energies": Energy,
    "backbones": Backbone,
}
"""The descriptor type a plugin of each kind registers (checkpoint manifests are callables)."""
