"""Run faults: reruns with other settings, interrupted runs, damaged checkpoints.

Each fault case asserts one ``error:`` line naming the fault, a non-zero exit, no traceback, and
that nothing already in the output folder was lost or altered (its files compared byte for
byte). Inputs are made at test time; runs use the ``smoke`` method and ``tinytrain`` trainer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_i2i
from tests.fixture_dists import use_dists
from tests.robustness.run_helpers import (
    error_line,
    file_names,
    make_images,
    sample,
    snapshot,
    train,
    translate,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


@pytest.fixture(autouse=True)
def fixture_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke method and tinytrain trainer are test fixtures, not shipped plugins."""
    use_dists(monkeypatch, "smoke", "tinytrain")


# ---------------------------------------------------------------------------------------------
# Mixed settings: a rerun into a folder recorded with other settings is refused, nothing touched


def _config(tmp_path: Path) -> list[str]:
    path = tmp_path / "seeded.toml"
    path.write_text("[run]\nseed = 7\n")
    return ["--config", str(path)]


def _other_input(tmp_path: Path) -> list[str]:
    make_images(tmp_path / "other", 3, seed=1)
    return ["--input", str(tmp_path / "other")]


RERUNS: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "more steps": (lambda tmp: ["--steps", "8"], "steps: 1 -> 8"),
    "another seed": (lambda tmp: ["--steps", "1", "--seed", "3"], "run.seed: 0 -> 3"),
    "another precision": (
        lambda tmp: ["--steps", "1", "--precision", "bf16"],
        "run.precision: 'fp32' -> 'bf16'",
    ),
    "a --set": (
        lambda tmp: ["--steps", "1", "--set", "noise_level=0.5"],
        "noise_level: 0.1 -> 0.5",
    ),
    "a --config": (lambda tmp: ["--steps", "1", *_config(tmp)], "run.seed: 0 -> 7"),
    "a task preset": (lambda tmp: ["--task", "gentle"], "steps"),
    "another input": (lambda tmp: ["--steps", "1", *_other_input(tmp)], "run.input"),
}


@pytest.mark.parametrize("case", list(RERUNS))
def test_a_rerun_with_other_settings_is_refused(
    case: str, done: tuple[Path, Path], tmp_path: Path
) -> None:
    source, out = done
    before = snapshot(out)
    flags, difference = RERUNS[case]
    line = error_line(translate(source, out, *flags(tmp_path)), str(out), difference)
    assert "--overwrite" in line and "--output" in line
    assert snapshot(out) == before


def test_a_sample_rerun_with_other_settings_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "samples"
    assert sample(out, "--steps", "1").returncode == 0
    before = snapshot(out)
    error_line(sample(out, "--steps", "2", "--num-samples", "5"), "steps: 1 -> 2")
    assert snapshot(out) == before


def test_sampling_into_a_translate_folder_is_refused(done: tuple[Path, Path]) -> None:
    _, out = done
    before = snapshot(out)
    error_line(sample(out, "--steps", "1"), "i2i.command: 'translate' -> 'sample'")
    assert snapshot(out) == before


def test_an_unreadable_run_record_is_refused(done: tuple[Path, Path]) -> None:
    source, out = done
    (out / "run.toml").write_bytes(b"\xff\xfe not toml [")
    before = snapshot(out)
    error_line(translate(source, out, "--steps", "1"), "run.toml", "--overwrite")
    assert snapshot(out) == before


@pytest.mark.parametrize("flags", [[], ["--lr", "0.5"]], ids=["same settings", "another lr"])
def test_training_again_without_resume_leaves_the_run_as_it_was(
    flags: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "train"
    assert train(out).returncode == 0
    before = snapshot(out)
    error_line(train(out, *flags), "--resume")
    assert snapshot(out) == before


def test_resuming_with_other_settings_leaves_the_run_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "train"
    assert train(out).returncode == 0
    before = snapshot(out)
    error_line(train(out, "--resume", "--steps", "6", "--lr", "0.5"), "lr: 0.01 -> 0.5")
    error_line(train(out, "--resume", "--steps", "6", "--seed", "2"), "run.seed: 0 -> 2")
    assert snapshot(out) == before


def test_a_failed_evaluation_with_other_settings_keeps_the_old_record(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "eval"
    make_images(a, 2)
    make_images(b, 2, seed=1)
    args = ["evaluate", "psnr", "--device", "cpu", "--images", str(a), "--output", str(out)]
    assert run_i2i([*args, "--source", str(b)]).returncode == 0
    before = snapshot(out)
    error_line(run_i2i([*args, "--source", str(tmp_path / "missing")]), "missing")
    assert snapshot(out) == before


def test_what_leaves_each_output_as_it_is_may_change(done: tuple[Path, Path]) -> None:
    """Not faults: the batch size, the device, more samples; --overwrite redoes the outputs."""
    source, out = done
    images = {name: data for name, data in snapshot(out).items() if name.startswith("img")}
    again = translate(source, out, "--steps", "1", "--batch-size", "1")
    assert again.returncode == 0 and "3 already done" in again.stderr
    assert {n: d for n, d in snapshot(out).items() if n.startswith("img")} == images
    redo = translate(source, out, "--steps", "8", "--overwrite")
    assert redo.returncode == 0 and "0 already done, 3 to translate" in redo.stderr
    assert tomllib.loads((out / "run.toml").read_text())["steps"] == 8
    samples = out.parent / "samples"
    assert sample(samples, "--steps", "1").returncode == 0
    more = sample(samples, "--steps", "1", "--num-samples", "5")
    assert more.returncode == 0 and "3 already done, 2 to draw" in more.stderr


# ---------------------------------------------------------------------------------------------
# Interrupted runs: outputs kept, the resumed run ends where an uninterrupted one does


def test_an_interrupted_run_keeps_its_outputs_and_resumes_to_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in"
    make_images(source, 6)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert translate(source, whole, "--batch-size", "2").returncode == 0
    import i2i_cli.run.pipeline as pipeline

    real_write = pipeline.write_image
    writes: list[Path] = []

    def write_then_interrupt(image: object, path: Path, *options: object) -> None:
        real_write(image, path, *options)  # type: ignore[arg-type]
        writes.append(path)
        if len(writes) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "write_image", write_then_interrupt)
    interrupted = translate(source, cut, "--batch-size", "2")
    assert interrupted.returncode == 130
    assert "Traceback" not in interrupted.stderr
    assert "interrupted: outputs already written are kept" in interrupted.stderr
    kept = snapshot(cut)
    assert "run.toml" in kept and len(file_names(cut)) >= 2
    monkeypatch.setattr(pipeline, "write_image", real_write)
    resumed = translate(source, cut, "--batch-size", "2")
    assert resumed.returncode == 0, resumed.stderr
    finished = snapshot(cut)
    assert all(finished[name] == data for name, data in kept.items() if name.startswith("img"))
    assert {n: d for n, d in finished.items() if n.endswith(".png")} == {
        n: d for n, d in snapshot(whole).items() if n.endswith(".png")
    }  # the outputs and grid.png, byte for byte


def test_the_preview_after_a_resume_is_the_uninterrupted_runs(tmp_path: Path) -> None:
    """grid.png shows the first inputs, not the last batch the resumed run made."""
    source = tmp_path / "in"
    make_images(source, 6)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert translate(source, whole, "--batch-size", "2").returncode == 0
    assert translate(source, resumed, "--batch-size", "2").returncode == 0
    for name in ("img3.png", "img4.png", "img5.png", "grid.png"):
        (resumed / name).unlink()  # as a run killed after its third image leaves the folder
    assert translate(source, resumed, "--batch-size", "1").returncode == 0
    assert (resumed / "grid.png").read_bytes() == (whole / "grid.png").read_bytes()


def test_an_input_named_grid_keeps_its_result(tmp_path: Path) -> None:
    """The quick-look grid.png never takes the place of the result of an input grid.png."""
    source, out = tmp_path / "in", tmp_path / "out"
    make_images(source, 1)
    (source / "img0.png").rename(source / "grid.png")
    assert translate(source, out).returncode == 0
    assert Image.open(out / "grid.png").size == (8, 8)


def test_a_temporary_file_left_by_a_kill_is_neither_an_input_nor_an_output(
    done: tuple[Path, Path],
) -> None:
    source, out = done
    (out / ".img1.png.1f2e3d4c.tmp").write_bytes(b"half a png")
    (out / "img1.png").unlink()
    again = translate(source, out, "--steps", "1")
    assert again.returncode == 0, again.stderr
    assert "2 already done, 1 to translate" in again.stderr
    assert Image.open(out / "img1.png").size == (8, 8)


class _RunsCode:
    """Unpickling this would call ``os.system`` (the loader refuses it first)."""

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("echo hostile",))


def _damage(checkpoint: Path, damage: str) -> None:
    """Truncate the file, fill it with random bytes, or put code to run in it."""
    import torch

    data = checkpoint.read_bytes()
    if damage == "truncated":
        checkpoint.write_bytes(data[: len(data) // 3])
    elif damage == "random bytes":
        checkpoint.write_bytes(np.random.default_rng(0).bytes(len(data)))
    else:
        torch.save({"format": "i2i-training-checkpoint/1", "step": _RunsCode()}, checkpoint)


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("truncated", "the file is truncated"),
        ("random bytes", "is not a checkpoint"),
        ("hostile", "not allowed to run"),
    ],
)
def test_a_damaged_checkpoint_is_one_line_and_kept(
    damage: str, needle: str, tmp_path: Path
) -> None:
    out = tmp_path / "train"
    assert train(out).returncode == 0
    _damage(out / "checkpoint.pt", damage)
    before = snapshot(out)
    line = error_line(train(out, "--resume", "--steps", "6"), "checkpoint.pt", needle)
    assert "weights_only" not in line
    assert snapshot(out) == before


def test_an_interrupted_overwrite_is_not_taken_for_a_finished_run(
    done: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while redoing a folder with other settings, the folder mixes both: say so."""
    source, out = done
    import i2i_cli.run.pipeline as pipeline

    real_write = pipeline.write_image

    def write_once_then_interrupt(image: object, path: Path, *options: object) -> None:
        real_write(image, path, *options)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "write_image", write_once_then_interrupt)
    cut = translate(source, out, "--steps", "8", "--overwrite")
    assert cut.returncode == 130
    monkeypatch.setattr(pipeline, "write_image", real_write)
    before = snapshot(out)
    error_line(translate(source, out, "--steps", "8"), "did not finish", "--overwrite")
    assert snapshot(out) == before
    redo = translate(source, out, "--steps", "8", "--overwrite")
    assert redo.returncode == 0, redo.stderr
    assert "unfinished" not in (out / "run.toml").read_text()
    assert translate(source, out, "--steps", "8").returncode == 0
