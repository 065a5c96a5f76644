"""The settings of one plugin run, resolved from their layers, and the record they make.

Lowest first: the settings model's defaults < the task preset the plugin ships < ``--config`` <
``--set`` < flags. The result is validated, and a run without ``--output`` gets its default
folder (``runs/<command>/<plugin>[-<task>]``, or a numbered sibling).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import reduce
from importlib import resources
from pathlib import Path
from typing import Any

from i2i_cli import __version__
from i2i_cli.api.settings import (
    Settings,
    deep_merge,
    dump_settings,
    parse_assignment,
    parse_toml,
    read_toml,
    validate,
)
from i2i_cli.base.errors import PluginError, UsageError
from i2i_cli.cli.commands.capability import Capability
from i2i_cli.run.run_settings import RunSettings

RECORD_TABLE = "i2i"
"""Table of a settings file that describes the run rather than configures it (ignored on load)."""

RUN_TABLE = "run"


def task_presets(package: str | None) -> dict[str, Any]:
    """The task presets a plugin ships: ``{task name: TOML resource}`` from its presets package."""
    if package is None:
        return {}
    try:
        folder = resources.files(package)
    except (ModuleNotFoundError, TypeError) as error:
        raise PluginError(f"task presets package '{package}' cannot be read: {error}") from error
    return {
        item.name.removesuffix(".toml"): item
        for item in sorted(folder.iterdir(), key=lambda item: item.name)
        if item.name.endswith(".toml")
    }


def preset_layer(package: str | None, task: str) -> dict[str, Any]:
    """The settings layer of one task preset; an unknown task lists the known ones."""
    presets = task_presets(package)
    if task not in presets:
        known = ", ".join(presets) or "none"
        raise UsageError(f"unknown task '{task}' (tasks: {known})")
    return parse_toml(presets[task].read_text(encoding="utf-8"), f"task preset '{task}'")


def default_output(capability: Capability, name: str, task: str | None) -> Path:
    """``runs/<command>/<plugin>[-<task>]``: where a run writes when no ``--output`` is given."""
    return Path("runs") / capability.command / (f"{name}-{task}" if task else name)


@dataclass(frozen=True)
class Resolved:
    """The validated settings of one run and the record written as ``run.toml``."""

    settings: Settings
    run: RunSettings
    task: str | None

    def record(self, capability: Capability, name: str) -> dict[str, Any]:
        """The run record: what ran, with which package version, and every resolved setting."""
        about = {
            "command": capability.command,
            "plugin": name,
            "task": self.task,
            "version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        data: dict[str, Any] = {RECORD_TABLE: about}
        data.update(dump_settings(self.settings))
        data[RUN_TABLE] = dump_settings(self.run)
        return data


def resolve(
    capability: Capability,
    name: str,
    plugin: Any,
    *,
    task: str | None,
    config: Path | None,
    assignments: list[str],
    flags: Mapping[str, Any],
) -> Resolved:
    """Settings from the layers, lowest first: defaults < task preset < --config < --set < flags."""
    layers: list[Mapping[str, Any]] = []
    if task is not None:
        layers.append(preset_layer(plugin.presets, task))
    if config is not None:
        layers.append(read_toml(config))
    layers.extend(parse_assignment(text) for text in assignments)
    layers.append(flags)
    merged = reduce(deep_merge, layers, {})
    merged.pop(RECORD_TABLE, None)
    run_data = merged.pop(RUN_TABLE, {})
    if not isinstance(run_data, Mapping):
        raise UsageError(f"'{RUN_TABLE}' must be a table of run settings, got {run_data!r}")
    settings = validate(plugin.settings, merged)
    run = validate(capability.run_model, run_data, prefix=f"{RUN_TABLE}.")
    resolved = Resolved(settings=settings, run=run, task=task)
    if run.output is None:
        output = free_default_output(capability, name, plugin, resolved)
        resolved = replace(resolved, run=run.model_copy(update={"output": output}))
    return resolved


def free_default_output(capability: Capability, name: str, plugin: Any, resolved: Resolved) -> Path:
    """The default folder of a run without ``--output``: ``default_output``, or its first
    ``-2``, ``-3`` ... sibling that is new or holds a run of these same settings.

    So runs with other settings never meet in one default folder (each README example gets its
    own), and a rerun of the same command finds, and resumes, its own.
    """
    from i2i_cli.io.run_record import kept_fields, record_differences

    base = default_output(capability, name, resolved.task)
    kept = kept_fields(plugin.settings)

    def taken(folder: Path) -> bool:
        """Whether ``folder`` holds a run recorded with other settings."""
        run = resolved.run.model_copy(update={"output": folder})
        return bool(
            record_differences(folder, replace(resolved, run=run).record(capability, name), kept)
        )

    folder, number = base, 1
    while taken(folder):
        number += 1
        folder = base.with_name(f"{base.name}-{number}")
    return folder
