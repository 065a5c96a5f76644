"""Shared test helpers: run the real ``i2i`` executable, in a subprocess or in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

FIXTURES = Path(__file__).parent / "fixtures"
DISTS = FIXTURES / "dists"


def run_i2i(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    dists: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m i2i_cli ARGS`` with fixture distributions ``dists`` on its path."""
    environment = dict(os.environ)
    environment.pop("I2I_MANIFESTS", None)
    environment.update(env or {})
    if dists:
        extra = os.pathsep.join(str(DISTS / name) for name in dists)
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (extra, environment.get("PYTHONPATH")) if part
        )
    return subprocess.run(
        [sys.executable, "-m", "i2i_cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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
