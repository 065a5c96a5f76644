"""benchmarks/bench_main_job.py: whole-process measurements, and busy loops that always stop."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_main_job.py"


def bench() -> ModuleType:
    """``benchmarks/bench_main_job.py`` imported as a module."""
    if "bench_main_job" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_main_job", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_main_job"] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["bench_main_job"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_busy_loops_stop_when_the_measurement_fails(error: type[BaseException]) -> None:
    with pytest.raises(error), bench().busy_loops(2) as loops:
        assert [loop.poll() for loop in loops] == [None, None]
        raise error
    assert all(loop.poll() is not None for loop in loops)


def test_a_failed_run_stops_the_busy_loops_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = bench()
    started: list = []
    real = module.busy_loops

    @contextmanager
    def recorded(count: int) -> Iterator[list]:
        with real(count) as loops:
            started.extend(loops)
            yield loops

    monkeypatch.setattr(module, "busy_loops", recorded)
    monkeypatch.setattr(module, "torch_default_threads", lambda: 2)
    fails = [sys.executable, "-c", "import sys; print('1 CPU thread'); sys.exit(4)"]
    monkeypatch.setattr(module, "i2i_command", lambda: fails)
    assert module.main(["--runs", "1", "--load", "1", "--keep", str(tmp_path)]) == 1
    assert len(started) == 1 and started[0].poll() is not None
    out, err = capsys.readouterr()
    assert "error: main exited 4" in err
    assert "| main | " in out and "| 1 | 4 |" in out  # the run, its threads, its exit code


def test_a_run_is_measured_as_a_whole_process(tmp_path: Path) -> None:
    code = "import sys; sum(range(3 * 10**6)); print('hi'); sys.exit(3)"
    wall, cpu, rss, exit_code = bench().measure([sys.executable, "-c", code], {}, tmp_path / "log")
    assert exit_code == 3
    assert cpu > 0 and rss > 1 and wall > 0
    assert (tmp_path / "log").read_text().strip() == "hi"


def test_i2i_choice_is_compared_with_the_better_of_one_and_two_threads() -> None:
    module = bench()
    assert list(module.thread_modes(2)) == ["torch (2)", "1", "i2i"]
    assert list(module.thread_modes(16)) == ["torch (16)", "1", "2", "i2i"]
    summary = {
        ("main", "torch (16)"): (5.0, 0, 0),
        ("main", "1"): (20.0, 0, 0),
        ("main", "2"): (10.0, 0, 0),
        ("main", "i2i"): (11.0, 0, 0),
    }
    assert module.choice_ratio(summary, "main") == pytest.approx(1.1)
    assert module.order(["a", "b", "c"], 1) == ["b", "c", "a"]
