"""The run context a plugin's command receives: runtime, output folder, progress, checkpoints."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from i2i_cli.run.progress import RunProgress

if TYPE_CHECKING:
    from i2i_cli.checkpoints.store import CheckpointStore
    from i2i_cli.run.nonfinite import FiniteWatch
    from i2i_cli.run.run_settings import RunSettings
    from i2i_cli.run.runtime import Runtime


def _finite_watch() -> FiniteWatch:
    """A fresh watch for NaN and infinity in the run's batches (``i2i_cli.run.nonfinite``)."""
    from i2i_cli.run.nonfinite import FiniteWatch

    return FiniteWatch()


@dataclass
class RunContext:
    """Everything a plugin needs besides its settings; built by the CLI once settings validate."""

    command: str
    plugin: str
    task: str | None
    run: RunSettings
    runtime: Runtime
    output: Path
    progress: RunProgress
    console: Console = field(repr=False)
    finite: FiniteWatch = field(default_factory=_finite_watch, repr=False)
    """Where the run's batches went non-finite: networks, guidance and state are checked."""
    parts: int = 1
    """Independent parts of one job that may compute side by side on the CPU (DDIB's points:
    ``i2i_cli.run.threads.side_by_side``)."""

    @cached_property
    def store(self) -> CheckpointStore:
        """The checkpoint store (``$I2I_HOME`` or the user cache), opened on first use."""
        from i2i_cli.checkpoints.store import CheckpointStore

        return CheckpointStore.open()

    def checkpoint(self, name: str) -> Path:
        """The cached file of artifact ``name``; missing -> one line with the download command."""
        return self.store.require(name)

    def log(self, message: str) -> None:
        """Print a line on rank 0 only (to stderr, so stdout stays clean for data)."""
        if self.runtime.is_main:
            self.console.print(message)


def stderr_console() -> Console:
    """The console progress and logs go to."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


@contextmanager
def open_context(
    command: str,
    plugin: str,
    task: str | None,
    run: RunSettings,
    output: Path,
    threads: int | None = None,
) -> Iterator[RunContext]:
    """A ``RunContext`` with a live runtime and progress bars, closed cleanly on exit.

    torch's thread count is set first: ``threads`` (``--threads``), else as
    ``i2i_cli.run.threads.apply_threads`` chooses.
    """
    from i2i_cli.run.runtime import create_runtime, shutdown_runtime
    from i2i_cli.run.threads import apply_threads, side_by_side

    parts = side_by_side(apply_threads(threads))

    precision = getattr(run, "precision", "fp32")
    seed = getattr(run, "seed", 0)
    options = {name: bool(getattr(run, name, False)) for name in ("compile", "channels_last")}
    runtime = create_runtime(run.device, precision, seed, **options)
    console = stderr_console()
    show_bars = runtime.is_main and console.is_terminal
    try:
        lines = runtime.is_main and not console.is_terminal
        with RunProgress(console=console, enabled=show_bars, lines=lines) as progress:
            yield RunContext(
                command=command,
                plugin=plugin,
                task=task,
                run=run,
                runtime=runtime,
                output=output,
                progress=progress,
                console=console,
                parts=parts,
            )
        runtime.barrier()  # no rank leaves the group while another's collectives are in flight
    finally:
        shutdown_runtime(runtime)
