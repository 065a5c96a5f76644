"""Concurrent runs: one run at a time writes into a folder, a second is refused naming the first.

A run holds its output folder's lock (``i2i_cli.run.run_lock``) from before it compares the folder's
``run.toml`` until it ends. Each case holds the lock as another run would (from this process,
through a file opened apart, or from a child process), then runs a command into the folder:
it is refused in one line naming the holder's pid, before it compares or writes anything. A
lock left by a killed run blocks nothing, and the ranks of one torchrun job share rank 0's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import run_i2i, run_torchrun
from tests.fixture_dists import use_dists
from tests.robustness.run_helpers import (
    SMOKE,
    error_line,
    make_images,
    sample,
    snapshot,
    train,
    translate,
)

HOLDER = """\
import os, sys
from pathlib import Path
from i2i_cli.run.run_lock import lock_run_folder

lock = lock_run_folder(Path(sys.argv[1]))
print(os.getpid(), flush=True)
sys.stdin.read()
"""
"""A child process holding a folder's lock until its stdin closes (or it is killed)."""


@pytest.fixture(autouse=True)
def fixture_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke method and tinytrain trainer are test fixtures, not shipped plugins."""
    use_dists(monkeypatch, "smoke", "tinytrain")


@pytest.fixture
def holder() -> Iterator[Callable[[Path], subprocess.Popen[str]]]:
    """Start a child process that holds ``folder``'s lock; every child is ended afterwards."""
    children: list[subprocess.Popen[str]] = []

    def hold(folder: Path) -> subprocess.Popen[str]:
        folder.mkdir(parents=True, exist_ok=True)
        child = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout is not None
        line = child.stdout.readline()  # the child holds the lock once it prints its pid
        assert line.strip() == str(child.pid), child.communicate()[1]
        return child

    yield hold
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        for pipe in (child.stdin, child.stdout, child.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def _evaluate(tmp_path: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """``i2i evaluate psnr`` of two tiny image folders into ``output``."""
    a, b = tmp_path / "a", tmp_path / "b"
    make_images(a, 2)
    make_images(b, 2, seed=1)
    args = ["--device", "cpu", "--images", str(a), "--source", str(b), "--output", str(output)]
    return run_i2i(["evaluate", "psnr", *args])


def _translate(tmp_path: Path, output: Path) -> subprocess.CompletedProcess[str]:
    make_images(tmp_path / "in", 2)
    return translate(tmp_path / "in", output, "--steps", "1")


COMMANDS: dict[str, Callable[[Path, Path], subprocess.CompletedProcess[str]]] = {
    "translate": _translate,
    "sample": lambda tmp, out: sample(out, "--steps", "1"),
    "train": lambda tmp, out: train(out),
    "evaluate": _evaluate,
}
"""One run of each command that writes into a run folder: ``(tmp_path, output) -> result``."""


# ---------------------------------------------------------------------------------------------
# A held folder


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_run_into_a_folder_another_run_holds_is_refused_naming_its_pid(
    command: str, tmp_path: Path, holder: Callable[[Path], subprocess.Popen[str]]
) -> None:
    out = tmp_path / "out"
    child = holder(out)
    before = snapshot(out)
    line = error_line(COMMANDS[command](tmp_path, out), str(out), "in use by another run")
    assert f"(pid {child.pid})" in line
    assert snapshot(out) == before  # no run.toml, metrics.jsonl, checkpoint or image


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_run_into_a_folder_held_in_this_process_is_refused(command: str, tmp_path: Path) -> None:
    """flock is per open file: a lock taken through another open() of the file conflicts."""
    from i2i_cli.run.run_lock import lock_run_folder

    out = tmp_path / "out"
    out.mkdir()
    lock = lock_run_folder(out)
    try:
        line = error_line(COMMANDS[command](tmp_path, out), "in use by another run")
        assert f"(pid {os.getpid()})" in line
        assert lock is not None and lock.descriptor is not None  # still held by the first
    finally:
        assert lock is not None
        lock.release()
    assert COMMANDS[command](tmp_path, out).returncode == 0  # released: the folder is free


def test_a_held_finished_run_is_refused_before_its_settings_are_compared(
    tmp_path: Path, holder: Callable[[Path], subprocess.Popen[str]]
) -> None:
    """The lock comes before the run.toml check: a rerun cannot race its holder's record."""
    out = tmp_path / "samples"
    assert sample(out, "--steps", "1").returncode == 0
    child = holder(out)
    before = snapshot(out)
    line = error_line(sample(out, "--steps", "8"), "in use by another run", f"pid {child.pid}")
    assert "other settings" not in line
    error_line(sample(out, "--steps", "8", "--overwrite"), f"pid {child.pid}")
    error_line(train(out, "--resume"), f"pid {child.pid}")
    assert snapshot(out) == before


def test_the_lock_is_released_when_its_holder_ends(
    tmp_path: Path, holder: Callable[[Path], subprocess.Popen[str]]
) -> None:
    out = tmp_path / "out"
    child = holder(out)
    _, errors = child.communicate()  # closes its stdin: the child ends
    assert child.returncode == 0, errors
    assert sample(out, "--steps", "1").returncode == 0


# ---------------------------------------------------------------------------------------------
# A lock file left behind


@pytest.mark.parametrize("command", ["sample", "train"])
def test_the_lock_file_of_a_killed_run_does_not_block_a_rerun(
    command: str, tmp_path: Path, holder: Callable[[Path], subprocess.Popen[str]]
) -> None:
    from i2i_cli.run.run_lock import LOCK_FILE

    out = tmp_path / "out"
    child = holder(out)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert (out / LOCK_FILE).read_text().strip() == str(child.pid)  # left behind, as by kill -9
    result = COMMANDS[command](tmp_path, out)
    assert result.returncode == 0, result.stderr
    assert not (out / LOCK_FILE).exists()  # a run that ends takes its lock file with it


def test_a_finished_run_leaves_no_lock_file(tmp_path: Path) -> None:
    from i2i_cli.run.run_lock import LOCK_FILE

    out = tmp_path / "out"
    assert sample(out, "--steps", "1").returncode == 0
    assert not (out / LOCK_FILE).exists()
    failed = run_i2i(["evaluate", "psnr", "--images", str(tmp_path / "no"), "--output", str(out)])
    assert failed.returncode != 0 and not (out / LOCK_FILE).exists()


# ---------------------------------------------------------------------------------------------
# torchrun: the ranks of one job are one run


@pytest.mark.parametrize(("rank", "locks"), [("0", True), ("1", False)])
def test_rank_0_of_a_torchrun_job_holds_the_lock_for_every_rank(
    rank: str, locks: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other ranks of a job take no lock, so their own job's rank 0 never refuses them."""
    from i2i_cli.base.errors import UsageError
    from i2i_cli.run.run_lock import LOCK_FILE, holding_run_folder, lock_run_folder
    from i2i_cli.run.runtime import torchrun_placement

    for name, value in {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    out.mkdir()
    with holding_run_folder(out, main=torchrun_placement().is_main) as lock:
        assert (lock is not None) is locks
        assert (out / LOCK_FILE).exists() is locks
        if locks:
            with pytest.raises(UsageError, match=f"pid {os.getpid()}"):
                lock_run_folder(out)  # a second job's rank 0
        else:
            with holding_run_folder(out, main=torchrun_placement().is_main) as again:
                assert again is None  # two ranks of the job at once, neither refused
    assert not (out / LOCK_FILE).exists()


def _torchrun_sample(output: Path) -> subprocess.CompletedProcess[str]:
    """``i2i sample smoke`` as a torchrun job of two CPU processes (the whole job ended after)."""
    return run_torchrun(
        ["sample", "smoke", *SMOKE, "--num-samples", "3", "--steps", "1", "--output", str(output)]
    )


@pytest.mark.slow
def test_a_torchrun_job_is_one_run_to_the_lock(
    tmp_path: Path, holder: Callable[[Path], subprocess.Popen[str]]
) -> None:
    """Its ranks share rank 0's lock; a held folder refuses the job in one line from rank 0."""
    from i2i_cli.run.run_lock import LOCK_FILE

    free = _torchrun_sample(tmp_path / "free")
    assert free.returncode == 0, free.stderr
    assert len(list((tmp_path / "free").rglob("*.png"))) >= 3
    assert not (tmp_path / "free" / LOCK_FILE).exists()
    held = tmp_path / "held"
    child = holder(held)
    before = snapshot(held)
    refused = _torchrun_sample(held)
    assert refused.returncode != 0
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: --output {held} is in use by another run (pid {child.pid}); wait for it to "
        "end or choose another --output"
    ]
    assert snapshot(held) == before
