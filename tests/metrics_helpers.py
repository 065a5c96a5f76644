"""Helpers shared by the metrics tests: a random-weight Inception, image folders, ``i2i`` runs."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner, Result

from i2i_cli.cli.app import app
from i2i_cli.metrics.inception import FIDInception


def random_inception_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded He-initialised weights (batch norm an identity with small shifts, scale 1)."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, value in FIDInception().state_dict().items():
        if key.endswith("conv.weight"):
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=generator) * math.sqrt(2.0 / fan_in)
        elif key.endswith("bn.bias"):
            state[key] = torch.randn(value.shape, generator=generator) * 0.1
        elif key.endswith(("bn.weight", "running_var")):
            state[key] = torch.ones_like(value)
        elif key.endswith(("running_mean", "num_batches_tracked")):
            state[key] = torch.zeros_like(value)
        else:
            state[key] = torch.randn(value.shape, generator=generator) * 0.01
    return state


def write_images(folder: Path, count: int, seed: int, size: tuple[int, int] = (32, 32)) -> None:
    """``count`` random RGB PNGs of ``size`` (W, H) named 0.png, 1.png, ..."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")


def i2i(*args: str) -> Result:
    """Run ``i2i ARGS`` in-process."""
    return CliRunner().invoke(app, list(args))


def evaluate(output: Path, *args: str) -> dict[str, Any]:
    """Run ``i2i evaluate ARGS`` on the CPU; the result.json it wrote."""
    result = i2i("evaluate", *args, "--device", "cpu", "--output", str(output))
    assert result.exit_code == 0, result.output
    return json.loads((output / "result.json").read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
