"""Whether a folder already holds every output of a run with these settings (point runs).

An image run skips each image whose output exists (``i2i_cli.io.outputs.pending``). A run on 2-D
points writes its outputs at once: its ``result.json`` and the ``.npy`` arrays of
``i2i_cli.points.files.save_points``. The core lists those arrays in ``result.json`` under
``files`` when such a run ends, so a rerun with the same settings (the folder's ``run.toml``
agrees, ``--num-samples`` included: a point run draws them all at once) finds them all and does
nothing, whichever plugin wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from i2i_cli.run.nonfinite import FAILED_KEY

RESULT = "result.json"
FILES_KEY = "files"
"""The key of ``result.json`` listing the arrays a point run wrote beside it."""


def written_arrays(folder: Path) -> list[str]:
    """The ``.npy`` arrays in ``folder``, sorted by name (what a point run wrote)."""
    try:
        return sorted(path.name for path in folder.glob("*.npy") if path.is_file())
    except OSError:
        return []


COUNT_FIELD = "num_samples"
"""The run setting an image run may raise to add outputs; a point run's outputs depend on it."""


def same_count(previous: Mapping[str, Any] | None, record: Mapping[str, Any]) -> bool:
    """Whether two run records ask for the same number of samples (``--num-samples``)."""
    from i2i_cli.io.run_record import RUN_TABLE

    if previous is None:
        return False
    before, now = previous.get(RUN_TABLE), record.get(RUN_TABLE)
    if not isinstance(before, Mapping) or not isinstance(now, Mapping):
        return False
    return before.get(COUNT_FIELD) == now.get(COUNT_FIELD)


def finished_outputs(folder: Path) -> list[str] | None:
    """``result.json`` and the arrays it lists when all are in ``folder``, else None.

    None also for a result without arrays (an image run's, a metric's) or one that lists
    items that went non-finite: those runs are redone or resumed as they always were.
    """
    try:
        content: Any = json.loads((folder / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get(FAILED_KEY):
        return None
    files = content.get(FILES_KEY)
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        return None
    if not all((folder / name).is_file() for name in files):
        return None
    return [RESULT, *files]
