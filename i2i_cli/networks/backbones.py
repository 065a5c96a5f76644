"""Build a registered backbone from a preset and overrides, and load official weights into it.

Methods reach networks only through here: ``load_backbone("adm-unet", preset="afhq_dog_4m",
checkpoint=path)`` returns the module with its weights loaded strictly and the ``ModelSpec``
that tells a sampler how to read its output and which process it was trained on. A backbone
reads its weights with its own ``read_weights(path)`` when it declares one (e.g. EDM's pickles
through the core's restricted unpickler), else as a ``weights_only`` state dict.

A checkpoint that describes its network decides what is built: an EDM pickle records its class
and constructor arguments (``DescribedWeights``), and an i2i trainer writes ``backbone.toml``
beside the weights it exports. The preset and overrides are then cross-checks: a value that
contradicts the record is one line naming both, before anything runs. Formats that record
nothing (ADM's ``.pt`` state dicts) are built from the preset and checked by their shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i_cli.api.plugin import Backbone, DescribedWeights
from i2i_cli.api.registry import Registry
from i2i_cli.api.settings import (
    Settings,
    deep_merge,
    dump_settings,
    parse_toml,
    read_toml,
    validate,
)
from i2i_cli.base.errors import I2IError, UsageError
from i2i_cli.weights.bundled import is_package_reference

if TYPE_CHECKING:
    import torch
    from torch import nn

    from i2i_cli.diffusion.denoiser import ModelSpec


def backbone_descriptor(name: str, registry: Registry | None = None) -> Backbone:
    """The ``Backbone`` registered under ``name`` (one-line PluginError when absent or broken)."""
    registry = registry or Registry.discover()
    backbone = registry.load("backbones", name)
    if not isinstance(backbone, Backbone):
        raise UsageError(f"backbone plugin '{name}' did not register a Backbone descriptor")
    return backbone


def backbone_presets(backbone: Backbone) -> list[str]:
    """The names of a backbone's shipped presets (``<name>.toml`` in its presets package)."""
    if backbone.presets is None:
        return []
    files = resources.files(backbone.presets).iterdir()
    return sorted(f.name[: -len(".toml")] for f in files if f.name.endswith(".toml"))


def backbone_preset(backbone: Backbone, name: str, label: str) -> dict[str, Any]:
    """The settings table of preset ``name``; unknown -> one line listing the known presets."""
    known = backbone_presets(backbone)
    if name not in known:
        listing = ", ".join(known) or "none"
        raise UsageError(f"backbone {label} has no preset '{name}' (presets: {listing})")
    package = resources.files(backbone.presets)  # type: ignore[arg-type]
    table = parse_toml((package / f"{name}.toml").read_text(), f"{label} preset {name}")
    table.pop("i2i", None)
    return table


def backbone_settings(
    name: str,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
    record: Record | None = None,
) -> tuple[Backbone, Settings]:
    """The backbone's validated settings: defaults < ``preset`` < ``overrides``.

    With a file's ``record`` the settings are the record's, and ``preset`` and ``overrides``
    are cross-checks: each value they give for a recorded field must equal the record's
    (else one UsageError naming both); fields the record leaves out are taken from them.
    """
    backbone = backbone_descriptor(name, registry)
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if preset:
        layers.append((f"preset {preset}", backbone_preset(backbone, preset, name)))
    layers.append(("the model settings (--config / --set model.*)", dict(overrides or {})))
    data: dict[str, Any] = {}
    for _, layer in layers:
        data = deep_merge(data, layer)
    if record is not None:
        check_against_record(record, layers)
        data = deep_merge(data, record.settings)
    return backbone, validate(backbone.settings, data, prefix="model.")


@dataclass(frozen=True)
class Record:
    """What a weights file records of its network: backbone settings, and where they came from."""

    settings: Mapping[str, Any]
    recorded_as: str
    origin: str
    """The file, as messages name it (``checkpoint edm.pkl``)."""
    preset: str | None = None
    """The preset the recorded settings start from (a trainer's), if the record names one."""


def check_against_record(record: Record, layers: list[tuple[str, Mapping[str, Any]]]) -> None:
    """One UsageError listing every value the ``layers`` resolve to that contradicts ``record``.

    A value a later layer overrides is not checked; each contradiction names the layer that
    gave the value (the preset, or the model settings).
    """
    final: dict[str, tuple[str, Any]] = {}
    for label, layer in layers:
        final.update({key: (label, value) for key, value in layer.items()})
    contradictions = [
        f"model.{key}: the file records {_plain(recorded)!r}, {label} says {_plain(value)!r}"
        for key, (label, value) in final.items()
        if key in record.settings and _plain(value) != _plain(recorded := record.settings[key])
    ]
    if contradictions:
        raise UsageError(
            f"{record.origin} records its network ({record.recorded_as}), which decides what is "
            f"built; {'; '.join(contradictions)}. Leave the preset and model settings out, or "
            "make them match the file"
        )


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists, so recorded and configured values compare as equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


TRAINED_RECORD = "backbone.toml"
"""What an i2i trainer writes beside the weights it exports: the backbone, preset and model
settings a method loads them with (and the weights file it describes, as ``checkpoint``)."""


def trained_record(name: str, path: Path, registry: Registry | None = None) -> Record | None:
    """The ``backbone.toml`` an i2i trainer wrote beside ``path`` for backbone ``name``, if any.

    It counts only when it names this backbone and this weights file (by file name, so a moved
    run folder still matches); its preset and model settings resolve to the full settings.
    """
    sidecar = path.parent / TRAINED_RECORD
    if not sidecar.is_file():
        return None
    table = read_toml(sidecar)
    weights = table.get("checkpoint")
    if table.get("backbone") != name or not isinstance(weights, str):
        return None
    if Path(weights).name != path.name:
        return None
    preset = table.get("preset")
    model = table.get("model") or {}
    origin = f"{sidecar}"
    if not isinstance(model, Mapping) or not (preset is None or isinstance(preset, str)):
        raise UsageError(f"{origin}: 'preset' must be a string and 'model' a table")
    _, settings = backbone_settings(name, preset, model, registry)
    label = (
        f"{name}" + (f" preset {preset}" if preset else "") + (" with its [model]" if model else "")
    )
    return Record(dump_settings(settings), label, f"checkpoint {path} (with {origin})", preset)


def backbone_spec(
    name: str, preset: str | None = None, overrides: Mapping[str, Any] | None = None
) -> ModelSpec:
    """What backbone ``name`` predicts with these settings, without building the network."""
    return spec_of(*backbone_settings(name, preset, overrides))


def spec_of(backbone: Backbone, settings: Settings) -> ModelSpec:
    """The backbone's declared ``ModelSpec`` for ``settings`` (default: eps, 3 channels)."""
    from i2i_cli.diffusion.denoiser import ModelSpec

    return backbone.spec(settings) if backbone.spec else ModelSpec()


def state_dict_from(checkpoint: Any, origin: str) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint: a plain dict, or the first entry of a list.

    The ddim repository saves ``[model_state, optimizer_state, ...]``; every other official
    checkpoint here is a plain state dict.
    """
    import torch

    if isinstance(checkpoint, (list, tuple)) and checkpoint:
        checkpoint = checkpoint[0]
    if isinstance(checkpoint, Mapping) and all(torch.is_tensor(v) for v in checkpoint.values()):
        return dict(checkpoint)
    raise I2IError(f"{origin} does not hold a state dict of tensors")


def load_state_dict_strictly(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor], origin: str
) -> None:
    """Load every key with ``strict=True`` semantics; a mismatch -> one line saying what differs.

    A DataParallel ``module.`` prefix on every key is removed first when the module lacks it.
    """
    from i2i_cli.weights.state_dicts import shape_problems, without_data_parallel_prefix

    expected = module.state_dict()
    state_dict = without_data_parallel_prefix(state_dict, expected)
    problems = shape_problems(
        {key: tuple(value.shape) for key, value in expected.items()},
        {key: tuple(value.shape) for key, value in state_dict.items()},
    )
    if problems:
        raise I2IError(
            f"{origin} does not fit the configured network: {'; '.join(problems)}; "
            "check the backbone preset and settings"
        )
    module.load_state_dict(state_dict, strict=True)


@dataclass(frozen=True)
class LoadedBackbone:
    """A network in eval mode on its device, its settings and what its output means."""

    name: str
    module: nn.Module
    settings: Settings
    spec: ModelSpec


def load_backbone(
    name: str,
    *,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    checkpoint: Path | None = None,
    device: torch.device | str = "cpu",
    registry: Registry | None = None,
    preset_is_default: bool = False,
) -> LoadedBackbone:
    """Build backbone ``name`` and load ``checkpoint`` strictly (None: keep the initial weights).

    A checkpoint that records its network is built as it records, ``overrides`` and a chosen
    ``preset`` cross-checking it; a ``preset_is_default`` (one the run did not choose: a
    method's default, an artifact's manifest preset) builds only files that record nothing, as
    does the preset a trainer's record itself names.
    """
    registry = registry or Registry.discover()
    backbone = backbone_descriptor(name, registry)
    state_dict, record = None, None
    if checkpoint is not None:
        state_dict, record = read_weights(backbone, name, checkpoint, registry)
    if record is not None and (preset_is_default or preset == record.preset):
        preset = None
    backbone, settings = backbone_settings(name, preset, overrides, registry, record)
    module = backbone.build(settings)
    if state_dict is not None:
        load_state_dict_strictly(module, state_dict, f"checkpoint {checkpoint}")
    module = module.to(device).eval().requires_grad_(False)
    return LoadedBackbone(name, module, settings, spec_of(backbone, settings))


def read_weights(
    backbone: Backbone,
    name: str,
    path: Path,
    registry: Registry | None = None,
    *,
    mmap: bool = False,
) -> tuple[dict[str, torch.Tensor], Record | None]:
    """The state dict in ``path`` and what the file records of its network (None: nothing).

    The backbone's own ``read_weights`` when it has one (it may return ``DescribedWeights``),
    else a safe load (memory-mapped with ``mmap``: shapes only); an i2i trainer's
    ``backbone.toml`` beside the file is its record too.
    """
    from i2i_cli.weights.loading import load_checkpoint

    origin = f"checkpoint {path}"
    if backbone.read_weights is not None:
        loaded = backbone.read_weights(path)
    else:
        loaded = load_checkpoint(path, mmap=mmap)
    if isinstance(loaded, DescribedWeights):
        record = Record(loaded.settings, loaded.recorded_as, origin)
        return state_dict_from(loaded.state_dict, origin), record
    return state_dict_from(loaded, origin), trained_record(name, path, registry)


def read_state_dict(backbone: Backbone, path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``: the backbone's own ``read_weights``, else a safe load."""
    return read_weights(backbone, "", path)[0]


def is_file_reference(reference: str) -> bool:
    """Whether a checkpoint reference is a file (a path with a suffix or a folder, or a
    ``package:`` file) or an artifact."""
    path = Path(reference).expanduser()
    return is_package_reference(reference) or bool(path.suffix) or path.parent != Path(".")
