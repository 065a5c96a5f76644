"""NumPy ``.npy``/``.npz`` files read as plain arrays only (never pickles), faults as one line.

``np.load(allow_pickle=False)`` refuses object arrays with a hint to pass ``allow_pickle=True``,
which would run code from the file; ``array_error_reason`` says what the file holds instead.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from i2i_cli.base.errors import I2IError
from i2i_cli.weights.file_kind import file_fault
from i2i_cli.weights.loading import error_reason

if TYPE_CHECKING:
    import numpy as np

ARRAY_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)
"""What ``np.load`` raises for a file that is not a readable array file."""

OBJECT_ARRAY = (
    "it holds an array of Python objects (pickled), which is not allowed to run; only plain "
    "numeric arrays are read"
)
NOT_AN_ARRAY_FILE = (
    "it is not an .npy/.npz file (numpy reads it as a pickle, which may contain code and is "
    "not allowed to run)"
)


def array_error_reason(error: BaseException, path: Path | None = None) -> str:
    """Why ``np.load(allow_pickle=False)`` failed, as one line without advice to allow pickles.

    ``path`` given, a file that is no array file (text, a web page, cut short) says so first.
    """
    fault = None if path is None else file_fault(path, "an .npy/.npz file")
    if fault is not None:
        return fault.what
    text = str(error)
    if "Object arrays" in text:
        return OBJECT_ARRAY
    if "pickled" in text or "allow_pickle" in text:
        return NOT_AN_ARRAY_FILE
    return error_reason(error)


def read_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, object arrays refused; a bad file -> one-line I2IError."""
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise I2IError(f"{path} is a single .npy array, not an .npz archive")
        with data:
            return {key: data[key] for key in data.files}
    except ARRAY_ERRORS as error:
        reason = array_error_reason(error, path)
        raise I2IError(f"cannot read {path} as an .npz file: {reason}") from None
