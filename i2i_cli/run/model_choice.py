"""A run's backbone: the settings that choose it, loading it for the run, and its schedule.

Every method and energy that runs a network declares ``BackboneChoice`` (or a subclass with its
own defaults) and calls ``load_for_run``; every index-time method samples on ``schedule_for``,
the process the backbone declares it was trained on, so no method asks for a schedule again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from i2i_cli.api.settings import Settings
from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_file
from i2i_cli.networks.backbones import backbone_spec, is_file_reference, load_backbone
from i2i_cli.weights.bundled import is_package_reference, package_file

if TYPE_CHECKING:
    from i2i_cli.diffusion.denoiser import ModelSpec
    from i2i_cli.diffusion.ode import OdeSolver, Spacing
    from i2i_cli.diffusion.schedule import DiscreteSchedule
    from i2i_cli.networks.backbones import LoadedBackbone
    from i2i_cli.run.context import RunContext


class BackboneChoice(Settings):
    """A registered backbone, its preset, overrides of the preset and its weights."""

    backbone: str = Field("adm-unet", description="Registered backbone plugin (i2i plugins).")
    preset: str | None = Field(
        "afhq_dog_4m", description="Backbone preset: the exact flags of an official checkpoint."
    )
    model: dict[str, Any] = Field(
        default_factory=dict,
        description="Backbone settings overriding the preset (e.g. --set model.image_size=64).",
    )
    checkpoint: str | None = Field(
        "afhq_dog_4m",
        description="Weights: an artifact name from `i2i download --list`, or a file path.",
    )


def spec_for(choice: BackboneChoice, overrides: Mapping[str, Any] | None = None) -> ModelSpec:
    """What the chosen backbone predicts and how it reads time, without building it."""
    return backbone_spec(choice.backbone, choice.preset, {**choice.model, **(overrides or {})})


def load_for_run(
    choice: BackboneChoice,
    ctx: RunContext,
    *,
    checkpoint: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedBackbone:
    """The chosen backbone with its weights on the run's device, in eval mode, prepared.

    ``Runtime.prepare`` applies the run's ``--compile`` and ``--channels-last`` to the module;
    its outputs are checked for NaN and infinity while the run samples (``ctx.finite``).

    ``checkpoint`` (an artifact or a path) replaces ``choice.checkpoint`` (e.g. DDIB's source and
    target models); ``overrides`` go over the preset below ``choice.model``. A checkpoint that
    records its network is built as it records (``load_backbone``), checked against a preset
    the run chose; with no preset, an artifact's manifest preset builds a file that records
    nothing.
    """
    reference = checkpoint or choice.checkpoint
    if reference is None:
        raise UsageError(f"backbone {choice.backbone} needs weights: give --checkpoint")
    preset = choice.preset
    if preset is None and not is_file_reference(reference):
        preset = artifact_preset(ctx, reference)
    loaded = load_backbone(
        choice.backbone,
        preset=preset,
        overrides={**(overrides or {}), **choice.model},
        checkpoint=checkpoint_path(ctx, reference),
        device=ctx.runtime.device,
        preset_is_default=preset_is_default(choice),
    )
    ctx.runtime.prepare(loaded.module)
    ctx.finite.watch_network(loaded.module, choice.backbone)
    return loaded


def preset_is_default(choice: BackboneChoice) -> bool:
    """Whether the choice's preset is its default, not one a task, config or flag chose."""
    return choice.preset is None or "preset" not in choice.model_fields_set


def artifact_preset(ctx: RunContext, name: str) -> str | None:
    """The backbone preset the manifest gives artifact ``name`` (its network's settings)."""
    return ctx.store.artifact(name).preset


def chosen_networks(settings: Settings) -> dict[str, Any]:
    """What each backbone choice in ``settings`` builds, as ``--dry-run`` shows it, no file read.

    ``{"network": {...}}`` for the settings themselves when they choose a backbone, and
    ``{"network": {"<field>": {...}}}`` for a nested choice (DG's ``discriminator``); each holds
    the backbone, where its settings come from, the network's name and the resolved settings.
    """
    from i2i_cli.api.settings import dump_settings
    from i2i_cli.checkpoints import CheckpointStore
    from i2i_cli.networks.backbones import backbone_settings

    choices = {"": settings} if isinstance(settings, BackboneChoice) else {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, BackboneChoice):
            choices[name] = value
    tables: dict[str, Any] = {}
    store = CheckpointStore.open() if choices else None
    for name, choice in choices.items():
        preset, source = choice.preset, f"preset {choice.preset}"
        reference = choice.checkpoint
        if preset is None and reference and not is_file_reference(reference) and store:
            preset = store.artifact(reference).preset if reference in store.entries else None
            source = f"preset {preset} (artifact {reference}'s)" if preset else "defaults"
        elif preset is None:
            source = "defaults"
        descriptor, resolved = backbone_settings(choice.backbone, preset, choice.model)
        table: dict[str, Any] = {"backbone": choice.backbone}
        if descriptor.network_name is not None:
            table["builds"] = descriptor.network_name(resolved)
        table["settings_from"] = (
            f"{source}; a checkpoint that records its network (an EDM or SDE-BBDM pickle, an "
            "i2i trainer's backbone.toml; i2i plugins --inspect) is built as it records, and "
            "this is checked against it"
        )
        table.update(dump_settings(resolved))
        if name:
            tables[name] = table
        else:
            tables.update(table)
    return {"network": tables} if tables else {}


def schedule_for(
    *specs: ModelSpec,
    respacing: str = "",
    solver: OdeSolver | None = None,
    steps: int | None = None,
    spacing: Spacing = "auto",
) -> DiscreteSchedule:
    """The discrete schedule a run samples on: the backbones' one training process, respaced.

    ``respacing`` is guided-diffusion's syntax (``"100"``, ``"ddim25"``); with ``solver`` the grid
    of an ODE pass is ``steps`` of the process spaced by ``spacing`` (``solver_schedule``). Models
    of different processes, a sigma-time model or a bad count -> one usage line.
    """
    from i2i_cli.diffusion.ode import solver_schedule

    try:
        processes = {spec.discrete_process() for spec in specs}
    except ValueError as error:
        raise UsageError(f"{error}; this method runs on a discrete-time process") from None
    if len(processes) != 1:
        listed = ", ".join(f"{p.noise_schedule} x {p.steps}" for p in processes)
        raise UsageError(
            f"the models were trained on different processes ({listed}); "
            "this method needs one noise schedule for all of them"
        )
    process = processes.pop()
    try:
        if solver is not None:
            return solver_schedule(process.schedule(), solver, steps, spacing)
        return process.schedule(respacing)
    except ValueError as error:
        raise UsageError(str(error)) from None


def require_checkpoints(ctx: RunContext, references: list[str]) -> None:
    """Check every referenced checkpoint up front: all missing artifacts in one line."""
    for reference in references:
        if is_package_reference(reference):
            package_file(reference)
        elif is_file_reference(reference):
            missing = f"checkpoint file {reference} does not exist"
            require_file(Path(reference).expanduser(), "checkpoint file", missing)
    ctx.store.require_all([r for r in references if not is_file_reference(r)])


def checkpoint_path(ctx: RunContext, reference: str) -> Path:
    """A weights file named by artifact (cached; missing -> the download command), by path, or
    shipped in a package (``package:<package>/<file>``, ``i2i_cli.weights.bundled``)."""
    if is_package_reference(reference):
        return package_file(reference)
    path = Path(reference).expanduser()
    if is_file_reference(reference):
        return require_file(path, "checkpoint file", f"checkpoint file {path} does not exist")
    return ctx.checkpoint(reference)
