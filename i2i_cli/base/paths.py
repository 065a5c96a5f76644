"""Why a path given to a command cannot be used: absent, a broken link, a link loop, unreadable.

Every path option (``--input``, ``--data``, ``--real``, ``--ref``, ``--config``, a checkpoint
file ...) is checked here, so each names a symbolic link that leads back to itself, or to
nothing, as such instead of calling it missing or "not a folder".
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from i2i_cli.base.errors import UsageError

ABSENT = "does not exist"


def path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be reached, as the words after its name; None when it exists.

    A link loop anywhere along the path, a broken link, a missing path and one that cannot be
    looked at (denied) are told apart.
    """
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "is a symbolic link loop (it leads back to itself)"
        if error.errno == errno.ENOENT and os.path.islink(path):
            return f"is a broken symbolic link (to {os.readlink(path)})"
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return ABSENT
        return f"cannot be read ({error.strerror or error})"
    except ValueError:  # a NUL byte in the path
        return ABSENT
    return None


def unreachable(path: Path, what: str, missing: str | None = None) -> str | None:
    """The line for ``path`` (called ``what``, e.g. ``--data``) when it cannot be reached.

    None when it exists; ``missing`` is the caller's own line for a path that simply is not
    there (default: ``<what> <path> does not exist``, and for a relative path, such as a task
    preset's ``data/afhq/train/cat``, the folder it was looked for in).
    """
    problem = path_problem(path)
    if problem is None:
        return None
    if problem == ABSENT and missing is not None:
        return missing
    if problem == ABSENT and not Path(path).is_absolute():
        return f"{what} {path} {problem} (looked for in {Path.cwd()})"
    return f"{what} {path} {problem}"


def require_existing(path: Path, what: str, missing: str | None = None) -> Path:
    """``path`` when it exists (a file or a folder); else one UsageError line saying why not."""
    line = unreachable(path, what, missing)
    if line is not None:
        raise UsageError(line)
    return path


def require_folder(path: Path, what: str, missing: str | None = None) -> Path:
    """``path`` when it is a folder; else one UsageError line (unreachable, or not a folder)."""
    require_existing(path, what, missing)
    if not path.is_dir():
        raise UsageError(f"{what} {path} is not a folder")
    return path


def require_file(path: Path, what: str, missing: str | None = None) -> Path:
    """``path`` when it is a file; else one UsageError line (unreachable, or a folder)."""
    require_existing(path, what, missing)
    if not path.is_file():
        raise UsageError(f"{what} {path} is a folder, not a file")
    return path
