"""``i2i train discriminator`` end to end on tiny random-weight files through the real loaders.

A tiny frozen extractor (``adm-classifier`` overrides, seeded weights) and a tiny head train
on four real PNGs (in a subfolder, as ``i2i sample edm --subdirs`` writes) against four fake
images in an ``.npz`` (``samples`` uint8 NHWC): resuming a 1-epoch run to 2 epochs gives the
uninterrupted run's weights bitwise; the exported head loads strictly as the
``discriminator`` energy's checkpoint; bad inputs are one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.networks.backbones import load_backbone
from i2i_dg.image_sets import read_image_set
from tests.conftest import run_i2i
from tests.test_dg_energy import EXTRACTOR, HEAD, seeded_weights
from tests.tiny_models import toml_table


def images(count: int, seed: int, size: int = 8) -> np.ndarray:
    """``count`` random uint8 (size, size, 3) images."""
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    """Real PNGs in a subfolder, a fake .npz and a --config naming the tiny networks."""
    real = tmp_path / "real"
    (real / "000000").mkdir(parents=True)
    for index, pixels in enumerate(images(4, 1)):
        Image.fromarray(pixels).save(real / "000000" / f"{index:06d}.png")
    fake = tmp_path / "fake.npz"
    np.savez(fake, samples=images(4, 2))
    extractor = seeded_weights("adm-classifier", EXTRACTOR, tmp_path / "extractor.pt", seed=1)
    settings = {"preset": "", "extractor_preset": "", "extractor_checkpoint": str(extractor)}
    settings.update({"batch_size": 2, "log_every": 1, "num_data": 4})
    config = tmp_path / "train.toml"
    config.write_text(
        toml_table("", settings).removeprefix("[]\n")
        + toml_table("model", {**HEAD, "num_class": 10})
        + toml_table("extractor_model", EXTRACTOR)
    )
    return {"real": real, "fake": fake, "config": config}


def train(setup: dict[str, Path], out: Path, *args: str) -> Any:
    """``i2i train discriminator`` on the tiny setup into ``out``."""
    return run_i2i(
        [
            *("train", "discriminator", "--device", "cpu", "--output", str(out)),
            *("--real", str(setup["real"]), "--fake", str(setup["fake"])),
            *("--config", str(setup["config"]), *args),
        ]
    )


def test_trains_resumes_and_loads_as_the_energy_head(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    """1 epoch + resume to 2 == 2 epochs; accuracy lines; model.pt is the energy's head."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    result = train(setup, whole, "--epochs", "2")
    assert result.returncode == 0, result.stderr + result.stdout
    first = train(setup, parts, "--epochs", "1")
    assert first.returncode == 0, first.stderr + first.stdout
    assert (parts / "discriminator_1.pt").is_file() and not (parts / "discriminator_2.pt").exists()
    again = train(setup, parts, "--epochs", "2", "--resume")
    assert again.returncode == 0, again.stderr + again.stdout
    expected = torch.load(whole / "model.pt", weights_only=True)
    resumed = torch.load(parts / "model.pt", weights_only=True)
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)
    assert torch.load(whole / "discriminator_2.pt", weights_only=True).keys() == expected.keys()
    lines = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    accuracy = [line for line in lines if "accuracy" in line]
    assert [line["step"] for line in accuracy] == list(range(1, 9))  # 8 images, batch 2
    assert set(accuracy[0]["accuracy_by_t"]) == {"0.00-0.20", "0.20-0.40", "0.40-0.60",
                                                 "0.60-0.80", "0.80-1.00"}  # fmt: skip
    assert all(0 <= line["accuracy"] <= 1 for line in accuracy)
    assert [line["step"] for line in lines if "loss" in line] == list(range(1, 9))
    resumed_lines = [
        json.loads(line) for line in (parts / "metrics.jsonl").read_text().splitlines()
    ]
    assert [line for line in resumed_lines if "accuracy" in line] == accuracy
    head = load_backbone(
        "dg-discriminator", overrides={**HEAD, "num_class": 10}, checkpoint=whole / "model.pt"
    )
    assert head.module.state_dict().keys() == expected.keys()
    recorded = load_backbone("dg-discriminator", checkpoint=whole / "model.pt")  # backbone.toml
    assert recorded.settings == head.settings


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"real": "missing"}, "does not exist"),
        ({"fake": "small.npz"}, "the feature extractor reads 8x8x3"),
        ({"fake": "empty.npz"}, "the set is empty"),
        ({"real": "nothing"}, "no images and no sample*.npz"),
        ({"cond": "1"}, "cond = true needs class labels"),
    ],
)
def test_bad_inputs_are_one_line(
    setup: dict[str, Path], tmp_path: Path, change: dict[str, str], message: str
) -> None:
    """Missing folder, wrong image size, empty set, no images, cond without labels."""
    np.savez(tmp_path / "small.npz", samples=images(3, 3, size=4))
    np.savez(tmp_path / "empty.npz", samples=np.zeros((0, 8, 8, 3), np.uint8))
    (tmp_path / "nothing").mkdir()
    paths = {**setup}
    args: list[str] = []
    for key, value in change.items():
        if key == "cond":
            args += ["--cond", "--set", "model.condition=true"]
        else:
            paths[key] = tmp_path / value
    result = train(paths, tmp_path / "out", *args)
    assert result.returncode == 2, result.stderr + result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_edm_sample_folders_and_npz_sets(tmp_path: Path) -> None:
    """A folder of sample*.npz (DG's gendir) concatenates in name order; labels become indices."""
    gendir = tmp_path / "gen"
    gendir.mkdir()
    np.savez(gendir / "samples_2.npz", samples=images(2, 5), label=np.eye(10)[[3, 4]])
    np.savez(gendir / "samples_1.npz", samples=images(1, 6), label=np.eye(10)[[7]])
    found = read_image_set(str(gendir), "fake")
    assert torch.equal(found.pixels[0], torch.from_numpy(images(1, 6)[0]))
    assert found.labels is not None and found.labels.tolist() == [7, 3, 4]
    np.savez(tmp_path / "true.npz", arr_0=images(3, 7), label=np.array([1, 2, 0]))
    real = read_image_set(str(tmp_path / "true.npz"), "real")
    assert real.pixels.shape == (3, 8, 8, 3) and real.labels.tolist() == [1, 2, 0]  # type: ignore[union-attr]


def test_conditional_head_trains_on_labelled_npz(setup: dict[str, Path], tmp_path: Path) -> None:
    """cond = true: DG's true_data_label layout (integer labels) vs. one-hot EDM samples."""
    real, fake = tmp_path / "true_data_label.npz", tmp_path / "gen" / "samples.npz"
    fake.parent.mkdir()
    np.savez(real, samples=images(4, 8), label=np.array([0, 3, 9, 3]))
    np.savez(fake, samples=images(4, 9), label=np.eye(10)[[1, 3, 5, 7]])
    paths = {**setup, "real": real, "fake": fake.parent}
    out = tmp_path / "cond"
    result = train(paths, out, "--cond", "--set", "model.condition=true", "--epochs", "1")
    assert result.returncode == 0, result.stderr + result.stdout
    weights = torch.load(out / "model.pt", weights_only=True)
    assert weights["label_emb.weight"].shape == (10, 4 * HEAD["width"])


@pytest.mark.parametrize(("task", "cond"), [("cifar10-uncond", "false"), ("cifar10-cond", "true")])
def test_task_presets_are_dgs_readme_commands(task: str, cond: str) -> None:
    """The presets resolve: DG's data paths, the matching released head preset, cond."""
    result = run_i2i(["train", "discriminator", "--task", task, "--dry-run"])
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"cond = {cond}" in result.stdout
    assert f'preset = "{task.replace("-", "_")}"' in result.stdout
