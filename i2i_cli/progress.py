"""Progress bars and the closing summary: an outer bar of items, an inner bar of sampler steps.

Bars are drawn only on a terminal and only on rank 0; elsewhere every call is a no-op, so
samplers and pipelines call them unconditionally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

StepCallback = Callable[[Mapping[str, Any]], None]
"""Per-step sampler callback: receives ``{"i": step index, "total": steps, ...}``."""


def no_step(info: Mapping[str, Any]) -> None:
    """A step callback that does nothing."""


@dataclass
class RunProgress:
    """Items and sampler-step bars for one run, plus the counts for its closing summary."""

    console: Console
    enabled: bool
    done: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.perf_counter)
    _bars: Progress | None = None
    _items: TaskID | None = None
    _steps: TaskID | None = None

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._bars = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._bars.start()
        self.started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None

    def start_items(self, total: int, description: str = "images") -> None:
        """Open (or reset) the outer bar over ``total`` items."""
        if self._bars is None:
            return
        if self._items is None:
            self._items = self._bars.add_task(description, total=total)
        else:
            self._bars.reset(self._items, total=total, description=description)

    def advance_items(self, count: int = 1) -> None:
        """Count ``count`` finished items."""
        self.done += count
        if self._bars is not None and self._items is not None:
            self._bars.advance(self._items, count)

    def skip_items(self, count: int = 1) -> None:
        """Count items skipped because they were unreadable (they still move the outer bar)."""
        self.skipped += count
        if self._bars is not None and self._items is not None:
            self._bars.advance(self._items, count)

    def step_callback(self, description: str = "steps") -> StepCallback:
        """A sampler callback that drives the inner bar; the bar's length is ``info["total"]``."""
        if self._bars is None:
            return no_step
        bars = self._bars
        if self._steps is None:
            self._steps = bars.add_task(description, total=None)
        else:
            bars.reset(self._steps, total=None, description=description)
        steps = self._steps

        def on_step(info: Mapping[str, Any]) -> None:
            bars.update(steps, completed=int(info["i"]) + 1, total=info.get("total"))

        return on_step

    def summary(self, noun: str = "images") -> str:
        """The closing line: items done (and skipped), seconds, items per second."""
        seconds = time.perf_counter() - self.started
        rate = self.done / seconds if seconds > 0 else 0.0
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return f"{self.done} {noun}{skipped} in {seconds:.1f} s ({rate:.2f} {noun}/s)"
