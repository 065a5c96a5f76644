"""What the run faults of the corpus share: tiny inputs, the smoke runs, one-line checks, snapshots.

Every input is made at test time. The runs go through the real CLI in this process
(``tests.conftest.run_i2i``) with the test fixtures' ``smoke`` method and ``tinytrain`` trainer.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import run_i2i

SMOKE = ["--device", "cpu", "--image-size", "8"]
"""Flags every smoke run takes: CPU, 8 px (a run takes a fraction of a second)."""


def make_images(folder: Path, count: int, size: int = 12, seed: int = 0) -> list[Path]:
    """``count`` random RGB PNGs ``img0.png ...`` in ``folder`` (made if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size + 2, 3), dtype=np.uint8)
        path = folder / f"img{index}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def translate(source: Path, output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``i2i translate smoke --input SOURCE --output OUTPUT ARGS`` on the CPU at 8 px."""
    command = ["translate", "smoke", *SMOKE, "--input", str(source), "--output", str(output)]
    return run_i2i([*command, *args], dists=["smoke"])


def sample(output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``i2i sample smoke --output OUTPUT ARGS`` (3 samples unless ARGS say otherwise)."""
    command = ["sample", "smoke", *SMOKE, "--num-samples", "3", "--output", str(output)]
    return run_i2i([*command, *args], dists=["smoke"])


def train(output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``i2i train tinytrain --output OUTPUT ARGS``: 4 steps, a checkpoint every 2."""
    command = ["train", "tinytrain", "--device", "cpu", "--steps", "4", "--checkpoint-every", "2"]
    return run_i2i([*command, "--output", str(output), *args], dists=["tinytrain"])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative posix path -> bytes); empty when it does not exist."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def error_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The one ``error:`` line of a failed run, checked: non-zero exit, no traceback, needles.

    The run may log progress lines before it; the fault itself is one line naming ``needles``.
    """
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def file_names(folder: Path, pattern: str = "img*.png") -> Sequence[str]:
    """The names of the files under ``folder`` matching ``pattern``, sorted."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob(pattern))
