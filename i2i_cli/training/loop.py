"""The training loop itself: steps, logging, checkpoints and the exported weights."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from i2i_cli.base.atomic import write_atomic_text
from i2i_cli.base.errors import RunError, UsageError
from i2i_cli.run.memory import (
    available_bytes,
    first_items,
    leading_items,
    parameter_bytes,
    saved_activation_bytes,
    step_fits,
)
from i2i_cli.training.ema import make_ema, update_ema
from i2i_cli.training.interrupt import InterruptRequest
from i2i_cli.training.randomness import step_generator, step_global_rng
from i2i_cli.training.recipe import TrainingRecipe
from i2i_cli.training.state import (
    TrainingState,
    export_weights,
    restore_checkpoint,
    save_checkpoint,
)

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_cli.run.runtime import Runtime

CHECKPOINT = "checkpoint.pt"
EXPORT = "model.pt"
METRICS = "metrics.jsonl"


def run_training(ctx: RunContext, recipe: TrainingRecipe) -> Path:
    """Train to ``recipe.steps`` (continuing the output's checkpoint with ``--resume``).

    Writes ``checkpoint.pt`` every ``checkpoint_every`` steps, at the end, and when Ctrl-C
    stops the run (after the step under way; then KeyboardInterrupt is raised); a line of
    ``metrics.jsonl`` every ``log_every`` steps (step; loss, averaged over the steps since the
    last line (or the resume) and over ranks; lr; grad_norm before clipping; training seconds
    so far, across resumes); and ``model.pt``, the EMA weights when EMA is on and
    ``recipe.export_ema`` (else the raw ones), as a plain state dict loadable with
    ``weights_only=True``. Rank 0 writes; returns the ``model.pt`` path.
    """
    runtime = ctx.runtime
    model = recipe.model.to(runtime.device).train()
    optimizer = recipe.build_optimizer(model)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    state = TrainingState(
        model=model,
        optimizer=optimizer,
        ema=make_ema(model) if recipe.ema_decay is not None else None,
        scaler=torch.amp.GradScaler(runtime.device.type) if runtime.precision == "fp16" else None,
    )
    settings = {
        **recipe.settings,
        "run.seed": runtime.seed,
        "run.world_size": runtime.dist.world_size,
    }
    _start_or_resume(ctx, recipe, state, settings)
    metrics = ctx.output / METRICS
    if runtime.is_main:
        ctx.output.mkdir(parents=True, exist_ok=True)
        trim_metrics(metrics, state.step)
    trained = _distributed(model, runtime)
    first = state.step
    ctx.progress.start_items(recipe.steps - first, f"steps {first + 1}-{recipe.steps}")
    nonfinite = torch.zeros((), device=runtime.device)
    loss_sum, logged = torch.zeros((), device=runtime.device), state.step
    started, seconds_before = time.perf_counter(), state.seconds
    memory_check = partial(check_step_memory, state, recipe, runtime)
    with InterruptRequest() as interrupt:
        while state.step < recipe.steps:
            check = memory_check if state.step == first and recipe.check_memory else None
            loss, grad_norm = train_step(trained, state, recipe, runtime, before=check)
            nonfinite += (~torch.isfinite(loss)).float()
            loss_sum += loss.float()
            state.seconds = seconds_before + time.perf_counter() - started
            ctx.progress.advance_items()
            step = state.step
            alone_stopping = interrupt.requested and runtime.dist.world_size == 1
            logs = step % recipe.log_every == 0 or step == recipe.steps
            saves = step % recipe.checkpoint_every == 0 or step == recipe.steps
            if not (logs or saves or alone_stopping):
                continue
            loss_mean, norm_mean, bad, stopping = _reduce(
                runtime, loss_sum / (step - logged), grad_norm, nonfinite, interrupt.requested
            )
            if bad:
                raise RunError(
                    f"the loss stopped being finite by step {step}; lower the learning rate "
                    "(the last checkpoint is kept)"
                )
            if logs:
                if runtime.is_main:
                    _append_metrics(metrics, step, loss_mean, optimizer, norm_mean, state.seconds)
                loss_sum.zero_()
                logged = step
            if saves or stopping:
                if runtime.is_main:
                    save_checkpoint(ctx.output / CHECKPOINT, state, settings, ctx.plugin)
                runtime.barrier()
            if stopping:
                ctx.log(f"interrupted after step {step} of {recipe.steps}: checkpoint saved")
                raise KeyboardInterrupt
    export = ctx.output / EXPORT
    if runtime.is_main:
        averaged = state.ema if recipe.export_ema else None
        export_weights(export, averaged if averaged is not None else model)
    runtime.barrier()
    done = f"steps {first + 1}-{recipe.steps}" if first < recipe.steps else "no further steps"
    ctx.log(f"trained {done} of {recipe.steps}; weights: {export}")
    return export


def train_step(
    trained: nn.Module,
    state: TrainingState,
    recipe: TrainingRecipe,
    runtime: Runtime,
    *,
    before: Callable[[Any, torch.Generator], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step at ``state.step`` (then counted); returns the loss and the grad norm.

    The learning rate is the base rate times ``recipe.rate_multiplier``; the grad norm is the
    global L2 norm before clipping (with fp16, after unscaling). ``before(batch, generator)``
    sees the step's batch first (the memory check of the run's first step).
    """
    step, optimizer, scaler = state.step, state.optimizer, state.scaler
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * recipe.rate_multiplier(step)
    rank = runtime.dist.rank
    generator = step_generator(runtime.seed, step, rank, runtime.device)
    optimizer.zero_grad(set_to_none=True)
    with step_global_rng(runtime.seed, step, rank, runtime.device):
        batch = recipe.batches(step, generator)
        if before is not None:
            before(batch, generator)
        with runtime.autocast():
            loss = recipe.loss(trained, batch, generator)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
    max_norm = recipe.grad_clip if recipe.grad_clip is not None else math.inf
    grad_norm = nn.utils.clip_grad_norm_(state.model.parameters(), max_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if state.ema is not None and recipe.ema_decay is not None:
        update_ema(state.ema, state.model, recipe.ema_decay)
    state.step += 1
    return loss.detach(), grad_norm.detach()


def check_step_memory(
    state: TrainingState, recipe: TrainingRecipe, runtime: Runtime, batch: Any, generator: Any
) -> None:
    """Refuse, in one line naming --batch-size, a step that needs more memory than is free.

    Two items of ``batch`` go through the loss (on a copy of the step's generator, the global
    generator restored) to measure its saved activations; gradients, the optimiser's state
    (up to two tensors per weight) and the batch's items scale from there. Nothing the step
    draws or updates is changed.
    """
    items, available = leading_items(batch), available_bytes(runtime.device)
    if not items or available is None:
        return
    probe = torch.Generator(device=generator.device)
    probe.set_state(generator.get_state())
    devices = [runtime.device] if runtime.device.type == "cuda" else []
    count = min(2, items)  # some layers need two values per channel (GroupNorm on vectors)
    try:
        with torch.random.fork_rng(devices=devices), runtime.autocast():
            measured = saved_activation_bytes(
                lambda: recipe.loss(state.model, first_items(batch, count), probe)
            )
    except Exception:  # a loss that cannot take a cut batch: no estimate, the step itself runs
        return
    per_item = measured // count
    static = 3 * parameter_bytes(state.model)
    message = step_fits(per_item=per_item, items=items, static=static, available=available)
    if message is not None:
        raise UsageError(message)


def _start_or_resume(
    ctx: RunContext, recipe: TrainingRecipe, state: TrainingState, settings: dict[str, Any]
) -> None:
    """Start fresh, or with ``--resume`` load the output's checkpoint into ``state``."""
    path = ctx.output / CHECKPOINT
    resume = bool(getattr(ctx.run, "resume", False))
    if not path.exists():
        if resume:
            raise UsageError(f"--resume: no checkpoint in {ctx.output}; start without --resume")
        return
    if not resume:
        raise UsageError(
            f"{ctx.output} already holds a training run; pass --resume to continue it "
            "or choose another --output"
        )
    allowed = recipe.resume_may_change | {"run.world_size"}
    saved = restore_checkpoint(path, state, settings, allowed, ctx.plugin)
    if state.step > recipe.steps:
        raise UsageError(
            f"cannot resume from {path}: it is at step {state.step}, "
            f"past the {recipe.steps} asked for"
        )
    ctx.log(f"resuming from step {state.step} of {recipe.steps}")
    if saved.get("run.world_size") != settings["run.world_size"]:
        ctx.log(
            f"note: the checkpoint was trained on {saved.get('run.world_size')} processes, this "
            f"run has {settings['run.world_size']}: later batches differ from the original run's"
        )


def _distributed(model: nn.Module, runtime: Runtime) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel under torchrun, else ``model`` itself."""
    if runtime.dist.world_size == 1:
        return model
    devices = [runtime.device.index] if runtime.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=devices)


def _reduce(
    runtime: Runtime,
    loss: torch.Tensor,
    grad_norm: torch.Tensor,
    nonfinite: torch.Tensor,
    interrupted: bool,
) -> tuple[float, float, bool, bool]:
    """Loss and grad norm averaged over ranks, whether any rank saw a non-finite loss, and
    whether any rank was interrupted (so all ranks stop at the same step)."""
    stop = torch.full_like(loss.float(), float(interrupted))
    values = torch.stack([loss.float(), grad_norm.float().to(loss.device), nonfinite.float(), stop])
    runtime.all_reduce_sum(values)
    loss_sum, norm_sum, bad, stops = values.tolist()
    size = runtime.dist.world_size
    return loss_sum / size, norm_sum / size, bad > 0, stops > 0


def _append_metrics(
    path: Path,
    step: int,
    loss: float,
    optimizer: torch.optim.Optimizer,
    grad_norm: float,
    seconds: float,
) -> None:
    """Append one JSON line; a non-finite grad norm (fp16 overflow, step skipped) is null."""
    record = {
        "step": step,
        "loss": loss,
        "lr": optimizer.param_groups[0]["lr"],
        "grad_norm": grad_norm if math.isfinite(grad_norm) else None,
        "seconds": round(seconds, 3),
    }
    with path.open("a") as log:
        log.write(json.dumps(record) + "\n")


def trim_metrics(path: Path, last_step: int) -> None:
    """Keep the log lines up to ``last_step``: a resumed run rewrites the steps after it.

    Lines cut short by a kill, or otherwise unreadable, are dropped too.
    """
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= last_step:
                kept.append(line + "\n")
        except (ValueError, KeyError, TypeError):
            continue
    write_atomic_text("".join(kept), path)
