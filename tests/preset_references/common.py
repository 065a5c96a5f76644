"""What the reference tables share: the marker for a checkpoint's reference file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class File:
    """A checkpoint field's reference value: the artifact it names is the reference's file."""

    name: str
