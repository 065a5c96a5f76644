"""i2i_cli.data: image folders, pairs, reading, atomic writing, resume, grids; one promise each."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli import atomic
from i2i_cli.atomic import write_atomic_text
from i2i_cli.data import (
    ImageItem,
    UnreadableImageError,
    find_images,
    find_pairs,
    image_grid,
    iter_batches,
    output_path,
    pending,
    read_image,
    to_uint8,
    write_image,
)
from i2i_cli.errors import I2IError, UsageError


def save(image: Image.Image, path: Path) -> Path:
    """Save ``image`` at ``path`` (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def rgb(width: int, height: int, colour: tuple[int, int, int] = (10, 20, 30)) -> Image.Image:
    """A constant RGB image."""
    return Image.new("RGB", (width, height), colour)


def coordinates_image(width: int, height: int) -> Image.Image:
    """RGB image whose red channel is 10 * column and green channel 10 * row."""
    columns, rows = np.meshgrid(np.arange(width), np.arange(height))
    pixels = np.stack([columns * 10, rows * 10, np.zeros_like(rows)], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8))


def as_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image as the (3, H, W) [-1, 1] tensor read_image should give for it."""
    pixels = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float()
    return pixels / 255 * 2 - 1


def sixteen_bit(values: np.ndarray) -> Image.Image:
    """A 16-bit greyscale (I;16) image of ``values``."""
    return Image.fromarray(values.astype(np.uint16))


def palette_image() -> Image.Image:
    """A palette image of colour index 1 = (0, 255, 102), with index 1 marked transparent."""
    image = Image.new("P", (4, 3), 1)
    image.putpalette([255, 0, 0, 0, 255, 102] + [0] * (254 * 3))
    image.info["transparency"] = 1
    return image


def sixteen_bit_big_endian_tiff(values: np.ndarray) -> Image.Image:
    """A 16-bit big-endian (I;16B) image of ``values``."""
    height, width = values.shape
    return Image.frombytes("I;16B", (width, height), values.astype(">u2").tobytes())


SIXTEEN = np.array([[1000, 1001, 0], [65535, 32768, 257]])
"""16-bit samples; 1000 and 1001 are the same 8-bit value, so they test precision."""

READ_CASES = [
    # (file name, image, expected (H, W, 3) values in [0, 1])
    ("rgba.png", Image.new("RGBA", (4, 3), (255, 0, 51, 0)), np.full((3, 4, 3), [1, 0, 0.2])),
    ("grey.png", Image.new("L", (4, 3), 51), np.full((3, 4, 3), 0.2)),
    ("grey_alpha.png", Image.new("LA", (4, 3), (51, 0)), np.full((3, 4, 3), 0.2)),
    ("palette.png", palette_image(), np.full((3, 4, 3), [0, 1, 0.4])),
    ("palette.gif", palette_image(), np.full((3, 4, 3), [0, 1, 0.4])),
    ("bilevel.png", Image.new("1", (4, 3), 1), np.ones((3, 4, 3))),
    ("cmyk.tif", Image.new("CMYK", (4, 3), (255, 0, 0, 0)), np.full((3, 4, 3), [0, 1, 1])),
    ("i16.png", sixteen_bit(SIXTEEN), np.repeat(SIXTEEN[..., None] / 65535, 3, axis=-1)),
    (
        "i16b.tif",
        sixteen_bit_big_endian_tiff(SIXTEEN),
        np.repeat(SIXTEEN[..., None] / 65535, 3, axis=-1),
    ),
    (
        "i32.tif",
        Image.fromarray(SIXTEEN.astype(np.int32)),
        np.repeat(SIXTEEN[..., None] / 65535, 3, axis=-1),
    ),
]


@pytest.mark.parametrize(("name", "image", "expected"), READ_CASES, ids=[c[0] for c in READ_CASES])
def test_reads_rgba_greyscale_palette_and_16bit_files(
    tmp_path: Path, name: str, image: Image.Image, expected: np.ndarray
) -> None:
    # Alpha and palette transparency are dropped (colour kept, not composited), as convert('RGB').
    tensor = read_image(save(image, tmp_path / name))
    want = torch.from_numpy(expected).permute(2, 0, 1).float() * 2 - 1
    assert tensor.dtype == torch.float32
    assert tensor.shape == want.shape
    torch.testing.assert_close(tensor, want, atol=1e-6, rtol=0)


def test_16bit_files_keep_precision_beyond_8_bits(tmp_path: Path) -> None:
    tensor = read_image(save(sixteen_bit(SIXTEEN), tmp_path / "i16.png"))
    step = tensor[0, 0, 1] - tensor[0, 0, 0]  # samples 1001 and 1000
    assert step == pytest.approx(2 / 65535, rel=1e-3)


def test_16bit_precision_survives_resize(tmp_path: Path) -> None:
    path = save(sixteen_bit(np.full((24, 40), 1001)), tmp_path / "i16.png")
    tensor = read_image(path, size=16)
    assert tensor.shape == (3, 16, 16)
    torch.testing.assert_close(
        tensor, torch.full((3, 16, 16), 2 * 1001 / 65535 - 1), atol=1e-6, rtol=0
    )
    # Bicubic overshoots at a hard edge; the result is clamped like 8-bit resampling is.
    edge = np.where(np.arange(40) < 21, 0, 65535) * np.ones((24, 1), dtype=np.int64)
    clamped = read_image(save(sixteen_bit(edge), tmp_path / "edge.png"), size=16)
    assert clamped.min() == -1 and clamped.max() == 1


def test_resize_and_centre_crop_to_method_size(tmp_path: Path) -> None:
    # Wide, shorter side already 16: no resampling; left = round(4.5) = 4 (ties to even).
    wide = read_image(save(coordinates_image(25, 16), tmp_path / "wide.png"), size=16)
    assert wide.shape == (3, 16, 16)
    torch.testing.assert_close(wide[0, 0], (torch.arange(4, 20) * 10 / 255) * 2 - 1)
    # Tall, likewise: top = round(4.5) = 4.
    tall = read_image(save(coordinates_image(16, 25), tmp_path / "tall.png"), size=16)
    torch.testing.assert_close(tall[1, :, 0], (torch.arange(4, 20) * 10 / 255) * 2 - 1)
    # Resampled: 48x32 -> 24x16 with PIL bicubic (antialiased), then columns 4..19.
    source = coordinates_image(48, 32)
    resized = read_image(save(source, tmp_path / "big.png"), size=16)
    reference = source.resize((24, 16), Image.Resampling.BICUBIC).crop((4, 0, 20, 16))
    torch.testing.assert_close(resized, as_tensor(reference))


def test_adm_crop_halves_with_box_then_bicubic_and_floors_offsets(tmp_path: Path) -> None:
    source = coordinates_image(70, 40)
    tensor = read_image(save(source, tmp_path / "a.png"), size=16, fit="adm-crop")
    halved = source.resize((35, 20), Image.Resampling.BOX)  # 40 >= 2 * 16, 20 < 32
    reference = halved.resize((28, 16), Image.Resampling.BICUBIC).crop((6, 0, 22, 16))
    torch.testing.assert_close(tensor, as_tensor(reference))


def test_stretch_ignores_aspect_ratio(tmp_path: Path) -> None:
    source = coordinates_image(40, 20)
    tensor = read_image(save(source, tmp_path / "a.png"), size=16, fit="stretch")
    torch.testing.assert_close(
        tensor, as_tensor(source.resize((16, 16), Image.Resampling.BILINEAR))
    )


def test_unknown_fit_or_bad_size_is_a_usage_error(tmp_path: Path) -> None:
    path = save(rgb(4, 4), tmp_path / "a.png")
    with pytest.raises(UsageError, match="unknown image fit 'squash'"):
        read_image(path, 4, fit="squash")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="at least 1 pixel"):
        read_image(path, 0)


def test_folder_is_searched_recursively_sorted_by_key_ignoring_other_files(tmp_path: Path) -> None:
    for relative in ["b.png", "a/c.PNG", "a/d/e.jpeg", ".hidden.png", ".cache/x.png"]:
        save(rgb(4, 4), tmp_path / relative)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "run.toml").write_text("seed = 1\n")
    items = find_images(tmp_path)
    assert [item.key for item in items] == ["a/c", "a/d/e", "b"]
    assert items[0] == ImageItem("a/c", tmp_path / "a" / "c.PNG")


def test_single_file_input(tmp_path: Path) -> None:
    path = save(rgb(4, 4), tmp_path / "photos" / "cat.jpg")
    assert find_images(path) == [ImageItem("cat", path)]
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(UsageError, match=r"notes\.txt is not an image file"):
        find_images(text)


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(UsageError, match="no images") as empty:
        find_images(tmp_path)
    assert str(tmp_path) in str(empty.value)
    with pytest.raises(UsageError, match="input not found") as missing:
        find_images(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(missing.value)


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    png = save(rgb(4, 4), tmp_path / "sub" / "a.png")
    jpg = save(rgb(4, 4), tmp_path / "sub" / "a.JPG")
    save(rgb(4, 4), tmp_path / "b.png")
    with pytest.raises(UsageError) as error:
        find_images(tmp_path)
    assert str(png) in str(error.value)
    assert str(jpg) in str(error.value)


def test_paired_folders_match_by_name(tmp_path: Path) -> None:
    for side, suffix in [("A", ".png"), ("B", ".jpg")]:
        save(rgb(4, 4), tmp_path / side / f"x{suffix}")
        save(rgb(4, 4), tmp_path / side / "sub" / f"y{suffix}")
    pairs = find_pairs(tmp_path)
    assert [(a.key, b.key) for a, b in pairs] == [("sub/y", "sub/y"), ("x", "x")]
    assert pairs[1][0].path == tmp_path / "A" / "x.png"
    assert pairs[1][1].path == tmp_path / "B" / "x.jpg"


def test_unmatched_or_missing_pair_folders_are_clear_errors(tmp_path: Path) -> None:
    for name in ["x", "y", "z"]:
        save(rgb(4, 4), tmp_path / "A" / f"{name}.png")
    with pytest.raises(UsageError, match="missing") as missing:
        find_pairs(tmp_path)
    assert str(tmp_path / "B") in str(missing.value)
    for name in ["x", "w"]:
        save(rgb(4, 4), tmp_path / "B" / f"{name}.png")
    with pytest.raises(UsageError) as unmatched:
        find_pairs(tmp_path)
    message = str(unmatched.value)
    assert "2 in A/ without a match in B/ (first: y, z)" in message
    assert "1 in B/ without a match in A/ (first: w)" in message


def corrupt_folder(folder: Path) -> list[ImageItem]:
    """Four images, sorted: a (good), b (not an image), c (truncated PNG), d (good)."""
    save(rgb(8, 8, (255, 0, 0)), folder / "a.png")
    (folder / "b.png").write_bytes(b"this is not a png at all")
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    whole = save(Image.fromarray(noise), folder / "c.png").read_bytes()
    (folder / "c.png").write_bytes(whole[: len(whole) * 6 // 10])
    save(rgb(8, 8, (0, 0, 255)), folder / "d.png")
    return find_images(folder)


def test_corrupt_image_is_reported_by_path_and_skipped(tmp_path: Path) -> None:
    items = corrupt_folder(tmp_path)
    skipped: list[tuple[str, str]] = []
    batches = list(
        iter_batches(items, 8, 2, on_skip=lambda item, reason: skipped.append((item.key, reason)))
    )
    assert [[item.key for item in batch] for batch, _ in batches] == [["a", "d"]]
    assert batches[0][1].shape == (2, 3, 8, 8)
    assert [key for key, _ in skipped] == ["b", "c"]
    assert "truncated" in skipped[1][1]
    with pytest.raises(UnreadableImageError) as error:
        read_image(tmp_path / "b.png")
    assert str(tmp_path / "b.png") in str(error.value)


def test_strict_makes_corrupt_image_fatal(tmp_path: Path) -> None:
    items = corrupt_folder(tmp_path)
    with pytest.raises(UnreadableImageError) as error:
        list(iter_batches(items, 8, 2, strict=True))
    assert isinstance(error.value, I2IError)
    assert error.value.exit_code == 1
    assert error.value.path == tmp_path / "b.png"


def test_batches_keep_order_and_last_batch_is_smaller(tmp_path: Path) -> None:
    items = [ImageItem(f"{i}", save(rgb(6, 4, (i, 0, 0)), tmp_path / f"{i}.png")) for i in range(5)]
    batches = list(iter_batches(items, 4, 2))
    assert [len(batch) for batch, _ in batches] == [2, 2, 1]
    reds = torch.cat([tensor[:, 0, 0, 0] for _, tensor in batches])
    torch.testing.assert_close(reds, torch.arange(5) / 255 * 2 - 1)


def test_mixed_sizes_without_a_size_need_batch_size_one(tmp_path: Path) -> None:
    save(rgb(4, 4), tmp_path / "a.png")
    save(rgb(6, 4), tmp_path / "b.png")
    items = find_images(tmp_path)
    with pytest.raises(UsageError, match="must share a size"):
        list(iter_batches(items, None, 2))
    shapes = [tensor.shape for _, tensor in iter_batches(items, None, 1)]
    assert shapes == [(1, 3, 4, 4), (1, 3, 4, 6)]


def test_output_path_keeps_sub_folders(tmp_path: Path) -> None:
    item = ImageItem("cats/001", tmp_path / "in" / "cats" / "001.jpg")
    assert output_path(tmp_path / "out", item) == tmp_path / "out" / "cats" / "001.png"
    assert output_path(tmp_path / "out", item, ".jpg") == tmp_path / "out" / "cats" / "001.jpg"


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
