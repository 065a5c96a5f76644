"""``i2i translate|sample|train|evaluate <plugin>``: one subcommand per registered plugin.

The subcommands are built on demand from the registry: a plugin is imported only when its
command is listed or run, and its flags come from its settings model and the command's run
settings. A plugin that fails to load still gets a command, which says why and exits 2.
Resolving a run's settings is ``resolve.py``, running it ``execute.py``, reporting its
failures ``reporting.py``.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Optional

import typer
from typer.core import TyperGroup

from i2i_cli.api.plugin import DESCRIPTOR_OF_KIND
from i2i_cli.api.registry import Registry
from i2i_cli.api.settings import to_toml
from i2i_cli.base.errors import PluginError
from i2i_cli.base.wording import singular
from i2i_cli.cli.commands.capability import EVALUATE, SAMPLE, TRAIN, TRANSLATE, Capability
from i2i_cli.cli.commands.execute import dry_run_record, execute
from i2i_cli.cli.commands.reporting import report_errors
from i2i_cli.cli.commands.resolve import RECORD_TABLE, RUN_TABLE, resolve, task_presets
from i2i_cli.cli.options import Flag, flags_for
from i2i_cli.run.threads import THREADS_KEY

BUILT_IN_OPTIONS = frozenset({"task", "config", "set", "dry_run", "help", RECORD_TABLE, RUN_TABLE})


def _option(name: str, annotation: Any, decl: str, help_text: str, panel: str) -> inspect.Parameter:
    """A keyword parameter Typer turns into the option ``decl``, default None (= not given)."""
    option = typer.Option(decl, help=help_text, rich_help_panel=panel, show_default=False)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[Optional[annotation], option],  # noqa: UP045 - Typer reads Optional
    )


def _flag_parameter(flag: Flag, panel: str) -> inspect.Parameter:
    """The Typer parameter of a generated flag (booleans get --x/--no-x)."""
    decl = flag.flag
    if flag.python_type is bool:
        decl = f"{flag.flag}/--no-{flag.flag.removeprefix('--')}"
    return _option(flag.param, flag.python_type, decl, flag.help, panel)


def _flags_layer(
    values: Mapping[str, Any], plugin_flags: list[Flag], run_flags: list[Flag]
) -> dict:
    """The layer of the flags actually given on the command line."""
    layer: dict[str, Any] = {}
    for flag in plugin_flags:
        value = values.get(flag.param)
        if value is None or (isinstance(value, (list, tuple)) and not value):
            continue
        layer[flag.field] = list(value) if isinstance(value, tuple) else value
    run = {f.field: values[f.param] for f in run_flags if values.get(f.param) is not None}
    if run:
        layer[RUN_TABLE] = run
    return layer


def build_command(capability: Capability, name: str, plugin: Any) -> Any:
    """The click command of one plugin: its settings flags, run flags and settings-file options."""
    run_flags = flags_for(capability.run_model, reserved=BUILT_IN_OPTIONS)
    reserved = BUILT_IN_OPTIONS | {flag.field for flag in run_flags}
    try:
        plugin_flags = flags_for(plugin.settings, reserved=reserved)
    except ValueError as error:
        raise PluginError(f"{singular(capability.kind)} '{name}': {error}") from error
    tasks = ", ".join(task_presets(plugin.presets)) or "none"
    files = "Settings files"
    parameters = [
        inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
        _option("task", str, "--task", f"Task preset to start from ({tasks}).", files),
        _option("config", Path, "--config", "TOML file of settings (over the task preset).", files),
        _option("assignments", list[str], "--set", "dotted.key=value, over --config.", files),
        _option("dry_run", bool, "--dry-run", "Print the resolved settings and exit.", files),
    ]
    parameters += [_flag_parameter(flag, f"{name} settings") for flag in plugin_flags]
    parameters += [_flag_parameter(flag, "Run") for flag in run_flags]

    def command(**values: Any) -> None:
        threads = values.pop("context").meta.get(THREADS_KEY)

        def body() -> None:
            resolved = resolve(
                capability,
                name,
                plugin,
                task=values["task"],
                config=values["config"],
                assignments=values["assignments"] or [],
                flags=_flags_layer(values, plugin_flags, run_flags),
            )
            if values["dry_run"]:
                sys.stdout.write(to_toml(dry_run_record(capability, name, resolved)))
                return
            execute(capability, name, plugin, resolved, threads)

        hint = "rerun with --resume to continue" if capability.command == "train" else None
        report_errors(body, hint or "rerun to resume")

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return _as_click_command(name, command, plugin.summary)


def _as_click_command(name: str, function: Callable[..., None], summary: str, **kwargs: Any) -> Any:
    """The click command Typer builds for ``function`` (Typer's own machinery, any version)."""
    single = typer.Typer(add_completion=False)
    single.command(name=name, help=summary, **kwargs)(function)
    return typer.main.get_command(single)


def failing_command(name: str, message: str, *, hidden: bool = False) -> Any:
    """A command that only reports why it cannot run: one line, exit 2."""

    def command() -> None:
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2)

    return _as_click_command(
        name,
        command,
        f"[unusable] {message}",
        hidden=hidden,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class PluginGroup(TyperGroup):
    """A group whose subcommands are the registered plugins of one capability, built lazily."""

    capability: ClassVar[Capability]

    def _registry(self) -> Registry:
        """The plugin registry, discovered once per group."""
        if not hasattr(self, "_discovered"):
            self._discovered = Registry.discover()
        return self._discovered

    def list_commands(self, ctx: Any) -> list[str]:
        return self._registry().names(self.capability.kind)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        capability = self.capability
        registry = self._registry()
        if cmd_name not in registry.names(capability.kind):
            return None
        try:
            plugin = registry.load(capability.kind, cmd_name)
            descriptor = DESCRIPTOR_OF_KIND[capability.kind]
            if not isinstance(plugin, descriptor):
                raise PluginError(
                    f"{singular(capability.kind)} plugin '{cmd_name}' registers "
                    f"{type(plugin).__name__}, not an i2i {descriptor.__name__}"
                )
            if getattr(plugin, capability.function, None) is None:
                message = f"{singular(capability.kind)} '{cmd_name}' cannot {capability.command}"
                return failing_command(cmd_name, message, hidden=True)
            return build_command(capability, cmd_name, plugin)
        except PluginError as error:
            return failing_command(cmd_name, str(error))


class TranslateGroup(PluginGroup):
    capability = TRANSLATE


class SampleGroup(PluginGroup):
    capability = SAMPLE


class TrainGroup(PluginGroup):
    capability = TRAIN


class EvaluateGroup(PluginGroup):
    capability = EVALUATE
