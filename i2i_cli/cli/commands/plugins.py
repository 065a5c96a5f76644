"""``i2i plugins``: every registered plugin, where it comes from, and whether it loads.

``i2i plugins --inspect FILE --backbone NAME`` says what a weights file records of its network
(an EDM pickle's class and constructor arguments, an i2i trainer's ``backbone.toml``): the
settings it is built with, whatever the preset says, or that it records nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from i2i_cli.api.registry import Registry
from i2i_cli.base.errors import UsageError


def plugins(
    inspect: Annotated[
        Optional[Path],  # noqa: UP045 - Typer reads Optional
        typer.Option(
            "--inspect",
            help="A weights file: print what it records of its network (with --backbone).",
        ),
    ] = None,
    backbone: Annotated[
        Optional[str],  # noqa: UP045 - Typer reads Optional
        typer.Option("--backbone", help="The backbone that reads the --inspect file."),
    ] = None,
) -> None:
    """List every registered method, backbone, energy, metric, trainer and checkpoint manifest."""
    from i2i_cli.cli.commands.reporting import report_errors

    if inspect is not None or backbone is not None:
        report_errors(lambda: inspect_weights(inspect, backbone))
        return
    report_errors(list_plugins)


def list_plugins() -> None:
    """The table of every registered plugin and whether it loads."""
    registry = Registry.discover()
    table = Table(title="i2i plugins", show_lines=False)
    for column in ("kind", "name", "distribution", "status"):
        table.add_column(column, overflow="fold")
    for entry in registry.all_entries():
        problem = registry.health(entry)
        status = "[green]ok[/green]" if problem is None else f"[red]error[/red]: {problem}"
        table.add_row(entry.kind, entry.name, entry.origin, status)
    Console(soft_wrap=False).print(table)


def inspect_weights(path: Path | None, backbone: str | None) -> None:
    """Print what ``path`` records of its network as backbone ``backbone`` reads it."""
    from i2i_cli.api.settings import to_toml
    from i2i_cli.checkpoints.structure import file_contents

    if path is None or backbone is None:
        raise UsageError("--inspect FILE and --backbone NAME go together")
    if not path.is_file():
        raise UsageError(f"--inspect {path}: no such file")
    shapes, record = file_contents(backbone, path)
    if record is None:
        sys.stdout.write(
            f"{path}: records no network ({len(shapes)} tensors); {backbone} builds it from "
            "the preset and settings, and checks the tensors' keys and shapes\n"
        )
        return
    sys.stdout.write(
        f"# {path} records {record.recorded_as} ({len(shapes)} tensors); {backbone} builds "
        "exactly this, and a preset or --set value that contradicts it is refused\n"
    )
    sys.stdout.write(to_toml(dict(record.settings)))
