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


def kill_after_first_checkpoint(training: Sequence[str], out: Path, iterations: int = 400) -> int:
    """Run ``i2i TRAINING --output OUT`` for ``iterations`` steps in a process, SIGKILL it as soon
    as ``checkpoint.pt`` exists, and return the step the checkpoint holds."""
    long = ["--set", f"iterations={iterations}", "--set", "log_every=1"]
    command = [sys.executable, "-m", "i2i_cli", *training, "--output", str(out), *long]
    run = subprocess.Popen(
        command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").is_file() and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
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
