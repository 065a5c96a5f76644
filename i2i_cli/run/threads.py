"""How many CPU threads a run computes on, chosen from the cores it may use and how busy they are.

torch starts one intra-op thread per core. On a small machine shared with other jobs that is
the worst choice: each op waits for its slowest thread, and a thread that another job keeps off
its core stalls every op (on 2 busy cores, 2 threads made DDIB's 2-D model 12x slower than 1).
So at the start of every command that computes (``apply_threads``), unless the user chose:

- ``--threads N`` sets N;
- ``OMP_NUM_THREADS`` set in the environment is left to torch, which read it at import;
- otherwise ``choose_threads`` takes the cores this process may use (``os.sched_getaffinity``)
  less the cores' worth other processes keep busy (``/proc/stat`` over ``WINDOW_S`` seconds;
  ``os.getloadavg()`` where there is no ``/proc``).

Work that splits into independent parts too small for threads inside each op (DDIB's 3000
2-D points) runs its parts side by side instead: ``map_on_threads`` gives each part a Python
thread computing on one torch thread, as many at a time as the chosen count.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

THREADS_KEY = "i2i.threads"
"""Where the app keeps ``--threads`` for the command that runs (click's ``Context.meta``)."""

ENVIRONMENT = "OMP_NUM_THREADS"
"""The variable by which a user sets the thread count of torch (and numpy) before it starts."""

WINDOW_S = 0.1
"""Seconds over which the cores' use is measured (this process sleeps through it)."""

SPARE = 0.25
"""Free cores are counted as ``floor(free + SPARE)``: 0.8 of an idle core counts, 0.7 does not."""


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a run computes on, how many independent parts may compute side by
    side, and why."""

    threads: int
    reason: str
    """``--threads``, ``OMP_NUM_THREADS``, or what was measured."""
    parts: int = 0
    """Independent parts of one job (``map_on_threads``) at a time; 0: as many as ``threads``.
    Measured: every usable core, busy or not. Parts never wait for each other, so a part that
    another job keeps off its core delays only itself, and each part takes its share of a
    shared core: on 2 cores kept busy by 2 other jobs, 2 parts ran the main job in 16 s where
    1 took 26 s (``benchmarks/bench_main_job.py --load 2``)."""


def choose_threads(usable: int, busy: float, parts: int | None = None) -> int:
    """Intra-op threads for ``usable`` cores of which other processes keep ``busy`` cores' worth
    busy, for work that splits into at most ``parts`` useful pieces (None: any number).

    One thread per free core, at least one and at most ``usable``: a thread that has to share
    its core with another job stalls every op it takes part in.
    """
    free = math.floor(max(0.0, usable - busy) + SPARE)
    threads = max(1, min(usable, free))
    return threads if parts is None else max(1, min(threads, parts))


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask; the CPU count elsewhere)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def busy_cores(window_s: float = WINDOW_S) -> float:
    """Cores' worth of time other processes use now: ``/proc/stat`` over ``window_s`` seconds
    on the cores this process may use (this process sleeps meanwhile), else the 1-minute load
    average less this process."""
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    before = _cpu_times(cores)
    if before is None:
        return _load_average_busy()
    time.sleep(window_s)
    after = _cpu_times(cores)
    if after is None:
        return _load_average_busy()
    total = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    idle = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    if total <= 0:
        return 0.0
    return len(before) * (total - idle) / total


def _cpu_times(cores: set[int] | None) -> list[tuple[int, int]] | None:
    """(total, idle) jiffies of each core in ``cores`` (all when None); None without /proc."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            lines = stat.read().splitlines()
    except OSError:
        return None
    times = []
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cores is not None and int(name[3:]) not in cores:
            continue
        values = [int(field) for field in fields[:8]]
        times.append((sum(values), values[3] + values[4]))  # idle and iowait
    return times or None


def _load_average_busy() -> float:
    """The 1-minute load average less this process (0 where the platform has none)."""
    try:
        return max(0.0, os.getloadavg()[0] - 1.0)
    except (AttributeError, OSError):
        return 0.0


def thread_choice(requested: int | None, environ: dict[str, str] | None = None) -> ThreadChoice:
    """The run's thread count: ``requested`` (``--threads``), else ``OMP_NUM_THREADS`` when set
    (torch's own count is then kept: 0 here), else ``choose_threads`` on what is measured."""
    environ = dict(os.environ) if environ is None else environ
    if requested is not None:
        return ThreadChoice(requested, "--threads")
    if environ.get(ENVIRONMENT, "").strip():
        return ThreadChoice(0, ENVIRONMENT)
    usable, busy = usable_cores(), busy_cores()
    threads = choose_threads(usable, busy)
    return ThreadChoice(threads, f"{usable} usable cores, {busy:.1f} busy", parts=usable)


def apply_threads(requested: int | None = None) -> ThreadChoice:
    """Set torch's intra-op thread count as ``thread_choice`` says; the choice is returned."""
    import torch

    choice = thread_choice(requested)
    if choice.threads:
        torch.set_num_threads(choice.threads)
    return choice


def side_by_side(choice: ThreadChoice) -> int:
    """How many independent parts of one job compute at a time under ``choice``."""
    import torch

    return choice.parts or choice.threads or torch.get_num_threads()


class Stopped(Exception):
    """A part ended early: another part failed or the run was interrupted."""


def raise_if_stopped(stop: threading.Event) -> None:
    """Raise ``Stopped`` once ``stop`` is set (a part's check between its steps)."""
    if stop.is_set():
        raise Stopped


def map_on_threads(
    function: Callable[[T, threading.Event], R], parts: Sequence[T], threads: int | None = None
) -> list[R]:
    """``[function(part, stop) for part in parts]``, the parts side by side on Python threads.

    As many at a time as ``threads`` (default: torch's intra-op count), each computing on one
    torch thread (restored afterwards); the caller's grad mode holds in every thread (autocast
    does not: enter it inside ``function``). ``stop`` is set once a part has failed or the
    caller is interrupted: ``function`` should call ``raise_if_stopped(stop)`` between steps, so
    a Ctrl-C ends the run within a step. The first part to fail has its error raised.
    """
    import torch

    workers = min(torch.get_num_threads() if threads is None else threads, len(parts))
    stop = threading.Event()
    if workers <= 1:
        return [function(part, stop) for part in parts]
    grad = torch.is_grad_enabled()
    previous = torch.get_num_threads()

    def run(part: T) -> R:
        torch.set_num_threads(1)
        with torch.set_grad_enabled(grad):
            return function(part, stop)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="i2i-part")
    try:
        futures = [pool.submit(run, part) for part in parts]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [future for future in futures if future in done and future.exception()]
        if failed:
            stop.set()
            wait(futures)
            raise failed[0].exception()  # type: ignore[misc]
        return [future.result() for future in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(previous)
