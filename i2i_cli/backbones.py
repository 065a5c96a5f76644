"""Build a registered backbone from a preset and overrides, and load official weights into it.

Methods reach networks only through here: ``load_backbone("adm-unet", preset="afhq_dog_4m",
checkpoint=path)`` returns the module with its weights loaded strictly and the ``ModelSpec``
that tells a sampler how to read its output and which process it was trained on. A backbone
reads its weights with its own ``read_weights(path)`` when it declares one (e.g. EDM's pickles
through the core's restricted unpickler), else as a ``weights_only`` state dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i_cli.errors import I2IError, UsageError
from i2i_cli.plugin import Backbone
from i2i_cli.registry import Registry
from i2i_cli.settings import Settings, deep_merge, parse_toml, validate

if TYPE_CHECKING:
    import torch
    from torch import nn

    from i2i_cli.context import RunContext
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
) -> tuple[Backbone, Settings]:
    """The backbone's validated settings: defaults < ``preset`` < ``overrides``."""
    backbone = backbone_descriptor(name, registry)
    data: dict[str, Any] = {}
    if preset:
        data = backbone_preset(backbone, preset, name)
    data = deep_merge(data, dict(overrides or {}))
    return backbone, validate(backbone.settings, data, prefix="model.")


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
    from i2i_cli.checkpoints.structure import shape_problems, without_data_parallel_prefix

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
) -> LoadedBackbone:
    """Build backbone ``name`` and load ``checkpoint`` strictly (None: keep the initial weights)."""
    backbone, settings = backbone_settings(name, preset, overrides, registry)
    module = backbone.build(settings)
    if checkpoint is not None:
        origin = f"checkpoint {checkpoint}"
        load_state_dict_strictly(module, read_state_dict(backbone, checkpoint, origin), origin)
    module = module.to(device).eval().requires_grad_(False)
    return LoadedBackbone(name, module, settings, spec_of(backbone, settings))


def read_state_dict(backbone: Backbone, path: Path, origin: str) -> dict[str, torch.Tensor]:
    """The state dict in ``path``: the backbone's own ``read_weights``, else a safe load."""
    from i2i_cli.checkpoints.loading import load_checkpoint

    if backbone.read_weights is not None:
        return state_dict_from(backbone.read_weights(path), origin)
    return state_dict_from(load_checkpoint(path), origin)


def is_file_reference(reference: str) -> bool:
    """Whether a checkpoint reference is a file path (has a suffix or a folder) or an artifact."""
    path = Path(reference).expanduser()
    return bool(path.suffix) or path.parent != Path(".")


def require_checkpoints(ctx: RunContext, references: list[str]) -> None:
    """Check every referenced checkpoint up front: all missing artifacts in one line."""
    for reference in references:
        if is_file_reference(reference) and not Path(reference).expanduser().is_file():
            raise UsageError(f"checkpoint file {reference} does not exist")
    ctx.store.require_all([r for r in references if not is_file_reference(r)])


def checkpoint_path(ctx: RunContext, reference: str) -> Path:
    """A weights file named by artifact (cached; missing -> the download command) or by path."""
    path = Path(reference).expanduser()
    if is_file_reference(reference):
        if not path.is_file():
            raise UsageError(f"checkpoint file {path} does not exist")
        return path
    return ctx.checkpoint(reference)
