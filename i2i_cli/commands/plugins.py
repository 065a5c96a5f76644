"""``i2i plugins``: every registered plugin, where it comes from, and whether it loads."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from i2i_cli.registry import Registry


def plugins() -> None:
    """List every registered method, backbone, energy, metric, trainer and checkpoint manifest."""
    registry = Registry.discover()
    table = Table(title="i2i plugins", show_lines=False)
    for column in ("kind", "name", "distribution", "status"):
        table.add_column(column, overflow="fold")
    for entry in registry.all_entries():
        problem = registry.health(entry)
        status = "[green]ok[/green]" if problem is None else f"[red]error[/red]: {problem}"
        table.add_row(entry.kind, entry.name, entry.origin, status)
    Console(soft_wrap=False).print(table)
