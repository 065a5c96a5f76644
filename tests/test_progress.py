"""Progress: bars on a terminal only, a sampler-step bar fed by the callback, a closing summary."""

from __future__ import annotations

import io
from itertools import pairwise

from rich.console import Console

from i2i_cli.run.progress import RunProgress, no_step


def test_disabled_progress_draws_nothing_but_still_counts() -> None:
    stream = io.StringIO()
    with RunProgress(console=Console(file=stream), enabled=False) as progress:
        progress.start_items(3)
        assert progress.step_callback() is no_step
        progress.advance_items(2)
        progress.skip_items()
    assert stream.getvalue() == ""
    assert (progress.done, progress.skipped) == (2, 1)
    assert progress.summary().startswith("2 images, 1 skipped in ")
    assert "images/s" in progress.summary()


def test_enabled_progress_draws_item_and_step_bars() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    with RunProgress(console=console, enabled=True) as progress:
        progress.start_items(2)
        on_step = progress.step_callback()
        for i in range(5):
            on_step({"i": i, "total": 5})
        progress.advance_items(2)
    drawn = stream.getvalue()
    assert "images" in drawn
    assert "steps" in drawn
    assert "5/5" in drawn
    assert "2/2" in drawn


class FakeClock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_a_plain_line_is_printed_at_each_interval() -> None:
    stream, clock = io.StringIO(), FakeClock()
    console = Console(file=stream, width=200)
    with RunProgress(console=console, enabled=False, lines=True, clock=clock) as progress:
        progress.start_items(4)
        on_step = progress.step_callback()
        on_step({"i": 0, "total": 10})
        assert stream.getvalue() == ""
        clock.now += 31
        on_step({"i": 4, "total": 10})
        clock.now += 10
        progress.advance_items()
        clock.now += 25
        progress.advance_items()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "images 0/4, step 5/10, 0.13 steps/s, 31 s elapsed",
        "images 2/4, 0.03 images/s, 66 s left, 66 s elapsed",
    ]
    assert "\x1b" not in stream.getvalue()


def test_a_labelled_range_counts_in_its_unit() -> None:
    """The training bar ``steps 1001-1004``: lines count and rate in ``steps``, not the label."""
    stream, clock = io.StringIO(), FakeClock()
    console = Console(file=stream, width=200)
    with RunProgress(console=console, enabled=False, lines=True, clock=clock) as progress:
        progress.start_items(4, "steps 1001-1004")
        clock.now += 40
        progress.advance_items(2)
    assert stream.getvalue().splitlines() == ["steps 2/4, 0.05 steps/s, 40 s left, 40 s elapsed"]


def _seconds_left(line: str) -> float:
    """The time left a progress line gives, in seconds."""
    part = next(part for part in line.split(", ") if part.endswith(" left"))
    number, unit = part.split()[:2]
    return float(number) * (60 if unit == "min" else 1)


def test_the_time_left_never_grows_while_the_run_keeps_its_pace() -> None:
    """Issue 29: 10 s an item, 1 s a step: the estimate only falls, between items too."""
    stream, clock = io.StringIO(), FakeClock()
    console = Console(file=stream, width=200)
    with RunProgress(console=console, enabled=False, lines=True, interval=0, clock=clock) as p:
        p.start_items(6)
        on_step = p.step_callback()
        for _ in range(6):
            for i in range(10):
                clock.now += 1
                on_step({"i": i, "total": 10})
            p.advance_items()
    lines = stream.getvalue().splitlines()
    left = [_seconds_left(line) for line in lines if line.endswith("elapsed") and "left" in line]
    assert len(left) > 40
    assert all(later <= earlier for earlier, later in pairwise(left)), left


def test_before_the_first_item_finishes_no_item_rate_is_shown_only_steps() -> None:
    """No "0.00 images/s" and no time left from nothing: then the sampler's steps per second."""
    stream, clock = io.StringIO(), FakeClock()
    console = Console(file=stream, width=200)
    with RunProgress(console=console, enabled=False, lines=True, interval=0, clock=clock) as p:
        p.start_items(3)
        on_step = p.step_callback()
        clock.now += 5
        assert p.line(clock.now) == "images 0/3, 5 s elapsed"
        for i in range(3):
            on_step({"i": i, "total": 200})
            clock.now += 4
    last = stream.getvalue().splitlines()[-1]
    assert last == "images 0/3, step 3/200, 0.25 steps/s, 13 s elapsed"


def test_a_run_on_points_counts_its_sampler_steps() -> None:
    """``i2i sample dg`` on points has no items: its line is steps, never ``0.00 images/s``."""
    stream, clock = io.StringIO(), FakeClock()
    console = Console(file=stream, width=200)
    with RunProgress(console=console, enabled=False, lines=True, interval=0, clock=clock) as p:
        on_step = p.step_callback()
        for i in range(15):
            on_step({"i": i, "total": 18})
            clock.now += 2
    last = stream.getvalue().splitlines()[-1]
    assert "images" not in last
    assert last.startswith("step 15/18, 0.50 steps/s, 6 s left"), last


def test_items_skipped_are_not_counted_as_work_in_the_rate_or_time_left() -> None:
    clock = FakeClock()
    with RunProgress(console=Console(file=io.StringIO()), enabled=False, clock=clock) as p:
        p.start_items(10)
        p.skip_items(5)
        clock.now += 10
        p.advance_items()
        assert p.line(clock.now) == "images 6/10, 0.10 images/s, 40 s left, 10 s elapsed"
