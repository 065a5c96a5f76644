"""``i2i download`` beyond fetching: unreleased artifacts, --from, --verify, --list, no arguments.

Also load_checkpoint's safe loading of a checkpoint file: corrupt files and pickled objects.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from i2i_cli.base.errors import I2IError
from i2i_cli.checkpoints.store import CheckpointStore
from i2i_cli.weights.loading import load_checkpoint
from tests.download.conftest import (
    PAYLOAD,
    Server,
    ServerState,
    cli_app,
    i2i,
    sha256,
    url_entry,
    use_manifest,
)

# ----------------------------------------------------------------------------------------------
# Unreleased artifacts, --from, --verify, --list, no arguments.

UNRELEASED = """
[artifacts.t_secret]
file = "secret.pt"
experiments = ["t"]
status = "unreleased"
note = "the authors never published it"
"""


def test_an_unreleased_artifact_asked_by_name_fails_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(tmp_path, monkeypatch, UNRELEASED)
    result = i2i("download", "t_secret")
    assert result.exit_code != 0
    assert "never published" in result.stderr


def test_an_unreleased_artifact_is_skipped_under_exp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(tmp_path, monkeypatch, UNRELEASED)
    result = i2i("download", "--exp", "t")
    assert result.exit_code == 0
    assert "t_secret: skipped, unreleased: the authors never published it" in result.stdout


def test_from_adopts_a_file_with_the_right_hash(good: Path, tmp_path: Path) -> None:
    mine = tmp_path / "by-hand.bin"
    mine.write_bytes(PAYLOAD)
    result = i2i("download", "--from", str(mine), "t_good")
    assert result.exit_code == 0, result.output
    assert good.read_bytes() == PAYLOAD and mine.exists()
    assert "verified" in i2i("download", "--list", "t_good").stdout


def test_from_refuses_a_file_with_the_wrong_hash(good: Path, tmp_path: Path) -> None:
    mine = tmp_path / "by-hand.bin"
    mine.write_bytes(b"something else")
    result = i2i("download", "--from", str(mine), "t_good")
    assert result.exit_code == 2
    assert f"expected sha256 {sha256(PAYLOAD)}, got {sha256(b'something else')}" in result.stderr
    assert not good.parent.exists()  # nothing copied, no empty folder left


def test_from_supplies_an_unreleased_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(tmp_path, monkeypatch, UNRELEASED)
    import torch

    mine = tmp_path / "trained.pt"
    torch.save({"weight": torch.ones(2)}, mine)
    adopted = i2i("download", "--from", str(mine), "t_secret")
    assert adopted.exit_code == 0, adopted.output
    assert "structure verified (loads safely, 1 tensor), sha256 recorded" in adopted.stdout
    assert CheckpointStore.open().require("t_secret").read_bytes() == mine.read_bytes()


def test_verify_rehashes_and_fails_on_a_changed_file(good: Path) -> None:
    assert i2i("download", "t_good").exit_code == 0
    ok = i2i("download", "--verify")
    assert ok.exit_code == 0 and "t_good: ok" in ok.stdout
    good.write_bytes(PAYLOAD[:-1] + b"!")
    bad = i2i("download", "--verify", "t_good")
    assert bad.exit_code == 1
    assert f"expected sha256 {sha256(PAYLOAD)}" in bad.stdout and "MISMATCH" in bad.stdout
    assert "failed verification: t_good" in bad.stderr


def test_list_shows_size_status_cached_and_verified(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    text = url_entry(server, "t_good", "/files/good.bin", sha256(PAYLOAD)) + UNRELEASED
    use_manifest(tmp_path, monkeypatch, text)
    assert i2i("download", "t_good").exit_code == 0
    result = i2i("download", "--list")
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["t_good"][-5:] == ["3.1", "MB", "available", "yes", "yes"]  # size on disk
    assert rows["t_secret"][-3:] == ["unreleased", "no", "-"]
    assert rows["afhq_dog_4m"][-4:] == ["MB", "available", "no", "-"]  # "~374 MB", shipped


def test_list_in_an_80_column_terminal_cuts_nothing(home: Path) -> None:
    """Issue 16.5: the experiments column was cut to 'eg…'; narrow terminals get two lines each."""
    result = CliRunner().invoke(cli_app(), ["download", "--list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert "…" not in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines()[1:])
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("afhq_dog_4m "))
    assert lines[at + 1].strip() == "experiments: egsde, ilvr, sddm"


def test_no_arguments_print_a_usage_hint_and_exit_2(home: Path) -> None:
    result = i2i("download")
    assert result.exit_code == 2
    assert "usage: i2i download" in result.stderr


# ----------------------------------------------------------------------------------------------
# Safe loading.


def test_load_checkpoint_reads_a_state_dict(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "ok.pt"
    torch.save({"weight": torch.ones(3)}, path)
    assert torch.equal(load_checkpoint(path)["weight"], torch.ones(3))


def test_load_checkpoint_turns_a_truncated_file_into_one_line(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "cut.pt"
    torch.save({"weight": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(I2IError, match=r"cut\.pt: the file is truncated") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)


def test_load_checkpoint_refuses_arbitrary_objects(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "object.pt"
    torch.save({"model": ServerState()}, path)
    with pytest.raises(I2IError, match="refusing to unpickle"):
        load_checkpoint(path)
