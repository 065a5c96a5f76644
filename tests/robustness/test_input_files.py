"""Bad inputs to runs: contradictory ddib flags, arrays and detector files that are pickles.

Every input is made at test time; every case is one error line naming the fault, a non-zero
exit and no traceback.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_i2i
from tests.robustness.file_helpers import RunsAShell, assert_safe, stats
from tests.robustness.run_helpers import error_line

# ----------------------------------------------------------------------------------------------
# Contradictory settings: one line, before any work (nothing written, nothing loaded).


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (
            ["--checkpoint", "a.pt", "--source-checkpoint", "b.pt"],
            ("--checkpoint and --source-checkpoint cannot be combined",),
        ),
        (
            ["--checkpoint", "a.pt", "--target-checkpoint", "b.pt"],
            ("--checkpoint and --target-checkpoint cannot be combined",),
        ),
        (
            ["--official", "--source-checkpoint", "b.pt"],
            ("--official and --source-checkpoint cannot be combined", "drop it"),
        ),
        (
            ["--official", "--target-checkpoint", "b.pt"],
            ("--official and --target-checkpoint cannot be combined",),
        ),
        (
            ["--official", "--checkpoint", "a.pt"],
            ("--official and --checkpoint cannot be combined",),
        ),
        (["--checkpoint", "a.pt"], ("--checkpoint names one class-conditional image model",)),
    ],
)
def test_contradictory_ddib_flags_are_one_line_before_any_work(
    flags: list[str], needles: tuple[str, ...], tmp_path: Path
) -> None:
    output = tmp_path / "out"
    error_line(run_i2i(["translate", "ddib", *flags, "--output", str(output)]), *needles)
    assert not output.exists()


# ----------------------------------------------------------------------------------------------
# Bad arrays given as inputs.


def test_a_points_file_of_python_objects_is_refused_without_the_pickle_hint(
    tmp_path: Path,
) -> None:
    points = tmp_path / "points.npy"
    np.save(points, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    result = run_i2i(["translate", "ddib", "--input", str(points), "--output", str(tmp_path / "o")])
    assert_safe(error_line(result, str(points), "Python objects", "not allowed to run"))


def test_a_points_file_that_is_a_pickle_is_refused(tmp_path: Path) -> None:
    points = tmp_path / "points.npy"
    points.write_bytes(pickle.dumps(RunsAShell()))
    result = run_i2i(["translate", "ddib", "--input", str(points), "--output", str(tmp_path / "o")])
    assert_safe(error_line(result, str(points), "not an .npy/.npz file"))


def some_images(folder: Path) -> Path:
    """Two small PNGs in ``folder``."""
    from PIL import Image

    folder.mkdir()
    for index in range(2):
        Image.fromarray(np.full((8, 8, 3), index * 60, np.uint8)).save(folder / f"{index}.png")
    return folder


def test_a_hostile_detector_file_is_named(tmp_path: Path) -> None:
    images = some_images(tmp_path / "images")
    ref = tmp_path / "ref.npz"
    stats(ref, mu=np.zeros(2048), sigma=np.eye(2048))
    detector = tmp_path / "inception-2015-12-05.pkl"
    detector.write_bytes(pickle.dumps(RunsAShell()))
    result = run_i2i(
        [
            "evaluate",
            "fid",
            "--images",
            str(images),
            "--ref",
            str(ref),
            "--backend",
            "nvidia",
            "--detector",
            str(detector),
        ]
    )
    assert_safe(error_line(result, str(detector), "not allowed to run", "system"))
