"""``--output-format``: EGSDE's and SDEdit's paper tasks write what the reference writes (each
result under its source's name and format, JPEG at quality 75 for ``.jpg``; egsde.md pitfall
11), every other task writes PNG; the run record names the format; resume and ``i2i evaluate``
find the results whatever it is."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.api.registry import Registry
from i2i_cli.base.errors import UsageError
from i2i_cli.cli.commands.resolve import task_presets
from i2i_cli.io.data import ImageItem
from i2i_cli.io.outputs import check_apart, output_path, pending, to_uint8, write_image
from i2i_cli.run.run_settings import TranslateRun
from tests.conftest import run_i2i
from tests.fixture_dists import use_dists
from tests.tiny_models import manifest_env

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SOURCE_FORMAT_TASKS = {
    ("egsde", task) for task in ("cat2dog", "male2female", "multi-afhq", "wild2dog")
} | {("sdedit", task) for task in ("cat2dog", "male2female", "multi-afhq", "wild2dog")}
"""The tasks whose reference writes under the source's name (ML-GSAI/EGSDE runners/egsde.py)."""


def photos(folder: Path) -> Path:
    """Three random 40x48 sources: ``a.jpg``, ``b.png`` and ``sub/c.JPEG`` (suffix case kept)."""
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.png", "sub/c.JPEG"):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
    return folder


def quantization_at(quality: int) -> dict[int, list[int]]:
    """The quantisation tables of a 32x32 JPEG Pillow writes at ``quality``."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 200)).save(buffer, format="JPEG", quality=quality)
    with Image.open(buffer) as image:
        return {key: list(table) for key, table in image.quantization.items()}


def jpeg_quality_75(path: Path) -> bool:
    """Whether ``path`` is a JPEG written with the quality-75 tables (Pillow's default)."""
    with Image.open(path) as image:
        tables = {key: list(table) for key, table in image.quantization.items()}
        return image.format == "JPEG" and tables == quantization_at(75)


def record(folder: Path) -> dict:
    return tomllib.loads((folder / "run.toml").read_text())


# ---------------------------------------------------------------------------------------------
# The task presets


def test_egsde_and_sdedit_paper_tasks_write_the_sources_format_and_no_other_task_does() -> None:
    registry = Registry.discover()
    chosen = set()
    for name in registry.names("methods"):
        method = registry.load("methods", name)
        for task, resource in task_presets(method.presets).items():
            run = tomllib.loads(resource.read_text(encoding="utf-8")).get("run", {})
            shown = {"output_format": run["output_format"]} if "output_format" in run else {}
            fmt = TranslateRun.model_validate(shown).output_format
            if fmt != "png":
                chosen.add((name, task))
    assert chosen == SOURCE_FORMAT_TASKS
    assert TranslateRun().output_format == "png"


def test_the_sdedit_task_writes_jpeg_quality_75_under_each_sources_name(
    tiny_egsde: Path, tmp_path: Path
) -> None:
    """The preset with only the checkpoint and size overridden (test_egsde_cli: EGSDE's)."""
    config = tmp_path / "sdedit.toml"
    config.write_text(tiny_egsde.read_text().split("[[energy]]")[0])
    out = tmp_path / "out"
    files = ["--input", str(photos(tmp_path / "in")), "--output", str(out)]
    command = ["translate", "sdedit", "--device", "cpu", "--task", "cat2dog"]
    result = run_i2i([*command, "--config", str(config), *files], env=manifest_env())
    assert result.returncode == 0, result.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.jpg", "b.png", "grid.png", "inputs.json", "run.toml", "sub/c.JPEG"]
    assert jpeg_quality_75(out / "a.jpg") and jpeg_quality_75(out / "sub" / "c.JPEG")
    assert Image.open(out / "b.png").format == "PNG"
    assert np.asarray(Image.open(out / "a.jpg")).shape == (32, 32, 3)
    assert record(out)["run"]["output_format"] == "source"
    assert "under its source's name and format" in result.stderr


# ---------------------------------------------------------------------------------------------
# Any translate run (the smoke method: fast)


@pytest.fixture
def smoke(monkeypatch: pytest.MonkeyPatch) -> None:
    use_dists(monkeypatch, "smoke")


def translate(source: Path, out: Path, *args: str) -> tuple[int, str]:
    command = ["translate", "smoke", "--device", "cpu", "--image-size", "16"]
    result = run_i2i([*command, "--input", str(source), "--output", str(out), *args])
    return result.returncode, result.stderr


@pytest.mark.usefixtures("smoke")
def test_png_stays_the_default_and_the_record_names_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, log = translate(photos(tmp_path / "in"), out)
    assert code == 0, log
    assert sorted(p.name for p in out.rglob("*.*") if p.suffix != ".json") == [
        "a.png",
        "b.png",
        "c.png",
        "grid.png",
        "run.toml",
    ]
    assert record(out)["run"]["output_format"] == "png"


@pytest.mark.usefixtures("smoke")
def test_resume_skips_results_already_written_in_the_sources_format(tmp_path: Path) -> None:
    source, out = photos(tmp_path / "in"), tmp_path / "out"
    assert translate(source, out, "--output-format", "source")[0] == 0
    before = (out / "a.jpg").read_bytes()
    (out / "b.png").unlink()
    code, log = translate(source, out, "--output-format", "source")
    assert code == 0, log
    assert "2 already done, 1 to translate" in log
    assert (out / "a.jpg").read_bytes() == before and (out / "b.png").is_file()


@pytest.mark.usefixtures("smoke")
def test_another_format_into_a_run_folder_is_refused_then_replaces_with_overwrite(
    tmp_path: Path,
) -> None:
    source, out = photos(tmp_path / "in"), tmp_path / "out"
    assert translate(source, out)[0] == 0
    code, log = translate(source, out, "--output-format", "source")
    assert code == 2 and "run.output_format: 'png' -> 'source'" in log
    code, log = translate(source, out, "--output-format", "source", "--overwrite")
    assert code == 0, log
    assert not (out / "a.png").exists() and jpeg_quality_75(out / "a.jpg")
    assert (out / "b.png").is_file() and (out / "sub" / "c.JPEG").is_file()
    assert not (out / "sub" / "c.png").exists()


@pytest.mark.usefixtures("smoke")
def test_a_bad_output_format_is_one_line(tmp_path: Path) -> None:
    code, log = translate(photos(tmp_path / "in"), tmp_path / "out", "--output-format", "jpeg")
    assert code == 2
    assert log.strip().splitlines() == [
        "error: invalid setting 'run.output_format' = 'jpeg': Input should be 'png' or 'source'"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("smoke")
def test_evaluate_finds_the_results_whatever_their_format(tmp_path: Path) -> None:
    source, out = photos(tmp_path / "in"), tmp_path / "out"
    assert translate(source, out, "--output-format", "source")[0] == 0
    scores = tmp_path / "scores"
    metrics = '--set=metrics=["l2", "psnr", "ssim"]'
    command = ["evaluate", "all", "--task", "cat2dog", "--images", str(out), metrics]
    where = ["--source", str(source), "--output", str(scores)]
    result = run_i2i([*command, *where, "--device", "cpu"])
    assert result.returncode == 0, result.stderr
    scored = json.loads((scores / "result.json").read_text())
    assert scored["pairs"] == 3 and scored["pairs_skipped"] == 0
    assert scored["images_formats"] == "JPEG (2), PNG (1)"
    assert np.isfinite(scored["psnr"]) and np.isfinite(scored["ssim"])


# ---------------------------------------------------------------------------------------------
# The pieces


def test_a_jpeg_result_is_what_save_image_writes(tmp_path: Path) -> None:
    """Pillow's default JPEG encoder (quality 75), as torchvision's ``save_image`` calls it."""
    image = torch.rand(3, 16, 24, generator=torch.Generator().manual_seed(0)) * 2 - 1
    write_image(image, tmp_path / "x.jpg")
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy()).save(buffer, format="JPEG")
    assert (tmp_path / "x.jpg").read_bytes() == buffer.getvalue()
    assert jpeg_quality_75(tmp_path / "x.jpg")


def test_pending_looks_for_the_formats_own_file(tmp_path: Path) -> None:
    items = [ImageItem("a", tmp_path / "a.jpg"), ImageItem("b", tmp_path / "b.png")]
    out = tmp_path / "out"
    write_image(torch.zeros(3, 4, 4), output_path(out, items[0]))  # a.png: the other format
    assert pending(items, out, overwrite=False, output_format="source") == items
    write_image(torch.zeros(3, 4, 4), output_path(out, items[0], "source"))
    assert pending(items, out, overwrite=False, output_format="source") == items[1:]


def test_a_single_source_is_never_written_over_in_its_own_format(tmp_path: Path) -> None:
    source = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(source)
    check_apart(tmp_path, source)  # a.png beside a.jpg
    with pytest.raises(UsageError, match="would write the result of"):
        check_apart(tmp_path, source, "source")
