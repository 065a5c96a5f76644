"""Atomic file writes: readers see the old file or the new one, never a half-written mix.

The bytes go to a hidden temporary file beside the target (image searches skip it), are flushed
to disk, then renamed over the target with ``os.replace``; on any failure the temporary file is
removed and the old file is left as it was.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from i2i_cli.base.errors import RunError


def write_atomic_bytes(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, then ``os.replace``.

    Parent folders are created. An OSError becomes a RunError naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_with_temporary(data, path)
    except OSError as error:
        raise RunError(f"cannot write {path}: {error.strerror or error}") from error


def write_atomic_text(text: str, path: Path, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see write_atomic_bytes)."""
    write_atomic_bytes(text.encode(encoding), path)


def _replace_with_temporary(data: bytes, path: Path) -> None:
    """Write ``data`` to a new temporary file in ``path``'s folder, flush it to disk, rename it."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
