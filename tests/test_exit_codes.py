"""One rule for exit codes (docs/faults.md, "Exit codes"): 2 nothing ran, 1 a run failed, 130."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from i2i_cli.base.errors import INTERRUPTED_EXIT, RUN_EXIT, USAGE_EXIT
from tests.conftest import run_i2i
from tests.robustness.run_helpers import make_images, translate
from tests.tiny_models import TINY_ADM_8PX, random_weights, toml_table

FAULTS = Path(__file__).parent.parent / "docs" / "faults.md"


def test_the_exit_code_rule_is_documented_as_the_code_has_it() -> None:
    text = FAULTS.read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    codes = dict(re.findall(r"^\| `(\d+)` \| ([^|]+) \|", section, flags=re.MULTILINE))
    assert set(codes) == {"0", str(USAGE_EXIT), str(RUN_EXIT), str(INTERRUPTED_EXIT)}
    assert "nothing ran" in codes[str(USAGE_EXIT)]
    assert "started" in codes[str(RUN_EXIT)]
    assert "interrupted" in codes[str(INTERRUPTED_EXIT)].lower()


def test_weights_that_do_not_fit_the_network_exit_2(tmp_path: Path) -> None:
    """A shape mismatch is found before anything runs: a wrong input file, exit 2."""
    weights = random_weights("adm-unet", "afhq_dog_4m", TINY_ADM_8PX, tmp_path / "w.pt")
    config = tmp_path / "wide.toml"
    wide = {**TINY_ADM_8PX, "num_channels": 64}
    config.write_text(f"checkpoint = '{weights}'\n" + toml_table("model", wide))
    args = ["sample", "diffusion", "--config", str(config), "--device", "cpu", "--steps", "2"]
    result = run_i2i([*args, "--num-samples", "1", "--output", str(tmp_path / "out")])
    assert result.returncode == USAGE_EXIT, result.stderr
    assert "shape mismatches" in result.stderr and "Traceback" not in result.stderr


def test_a_strict_run_stopped_by_a_bad_image_exits_1(tmp_path: Path) -> None:
    """--strict stops a run that started (two results written): exit 1."""
    make_images(tmp_path / "in", 2)
    (tmp_path / "in" / "img5.png").write_bytes(b"broken")
    result = translate(tmp_path / "in", tmp_path / "out", "--strict", "--batch-size", "1")
    assert result.returncode == RUN_EXIT, result.stderr
    assert "img5.png" in result.stderr


def test_a_usage_error_of_the_command_line_exits_2(tmp_path: Path) -> None:
    result = translate(tmp_path / "absent", tmp_path / "out")
    assert result.returncode == USAGE_EXIT, result.stderr
    assert "input not found" in result.stderr


def test_points_that_go_non_finite_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A point run that started and went non-finite is a failed run, as an image run's is."""
    import i2i_edm.sample

    monkeypatch.setattr(
        i2i_edm.sample, "sample_heun", lambda denoiser, x, sigmas, **kw: x * float("nan")
    )
    moons = ["--backbone", "ddib-2d", "--preset", "bundled", "--checkpoint",
             "package:i2i_ddib.models/moons.pt", "--device", "cpu"]  # fmt: skip
    out = tmp_path / "out"
    result = run_i2i(["sample", "edm", *moons, "--num-samples", "8", "--output", str(out)])
    assert result.returncode == RUN_EXIT, result.stderr
    assert "8 points of 8 went non-finite" in result.stderr
