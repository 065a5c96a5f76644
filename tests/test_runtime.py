"""Runtime: device choice, precision, sharding, and torch.distributed from torchrun's env."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_cli.base.errors import UsageError
from i2i_cli.run.runtime import DistInfo, Runtime, create_runtime, pick_device
from tests.conftest import run_i2i
from tests.fixture_dists import use_dists


def test_auto_device_falls_back_to_cpu_and_cpu_is_always_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and pick_device("auto").type == "mps":
        expected = "mps"
    assert pick_device(None).type == expected
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_or_unknown_device_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="'cuda' is not available here"):
        pick_device("cuda")
    with pytest.raises(UsageError, match="unknown device 'gpu0'"):
        pick_device("gpu0")


def test_fp16_on_cpu_is_refused_with_advice() -> None:
    with pytest.raises(UsageError, match="bf16 or fp32"):
        create_runtime("cpu", "fp16")


def test_autocast_is_a_no_op_at_fp32_and_casts_at_bf16() -> None:
    a = torch.randn(4, 4)
    with create_runtime("cpu", "fp32").autocast():
        assert (a @ a).dtype == torch.float32
    with create_runtime("cpu", "bf16").autocast():
        assert (a @ a).dtype == torch.bfloat16


def test_plain_process_is_world_size_one_and_shard_partitions_exactly() -> None:
    runtime = create_runtime("cpu")
    assert runtime.dist == DistInfo()
    assert runtime.shard(list(range(5))) == [0, 1, 2, 3, 4]
    ranks = [DistInfo(rank=r, world_size=3) for r in range(3)]
    shards = [Runtime(torch.device("cpu"), "fp32", 0, d) for d in ranks]
    parts = [runtime_.shard(list(range(7))) for runtime_ in shards]
    assert sorted(item for part in parts for item in part) == list(range(7))
    assert parts[1] == [1, 4]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WORKER = """
import sys, torch
from i2i_cli.run.runtime import create_runtime, shutdown_runtime
from i2i_cli.diffusion.noise import PerItemNoise
runtime = create_runtime("cpu")
assert runtime.dist.world_size == 2, runtime.dist
total = runtime.all_reduce_sum(torch.tensor([runtime.dist.rank + 1.0]))
assert total.item() == 3.0, total
assert runtime.all_gather_objects(runtime.dist.rank) == [0, 1]
keys = runtime.shard(["a", "b", "c"])
torch.save({k: v for k, v in zip(keys, PerItemNoise(7, keys).randn((len(keys), 5)))},
           sys.argv[1] + f"/rank{runtime.dist.rank}.pt")
shutdown_runtime(runtime)
"""


def test_two_process_gloo_job_reduces_gathers_and_draws_the_same_noise(tmp_path: Path) -> None:
    port = free_port()
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE="2",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(tmp_path)],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    from i2i_cli.diffusion.noise import PerItemNoise

    merged = {**torch.load(tmp_path / "rank0.pt"), **torch.load(tmp_path / "rank1.pt")}
    single = PerItemNoise(7, ["a", "b", "c"]).randn((3, 5))
    for index, key in enumerate(["a", "b", "c"]):
        assert torch.equal(merged[key], single[index])


@pytest.mark.slow
def test_torchrun_translate_equals_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_dists(monkeypatch, "smoke")
    rng = np.random.default_rng(1)
    (tmp_path / "in").mkdir()
    for index in range(5):
        pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "in" / f"in{index}.png")
    common = [
        "translate",
        "smoke",
        "--input",
        str(tmp_path / "in"),
        "--device",
        "cpu",
        "--image-size",
        "16",
        "--seed",
        "4",
        "--batch-size",
        "2",
    ]
    one = run_i2i([*common, "--output", str(tmp_path / "one")])  # the same CLI, in-process
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(free_port()),
            "-m",
            "i2i_cli",
            *common,
            "--output",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
    )
    assert two.returncode == 0, two.stderr
    for index in range(5):
        a = np.asarray(Image.open(tmp_path / "one" / f"in{index}.png"))
        b = np.asarray(Image.open(tmp_path / "two" / f"in{index}.png"))
        assert np.array_equal(a, b)
    assert two.stderr.count("source images") == 1  # logs from rank 0 only
