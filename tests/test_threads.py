"""The CPU thread count: chosen from free cores at the start, ``--threads`` and OMP_NUM_THREADS win.

The choice is a pure function of (usable cores, busy cores, parts of the work); the runs here
replace the measurements so that no test depends on how busy the machine is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i_cli.run import threads
from i2i_cli.run.threads import (
    ENVIRONMENT,
    Stopped,
    choose_threads,
    map_on_threads,
    raise_if_stopped,
    thread_choice,
)
from tests.conftest import run_i2i
from tests.tiny_models import random_weights


@pytest.fixture(autouse=True)
def torch_threads_kept() -> Iterator[None]:
    """Whatever a run sets, this process computes on its own thread count again afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def idle_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The measurements of an idle 2-core machine, and no OMP_NUM_THREADS."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)
    monkeypatch.delenv(ENVIRONMENT, raising=False)


@pytest.mark.parametrize(
    ("usable", "busy", "expected"),
    [
        (2, 0.0, 2),  # idle: every core
        (2, 0.2, 2),  # a little background work leaves both
        (2, 0.5, 1),  # half a core taken: a second thread would stall every op
        (2, 1.0, 1),
        (2, 2.0, 1),  # saturated: one thread, never none
        (2, 7.5, 1),
        (1, 0.0, 1),
        (16, 3.4, 12),
        (16, 0.0, 16),
    ],
)
def test_one_thread_per_free_core(usable: int, busy: float, expected: int) -> None:
    assert choose_threads(usable, busy) == expected


def test_work_of_few_parts_takes_no_more_threads_than_parts() -> None:
    assert choose_threads(8, 0.0, parts=3) == 3
    assert choose_threads(8, 0.0, parts=0) == 1
    assert choose_threads(2, 2.0, parts=8) == 1


def test_threads_option_then_environment_then_measurement(idle_two_cores: None) -> None:
    assert thread_choice(3, {ENVIRONMENT: "1"}).threads == 3
    assert thread_choice(None, {ENVIRONMENT: "1"}) == threads.ThreadChoice(0, ENVIRONMENT)
    assert thread_choice(None, {}).threads == 2


def test_independent_parts_use_every_usable_core_even_when_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Saturated cores: one intra-op thread, but one part per usable core side by side."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda: 2.0)
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    choice = thread_choice(None, {})
    assert (choice.threads, threads.side_by_side(choice)) == (1, 2)
    assert threads.side_by_side(thread_choice(1, {})) == 1  # --threads 1: one part at a time
    assert threads.side_by_side(thread_choice(3, {})) == 3


def test_measured_busy_cores_lie_between_none_and_every_usable_core() -> None:
    busy = threads.busy_cores(0.02)
    assert 0.0 <= busy <= threads.usable_cores() + 1e-9


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two random-weight 2-D models (C = 32, R = 1) as state-dict files."""
    folder = tmp_path_factory.mktemp("threads")
    overrides = {"num_channels": 32, "num_res_blocks": 1}
    source = random_weights("ddib-2d", "", overrides, folder / "a.pt", seed=1)
    target = random_weights("ddib-2d", "", overrides, folder / "b.pt", seed=2)
    return source, target


def _translate(pair: tuple[Path, Path], out: Path, *before: str) -> str:
    """``i2i [BEFORE] translate ddib`` of 1200 points on the tiny pair, 3 steps; its stderr."""
    result = run_i2i(
        [
            *before,
            "translate",
            "ddib",
            "--source-checkpoint",
            str(pair[0]),
            "--target-checkpoint",
            str(pair[1]),
            "--set",
            "model.num_channels=32",
            "--set",
            "model.num_res_blocks=1",
            "--num-points",
            "1200",
            "--steps",
            "3",
            "--cycle",
            "--no-plot",
            "--output",
            str(out),
        ]
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_threads_option_sets_torchs_thread_count(
    tiny_pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENVIRONMENT, "2")  # --threads wins over it too
    assert "one part, 1 CPU thread" in _translate(tiny_pair, tmp_path / "a", "--threads", "1")
    assert torch.get_num_threads() == 1
    assert "2 parts side by side, 2 CPU threads" in _translate(
        tiny_pair, tmp_path / "b", "--threads", "2"
    )


def test_the_users_omp_num_threads_wins_over_the_measurement(
    tiny_pair: tuple[Path, Path],
    tmp_path: Path,
    idle_two_cores: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.set_num_threads(1)  # what torch read from the user's OMP_NUM_THREADS=1 at import
    monkeypatch.setenv(ENVIRONMENT, "1")
    assert "1 CPU thread" in _translate(tiny_pair, tmp_path / "a")
    monkeypatch.delenv(ENVIRONMENT)
    assert "2 CPU threads" in _translate(tiny_pair, tmp_path / "b")  # idle: both cores


def test_parts_side_by_side_give_the_points_one_part_gives(
    tiny_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    _translate(tiny_pair, tmp_path / "one", "--threads", "1")
    _translate(tiny_pair, tmp_path / "two", "--threads", "2")
    for name in ("latent", "target", "latent_2", "source_2"):
        one, two = (
            np.load(tmp_path / "one" / f"{name}.npy"),
            np.load(tmp_path / "two" / f"{name}.npy"),
        )
        np.testing.assert_allclose(two, one, rtol=0, atol=1e-5, err_msg=name)


def test_a_thread_count_below_one_is_refused(tmp_path: Path) -> None:
    result = run_i2i(["--threads", "0", "translate", "ddib", "--output", str(tmp_path / "x")])
    assert result.returncode == 2
    assert "--threads" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_parts_run_side_by_side_in_order_on_one_torch_thread_each() -> None:
    torch.set_num_threads(2)
    seen: list[int] = []

    def square(part: int, stop: threading.Event) -> int:
        seen.append(torch.get_num_threads())
        assert not torch.is_grad_enabled()  # the caller's grad mode
        return part * part

    with torch.no_grad():
        assert map_on_threads(square, [1, 2, 3, 4, 5]) == [1, 4, 9, 16, 25]
    assert seen == [1] * 5
    assert torch.get_num_threads() == 2  # restored


def test_the_first_failing_part_is_raised_and_the_others_stop() -> None:
    started = threading.Event()

    def part(index: int, stop: threading.Event) -> int:
        if index == 1:
            started.wait(5)
            raise ValueError("part 1 failed")
        started.set()
        for _ in range(10_000):  # a long pass, checked between its steps
            raise_if_stopped(stop)
            threading.Event().wait(0.001)
        return index

    with pytest.raises(ValueError, match="part 1 failed"):
        map_on_threads(part, [0, 1], threads=2)
    with pytest.raises(Stopped):
        stop = threading.Event()
        stop.set()
        raise_if_stopped(stop)
