"""i2i_cli.io.data: image folders, pairs, reading, fitting, batching; one promise each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.base.errors import I2IError, UsageError
from i2i_cli.io.data import (
    ImageItem,
    UnreadableImageError,
    find_images,
    find_pairs,
    iter_batches,
    read_image,
)
from tests.image_files import rgb, save


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
