"""The test suite's time, whole and per file: ``python -m pytest -q`` with a JUnit report.

``python benchmarks/suite_times.py`` runs the suite as the README runs it (arguments after
``--`` replace the selection), then writes ``suite_times.md`` (``--out``): the wall time, the
outcome, and every test file's summed test time (setup, call and teardown, as pytest's JUnit
report counts them), slowest first, with its share of the whole and its test count. Run it on
an idle machine for the README's figure; ``benchmarks/suite_under_load.py`` is the loaded run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def file_times(report: Path) -> dict[str, tuple[float, int]]:
    """``{test file: (seconds, tests)}`` from a pytest JUnit XML report."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").split("[")[0]
        parts = module.split(".")
        path = "/".join(parts[: next((i + 1 for i, p in enumerate(parts) if p.startswith("test_")),
                                      len(parts))]) + ".py"  # fmt: skip
        entry = totals[path]
        entry[0] += float(case.get("time", 0) or 0)
        entry[1] += 1
    return {path: (seconds, int(count)) for path, (seconds, count) in totals.items()}


def run_suite(selection: Sequence[str], report: Path) -> tuple[int, str, float]:
    """``python -m pytest -q SELECTION --junitxml REPORT``: exit status, summary line, wall s."""
    command = [sys.executable, "-m", "pytest", "-q", *selection, f"--junitxml={report}"]
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [line for line in finished.stdout.splitlines() if line.strip()]
    return finished.returncode, lines[-1] if lines else "", wall


def table(times: dict[str, tuple[float, int]]) -> str:
    """The per-file times as a Markdown table, slowest first."""
    total = sum(seconds for seconds, _ in times.values()) or 1.0
    rows = ["| file | seconds | share | tests |", "|---|---|---|---|"]
    for path, (seconds, count) in sorted(times.items(), key=lambda item: -item[1][0]):
        rows.append(f"| {path} | {seconds:.1f} | {100 * seconds / total:.1f}% | {count} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("suite_times.md"))
    parser.add_argument("selection", nargs="*", help="pytest arguments (after --)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        status, summary, wall = run_suite(args.selection, report)
        times = file_times(report) if report.is_file() else {}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    head = (
        f"`python -m pytest -q {' '.join(args.selection)}`: {summary} (exit {status}); "
        f"wall {wall:.0f} s on {cores} cores, load average {os.getloadavg()[0]:.1f} at the end\n"
    )
    args.out.write_text(head + "\n" + table(times) + "\n")
    print(head.strip())
    print(f"per-file times: {args.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
