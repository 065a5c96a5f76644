"""``i2i train dse``: trains on the core loop, survives a kill, and its weights drive EGSDE."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.networks.backbones import trained_record
from tests.conftest import run_i2i
from tests.tiny_models import TASK_OVERRIDES, TINY_DSE, manifest_env, random_weights, toml_table

TINY_TRAINING = "batch_size = 2\ncheckpoint_every = 2\n\n" + toml_table("model", TINY_DSE)


def domain(folder: Path, shade: int) -> Path:
    """Three 40x48 images around one grey level (a toy domain)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(shade)
    for index in range(3):
        pixels = np.clip(rng.normal(shade, 20, (40, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    return folder


@pytest.fixture
def training(tmp_path: Path) -> list[str]:
    """Arguments of a tiny DSE training run initialised from a tiny ImageNet-style classifier."""
    init = random_weights(
        "adm-classifier", "classifier256", {**TINY_DSE, "out_channels": 1000},
        tmp_path / "tiny_classifier.pt",
    )  # fmt: skip
    config = tmp_path / "train.toml"
    config.write_text(f'init_checkpoint = "{init}"\n' + TINY_TRAINING)
    a, b = domain(tmp_path / "a", 60), domain(tmp_path / "b", 190)
    return ["--data-a", str(a), "--data-b", str(b), "--config", str(config), "--device", "cpu"]


@pytest.mark.slow
def test_dse_trains_is_killed_resumes_and_drives_egsde(
    training: list[str], tiny_egsde: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dse"
    command = [sys.executable, "-m", "i2i_cli", "train", "dse", *training, "--output", str(out),
               "--set", "iterations=400"]  # fmt: skip
    run = subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not (out / "checkpoint.pt").is_file() and run.poll() is None:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert (out / "checkpoint.pt").is_file() and not (out / "model.pt").exists()
    reached = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    assert 2 <= reached < 400

    target = reached + 4
    resumed = run_i2i(["train", "dse", *training, "--output", str(out), "--resume",
                       "--set", f"iterations={target}"])  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from step {reached}" in resumed.stderr
    assert "initialised" in resumed.stderr
    weights = torch.load(out / "model.pt", weights_only=True)
    assert tuple(weights["I2Iout.2.c_proj.weight"].shape) == (2, 32, 1)
    record = trained_record("adm-classifier", out / "model.pt")  # its backbone.toml
    assert record is not None and record.settings["out_channels"] == 2

    config = tmp_path / "egsde.toml"
    config.write_text(TASK_OVERRIDES.replace('"tiny_wild2dog_dse"', f'"{out / "model.pt"}"'))
    translated = run_i2i(
        ["translate", "egsde", "--task", "wild2dog", "--config", str(config), "--device", "cpu",
         "--input", str(tmp_path / "a"), "--output", str(tmp_path / "dogs")],
        env=manifest_env(),
    )  # fmt: skip
    assert translated.returncode == 0, translated.stderr
    assert len(list((tmp_path / "dogs").glob("[0-9].png"))) == 3


def test_dse_needs_both_domains(tmp_path: Path) -> None:
    result = run_i2i(["train", "dse", "--output", str(tmp_path / "o"), "--device", "cpu"])
    assert result.returncode == 2
    assert "needs --data-a and --data-b" in result.stderr


def test_missing_imagenet_classifier_trains_from_scratch(
    training: list[str], tmp_path: Path
) -> None:
    arguments = [a for a in training]
    result = run_i2i(
        [
            "train",
            "dse",
            *arguments,
            "--output",
            str(tmp_path / "o"),
            "--set",
            "init_checkpoint=adm_256x256_classifier",
            "--set",
            "iterations=2",
        ]
    )
    assert result.returncode == 0, result.stderr
    assert "is not downloaded: training from scratch" in result.stderr
