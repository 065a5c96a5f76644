"""``i2i translate egsde|sdedit|ilvr`` end to end on tiny random checkpoints in the real cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import run_i2i
from tests.tiny_models import manifest_env


def sources(folder: Path, count: int = 3) -> Path:
    """``count`` random 40x48 photos (one JPEG) to translate."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"src{index}.{'jpg' if index == 0 else 'png'}")
    return folder


def translate(method: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_i2i(["translate", method, "--device", "cpu", *args], env=manifest_env())


def wild2dog(
    method: str, config: Path, source: Path, out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``i2i translate <method> --task wild2dog`` over ``source`` with the settings ``config``."""
    files = ["--config", str(config), "--input", str(source), "--output", str(out)]
    return translate(method, "--task", "wild2dog", *files, *args)


def test_egsde_wild2dog_translates_each_source_under_its_name(
    tiny_egsde: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = wild2dog("egsde", tiny_egsde, sources(tmp_path / "in"), out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.*g")) == [
        "grid.png",
        "src0.jpg",  # the task writes what the reference writes: the source's name and format
        "src1.png",
        "src2.png",
    ]
    assert Image.open(out / "src0.jpg").format == "JPEG"
    assert np.asarray(Image.open(out / "src1.png")).shape == (32, 32, 3)
    assert (out / "run.toml").is_file()
    assert "dse x 500, lowpass x 2" in result.stderr


def test_egsde_takes_a_single_file_and_differs_from_sdedit(
    tiny_egsde: Path, tmp_path: Path
) -> None:
    source = sources(tmp_path / "in") / "src1.png"
    no_energy = tmp_path / "sdedit.toml"
    no_energy.write_text(tiny_egsde.read_text().split("[[energy]]")[0])
    egsde = wild2dog("egsde", tiny_egsde, source, tmp_path / "e")
    sdedit = wild2dog("sdedit", no_energy, source, tmp_path / "s")
    assert egsde.returncode == 0, egsde.stderr
    assert sdedit.returncode == 0, sdedit.stderr
    a = np.asarray(Image.open(tmp_path / "e" / "src1.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "s" / "src1.png"), dtype=int)
    assert np.abs(a - b).max() > 0


def test_a_users_energy_plugin_composes_with_egsde(tiny_egsde: Path, tmp_path: Path) -> None:
    source = sources(tmp_path / "in") / "src1.png"
    runs = {}
    for weight in ("0", "1e6"):
        out = tmp_path / f"w{weight}"
        result = run_i2i(
            [
                "translate",
                "egsde",
                "--device",
                "cpu",
                "--task",
                "wild2dog",
                "--config",
                str(tiny_egsde),
                "--input",
                str(source),
                "--output",
                str(out),
                "--energy",
                f"brightness:weight={weight},target=-1.0",
            ],
            dists=["userenergy"],
            env=manifest_env(),
        )
        assert result.returncode == 0, result.stderr
        runs[weight] = np.asarray(Image.open(out / "src1.png"), dtype=float)
    assert runs["1e6"].mean() < runs["0"].mean() - 5


def test_missing_checkpoint_names_the_download_command(tmp_path: Path) -> None:
    result = translate(
        "egsde",
        "--task",
        "wild2dog",
        "--input",
        str(sources(tmp_path / "in")),
        "--output",
        str(tmp_path / "out"),
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "afhq_dog_4m, egsde_wild2dog_dse" in result.stderr
    assert "i2i download afhq_dog_4m egsde_wild2dog_dse" in result.stderr


def test_bad_energy_flag_is_one_line(tiny_egsde: Path, tmp_path: Path) -> None:
    result = translate(
        "egsde",
        "--config",
        str(tiny_egsde),
        "--input",
        str(sources(tmp_path / "in")),
        "--energy",
        "dse",
        "--output",
        str(tmp_path / "o"),
    )
    assert result.returncode == 2
    assert "needs a weight" in result.stderr and "Traceback" not in result.stderr


def test_ilvr_translates_with_a_tiny_model(tiny_egsde: Path, tmp_path: Path) -> None:
    config = tmp_path / "ilvr.toml"
    model = tiny_egsde.read_text().split("[[energy]]")[0].replace("start_step = 6\n", "")
    config.write_text(
        model.replace("[model]", 'respacing = "4"\ndown_n = 4\nrange_t = 1\n\n[model]')
    )
    out = tmp_path / "out"
    result = wild2dog("ilvr", config, sources(tmp_path / "in", 2), out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("src*.png")) == ["src0.png", "src1.png"]
