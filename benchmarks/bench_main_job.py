"""The README's main job (and a short training) as whole processes, per CPU-thread choice.

``python benchmarks/bench_main_job.py`` runs ``i2i translate ddib --task moons2squares`` (the
README's first screen) ``--runs`` times (default 3) under each thread choice, alternating:

- ``torch``: torch's own default (one intra-op thread per core), forced with
  ``OMP_NUM_THREADS=<that count>`` since i2i would otherwise choose;
- ``1``: ``OMP_NUM_THREADS=1``;
- ``2``: ``OMP_NUM_THREADS=2``, only where torch's default is not already 2;
- ``i2i``: no variable, so i2i chooses itself (``i2i_cli/run/threads.py``).

Each run is a fresh process writing into its own empty folder; its wall time, CPU time
(user + sys of the child, from ``os.wait4``) and maximum RSS are printed as a Markdown table,
after the machine (cores, load average) at the start, and followed by the medians and the ratio
of i2i's choice to the better of 1 and 2 threads. ``--job train`` measures ``i2i train ddib-2d
--task moons --quick --steps 300`` instead, ``--job all`` both. ``--load N`` starts N busy loops
(``python -c "while True: pass"``) for the whole measurement and stops them after, also on
Ctrl-C or a failed run: the same script gives the loaded figures
(``--load 8`` for a load of about 8 on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

JOBS = {
    "main": ("translate", "ddib", "--task", "moons2squares"),
    "train": ("train", "ddib-2d", "--task", "moons", "--quick", "--steps", "300"),
}
"""Each job's ``i2i`` arguments (``--output`` is added per run)."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""What torch and numpy read at import for their thread counts: cleared for every run."""

BUSY_LOOP = "while True: pass"

I2I_MODE = "i2i"
"""The thread choice left to i2i (no variable set)."""


@dataclass(frozen=True)
class Measurement:
    """One run of one job under one thread choice."""

    job: str
    mode: str
    run: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    load: float
    """The 1-minute load average when the run started."""
    threads: str
    """The thread count the run reported choosing (``?`` where it said none)."""
    exit_code: int


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def torch_default_threads() -> int:
    """The intra-op thread count torch starts with here, no thread variable set."""
    code = "import torch; print(torch.get_num_threads())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def clean_env(threads: int | None = None) -> dict[str, str]:
    """This process's environment without thread variables, ``OMP_NUM_THREADS=threads`` if
    given."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def thread_modes(default: int) -> dict[str, int | None]:
    """Each thread choice measured and the ``OMP_NUM_THREADS`` it sets (None: i2i chooses)."""
    modes: dict[str, int | None] = {f"torch ({default})": default, "1": 1}
    if default != 2:
        modes["2"] = 2
    modes[I2I_MODE] = None
    return modes


def i2i_command() -> list[str]:
    """How a user starts i2i: the ``i2i`` executable, else ``python -m i2i_cli``."""
    found = shutil.which("i2i")
    return [found] if found else [sys.executable, "-m", "i2i_cli"]


@contextmanager
def busy_loops(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes spinning on ``while True: pass`` until the block ends, however it
    ends (a failure, Ctrl-C, SIGTERM)."""
    loops: list[subprocess.Popen[bytes]] = []
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for _ in range(count):
            loops.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP]))
        yield loops
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C, so that every ``finally`` runs."""
    raise KeyboardInterrupt


CHOSEN_THREADS = re.compile(r"(\d+) CPU threads?\b")
"""How a run's header says the threads it computes on."""


def measure(
    command: Sequence[str], env: dict[str, str], log: Path
) -> tuple[float, float, float, int]:
    """Run ``command`` to its end, its output in ``log``: (wall s, user + sys CPU s, max RSS MB,
    exit code). The process is killed if this one is interrupted."""
    with log.open("wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:
            child.kill()
            child.wait()
            raise
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return wall, usage.ru_utime + usage.ru_stime, rss_mb, child.returncode


def run_job(
    job: str, mode: str, threads: int | None, run: int, folder: Path
) -> tuple[Measurement, Path]:
    """One run of ``job`` under thread choice ``mode``, writing into a fresh folder under
    ``folder``; the measurement and the run's log."""
    output = folder / f"{job}-{mode.split()[0]}-{run}"
    log = folder / f"{output.name}.log"
    command = [*i2i_command(), *JOBS[job], "--output", str(output)]
    load = load_average()
    wall, cpu, rss, code = measure(command, clean_env(threads), log)
    said = CHOSEN_THREADS.findall(log.read_text(errors="replace"))
    chosen = said[0] if said else "?"
    return Measurement(job, mode, run, wall, cpu, rss, load, chosen, code), log


def order(modes: Sequence[str], run: int) -> list[str]:
    """``modes`` rotated by ``run``: each choice goes first once in every ``len(modes)`` runs."""
    shift = run % len(modes)
    return [*modes[shift:], *modes[:shift]]


def table(rows: Sequence[Measurement]) -> str:
    """The runs as a Markdown table."""
    lines = [
        "| job | threads | run | load at start | wall s | CPU s | max RSS MB | threads used "
        "| exit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.job} | {r.mode} | {r.run} | {r.load:.2f} | {r.wall_s:.1f} | {r.cpu_s:.1f} "
        f"| {r.max_rss_mb:.0f} | {r.threads} | {r.exit_code} |"
        for r in rows
    ]
    return "\n".join(lines)


def medians(rows: Sequence[Measurement]) -> dict[tuple[str, str], tuple[float, float, float]]:
    """(job, mode) -> (median wall s, median CPU s, max RSS MB) over the runs."""
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for row in rows:
        groups.setdefault((row.job, row.mode), []).append(row)
    return {
        key: (
            statistics.median(r.wall_s for r in group),
            statistics.median(r.cpu_s for r in group),
            max(r.max_rss_mb for r in group),
        )
        for key, group in groups.items()
    }


def choice_ratio(summary: dict[tuple[str, str], tuple[float, float, float]], job: str) -> float:
    """Median wall time of i2i's choice over the better of 1 and 2 threads' for ``job``."""
    one_or_two = [
        wall
        for (name, mode), (wall, _, _) in summary.items()
        if name == job and (mode in ("1", "2") or mode.startswith("torch (2)"))
    ]
    return summary[(job, I2I_MODE)][0] / min(one_or_two)


def summary_table(rows: Sequence[Measurement]) -> str:
    """Medians per job and thread choice, and i2i's choice against the better of 1 and 2."""
    summary = medians(rows)
    lines = [
        "| job | threads | median wall s | median CPU s | max RSS MB |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {job} | {mode} | {wall:.1f} | {cpu:.1f} | {rss:.0f} |"
        for (job, mode), (wall, cpu, rss) in summary.items()
    ]
    for job in dict.fromkeys(job for job, _ in summary):
        ratio = choice_ratio(summary, job)
        lines.append(f"\n{job}: i2i's choice / the better of 1 and 2 threads (wall) = {ratio:.2f}")
    return "\n".join(lines)


def machine(load: int) -> str:
    """The machine and its state now: cores, load average, CPU model, the busy loops started."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    averages = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return (
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {os.cpu_count()} cores "
        f"({usable_cores()} usable), {model}; load average "
        f"{averages[0]:.2f} {averages[1]:.2f} {averages[2]:.2f} at start; "
        f"{load} busy loop(s) started for the measurement"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the tables; exit status 1 if a run failed (its log is printed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=[*JOBS, "all"], default="main")
    parser.add_argument("--runs", type=int, default=3, help="runs per thread choice (default 3)")
    parser.add_argument("--load", type=int, default=0, help="busy loops during the measurement")
    parser.add_argument("--keep", type=Path, help="keep the runs' outputs and logs in this folder")
    args = parser.parse_args(argv)
    jobs = list(JOBS) if args.job == "all" else [args.job]
    modes = thread_modes(torch_default_threads())
    print(machine(args.load))
    print(f"command: {' '.join(i2i_command())} <job> --output <fresh folder>")
    for job in jobs:
        print(f"  {job}: i2i {' '.join(JOBS[job])}")
    rows: list[Measurement] = []
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_main_job_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with busy_loops(args.load):
            for run in range(args.runs):
                for job in jobs:
                    for mode in order(list(modes), run):
                        row, log = run_job(job, mode, modes[mode], run, folder)
                        rows.append(row)
                        print(f"  {job} threads={mode} run {run}: {row.wall_s:.1f} s", flush=True)
                        if row.exit_code != 0:
                            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
                            print(f"error: {job} exited {row.exit_code}", file=sys.stderr)
                            return 1
    except KeyboardInterrupt:
        print("interrupted; the busy loops are stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
        if rows:
            print()
            print(table(rows))
    print()
    print(summary_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
