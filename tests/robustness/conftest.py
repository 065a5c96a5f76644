"""Fixtures the robustness modules share: a finished translate run to fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.robustness.run_helpers import make_images, translate


@pytest.fixture
def done(tmp_path: Path) -> tuple[Path, Path]:
    """A finished translate run: (input folder of 3 images, output folder)."""
    source, out = tmp_path / "in", tmp_path / "out"
    make_images(source, 3)
    first = translate(source, out, "--steps", "1")
    assert first.returncode == 0, first.stderr
    return source, out
