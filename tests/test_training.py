"""The core training loop: learning, the export, EMA, clipping, rates, sampling, CLI, DDP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from i2i_cli.base.errors import UsageError
from i2i_cli.training import EpochSampler, run_training, update_ema
from tests.conftest import DISTS, run_torchrun
from tests.toy_training import make_context, metrics, mlp, toy_recipe, train, weights

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


# ---------------------------------------------------------------- through the CLI


def test_the_cli_trains_and_exports_plain_weights(tmp_path: Path) -> None:
    result = train(tmp_path / "run", "--set", "steps=60", "--set", "lr=0.02")
    assert result.returncode == 0, result.stderr
    log = metrics(tmp_path / "run")
    assert [row["step"] for row in log] == list(range(1, 61))
    assert log[-1]["loss"] < 0.2 * log[0]["loss"]
    exported = weights(tmp_path / "run" / "model.pt")
    assert set(exported) == {"0.weight", "0.bias", "3.weight", "3.bias"}


@pytest.mark.slow
def test_ddp_averages_each_ranks_share_of_the_batch(tmp_path: Path) -> None:
    settings = ["--set", "steps=6", "--set", "lr=0.05", "--set", "noise=0"]
    single = train(tmp_path / "one", *settings, "--set", "batch_size=64")
    assert single.returncode == 0, single.stderr
    two = ["train", "tinytrain", "--device", "cpu", "--output", str(tmp_path / "two"), *settings,
           "--set", "batch_size=32"]  # fmt: skip
    path = os.pathsep.join([str(DISTS / "tinytrain"), os.environ.get("PYTHONPATH", "")])
    job = run_torchrun(two, env={"PYTHONPATH": path})
    assert job.returncode == 0, job.stderr
    assert weights(tmp_path / "two" / "checkpoint.pt")["settings"]["run.world_size"] == 2
    assert [row["step"] for row in metrics(tmp_path / "two")] == list(range(1, 7))
    one, two = weights(tmp_path / "one" / "model.pt"), weights(tmp_path / "two" / "model.pt")
    for key, value in one.items():
        torch.testing.assert_close(two[key], value, rtol=1e-5, atol=1e-6)
