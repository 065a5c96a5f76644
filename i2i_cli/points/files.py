"""Point arrays in and out (``.npy`` of shape (n, 2)) and the scores a run on points reports.

Every run on points writes float32 ``<name>.npy`` files atomically, as the reference saves them,
and reports the sliced Wasserstein distance to a fresh draw of its data set and the support
precision and coverage (``i2i_cli.points.support``) in ``result.json`` and one log line.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from i2i_cli.base.atomic import write_atomic_bytes
from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_file
from i2i_cli.points.metrics import sliced_wasserstein
from i2i_cli.points.support import PRECISION_QUANTILE, SupportScores
from i2i_cli.points.synthetic_data import SyntheticTask, seeded_rng, synthetic_array
from i2i_cli.weights.arrays import array_error_reason

REFERENCE_POINTS = 20_000
"""Points of a fresh data-set draw the sliced Wasserstein distance compares against."""


def read_points(path: Path, flag: str = "--input") -> torch.Tensor:
    """An (n, 2) float32 tensor from the .npy file ``flag`` names; anything else is one line."""
    if path.suffix != ".npy":
        raise UsageError(f"{flag} {path}: points are read from an .npy file")
    require_file(path, flag)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UsageError(
            f"{flag} {path} is not a readable .npy file: {array_error_reason(error, path)}"
        ) from None
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise UsageError(f"{flag} {path} holds shape {array.shape}; expected (n, 2) points")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise UsageError(f"{flag} {path} holds non-numeric or non-finite values")
    return torch.from_numpy(array.astype(np.float32))


def save_points(output: Path, arrays: dict[str, torch.Tensor]) -> None:
    """Write each array as ``<name>.npy`` atomically (float32, as the reference saves them)."""
    for name, tensor in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, tensor.numpy().astype(np.float32), allow_pickle=False)
        write_atomic_bytes(buffer.getvalue(), output / f"{name}.npy")


def data_distance(points: np.ndarray, task: SyntheticTask, seed: int) -> float:
    """Sliced Wasserstein distance of ``points`` to a fresh draw of ``task`` (another seed)."""
    count = REFERENCE_POINTS - REFERENCE_POINTS % task.multiple_of
    reference = synthetic_array(task, count, seeded_rng(seed + 1))
    return sliced_wasserstein(points, reference)


def support_fields(support: SupportScores, prefix: str = "") -> dict[str, float]:
    """The result.json fields of the support scores (``i2i_cli.points.support``)."""
    return {
        f"{prefix}support_precision": support.precision,
        f"{prefix}support_coverage": support.coverage,
        f"{prefix}data_support_coverage": support.data_coverage,
    }


def support_line(support: SupportScores, task: SyntheticTask) -> str:
    """One log line: precision and coverage beside what the data itself scores."""
    return (
        f"support on {task.name}: precision {support.precision:.3f} (data: "
        f"{PRECISION_QUANTILE:.2f}), coverage "
        f"{support.coverage:.3f} (data: {support.data_coverage:.3f})"
    )
