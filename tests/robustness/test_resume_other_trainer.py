"""The robustness corpus, resuming another trainer's run: one short line naming that trainer.

Every trainer (``dse``, ``diffusion``, ``bbdm``, ``ddib-2d``, ``discriminator``) resumes through
the core loop's ``restore_checkpoint``, which reads the trainer a checkpoint records; a
checkpoint written before trainers were recorded is told by settings the two do not share.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.training import run_training
from tests.conftest import run_i2i
from tests.robustness.run_helpers import error_line, snapshot
from tests.robustness.run_helpers import train as train_tiny
from tests.test_dg_train import setup  # noqa: F401  (the tiny discriminator's inputs)
from tests.test_dg_train import train as train_discriminator
from tests.toy_training import make_context, toy_recipe

SHORT = 250
"""The longest the line may be, besides the paths it names."""


def ddib_2d(out: Path, *args: str) -> list[str]:
    """``i2i train ddib-2d`` on 256 points with a 32-channel network, 2 steps of 64."""
    return [
        *("train", "ddib-2d", "--device", "cpu", "--steps", "2", "--batch-size", "64"),
        *("--num-points", "256", "--set", "model.num_channels=32", "--output", str(out), *args),
    ]


def short(line: str, *paths: Path) -> None:
    """The line is short once the paths it names are left out."""
    for path in paths:
        line = line.replace(str(path), "")
    assert len(line) < SHORT, line


def test_discriminator_resuming_a_ddib_2d_run_names_ddib_2d(
    setup: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    assert run_i2i(ddib_2d(out)).returncode == 0
    before = snapshot(out)
    result = train_discriminator(setup, out, "--resume")
    line = error_line(result, "it holds a run of `i2i train ddib-2d`", "`i2i train discriminator`")
    assert "settings differ" not in line
    short(line, out)
    assert snapshot(out) == before


def test_ddib_2d_resuming_another_trainers_run_names_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert train_tiny(out).returncode == 0
    before = snapshot(out)
    line = error_line(run_i2i(ddib_2d(out, "--resume")), "`i2i train tinytrain`")
    short(line, out)
    assert snapshot(out) == before


def test_a_checkpoint_recording_no_trainer_is_told_by_its_settings(tmp_path: Path) -> None:
    """Checkpoints written before trainers were recorded: settings neither run shares."""
    run_training(make_context(tmp_path), toy_recipe(steps=2))
    path = tmp_path / "checkpoint.pt"
    saved = torch.load(path, weights_only=True)
    saved.pop("trainer", None)
    saved["settings"] = {f"other_{index}": "x" * 500 for index in range(40)}
    torch.save(saved, path)
    with pytest.raises(UsageError) as caught:
        run_training(make_context(tmp_path, resume=True), toy_recipe(steps=4))
    line = str(caught.value)
    assert "another trainer's run, not `i2i train toy`'s" in line and "other_0" in line, line
    short(line, path)


def test_many_changed_settings_are_a_short_line(tmp_path: Path) -> None:
    """The same trainer with many settings changed: the first few, then how many more."""
    run_training(make_context(tmp_path), toy_recipe(steps=2))
    path = tmp_path / "checkpoint.pt"
    saved = torch.load(path, weights_only=True)
    saved["settings"].update({"lr": 0.5, **{f"extra_{index}": "y" * 500 for index in range(40)}})
    torch.save(saved, path)
    with pytest.raises(UsageError, match="settings differ") as caught:
        run_training(make_context(tmp_path, resume=True), toy_recipe(steps=4))
    line = str(caught.value)
    assert "extra_0: 'yyy" in line and "and 38 more" in line, line
    short(line, path)
