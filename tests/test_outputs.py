"""i2i_cli.io.outputs (and base.atomic): output paths, resume, atomic writes, grids; one each."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.base import atomic
from i2i_cli.base.atomic import write_atomic_text
from i2i_cli.base.errors import I2IError, UsageError
from i2i_cli.io.data import ImageItem, find_images
from i2i_cli.io.outputs import image_grid, output_path, pending, to_uint8, write_image
from tests.image_files import rgb, save


def test_output_path_keeps_sub_folders(tmp_path: Path) -> None:
    item = ImageItem("cats/001", tmp_path / "in" / "cats" / "001.jpg")
    assert output_path(tmp_path / "out", item) == tmp_path / "out" / "cats" / "001.png"
    assert output_path(tmp_path / "out", item, "source") == tmp_path / "out" / "cats" / "001.jpg"


def test_resume_skips_images_already_written(tmp_path: Path) -> None:
    for relative in ["cats/001.png", "cats/002.png", "dogs/001.jpg"]:
        save(rgb(4, 4), tmp_path / "in" / relative)
    items = find_images(tmp_path / "in")
    out = tmp_path / "out"
    write_image(torch.zeros(3, 4, 4), output_path(out, items[0]))
    (out / "cats" / ".002.png.1234abcd.tmp").write_bytes(b"left by a killed run")
    assert [item.key for item in pending(items, out, overwrite=False)] == ["cats/002", "dogs/001"]


def test_overwrite_rewrites(tmp_path: Path) -> None:
    items = [ImageItem("a", tmp_path / "a.png"), ImageItem("b", tmp_path / "b.png")]
    out = tmp_path / "out"
    write_image(torch.full((3, 2, 2), -1.0), output_path(out, items[0]))
    assert pending(items, out, overwrite=True) == items
    write_image(torch.full((3, 2, 2), 1.0), output_path(out, items[0]))
    assert np.array(Image.open(out / "a.png")).min() == 255


class DiskFull(OSError):
    """A write failure in the middle of writing the temporary file."""


def fail_while_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the PNG encoder write half an image and then fail."""

    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG half an image")  # type: ignore[attr-defined]
        raise OSError("encoder crashed")

    monkeypatch.setattr(Image.Image, "save", broken_save)


def fail_after_partial_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the flush to disk fail once the temporary file holds the new bytes."""

    def broken_fsync(descriptor: int) -> None:
        raise DiskFull(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)


def interrupt_after_partial_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make Ctrl-C arrive while the temporary file is being written."""

    def interrupted(descriptor: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)


@pytest.mark.parametrize(
    ("break_write", "raised"),
    [
        (fail_while_encoding, I2IError),
        (fail_after_partial_write, I2IError),
        (interrupt_after_partial_write, KeyboardInterrupt),
    ],
    ids=["encoder", "disk", "interrupt"],
)
def test_write_is_atomic_and_keeps_existing_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, break_write: object, raised: type
) -> None:
    final = tmp_path / "out" / "a.png"
    write_image(torch.zeros(3, 4, 4), final)
    before = final.read_bytes()
    break_write(monkeypatch)  # type: ignore[operator]
    with pytest.raises(raised):
        write_image(torch.ones(3, 4, 4), final)
    with pytest.raises(raised):
        write_image(torch.ones(3, 4, 4), tmp_path / "out" / "new.png")
    assert final.read_bytes() == before
    assert os.listdir(final.parent) == ["a.png"]


def test_write_failure_is_one_line_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_after_partial_write(monkeypatch)
    with pytest.raises(I2IError) as error:
        write_atomic_text("seed = 1\n", tmp_path / "run.toml")
    assert str(error.value) == f"cannot write {tmp_path / 'run.toml'}: No space left on device"


def test_write_atomic_text_creates_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "run.toml"
    write_atomic_text("seed = 1\n", path)
    assert path.read_text() == "seed = 1\n"
    assert os.listdir(path.parent) == ["run.toml"]


def test_quantisation_matches_save_image_formula(tmp_path: Path) -> None:
    steps = torch.arange(256) / 255 * 2 - 1
    values = torch.cat(
        [torch.linspace(-1.2, 1.2, 301), steps, steps + 1 / 255, steps - 1e-4, steps + 1e-4]
    )  # 1325 values: round-half boundaries and out-of-range values
    x = torch.stack([values, values.flip(0), values.roll(7)]).reshape(3, 25, 53)
    # torchvision: save_image(((x + 1) / 2).clamp(0, 1)), i.e. make_grid then
    # grid.mul(255).add_(0.5).clamp_(0, 255).to(uint8)
    expected = ((x + 1) / 2).clamp(0, 1).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    assert torch.equal(to_uint8(x), expected)
    hand = torch.tensor([-1.0, 1.0, 0.0, -0.5, -3.0, 3.0]).reshape(1, 1, 6)
    assert to_uint8(hand).flatten().tolist() == [0, 255, 128, 64, 0, 255]
    write_image(x, tmp_path / "x.png")
    assert np.array_equal(np.array(Image.open(tmp_path / "x.png")), expected.permute(1, 2, 0))


def test_format_follows_suffix_and_one_channel_is_greyscale(tmp_path: Path) -> None:
    write_image(torch.zeros(3, 8, 8), tmp_path / "a.jpg")
    write_image(torch.zeros(1, 8, 8), tmp_path / "b.png")
    with Image.open(tmp_path / "a.jpg") as jpeg, Image.open(tmp_path / "b.png") as grey:
        assert (jpeg.format, jpeg.mode) == ("JPEG", "RGB")
        assert (grey.format, grey.mode, np.array(grey).max()) == ("PNG", "L", 128)
    with pytest.raises(UsageError, match="not an image format"):
        write_image(torch.zeros(3, 8, 8), tmp_path / "c.xyz")


def test_grid_layout() -> None:
    batch, height, width, padding = 2, 3, 4, 1
    left = torch.stack([torch.full((3, height, width), 0.1 * (b + 1)) for b in range(batch)])
    right = -left[:, :1]  # one channel: repeated to three
    grid = image_grid([left, right], padding=padding)
    assert grid.shape == (3, batch * height + 3 * padding, 2 * width + 3 * padding)
    for b in range(batch):
        top = padding + b * (height + padding)
        rows = slice(top, top + height)
        torch.testing.assert_close(
            grid[:, rows, 1:5], torch.full((3, height, width), 0.1 * (b + 1))
        )
        torch.testing.assert_close(
            grid[:, rows, 6:10], torch.full((3, height, width), -0.1 * (b + 1))
        )
    frame = torch.ones_like(grid, dtype=torch.bool)
    frame[:, 1:4, 1:5] = frame[:, 5:8, 1:5] = frame[:, 1:4, 6:10] = frame[:, 5:8, 6:10] = False
    assert torch.all(grid[frame] == -1)


def test_truncate_is_guided_diffusions_uint8_conversion() -> None:
    """``((x + 1) * 127.5).clamp(0, 255).to(uint8)`` (DDIB's imagenet_translation.py)."""
    from i2i_cli.io.outputs import to_uint8

    x = torch.tensor([[[-1.0, -0.999, 0.0, 0.5, 0.999, 1.0, 2.0, float("nan")]]])
    assert to_uint8(x, "truncate").tolist() == [[[0, 0, 127, 191, 254, 255, 255, 0]]]
    assert to_uint8(x).tolist() == [[[0, 0, 128, 191, 255, 255, 255, 0]]]
