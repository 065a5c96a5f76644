"""The core training loop through a fixture trainer: learning, EMA, checkpoints, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from i2i_cli.training import update_ema
from tests.conftest import DISTS, run_i2i


def train(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_i2i(
        ["train", "tinytrain", "--device", "cpu", "--output", str(out), *args], dists=["tinytrain"]
    )


def metrics(out: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_and_exports_plain_weights(tmp_path: Path) -> None:
    result = train(tmp_path / "run", "--set", "steps=60", "--set", "lr=0.02")
    assert result.returncode == 0, result.stderr
    log = metrics(tmp_path / "run")
    assert [row["step"] for row in log] == list(range(1, 61))
    assert log[-1]["loss"] < 0.2 * log[0]["loss"]
    weights = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert set(weights) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_a_killed_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    settings = ["--set", "steps=40", "--set", "checkpoint_every=5", "--set", "ema_decay=0.9"]
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
        if (out / "metrics.jsonl").is_file() and len(metrics(out)) >= 12:
            break
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert (out / "checkpoint.pt").is_file()
    assert not (out / "model.pt").exists()

    resumed = train(out, *settings, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step" in resumed.stderr
    assert [row["step"] for row in metrics(out)] == list(range(1, 41))
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    again = torch.load(out / "model.pt", weights_only=True)
    for key, value in whole.items():
        assert torch.equal(value, again[key]), key


def test_an_existing_run_needs_resume(tmp_path: Path) -> None:
    assert train(tmp_path / "run", "--set", "steps=3").returncode == 0
    again = train(tmp_path / "run", "--set", "steps=3")
    assert again.returncode == 2
    assert "pass --resume" in again.stderr and "Traceback" not in again.stderr


def test_resume_without_a_checkpoint_is_one_line(tmp_path: Path) -> None:
    result = train(tmp_path / "run", "--resume")
    assert result.returncode == 2
    assert "--resume: no checkpoint in" in result.stderr


def test_resume_with_other_settings_names_them(tmp_path: Path) -> None:
    assert train(tmp_path / "run", "--set", "steps=3").returncode == 0
    result = train(tmp_path / "run", "--set", "steps=6", "--set", "lr=0.5", "--resume")
    assert result.returncode == 2
    assert "settings differ (lr: 0.01 -> 0.5)" in result.stderr


def test_resume_may_train_longer(tmp_path: Path) -> None:
    assert train(tmp_path / "run", "--set", "steps=3").returncode == 0
    result = train(tmp_path / "run", "--set", "steps=6", "--resume")
    assert result.returncode == 0, result.stderr
    assert metrics(tmp_path / "run")[-1]["step"] == 6


def test_a_corrupt_checkpoint_is_one_line(tmp_path: Path) -> None:
    assert train(tmp_path / "run", "--set", "steps=3").returncode == 0
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = train(tmp_path / "run", "--set", "steps=6", "--resume")
    assert result.returncode == 1
    assert "corrupt or truncated" in result.stderr and "Traceback" not in result.stderr


def test_ema_moves_toward_the_model_by_one_minus_decay() -> None:
    model, ema = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        ema.weight.fill_(0.0)
    update_ema(ema, model, decay=0.9)
    torch.testing.assert_close(ema.weight, torch.full_like(ema.weight, 0.1))
