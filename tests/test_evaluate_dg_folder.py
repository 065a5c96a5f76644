"""``i2i evaluate`` reads the folders ``i2i sample dg`` and ``i2i sample edm`` write (issue 12.7).

``all --task cifar10`` (the nvidia backend of DG's and EDM's FID-50k) runs on an ``i2i sample
dg --subdirs --npz`` folder and counts exactly its samples: the PNGs of its per-1000 subfolders
(``000000/000999.png``), not ``samples.npz`` or ``run.toml``; an ``i2i sample edm --subdirs
--npz`` folder is counted alike (``i2i evaluate stats``, no Frechet distance). The detector is
a random-weight Inception and the reference statistics a hand-made ``.npz``, both local
(tests/metrics_helpers.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import run_i2i
from tests.metrics_helpers import random_inception_state, sha256
from tests.test_dg_sample import sample, tiny_run  # noqa: F401  (the fixture)


def pngs(folder: Path) -> list[Path]:
    """Every PNG under ``folder``, recursively."""
    return sorted(folder.rglob("*.png"))


@pytest.fixture
def detector_and_stats(tmp_path: Path) -> tuple[Path, Path]:
    """A random-weight Inception state dict and reference statistics (mu, sigma) of 2048-d."""
    weights = tmp_path / "inception_random.pth"
    torch.save(random_inception_state(), weights)
    rng = np.random.default_rng(0)
    factor = rng.standard_normal((2048, 8))
    stats = tmp_path / "ref_stats.npz"
    np.savez(stats, mu=rng.standard_normal(2048), sigma=factor @ factor.T + np.eye(2048))
    return weights, stats


def evaluate(out: Path, *args: str) -> dict:
    """``i2i evaluate ARGS`` on the CPU into ``out``; its result.json."""
    result = run_i2i(["evaluate", *args, "--device", "cpu", "--output", str(out)])
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads((out / "result.json").read_text())


def test_cifar10_protocol_runs_on_a_sample_dg_folder(
    tiny_run: dict[str, Path],  # noqa: F811
    detector_and_stats: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """``all --task cifar10`` on 3 DG samples in subfolders: nvidia backend, FID of those 3 only."""
    out = tmp_path / "dg"
    config = ("--config", str(tiny_run["config"]), "--w1", "2")
    sample("dg", tiny_run["net0"], out, *config, "--seeds", "999-1001", "--subdirs", "--npz")
    written = [p.relative_to(out).as_posix() for p in pngs(out)]
    assert written == ["000000/000999.png", "001000/001000.png", "001000/001001.png"]
    assert list(out.rglob("*.npz")) and (out / "run.toml").is_file()
    weights, stats = detector_and_stats
    record = evaluate(
        tmp_path / "eval",
        *("all", "--task", "cifar10", "--images", str(out)),
        *("--ref", str(stats), "--detector", str(weights)),
    )
    assert record["protocol"] == "cifar10" and record["metrics"] == ["fid"]
    assert record["backend"] == "nvidia" and record["detector_sha256"] == sha256(weights)
    assert record["images_count"] == 3 and record["images_skipped"] == 0
    assert record["images_sizes"] == "8x8 (3)"
    assert record["ref_kind"] == "statistics" and record["ref_sha256"] == sha256(stats)
    assert math.isfinite(record["fid"]) and record["fid"] > 0


def test_edm_subdirs_folder_counts_the_images_below_and_not_samples_npz(
    tiny_run: dict[str, Path],  # noqa: F811
    detector_and_stats: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """``--seeds 998-1001 --subdirs --npz``: 4 PNGs in 000000/ and 001000/, samples.npz aside."""
    out = tmp_path / "edm"
    sample("edm", tiny_run["net0"], out, "--seeds", "998-1001", "--subdirs", "--npz")
    written = [p.relative_to(out).as_posix() for p in pngs(out)]
    assert written == ["000000/000998.png", "000000/000999.png", "001000/001000.png",
                       "001000/001001.png"]  # fmt: skip
    assert list(out.rglob("*.npz"))
    weights, _ = detector_and_stats
    record = evaluate(
        tmp_path / "stats",
        *("stats", "--images", str(out), "--out", str(tmp_path / "s.npz")),
        *("--backend", "nvidia", "--detector", str(weights)),
    )
    assert record["images_count"] == 4 and record["images_skipped"] == 0
