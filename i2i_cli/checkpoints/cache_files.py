"""File steps the checkpoint store takes in its cache, each leaving nothing behind on failure.

A folder made for a block (removed again, while empty, if the block fails), a file seen under
another name (a link beside it), and a hashed copy into a temporary file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from i2i_cli.checkpoints.downloads import CHUNK_BYTES


@contextmanager
def folder_for(path: Path) -> Iterator[None]:
    """``path``'s folder made for the block; if the block fails, the folders it made are removed
    again while empty (deepest first), so a failed download leaves no empty folder behind."""
    made = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                break
        raise


@contextmanager
def named_as(path: Path, file_name: str) -> Iterator[Path]:
    """``path`` under ``file_name``: a hidden hard (else symbolic) link beside it, or itself."""
    if path.name == file_name:
        yield path
        return
    link = path.with_name(f".check-{os.getpid()}-{file_name}")
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:
        try:
            link.symlink_to(path.name)
        except OSError:
            yield path
            return
    try:
        yield link
    finally:
        link.unlink(missing_ok=True)


def hashed_copy(source: Path, directory: Path, prefix: str) -> tuple[Path, str, int]:
    """Copy ``source`` to a new temporary file in ``directory``; its path, sha256 and size."""
    digest = hashlib.sha256()
    size = 0
    temporary = directory / f"{prefix}{os.getpid()}.adopt"
    try:
        with temporary.open("wb") as out, source.open("rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary, digest.hexdigest(), size
