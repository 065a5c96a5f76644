"""The core training loop's checkpoints: bitwise resume, refusals, one-line errors, a killed run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from i2i_cli.base.errors import I2IError, UsageError
from i2i_cli.training import run_training
from tests.conftest import DISTS
from tests.toy_training import (
    make_context,
    metrics,
    mlp,
    toy_batches,
    toy_loss,
    toy_recipe,
    train,
    weights,
)


def lines_logged(out: Path) -> int:
    """Complete lines in the metrics log so far (a line being written is not counted)."""
    path = out / "metrics.jsonl"
    return path.read_text().count("\n") if path.is_file() else 0


class Interrupted(Exception):
    """Stands in for a kill in the middle of a run."""


def interrupted_at(step: int) -> Callable[[int, torch.Generator], torch.Tensor]:
    """Batches that fail when ``step`` comes (after the checkpoints before it were written)."""

    def batches(current: int, generator: torch.Generator) -> torch.Tensor:
        if current == step:
            raise Interrupted
        return toy_batches(current, generator)

    return batches


# ---------------------------------------------------------------- checkpoints and resume


def test_a_resumed_run_ends_bitwise_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    options: dict[str, Any] = {
        "steps": 20,
        "ema_decay": 0.9,
        "grad_clip": 1.0,
        "warmup_steps": 5,
        "lr_multiplier": lambda step: 1.0 - step / 20,
    }
    run_training(make_context(tmp_path / "whole"), toy_recipe(mlp(dropout=0.2), **options))

    out = tmp_path / "parts"
    with pytest.raises(Interrupted):
        run_training(
            make_context(out),
            toy_recipe(mlp(dropout=0.2), batches=interrupted_at(13), **options),
        )
    assert weights(out / "checkpoint.pt")["step"] == 10
    assert not (out / "model.pt").exists()
    ctx = make_context(out, resume=True)
    with torch.random.fork_rng():
        torch.manual_seed(99)  # the new process's global generator (dropout) is elsewhere
        run_training(ctx, toy_recipe(mlp(seed=1, dropout=0.2), **options))
    assert "resuming from step 10 of 20" in ctx.console.file.getvalue()

    for key, value in weights(tmp_path / "whole" / "model.pt").items():
        assert torch.equal(value, weights(out / "model.pt")[key]), key
    whole, parts = metrics(tmp_path / "whole"), metrics(out)
    assert [row["step"] for row in parts] == list(range(1, 21))
    for a, b in zip(whole, parts, strict=True):
        assert (a["loss"], a["lr"], a["grad_norm"]) == (b["loss"], b["lr"], b["grad_norm"])


def test_the_checkpoint_holds_everything_a_resume_needs(tmp_path: Path) -> None:
    run_training(make_context(tmp_path, seed=7), toy_recipe(steps=3, ema_decay=0.5))
    saved = weights(tmp_path / "checkpoint.pt")
    assert {"step", "seconds", "model", "optimizer", "ema", "scaler", "settings"} <= set(saved)
    assert saved["step"] == 3
    assert saved["settings"] == {"lr": 0.02, "run.seed": 7, "run.world_size": 1}
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_existing_run_needs_resume(tmp_path: Path) -> None:
    run_training(make_context(tmp_path), toy_recipe(steps=2))
    with pytest.raises(UsageError, match="pass --resume"):
        run_training(make_context(tmp_path), toy_recipe(steps=2))


def test_resume_without_a_checkpoint_says_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--resume: no checkpoint in"):
        run_training(make_context(tmp_path, resume=True), toy_recipe(steps=2))


def test_resume_with_other_settings_names_them(tmp_path: Path) -> None:
    run_training(make_context(tmp_path), toy_recipe(steps=2))
    other = toy_recipe(steps=4, settings={"lr": 0.5})
    with pytest.raises(UsageError, match=r"settings differ \(lr: 0.02 -> 0.5; run.seed: 0 -> 1\)"):
        run_training(make_context(tmp_path, resume=True, seed=1), other)


def test_resume_may_train_longer(tmp_path: Path) -> None:
    run_training(make_context(tmp_path), toy_recipe(steps=3))
    run_training(make_context(tmp_path, resume=True), toy_recipe(steps=6))
    assert [row["step"] for row in metrics(tmp_path)] == list(range(1, 7))


def test_resume_past_the_steps_asked_for_is_refused(tmp_path: Path) -> None:
    run_training(make_context(tmp_path), toy_recipe(steps=6))
    with pytest.raises(UsageError, match="at step 6, past the 3 asked for"):
        run_training(make_context(tmp_path, resume=True), toy_recipe(steps=3))


def test_a_corrupt_checkpoint_is_one_line(tmp_path: Path) -> None:
    run_training(make_context(tmp_path), toy_recipe(steps=2))
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(I2IError, match="it is a text file, not a checkpoint"):
        run_training(make_context(tmp_path, resume=True), toy_recipe(steps=4))


def test_a_checkpoint_of_another_model_is_one_line(tmp_path: Path) -> None:
    run_training(make_context(tmp_path), toy_recipe(steps=2))
    wider = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    with pytest.raises(I2IError, match="does not fit this model") as caught:
        run_training(make_context(tmp_path, resume=True), toy_recipe(wider, steps=4))
    assert "\n" not in str(caught.value)


def test_a_diverging_loss_stops_with_one_line_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    current = [0]

    def batches(step: int, generator: torch.Generator) -> torch.Tensor:
        current[0] = step
        return toy_batches(step, generator)

    def exploding(net: nn.Module, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return toy_loss(net, x, generator) * (1e40 if current[0] >= 4 else 1.0)

    recipe = toy_recipe(steps=10, loss=exploding, batches=batches, checkpoint_every=2)
    with pytest.raises(I2IError, match="stopped being finite by step 5"):
        run_training(make_context(tmp_path), recipe)
    assert weights(tmp_path / "checkpoint.pt")["step"] == 4


# ---------------------------------------------------------------- through the CLI


def test_the_cli_refuses_resume_without_a_checkpoint_in_one_line(tmp_path: Path) -> None:
    result = train(tmp_path / "run", "--resume")
    assert result.returncode == 2
    assert "--resume: no checkpoint in" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    settings = ["--set", "steps=40", "--set", "checkpoint_every=5", "--set", "ema_decay=0.9",
                "--set", "dropout=0.1", "--set", "warmup_steps=5", "--set", "anneal=true",
                "--set", "grad_clip=1.0"]  # fmt: skip
    reference = train(tmp_path / "whole", *settings)
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(DISTS / "tinytrain"), os.environ.get("PYTHONPATH", "")]),
    )
    command = [sys.executable, "-m", "i2i_cli", "train", "tinytrain", "--device", "cpu",
               "--output", str(out), *settings, "--set", "sleep=0.05"]  # fmt: skip
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while lines_logged(out) < 12 and run.poll() is None:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    saved = weights(out / "checkpoint.pt")  # complete: it loads
    assert 10 <= saved["step"] < 40
    assert not (out / "model.pt").exists()

    resumed = train(out, *settings, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from step {saved['step']} of 40" in resumed.stderr
    assert [row["step"] for row in metrics(out)] == list(range(1, 41))
    assert weights(out / "checkpoint.pt")["step"] == 40
    whole = weights(tmp_path / "whole" / "model.pt")
    again = weights(out / "model.pt")
    for key, value in whole.items():
        assert torch.equal(value, again[key]), key


def ctrl_c_at(step: int) -> Callable[[int, torch.Generator], torch.Tensor]:
    """Batches that send this process a SIGINT while step ``step`` is being drawn."""

    def batches(k: int, generator: torch.Generator) -> torch.Tensor:
        if k == step:
            signal.raise_signal(signal.SIGINT)
        return toy_batches(k, generator)

    return batches


@pytest.fixture
def interactive_sigint() -> Iterator[None]:
    """SIGINT handled as in an interactive Python (KeyboardInterrupt), whatever started pytest."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_process_that_ignores_sigint_keeps_ignoring_it() -> None:
    """Under nohup (SIGINT ignored) training installs no handler: Ctrl-C stays ignored."""
    from i2i_cli.training.interrupt import InterruptRequest

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with InterruptRequest() as request:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
        assert not request.requested
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("interactive_sigint")
def test_ctrl_c_before_the_first_checkpoint_saves_one_to_resume_from(tmp_path: Path) -> None:
    """Issue 16.4: the step under way finishes, a checkpoint is written, then the run stops."""
    options: dict[str, Any] = {"steps": 12, "checkpoint_every": 100, "log_every": 4}
    run_training(make_context(tmp_path / "whole"), toy_recipe(**options))
    out = tmp_path / "parts"
    ctx = make_context(out)
    with pytest.raises(KeyboardInterrupt):
        run_training(ctx, toy_recipe(batches=ctrl_c_at(6), **options))
    assert weights(out / "checkpoint.pt")["step"] == 7
    assert "interrupted after step 7 of 12: checkpoint saved" in ctx.console.file.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    run_training(make_context(out, resume=True), toy_recipe(mlp(seed=1), **options))
    for key, value in weights(tmp_path / "whole" / "model.pt").items():
        assert torch.equal(value, weights(out / "model.pt")[key]), key
