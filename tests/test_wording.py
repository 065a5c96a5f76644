"""The CLI counts in the noun's number and names plugin kinds in the singular."""

from __future__ import annotations

from pathlib import Path

import pytest

from i2i_cli.api.registry import Registry
from i2i_cli.base.wording import counted, singular
from i2i_cli.run.energy_terms import parse_energy_text
from tests.robustness.run_helpers import make_images, translate


@pytest.mark.parametrize(
    ("plural", "one"),
    [("images", "image"), ("source images", "source image"), ("energies", "energy"),
     ("steps", "step"), ("metrics", "metric")],
)  # fmt: skip
def test_a_plural_noun_has_its_singular(plural: str, one: str) -> None:
    assert singular(plural) == one
    assert counted(1, plural) == f"1 {one}"
    assert counted(0, plural) == f"0 {plural}"
    assert counted(2, plural) == f"2 {plural}"


def test_an_unknown_energy_is_no_energie_plugin() -> None:
    with pytest.raises(Exception, match="no energy plugin named 'nope'"):
        Registry.discover().entry("energies", "nope")


def test_a_misspelt_weight_is_named_as_an_unknown_key() -> None:
    with pytest.raises(ValueError, match="unknown key 'wieght' \\(did you mean 'weight'\\?\\)"):
        parse_energy_text("dse:wieght=700")
    with pytest.raises(ValueError, match="needs a weight"):
        parse_energy_text("dse:factor=32")


def test_one_image_is_counted_as_one_image(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    result = translate(tmp_path / "in", tmp_path / "out", "--steps", "1")
    assert result.returncode == 0, result.stderr
    assert "1 source image in" in result.stderr and "1 source images" not in result.stderr
    assert "done: 1 image in" in result.stderr and "done: 1 images" not in result.stderr


def test_runs_without_output_and_other_settings_get_their_own_default_folders(
    tmp_path: Path,
) -> None:
    """``runs/sample/smoke``, then ``-2`` for other settings; the first settings find theirs."""
    from tests.conftest import run_i2i
    from tests.robustness.run_helpers import SMOKE

    def sample(steps: str) -> str:
        command = ["sample", "smoke", *SMOKE, "--num-samples", "1", "--steps", steps]
        result = run_i2i(command, cwd=tmp_path, dists=["smoke"])
        assert result.returncode == 0, result.stderr
        return result.stderr

    sample("1")
    assert (tmp_path / "runs" / "sample" / "smoke" / "run.toml").is_file()
    assert "runs/sample/smoke-2" in sample("2")
    again = sample("1")
    assert "runs/sample/smoke-2" not in again and "already done" in again
    assert sorted(p.name for p in (tmp_path / "runs" / "sample").iterdir()) == [
        "smoke",
        "smoke-2",
    ]
