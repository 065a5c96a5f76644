"""Running one resolved plugin command in its output folder.

The folder is checked and locked, its ``run.toml`` compared with this run's and written when
``check_record`` says, the plugin run in a fresh context, and a result or the items that went
non-finite written as ``result.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from i2i_cli.api.plugin import Descriptor
from i2i_cli.api.settings import Settings, to_toml
from i2i_cli.base.errors import UsageError
from i2i_cli.cli.commands.capability import TRAIN, Capability
from i2i_cli.cli.commands.resolve import RECORD_TABLE, Resolved
from i2i_cli.io.run_record import RUN_RECORD

RESULT = "result.json"


@dataclass(frozen=True)
class RecordPlan:
    """When rank 0 writes ``run.toml``: before the work, after it, or both (marked unfinished).

    ``unfinished``: an ``--overwrite`` run into a folder recorded with other settings writes
    its record marked unfinished first (until it ends, the folder mixes both settings' outputs)
    and the plain record at the end. ``same``: the folder holds outputs recorded with this
    run's settings.
    """

    first: bool
    unfinished: bool = False
    same: bool = False


def check_record(
    capability: Capability, name: str, plugin: Descriptor, resolved: Resolved
) -> RecordPlan:
    """Compare the output folder's ``run.toml`` with this run's: when to write ours, or refuse.

    A folder without a record gets this run's record before any work; recorded with other
    settings, a ``keeps_done`` command stops with one line naming them, unless ``--overwrite``.
    A folder whose record shapes its outputs as this run would gets this run's record only once
    it has finished, as does any other command's folder with a record, so a run that is refused
    or stops early (a failed ``--strict`` run) never rewrites the record of the outputs there.
    """
    from i2i_cli.io.run_record import describe, kept_fields, record_differences

    output = resolved.run.output
    assert output is not None
    record = resolved.record(capability, name)
    differences = record_differences(output, record, kept_fields(plugin.settings))
    if differences is None:
        return RecordPlan(first=not capability.records_result)
    if not differences:
        return RecordPlan(first=False, same=True)
    overwrite = bool(getattr(resolved.run, "overwrite", False))
    if capability.keeps_done and not overwrite:
        raise UsageError(
            f"{output} holds a run with other settings ({describe(differences)}); pass "
            "--overwrite to redo its outputs, or choose another --output"
        )
    return RecordPlan(first=overwrite, unfinished=overwrite)


def dry_run_record(capability: Capability, name: str, resolved: Resolved) -> dict[str, Any]:
    """The run record ``--dry-run`` prints: ``run.toml``'s, plus in ``[i2i.network]`` what each
    chosen backbone builds (``i2i_cli.run.model_choice.chosen_networks``)."""
    from i2i_cli.run.model_choice import chosen_networks

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

    ``threads`` is ``--threads`` (None: chosen at the start, ``i2i_cli.run.threads``).

    The folder is locked for the whole run (``i2i_cli.run.run_lock``: a second run into it is
    refused), then ``run.toml`` is compared with the folder's and written by rank 0 when
    ``check_record`` says; a command that returns a dict (a metric) has it written as
    ``result.json`` and shown.
    Items that went non-finite (``RunContext.finite``) are listed in ``result.json`` under
    ``failed`` and the run ends with a ``NonFiniteError`` once every other item is written.
    """
    from i2i_cli.io.outputs import check_apart, check_not_blocked, make_output_folder
    from i2i_cli.run.run_lock import holding_run_folder
    from i2i_cli.run.runtime import torchrun_placement

    output = resolved.run.output
    assert output is not None
    run = plugin.function(capability.function)  # a reference that does not import fails here
    check_not_blocked(output)
    run_format = getattr(resolved.run, "output_format", "png")
    check_apart(output, getattr(resolved.run, "input", None), run_format)
    made = _missing_folders(output)
    make_output_folder(output)
    main = torchrun_placement().is_main
    with holding_run_folder(output, main=main) as lock:
        before = None if os.path.lexists(output / RUN_RECORD) else _names(output)
        try:
            plan = check_record(capability, name, plugin, resolved)
            _execute_in(capability, name, run, resolved, plan, output, threads)
        except BaseException:
            if main:
                if lock is not None:
                    lock.release()
                _clear_failed_start(output, made, before)
            raise


def _missing_folders(output: Path) -> list[Path]:
    """``output`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for folder in (output, *output.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _names(folder: Path) -> frozenset[str]:
    """The names in ``folder`` other than hidden ones (temporary files, the lock)."""
    try:
        return frozenset(name for name in os.listdir(folder) if not name.startswith("."))
    except OSError:
        return frozenset()


def _clear_failed_start(output: Path, made: list[Path], before: frozenset[str] | None) -> None:
    """Undo what a run that failed before writing any output left in ``output``.

    ``before``: the names the folder held when the run began (None: it held a ``run.toml``,
    which is kept). The records this run wrote (``run.toml``, ``inputs.json``) go when nothing
    else is new, then the folders the run made, while they are empty; nothing that was there
    before is touched.
    """
    from i2i_cli.io.input_record import INPUTS_RECORD

    new = _names(output) - before if before is not None else None
    if new is not None and new <= {RUN_RECORD, INPUTS_RECORD}:
        for name in new:
            with suppress(OSError):
                (output / name).unlink(missing_ok=True)
    _remove_if_empty(made)


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
    from i2i_cli.base.atomic import write_atomic_text
    from i2i_cli.io.run_record import mark_unfinished
    from i2i_cli.run.context import open_context
    from i2i_cli.run.nonfinite import NonFiniteError, result_with_failures

    with open_context(
        capability.command, name, resolved.task, resolved.run, output, threads
    ) as ctx:
        record = resolved.record(capability, name)
        main = ctx.runtime.is_main
        if _already_finished(capability, name, resolved, plan, record, ctx):
            return
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
        content = _with_arrays(
            capability, output, result_with_failures(_read_result(output / RESULT), shown, failures)
        )
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


def _already_finished(
    capability: Capability,
    name: str,
    resolved: Resolved,
    plan: RecordPlan,
    record: Mapping[str, Any],
    ctx: Any,
) -> bool:
    """Whether the folder holds every output of a point run with these settings: said, shown.

    ``i2i_cli.run.finished_runs``: its ``result.json`` and the arrays listed there, recorded with
    the same settings and ``--num-samples``; ``--overwrite`` redoes them. The same run with
    another ``--num-samples`` would replace them (a point run draws all at once): refused.
    """
    from i2i_cli.io.run_record import read_record
    from i2i_cli.run.finished_runs import finished_outputs, same_count

    if not (capability.keeps_done and plan.same) or getattr(resolved.run, "overwrite", False):
        return False
    output = ctx.output
    finished = finished_outputs(output)
    if finished is None:
        return False
    previous = read_record(output)
    if not same_count(previous, record):
        raise UsageError(
            f"{output} holds the outputs of the same run with another --num-samples "
            f"({', '.join(finished)}), which this run would replace: pass --overwrite to "
            "redo them, or choose another --output"
        )
    ctx.log(
        f"{output} already holds this run's outputs ({', '.join(finished)}); nothing to do "
        "(pass --overwrite to redo them)"
    )
    shown = _read_result(output / RESULT)
    if shown is not None and ctx.runtime.is_main:
        from i2i_cli.run.finished_runs import FILES_KEY

        print_result(name, {key: value for key, value in shown.items() if key != FILES_KEY})
    return True


def _with_arrays(
    capability: Capability, output: Path, content: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``content`` of a run's ``result.json`` with the arrays it wrote beside it (point runs)."""
    from i2i_cli.run.finished_runs import FILES_KEY, written_arrays

    if content is None or not capability.keeps_done:
        return content
    arrays = written_arrays(output)
    return {**content, FILES_KEY: arrays} if arrays else content


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
