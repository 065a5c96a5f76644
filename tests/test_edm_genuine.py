"""The authors' path for EDM and DG: snapshots written by EDM's own code, sampled by the CLI.

``golden/edm_genuine/`` holds tiny snapshots pickled by NVlabs/edm's own training-loop code
(EDMPrecond, VPPrecond and VEPrecond; conditional and not) and the float64 samples EDM's own
``generate.py`` loop drew from them for seeds 0-7 (its README). ``i2i sample edm --checkpoint
FILE --seeds 0-7``, with no preset and no config, must give those samples: the file decides
which network is built. The floats are read where the CLI turns them into images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import run_i2i

GENUINE = "edm_genuine"
CHURN = ("--s-churn", "40", "--s-min", "0.05", "--s-max", "50", "--s-noise", "1.003")
"""The stochastic variant of the references (``<name>.churn.ref.npz``, the folder's README)."""

REFERENCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "edm_uncond.ref": ("edm_uncond", ()),
    "edm_uncond.churn.ref": ("edm_uncond", CHURN),
    "vp_uncond.ref": ("vp_uncond", ()),
    "vp_uncond.churn.ref": ("vp_uncond", CHURN),
    "vp_cond.ref": ("vp_cond", ()),
    "vp_cond.churn.ref": ("vp_cond", CHURN),
    "vp_cond.class3.ref": ("vp_cond", ("--class-label", "3")),
    "ve_uncond.ref": ("ve_uncond", ()),
    "ve_uncond.churn.ref": ("ve_uncond", CHURN),
}
"""Each reference file: the snapshot it was drawn from and the sampler flags it used."""

RELATIVE = 1e-5
"""Largest difference allowed, relative to the largest |value| of the seed's reference."""


@pytest.fixture(scope="module")
def genuine(golden_dir: Path) -> Path:
    """The folder of genuine EDM snapshots (fails, never skips, where the golden folder is)."""
    folder = golden_dir / GENUINE
    assert folder.is_dir(), f"{folder} is missing from the golden folder"
    return folder


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[torch.Tensor]]:
    """The float samples ``i2i sample edm|dg`` turn into images, batch by batch, in order."""
    import i2i_dg.sample
    import i2i_edm.sample

    batches: list[torch.Tensor] = []
    original = i2i_edm.sample.edm_image

    def recording(x: torch.Tensor) -> Any:
        batches.append(x.detach().cpu().clone())
        return original(x)

    monkeypatch.setattr(i2i_edm.sample, "edm_image", recording)
    monkeypatch.setattr(i2i_dg.sample, "edm_image", recording)
    yield batches


def reference(genuine: Path, name: str) -> np.ndarray:
    """The reference samples of seeds 0-7, (8, 3, 16, 16) float64."""
    with np.load(genuine / f"{name}.npz") as data:
        return np.stack([data[f"{seed:06d}"] for seed in range(8)])


def largest_relative_error(ours: np.ndarray, expected: np.ndarray) -> float:
    """max over seeds of max|ours - expected| / max|expected| for that seed."""
    error = np.abs(ours - expected).reshape(len(expected), -1).max(axis=1)
    scale = np.abs(expected).reshape(len(expected), -1).max(axis=1)
    return float((error / scale).max())


def sample(method: str, snapshot: Path, out: Path, *flags: str) -> Any:
    """``i2i sample METHOD --checkpoint SNAPSHOT --seeds 0-7`` on the CPU, nothing else."""
    return run_i2i(
        [
            *("sample", method, "--checkpoint", str(snapshot), "--seeds", "0-7"),
            *("--device", "cpu", "--output", str(out), *flags),
        ]
    )


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_sample_edm_on_the_file_alone_reproduces_edms_own_samples(
    genuine: Path, captured: list[torch.Tensor], tmp_path: Path, name: str
) -> None:
    snapshot, flags = REFERENCES[name]
    result = sample("edm", genuine / f"{snapshot}.pkl", tmp_path / "out", *flags)
    assert result.returncode == 0, result.stderr
    ours = torch.cat(captured).numpy()
    assert ours.dtype == np.float64 and ours.shape == (8, 3, 16, 16)
    assert largest_relative_error(ours, reference(genuine, name)) <= RELATIVE
    assert len(list((tmp_path / "out").glob("*.png"))) == 8


@pytest.mark.parametrize("name", ["edm_uncond.ref", "vp_cond.ref", "ve_uncond.churn.ref"])
def test_sample_dg_without_guidance_reproduces_edms_own_samples(
    genuine: Path, captured: list[torch.Tensor], tmp_path: Path, name: str
) -> None:
    snapshot, flags = REFERENCES[name]
    result = sample("dg", genuine / f"{snapshot}.pkl", tmp_path / "out", "--w1", "0", *flags)
    assert result.returncode == 0, result.stderr
    ours = torch.cat(captured).numpy()
    assert largest_relative_error(ours, reference(genuine, name)) <= RELATIVE


@pytest.mark.parametrize(
    ("method", "task", "snapshot", "recorded", "preset"),
    [
        ("edm", "cifar10-32x32-uncond-vp", "vp_uncond", "'vp'", "'edm'"),
        ("edm", "cifar10-32x32-uncond-ve", "ve_uncond", "'ve'", "'edm'"),
        ("dg", "cifar10-uncond", "vp_uncond", "'vp'", "'edm'"),
    ],
)
def test_a_preset_naming_another_preconditioner_is_refused_in_one_line(
    genuine: Path,
    tmp_path: Path,
    method: str,
    task: str,
    snapshot: str,
    recorded: str,
    preset: str,
) -> None:
    out = tmp_path / "out"
    flags = ("--task", task, "--w1", "0") if method == "dg" else ("--task", task)
    result = sample(method, genuine / f"{snapshot}.pkl", out, *flags)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert f"model.precond: the file records {recorded}" in line
    assert f"says {preset}" in line
    assert not list(out.glob("*.png"))


def test_a_set_value_that_contradicts_the_file_is_refused(genuine: Path, tmp_path: Path) -> None:
    result = sample(
        "edm", genuine / "edm_uncond.pkl", tmp_path / "out", "--set", "model.img_resolution=32"
    )
    assert result.returncode == 2
    assert "model.img_resolution: the file records 16" in result.stderr
    assert "says 32" in result.stderr


def test_a_matching_preset_is_accepted_as_a_cross_check(
    genuine: Path, captured: list[torch.Tensor], tmp_path: Path
) -> None:
    """The preset's architecture values that the file also records agree: nothing refused."""
    sets = ("--set", "model.precond=edm", "--set", "model.img_resolution=16")
    result = sample("edm", genuine / "edm_uncond.pkl", tmp_path / "out", *sets)
    assert result.returncode == 0, result.stderr
    ours = torch.cat(captured).numpy()
    assert largest_relative_error(ours, reference(genuine, "edm_uncond.ref")) <= RELATIVE


def test_the_hostile_source_file_is_sampled_without_running_its_code(
    genuine: Path, captured: list[torch.Tensor], tmp_path: Path
) -> None:
    marker = tmp_path / "edm_source_executed.marker"
    result = run_i2i(
        [
            *("sample", "edm", "--checkpoint", str(genuine / "edm_uncond_hostile_source.pkl")),
            *("--seeds", "0-7", "--device", "cpu", "--output", str(tmp_path / "out")),
        ],
        cwd=tmp_path,
        env={"I2I_TEST_MARKER": str(marker)},
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    ours = torch.cat(captured).numpy()
    assert largest_relative_error(ours, reference(genuine, "edm_uncond.ref")) <= RELATIVE


def test_the_hostile_reduce_file_is_refused_before_anything_runs(
    genuine: Path, tmp_path: Path
) -> None:
    result = run_i2i(
        [
            *("sample", "edm", "--checkpoint", str(genuine / "edm_uncond_hostile_reduce.pkl")),
            *("--seeds", "0-1", "--device", "cpu", "--output", str(tmp_path / "out")),
        ],
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "not allowed to run" in result.stderr
    assert not (tmp_path / "payload_ran.marker").exists()
    assert not list((tmp_path / "out").glob("*.png"))
