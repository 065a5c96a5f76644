"""The core training loop: learning, EMA, clipping, rates, checkpoints, resume, errors, CLI, DDP."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console
from torch import nn

from i2i_cli.context import RunContext
from i2i_cli.errors import I2IError, UsageError
from i2i_cli.progress import RunProgress
from i2i_cli.run_settings import TrainRun
from i2i_cli.runtime import create_runtime
from i2i_cli.training import EpochSampler, TrainingRecipe, run_training, update_ema
from tests.conftest import DISTS, run_i2i

# ---------------------------------------------------------------- in-process helpers


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


def lines_logged(out: Path) -> int:
    """Complete lines in the metrics log so far (a line being written is not counted)."""
    path = out / "metrics.jsonl"
    return path.read_text().count("\n") if path.is_file() else 0


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


class Interrupted(Exception):
    """Stands in for a kill in the middle of a run."""


def interrupted_at(step: int) -> Callable[[int, torch.Generator], torch.Tensor]:
    """Batches that fail when ``step`` comes (after the checkpoints before it were written)."""

    def batches(current: int, generator: torch.Generator) -> torch.Tensor:
        if current == step:
            raise Interrupted
        return toy_batches(current, generator)

    return batches


# ---------------------------------------------------------------- learning and the export


def test_training_lowers_the_loss_of_a_toy_regression(tmp_path: Path) -> None:
    run_training(make_context(tmp_path), toy_recipe(steps=60))
    log = metrics(tmp_path)
    assert [row["step"] for row in log] == list(range(1, 61))
    assert set(log[0]) == {"step", "loss", "lr", "grad_norm", "seconds"}
    assert log[-1]["loss"] < 0.1 * log[0]["loss"]


def test_the_export_is_a_plain_state_dict_of_the_ema_weights(tmp_path: Path) -> None:
    model = mlp()
    export = run_training(make_context(tmp_path), toy_recipe(model, steps=10, ema_decay=0.9))
    exported = weights(export)
    assert export == tmp_path / "model.pt"
    assert set(exported) == set(model.state_dict())
    assert not torch.equal(exported["0.weight"], model.state_dict()["0.weight"])
    assert torch.equal(exported["0.weight"], weights(tmp_path / "checkpoint.pt")["ema"]["0.weight"])


def test_bf16_autocast_trains_on_the_cpu(tmp_path: Path) -> None:
    run_training(make_context(tmp_path, precision="bf16"), toy_recipe(steps=40))
    log = metrics(tmp_path)
    assert log[-1]["loss"] < 0.3 * log[0]["loss"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 autocast needs a CUDA device")
def test_fp16_trains_with_a_grad_scaler(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, precision="fp16", device="cuda")

    def batches(step: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(16, 1, generator=generator, device="cuda") * 2 - 1

    def loss(net: nn.Module, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return ((net(x).float() - (2 * x + 1)) ** 2).mean()

    run_training(ctx, toy_recipe(steps=40, batches=batches, loss=loss))
    assert weights(tmp_path / "checkpoint.pt")["scaler"]["scale"] > 0
    assert metrics(tmp_path)[-1]["loss"] < 0.3 * metrics(tmp_path)[0]["loss"]


# ---------------------------------------------------------------- EMA, clipping, rates


def test_ema_moves_toward_the_model_by_one_minus_decay() -> None:
    model, ema = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        ema.weight.fill_(0.0)
    update_ema(ema, model, decay=0.9)
    torch.testing.assert_close(ema.weight, torch.full_like(ema.weight, 0.1))


def test_the_loop_averages_the_weights_after_each_step(tmp_path: Path) -> None:
    model = mlp()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    run_training(make_context(tmp_path), toy_recipe(model, steps=1, ema_decay=0.75))
    after, exported = model.state_dict(), weights(tmp_path / "model.pt")
    for key, before in start.items():
        torch.testing.assert_close(exported[key], 0.75 * before + 0.25 * after[key])


def test_gradient_clipping_bounds_the_update_and_logs_the_norm_before(tmp_path: Path) -> None:
    model = mlp()
    start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    recipe = toy_recipe(
        model,
        steps=1,
        grad_clip=0.01,
        optimizer=lambda net: torch.optim.SGD(net.parameters(), lr=1.0),
    )
    run_training(make_context(tmp_path), recipe)
    moved = torch.cat([p.detach().flatten() for p in model.parameters()]) - start
    assert metrics(tmp_path)[0]["grad_norm"] > 0.1
    assert moved.norm().item() == pytest.approx(0.01, rel=1e-4)


def test_warmup_and_schedule_scale_the_base_rate(tmp_path: Path) -> None:
    recipe = toy_recipe(steps=8, warmup_steps=4, lr_multiplier=lambda step: 1.0 - step / 8)
    run_training(make_context(tmp_path), recipe)
    expected = [0.02 * min(1.0, (k + 1) / 4) * (1.0 - k / 8) for k in range(8)]
    assert [row["lr"] for row in metrics(tmp_path)] == pytest.approx(expected)


def test_epoch_sampler_visits_every_item_once_per_epoch_split_over_ranks() -> None:
    ranks = [EpochSampler(50, 4, seed=3, rank=r, world_size=3) for r in range(3)]
    assert ranks[0].steps_per_epoch == 4
    for epoch in range(2):
        steps = range(epoch * 4, epoch * 4 + 4)
        drawn = torch.cat([sampler.indices(k) for k in steps for sampler in ranks])
        assert len(set(drawn.tolist())) == 48
    first, second = ranks[0].indices(0), ranks[0].indices(4)
    assert not torch.equal(first, second)
    assert torch.equal(first, EpochSampler(50, 4, seed=3, rank=0, world_size=3).indices(0))
    with pytest.raises(UsageError, match="cannot fill one step"):
        EpochSampler(10, 4, seed=0, world_size=3)


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
    with pytest.raises(UsageError, match=r"settings differ \(lr: 0.02 -> 0.5, run.seed: 0 -> 1\)"):
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
    with pytest.raises(I2IError, match="corrupt or truncated"):
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


def train(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_i2i(
        ["train", "tinytrain", "--device", "cpu", "--output", str(out), *args], dists=["tinytrain"]
    )


def test_the_cli_trains_and_exports_plain_weights(tmp_path: Path) -> None:
    result = train(tmp_path / "run", "--set", "steps=60", "--set", "lr=0.02")
    assert result.returncode == 0, result.stderr
    log = metrics(tmp_path / "run")
    assert [row["step"] for row in log] == list(range(1, 61))
    assert log[-1]["loss"] < 0.2 * log[0]["loss"]
    exported = weights(tmp_path / "run" / "model.pt")
    assert set(exported) == {"0.weight", "0.bias", "3.weight", "3.bias"}


def test_the_cli_refuses_resume_without_a_checkpoint_in_one_line(tmp_path: Path) -> None:
    result = train(tmp_path / "run", "--resume")
    assert result.returncode == 2
    assert "--resume: no checkpoint in" in result.stderr and "Traceback" not in result.stderr


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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if lines_logged(out) >= 12:
            break
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
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


def test_ddp_averages_each_ranks_share_of_the_batch(tmp_path: Path) -> None:
    settings = ["--set", "steps=6", "--set", "lr=0.05", "--set", "noise=0"]
    single = train(tmp_path / "one", *settings, "--set", "batch_size=64")
    assert single.returncode == 0, single.stderr
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(DISTS / "tinytrain"), os.environ.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1",
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "i2i_cli", "train", "tinytrain", "--device", "cpu",
               "--output", str(tmp_path / "two"), *settings, "--set", "batch_size=32"]  # fmt: skip
    job = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, stderr = job.communicate(timeout=180)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)  # torchrun and both of its workers
            job.wait()
    assert job.returncode == 0, stderr.decode()
    assert weights(tmp_path / "two" / "checkpoint.pt")["settings"]["run.world_size"] == 2
    assert [row["step"] for row in metrics(tmp_path / "two")] == list(range(1, 7))
    one, two = weights(tmp_path / "one" / "model.pt"), weights(tmp_path / "two" / "model.pt")
    for key, value in one.items():
        torch.testing.assert_close(two[key], value, rtol=1e-5, atol=1e-6)
