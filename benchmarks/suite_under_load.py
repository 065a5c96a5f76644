"""The test suite with every core saturated: busy loops beside ``python -m pytest -q``.

``python benchmarks/suite_under_load.py`` starts one ``while True: pass`` process per core this
process may use (``os.sched_getaffinity``), runs the whole suite as the README runs it, stops the
loops and prints pytest's outcome and the wall time. A test that fails only here depends on how
fast the machine is (issue 25: only a hang may fail a test on time). ``--loops N`` sets the
number of loops; arguments after ``--`` replace the selection, for example
``python benchmarks/suite_under_load.py -- tests/test_metrics_frechet.py -m 'not slow'``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench_main_job import busy_loops  # the busy loops, stopped however the block ends

ROOT = Path(__file__).resolve().parents[1]


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_pytest(selection: Sequence[str]) -> tuple[int, str, float]:
    """Run ``python -m pytest -q SELECTION`` from the root, echoing its output; exit status,
    last non-empty line (pytest's summary) and wall seconds."""
    command = [sys.executable, "-m", "pytest", "-q", *selection]
    start = time.perf_counter()
    summary = ""
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as suite:
        assert suite.stdout is not None
        for line in suite.stdout:
            sys.stdout.write(line)
            if line.strip():
                summary = line.strip()
    return suite.returncode, summary, time.perf_counter() - start


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or ``?`` where the system has none."""
    if not hasattr(os, "getloadavg"):
        return "?"
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--loops", type=int, default=usable_cores(), help="busy loops (default: one per core)"
    )
    parser.add_argument("selection", nargs="*", help="pytest arguments after -- (default: all)")
    args = parser.parse_args()
    cores = usable_cores()
    print(f"{args.loops} busy loops on {cores} cores; load before: {load_average()}", flush=True)
    with busy_loops(args.loops):
        status, summary, wall = run_pytest(args.selection)
        after = load_average()
    shown = " ".join(["python -m pytest -q", *args.selection])
    print(f"under {args.loops} busy loops on {cores} cores (load at the end {after}):")
    print(f"  {shown}: exit {status}, {summary}; wall {wall:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
