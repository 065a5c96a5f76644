"""``i2i train bbdm`` (bbdm.md §3): the step's maths, a run end to end into ``i2i translate
sde-bbdm``, bitwise resume (also after a kill) and one-line refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from i2i_bbdm.bridge import bridge_marginal
from i2i_bbdm.pair_batches import PairBatch
from i2i_bbdm.train import bridge_ends, bridge_loss, decoding_workers, training_times
from i2i_cli.api.settings import parse_toml, read_toml
from tests.conftest import run_i2i
from tests.kill_resume import (
    killed_run_resumes_bitwise,
    same_weights,
    weights,
)
from tests.tiny_models import random_weights

TINY_UNET = """
[model]
image_size = 16
model_channels = 32
num_res_blocks = 1
attention_resolutions = [2]
channel_mult = [1, 1]
num_head_channels = 16
"""
TINY_TRAINING = (
    "image_size = 16\nsteps = 10\nbatch_size = 2\niterations = 6\ncheckpoint_every = 2\n"
    "log_every = 1\nworkers = 0\n" + TINY_UNET
)
TINY_VQ = {"ch": 32, "ch_mult": "1,1,1", "num_res_blocks": 1, "n_embed": 16, "resolution": 32}
"""vq_f4 shrunk: three levels (f = 4) of 32 channels, 16 codebook vectors."""
TINY_TRANSLATION = 'image_size = 16\nsteps = 10\nsampler = "fast"\ntaus = "10,5,1"\n' + TINY_UNET


def shoes(root: Path, count: int = 4) -> Path:
    """A tiny edges2shoes folder: ``train/<i>.png``, 12x24 [source | target] files."""
    (root / "train").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        source = np.full((12, 12, 3), 40 * index, dtype=np.uint8)
        target = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([source, target], axis=1)).save(
            root / "train" / f"{index}.png"
        )
    return root


@pytest.fixture
def training(tmp_path: Path) -> list[str]:
    """Arguments of a tiny run on a generated edges2shoes folder."""
    config = tmp_path / "train.toml"
    config.write_text(TINY_TRAINING)
    data = shoes(tmp_path / "shoes")
    return ["train", "bbdm", "--data", str(data), "--layout", "edges2shoes",
            "--config", str(config), "--device", "cpu"]  # fmt: skip


# ---------------------------------------------------------------- the step (bbdm.md §3)


def test_training_times_are_uniform_on_two_to_t() -> None:
    t = training_times(20_000, 10, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert t.dtype == torch.int64
    assert set(t.tolist()) == set(range(2, 11))


def test_the_loss_is_the_mean_absolute_error_to_x_t_minus_x0() -> None:
    generator = torch.Generator().manual_seed(1)
    x0, y, eps = (torch.randn(3, 3, 4, 4, generator=generator) for _ in range(3))
    t = torch.tensor([2, 7, 10])
    seen: list[torch.Tensor] = []

    class Net(nn.Module):
        def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
            seen.extend([x, timesteps])
            return torch.zeros_like(x)

    loss = bridge_loss(Net(), t, bridge_marginal(x0, y, t, eps, steps=10, c_lambda=2.0))
    x_t, objective = bridge_marginal(x0, y, t, eps, steps=10, c_lambda=2.0)
    assert torch.equal(seen[0], x_t) and torch.equal(seen[1], t)  # x_t only, raw integer t
    assert torch.allclose(objective, x_t - x0, atol=1e-6)
    assert torch.allclose(loss, objective.abs().mean())


def test_latent_mode_bridges_the_encoded_target_and_source_without_gradient() -> None:
    batch = PairBatch(source=torch.zeros(1, 3, 8, 8), target=torch.ones(1, 3, 8, 8))
    layer = nn.Conv2d(3, 3, 4, stride=4)
    x0, y = bridge_ends(batch, layer)
    assert torch.equal(x0, layer(batch.target)) and torch.equal(y, layer(batch.source))
    assert x0.shape == (1, 3, 2, 2) and not x0.requires_grad
    assert bridge_ends(batch, None) == (batch.target, batch.source)


def test_decoding_workers_default_to_the_cpus_per_rank_at_most_eight() -> None:
    assert decoding_workers(0, 1) == 0 and decoding_workers(3, 8) == 3
    assert 1 <= decoding_workers(None, 1) <= 8
    assert decoding_workers(None, 10_000) == 1


# ---------------------------------------------------------------- through the CLI


def test_train_then_translate_end_to_end(training: list[str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    trained = run_i2i([*training, "--output", str(out), "--set", "workers=1"])
    assert trained.returncode == 0, trained.stderr
    assert "4 pairs (edges2shoes, train) at 16 px" in trained.stderr
    model = out / "model.pt"
    state = weights(model)
    assert "input_blocks.0.0.weight" in state and "out.2.weight" in state
    assert weights(out / "checkpoint.pt")["step"] == 6

    sources = tmp_path / "sources"
    sources.mkdir()
    for index in range(2):
        Image.new("RGB", (12, 12), (40 * index,) * 3).save(sources / f"edge{index}.png")
    config = tmp_path / "translate.toml"
    config.write_text(TINY_TRANSLATION)
    translated = run_i2i(
        ["translate", "sde-bbdm", "--input", str(sources), "--checkpoint", str(model),
         "--config", str(config), "--device", "cpu", "--output", str(tmp_path / "shoes_out")]
    )  # fmt: skip
    assert translated.returncode == 0, translated.stderr
    for name in ("edge0.png", "edge1.png"):
        assert Image.open(tmp_path / "shoes_out" / name).size == (16, 16)


def test_its_backbone_toml_lets_translate_build_the_trained_network(
    training: list[str], tmp_path: Path
) -> None:
    """``model.pt`` alone is enough: no --set model.* for a network of non-default size, and a
    value that contradicts the run's record is one line naming both."""
    out = tmp_path / "run"
    trained = run_i2i([*training, "--output", str(out), "--set", "iterations=1"])
    assert trained.returncode == 0, trained.stderr
    record = read_toml(out / "backbone.toml")
    assert record["backbone"] == "bbdm-unet" and "preset" not in record
    assert Path(record["checkpoint"]) == (out / "model.pt").resolve()
    assert record["model"] == parse_toml(TINY_UNET, "TINY_UNET")["model"]
    assert "--steps 10 --c-lambda 2" in (out / "backbone.toml").read_text()

    sources = tmp_path / "sources"
    sources.mkdir()
    Image.new("RGB", (12, 12), (40, 40, 40)).save(sources / "edge.png")
    bare = tmp_path / "bare.toml"
    bare.write_text('image_size = 16\nsteps = 10\nsampler = "fast"\ntaus = "10,5,1"\n')
    args = ["translate", "sde-bbdm", "--input", str(sources), "--checkpoint",
            str(out / "model.pt"), "--config", str(bare), "--device", "cpu"]  # fmt: skip
    translated = run_i2i([*args, "--output", str(tmp_path / "made")])
    assert translated.returncode == 0, translated.stderr
    assert "UNet(3->3, 32 x [1, 1], 1 blocks)" in translated.stderr
    assert Image.open(tmp_path / "made" / "edge.png").size == (16, 16)

    refused = run_i2i([*args, "--output", str(tmp_path / "x"), "--set", "model.num_res_blocks=2"])
    assert refused.returncode == 2
    message = refused.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "backbone.toml" in message and "model.num_res_blocks: the file records 1" in message

    # Tuning it further with no --set model.*: the new run records the network it tuned.
    bare_training = tmp_path / "tune.toml"
    bare_training.write_text(TINY_TRAINING.replace(TINY_UNET, "").replace("iterations = 6", ""))
    tuned = run_i2i(
        ["train", "bbdm", "--data", str(tmp_path / "shoes"), "--config", str(bare_training),
         "--checkpoint", str(out / "model.pt"), "--set", "iterations=1", "--device", "cpu",
         "--output", str(tmp_path / "tuned")]
    )  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr
    assert read_toml(tmp_path / "tuned" / "backbone.toml")["model"] == record["model"]


def test_a_resumed_run_ends_bitwise_where_an_uninterrupted_one_does(
    training: list[str], tmp_path: Path
) -> None:
    ema = ["--set", "ema_decay=0.9", "--set", "model.dropout=0.1"]  # dropout: global RNG
    whole = run_i2i([*training, *ema, "--output", str(tmp_path / "whole")])
    assert whole.returncode == 0, whole.stderr

    parts = tmp_path / "parts"
    first = run_i2i([*training, *ema, "--output", str(parts), "--set", "iterations=4"])
    assert first.returncode == 0, first.stderr
    resumed = run_i2i([*training, *ema, "--output", str(parts), "--resume", "--set", "workers=1"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step 4 of 6" in resumed.stderr
    same_weights(tmp_path / "whole" / "model.pt", parts / "model.pt")


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(
    training: list[str], tmp_path: Path
) -> None:
    killed_run_resumes_bitwise(training, tmp_path, more_steps=4)


def test_latent_mode_trains_on_the_frozen_vq_f4_latents_then_translates(
    training: list[str], tmp_path: Path
) -> None:
    vq = random_weights("vq-f4", "vq_f4", TINY_VQ, tmp_path / "tiny_vq.pt")
    vq_model = [f"vq_model.{key}={value}" for key, value in TINY_VQ.items()]
    out = tmp_path / "latent"
    trained = run_i2i(
        [*training, "--output", str(out), "--latent", "vq-f4", "--vq-checkpoint", str(vq),
         "--image-size", "32", "--set", "iterations=2", "--set", "model.image_size=8",
         *(arg for item in vq_model for arg in ("--set", item))]
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "at 32 px, on vq-f4 latents" in trained.stderr
    assert weights(out / "checkpoint.pt")["step"] == 2

    sources = tmp_path / "sources"
    sources.mkdir()
    Image.new("RGB", (12, 12), (90, 90, 90)).save(sources / "edge.png")
    config = tmp_path / "translate.toml"
    config.write_text(TINY_TRANSLATION)
    translated = run_i2i(
        ["translate", "sde-bbdm", "--input", str(sources), "--checkpoint", str(out / "model.pt"),
         "--config", str(config), "--latent", "vq-f4", "--vq-checkpoint", str(vq),
         "--image-size", "32", "--set", "model.image_size=8", "--device", "cpu",
         "--output", str(tmp_path / "made"), *(arg for item in vq_model for arg in ("--set", item))]
    )  # fmt: skip
    assert translated.returncode == 0, translated.stderr
    assert Image.open(tmp_path / "made" / "edge.png").size == (32, 32)


def test_latent_mode_needs_an_image_size_divisible_by_four(
    training: list[str], tmp_path: Path
) -> None:
    result = run_i2i([*training, "--latent", "vq-f4", "--image-size", "30",
                      "--output", str(tmp_path / "x")])  # fmt: skip
    assert result.returncode == 2
    assert "divisible by 4" in result.stderr and "Traceback" not in result.stderr


def test_training_can_start_from_given_weights(training: list[str], tmp_path: Path) -> None:
    tiny = parse_toml(TINY_UNET, "TINY_UNET")["model"]
    start = random_weights("bbdm-unet", "sde_bbdm", tiny, tmp_path / "start.pt")
    out = tmp_path / "tuned"
    args = [*training, "--checkpoint", str(start), "--set", "iterations=1", "--set", "lr=1e-12"]
    tuned = run_i2i([*args, "--output", str(out)])
    assert tuned.returncode == 0, tuned.stderr
    for key, value in weights(start).items():
        assert torch.allclose(weights(out / "model.pt")[key], value, atol=1e-6), key

    wider = run_i2i([*args, "--set", "model.model_channels=64", "--output", str(tmp_path / "w")])
    assert wider.returncode != 0
    assert "does not fit the configured network" in wider.stderr
    assert "Traceback" not in wider.stderr


# ---------------------------------------------------------------- one-line refusals


def test_without_data_the_command_says_what_it_needs(tmp_path: Path) -> None:
    result = run_i2i(["train", "bbdm", "--device", "cpu", "--output", str(tmp_path / "x")])
    assert result.returncode == 2
    assert "needs --data" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_layout_is_refused_in_one_line(training: list[str], tmp_path: Path) -> None:
    result = run_i2i([*training, "--layout", "pix2pix", "--output", str(tmp_path / "x")])
    assert result.returncode == 2
    assert "layout" in result.stderr and "Traceback" not in result.stderr


def test_a_file_the_layout_cannot_use_fails_before_training(
    training: list[str], tmp_path: Path
) -> None:
    data = Path(training[training.index("--data") + 1])
    Image.new("RGB", (12, 12)).save(data / "train" / "square.png")
    result = run_i2i([*training, "--output", str(tmp_path / "x")])
    assert result.returncode == 2, result.stderr
    assert "width must be twice its height" in result.stderr
    assert "Traceback" not in result.stderr


def test_too_few_pairs_for_one_batch_is_one_line(training: list[str], tmp_path: Path) -> None:
    result = run_i2i([*training, "--set", "batch_size=8", "--output", str(tmp_path / "x")])
    assert result.returncode == 2
    assert "cannot fill one step" in result.stderr and "Traceback" not in result.stderr
