"""The one training loop every trainer plugin runs: AMP, EMA, clipping, atomic checkpoints, resume.

A trainer builds a ``TrainingRecipe`` (model, optimiser, loss, batches) and calls
``run_training(ctx, recipe)``. Batch ``k`` and its noise come from a generator seeded by
(run seed, k), so a run resumed after a kill continues exactly as if it had never stopped:
on the CPU its final weights are bitwise those of an uninterrupted run.
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from i2i_cli.data import write_atomic_bytes
from i2i_cli.errors import I2IError, UsageError
from i2i_cli.noise import item_seed

if TYPE_CHECKING:
    from i2i_cli.context import RunContext

CHECKPOINT = "checkpoint.pt"
EXPORT = "model.pt"
METRICS = "metrics.jsonl"

Loss = Callable[[nn.Module, Any, torch.Generator], torch.Tensor]
"""``loss(model, batch, generator) -> scalar``; every random draw through ``generator``."""

Batches = Callable[[int, torch.Generator], Any]
"""``batches(step, generator) -> batch``: this rank's batch of a step, drawn from ``generator``."""


@dataclass
class TrainingRecipe:
    """What a trainer plugin hands the loop."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss: Loss
    batches: Batches
    steps: int
    settings: Mapping[str, Any]
    """The trainer's resolved settings, stored in checkpoints and compared on resume."""
    lr_multiplier: Callable[[int], float] | None = None
    """Learning rate of step k = base rate x multiplier(k) (None: constant)."""
    ema_decay: float | None = None
    grad_clip: float | None = None
    checkpoint_every: int = 500
    log_every: int = 10
    resume_may_change: frozenset[str] = field(default_factory=lambda: frozenset({"steps"}))
    """Settings a resumed run may change (e.g. training longer)."""


def step_generator(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator of one step on one rank: seeded from (run seed, step, rank)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(item_seed(seed, f"train-step-{step}-rank-{rank}"))
    return generator


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter (buffers copied)."""
    for target, source in zip(ema.parameters(), model.parameters(), strict=True):
        target.lerp_(source.detach(), 1.0 - decay)
    for target, source in zip(ema.buffers(), model.buffers(), strict=True):
        target.copy_(source)


def _save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to memory, then an atomic write: a kill never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic_bytes(buffer.getvalue(), path)


def _changed_settings(
    saved: Mapping[str, Any], current: Mapping[str, Any], allowed: frozenset[str]
) -> list[str]:
    """Names of settings whose values differ between a checkpoint and this run."""
    names = sorted(set(saved) | set(current))
    return [n for n in names if n not in allowed and saved.get(n) != current.get(n)]


@dataclass
class TrainingState:
    """Everything a checkpoint restores."""

    step: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    ema: nn.Module | None
    scaler: torch.amp.GradScaler | None


def _restore(path: Path, state: TrainingState, recipe: TrainingRecipe) -> int:
    """Load a checkpoint into ``state``; returns its step (one line on a bad file)."""
    from i2i_cli.checkpoints import load_checkpoint

    saved = load_checkpoint(path)
    if not isinstance(saved, dict) or "step" not in saved:
        raise I2IError(f"{path} is not an i2i training checkpoint")
    changed = _changed_settings(saved["settings"], recipe.settings, recipe.resume_may_change)
    if changed:
        details = ", ".join(
            f"{n}: {saved['settings'].get(n)!r} -> {recipe.settings.get(n)!r}" for n in changed
        )
        raise UsageError(f"cannot resume {path}: settings differ ({details})")
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    if state.ema is not None and saved.get("ema") is not None:
        state.ema.load_state_dict(saved["ema"])
    if state.scaler is not None and saved.get("scaler") is not None:
        state.scaler.load_state_dict(saved["scaler"])
    return int(saved["step"])


def _checkpoint(path: Path, state: TrainingState, recipe: TrainingRecipe) -> None:
    """Write the resumable state atomically."""
    _save_atomic(
        {
            "step": state.step,
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "ema": state.ema.state_dict() if state.ema is not None else None,
            "scaler": state.scaler.state_dict() if state.scaler is not None else None,
            "settings": dict(recipe.settings),
        },
        path,
    )


def _trim_metrics(path: Path, last_step: int) -> None:
    """Drop log lines past ``last_step`` (written after the checkpoint a run resumes from)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


def run_training(ctx: RunContext, recipe: TrainingRecipe) -> Path:
    """Train to ``recipe.steps``, resuming with ``--resume``; returns the exported weights file.

    Writes ``checkpoint.pt`` every ``checkpoint_every`` steps and at the end, ``metrics.jsonl``
    (step, loss, lr, grad_norm, seconds) and ``model.pt`` (the EMA weights when EMA is on) as
    a plain state dict loadable with ``weights_only=True``.
    """
    runtime = ctx.runtime
    output = ctx.output
    checkpoint_path = output / CHECKPOINT
    metrics_path = output / METRICS
    model = recipe.model.to(runtime.device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False) if recipe.ema_decay else None
    scaler = torch.amp.GradScaler(runtime.device.type) if runtime.precision == "fp16" else None
    state = TrainingState(0, model, recipe.optimizer, ema, scaler)
    if checkpoint_path.exists():
        if not getattr(ctx.run, "resume", False):
            raise UsageError(
                f"{output} already holds a training run; pass --resume to continue it "
                "or choose another --output"
            )
        state.step = _restore(checkpoint_path, state, recipe)
        ctx.log(f"resuming from step {state.step} of {recipe.steps}")
    elif getattr(ctx.run, "resume", False):
        raise UsageError(f"--resume: no checkpoint in {output}")
    if runtime.is_main:
        _trim_metrics(metrics_path, state.step)
    trained = model
    if runtime.dist.world_size > 1:
        trained = nn.parallel.DistributedDataParallel(model)
    base_rates = [group["lr"] for group in recipe.optimizer.param_groups]
    ctx.progress.start_items(recipe.steps, "steps")
    ctx.progress.advance_items(state.step)
    started = time.perf_counter()
    while state.step < recipe.steps:
        step = state.step
        multiplier = recipe.lr_multiplier(step) if recipe.lr_multiplier else 1.0
        for group, base in zip(recipe.optimizer.param_groups, base_rates, strict=True):
            group["lr"] = base * multiplier
        generator = step_generator(runtime.seed, step, runtime.dist.rank, runtime.device)
        batch = recipe.batches(step, generator)
        with runtime.autocast():
            loss = recipe.loss(trained, batch, generator)
        if not torch.isfinite(loss):
            raise I2IError(f"the loss is {loss.item()} at step {step}; lower the learning rate")
        recipe.optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(recipe.optimizer)
        else:
            loss.backward()
        clip = recipe.grad_clip if recipe.grad_clip else math.inf
        grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), clip))
        if scaler is not None:
            scaler.step(recipe.optimizer)
            scaler.update()
        else:
            recipe.optimizer.step()
        if ema is not None and recipe.ema_decay is not None:
            update_ema(ema, model, recipe.ema_decay)
        state.step += 1
        ctx.progress.advance_items()
        if runtime.is_main and (state.step % recipe.log_every == 0 or state.step == recipe.steps):
            record = {
                "step": state.step,
                "loss": loss.item(),
                "lr": recipe.optimizer.param_groups[0]["lr"],
                "grad_norm": grad_norm,
                "seconds": round(time.perf_counter() - started, 3),
            }
            with metrics_path.open("a") as log:
                log.write(json.dumps(record) + "\n")
        if state.step % recipe.checkpoint_every == 0 or state.step == recipe.steps:
            if runtime.is_main:
                _checkpoint(checkpoint_path, state, recipe)
            runtime.barrier()
    export = output / EXPORT
    if runtime.is_main:
        weights = (ema if ema is not None else model).state_dict()
        _save_atomic({k: v.detach().cpu() for k, v in weights.items()}, export)
    ctx.log(f"trained {recipe.steps} steps; weights: {export}")
    return export
