"""The robustness corpus, the exit path: Ctrl-C while the process is already exiting.

A real ``i2i train`` process (only a process has an interpreter shutdown and signals): the first
Ctrl-C stops training after its step with a checkpoint saved; a second one arrives while the
process runs its exit callbacks. It ends the process at once, with the interrupted status and
no traceback ("Exception ignored in atexit callback ... KeyboardInterrupt").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import _dist_path

EXITING = """
import atexit, pathlib, sys, time
flag = pathlib.Path(sys.argv[1])
def exiting():  # the slowest exit callback: a thread pool joining, a cache written out
    flag.touch()
    time.sleep(600)
atexit.register(exiting)
sys.argv = ["i2i", *sys.argv[2:]]
from i2i_cli.cli.app import main
main()
"""
"""``python -m i2i_cli ARGS`` with one more exit callback, which says when it runs."""


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    """Until ``path`` exists (or the process has ended)."""
    while not path.exists() and process.poll() is None:
        time.sleep(0.02)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_while_the_process_exits_ends_it_quietly(tmp_path: Path) -> None:
    out, flag = tmp_path / "train", tmp_path / "exiting"
    args = ["train", "tinytrain", "--device", "cpu", "--output", str(out)]
    args += ["--steps", "100000", "--checkpoint-every", "100000", "--set", "sleep=0.01"]
    environment = {
        **os.environ,
        "PYTHONPATH": _dist_path(["tinytrain"], os.environ.get("PYTHONPATH")),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", EXITING, str(flag), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(out / "metrics.jsonl", process)
    process.send_signal(signal.SIGINT)  # stop after this step, saving a checkpoint
    wait_for(flag, process)
    process.send_signal(signal.SIGINT)  # while the process exits
    _, stderr = process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "checkpoint saved" in stderr
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    assert saved["step"] >= 1
