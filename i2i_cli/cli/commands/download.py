"""``i2i download``: fetch checkpoints by name or experiment; list, verify or adopt them.

i2i download NAME... [--exp X]... [--force]   fetch (sha256-checked, resumable)
i2i download --list [NAME...] [--exp X]...     what exists, what is cached, what is unreleased
i2i download --verify [NAME...] [--exp X]...   rehash cached files (default: every cached one)
i2i download --from FILE NAME [--force]        adopt a hand-downloaded file after checking it
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from i2i_cli.base.errors import I2IError, RunError, UsageError
from i2i_cli.checkpoints.manifest import Artifact
from i2i_cli.checkpoints.store import CheckpointStore, UnreleasedError

USAGE_HINT = (
    "usage: i2i download NAME... | --exp EXPERIMENT... | --list | --verify | --from FILE NAME\n"
    "see `i2i download --list` for the artifacts and `i2i download --help` for the options"
)

VERIFIED_TEXT = {
    "verified": "yes",
    "structure": "structure",
    "recorded": "recorded",
    "unverified": "never",
    "changed": "changed",
    "mismatch": "MISMATCH",
    None: "-",
}
"""How ``--list`` shows each verification state (see ``i2i_cli.checkpoints.cache.Verified``)."""


@dataclass(frozen=True)
class DownloadRequest:
    """What the command line asked for."""

    names: tuple[str, ...]
    experiments: tuple[str, ...]
    show_list: bool
    verify: bool
    from_file: Path | None
    force: bool

    def is_empty(self) -> bool:
        """True when nothing at all was asked for."""
        return not (self.names or self.experiments or self.show_list or self.verify) and (
            self.from_file is None
        )

    def check(self) -> None:
        """Reject combinations that mean nothing: two modes, or --from without one name."""
        modes = [self.show_list, self.verify, self.from_file is not None]
        if sum(modes) > 1:
            raise UsageError("--list, --verify and --from cannot be combined")
        if self.from_file is not None and (len(self.names) != 1 or self.experiments):
            raise UsageError(
                "--from takes exactly one artifact name: i2i download --from FILE NAME"
            )


NAMES = typer.Argument(metavar="NAME", help="Artifact names (see --list).", show_default=False)
EXPERIMENTS = typer.Option(
    "--exp",
    "-e",
    metavar="EXPERIMENT",
    help="Every artifact an experiment needs, e.g. egsde, imagenet, synthetic, dg, edm, "
    "fid, ilvr, sddm, bbdm. Repeatable.",
    show_default=False,
)
SHOW_LIST = typer.Option("--list", help="Show the artifacts: size, status, cached, verified.")
VERIFY = typer.Option("--verify", help="Rehash cached files (the selected ones, else all).")
FROM_FILE = typer.Option(
    "--from",
    metavar="FILE",
    help="Put a hand-downloaded FILE into the cache as NAME, after checking its hash.",
    show_default=False,
)
FORCE = typer.Option("--force", help="Download (or adopt) again even if already cached.")


def download(
    names: Annotated[Optional[list[str]], NAMES] = None,  # noqa: UP045 - Typer reads Optional
    experiments: Annotated[Optional[list[str]], EXPERIMENTS] = None,  # noqa: UP045
    show_list: Annotated[bool, SHOW_LIST] = False,
    verify: Annotated[bool, VERIFY] = False,
    from_file: Annotated[Optional[Path], FROM_FILE] = None,  # noqa: UP045
    force: Annotated[bool, FORCE] = False,
) -> None:
    """Fetch checkpoints by name or experiment (sha256-checked, resumable), list or verify them."""
    request = DownloadRequest(
        names=tuple(names or ()),
        experiments=tuple(experiments or ()),
        show_list=show_list,
        verify=verify,
        from_file=from_file,
        force=force,
    )
    if request.is_empty():
        typer.echo(USAGE_HINT, err=True)
        raise typer.Exit(2)
    try:
        run_download(
            request,
            Console(highlight=False, markup=False),
            Console(stderr=True, highlight=False, markup=False),
        )
    except I2IError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: partial downloads are kept; rerun to resume", err=True)
        raise typer.Exit(130) from None


def run_download(request: DownloadRequest, out: Console, err: Console) -> None:
    """Carry out one ``i2i download`` request; failures raise I2IError."""
    request.check()
    store = CheckpointStore.open()
    if request.from_file is not None:
        fetched = store.adopt(request.names[0], request.from_file, force=request.force)
        out.print(fetched.describe(), soft_wrap=True)
        return
    chosen = request.names or request.experiments
    selection = store.select(request.names, request.experiments) if chosen else None
    if request.show_list:
        out.print(f"cache: {store.root}", soft_wrap=True)
        out.print(listing(store, selection or store.artifacts(), out.width), soft_wrap=True)
    elif request.verify:
        verify_cached(store, selection, out)
    else:
        fetch_all(store, selection or [], set(request.names), request.force, out, err)


def listing(store: CheckpointStore, artifacts: Sequence[Artifact], width: int) -> Table | str:
    """The ``--list`` table when it fits in ``width`` columns, else one block per artifact (its
    experiments on a second line), so nothing is cut to an ellipsis."""
    table = listing_table(store, artifacts)
    if not artifacts or Console(width=100_000).measure(table).maximum <= width:
        return table
    blocks = []
    for artifact in artifacts:
        status = store.status(artifact.name)
        cached = "cached" if status.cached else "not cached"
        blocks.append(
            f"{artifact.name}  {status.size_text().strip()}  {artifact.status}  {cached}  "
            f"verified: {VERIFIED_TEXT[status.verified]}\n"
            f"    experiments: {', '.join(artifact.experiments) or '-'}"
        )
    return "\n".join(blocks)


def listing_table(store: CheckpointStore, artifacts: Sequence[Artifact]) -> Table:
    """The ``--list`` table: name, experiments, size, status, cached, verified."""
    table = Table(box=None, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("experiments")
    table.add_column("size", no_wrap=True, justify="right")
    table.add_column("status", no_wrap=True)
    table.add_column("cached", no_wrap=True)
    table.add_column("verified", no_wrap=True)
    for artifact in artifacts:
        status = store.status(artifact.name)
        table.add_row(
            artifact.name,
            ", ".join(artifact.experiments) or "-",
            status.size_text(),
            artifact.status,
            "yes" if status.cached else "no",
            VERIFIED_TEXT[status.verified],
        )
    return table


def verify_cached(store: CheckpointStore, selection: list[Artifact] | None, out: Console) -> None:
    """Rehash the selected cached files (all cached ones without a selection); report each."""
    targets = selection if selection is not None else store.artifacts()
    cached = [artifact for artifact in targets if store.is_cached(artifact.name)]
    for artifact in targets:
        if selection is not None and not store.is_cached(artifact.name):
            out.print(f"{artifact.name}: not cached", soft_wrap=True)
    if not cached:
        out.print(f"nothing to verify in {store.root}", soft_wrap=True)
        return
    failed = []
    for artifact in cached:
        check = store.verify(artifact.name)
        out.print(check.describe(), soft_wrap=True)
        if not check.ok:
            failed.append(artifact.name)
    if failed:
        raise RunError(
            f"{len(failed)} of {len(cached)} cached files failed verification: "
            f"{', '.join(failed)}; fetch them again with `i2i download --force NAME`"
        )


def fetch_all(
    store: CheckpointStore,
    artifacts: Sequence[Artifact],
    named: set[str],
    force: bool,
    out: Console,
    err: Console,
) -> None:
    """Download each artifact; unreleased ones are skipped unless named; failures summed up."""
    failures: list[I2IError] = []
    for artifact in artifacts:
        if not artifact.released and artifact.name not in named:
            out.print(f"{artifact.name}: skipped, unreleased: {artifact.note}", soft_wrap=True)
            continue
        try:
            with transfer_bar(err, artifact.name) as progress:
                fetched = store.download(artifact.name, force=force, progress=progress)
        except I2IError as error:
            if len(artifacts) == 1:
                raise
            err.print(f"failed: {error}", soft_wrap=True, markup=False)
            failures.append(error)
            continue
        out.print(fetched.describe(), soft_wrap=True)
    if failures:
        raise _summary(failures, len(artifacts))


def _summary(failures: list[I2IError], total: int) -> I2IError:
    """One error for several failed downloads, with the exit code of the first."""
    unreleased = [error for error in failures if isinstance(error, UnreleasedError)]
    error = I2IError(
        f"{len(failures)} of {total} artifacts could not be downloaded"
        + (f" ({len(unreleased)} unreleased)" if unreleased else "")
    )
    error.exit_code = failures[0].exit_code
    return error


@contextmanager
def transfer_bar(console: Console, name: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress callback drawing one transfer bar on a terminal (nothing elsewhere)."""
    bars = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = bars.add_task(name, total=None)

    def update(done: int, total: int | None) -> None:
        bars.update(task, completed=done, total=total)

    with bars:
        yield update
