"""Progress bars and the closing summary: an outer bar of items, an inner bar of sampler steps.

Bars are drawn only on a terminal and only on rank 0. When rank 0 writes to a log file or a
cluster job's output instead, one plain progress line is printed at a fixed interval (items done,
the current sampler step, rate and time left). Elsewhere every call is a no-op, so samplers and
pipelines call them unconditionally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
from rich.text import Text

from i2i_cli.base.wording import counted
from i2i_cli.diffusion.steps import StepCallback, no_step  # the samplers' callback

LINE_INTERVAL = 30.0
"""Seconds between plain progress lines when the output is not a terminal."""


class LeftColumn(TimeRemainingColumn):
    """Rich's time left, or for the items bar (a ``left`` field) the run's own estimate."""

    def render(self, task: Any) -> Text:
        """The time left as ``H:MM:SS`` (``-:--:--`` while nothing has finished)."""
        if "left" not in task.fields:
            return super().render(task)
        left = task.fields["left"]
        if left is None:
            return Text("-:--:--", style="progress.remaining")
        minutes, seconds = divmod(round(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"{hours}:{minutes:02d}:{seconds:02d}", style="progress.remaining")


@dataclass
class RunProgress:
    """Items and sampler-step bars for one run, plus the counts for its closing summary.

    ``enabled``: draw bars (a terminal). ``lines``: print a plain line every ``interval``
    seconds instead (a log file); ``clock`` gives the time in seconds.

    The rate and the time left count only the items worked on (``done``), from when the items
    began to when the last one finished; items skipped (unreadable, failed) are not work. A run
    without items (2-D points) counts the sampler's steps. Nothing is estimated before the
    first item (or step) finishes.
    """

    console: Console
    enabled: bool
    lines: bool = False
    interval: float = LINE_INTERVAL
    clock: Callable[[], float] = time.perf_counter
    done: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.perf_counter)
    _bars: Progress | None = None
    _items: TaskID | None = None
    _steps: TaskID | None = None
    _total: int | None = None
    _noun: str = "images"
    _step: tuple[int, int | None] | None = None
    _last_line: float = field(default=0.0, repr=False)
    _work_started: float | None = field(default=None, repr=False)
    _last_done: float | None = field(default=None, repr=False)
    _step_origin: tuple[int, float] | None = field(default=None, repr=False)

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._bars = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                LeftColumn(),
                console=self.console,
                transient=False,
            )
            self._bars.start()
        self.started = self._last_line = self.clock()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None

    def start_items(self, total: int, description: str = "images") -> None:
        """Open (or reset) the outer bar over ``total`` items."""
        self._total, self._noun = total, description
        self._work_started, self._last_done = self.clock(), None
        if self._bars is None:
            return
        if self._items is None:
            self._items = self._bars.add_task(description, total=total, left=None)
        else:
            self._bars.reset(self._items, total=total, description=description, left=None)

    def advance_items(self, count: int = 1) -> None:
        """Count ``count`` finished items."""
        self.done += count
        self._last_done = self.clock()
        self._step = None
        self._update_bar(count)
        self._maybe_line()

    def skip_items(self, count: int = 1) -> None:
        """Count items skipped because they were unreadable (they still move the outer bar)."""
        self.skipped += count
        self._update_bar(count)

    def _update_bar(self, count: int = 0) -> None:
        """Move the items bar by ``count`` and give it the time left."""
        if self._bars is not None and self._items is not None:
            self._bars.update(self._items, advance=count, left=self.time_left(self.clock()))

    def step_callback(self, description: str = "steps") -> StepCallback:
        """A sampler callback that drives the inner bar; the bar's length is ``info["total"]``."""
        if self._bars is None and self.lines:

            def on_step_line(info: Mapping[str, Any]) -> None:
                self._note_step(int(info["i"]) + 1, info.get("total"))
                self._maybe_line()

            return on_step_line
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
            self._note_step(int(info["i"]) + 1, info.get("total"))
            self._update_bar()

        return on_step

    def _note_step(self, step: int, steps: int | None) -> None:
        """The sampler's current step; a new chain of steps starts the step clock again."""
        if self._step is None or step <= self._step[0] or self._step_origin is None:
            self._step_origin = (step, self.clock())
        self._step = (step, steps)

    def _maybe_line(self) -> None:
        """Print a progress line when lines are on and the interval has passed since the last."""
        if not self.lines:
            return
        now = self.clock()
        if now - self._last_line < self.interval:
            return
        self._last_line = now
        self.console.print(self.line(now), highlight=False, soft_wrap=True)

    def line(self, now: float) -> str:
        """``images 12/500, step 40/100, 0.35 images/s, 23 min left`` (what is known so far).

        The unit is the bar label's first word (``steps 1001-6000`` counts ``steps``); a run
        without items shows its sampler's step and rate in ``steps/s``.
        """
        seconds = max(now - self.started, 1e-9)
        unit = self._noun.split(" ", 1)[0]
        parts = [f"{unit} {self.done + self.skipped}/{self._total}"] if self._total else []
        if self._step is not None:
            step, steps = self._step
            parts.append(f"step {step}/{steps}" if steps else f"step {step}")
        rate = self.rate(now)
        if rate is not None:
            parts.append(f"{rate[0]:.2f} {rate[1]}/s")
        left = self.time_left(now)
        if left is not None:
            parts.append(f"{left / 60:.0f} min left" if left >= 120 else f"{left:.0f} s left")
        parts.append(f"{seconds:.0f} s elapsed")
        return ", ".join(parts)

    def rate(self, now: float) -> tuple[float, str] | None:
        """Items finished per second, with the unit; before the first item (or in a run
        without items) the sampler's steps per second. None until one of them finishes."""
        if self._total and self.done and self._last_done is not None:
            assert self._work_started is not None
            return self.done / max(self._last_done - self._work_started, 1e-9), (
                self._noun.split(" ", 1)[0]
            )
        if self._step is None or self._step_origin is None:
            return None
        first, since = self._step_origin
        if self._step[0] <= first or now <= since:
            return None
        return (self._step[0] - first) / (now - since), "steps"

    def time_left(self, now: float) -> float | None:
        """Seconds left at the rate of the work finished so far (None before any finished).

        Counted from the last finished item, so it never grows while the run keeps its pace.
        """
        rate = self.rate(now)
        if rate is None or rate[0] <= 0:
            return None
        if self._total:
            if not self.done or self._last_done is None:
                return None  # an item's steps do not say how many items a batch holds
            remaining = self._total - self.done - self.skipped
            return max(remaining / rate[0] - (now - self._last_done), 0.0)
        assert self._step is not None
        step, steps = self._step
        return (steps - step) / rate[0] if steps else None

    def summary(self, noun: str = "images", counts: tuple[int, int] | None = None) -> str:
        """The closing line: items done (and skipped), seconds, items per second.

        ``counts`` (done, skipped) replaces this process's own, e.g. with a torchrun job's sums.
        """
        done, skipped = counts if counts is not None else (self.done, self.skipped)
        seconds = self.clock() - self.started
        rate = done / seconds if seconds > 0 else 0.0
        left = f", {skipped} skipped" if skipped else ""
        return f"{counted(done, noun)}{left} in {seconds:.1f} s ({rate:.2f} {noun}/s)"
