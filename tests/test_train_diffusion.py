"""``i2i train diffusion``: labels, training end to end, bitwise resume (also after a kill),
its model.pt translating with egsde, one-line refusals (objectives: test_diffusion_objectives)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.api.settings import read_toml, to_toml
from i2i_cli.base.errors import UsageError
from i2i_cli.io.data import ImageItem
from i2i_diffusion.timesteps import HISTORY_PER_TERM
from i2i_diffusion.training_images import class_name, find_training_images
from tests.conftest import run_i2i, run_torchrun
from tests.kill_resume import (
    killed_run_resumes_bitwise,
    same_weights,
    weights,
)
from tests.tiny_models import random_weights

TINY_UNET = {
    "image_size": 16,
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": "1,1",
    "attention_resolutions": "8",
    "num_head_channels": 16,
    "resblock_updown": False,
}
"""afhq_dog_4m (learned variance) shrunk to 16 px."""
TINY_TRAINING = (
    "batch_size = 2\niterations = 4\ncheckpoint_every = 2\nlog_every = 1\nworkers = 0\n\n"
    + to_toml({"model": TINY_UNET})
)
TINY_DSE = {
    "image_size": 16,
    "width": 32,
    "depth": 1,
    "channel_mult": "1",
    "attention_resolutions": "16",
    "num_head_channels": 16,
}


def save_images(folder: Path, names: list[str], seed: int = 0) -> None:
    """Random 20x24 RGB PNGs named ``names`` (sub-folders allowed) under ``folder``."""
    rng = np.random.default_rng(seed)
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def training(tmp_path: Path) -> list[str]:
    """Arguments of a tiny run on two sub-folders of random images."""
    config = tmp_path / "train.toml"
    config.write_text(TINY_TRAINING)
    data = tmp_path / "data"
    save_images(data, [f"{c}/{c}_{i}.png" for c in ("disc", "square") for i in range(2)])
    return ["train", "diffusion", "--data", str(data), "--config", str(config), "--device", "cpu"]


def refused(args: list[str]) -> str:
    """The stderr of a run that must fail with one usage line."""
    result = run_i2i(args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


# ---------------------------------------------------------------- data and labels


def test_labels_come_from_sub_folders_or_file_name_prefixes(tmp_path: Path) -> None:
    save_images(tmp_path, ["b/x_1.png", "a/y_2.png", "a/y_3.png"])
    by_folder = find_training_images(str(tmp_path), "folder")
    assert by_folder.classes == ["a", "b"] and by_folder.labels == [0, 0, 1]
    by_prefix = find_training_images(str(tmp_path), "prefix")
    assert by_prefix.classes == ["x", "y"] and by_prefix.labels == [1, 1, 0]
    assert find_training_images(str(tmp_path), "none").labels is None
    assert class_name(ImageItem("top", tmp_path / "top.png"), "folder") is None


@pytest.mark.parametrize(
    ("labels", "names", "message"),
    [
        ("folder", ["a/x.png", "loose.png"], "not in a class sub-folder"),
        ("prefix", ["cat_1.png", "dog.png"], "no '<class>_' prefix"),
    ],
)
def test_an_image_without_a_class_is_one_line(
    tmp_path: Path, labels: str, names: list[str], message: str
) -> None:
    save_images(tmp_path, names)
    with pytest.raises(UsageError, match=message) as error:
        find_training_images(str(tmp_path), labels)  # type: ignore[arg-type]
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------- training end to end


def test_trains_l_simple_and_writes_metrics_and_the_official_keys(
    training: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "simple"
    result = run_i2i([*training, "--set", "model.learn_sigma=false", "--output", str(out)])
    assert result.returncode == 0, result.stderr
    assert "L_simple" in result.stderr
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all('"loss"' in line for line in lines)
    state = weights(out / "model.pt")
    assert "out.2.weight" in state and state["out.2.weight"].shape[0] == 3  # eps only
    assert "learn_sigma = false" in (out / "backbone.toml").read_text()
    flags = shlex.split(json.loads((out / "result.json").read_text())["flags"])
    sources = tmp_path / "src"
    save_images(sources, ["a.png"], seed=2)
    edited = run_i2i(["translate", "sdedit", *flags, "--start-step", "3", "--input", str(sources),
                      "--device", "cpu", "--output", str(tmp_path / "edited")])  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert Image.open(tmp_path / "edited" / "a.png").size == (16, 16)


def test_trains_l_hybrid_with_learned_variance_and_the_loss_aware_sampler(
    training: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "hybrid"
    sampler = ["--set", 'schedule_sampler="loss-second-moment"', "--set", "ema_decay=0.9"]
    result = run_i2i([*training, *sampler, "--output", str(out)])
    assert result.returncode == 0, result.stderr
    assert "L_hybrid, loss-second-moment t" in result.stderr
    state = weights(out / "model.pt")
    assert state["out.2.weight"].shape[0] == 6  # eps and variance values
    assert not any(key.startswith(("net.", "sampler.")) for key in state)
    saved = weights(out / "checkpoint.pt")["model"]
    recorded = int(saved["sampler.counts"].sum()) + int(saved["sampler.pending_count"])
    assert recorded == 4 * 2  # every drawn t's loss, the last step's still pending


def test_trains_class_conditional_on_sub_folder_labels(training: list[str], tmp_path: Path) -> None:
    out = tmp_path / "cond"
    classes = ["--set", "model.class_cond=true", "--set", "model.num_classes=2"]
    result = run_i2i([*training, "--labels", "folder", *classes, "--output", str(out)])
    assert result.returncode == 0, result.stderr
    assert "2 classes" in result.stderr
    assert weights(out / "model.pt")["label_emb.weight"].shape == (2, 4 * 32)


def test_trains_the_ddpm_unet_backbone(training: list[str], tmp_path: Path) -> None:
    out = tmp_path / "ddpm"
    ddpm = {"resolution": 16, "ch": 32, "ch_mult": [1, 1], "attn_resolutions": [8]}
    config = tmp_path / "ddpm.toml"
    config.write_text(
        'batch_size = 2\niterations = 2\nworkers = 0\nbackbone = "ddpm-unet"\n'
        'preset = "celebahq_female"\n\n' + to_toml({"model": {**ddpm, "num_res_blocks": 1}})
    )
    args = [*training[:4], "--config", str(config), "--device", "cpu", "--output", str(out)]
    result = run_i2i(args)
    assert result.returncode == 0, result.stderr
    assert "L_simple" in result.stderr and "conv_in.weight" in weights(out / "model.pt")


def test_training_can_start_from_given_weights(training: list[str], tmp_path: Path) -> None:
    start = random_weights("adm-unet", "afhq_dog_4m", TINY_UNET, tmp_path / "start.pt")
    out = tmp_path / "tuned"
    args = [*training, "--checkpoint", str(start), "--set", "iterations=1", "--output", str(out)]
    result = run_i2i(args)
    assert result.returncode == 0, result.stderr
    tuned, initial = weights(out / "model.pt"), weights(start)
    assert tuned.keys() == initial.keys()
    for key, value in initial.items():  # one step, then the EMA at 0.9999: barely moved
        torch.testing.assert_close(tuned[key], value, atol=1e-6, rtol=0)


def test_a_resumed_run_ends_bitwise_where_an_uninterrupted_one_does(
    training: list[str], tmp_path: Path
) -> None:
    extra = ["--set", "ema_decay=0.9", "--set", "model.dropout=0.1",  # dropout: global RNG
             "--set", 'schedule_sampler="loss-second-moment"', "--set", "batch_size=4",
             "--set", 'model.noise_schedule="cosine"', "--set", "model.diffusion_steps=2",
             "--set", "iterations=10"]  # fmt: skip
    whole = run_i2i([*training, *extra, "--output", str(tmp_path / "whole")])
    assert whole.returncode == 0, whole.stderr
    parts = tmp_path / "parts"
    first = run_i2i([*training, *extra, "--output", str(parts), "--set", "iterations=8"])
    assert first.returncode == 0, first.stderr
    warm = weights(parts / "checkpoint.pt")["model"]["sampler.counts"]
    assert torch.equal(warm, torch.full((2,), HISTORY_PER_TERM))  # later t follow the losses
    resumed = run_i2i([*training, *extra, "--output", str(parts), "--resume", "--set", "workers=1"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step 8 of 10" in resumed.stderr
    same_weights(tmp_path / "whole" / "model.pt", parts / "model.pt")
    ends = [weights(folder / "checkpoint.pt")["model"] for folder in (tmp_path / "whole", parts)]
    for key, value in ends[0].items():
        assert torch.equal(value, ends[1][key]), key  # the sampler's history too


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(
    training: list[str], tmp_path: Path
) -> None:
    killed_run_resumes_bitwise(training, tmp_path, more_steps=2)


def torchrun(args: list[str]) -> None:
    """Run ``i2i ARGS`` as two torchrun processes on the CPU; fail with their stderr."""
    job = run_torchrun(args)
    assert job.returncode == 0, job.stderr


@pytest.mark.slow
def test_torchrun_resumes_the_loss_aware_history_of_every_rank(
    training: list[str], tmp_path: Path
) -> None:
    short = ["--set", 'schedule_sampler="loss-second-moment"', "--set", "batch_size=1",
             "--set", 'model.noise_schedule="cosine"',
             "--set", "model.diffusion_steps=2"]  # fmt: skip
    torchrun([*training, *short, "--set", "iterations=14", "--output", str(tmp_path / "whole")])
    parts = tmp_path / "parts"
    torchrun([*training, *short, "--set", "iterations=12", "--output", str(parts)])
    torchrun([*training, *short, "--set", "iterations=14", "--output", str(parts), "--resume"])
    ends = [weights(folder / "checkpoint.pt") for folder in (tmp_path / "whole", parts)]
    assert ends[0]["settings"]["run.world_size"] == 2
    assert int(ends[0]["model"]["sampler.pending_count"]) == 2  # both ranks' last losses
    for key, value in ends[0]["model"].items():
        assert torch.equal(value, ends[1]["model"][key]), key


def test_its_model_drives_egsde_through_the_real_loaders(
    training: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "dog"
    trained = run_i2i([*training, "--output", str(out)])
    assert trained.returncode == 0, trained.stderr
    dse = random_weights("adm-classifier", "dse256", TINY_DSE, tmp_path / "dse.pt", seed=1)
    config = tmp_path / "egsde.toml"
    energies = [
        {"name": "dse", "weight": 500.0, "checkpoint": str(dse), "model": TINY_DSE},
        {"name": "lowpass", "weight": 2.0, "factor": 4},
    ]
    record = read_toml(out / "backbone.toml")
    config.write_text(to_toml({**record, "start_step": 4, "energy": energies}))
    sources = tmp_path / "cats"
    save_images(sources, ["cat0.png", "cat1.png"], seed=3)
    translated = run_i2i(
        ["translate", "egsde", "--config", str(config), "--input", str(sources),
         "--device", "cpu", "--output", str(tmp_path / "cat2dog")]
    )  # fmt: skip
    assert translated.returncode == 0, translated.stderr
    for name in ("cat0.png", "cat1.png"):
        assert Image.open(tmp_path / "cat2dog" / name).size == (16, 16)


# ---------------------------------------------------------------- one-line refusals


def test_without_data_the_command_says_what_it_needs(tmp_path: Path) -> None:
    message = refused(["train", "diffusion", "--device", "cpu", "--output", str(tmp_path / "x")])
    assert "needs --data" in message


def test_a_folder_without_images_is_one_line(training: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [*training, "--output", str(tmp_path / "x")]
    args[args.index("--data") + 1] = str(empty)
    assert "no images" in refused(args)


def test_unreadable_images_are_found_before_the_first_step(
    training: list[str], tmp_path: Path
) -> None:
    """A text file named .png and a truncated PNG are named at once; nothing is trained."""
    data = Path(training[training.index("--data") + 1])
    (data / "disc" / "disc_notes.png").write_text("not an image")
    good = (data / "square" / "square_0.png").read_bytes()
    (data / "square" / "square_cut.png").write_bytes(good[: len(good) // 2])
    out = tmp_path / "x"
    message = refused([*training, "--output", str(out)])
    assert "2 of the 6 images in --data" in message, message
    assert "disc_notes.png" in message and "square_cut.png" in message
    assert not (out / "metrics.jsonl").exists() and not (out / "checkpoint.pt").exists()


def test_a_class_count_other_than_the_models_is_one_line(
    training: list[str], tmp_path: Path
) -> None:
    classes = ["--set", "model.class_cond=true", "--set", "model.num_classes=3"]
    message = refused([*training, "--labels", "folder", *classes, "--output", str(tmp_path / "x")])
    assert "found 2 classes" in message and "model.num_classes=2" in message


def test_labels_for_an_unconditional_model_are_one_line(
    training: list[str], tmp_path: Path
) -> None:
    message = refused([*training, "--labels", "folder", "--output", str(tmp_path / "x")])
    assert "model.class_cond=true" in message


def test_bad_settings_are_one_line(training: list[str], tmp_path: Path) -> None:
    assert "schedule" in refused(
        [*training, "--set", 'schedule_sampler="importance"', "--output", str(tmp_path / "x")]
    )
    assert "batch" in refused(
        [*training, "--set", "batch_size=64", "--output", str(tmp_path / "y")]
    )


def test_an_unreadable_image_is_one_line(training: list[str], tmp_path: Path) -> None:
    data = Path(training[training.index("--data") + 1])
    (data / "disc" / "disc_0.png").write_bytes(b"not a png")
    assert "cannot read image" in refused([*training, "--output", str(tmp_path / "x")])
