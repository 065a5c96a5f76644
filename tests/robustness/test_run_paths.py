"""Run faults in paths: outputs that cannot be made or written, inputs that cannot be read.

Each fault case asserts one ``error:`` line naming the fault, a non-zero exit, no traceback, and
that nothing already in the output folder or among the inputs was lost or altered. Inputs are
made at test time; runs use the ``smoke`` method and ``tinytrain`` trainer.
"""

from __future__ import annotations

import errno
import os
import pathlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_i2i
from tests.fixture_dists import use_dists
from tests.robustness import run_helpers
from tests.robustness.run_helpers import (
    error_line,
    file_names,
    make_images,
    snapshot,
    translate,
)


@pytest.fixture(autouse=True)
def fixture_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke method and tinytrain trainer are test fixtures, not shipped plugins."""
    use_dists(monkeypatch, "smoke", "tinytrain")


# ---------------------------------------------------------------------------------------------
# Output paths that cannot be made or written


def test_an_output_that_is_a_file_is_one_line(done: tuple[Path, Path]) -> None:
    source, _ = done
    target = source / "img0.png"
    before = target.read_bytes()
    error_line(translate(source, target), "img0.png", "not a folder")
    error_line(run_helpers.sample(target), "not a folder")
    error_line(run_helpers.train(target), "not a folder")
    assert target.read_bytes() == before


def test_an_output_inside_a_file_is_one_line(done: tuple[Path, Path]) -> None:
    source, _ = done
    error_line(translate(source, source / "img0.png" / "out"), "img0.png exists and is not")


def test_an_evaluation_output_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    make_images(tmp_path / "a", 1)
    target = tmp_path / "result"
    target.write_text("keep me")
    result = run_i2i(
        ["evaluate", "psnr", "--images", str(tmp_path / "a"), "--source", str(tmp_path / "a"),
         "--output", str(target)]
    )  # fmt: skip
    error_line(result, "not a folder")
    assert target.read_text() == "keep me"


def test_an_output_through_a_broken_link_is_one_line(done: tuple[Path, Path]) -> None:
    source, out = done
    link = out.parent / "dangling"
    link.symlink_to(out.parent / "nowhere")
    error_line(translate(source, link), "dangling", "is a broken symbolic link")


def test_an_output_under_a_read_only_folder_is_one_line(
    done: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's answer for a read-only parent (faked: tests may run as root, who may write)."""
    source, out = done
    locked = out.parent / "locked"
    locked.mkdir()
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if self.parent == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    error_line(translate(source, locked / "out"), "cannot create --output", "Permission denied")
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_an_output_folder_without_write_permission_is_one_line(done: tuple[Path, Path]) -> None:
    source, out = done
    locked = out.parent / "locked"
    locked.mkdir(mode=0o555)
    try:
        error_line(translate(source, locked / "out"), "Permission denied")
        error_line(translate(source, locked), "cannot write to --output")
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("where", ["the input folder", "inside the input folder"])
def test_an_output_among_the_inputs_is_refused(where: str, done: tuple[Path, Path]) -> None:
    source, _ = done
    before = snapshot(source)
    out = source if where == "the input folder" else source / "results"
    error_line(translate(source, out, "--overwrite"), "--input", "mixed with the sources")
    assert snapshot(source) == before


def test_an_output_that_would_replace_its_own_input_is_refused(done: tuple[Path, Path]) -> None:
    source, _ = done
    before = snapshot(source)
    error_line(translate(source / "img1.png", source, "--overwrite"), "over it")
    assert snapshot(source) == before


def test_a_run_record_that_is_a_folder_is_one_line(done: tuple[Path, Path]) -> None:
    source, _ = done
    out = source.parent / "odd"
    (out / "run.toml").mkdir(parents=True)
    error_line(translate(source, out), "run.toml")
    assert (out / "run.toml").is_dir() and not file_names(out)


# ---------------------------------------------------------------------------------------------
# Inputs none of which can be read: every one named, then one line and a non-zero exit


def _zero_bytes(folder: Path) -> None:
    (folder / "empty.png").write_bytes(b"")


def _truncated(folder: Path) -> None:
    make_images(folder, 1)
    data = (folder / "img0.png").read_bytes()
    (folder / "img0.png").write_bytes(data[: len(data) // 2])


def _text_as_jpeg(folder: Path) -> None:
    (folder / "notes.jpg").write_text("these are notes, not a picture\n")


def _float_tiff(folder: Path) -> None:
    Image.fromarray(np.zeros((8, 8), dtype=np.float32)).save(folder / "depth.tif")


def _linked_to_itself(folder: Path) -> None:
    (folder / "loop.png").symlink_to(folder / "loop.png")


def _linked_to_nothing(folder: Path) -> None:
    (folder / "gone.png").symlink_to(folder / "deleted.png")


def _all_corrupt(folder: Path) -> None:
    for index in range(3):
        (folder / f"bad{index}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([index]) * 40)


UNREADABLE: dict[str, Callable[[Path], None]] = {
    "zero-byte file": _zero_bytes,
    "truncated PNG": _truncated,
    "text named .jpg": _text_as_jpeg,
    "32-bit float TIFF": _float_tiff,
    "link to itself": _linked_to_itself,
    "link to a deleted file": _linked_to_nothing,
    "three corrupt PNGs": _all_corrupt,
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_no_readable_input_exits_non_zero(case: str, tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    UNREADABLE[case](source)
    result = translate(source, out)
    error_line(result, "could be read", "nothing was translated")
    assert result.stderr.count("skipped") == len(os.listdir(source))
    assert not file_names(out, "*.png")


def test_strict_stops_at_a_bad_image_and_keeps_what_was_written(tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    make_images(source, 2)
    (source / "img5.png").write_bytes(b"broken")
    error_line(translate(source, out, "--strict", "--batch-size", "1"), "img5.png")
    assert file_names(out) == ["img0.png", "img1.png"]


# ---------------------------------------------------------------------------------------------
# Odd --input paths


def _loop(tmp: Path) -> Path:
    (tmp / "loop").symlink_to(tmp / "loop")
    return tmp / "loop"


def _broken_link(tmp: Path) -> Path:
    (tmp / "moved").symlink_to(tmp / "gone")
    return tmp / "moved"


def _no_images(tmp: Path) -> Path:
    (tmp / "docs").mkdir()
    (tmp / "docs" / "readme.txt").write_text("no pictures here")
    (tmp / "docs" / ".hidden.png").write_bytes(b"")
    return tmp / "docs"


def _not_an_image_file(tmp: Path) -> Path:
    (tmp / "list.csv").write_text("a,b\n")
    return tmp / "list.csv"


def _clashing_keys(tmp: Path) -> Path:
    make_images(tmp / "clash", 1)
    Image.open(tmp / "clash" / "img0.png").save(tmp / "clash" / "img0.jpg")
    return tmp / "clash"


INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "a link loop": (_loop, "symbolic link loop"),
    "a broken link": (_broken_link, "broken symbolic link"),
    "a missing path": (lambda tmp: tmp / "absent", "input not found"),
    "a folder without images": (_no_images, "no images"),
    "a file that is not an image": (_not_an_image_file, "not an image file"),
    "two images with one key": (_clashing_keys, "collide"),
}


@pytest.mark.parametrize("case", list(INPUTS))
def test_an_unusable_input_path_is_one_line(case: str, tmp_path: Path) -> None:
    make, needle = INPUTS[case]
    source = make(tmp_path)
    error_line(translate(source, tmp_path / "out"), needle)


def test_a_folder_that_cannot_be_listed_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-folder without read permission is named, not silently left out (faked for root)."""
    source = tmp_path / "in"
    make_images(source / "private", 1)
    make_images(source, 1)
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if Path(str(path)) == source / "private":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    error_line(translate(source, tmp_path / "out"), "private", "Permission denied")


def test_odd_but_readable_images_are_translated(tmp_path: Path) -> None:
    """Not faults: 1x1, 16-bit grey, palette, RGBA, an animated GIF, upper-case suffixes."""
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(source / "dot.png")
    Image.fromarray(np.full((9, 7), 40000, dtype=np.uint16)).save(source / "deep.png")
    Image.new("P", (10, 10), 3).save(source / "palette.gif")
    Image.new("RGBA", (10, 12), (0, 0, 0, 0)).save(source / "clear.PNG")
    frames = [Image.new("RGB", (10, 10), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(source / "moving.gif", save_all=True, append_images=frames[1:])
    result = translate(source, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert len(file_names(tmp_path / "out", "*.png")) == 6  # five results and the grid
