"""What a file that did not load is, told from its bytes alone: not a checkpoint, or cut short.

``file_fault(file)`` looks at the file the way each format i2i reads starts and ends: a zip
archive (``torch.save``'s, ``.npz``, LDM's model zips) must reach its central directory, a
``.safetensors`` file must hold the bytes its header declares, and a pickle (EDM's ``.pkl``, a
legacy ``torch.save`` stream, a zip archive's ``data.pkl``) must reach its STOP opcode. Pickles
are walked opcode by opcode with ``pickletools`` (nothing is built or run). A file that passes
is a well-formed file of its format, so a loader that refused a global in it was given a hostile
pickle; one that does not pass is empty, a web page, text, of no format i2i reads, truncated or
corrupt, and says so instead of being called hostile.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import pickletools
import re
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"
PICKLE_PROTO = 0x80
LEGACY_TORCH_HEAD = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"
"""Protocol 2, then the magic number ``torch.save`` writes first in its legacy (pre-1.6) stream."""
LEGACY_TORCH_PICKLES = 5
"""The pickles of a legacy stream before its storages: magic, protocol, sys info, object, keys."""
SAFETENSORS_SUFFIX = ".safetensors"
SAFETENSORS_HEAD = 9
"""The shortest a safetensors file can start: an 8-byte header length, then ``{``."""
HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<?xml", b"<!--")
TEXT_CONTROLS = set(b"\t\n\r\f")
FORMATS = "torch zip or pickle, EDM pickle, safetensors, .npy/.npz"
"""The formats i2i reads, as a message lists them."""
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
EXHAUSTED = ("exhausted", "but only", "no newline found", "not enough data")
"""How ``pickletools.genops`` says the bytes ran out inside a pickle."""

Source = str | os.PathLike[str] | IO[bytes]


@dataclass(frozen=True)
class FileFault:
    """Why a file is not a readable checkpoint: ``what`` (a phrase), and whether it is damaged.

    A damaged file (truncated or corrupt) is of a format i2i reads, so downloading it again may
    help; an undamaged fault (empty, a web page, text, no known format) names the wrong file.
    """

    what: str
    damaged: bool = False


def file_fault(file: Source, expected: str = "a checkpoint") -> FileFault | None:
    """Why ``file`` is not a complete file of a format i2i reads; None when its bytes are one.

    ``expected`` names what the file should have been ("a checkpoint", "an .npz file").
    """
    with _bytes_of(file) as data:
        if data is None:
            return None
        if len(data) == 0:
            return FileFault("the file is empty")
        head = bytes(data[:512])
        if head.lstrip().lower().startswith(HTML_STARTS):
            return FileFault(
                f"it is a web page (HTML), not {expected}; the download returned a page instead "
                "of the file (e.g. Google Drive's warning or quota page). Download the file "
                "itself and run `i2i download --from FILE NAME`"
            )
        if head.startswith(ZIP_MAGICS):
            return _zip_fault(data)
        if head.startswith(NPY_MAGIC):
            return _npy_fault(data)
        if _looks_like_safetensors(head):
            return _safetensors_fault(data)
        if _suffix(file) == SAFETENSORS_SUFFIX and len(data) < SAFETENSORS_HEAD:
            return FileFault(
                f"the file is truncated ({len(data)} bytes, less than a safetensors header)", True
            )
        count = LEGACY_TORCH_PICKLES if head.startswith(LEGACY_TORCH_HEAD) else 1
        problem = _pickle_problem(data, count)
        if problem is None:
            return None
        if len(head) > 1 and head[0] == PICKLE_PROTO and 2 <= head[1] <= 5:
            return FileFault(problem, damaged=True)
        if _is_text(head):
            return FileFault(f"it is a text file, not {expected} (it begins {_first_line(head)!r})")
        return FileFault(
            f"it is not {expected} (its first bytes {head[:4].hex(' ')} start none of the "
            f"formats i2i reads: {FORMATS})"
        )


def _zip_fault(data: mmap.mmap | bytes) -> FileFault | None:
    """A zip archive without its end (truncated), or whose ``data.pkl`` is not a whole pickle."""
    try:
        with zipfile.ZipFile(_stream(data)) as archive:
            pickles = [n for n in archive.namelist() if n.rpartition("/")[2] == "data.pkl"]
            if len(pickles) != 1:
                return None
            record = archive.read(pickles[0])
    except zipfile.BadZipFile as error:
        if "not a zip file" in str(error).lower():
            return FileFault(
                f"the file is truncated (a zip archive whose end is missing, {len(data)} bytes)",
                damaged=True,
            )
        return FileFault(f"the file is corrupt (a zip archive: {error})", damaged=True)
    except (OSError, EOFError, ValueError, NotImplementedError) as error:
        return FileFault(f"the file is corrupt (a zip archive: {error})", damaged=True)
    problem = _pickle_problem(record, 1)
    return FileFault(f"{problem} in {pickles[0]}", damaged=True) if problem else None


def _npy_fault(data: mmap.mmap | bytes) -> FileFault | None:
    """An ``.npy`` file whose header cannot be read, or shorter than the array it declares."""
    import numpy as np
    from numpy.lib import format as npy

    stream = _stream(data)
    try:
        version = npy.read_magic(stream)
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _fortran, dtype = read(stream)
    except (ValueError, SyntaxError, TypeError) as error:
        if "EOF" in str(error) or stream.tell() >= len(data):
            return FileFault(f"the file is truncated ({len(data)} bytes, inside its header)", True)
        return FileFault("the file is corrupt (its .npy header is not readable)", True)
    if dtype.hasobject:
        return None
    needed = stream.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if needed > len(data):
        return FileFault(
            f"the file is truncated (its array needs {needed} bytes, it has {len(data)})", True
        )
    return None


def _looks_like_safetensors(head: bytes) -> bool:
    """Whether ``head`` starts as a safetensors file: a little-endian header length, then ``{``."""
    return (
        len(head) >= SAFETENSORS_HEAD and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] > 1
    )


def _safetensors_fault(data: mmap.mmap | bytes) -> FileFault | None:
    """A safetensors file shorter than its header, or than the tensors its header declares."""
    (length,) = struct.unpack("<Q", data[:8])
    if 8 + length > len(data):
        return FileFault(
            f"the file is truncated (a safetensors header of {length} bytes in a file of "
            f"{len(data)})",
            damaged=True,
        )
    try:
        header = json.loads(bytes(data[8 : 8 + length]))
        ends = [
            int(entry["data_offsets"][1]) for key, entry in header.items() if key != "__metadata__"
        ]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return FileFault("the file is corrupt (its safetensors header is not valid JSON)", True)
    needed = 8 + length + max(ends, default=0)
    if needed > len(data):
        return FileFault(
            f"the file is truncated (its tensors need {needed} bytes, it has {len(data)})", True
        )
    return None


def _pickle_problem(data: mmap.mmap | bytes, count: int) -> str | None:
    """Why the first ``count`` pickles of ``data`` are not whole pickles; None when they are."""
    stream = _stream(data)
    try:
        for _ in range(count):
            for opcode, arg, position in pickletools.genops(stream):
                if opcode.name in ("GLOBAL", "INST") and not all(
                    DOTTED_NAME.fullmatch(part) for part in str(arg).split(" ", 1)
                ):
                    return f"the file is corrupt (byte {position} is no pickle's global)"
    except ValueError as error:
        if any(word in str(error) for word in EXHAUSTED) or stream.tell() >= len(data):
            return f"the file is truncated (it ends after {len(data)} bytes, inside its pickle)"
        return f"the file is corrupt (byte {stream.tell() - 1} is not a pickle opcode)"
    except (MemoryError, OverflowError):
        return "the file is corrupt (a pickle record longer than the file)"
    return None


def _is_text(head: bytes) -> bool:
    """Whether ``head`` reads as text: UTF-8 (a character cut at its end allowed), no controls."""
    for cut in range(4 if len(head) == 512 else 1):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return all(ord(c) >= 32 or ord(c) in TEXT_CONTROLS for c in text)
    return False


def _first_line(head: bytes, longest: int = 40) -> str:
    """The file's first non-blank line, cut to ``longest`` characters."""
    text = head.decode("utf-8", errors="replace").strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= longest else line[:longest] + "…"


def _suffix(file: Source) -> str:
    """The file name's suffix ('' for a stream without a name)."""
    name = file if isinstance(file, (str, os.PathLike)) else getattr(file, "name", "")
    return Path(str(name)).suffix


def _stream(data: mmap.mmap | bytes) -> IO[bytes]:
    """A binary stream over ``data`` from its start (reading no further than its end)."""
    if isinstance(data, bytes):
        return io.BytesIO(data)
    data.seek(0)
    return _MappedStream(data)


class _MappedStream(io.RawIOBase):
    """A read-only stream over a memory map, without copying it."""

    def __init__(self, data: mmap.mmap) -> None:
        """Read ``data`` from its current position."""
        super().__init__()
        self._data = data

    def readable(self) -> bool:
        """Always."""
        return True

    def seekable(self) -> bool:
        """Always."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with the next bytes; the count read (0 at the end)."""
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that remain when negative)."""
        return self._data.read(-1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        """The bytes up to and including the next newline (or the end)."""
        return self._data.readline()

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move to ``offset`` from the start, the current position or the end."""
        self._data.seek(offset, whence)
        return self._data.tell()

    def tell(self) -> int:
        """The position in the map."""
        return self._data.tell()


@contextmanager
def _bytes_of(file: Source) -> Iterator[mmap.mmap | bytes | None]:
    """The file's bytes: a path memory-mapped (None when unreadable), a stream read whole."""
    if not isinstance(file, (str, os.PathLike)):
        position = file.tell()
        file.seek(0)
        data = file.read()
        file.seek(position)
        yield data
        return
    path = Path(file)
    if not (path.is_file() and os.access(path, os.R_OK)):
        yield None
        return
    with path.open("rb") as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield data
