"""The ``i2i`` executable: download, translate, sample, train, evaluate, plugins."""

from __future__ import annotations

import typer

from i2i_cli.commands.download import download
from i2i_cli.commands.plugin_commands import (
    EvaluateGroup,
    SampleGroup,
    TrainGroup,
    TranslateGroup,
    report_errors,
)
from i2i_cli.commands.plugins import plugins

app = typer.Typer(
    name="i2i",
    help="Diffusion-based image-to-image translation: EGSDE, DDIB, DG, SDE-BBDM, SDDM, "
    "SDEdit and ILVR behind one command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)

app.command("download", help="Fetch, list and verify checkpoints (sha256-checked, resumable).")(
    download
)
app.command("plugins", help="Every registered plugin, its distribution and whether it loads.")(
    lambda: report_errors(plugins)
)
app.add_typer(
    typer.Typer(cls=TranslateGroup, no_args_is_help=True),
    name="translate",
    help="Translate images with a method: i2i translate <method> --task NAME --input DIR.",
)
app.add_typer(
    typer.Typer(cls=SampleGroup, no_args_is_help=True),
    name="sample",
    help="Draw samples with a method: i2i sample <method> --num-samples N.",
)
app.add_typer(
    typer.Typer(cls=TrainGroup, no_args_is_help=True),
    name="train",
    help="Train a model with a trainer plugin: i2i train <trainer> --task NAME.",
)
app.add_typer(
    typer.Typer(cls=EvaluateGroup, no_args_is_help=True),
    name="evaluate",
    help="Evaluate images with a metric: i2i evaluate <metric> --images DIR.",
)


def main() -> None:
    """Entry point of the ``i2i`` console script and ``python -m i2i_cli``."""
    app(prog_name="i2i")
