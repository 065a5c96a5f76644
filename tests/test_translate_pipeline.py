"""translate/sample end to end through the smoke method: data, noise, outputs, run.toml, resume."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i_cli.cli.app import app
from tests.conftest import run_i2i
from tests.fixture_dists import use_dists

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


@pytest.fixture(autouse=True)
def smoke_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke method is a test fixture distribution, not a shipped plugin."""
    use_dists(monkeypatch, "smoke")


def make_images(folder: Path, count: int, size: int = 40) -> list[Path]:
    """``count`` distinct random RGB images, one in a sub-folder."""
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        sub = folder / "sub" if index == 0 else folder
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
        path = sub / f"img{index}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def translate(cli: CliRunner, *args: str) -> object:
    return cli.invoke(app, ["translate", "smoke", "--device", "cpu", "--image-size", "16", *args])


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_translate_writes_one_image_per_source_and_the_run_record(
    cli: CliRunner, tmp_path: Path
) -> None:
    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    result = translate(cli, "--input", str(tmp_path / "in"), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "grid.png",
        "img1.png",
        "img2.png",
        "sub/img0.png",
    ]
    assert pixels(out / "img1.png").shape == (16, 16, 3)
    assert pixels(out / "grid.png").shape[1] > 2 * 16  # source | result side by side
    record = tomllib.loads((out / "run.toml").read_text())
    assert record["i2i"]["command"] == "translate"
    assert record["image_size"] == 16
    assert record["run"]["input"] == str(tmp_path / "in")
    assert "3 images" in result.stderr


def test_translate_without_input_uses_the_embedded_example(cli: CliRunner, tmp_path: Path) -> None:
    result = translate(cli, "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "example.png").is_file()


def test_image_result_does_not_depend_on_batch_size(cli: CliRunner, tmp_path: Path) -> None:
    make_images(tmp_path / "in", 4)
    for batch in (1, 3):
        result = translate(
            cli,
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / f"b{batch}"),
            "--batch-size",
            str(batch),
            "--seed",
            "5",
        )
        assert result.exit_code == 0, result.output
    for name in ("sub/img0.png", "img1.png", "img2.png", "img3.png"):
        assert np.array_equal(pixels(tmp_path / "b1" / name), pixels(tmp_path / "b3" / name))
    other = translate(
        cli, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "s6"), "--seed", "6"
    )
    assert other.exit_code == 0
    assert not np.array_equal(
        pixels(tmp_path / "b1" / "img1.png"), pixels(tmp_path / "s6" / "img1.png")
    )


def test_resume_skips_images_already_written_and_overwrite_redoes_them(
    cli: CliRunner, tmp_path: Path
) -> None:
    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert translate(cli, "--input", str(tmp_path / "in"), "--output", str(out)).exit_code == 0
    (out / "img1.png").unlink()
    marker = out / "img2.png"
    before = marker.stat().st_mtime_ns
    again = translate(cli, "--input", str(tmp_path / "in"), "--output", str(out))
    assert again.exit_code == 0
    assert "2 already done, 1 to translate" in again.stderr
    assert (out / "img1.png").is_file()
    assert marker.stat().st_mtime_ns == before
    redo = translate(cli, "--input", str(tmp_path / "in"), "--output", str(out), "--overwrite")
    assert redo.exit_code == 0
    assert "0 already done, 3 to translate" in redo.stderr


def test_rerun_from_run_toml_reproduces_the_outputs(cli: CliRunner, tmp_path: Path) -> None:
    make_images(tmp_path / "in", 2)
    first = tmp_path / "first"
    args = ["--input", str(tmp_path / "in"), "--output", str(first), "--seed", "3", "--steps", "1"]
    assert translate(cli, *args).exit_code == 0
    second = tmp_path / "second"
    result = cli.invoke(
        app,
        ["translate", "smoke", "--config", str(first / "run.toml"), "--output", str(second)],
    )
    assert result.exit_code == 0, result.output
    assert np.array_equal(pixels(first / "img1.png"), pixels(second / "img1.png"))


def test_corrupt_image_is_reported_and_skipped_and_strict_stops(
    cli: CliRunner, tmp_path: Path
) -> None:
    make_images(tmp_path / "in", 2)
    (tmp_path / "in" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    out = tmp_path / "out"
    result = translate(cli, "--input", str(tmp_path / "in"), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "bad.png" in result.stderr
    assert "skipped" in result.stderr
    assert (out / "img1.png").is_file()
    assert not (out / "bad.png").exists()
    strict_out = tmp_path / "strict"
    strict = translate(
        cli,
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(strict_out),
        "--strict",
        "--batch-size",
        "1",
    )
    assert strict.exit_code != 0
    assert "bad.png" in strict.stderr
    assert "Traceback" not in strict.output
    assert not strict_out.exists()  # stopped at its first image: no folder of only run.toml


def test_missing_input_is_one_line_error(cli: CliRunner, tmp_path: Path) -> None:
    result = translate(cli, "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "nope" in result.stderr
    assert "Traceback" not in result.output


def test_sample_writes_numbered_images_and_resumes(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "samples"
    args = ["sample", "smoke", "--device", "cpu", "--image-size", "8", "--output", str(out)]
    result = cli.invoke(app, [*args, "--num-samples", "3", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["000000.png", "000001.png", "000002.png"]
    single = tmp_path / "single"
    alone = cli.invoke(
        app,
        [
            "sample",
            "smoke",
            "--device",
            "cpu",
            "--image-size",
            "8",
            "--output",
            str(single),
            "--num-samples",
            "3",
            "--batch-size",
            "1",
        ],
    )
    assert alone.exit_code == 0
    assert np.array_equal(pixels(out / "000002.png"), pixels(single / "000002.png"))
    more = cli.invoke(app, [*args, "--num-samples", "5"])
    assert more.exit_code == 0
    assert "3 already done, 2 to draw" in more.stderr
    assert len(list(out.glob("*.png"))) == 5


def test_killed_run_keeps_its_outputs_and_resumes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    make_images(tmp_path / "in", 12, size=24)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "i2i_cli", "translate", "smoke", "--input", str(tmp_path / "in"),
        "--output", str(out), "--device", "cpu", "--batch-size", "1", "--steps", "300",
        "--image-size", "64",
    ]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(list(out.glob("img*.png"))) < 3 and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    written = sorted(out.rglob("img*.png"))
    assert 3 <= len(written) < 12
    for path in written:
        assert pixels(path).shape == (64, 64, 3)  # complete files only
    resumed = run_i2i(command[3:])  # the rerun needs no process of its own
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(written)} already done" in resumed.stderr
    assert len(list(out.rglob("img*.png"))) == 12


def test_item_translator_gets_each_rows_item_and_the_filter_leaves_items_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``translate_image_items``: row b's item, ``accept`` reasons, ``fit`` (DDIB's needs)."""
    import torch

    from i2i_cli.diffusion.noise import NoiseSource
    from i2i_cli.io.data import ImageItem, read_image
    from i2i_cli.run.context import open_context
    from i2i_cli.run.pipeline import translate_image_items
    from i2i_cli.run.progress import StepCallback
    from i2i_cli.run.run_settings import TranslateRun

    make_images(tmp_path / "in", 4)
    out = tmp_path / "out"
    seen: list[tuple[str, torch.Tensor]] = []

    def record(
        items: Sequence[ImageItem], x: torch.Tensor, noise: NoiseSource, callback: StepCallback
    ) -> torch.Tensor:
        seen.extend((item.key, row) for item, row in zip(items, x, strict=True))
        return -x

    def no_twos(item: ImageItem) -> str | None:
        return "a two" if item.key.endswith("2") else None

    run = TranslateRun(input=tmp_path / "in", device="cpu", batch_size=2)
    with open_context("translate", "test", None, run, out) as ctx:
        written = translate_image_items(ctx, record, image_size=16, fit="adm-crop", accept=no_twos)
    assert [item.key for item in written] == ["img1", "img3", "sub/img0"]
    assert [key for key, _ in seen] == ["img1", "img3", "sub/img0"]
    expected = read_image(tmp_path / "in" / "img3.png", 16, fit="adm-crop")
    assert torch.equal(seen[1][1], expected)
    assert (out / "img3.png").is_file() and not (out / "img2.png").exists()
    log = capsys.readouterr().err
    assert "4 source images" in log and "1 left out, 0 already done, 3 to translate" in log
    assert "skipped" in log and "img2.png: a two" in log


def test_sampling_takes_a_methods_own_items_and_noise_factory(tmp_path: Path) -> None:
    """EDM's seeds: ``sample_images`` writes ``<key>.png`` for the method's items, each drawn
    from the noise source the factory gives its batch."""
    import torch

    from i2i_cli.diffusion.noise import NoiseSource, SeedNoise
    from i2i_cli.io.data import ImageItem
    from i2i_cli.run.context import open_context
    from i2i_cli.run.pipeline import sample_images
    from i2i_cli.run.progress import StepCallback
    from i2i_cli.run.run_settings import SampleRun

    drawn: dict[int, torch.Tensor] = {}

    def sample_batch(count: int, noise: NoiseSource, callback: StepCallback) -> torch.Tensor:
        x = noise.randn((count, 3, 4, 4))
        for key, row in zip(noise.keys, x, strict=True):  # type: ignore[attr-defined]
            drawn[int(key)] = row
        return x.clamp(-1, 1)

    items = [ImageItem(key=f"{seed:06d}", path=Path(f"{seed:06d}")) for seed in (5, 9, 11)]
    run = SampleRun(device="cpu", batch_size=2, num_samples=3)
    with open_context("sample", "test", None, run, tmp_path) as ctx:
        written = sample_images(ctx, sample_batch, items=items, noise=SeedNoise)
    assert [item.key for item in written] == ["000005", "000009", "000011"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "000005.png",
        "000009.png",
        "000011.png",
    ]
    for seed, row in drawn.items():
        assert torch.equal(
            row, torch.randn((3, 4, 4), generator=torch.Generator().manual_seed(seed))
        )


def test_an_input_much_smaller_than_the_model_is_upscaled_with_a_warning(
    cli: CliRunner, tmp_path: Path
) -> None:
    """Issue 16.5: a 1x1 input was upscaled to the model's size without a word."""
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((1, 1, 3), dtype=np.uint8)).save(tmp_path / "in" / "dot.png")
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(tmp_path / "in" / "fine.png")
    result = translate(cli, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "dot.png is 1x1, upscaled to 16x16: the result will be blurry" in result.stderr
    assert "fine.png is" not in result.stderr
    assert (tmp_path / "out" / "dot.png").is_file()


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ),
    ],
)
def test_out_of_memory_is_one_line_naming_the_batch_size(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """Issue 16.2: an allocation failure on any device is one line, never a traceback."""
    import i2i_smoke.sampler

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(i2i_smoke.sampler, "sample_smoke", fail)
    make_images(tmp_path / "in", 2)
    result = translate(cli, "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "error: out of memory; lower --batch-size" in result.stderr
    assert "Traceback" not in result.output + result.stderr
