"""The run-folder lock: one run at a time writes into an output folder.

A run holds ``fcntl.flock`` on ``<output>/.i2i.lock`` from before it compares the folder's
``run.toml`` until it ends, and writes its pid into the file once it holds it. A second run
into the folder is refused in one line naming that pid. A run that ends deletes the file; the
kernel drops the lock when its holder's process ends, however it ends, so the file a killed
run leaves behind blocks nothing. The ranks of one torchrun job are one run: rank 0 holds the
lock for all of them.

Where ``fcntl`` is missing (Windows) runs are not locked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from i2i_cli.base.errors import UsageError

LOCK_FILE = ".i2i.lock"
"""The lock file in a run folder (hidden: image searches and ``holds_outputs`` skip it)."""


class RunFolderLock:
    """The held lock of one run folder: an open descriptor of its lock file under flock."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self.descriptor: int | None = descriptor

    def release(self) -> None:
        """Delete the lock file while it is still held, then drop the lock (once)."""
        if self.descriptor is None:
            return
        with suppress(OSError):  # a folder we may no longer delete in: the lock still goes
            self.path.unlink(missing_ok=True)
        os.close(self.descriptor)
        self.descriptor = None


def lock_run_folder(folder: Path) -> RunFolderLock | None:
    """Take the lock of the existing ``folder``, or refuse naming the run that holds it.

    None where the platform has no ``fcntl``. A lock file its holder deleted on release just
    before this took its lock (``RunFolderLock.release``) is opened afresh, so two runs never
    hold two files of one folder.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        return None
    path = Path(folder) / LOCK_FILE
    while True:
        descriptor = _open_lock_file(path)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise UsageError(
                f"--output {folder} is in use by another run ({holder}); wait for it to end "
                "or choose another --output"
            ) from None
        except OSError as error:
            os.close(descriptor)
            raise UsageError(
                f"cannot lock --output {folder}: {error.strerror or error}; choose another --output"
            ) from None
        if _is_current(descriptor, path):
            break
        os.close(descriptor)
    _write_holder(descriptor, os.getpid())
    return RunFolderLock(path, descriptor)


@contextmanager
def holding_run_folder(folder: Path, *, main: bool) -> Iterator[RunFolderLock | None]:
    """``folder``'s lock held for the ``with`` block by rank 0 (``main``); other ranks take none.

    The lock is yielded (None where none is taken) so the block may release it early (to
    remove a folder it made); it is released on the way out in any case.
    """
    lock = lock_run_folder(folder) if main else None
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()


def _open_lock_file(path: Path) -> int:
    """A read-write descriptor of the lock file at ``path``, created when missing."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise UsageError(
            f"cannot lock --output {path.parent}: {error.strerror or error}; "
            "choose another --output"
        ) from None


def _is_current(descriptor: int, path: Path) -> bool:
    """Whether ``descriptor`` is still the file at ``path`` (not one deleted since opened)."""
    try:
        on_disk = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(descriptor)
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)


def _write_holder(descriptor: int, pid: int) -> None:
    """Write ``pid`` as the lock file's whole content (best effort: the lock holds regardless)."""
    data = f"{pid}\n".encode()
    with suppress(OSError):
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, data, 0)


def _read_holder(descriptor: int) -> str:
    """``pid N`` of the lock file's holder, as it wrote it; a note when it has not yet."""
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "its pid not yet written"
