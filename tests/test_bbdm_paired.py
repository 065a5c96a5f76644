"""SDE-BBDM's paired data (bbdm.md §9): the layouts, pairing by name, resizing, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_bbdm.pair_batches import PairReader, PrefetchedPairs
from i2i_bbdm.paired import check_pairs, find_paired, main, read_pair, to_model_space
from i2i_cli.base.errors import UsageError
from i2i_cli.training import EpochSampler


def pixels(seed: int, height: int, width: int, channels: int = 3) -> np.ndarray:
    """Random uint8 pixels."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def save(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` as an image file (its suffix picks the format)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def edges2shoes(root: Path, count: int = 3, size: int = 16, split: str = "train") -> Path:
    """``count`` [source | target] files of size x 2 size."""
    for index in range(count):
        save(root / split / f"{index}_AB.png", pixels(index, size, 2 * size))
    return root


def a_b(root: Path, names: list[str], size: int = 16, split: str = "train") -> Path:
    """A/B folders holding ``names`` (A: png, B: jpg, so suffixes differ)."""
    for index, name in enumerate(names):
        save(root / split / "A" / f"{name}.png", pixels(index, size, size))
        save(root / split / "B" / f"{name}.jpg", pixels(100 + index, 2 * size, 2 * size))
    return root


def cityscapes(root: Path, names: list[str], split: str = "train") -> Path:
    """torchvision's Cityscapes layout: photos, RGBA colour maps, and a labelIds file to ignore."""
    for index, name in enumerate(names):
        city = name.split("_")[0]
        save(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png", pixels(index, 8, 16))
        colour = pixels(50 + index, 8, 16, 4)
        colour[..., 3] = 255
        save(root / "gtFine" / split / city / f"{name}_gtFine_color.png", colour)
        save(root / "gtFine" / split / city / f"{name}_gtFine_labelIds.png", pixels(index, 8, 16))
    return root


def reference_resize(image: Image.Image, size: int) -> torch.Tensor:
    """torchvision v2 Resize((size, size)) of a PIL image = Pillow bilinear; then [-1, 1]."""
    array = np.array(image.resize((size, size), Image.Resampling.BILINEAR).convert("RGB"))
    return (torch.from_numpy(array).permute(2, 0, 1).float() / 255 - 0.5) * 2


# ---------------------------------------------------------------- the layouts


def test_edges2shoes_splits_each_file_into_source_left_and_target_right(tmp_path: Path) -> None:
    items = find_paired(edges2shoes(tmp_path), "edges2shoes")
    assert [i.key for i in items] == ["0_AB", "1_AB", "2_AB"]
    source, target = read_pair(items[1], 32)
    assert source.dtype == torch.uint8 and source.shape == (3, 32, 32)
    whole = Image.open(items[1].source)
    left, right = whole.crop((0, 0, 16, 16)), whole.crop((16, 0, 32, 16))
    assert torch.equal(to_model_space(source), reference_resize(left, 32))
    assert torch.equal(to_model_space(target), reference_resize(right, 32))


def test_ab_pairs_by_file_name_whatever_the_suffix_and_listing_order(tmp_path: Path) -> None:
    a_b(tmp_path, ["zeta", "alpha", "mid"])
    items = find_paired(tmp_path, "ab")
    assert [i.key for i in items] == ["alpha", "mid", "zeta"]
    assert [(i.source.name, i.target.name) for i in items] == [
        ("alpha.png", "alpha.jpg"),
        ("mid.png", "mid.jpg"),
        ("zeta.png", "zeta.jpg"),
    ]
    source, target = read_pair(items[0], 8)
    assert torch.equal(to_model_space(source), reference_resize(Image.open(items[0].source), 8))
    assert torch.equal(to_model_space(target), reference_resize(Image.open(items[0].target), 8))


def test_cityscapes_pairs_colour_maps_with_photos_and_resizes_the_map_as_rgba(
    tmp_path: Path,
) -> None:
    cityscapes(tmp_path, ["aachen_000001_000019", "bonn_000000_000019"])
    items = find_paired(tmp_path, "cityscapes")
    assert [i.key for i in items] == ["aachen/aachen_000001_000019", "bonn/bonn_000000_000019"]
    assert items[0].source.name == "aachen_000001_000019_gtFine_color.png"
    assert items[0].target.name == "aachen_000001_000019_leftImg8bit.png"
    source, target = read_pair(items[0], 8)
    assert torch.equal(to_model_space(source), reference_resize(Image.open(items[0].source), 8))
    assert torch.equal(to_model_space(target), reference_resize(Image.open(items[0].target), 8))


def test_values_map_to_minus_one_and_one_as_the_reference() -> None:
    values = torch.tensor([0, 255, 128], dtype=torch.uint8)
    unit = torch.tensor([0.0, 1.0, 128 / 255], dtype=torch.float32)
    assert torch.equal(to_model_space(values), (unit - 0.5) * 2)
    assert to_model_space(values)[:2].tolist() == [-1.0, 1.0]


# ---------------------------------------------------------------- one-line errors


def one_line(error: pytest.ExceptionInfo[UsageError]) -> str:
    """The error's message, checked to be a single line."""
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_missing_partner_is_one_line_naming_it(tmp_path: Path) -> None:
    a_b(tmp_path, ["a", "b"])
    (tmp_path / "train" / "B" / "b.jpg").unlink()
    with pytest.raises(UsageError) as error:
        find_paired(tmp_path, "ab")
    assert "1 in A/ without a match in B/ (first: b)" in one_line(error)


def test_a_cityscapes_photo_without_its_colour_map_is_one_line(tmp_path: Path) -> None:
    cityscapes(tmp_path, ["aachen_000001_000019", "aachen_000002_000019"])
    next((tmp_path / "gtFine").rglob("aachen_000002_000019_gtFine_color.png")).unlink()
    with pytest.raises(UsageError) as error:
        find_paired(tmp_path, "cityscapes")
    assert "1 in leftImg8bit/train without a partner (first: aachen/aachen_000002" in one_line(
        error
    )


def test_an_empty_split_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(UsageError, match="no images") as error:
        find_paired(tmp_path, "edges2shoes")
    one_line(error)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("edges2shoes", "train/ of \\[source \\| target\\] images"),
        ("ab", "train/A/ \\(source\\) and train/B/ \\(target\\)"),
        ("cityscapes", "leftImg8bit/train/<city>/"),
    ],
)
def test_a_missing_split_folder_says_what_the_layout_expects(
    tmp_path: Path, layout: str, expected: str
) -> None:
    with pytest.raises(UsageError, match=expected) as error:
        find_paired(tmp_path, layout)
    one_line(error)


def test_a_missing_data_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        find_paired(tmp_path / "nowhere", "ab")


def test_an_edges2shoes_file_not_twice_as_wide_as_high_is_one_line(tmp_path: Path) -> None:
    save(tmp_path / "train" / "square.png", pixels(0, 16, 16))
    items = find_paired(tmp_path, "edges2shoes")
    for check in (lambda: check_pairs(items), lambda: read_pair(items[0], 8)):
        with pytest.raises(UsageError, match=r"is 16x16: .* width must be twice") as error:
            check()
        one_line(error)


def test_a_pair_whose_sides_differ_in_aspect_ratio_is_one_line(tmp_path: Path) -> None:
    save(tmp_path / "train" / "A" / "x.png", pixels(0, 16, 16))
    save(tmp_path / "train" / "B" / "x.png", pixels(1, 16, 24))
    items = find_paired(tmp_path, "ab")
    for check in (lambda: check_pairs(items), lambda: read_pair(items[0], 8)):
        with pytest.raises(UsageError, match=r"is 16x16 but .* is 24x16") as error:
            check()
        one_line(error)


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    a_b(tmp_path, ["x"])
    (tmp_path / "train" / "B" / "x.jpg").write_bytes(b"not an image")
    items = find_paired(tmp_path, "ab")
    for check in (lambda: check_pairs(items), lambda: read_pair(items[0], 8)):
        with pytest.raises(UsageError, match="cannot read image") as error:
            check()
        one_line(error)


# ---------------------------------------------------------------- the batches of the loop


def test_prefetched_batches_are_the_sampler_pairs_with_and_without_workers(
    tmp_path: Path,
) -> None:
    items = find_paired(edges2shoes(tmp_path, count=5), "edges2shoes")
    sampler = EpochSampler(len(items), 2, seed=3)
    reader = PairReader(items, 8)
    expected = [reader[sampler.indices(step)] for step in range(5)]
    cpu = torch.device("cpu")
    for workers in (0, 2):
        with PrefetchedPairs(items, 8, sampler, 5, cpu, workers) as batches:
            for step in (0, 1, 2, 4, 3):  # a jump restarts the stream there
                batch = batches(step, torch.Generator())
                assert torch.equal(batch.source, to_model_space(expected[step][0]))
                assert torch.equal(batch.target, to_model_space(expected[step][1]))


def test_a_bad_file_read_by_a_worker_is_one_line(tmp_path: Path) -> None:
    items = find_paired(edges2shoes(tmp_path, count=2), "edges2shoes")
    items[1].source.write_bytes(b"broken")
    sampler = EpochSampler(len(items), 2, seed=0)
    with (
        PrefetchedPairs(items, 8, sampler, 1, torch.device("cpu"), 1) as batches,
        pytest.raises(UsageError, match="cannot read image") as error,
    ):
        batches(0, torch.Generator())
    one_line(error)


def test_pairs_that_fit_their_layout_pass_the_header_check(tmp_path: Path) -> None:
    check_pairs(find_paired(edges2shoes(tmp_path / "e"), "edges2shoes"))
    check_pairs(find_paired(a_b(tmp_path / "ab", ["x", "y"]), "ab"))
    check_pairs(find_paired(cityscapes(tmp_path / "c", ["aachen_0_1"]), "cityscapes"))


def test_a_split_is_written_as_source_and_target_folders_of_its_pairs(tmp_path: Path) -> None:
    data = edges2shoes(tmp_path / "shoes", count=2, split="val")
    assert main(["--data", str(data), "--layout", "edges2shoes", "--image-size", "8",
                 "--output", str(tmp_path / "out")]) == 0  # fmt: skip
    items = find_paired(data, "edges2shoes", "val")
    for item in items:
        source, target = read_pair(item, 8)
        written = [
            torch.from_numpy(np.array(Image.open(tmp_path / "out" / side / f"{item.key}.png")))
            for side in ("source", "target")
        ]
        assert torch.equal(written[0].permute(2, 0, 1), source)
        assert torch.equal(written[1].permute(2, 0, 1), target)


def test_writing_a_split_of_a_missing_layout_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(tmp_path), "--layout", "ab", "--output", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: layout ab: no folder") and error.count("\n") == 1


def test_starting_the_stream_leaves_the_global_generator_alone(tmp_path: Path) -> None:
    items = find_paired(edges2shoes(tmp_path, count=2), "edges2shoes")
    sampler = EpochSampler(len(items), 2, seed=0)
    for workers in (0, 1):
        torch.manual_seed(5)
        expected = torch.rand(3)
        torch.manual_seed(5)
        with PrefetchedPairs(items, 8, sampler, 1, torch.device("cpu"), workers) as batches:
            batches(0, torch.Generator())
        assert torch.equal(torch.rand(3), expected)  # dropout draws stay those of (seed, step)
