"""Files the file-fault cases share, made at test time: hostile pickles, statistics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

UNSAFE_ADVICE = ("weights_only", "allow_pickle", "safe_globals", "will likely succeed")
"""Words of advice to load a file unsafely, which no fault line may give."""


def assert_safe(line: str) -> None:
    """A fault line never advises loading a file unsafely."""
    for advice in UNSAFE_ADVICE:
        assert advice not in line, line


class RunsAShell:
    """Unpickling this would call ``os.system``; every loader refuses it first."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("true",))


def stats(path: Path, **arrays: Any) -> None:
    """An ``.npz`` of ``arrays`` at ``path``."""
    with path.open("wb") as stream:
        np.savez(stream, **arrays)
