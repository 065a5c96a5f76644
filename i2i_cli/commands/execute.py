"""``i2i translate|sample|train|evaluate <plugin>``: one subcommand per registered plugin.

The subcommands are built on demand from the registry: a plugin is imported only when its
command is listed or run, and its flags come from its settings model and the command's run
settings. A plugin that fails to load still gets a command, which says why and exits 2.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import reduce
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, Optional

import typer
from typer.core import TyperGroup

from i2i_cli import __version__
from i2i_cli.errors import PluginError, UsageError
from i2i_cli.options import Flag, flags_for
from i2i_cli.plugin import DESCRIPTOR_OF_KIND, Descriptor
from i2i_cli.registry import Registry
from i2i_cli.run_record import RUN_RECORD
from i2i_cli.run_settings import EvaluateRun, RunSettings, SampleRun, TrainRun, TranslateRun
from i2i_cli.settings import (
    Settings,
    deep_merge,
    dump_settings,
    parse_assignment,
    parse_toml,
    read_toml,
    to_toml,
    validate,
)
from i2i_cli.threads import THREADS_KEY
from i2i_cli.wording import singular

RECORD_TABLE = "i2i"
"""Table of a settings file that describes the run rather than configures it (ignored on load)."""

RUN_TABLE = "run"
RESULT = "result.json"

BUILT_IN_OPTIONS = frozenset({"task", "config", "set", "dry_run", "help", RECORD_TABLE, RUN_TABLE})


@dataclass(frozen=True)
class Capability:
    """A command that runs plugins: the plugin kind, descriptor function and run options.

    ``keeps_done`` commands resume by keeping the outputs already in their folder (translate,
    sample): a rerun with other settings would mix results, so it is refused unless
    ``--overwrite``. The others redo or check their outputs themselves (train compares the
    checkpoint's settings, evaluate recomputes its result). ``records_result`` commands write
    their folder only when they have a result (evaluate): a failed run leaves no folder behind.
    """

    command: str
    kind: str
    function: str
    run_model: type[RunSettings]
    keeps_done: bool = False
    records_result: bool = False


TRANSLATE = Capability("translate", "methods", "translate", TranslateRun, keeps_done=True)
SAMPLE = Capability("sample", "methods", "sample", SampleRun, keeps_done=True)
TRAIN = Capability("train", "trainers", "train", TrainRun)
EVALUATE = Capability("evaluate", "metrics", "evaluate", EvaluateRun, records_result=True)


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
    from i2i_cli.run_record import kept_fields, record_differences

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


@dataclass(frozen=True)
class RecordPlan:
    """When rank 0 writes ``run.toml``: before the work, after it, or both (marked unfinished).

    ``unfinished``: an ``--overwrite`` run into a folder recorded with other settings writes
    its record marked unfinished first (until it ends, the folder mixes both settings' outputs)
    and the plain record at the end.
    """

    first: bool
    unfinished: bool = False


def check_record(
    capability: Capability, name: str, plugin: Descriptor, resolved: Resolved
) -> RecordPlan:
    """Compare the output folder's ``run.toml`` with this run's: when to write ours, or refuse.

    A folder without a record gets this run's record before any work, as does a ``keeps_done``
    command's folder whose record shapes its outputs as this run would; recorded with other
    settings, a ``keeps_done`` command stops with one line naming them, unless ``--overwrite``.
    Any other command into a folder with a record writes its own only once it has finished, so
    a run that is refused or stops early never rewrites the record of the outputs there.
    """
    from i2i_cli.run_record import describe, kept_fields, record_differences

    output = resolved.run.output
    assert output is not None
    record = resolved.record(capability, name)
    differences = record_differences(output, record, kept_fields(plugin.settings))
    if differences is None:
        return RecordPlan(first=not capability.records_result)
    if not differences:
        return RecordPlan(first=capability.keeps_done)
    overwrite = bool(getattr(resolved.run, "overwrite", False))
    if capability.keeps_done and not overwrite:
        raise UsageError(
            f"{output} holds a run with other settings ({describe(differences)}); pass "
            "--overwrite to redo its outputs, or choose another --output"
        )
    return RecordPlan(first=overwrite, unfinished=overwrite)


def dry_run_record(capability: Capability, name: str, resolved: Resolved) -> dict[str, Any]:
    """The run record ``--dry-run`` prints: ``run.toml``'s, plus in ``[i2i.network]`` what each
    chosen backbone builds (``i2i_cli.model_choice.chosen_networks``)."""
    from i2i_cli.model_choice import chosen_networks

    record = resolved.record(capability, name)
    record[RECORD_TABLE].update(chosen_networks(resolved.settings))
    return record


def execute(
    capability: Capability,
    name: str,
    plugin: Descriptor,
    resolved: Resolved,
    threads: int | None = None,
) -> None:
    """Run the plugin's command in a fresh context, after checking the output folder.

    ``threads`` is ``--threads`` (None: chosen at the start, ``i2i_cli.threads``).

    The folder is locked for the whole run (``i2i_cli.run_lock``: a second run into it is
    refused), then ``run.toml`` is compared with the folder's and written by rank 0 when
    ``check_record`` says; a command that returns a dict (a metric) has it written as
    ``result.json`` and shown.
    Items that went non-finite (``RunContext.finite``) are listed in ``result.json`` under
    ``failed`` and the run ends with a ``NonFiniteError`` once every other item is written.
    """
    from i2i_cli.outputs import check_apart, check_not_blocked, make_output_folder
    from i2i_cli.run_lock import holding_run_folder
    from i2i_cli.runtime import torchrun_placement

    output = resolved.run.output
    assert output is not None
    run = plugin.function(capability.function)  # a reference that does not import fails here
    check_not_blocked(output)
    run_format = getattr(resolved.run, "output_format", "png")
    check_apart(output, getattr(resolved.run, "input", None), run_format)
    made = _missing_folders(output)
    make_output_folder(output)
    with holding_run_folder(output, main=torchrun_placement().is_main) as lock:
        try:
            plan = check_record(capability, name, plugin, resolved)
            _execute_in(capability, name, run, resolved, plan, output, threads)
        except BaseException:
            if capability.records_result and made:
                if lock is not None:
                    lock.release()
                _remove_if_empty(made)
            raise


def _missing_folders(output: Path) -> list[Path]:
    """``output`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for folder in (output, *output.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders a failed run created, deepest first, while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _execute_in(
    capability: Capability,
    name: str,
    run: Callable[..., Any],
    resolved: Resolved,
    plan: RecordPlan,
    output: Path,
    threads: int | None,
) -> None:
    """The run itself, in a fresh context, with ``run.toml`` written as ``plan`` says."""
    from i2i_cli.atomic import write_atomic_text
    from i2i_cli.context import open_context
    from i2i_cli.nonfinite import NonFiniteError, result_with_failures
    from i2i_cli.run_record import mark_unfinished

    with open_context(
        capability.command, name, resolved.task, resolved.run, output, threads
    ) as ctx:
        record = resolved.record(capability, name)
        main = ctx.runtime.is_main
        if main and plan.first:
            first = mark_unfinished(record) if plan.unfinished else record
            write_atomic_text(to_toml(first), output / RUN_RECORD)
        result = _run_plugin(capability, run, resolved.settings, ctx)
        failures, written = (
            ctx.finite.gathered(ctx.runtime, ctx.progress.done)
            if capability.keeps_done
            else ([], 0)
        )
        if main and (plan.unfinished or not plan.first):
            write_atomic_text(to_toml(record), output / RUN_RECORD)
        shown = result if isinstance(result, Mapping) else None
        content = result_with_failures(_read_result(output / RESULT), shown, failures)
        if content is not None and main:
            write_atomic_text(json.dumps(content, indent=2, default=str) + "\n", output / RESULT)
        if shown is not None and main:
            print_result(name, shown)
        if failures:
            raise NonFiniteError(failures, written, output / RESULT)
        counts = (ctx.progress.done, ctx.progress.skipped)
        if capability.keeps_done:  # each rank wrote its share of the items: the job's sums
            done, skipped = zip(*ctx.runtime.all_gather_objects(counts), strict=True)
            counts = (sum(done), sum(skipped))
        if any(counts):
            noun = "steps" if capability.command == "train" else "images"
            ctx.log(f"[green]done[/green]: {ctx.progress.summary(noun, counts)} -> {output}")


def _read_result(path: Path) -> dict[str, Any] | None:
    """The ``result.json`` an earlier run left (None: none, or not a JSON object)."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def _run_plugin(
    capability: Capability, run: Callable[..., Any], settings: Settings, ctx: Any
) -> Any:
    """``run(settings, ctx)``; a trainer under the run seed's global generators.

    Torch's initialisers draw from the global generator, which every process seeds differently:
    seeded from the run seed (``training_setup_rng``), every trainer's initial model is the same
    in every process, so two runs, or a run and its resumption, start from the same weights.
    """
    if capability is not TRAIN:
        return run(settings, ctx)
    from i2i_cli.training.randomness import training_setup_rng

    with training_setup_rng(ctx.runtime.seed, ctx.runtime.device):
        return run(settings, ctx)


def print_result(name: str, result: Mapping[str, Any]) -> None:
    """A result dict as a two-column table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=name)
    table.add_column("key")
    table.add_column("value", overflow="fold")
    for key, value in result.items():
        table.add_row(str(key), str(value))
    Console().print(table)


def report_errors(body: Callable[[], None], resume_hint: str = "rerun to resume") -> None:
    """Run ``body``; a user-facing error becomes one line on stderr and its exit code."""
    from i2i_cli.errors import I2IError

    try:
        body()
    except I2IError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted: outputs already written are kept; {resume_hint}", err=True)
        raise typer.Exit(130) from None
    except (MemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        typer.echo(
            "error: out of memory; lower --batch-size (outputs already written are kept; "
            f"{resume_hint})",
            err=True,
        )
        raise typer.Exit(1) from None


OUT_OF_MEMORY_TEXTS = ("out of memory", "can't allocate memory", "not enough memory")
"""What torch's allocators say when an allocation fails (CUDA, CPU, MPS)."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a failed allocation (torch.OutOfMemoryError, MemoryError, ...)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error).lower()
    return any(fragment in text for fragment in OUT_OF_MEMORY_TEXTS)


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
