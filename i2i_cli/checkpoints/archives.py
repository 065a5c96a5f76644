"""One member of a zip archive copied out to a temporary file, its declared size checked first.

Before a byte is written, the member's declared size is held against how much weights can
compress (a member that claims to inflate a hundredfold and more is a zip bomb or a damaged
archive, not a checkpoint) and against the free space of the temporary folder's disk. While
copying, ``zipfile`` never inflates more than the declared size; a write that fails says which
disk is full, and only a read that fails calls the archive corrupt.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from i2i_cli.base.errors import I2IError
from i2i_cli.checkpoints.manifest import human_size

MAX_RATIO = 100
"""The most a member may inflate (declared size over compressed size): float weights compress
by a few percent, zip bombs by a thousandfold and more."""

RATIO_FLOOR = 64 << 20
"""Members declaring less than this (64 MiB) are not held to ``MAX_RATIO``: a small text or
configuration file may compress well, and cannot fill a disk."""

SPACE_MARGIN = 64 << 20
"""Free space left over on the temporary folder's disk after the member is written."""

CHUNK = 1 << 20
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError)
"""What reading a damaged member raises."""

FULL = (errno.ENOSPC, errno.EDQUOT)
ROOM = "free space there or point TMPDIR at a disk with room"


class ExtractionError(I2IError):
    """A member that was not copied out: too large, no room for it, or a damaged archive."""


@contextmanager
def extracted_member(archive: Path, member: str, prefix: str = "i2i-") -> Iterator[Path]:
    """``member`` of the zip ``archive`` copied into a fresh temporary folder, removed after.

    A member whose declared size exceeds ``MAX_RATIO`` times its compressed size (above
    ``RATIO_FLOOR``) or the free space of the temporary folder's disk is refused before
    anything is written; every fault is one ``ExtractionError`` line naming the member, the
    archive and, for space, the folder whose disk is short.
    """
    what = f"{member} from {archive}"
    with _opened_zip(archive, what) as opened:
        try:
            info = opened.getinfo(member)
        except KeyError:
            raise ExtractionError(f"cannot extract {what}: the archive holds no {member}") from None
        check_declared_size(info, what)
        with _temporary_folder(prefix, what) as folder:
            check_free_space(info.file_size, folder, what)
            target = folder / Path(member).name
            _copy_out(opened, info, target, what)
            yield target


def check_declared_size(info: zipfile.ZipInfo, what: str) -> None:
    """Refuse a member that declares more than ``MAX_RATIO`` times its compressed size."""
    declared, packed = info.file_size, max(info.compress_size, 1)
    if declared > RATIO_FLOOR and declared > MAX_RATIO * packed:
        raise ExtractionError(
            f"cannot extract {what}: it declares {human_size(declared)} unpacked from "
            f"{human_size(packed)} ({declared // packed} times), more than any weights "
            "compress; the archive is not a checkpoint (a zip bomb or a damaged file); delete "
            "it and download it again"
        )


def check_free_space(size: int, folder: Path, what: str) -> None:
    """Refuse to write ``size`` bytes into ``folder`` when its disk lacks the room."""
    free = shutil.disk_usage(folder).free
    if size + SPACE_MARGIN > free:
        raise ExtractionError(
            f"cannot extract {what} ({human_size(size)}): the disk holding the temporary "
            f"folder {folder.parent} has {human_size(free)} free; {ROOM}"
        )


@contextmanager
def _temporary_folder(prefix: str, what: str) -> Iterator[Path]:
    """A fresh folder in the temporary directory, removed after; none can be made -> one line."""
    base = tempfile.gettempdir()
    try:
        holder = tempfile.TemporaryDirectory(prefix=prefix)
    except OSError as error:
        raise ExtractionError(
            f"cannot extract {what}: cannot make a folder in the temporary folder {base} "
            f"({error.strerror or error}); {ROOM}"
        ) from None
    with holder as folder:
        yield Path(folder)


@contextmanager
def _opened_zip(archive: Path, what: str) -> Iterator[zipfile.ZipFile]:
    """The zip ``archive`` open for reading; one that cannot be opened -> corrupt."""
    try:
        opened = zipfile.ZipFile(archive)
    except READ_ERRORS as error:
        raise ExtractionError(_corrupt(what, error)) from None
    with opened:
        yield opened


def _copy_out(opened: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, what: str) -> None:
    """Copy the member to ``target``: a failed read -> corrupt, a failed write -> that disk."""
    try:
        source = opened.open(info)
    except READ_ERRORS as error:
        raise ExtractionError(_corrupt(what, error)) from None
    with source, _opened_for_writing(target, what) as sink:
        while True:
            try:
                chunk = source.read(CHUNK)
            except READ_ERRORS as error:
                raise ExtractionError(_corrupt(what, error)) from None
            if not chunk:
                return
            try:
                sink.write(chunk)
            except OSError as error:
                raise ExtractionError(_write_failed(what, target, error)) from None


@contextmanager
def _opened_for_writing(target: Path, what: str) -> Iterator[IO[bytes]]:
    """``target`` open for writing; a failed open or final flush names the disk."""
    try:
        sink = target.open("wb")
    except OSError as error:
        raise ExtractionError(_write_failed(what, target, error)) from None
    try:
        yield sink
    finally:
        try:
            sink.close()
        except OSError as error:
            raise ExtractionError(_write_failed(what, target, error)) from None


def _write_failed(what: str, target: Path, error: OSError) -> str:
    """The line for a copy that could not be written: a full disk, or why not."""
    folder = target.parent.parent
    if error.errno in FULL:
        return (
            f"cannot extract {what}: the disk holding the temporary folder {folder} is full; {ROOM}"
        )
    return f"cannot extract {what}: cannot write {target} ({error.strerror or error}); {ROOM}"


def _corrupt(what: str, error: BaseException) -> str:
    """The line for a member that could not be read from its archive."""
    return (
        f"cannot extract {what}: the archive is corrupt or truncated ({error}); delete it and "
        "download it again"
    )
