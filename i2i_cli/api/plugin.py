"""What a plugin registers: small descriptors a plugin module builds without importing torch.

An entry point in group ``i2i.methods`` names a ``Method``, ``i2i.trainers`` a ``Trainer``,
``i2i.metrics`` a ``Metric``, ``i2i.energies`` an ``Energy``, ``i2i.backbones`` a ``Backbone``
and ``i2i.checkpoints`` a callable returning the path of a checkpoints TOML manifest.

A descriptor names its functions as ``"module:function"`` references (or holds the functions
themselves). A reference is imported when the function is first called, so discovering and
describing a plugin (``i2i plugins``, ``--help``) imports neither torch nor the network code::

    negate = Method(
        summary="Negate images.",
        settings=NegateSettings,
        translate="i2i_negate.run:translate",
    )

After construction every function field holds a callable (a ``FunctionRef`` for a reference),
so ``descriptor.translate(settings, ctx)`` runs it; ``descriptor.function("translate")``
imports it now and returns the function itself (None when the descriptor has none). A reference
that does not import is one ``PluginError`` line naming the plugin and the reference.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from i2i_cli.api.settings import Settings
from i2i_cli.base.errors import PluginError

RunFunction = Callable[[Any, Any], Any]
"""``fn(settings, ctx)``: runs one command of a plugin with its validated settings and the run's
``i2i_cli.run.context.RunContext`` (not imported here: the plugin API sits below the run layer)."""

FUNCTION = MappingProxyType({"i2i.function": True})  # dataclasses keeps a copy: compare, not is
"""Field metadata of a descriptor field holding a function or its ``"module:function"``
reference: ``build: Callable[..., Any] | str = field(metadata=FUNCTION)``."""


def one_line(error: BaseException) -> str:
    """The exception as a single line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def resolve_function(reference: str, plugin: str = "") -> Callable[..., Any]:
    """The function a ``"module:function"`` reference names, importing its module.

    ``plugin`` (e.g. ``method 'negate'``) is named in the one-line ``PluginError`` raised when
    the reference is malformed, its module fails to import or it names no callable.
    """
    owner = f"{plugin}: " if plugin else ""
    module_name, colon, attribute = reference.partition(":")
    if not (colon and module_name and attribute):
        raise PluginError(f"{owner}{reference!r} is not a 'module:function' reference")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as error:
        raise PluginError(
            f"{owner}function {reference!r} cannot be loaded: {one_line(error)}"
        ) from error
    if not callable(target):
        raise PluginError(f"{owner}{reference!r} is a {type(target).__name__}, not a function")
    return target


@dataclass(frozen=True)
class FunctionRef:
    """A plugin function named by its ``"module:function"`` reference, imported when called."""

    reference: str
    plugin: str = ""
    """Who names it, for error messages (``method 'negate'``)."""

    def resolve(self) -> Callable[..., Any]:
        """The function itself (its module imported now)."""
        return resolve_function(self.reference, self.plugin)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    """What every descriptor has: a one-line summary, a settings model and task presets."""

    summary: str
    settings: type[Settings]
    presets: str | None = None
    """Package holding the plugin's task presets, one ``<task>.toml`` each."""
    plugin: str = field(default="", compare=False)
    """The kind and name it is registered under (``method 'negate'``), set by the registry."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.metadata == FUNCTION and isinstance(value, str | FunctionRef):
                reference = value if isinstance(value, str) else value.reference
                object.__setattr__(self, item.name, FunctionRef(reference, self.plugin))

    def registered_as(self, plugin: str) -> Descriptor:
        """This descriptor named ``plugin`` in the messages of its function references."""
        return replace(self, plugin=plugin)

    def function(self, name: str) -> Callable[..., Any] | None:
        """Function field ``name``, imported now; None when the descriptor has none."""
        value = getattr(self, name, None)
        if isinstance(value, FunctionRef):
            return value.resolve()
        return value


@dataclass(frozen=True, kw_only=True)
class Method(Descriptor):
    """A translation and/or sampling method: its settings model and what it can run."""

    translate: RunFunction | str | None = field(default=None, metadata=FUNCTION)
    sample: RunFunction | str | None = field(default=None, metadata=FUNCTION)


@dataclass(frozen=True, kw_only=True)
class Trainer(Descriptor):
    """A training recipe run by the core training loop: ``i2i train <name>``."""

    train: RunFunction | str = field(metadata=FUNCTION)


@dataclass(frozen=True, kw_only=True)
class Metric(Descriptor):
    """An evaluation metric: ``i2i evaluate <name>`` returns a dict of results to record."""

    evaluate: RunFunction | str = field(metadata=FUNCTION)


@dataclass(frozen=True, kw_only=True)
class Energy(Descriptor):
    """A differentiable score-shaping term a method composes with a weight.

    ``build(settings, ctx)`` returns a callable ``energy(x_t, t, context) -> Tensor`` of one
    value per batch item; guidance takes its gradient with respect to ``x_t`` in fp32.
    """

    build: RunFunction | str = field(metadata=FUNCTION)


@dataclass(frozen=True, kw_only=True)
class Backbone(Descriptor):
    """A network family that loads official checkpoints with their own state-dict keys.

    ``build(settings)`` returns the ``nn.Module`` (weights not loaded); ``spec(settings)`` is its
    ``i2i_cli.diffusion.denoiser.ModelSpec``: what its output means (eps, x0, EDM's denoised, a
    method's raw objective; learned-variance channels), how it reads time (a discrete index or
    sigma) and the process it was trained on, so a sampler never branches on which network it
    runs and no method asks for a schedule again; ``read_weights(path)`` returns the state dict
    of a file in the backbone's own format (e.g. an EDM pickle through the core's restricted
    unpickler; default: a ``weights_only`` torch file or a ``.safetensors`` file), or, for a
    format that records its network's architecture, ``DescribedWeights``: the file then decides
    what is built and presets only cross-check it; ``presets`` names a package of
    ``<name>.toml`` configurations of official checkpoints.
    """

    build: Callable[[Any], Any] | str = field(metadata=FUNCTION)
    spec: Callable[[Any], Any] | str | None = field(default=None, metadata=FUNCTION)
    read_weights: Callable[[Any], Any] | str | None = field(default=None, metadata=FUNCTION)
    network_name: Callable[[Any], str] | str | None = field(default=None, metadata=FUNCTION)
    """``network_name(settings)``: the network the settings build, in a phrase for people
    (``EDMPrecond(SongUNet, 32x32, unconditional)``); shown by ``--dry-run``."""


@dataclass(frozen=True)
class DescribedWeights:
    """Weights from a file that records its network: the backbone settings it describes.

    ``settings`` are fields of the backbone's settings model (what an EDM pickle's class and
    constructor arguments amount to); ``recorded_as`` names the record in messages
    (``EDMPrecond(SongUNet)``); ``state_dict`` holds the tensors under the network's keys.
    """

    settings: dict[str, Any]
    recorded_as: str
    state_dict: dict[str, Any]


DESCRIPTOR_OF_KIND: dict[str, type[Descriptor]] = {
    "methods": Method,
    "trainers": Trainer,
    "metrics": Metric,
    "energies": Energy,
    "backbones": Backbone,
}
"""The descriptor type a plugin of each kind registers (checkpoint manifests are callables)."""
