"""Under torchrun each rank evaluates its share; the statistics and means equal one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import run_i2i
from tests.metrics_helpers import random_inception_state, write_images
from tests.test_runtime import free_port


def run(args: list[str], world_size: int) -> None:
    """``i2i ARGS`` as one plain process or a torchrun job of ``world_size`` CPU processes.

    Every process computes with one thread (torchrun's default), so the network gives the same
    float32 features in both runs and only the distribution of the work differs.
    """
    if world_size == 1:  # the plain run needs no process of its own: in-process, one thread
        single = run_i2i(args, env={"OMP_NUM_THREADS": "1"})
        assert single.returncode == 0, single.stderr[-3000:]
        return
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(world_size),
        "--master_port", str(free_port()), "-m", "i2i_cli", *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights, five images (an odd count, so the shards differ) and their sources."""
    root = tmp_path_factory.mktemp("dist")
    torch.save(random_inception_state(seed=3), root / "weights.pth")
    write_images(root / "images", 5, seed=10)
    write_images(root / "source", 5, seed=11)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("world_size", [1, 2])
def test_statistics_under_torchrun_equal_one_process(folders: Path, world_size: int) -> None:
    out = folders / f"stats{world_size}"
    run(
        [
            "evaluate", "stats", "--images", str(folders / "images"),
            "--detector", str(folders / "weights.pth"), "--out", str(out / "ref.npz"),
            "--output", str(out), "--device", "cpu", "--batch-size", "1",
        ],
        world_size,
    )  # fmt: skip
    record = json.loads((out / "result.json").read_text())
    assert record["world_size"] == world_size and record["images_count"] == 5
    if world_size == 2:
        with np.load(folders / "stats1" / "ref.npz") as one, np.load(out / "ref.npz") as two:
            np.testing.assert_allclose(two["mu"], one["mu"], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(two["sigma"], one["sigma"], rtol=1e-10, atol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("world_size", [1, 2])
def test_paired_means_under_torchrun_equal_one_process(folders: Path, world_size: int) -> None:
    out = folders / f"paired{world_size}"
    run(
        [
            "evaluate", "all", "--images", str(folders / "images"),
            "--source", str(folders / "source"), "--metric", "ssim", "--metric", "psnr",
            "--metric", "l2", "--output", str(out), "--device", "cpu", "--batch-size", "2",
        ],
        world_size,
    )  # fmt: skip
    record = json.loads((out / "result.json").read_text())
    assert record["pairs"] == 5 and record["world_size"] == world_size
    if world_size == 2:
        single = json.loads((folders / "paired1" / "result.json").read_text())
        for name in ("ssim", "psnr", "l2"):
            assert record[name] == single[name]
