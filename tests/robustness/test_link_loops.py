"""The robustness corpus, link loops: every path option given a symbolic link to itself.

Each is one line naming the path as a symbolic link loop (``i2i_cli.base.paths``), never "does not
exist" or "is not a folder"; a link to nothing is called a broken link.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_i2i
from tests.robustness.run_helpers import SMOKE, error_line, make_images
from tests.test_dg_train import setup  # noqa: F401  (the tiny discriminator's inputs)

CPU = ["--device", "cpu"]

CASES: dict[str, list[str]] = {
    "translate --input": ["translate", "smoke", *SMOKE, "--input", "{loop}"],
    "translate --config": [
        "translate",
        "smoke",
        *SMOKE,
        "--input",
        "{images}",
        "--config",
        "{loop}",
    ],
    "translate --output": [
        "translate",
        "smoke",
        *SMOKE,
        "--input",
        "{images}",
        "--output",
        "{loop}",
    ],
    "translate ddib --input": ["translate", "ddib", *CPU, "--input", "{loop}.npy"],
    "sample edm --checkpoint": ["sample", "edm", *CPU, "--seeds", "0", "--checkpoint", "{loop}"],
    "train bbdm --data": ["train", "bbdm", *CPU, "--data", "{loop}"],
    "train diffusion --data": ["train", "diffusion", *CPU, "--data", "{loop}"],
    "train dse --data-a": ["train", "dse", *CPU, "--data-a", "{loop}", "--data-b", "{images}"],
    "train dse --init-checkpoint": [
        *("train", "dse", *CPU, "--data-a", "{images}", "--data-b", "{images}"),
        *("--init-checkpoint", "{loop}"),
    ],
    "train discriminator --real": [
        *("train", "discriminator", *CPU, "--config", "{config}"),
        *("--real", "{loop}", "--fake", "{fake}"),
    ],
    "train discriminator --fake": [
        *("train", "discriminator", *CPU, "--config", "{config}"),
        *("--real", "{real}", "--fake", "{loop}"),
    ],
    "train discriminator --extractor-checkpoint": [
        *("train", "discriminator", *CPU, "--real", "{real}", "--fake", "{fake}"),
        *("--extractor-checkpoint", "{loop}"),
    ],
    "evaluate fid --images": ["evaluate", "fid", *CPU, "--images", "{loop}", "--ref", "{images}"],
    "evaluate fid --ref": ["evaluate", "fid", *CPU, "--images", "{images}", "--ref", "{loop}"],
    "evaluate fid --detector": [
        *("evaluate", "fid", *CPU, "--images", "{images}", "--ref", "{images}"),
        *("--backend", "nvidia", "--detector", "{loop}"),
    ],
    "evaluate psnr --source": [
        "evaluate",
        "psnr",
        *CPU,
        "--images",
        "{images}",
        "--source",
        "{loop}",
    ],
    "evaluate lpips --target": [
        "evaluate",
        "lpips",
        *CPU,
        "--images",
        "{images}",
        "--target",
        "{loop}",
    ],
    "evaluate lpips --trunk": [
        *("evaluate", "lpips", *CPU, "--images", "{images}", "--target", "{images}"),
        *("--trunk", "{loop}"),
    ],
    "evaluate miou --truth": [
        "evaluate",
        "miou",
        *CPU,
        "--images",
        "{images}",
        "--truth",
        "{loop}",
    ],
    "evaluate stats --images": [
        "evaluate",
        "stats",
        *CPU,
        "--images",
        "{loop}",
        "--out",
        "{out}.npz",
    ],
    "download --from": ["download", "--from", "{loop}", "bbdm_vqgan_f4"],
}
"""Every path option, given ``{loop}``; the other placeholders are good inputs."""


@pytest.mark.parametrize("case", list(CASES))
def test_a_symbolic_link_loop_is_named_as_one(
    case: str,
    tmp_path: Path,
    setup: dict[str, Path],  # noqa: F811
) -> None:
    loop = tmp_path / "loop"
    os.symlink(loop.name, loop)
    os.symlink(f"{loop.name}.npy", tmp_path / "loop.npy")
    names = {
        "loop": str(loop),
        "images": str(make_images(tmp_path / "images", 2)[0].parent),
        "out": str(tmp_path / "out"),
        **{name: str(path) for name, path in setup.items()},
    }
    argv = [part.format(**names) for part in CASES[case]]
    if "--output" not in argv and argv[0] != "download":
        argv += ["--output", str(tmp_path / "out")]
    result = run_i2i(argv, dists=["smoke"], cwd=tmp_path)
    looping = loop.with_suffix(".npy") if "ddib" in case else loop
    error_line(result, str(looping), "is a symbolic link loop (it leads back to itself)")


def test_a_link_to_nothing_is_named_a_broken_link(tmp_path: Path) -> None:
    broken = tmp_path / "data"
    os.symlink(tmp_path / "gone", broken)
    result = run_i2i(
        ["train", "bbdm", *CPU, "--data", str(broken), "--output", str(tmp_path / "o")]
    )
    error_line(result, f"--data {broken} is a broken symbolic link (to {tmp_path / 'gone'})")
