"""Shared test helpers: run the real ``i2i`` executable, in a subprocess or in-process."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""What torch, numpy and scipy read, once at import, for their compute threads."""


def one_thread_per_worker() -> None:
    """Under pytest-xdist, each worker computes on one thread (unless the caller chose a number).

    ``-n auto`` runs one worker per core: a second thread per worker would only make the workers
    fight for the cores. Set before anything imports torch, and inherited by the processes the
    tests start, so a test's subprocess computes as its in-process twin does.
    """
    if "PYTEST_XDIST_WORKER" in os.environ:
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, "1")


one_thread_per_worker()

FIXTURES = Path(__file__).parent / "fixtures"
DISTS = FIXTURES / "dists"


def _dist_path(dists: Sequence[str], pythonpath: str | None) -> str:
    """``PYTHONPATH`` with the fixture distributions ``dists`` in front."""
    extra = os.pathsep.join(str(DISTS / name) for name in dists)
    return os.pathsep.join(part for part in (extra, pythonpath) if part)


def run_i2i_process(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    dists: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m i2i_cli ARGS`` in a new process, fixture distributions ``dists`` on its path.

    For what only a real process shows (its entry point, signals, torchrun, what it imports);
    everything else goes through ``run_i2i``, which is the same CLI without the ~5 s start-up.
    No call has a time limit (``timeout`` is accepted and ignored): only a hang fails a test,
    through pytest-timeout's per-test limit (pyproject.toml), which also ends the process.
    """
    environment = dict(os.environ)
    environment.pop("I2I_MANIFESTS", None)
    environment.update(env or {})
    if dists:
        environment["PYTHONPATH"] = _dist_path(dists, environment.get("PYTHONPATH"))
    return subprocess.run(
        [sys.executable, "-m", "i2i_cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def run_torchrun(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, nproc: int = 2
) -> subprocess.CompletedProcess[str]:
    """Run ``i2i ARGS`` as a torchrun job of ``nproc`` CPU processes, one compute thread each.

    torchrun and its workers share a new session: whatever ends the wait (a pytest-timeout hang,
    Ctrl-C) kills all of them, so no worker outlives the test.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(nproc), "-m", "i2i_cli", *args]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    job = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = job.communicate()
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    return subprocess.CompletedProcess(command, job.returncode, stdout, stderr)


UNSHOWN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
"""Warning categories a plain ``python`` process does not print (its default filters)."""


@contextlib.contextmanager
def _process_like(
    cwd: Path | None, dists: Sequence[str], env: Mapping[str, str]
) -> Iterator[list[warnings.WarningMessage]]:
    """Working directory, ``sys.path`` and torch threads as a process would have them.

    Everything is restored on exit, and modules imported from the fixture distributions added
    here are forgotten (the next run, like the next process, imports them afresh or not at all).
    Warnings are collected under a fresh process's filters, for the caller to print on stderr.
    """
    added = [str(DISTS / name) for name in dists if str(DISTS / name) not in sys.path]
    modules = set(sys.modules)
    previous_cwd = os.getcwd()
    threads = None
    try:
        sys.path[:0] = added
        importlib.invalidate_caches()
        if cwd is not None:
            os.chdir(cwd)
        if "OMP_NUM_THREADS" in env:  # torch reads it once, at import: set it for this run
            import torch

            threads = torch.get_num_threads()
            torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.resetwarnings()
            warnings.simplefilter("default")
            for category in UNSHOWN_WARNINGS:
                warnings.simplefilter("ignore", category)
            yield caught
    finally:
        if threads is not None:
            torch.set_num_threads(threads)
        os.chdir(previous_cwd)
        for folder in added:
            sys.path.remove(folder)
        for name in set(sys.modules) - modules:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if any(origin.startswith(folder + os.sep) for folder in added):
                del sys.modules[name]
        importlib.invalidate_caches()


def run_i2i(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    dists: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``i2i ARGS`` in this process, as ``run_i2i_process`` would in a new one.

    The same result: exit status, stdout and stderr apart. ``env`` is applied to ``os.environ``
    for the run (``I2I_MANIFESTS`` cleared first, as for the process), ``dists`` go on
    ``sys.path``, ``cwd`` is entered; all of it is undone afterwards. An exception that escapes
    the CLI is what the process would show: its traceback on stderr and exit status 1. Warnings
    a plain process prints are printed on stderr after the run's own output. As there, no time
    limit (``timeout`` is ignored): a hang is pytest-timeout's to report, with the stack.
    """
    from i2i_cli.cli.app import app

    argv = [sys.executable, "-m", "i2i_cli", *args]
    environment: dict[str, str | None] = {"I2I_MANIFESTS": None, **(env or {})}
    if dists:
        environment["PYTHONPATH"] = _dist_path(dists, os.environ.get("PYTHONPATH"))
    with _process_like(cwd, dists, env or {}) as caught:
        result = CliRunner().invoke(app, list(args), env=environment, prog_name="i2i")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    stderr += "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught
    )
    return subprocess.CompletedProcess(argv, result.exit_code, result.stdout, stderr)


@pytest.fixture
def cli() -> CliRunner:
    """A Typer test runner that keeps stderr apart from stdout."""
    return CliRunner()


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own empty checkpoint cache."""
    home = tmp_path_factory.mktemp("i2i_home")
    monkeypatch.setenv("I2I_HOME", str(home))
    monkeypatch.delenv("I2I_MANIFESTS", raising=False)
    return home


def golden_folder() -> Path:
    """The golden-vector folder: ``$I2I_GOLDEN_DIR``, else ``../shared/golden`` by the checkout."""
    default = Path(__file__).resolve().parents[2] / "shared" / "golden"
    return Path(os.environ.get("I2I_GOLDEN_DIR", default))


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """The golden folder; absent -> skip with the reason (fail if I2I_REQUIRE_GOLDEN=1, as CI)."""
    folder = golden_folder()
    if not folder.is_dir():
        message = f"golden vectors not found at {folder} (set I2I_GOLDEN_DIR)"
        if os.environ.get("I2I_REQUIRE_GOLDEN") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture
def tiny_egsde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny EGSDE checkpoints in a test manifest, adopted into the cache; returns the config."""
    from tests.tiny_models import tiny_egsde_setup

    return tiny_egsde_setup(tmp_path, monkeypatch)
