"""Safe checkpoint loading: tensors and plain containers only, never code from the file.

A torch file loads with ``torch.load(weights_only=True)``; a ``.safetensors`` file with the
optional ``safetensors`` package (``pip install "i2i[safetensors]"``). Files that pickle whole
modules (EDM's ``.pkl`` snapshots) go through ``safe_pickle.restricted_load`` with an allow-list
instead. Every fault is one line: missing, unsafe, corrupt, or a missing optional dependency.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from i2i_cli.errors import I2IError, UsageError

SAFETENSORS_SUFFIX = ".safetensors"


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """The contents of a checkpoint file, loaded without running code from it.

    ``.safetensors`` files load with the safetensors package (a dict of tensors); any other file
    with ``torch.load(weights_only=True)``. A missing, unsafe or corrupt file -> I2IError.
    """
    path = Path(path)
    if not path.is_file():
        raise I2IError(f"checkpoint {path} does not exist")
    if path.suffix == SAFETENSORS_SUFFIX:
        return _load_safetensors(path, map_location)
    return _load_torch(path, map_location)


def _load_torch(path: Path, map_location: Any) -> Any:
    """``torch.load(path, weights_only=True)``; anything but tensors and containers -> I2IError."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" in str(error):
            raise I2IError(
                f"checkpoint {path} holds objects other than tensors and plain containers; "
                f"refusing to unpickle it (weights_only=True)"
            ) from None
        raise I2IError(corrupt_message(path, error)) from None
    except Exception as error:
        raise I2IError(corrupt_message(path, error)) from None


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
        raise I2IError(corrupt_message(path, error)) from None


def corrupt_message(path: Path | str, error: BaseException) -> str:
    """The one-line message for a checkpoint that cannot be read."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"cannot load checkpoint {path}: the file is corrupt or truncated ({first}); "
        "delete it and download it again"
    )
