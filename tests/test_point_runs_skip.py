"""A point run rerun with the same settings into its folder finds its outputs and skips."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_i2i

MAIN_JOB = ["translate", "ddib", "--task", "moons2squares", "--num-points", "60", "--steps", "2"]
"""The README's main job, shrunk: 60 points, 2 steps per pass, the bundled models."""


def _arrays(folder: Path) -> dict[str, int]:
    """Each ``.npy`` in ``folder`` and its modification time in nanoseconds."""
    return {path.name: path.stat().st_mtime_ns for path in sorted(folder.glob("*.npy"))}


def test_a_rerun_with_the_same_settings_skips_a_finished_point_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_i2i([*MAIN_JOB, "--output", str(out)])
    assert first.returncode == 0, first.stderr
    recorded = json.loads((out / "result.json").read_text())
    assert recorded["files"] == sorted(_arrays(out)) and "target.npy" in recorded["files"]
    before = (_arrays(out), (out / "run.toml").read_bytes(), (out / "result.json").read_bytes())
    again = run_i2i([*MAIN_JOB, "--output", str(out)])
    assert again.returncode == 0, again.stderr
    assert "already holds this run's outputs" in again.stderr
    assert "--overwrite" in again.stderr and "ddib:" not in again.stderr
    assert "target_sliced_wasserstein" in again.stdout
    after = (_arrays(out), (out / "run.toml").read_bytes(), (out / "result.json").read_bytes())
    assert after == before


def test_overwrite_or_a_missing_array_redoes_the_point_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_i2i([*MAIN_JOB, "--output", str(out)]).returncode == 0
    redone = run_i2i([*MAIN_JOB, "--output", str(out), "--overwrite"])
    assert redone.returncode == 0, redone.stderr
    assert "already holds" not in redone.stderr and "ddib:" in redone.stderr
    (out / "latent.npy").unlink()
    again = run_i2i([*MAIN_JOB, "--output", str(out)])
    assert again.returncode == 0, again.stderr
    assert "already holds" not in again.stderr and (out / "latent.npy").is_file()


def test_a_point_sampling_run_skips_alike(tmp_path: Path) -> None:
    """The core hook serves every point run: ``sample ddib`` on the 2-D models too; another
    ``--num-samples`` would replace the points, so it needs ``--overwrite``."""
    args = ["sample", "ddib", "--task", "moons2squares", "--num-samples", "40", "--steps", "2"]
    out = tmp_path / "out"
    assert run_i2i([*args, "--output", str(out)]).returncode == 0
    again = run_i2i([*args, "--output", str(out)])
    assert again.returncode == 0, again.stderr
    assert "already holds this run's outputs (result.json, latent.npy, points.npy)" in again.stderr
    before = _arrays(out)
    more = run_i2i([*args[:-3], "50", *args[-2:], "--output", str(out)])
    assert more.returncode == 2, more.stderr
    assert "another --num-samples" in more.stderr and "--overwrite" in more.stderr
    assert _arrays(out) == before
    replaced = run_i2i([*args[:-3], "50", *args[-2:], "--output", str(out), "--overwrite"])
    assert replaced.returncode == 0, replaced.stderr
    assert len(json.loads((out / "result.json").read_text())["files"]) == 2
