"""The toy the training-loop tests train: a small MLP fitting y = 2x + 1, in process or by the CLI.

``toy_recipe`` and ``make_context`` drive ``run_training`` directly; ``train`` runs
``i2i train tinytrain`` (the fixture distribution with the same toy); ``metrics`` and
``weights`` read back what a run wrote.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from i2i_cli.run.context import RunContext
from i2i_cli.run.progress import RunProgress
from i2i_cli.run.run_settings import TrainRun
from i2i_cli.run.runtime import create_runtime
from i2i_cli.training import TrainingRecipe
from tests.conftest import run_i2i


def make_context(
    out: Path, *, resume: bool = False, seed: int = 0, precision: str = "fp32", device: str = "cpu"
) -> Any:
    """A RunContext without bars (on the CPU by default); its log lines go to ``console.file``."""
    run = TrainRun(output=out, device=device, resume=resume, seed=seed, precision=precision)
    console = Console(file=io.StringIO(), highlight=False)
    return RunContext(
        command="train",
        plugin="toy",
        task=None,
        run=run,
        runtime=create_runtime(device, run.precision, run.seed),
        output=out,
        progress=RunProgress(console=console, enabled=False),
        console=console,
    )


def mlp(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    """A 1-16-1 MLP with weights fixed by ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 1))


def toy_batches(step: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(16, 1, generator=generator) * 2 - 1


def toy_loss(net: nn.Module, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    noise = 0.01 * torch.randn(x.shape, generator=generator)
    return ((net(x).float() - (2 * x + 1 + noise)) ** 2).mean()


def toy_recipe(model: nn.Module | None = None, **options: Any) -> TrainingRecipe:
    """Fit y = 2x + 1; ``options`` override the recipe's fields."""
    model = model if model is not None else mlp()
    fields: dict[str, Any] = {
        "model": model,
        "optimizer": lambda net: torch.optim.Adam(net.parameters(), lr=0.02),
        "loss": toy_loss,
        "batches": toy_batches,
        "steps": 30,
        "settings": {"lr": 0.02},
        "log_every": 1,
        "checkpoint_every": 5,
    }
    fields.update(options)
    return TrainingRecipe(**fields)


def metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def train(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_i2i(
        ["train", "tinytrain", "--device", "cpu", "--output", str(out), *args], dists=["tinytrain"]
    )
