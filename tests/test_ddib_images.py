"""``i2i translate ddib`` on images end to end, on tiny random checkpoints in the real cache.

The class-conditional model and its classifier are registered through a test manifest and
adopted into a cache like downloaded artifacts (the imagenet task's mode); the two
unconditional models are given as files. Every run goes through the real loading code.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_i2i
from tests.tiny_models import TINY_ADM_UNET, manifest_entry, random_weights, toml_table

TINY_UNET: dict[str, Any] = {**TINY_ADM_UNET, "num_classes": 8}
"""imagenet256_cond shrunk to 32 px and 8 classes (the golden DDIB run's UNet)."""

TINY_CLASSIFIER: dict[str, Any] = {
    "image_size": 32,
    "width": 32,
    "depth": 1,
    "channel_mult": "1,1",
    "attention_resolutions": "16",
    "num_head_channels": 16,
    "out_channels": 8,
}
"""classifier256 shrunk to 32 px and 8 classes (the golden DDIB run's classifier)."""

STEPS = 3


@dataclass(frozen=True)
class TinyImageNet:
    """The cache, manifest and settings files of the tiny models."""

    env: dict[str, str]
    conditional: Path
    """Settings over the imagenet task: tiny model and classifier, 3 steps, scale 10."""
    unconditional: Path
    """Settings of the two-model mode: two tiny unconditional model files."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyImageNet:
    """Tiny weights: a conditional UNet and classifier adopted as artifacts, two model files."""
    folder = tmp_path_factory.mktemp("tiny_ddib")
    unet = random_weights("adm-unet", "imagenet256_cond", TINY_UNET, folder / "cond.pt")
    classifier = random_weights(
        "adm-classifier", "classifier256", TINY_CLASSIFIER, folder / "cls.pt", seed=1
    )
    manifest = folder / "manifest.toml"
    manifest.write_text(
        manifest_entry("tiny_imagenet_cond", unet, "tiny")
        + manifest_entry("tiny_imagenet_classifier", classifier, "tiny")
    )
    env = {"I2I_HOME": str(folder / "home"), "I2I_MANIFESTS": str(manifest)}
    for name, path in (("tiny_imagenet_cond", unet), ("tiny_imagenet_classifier", classifier)):
        adopted = run_i2i(["download", "--from", str(path), name], env=env)
        assert adopted.returncode == 0, adopted.stderr
    conditional = folder / "conditional.toml"
    conditional.write_text(
        f'checkpoint = "tiny_imagenet_cond"\nsteps = {STEPS}\n\n'
        + toml_table("model", TINY_UNET)
        + '\n[[energy]]\nname = "classifier"\nweight = 10.0\n'
        + 'checkpoint = "tiny_imagenet_classifier"\npreset = "classifier256"\n\n'
        + toml_table("energy.model", TINY_CLASSIFIER)
    )
    uncond = {**TINY_UNET, "num_classes": 1000}
    first, second = (
        random_weights("adm-unet", "imagenet256_uncond", uncond, folder / f"{name}.pt", seed=s)
        for name, s in (("dogs", 2), ("cats", 3))
    )
    unconditional = folder / "unconditional.toml"
    unconditional.write_text(
        f'backbone = "adm-unet"\npreset = "imagenet256_uncond"\nsource = "dogs"\n'
        f'target = "cats"\nsource_checkpoint = "{first}"\ntarget_checkpoint = "{second}"\n'
        f'solver = "ddim"\nsteps = {STEPS}\n\n' + toml_table("model", uncond)
    )
    return TinyImageNet(env, conditional, unconditional)


def photo(path: Path, seed: int, size: tuple[int, int] = (40, 48)) -> Path:
    """A random RGB photo of ``size`` (H, W) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def imagenet_folder(folder: Path) -> Path:
    """Classes 0 and 1 (one JPEG), class 5, an unlabelled file and a corrupt class-1 file."""
    photo(folder / "0_1.png", 0)
    photo(folder / "1_1.jpg", 1, (70, 64))
    photo(folder / "5_1.png", 2)
    photo(folder / "portrait.png", 3)
    (folder / "1_2.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


def translate(tiny: TinyImageNet, *args: str) -> subprocess.CompletedProcess[str]:
    """``i2i translate ddib --device cpu ARGS`` with the tiny cache and manifest."""
    return run_i2i(["translate", "ddib", "--device", "cpu", *args], env=tiny.env)


def imagenet(tiny: TinyImageNet, source: Path, out: Path, *args: str) -> list[str]:
    """The arguments of the imagenet task on the tiny models, classes 0 -> 1 and 1 -> 2."""
    return [
        "--task",
        "imagenet",
        "--config",
        str(tiny.conditional),
        "--source",
        "0,1",
        "--target",
        "1,2",
        "--input",
        str(source),
        "--output",
        str(out),
        *args,
    ]


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A non-zero exit with one ``error:`` line holding every fragment, and no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def pixels(path: Path) -> np.ndarray:
    """The pixels of an image file as integers."""
    return np.asarray(Image.open(path), dtype=np.int32)


@dataclass(frozen=True)
class FirstRun:
    """The guided class-conditional run every resume and comparison starts from."""

    source: Path
    out: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def first_run(tiny: TinyImageNet, tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """The imagenet task on the tiny models over ``imagenet_folder``."""
    folder = tmp_path_factory.mktemp("ddib_run")
    source, out = imagenet_folder(folder / "in"), folder / "out"
    return FirstRun(source, out, translate(tiny, *imagenet(tiny, source, out)))


def test_each_source_class_is_translated_under_its_name(first_run: FirstRun) -> None:
    result, out = first_run.result, first_run.out
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["0_1.png", "1_1.png", "grid.png"]
    assert pixels(out / "1_1.png").shape == (32, 32, 3)
    assert (out / "run.toml").is_file()
    assert "classes 0->1, 1->2" in result.stderr
    assert f"ddim x {STEPS} steps per pass, guidance: classifier x 10" in result.stderr


def test_inputs_without_a_source_class_are_skipped_one_line_each(first_run: FirstRun) -> None:
    lines = first_run.result.stderr.splitlines()
    skipped = [line for line in lines if line.startswith("skipped")]
    assert len(skipped) == 3, first_run.result.stderr
    assert any("5_1.png" in line and "class 5 is not a source class" in line for line in skipped)
    assert any("portrait.png" in line and "no class label" in line for line in skipped)
    assert any("1_2.png" in line for line in skipped)  # unreadable: the pipeline's skip
    assert "5 source images" in first_run.result.stderr
    assert "2 left out, 0 already done, 3 to translate" in first_run.result.stderr


def test_second_run_translates_nothing(tiny: TinyImageNet, first_run: FirstRun) -> None:
    assert first_run.result.returncode == 0, first_run.result.stderr
    written = first_run.out / "0_1.png"
    before = written.stat().st_mtime_ns
    again = translate(tiny, *imagenet(tiny, first_run.source, first_run.out))
    assert again.returncode == 0, again.stderr
    assert "2 left out, 2 already done, 1 to translate" in again.stderr  # the corrupt file
    assert written.stat().st_mtime_ns == before


def test_guidance_changes_the_translation(
    tiny: TinyImageNet, first_run: FirstRun, tmp_path: Path
) -> None:
    assert first_run.result.returncode == 0, first_run.result.stderr
    out = tmp_path / "unguided"
    result = translate(
        tiny, *imagenet(tiny, first_run.source, out, "--energy", "classifier:weight=0")
    )
    assert result.returncode == 0, result.stderr
    assert "guidance: none" in result.stderr
    difference = np.abs(pixels(out / "0_1.png") - pixels(first_run.out / "0_1.png"))
    assert difference.max() > 0


def test_two_unconditional_models_translate_every_input(tiny: TinyImageNet, tmp_path: Path) -> None:
    source = tmp_path / "in"
    photo(source / "portrait.png", 0)
    photo(source / "5_1.png", 1)
    out = tmp_path / "out"
    result = translate(
        tiny, "--config", str(tiny.unconditional), "--input", str(source), "--output", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["5_1.png", "grid.png", "portrait.png"]
    assert "dogs -> cats (two models)" in result.stderr
    assert "skipped" not in result.stderr


def test_cycle_writes_round_trips_and_their_error(tiny: TinyImageNet, tmp_path: Path) -> None:
    """--cycle translates back (guided to the source class) and reports the RMS error."""
    source = tmp_path / "in"
    photo(source / "0_1.png", 0)
    photo(source / "1_1.png", 1)
    out = tmp_path / "out"
    result = translate(tiny, *imagenet(tiny, source, out, "--cycle", "--solver", "dpmpp2m"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "cycle").glob("*.png")) == ["0_1.png", "1_1.png"]
    record = json.loads((out / "result.json").read_text())
    assert record["cycle_images"] == 2
    assert 0 < record["cycle_mean_rmse"] <= record["cycle_max_rmse"] < 2
    assert "cycle error (RMS per image)" in result.stderr


@pytest.mark.parametrize(
    ("source", "target", "fragments"),
    [
        ("chow,keeshond", "1,2", ("--source", "comma-separated class labels", "chow")),
        ("0,1", "1", ("--source has 2 class labels and --target 1",)),
        ("0,1", "1,8", ("--target", "class 8 is out of range", "8 classes")),
        ("0,0", "1,2", ("--source names class 0 twice",)),
    ],
    ids=["not-integers", "lengths", "out-of-range", "repeated"],
)
def test_bad_label_lists_are_one_line(
    tiny: TinyImageNet,
    tmp_path: Path,
    source: str,
    target: str,
    fragments: tuple[str, ...],
) -> None:
    photo(tmp_path / "in" / "0_1.png", 0)
    args = imagenet(tiny, tmp_path / "in", tmp_path / "out")
    args[args.index("--source") + 1] = source
    args[args.index("--target") + 1] = target
    assert_one_line_error(translate(tiny, *args), *fragments)


def test_missing_checkpoints_name_the_download_command(tiny: TinyImageNet, tmp_path: Path) -> None:
    photo(tmp_path / "in" / "260_1.png", 0)
    result = translate(
        tiny,
        "--task",
        "imagenet",
        "--source",
        "260",
        "--target",
        "261",
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
    )
    assert_one_line_error(result, "i2i download adm_256x256_diffusion adm_256x256_classifier")


def test_unreadable_image_stops_a_strict_run_with_one_line(
    tiny: TinyImageNet, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    (source / "1_2.png").parent.mkdir(parents=True)
    (source / "1_2.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    photo(source / "1_3.png", 0)
    args = imagenet(tiny, source, tmp_path / "out", "--strict")
    assert_one_line_error(translate(tiny, *args), "cannot read image", "1_2.png")
    assert not (tmp_path / "out" / "1_3.png").exists()


def test_checkpoints_that_name_no_mode_are_one_line(tiny: TinyImageNet, tmp_path: Path) -> None:
    photo(tmp_path / "in" / "0_1.png", 0)
    args = imagenet(tiny, tmp_path / "in", tmp_path / "out", "--source-checkpoint", "a.pt")
    assert_one_line_error(
        translate(tiny, *args),
        "--checkpoint and --source-checkpoint cannot be combined",
        "--target-checkpoint",
    )
