"""Reference statistics files: ``.npz`` with ``mu`` and ``sigma``, as pytorch-fid and EDM use.

pytorch-fid reads ``f['mu'], f['sigma']`` and EDM's fid-refs ``dict(np.load(f))``; both ignore
other keys, so i2i adds ``features`` (the pool3 features, for KID; only on request) and
``i2i`` (a JSON string: how the statistics were computed). Files load without pickle.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_file
from i2i_cli.weights.arrays import array_error_reason


@dataclass(frozen=True)
class ReferenceStats:
    """Mean and covariance of reference features, optionally the features, and their origin."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None = None
    info: Mapping[str, Any] | None = None

    @property
    def dim(self) -> int:
        """Feature size."""
        return int(self.mu.shape[0])


def stats_digest(mu: np.ndarray, sigma: np.ndarray) -> str:
    """sha256 of the float64 little-endian bytes of ``mu`` then ``sigma``: names a statistic
    independently of the file it is stored in."""
    digest = hashlib.sha256()
    for array in (mu, sigma):
        digest.update(np.ascontiguousarray(array, dtype="<f8").tobytes())
    return digest.hexdigest()


def read_stats(path: Path) -> ReferenceStats:
    """The statistics in ``path``; a missing key, bad shape or non-npz file is a UsageError."""
    path = Path(path)
    require_file(path, "statistics file", f"statistics file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise UsageError(
            f"cannot read statistics {path}: not an .npz file ({array_error_reason(error, path)})"
        ) from None
    missing = [key for key in ("mu", "sigma") if key not in arrays]
    if missing:
        raise UsageError(
            f"statistics {path} lack {' and '.join(missing)} (keys: {', '.join(arrays) or 'none'})"
        )
    mu = np.asarray(arrays["mu"], dtype=np.float64)
    sigma = np.asarray(arrays["sigma"], dtype=np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UsageError(
            f"statistics {path} have mu {mu.shape} and sigma {sigma.shape}; "
            "expected (D,) and (D, D)"
        )
    features = arrays.get("features")
    info = None
    if "i2i" in arrays:
        try:
            info = json.loads(str(arrays["i2i"]))
        except json.JSONDecodeError:
            info = None
    return ReferenceStats(mu=mu, sigma=sigma, features=features, info=info)


def write_stats(path: Path, stats: ReferenceStats) -> None:
    """Write ``stats`` as an uncompressed ``.npz`` (EDM's layout), atomically."""
    from i2i_cli.base.atomic import write_atomic_bytes

    arrays: dict[str, np.ndarray] = {"mu": stats.mu, "sigma": stats.sigma}
    if stats.features is not None:
        arrays["features"] = np.asarray(stats.features, dtype=np.float32)
    if stats.info is not None:
        arrays["i2i"] = np.array(json.dumps(dict(stats.info), default=str))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic_bytes(buffer.getvalue(), Path(path))
