"""A training run's resumable state and its checkpoint file: written atomically, checked on load.

The checkpoint holds the model, EMA, optimiser and grad-scaler state, the step reached, the
training seconds spent, the trainer's settings and the run's seed and world size. Random
streams need no saved state: every step's draws derive from (run seed, step, rank) (see
``randomness``). It is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from i2i_cli.base.atomic import write_atomic_bytes
from i2i_cli.base.errors import I2IError, UsageError
from i2i_cli.io.run_record import change_text, changed_settings, describe

FORMAT = "i2i-training-checkpoint/1"
SHOWN_CHANGES, SHOWN_WIDTH = 3, 24
"""A refused resume names the first few changed settings, their values cut short."""


@dataclass
class TrainingState:
    """Everything a checkpoint restores, plus the step and training time reached."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    ema: nn.Module | None
    scaler: torch.amp.GradScaler | None
    step: int = 0
    seconds: float = 0.0


def plain_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as JSON values (paths become strings), safe for ``weights_only`` loading."""
    return json.loads(json.dumps(dict(settings), default=str))


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to memory, then an atomic write: a kill never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic_bytes(buffer.getvalue(), path)


def save_checkpoint(
    path: Path, state: TrainingState, settings: Mapping[str, Any], trainer: str | None = None
) -> None:
    """Write ``state``, the run's settings (plain values) and its trainer's name atomically."""
    save_atomic(
        {
            "format": FORMAT,
            "trainer": trainer,
            "step": state.step,
            "seconds": state.seconds,
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "ema": state.ema.state_dict() if state.ema is not None else None,
            "scaler": state.scaler.state_dict() if state.scaler is not None else None,
            "settings": plain_settings(settings),
        },
        path,
    )


def restore_checkpoint(
    path: Path,
    state: TrainingState,
    settings: Mapping[str, Any],
    allowed: frozenset[str],
    trainer: str | None = None,
) -> dict[str, Any]:
    """Load ``path`` into ``state`` and return its settings; a bad file -> one line on why.

    A checkpoint another trainer wrote (its recorded ``trainer``, or, in a checkpoint that
    records none, settings this trainer does not have) is refused naming that trainer.
    """
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise I2IError(_unloadable(path, error)) from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise I2IError(f"{path} is not an i2i training checkpoint")
    before, now = saved["settings"], plain_settings(settings)
    other = _other_trainer(saved.get("trainer"), trainer, before, now)
    if other is not None:
        raise UsageError(f"cannot resume from {path}: {other}; choose another --output")
    changed = changed_settings(before, now, allowed)
    if changed:
        changes = [change_text(n, before.get(n), now.get(n), SHOWN_WIDTH) for n in changed]
        details = describe(changes, SHOWN_CHANGES)
        raise UsageError(f"cannot resume from {path}: settings differ ({details})")
    try:
        state.model.load_state_dict(saved["model"])
        state.optimizer.load_state_dict(saved["optimizer"])
        if state.ema is not None:
            state.ema.load_state_dict(saved["ema"] or saved["model"])
        if state.scaler is not None and saved["scaler"] is not None:
            state.scaler.load_state_dict(saved["scaler"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise I2IError(
            f"cannot resume from {path}: it does not fit this model ({_first_line(error)})"
        ) from None
    state.step = int(saved["step"])
    state.seconds = float(saved["seconds"])
    return before


def export_weights(path: Path, module: nn.Module) -> None:
    """Write ``module``'s state dict as CPU tensors (loadable with ``weights_only=True``)."""
    weights = {name: value.detach().cpu() for name, value in module.state_dict().items()}
    save_atomic(weights, path)


def _unloadable(path: Path, error: BaseException) -> str:
    """Why a checkpoint did not load, in one line that never advises loading it unsafely."""
    from i2i_cli.weights.file_kind import file_fault
    from i2i_cli.weights.loading import error_reason, forbidden_global, unsafe_message

    fault = file_fault(path)
    if fault is not None:
        return f"cannot resume from {path}: {fault.what}" + (
            "; delete it to start over" if fault.damaged else ""
        )
    name = forbidden_global(error)
    if name is not None:
        return f"cannot resume: {unsafe_message(path, name, 'training checkpoint')}"
    return (
        f"cannot resume from {path}: the file is corrupt or truncated ({error_reason(error)}); "
        "delete it to start over"
    )


def _other_trainer(
    recorded: Any, trainer: str | None, before: Mapping[str, Any], now: Mapping[str, Any]
) -> str | None:
    """Why the checkpoint is another trainer's (None: it may be this one's).

    The trainer it records decides; a checkpoint recording none (written before trainers were
    recorded) is another trainer's when its settings and this run's each have names the other
    lacks.
    """
    if isinstance(recorded, str) and trainer is not None:
        if recorded == trainer:
            return None
        return f"it holds a run of `i2i train {recorded}`, not of `i2i train {trainer}`"
    theirs, ours = sorted(set(before) - set(now)), sorted(set(now) - set(before))
    if not (theirs and ours):
        return None
    names = ", ".join(theirs[:3]) + (", ..." if len(theirs) > 3 else "")
    this = f"`i2i train {trainer}`" if trainer else "this trainer"
    return f"it holds another trainer's run, not {this}'s (its settings {names} are not ours)"


def _first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
