"""The ``i2i`` executable: download, translate, sample, train, evaluate, plugins."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from i2i_cli.cli.commands.download import download
from i2i_cli.cli.commands.plugin_commands import (
    EvaluateGroup,
    PluginGroup,
    SampleGroup,
    TrainGroup,
    TranslateGroup,
)
from i2i_cli.cli.commands.plugins import plugins
from i2i_cli.run.shutdown import quiet_exit_path
from i2i_cli.run.threads import THREADS_KEY

app = typer.Typer(
    name="i2i",
    help="Diffusion-based image-to-image translation: EGSDE, DDIB, DG, SDE-BBDM, SDDM, "
    "SDEdit and ILVR behind one command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)

THREADS_HELP = (
    "CPU threads to compute on. Default: one per core this process may use that other jobs "
    "leave free (measured at the start; 1 on a busy machine), or OMP_NUM_THREADS when set."
)


@app.callback()
def options(
    ctx: typer.Context,
    threads: Annotated[
        Optional[int],  # noqa: UP045 - Typer reads Optional
        typer.Option("--threads", min=1, max=1024, help=THREADS_HELP, show_default=False),
    ] = None,
) -> None:
    """Options of every command, kept for the command that runs (``i2i_cli.run.threads``)."""
    ctx.meta[THREADS_KEY] = threads


app.command("download", help="Fetch, list and verify checkpoints (sha256-checked, resumable).")(
    download
)
app.command(
    "plugins",
    help="Every registered plugin, its distribution and whether it loads; --inspect FILE "
    "--backbone NAME: what a weights file records of its network.",
)(plugins)

PLUGIN_GROUPS: tuple[tuple[type[PluginGroup], str], ...] = (
    (
        TranslateGroup,
        "Translate images with a method: i2i translate <method> --task NAME --input DIR.",
    ),
    (SampleGroup, "Draw samples with a method: i2i sample <method> --num-samples N."),
    (TrainGroup, "Train a model with a trainer plugin: i2i train <trainer> --task NAME."),
    (EvaluateGroup, "Evaluate images with a metric: i2i evaluate <metric> --images DIR."),
)
"""The commands whose subcommands are the registered plugins, with their help."""


def _add_plugin_groups(root: typer.Typer) -> None:
    """``i2i translate|sample|train|evaluate``, each with one subcommand per registered plugin."""
    for group, help_text in PLUGIN_GROUPS:
        command = group.capability.command
        root.add_typer(typer.Typer(cls=group, no_args_is_help=True), name=command, help=help_text)


_add_plugin_groups(app)


def main() -> None:
    """Entry point of the ``i2i`` console script and ``python -m i2i_cli``.

    Once the command ends, a Ctrl-C during Python's own shutdown ends the process quietly
    (``i2i_cli.run.shutdown``).
    """
    try:
        app(prog_name="i2i")
    finally:
        quiet_exit_path()
