"""``i2i evaluate lpips`` and the edges2shoes / cityscapes protocols on random AlexNet weights.

The trunk (torchvision's key names, classifier included) and the heads (the lpips package's
``lin<l>.model.1.weight``) are seeded random files in a test manifest, adopted into the cache,
so the run goes through the real manifest, cache and loaders.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.metrics.alexnet import AlexNetFeatures
from i2i_cli.metrics.lpips import lpips_from_states
from tests.conftest import run_i2i
from tests.metrics_helpers import evaluate, i2i, write_images
from tests.tiny_models import manifest_entry, manifest_env

TRUNK, HEADS = "tiny_lpips_trunk", "tiny_lpips_heads"
WEIGHTS = ("--trunk", TRUNK, "--heads", HEADS)


def random_trunk(seed: int = 0) -> dict[str, torch.Tensor]:
    """He-scaled random AlexNet weights under torchvision's keys, plus a classifier to drop."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in AlexNetFeatures().state_dict().items():
        fan_in = value[0].numel() if value.dim() > 1 else 1
        scale = math.sqrt(2.0 / fan_in) if value.dim() > 1 else 0.01
        state[key] = torch.randn(value.shape, generator=generator) * scale
    state["classifier.1.weight"] = torch.randn(4, 4, generator=generator)
    return state


def random_heads(seed: int = 1) -> dict[str, torch.Tensor]:
    """Non-negative random 1x1 heads under the lpips package's ``alex.pth`` keys."""
    generator = torch.Generator().manual_seed(seed)
    return {
        f"lin{index}.model.1.weight": torch.rand(1, channels, 1, 1, generator=generator) * 0.1
        for index, channels in enumerate((64, 192, 384, 256, 256))
    }


States = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]


@pytest.fixture
def tiny_lpips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> States:
    """The random trunk and heads in a test manifest, adopted into the cache; their states."""
    trunk, heads = random_trunk(), random_heads()
    files = {TRUNK: tmp_path / "alexnet_random.pth", HEADS: tmp_path / "alex_random.pth"}
    torch.save(trunk, files[TRUNK])
    torch.save(heads, files[HEADS])
    manifest = tmp_path / "manifest.toml"
    manifest.write_text("".join(manifest_entry(n, p, "tiny") for n, p in files.items()))
    monkeypatch.setenv("I2I_MANIFESTS", str(manifest))
    for name, path in files.items():
        adopted = run_i2i(["download", "--from", str(path), name], env=manifest_env())
        assert adopted.returncode == 0, adopted.stderr
    return trunk, heads


def expected_mean(tiny_lpips: States, pairs: list[tuple[Path, Path]]) -> float:
    """The mean LPIPS of ``pairs`` computed directly (PIL -> [-1, 1], no resizing)."""
    network = lpips_from_states(*tiny_lpips)

    def load(path: Path) -> torch.Tensor:
        pixels = np.array(Image.open(path).convert("RGB"))
        return torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div(255) * 2 - 1

    with torch.no_grad():
        values = [float(network(load(a), load(b))) for a, b in pairs]
    return float(np.mean(values))


def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Three 64x64 translations and four targets (one untranslated), paired by name."""
    images, targets = tmp_path / "out", tmp_path / "gt"
    write_images(images, 3, seed=1, size=(64, 64))
    write_images(targets, 4, seed=2, size=(64, 64))
    return images, targets


def test_lpips_is_the_mean_over_pairs_matched_by_name(tiny_lpips: States, tmp_path: Path) -> None:
    images, targets = folders(tmp_path)
    record = evaluate(
        tmp_path / "eval", "lpips", "--images", str(images), "--target", str(targets),
        "--target-size", "0", *WEIGHTS,
    )  # fmt: skip
    pairs = [(images / f"{i}.png", targets / f"{i}.png") for i in range(3)]
    assert record["lpips"] == pytest.approx(expected_mean(tiny_lpips, pairs), rel=1e-5)
    assert record["metric"] == "lpips" and record["lpips_pairs"] == 3
    assert record["target_count"] == 4 and record["lpips_version"] == "0.1"
    assert len(record["lpips_trunk_sha256"]) == 64


def test_lpips_of_a_folder_with_itself_is_zero(tiny_lpips: States, tmp_path: Path) -> None:
    images, _ = folders(tmp_path)
    record = evaluate(
        tmp_path / "eval", "lpips", "--images", str(images), "--target", str(images), *WEIGHTS
    )
    assert record["lpips"] == pytest.approx(0.0, abs=1e-7)
    assert "256x256" in record["lpips_resize"]


def side_by_side(folder: Path, count: int, seed: int) -> list[np.ndarray]:
    """edges2shoes-style files ``<i>.jpg`` of [edges | shoe]; the shoes as written (PNG-exact)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    shoes = []
    for index in range(count):
        pixels = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
        shoes.append(pixels[:, 64:])
    return shoes


def test_edges2shoes_targets_are_the_right_halves_of_the_val_files(
    tiny_lpips: States, tmp_path: Path
) -> None:
    shoes = side_by_side(tmp_path / "data" / "val", 2, seed=3)
    halves = tmp_path / "halves"
    halves.mkdir()
    for index, shoe in enumerate(shoes):
        Image.fromarray(shoe).save(halves / f"{index}.png")
    images = tmp_path / "out" / "nested"
    write_images(images, 2, seed=4, size=(64, 64))
    record = evaluate(
        tmp_path / "eval", "lpips", "--images", str(tmp_path / "out"),
        "--target", str(tmp_path / "data"), "--target-layout", "edges2shoes",
        "--target-size", "0", *WEIGHTS,
    )  # fmt: skip
    pairs = [(images / f"{i}.png", halves / f"{i}.png") for i in range(2)]
    assert record["lpips"] == pytest.approx(expected_mean(tiny_lpips, pairs), rel=1e-5)
    assert record["lpips_pairing"] == "by file stem (edges2shoes layout)"


def cityscapes(root: Path) -> None:
    """Two val photos (48x24) in the Cityscapes layout, one city."""
    write_images(root / "leftImg8bit" / "val" / "aachen", 2, seed=5, size=(48, 24))
    for path in sorted((root / "leftImg8bit" / "val" / "aachen").glob("*.png")):
        path.rename(path.with_name(f"aachen_{path.stem}_leftImg8bit.png"))


def test_cityscapes_protocol_pairs_colour_map_translations_with_photos(
    tiny_lpips: States, tmp_path: Path
) -> None:
    cityscapes(tmp_path / "cs")
    images = tmp_path / "out" / "aachen"
    write_images(images, 2, seed=6, size=(32, 32))
    for path in sorted(images.glob("*.png")):
        path.rename(path.with_name(f"aachen_{path.stem}_gtFine_color.png"))
    record = evaluate(
        tmp_path / "eval", "all", "--task", "cityscapes", "--metric", "lpips",
        "--images", str(tmp_path / "out"), "--target", str(tmp_path / "cs"),
        "--target-size", "32", *WEIGHTS,
    )  # fmt: skip
    assert record["protocol"] == "cityscapes" and record["lpips_pairs"] == 2
    assert math.isfinite(record["lpips"]) and record["lpips"] > 0
    assert record["target_layout"] == "cityscapes"


def test_written_targets_are_the_halves_resized_like_the_reference_data(tmp_path: Path) -> None:
    from i2i_cli.io.image_fit import fit_to_size
    from i2i_cli.metrics.targets import target_items, write_targets

    shoes = side_by_side(tmp_path / "data" / "val", 2, seed=3)
    items = target_items(tmp_path / "data", "edges2shoes", "val")
    assert write_targets(items, "edges2shoes", 32, tmp_path / "t") == []
    for index, shoe in enumerate(shoes):
        written = np.array(Image.open(tmp_path / "t" / f"{index}.png"))
        resized = np.array(fit_to_size(Image.fromarray(shoe), 32, "stretch"))
        assert written.shape == (32, 32, 3) and np.array_equal(written, resized)


@pytest.mark.slow
def test_edges2shoes_protocol_takes_the_resized_targets_as_fid_reference(
    tiny_lpips: States, tmp_path: Path
) -> None:
    from tests.metrics_helpers import random_inception_state

    weights = tmp_path / "pt_random.pth"
    torch.save(random_inception_state(), weights)
    side_by_side(tmp_path / "data" / "val", 2, seed=3)
    write_images(tmp_path / "out", 2, seed=4, size=(32, 32))
    record = evaluate(
        tmp_path / "eval", "all", "--task", "edges2shoes", "--images", str(tmp_path / "out"),
        "--target", str(tmp_path / "data"), "--target-size", "32", "--detector", str(weights),
        *WEIGHTS,
    )  # fmt: skip
    written = sorted((tmp_path / "eval" / "targets").glob("*.png"))
    assert [p.name for p in written] == ["0.png", "1.png"]
    assert Image.open(written[0]).size == (32, 32)
    assert record["ref"] == str(tmp_path / "eval" / "targets") and record["ref_count"] == 2
    assert math.isfinite(record["fid"]) and math.isfinite(record["lpips"])
    assert record["backend"] == "pytorch-fid"


# -- bad input: one line, exit 2 ----------------------------------------------------------------


def one_line_error(*args: str, code: int = 2) -> str:
    """The output of a failing ``i2i evaluate ARGS``: exit ``code`` and a single line.

    A warning before it (the random test trunk is not the published AlexNet) is not counted.
    """
    result = i2i("evaluate", *args, "--device", "cpu")
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.strip().splitlines() if not line.startswith("warning")]
    assert len(lines) == 1, result.output
    return "\n".join(lines)


def test_missing_weights_name_the_download_command(tmp_path: Path) -> None:
    images, targets = folders(tmp_path)
    output = one_line_error(
        "lpips", "--images", str(images), "--target", str(targets),
        "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert "i2i download lpips_alexnet lpips_alex_v0_1" in output


def test_an_image_without_a_target_is_one_line(tiny_lpips: States, tmp_path: Path) -> None:
    images, targets = folders(tmp_path)
    write_images(images / "extra", 1, seed=7, size=(64, 64))
    output = one_line_error(
        "lpips", "--images", str(images), "--target", str(targets), *WEIGHTS,
        "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert "1 of 4 images" in output and "no target of the same name" in output


@pytest.mark.parametrize(
    ("layout", "expected"),
    [("edges2shoes", "expected val/*.jpg"), ("cityscapes", "leftImg8bit/val")],
)
def test_a_target_without_the_layouts_folders_is_one_line(
    layout: str, expected: str, tmp_path: Path
) -> None:
    images, targets = folders(tmp_path)
    output = one_line_error(
        "lpips", "--images", str(images), "--target", str(targets), "--target-layout", layout,
        "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert expected in output


def test_sizes_that_differ_after_resizing_are_one_line(tiny_lpips: States, tmp_path: Path) -> None:
    images, targets = tmp_path / "out", tmp_path / "gt"
    write_images(images, 1, seed=1, size=(64, 64))
    write_images(targets, 1, seed=2, size=(64, 48))
    output = one_line_error(
        "lpips", "--images", str(images), "--target", str(targets), "--target-size", "0",
        *WEIGHTS, "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert "LPIPS needs equal sizes" in output


def test_a_weights_file_of_another_network_is_one_line(tiny_lpips: States, tmp_path: Path) -> None:
    images, targets = folders(tmp_path)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    output = one_line_error(
        "lpips", "--images", str(images), "--target", str(targets), "--trunk", str(wrong),
        "--heads", HEADS, "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert "not an AlexNet state dict" in output


def test_two_translations_of_one_stem_are_one_line(tiny_lpips: States, tmp_path: Path) -> None:
    side_by_side(tmp_path / "data" / "val", 1, seed=3)
    write_images(tmp_path / "out" / "a", 1, seed=1, size=(64, 64))
    write_images(tmp_path / "out" / "b", 1, seed=2, size=(64, 64))
    output = one_line_error(
        "lpips", "--images", str(tmp_path / "out"), "--target", str(tmp_path / "data"),
        "--target-layout", "edges2shoes", *WEIGHTS, "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert "two images under" in output and "pair by the name 0" in output


# -- weights that are not the published AlexNet: a warning -------------------------------------


def test_a_trunk_that_is_not_the_published_alexnet_is_one_warning(
    tiny_lpips: States, tmp_path: Path
) -> None:
    """Issue 29: random AlexNet-shaped weights load, and the run says their scores are not LPIPS."""
    images, targets = folders(tmp_path)
    result = i2i(
        "evaluate", "lpips", "--images", str(images), "--target", str(targets), *WEIGHTS,
        "--device", "cpu", "--output", str(tmp_path / "eval"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning")]
    assert len(warned) == 1 and "is not torchvision's ImageNet AlexNet" in warned[0], warned
    assert "alexnet-owt-7be5be79.pth" in warned[0] and "sha256 7be5be79" in warned[0]


def test_the_published_trunk_gives_no_warning(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from i2i_cli.checkpoints.store import CheckpointStore
    from i2i_cli.metrics.lpips_run import PUBLISHED_TRUNK, trunk_warning

    published = CheckpointStore.open().artifact(PUBLISHED_TRUNK)
    ctx = SimpleNamespace(store=SimpleNamespace(artifact=lambda name: published))
    assert published.sha256_prefix == "7be5be79"
    assert trunk_warning(ctx, "alexnet.pth", "7be5be79" + "0" * 56) is None  # type: ignore[arg-type]
    assert trunk_warning(ctx, "alexnet.pth", "0" * 64) is not None  # type: ignore[arg-type]
