"""A classifier trained on classes of very unequal size is warned: its accuracy says little."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from i2i_cli.training.class_balance import imbalance_warning
from tests.conftest import run_i2i


def test_classes_within_twice_each_other_are_not_warned() -> None:
    assert imbalance_warning({"real": 200, "fake": 100}) is None
    assert imbalance_warning({"real": 0, "fake": 0}) is None


def test_the_warning_gives_the_accuracy_of_always_answering_the_majority() -> None:
    warning = imbalance_warning({"real": 256, "fake": 8})
    assert warning is not None
    assert "256 real, 8 fake" in warning and "'real'" in warning and "0.970" in warning


def test_train_discriminator_on_256_real_and_8_fake_points_warns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "real.npy", rng.normal(size=(256, 2)).astype(np.float32))
    np.save(tmp_path / "fake.npy", rng.normal(size=(8, 2)).astype(np.float32))
    result = run_i2i(
        ["train", "discriminator", "--task", "concentric-rings-2d", "--device", "cpu",
         "--real", str(tmp_path / "real.npy"), "--fake", str(tmp_path / "fake.npy"),
         "--epochs", "1", "--batch-size", "32", "--set", "model.width=16",
         "--output", str(tmp_path / "out")]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning")]
    assert len(warned) == 1 and "always answering 'real'" in warned[0], result.stderr
    assert "0.970" in warned[0]
