"""``i2i sample edm`` on a 2-D eps model: the core's point run (``i2i_cli.points.sampling``).

It used to crash writing a (2,) "image"; now it writes the points, a plot and their scores, and
its plain Heun samples are ``i2i sample dg``'s with w1 = 0 from the same seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.conftest import run_i2i

MOONS = ("--backbone", "ddib-2d", "--preset", "bundled", "--checkpoint",
         "package:i2i_ddib.models/moons.pt", "--device", "cpu")  # fmt: skip


def test_sample_edm_on_points_writes_points_plot_and_scores(tmp_path: Path) -> None:
    """points.npy (n, 2), latent.npy, samples.png and support scores against --data."""
    out = tmp_path / "edm"
    done = run_i2i(["sample", "edm", *MOONS, "--num-samples", "96", "--data", "moons",
                    "--output", str(out)])  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert np.load(out / "points.npy").shape == (96, 2)
    assert (out / "samples.png").is_file()
    result = json.loads((out / "result.json").read_text())
    assert result["data"] == "moons" and result["support_precision"] > 0.8


def test_edm_points_are_dgs_unguided_points(tmp_path: Path) -> None:
    """The same sampler from the same seed: sample edm and sample dg --w1 0 agree exactly."""
    for method, extra in (("edm", []), ("dg", ["--w1", "0"])):
        done = run_i2i(["sample", method, *MOONS, *extra, "--steps", "4", "--num-samples", "48",
                        "--output", str(tmp_path / method)])  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    edm, dg = (np.load(tmp_path / m / "points.npy") for m in ("edm", "dg"))
    np.testing.assert_array_equal(edm, dg)


def test_seeds_on_points_are_one_line(tmp_path: Path) -> None:
    """--seeds names image files: on points it is refused, not ignored."""
    done = run_i2i(["sample", "edm", *MOONS, "--seeds", "0-3", "--output", str(tmp_path / "o")])
    assert done.returncode == 2 and "--num-samples points from --seed" in done.stderr
