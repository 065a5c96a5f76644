"""Safe checkpoint loading: tensors and plain containers only, never code from the file.

A torch file loads with ``torch.load(weights_only=True)``; a ``.safetensors`` file with the
optional ``safetensors`` package (``pip install "i2i[safetensors]"``). Files that pickle whole
modules (EDM's ``.pkl`` snapshots) go through ``safe_pickle.restricted_load`` with an allow-list
instead. Every fault is one line: missing, unsafe, corrupt, or a missing optional dependency.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

from i2i_cli.base.errors import I2IError, UsageError
from i2i_cli.base.paths import unreachable
from i2i_cli.weights.file_kind import FileFault, Source, file_fault

SAFETENSORS_SUFFIX = ".safetensors"
DOWNLOAD_AGAIN = "delete it and download it again"


def load_checkpoint(
    path: str | os.PathLike[str], map_location: Any = "cpu", *, mmap: bool = False
) -> Any:
    """The contents of a checkpoint file, loaded without running code from it.

    ``.safetensors`` files load with the safetensors package (a dict of tensors); any other file
    with ``torch.load(weights_only=True)`` (``mmap``: map the storages instead of reading them,
    for zip archives). A missing, unsafe or corrupt file -> I2IError.
    """
    path = Path(path)
    if not path.is_file():
        raise I2IError(unreachable(path, "checkpoint") or f"checkpoint {path} does not exist")
    if path.suffix == SAFETENSORS_SUFFIX:
        return _load_safetensors(path, map_location)
    return _load_torch(path, map_location, mmap)


def _load_torch(path: Path, map_location: Any, mmap: bool) -> Any:
    """``torch.load(path, weights_only=True)``; anything but tensors and containers -> I2IError."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as error:
        if mmap and _needs_plain_read(error):
            return _load_torch(path, map_location, mmap=False)
        raise I2IError(load_error_message(path, error)) from None


def _needs_plain_read(error: BaseException) -> bool:
    """Whether ``torch.load(mmap=True)`` failed only because the file is not a zip archive."""
    return "mmap" in str(error) and "zip" in str(error)


def _load_safetensors(path: Path, map_location: Any) -> dict[str, Any]:
    """The tensors of a ``.safetensors`` file; without the package -> how to install it."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise UsageError(
            f"checkpoint {path} is a safetensors file and the safetensors package is not "
            'installed: pip install "i2i[safetensors]"'
        ) from None
    try:
        return load_file(path, device=str(map_location))
    except Exception as error:
        raise I2IError(load_error_message(path, error)) from None


FORBIDDEN_GLOBAL = re.compile(r"\bGLOBAL\s+([A-Za-z_][\w.]*)", re.IGNORECASE)
"""How torch's weights-only unpickler names the global it refused, in every wording so far:
"Unsupported global: GLOBAL os.system was not an allowed global" (2.4-2.5) and "Trying to load
unsupported GLOBAL posix.system whose module posix is blocked" (2.6 on)."""

WEIGHTS_ONLY_REASON = re.compile(r"WeightsUnpickler error:\s*(.+?)(?:\n\s*\n|$)", re.DOTALL)
UNSAFE_ADVICE = ("weights_only", "allow_pickle", "add_safe_globals", "safe_globals")
"""Words of advice that lead to loading a file unsafely: never relayed to the user."""


FORBIDDEN_OBJECT = (
    FORBIDDEN_GLOBAL,
    re.compile(r"unsupported class\s+<class '([\w.]+)'>", re.IGNORECASE),
    re.compile(r"unsupported class\s+([A-Za-z_][\w.]*)", re.IGNORECASE),
    re.compile(r"unrecognized function\s+([A-Za-z_<][\w.<> ]*)", re.IGNORECASE),
    re.compile(r"but got\s+<class '([\w.]+)'>"),
)
"""The other refusals of the weights-only unpickler: a class it will not build, a function it
will not call ("Trying to instantiate unsupported class", "Trying to call reduce for
unrecognized function", "Can only build Tensor, ... but got <class 'x.Y'>")."""


def forbidden_global(error: BaseException) -> str | None:
    """The ``module.name`` a refused unpickle asked for, or None when it is not that kind."""
    if not isinstance(error, pickle.UnpicklingError):
        return None
    for pattern in FORBIDDEN_OBJECT:
        match = pattern.search(str(error))
        if match:
            return match.group(1).strip().rstrip(".")
    return None


def unsafe_message(label: Path | str, global_name: str, what: str = "checkpoint") -> str:
    """The one line for a file that asks to run something: it names the file and the global."""
    return (
        f"{what} {label} contains code or objects that are not allowed to run: it asks for "
        f"{global_name}; refusing to unpickle it (only tensors and plain containers are read, "
        "and nothing from the file was run). Use a file that holds only weights"
    )


def error_reason(error: BaseException) -> str:
    """A one-line reason for a failed read, without any advice to load the file unsafely.

    torch's weights-only failures start with how to load the file with ``weights_only=False``
    and carry the real reason after "WeightsUnpickler error:"; only that reason is kept.
    """
    text = str(error).strip()
    found = WEIGHTS_ONLY_REASON.search(text)
    if found:
        text = found.group(1).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    safe = [line for line in lines if not any(word in line for word in UNSAFE_ADVICE)]
    if safe:
        return _first_sentence(safe[0])
    return "not plain tensors and containers" if lines else type(error).__name__


def _first_sentence(line: str, longer_than: int = 100) -> str:
    """A long line cut after its first sentence (torch appends paragraphs of advice)."""
    if len(line) <= longer_than or ". " not in line:
        return line
    return line.split(". ", 1)[0]


def load_error_message(
    label: Path | str,
    error: BaseException,
    what: str = "checkpoint",
    file: Source | None = None,
    advice: str = DOWNLOAD_AGAIN,
) -> str:
    """The one line for a file that did not load: what its bytes are, else unsafe, else corrupt.

    ``file`` (default: ``label`` as a path) is read to tell a file that is not a checkpoint, or
    is truncated, from a well-formed one; only a well-formed pickle that asked for a global it
    may not have is called unsafe. ``advice`` follows a damaged file's line.
    """
    fault = file_fault(label if file is None else file)
    if fault is not None:
        return fault_message(label, fault, what, advice)
    name = forbidden_global(error)
    if name is not None:
        return unsafe_message(label, name, what)
    return corrupt_message(label, error, what, advice)


def fault_message(
    label: Path | str, fault: FileFault, what: str = "checkpoint", advice: str = DOWNLOAD_AGAIN
) -> str:
    """``cannot load <what> <label>: <what the file is>``, with ``advice`` for a damaged one."""
    line = f"cannot load {what} {label}: {fault.what}"
    return f"{line}; {advice}" if fault.damaged else line


def corrupt_message(
    path: Path | str, error: BaseException, what: str = "checkpoint", advice: str = DOWNLOAD_AGAIN
) -> str:
    """The one-line message for a checkpoint that cannot be read."""
    return (
        f"cannot load {what} {path}: the file is corrupt or truncated ({error_reason(error)}); "
        f"{advice}"
    )
