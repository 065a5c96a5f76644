"""Test-only plugin distributions, registered without ``pip install``.

Each folder ``tests/fixtures/dists/<name>`` holds a package and its ``*.dist-info`` (METADATA and
entry_points.txt): to ``importlib.metadata`` a folder on the path is an installed distribution.
``use_dists`` puts folders on this process's ``sys.path`` (in-process CLI runs) and on
``PYTHONPATH`` (every process the test starts), both undone when the test ends.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import DISTS


def use_dists(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Register the fixture distributions ``names`` for the rest of the test."""
    folders = [str(DISTS / name) for name in names]
    for folder in folders:
        monkeypatch.syspath_prepend(folder)
    inherited = os.environ.get("PYTHONPATH")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([*folders, *([inherited] if inherited else [])])
    )
