"""Kill-and-resume tests of trainers: kill `i2i train` at its first checkpoint, compare weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from tests.conftest import run_i2i


def kill_after_first_checkpoint(training: Sequence[str], out: Path, iterations: int = 400) -> int:
    """Run ``i2i TRAINING --output OUT`` for ``iterations`` steps in a process, SIGKILL it as soon
    as ``checkpoint.pt`` exists, and return the step the checkpoint holds."""
    long = ["--set", f"iterations={iterations}", "--set", "log_every=1"]
    command = [sys.executable, "-m", "i2i_cli", *training, "--output", str(out), *long]
    run = subprocess.Popen(
        command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while not (out / "checkpoint.pt").is_file() and run.poll() is None:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not (out / "model.pt").exists()
    reached = weights(out / "checkpoint.pt")["step"]
    assert 2 <= reached < iterations
    return int(reached)


def weights(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint or state dict, read safely."""
    return torch.load(path, weights_only=True)


def same_weights(a: Path, b: Path) -> None:
    """Assert two state dicts hold bitwise the same tensors under the same keys."""
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for key, value in first.items():
        assert torch.equal(value, second[key]), key


def killed_run_resumes_bitwise(training: Sequence[str], tmp: Path, more_steps: int) -> None:
    """SIGKILL a run at its first checkpoint, resume it ``more_steps`` further, and assert the
    weights equal an uninterrupted run's of the same length (and the resume says where it is)."""
    out = tmp / "killed"
    reached = kill_after_first_checkpoint(training, out)
    target = ["--set", f"iterations={reached + more_steps}", "--set", "log_every=1"]
    resumed = run_i2i([*training, "--output", str(out), "--resume", *target])
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from step {reached} of {reached + more_steps}" in resumed.stderr
    whole = run_i2i([*training, "--output", str(tmp / "whole"), *target])
    assert whole.returncode == 0, whole.stderr
    same_weights(tmp / "whole" / "model.pt", out / "model.pt")
