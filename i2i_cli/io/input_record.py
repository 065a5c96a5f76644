"""How a translate run prepared its sources, recorded beside its outputs (``inputs.json``).

Paired metrics compare each translation with its source; the source must then be prepared as the
run prepared it (brought to the model's size by the run's fit), or a non-square photo would be
compared, resized only, with its centre-cropped translation. ``i2i evaluate`` reads this record
from the images folder it is given.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from i2i_cli.base.atomic import write_atomic_text
from i2i_cli.base.errors import UsageError
from i2i_cli.io.image_fit import FITS, Fit

INPUTS_RECORD = "inputs.json"


@dataclass(frozen=True)
class PreparedInputs:
    """The run's input and how each source image was brought to the model's size."""

    input: str
    size: int
    fit: Fit

    def describe(self) -> str:
        """``crop to 256x256`` (for result records)."""
        return f"{self.fit} to {self.size}x{self.size}, as the run prepared them"


def write_prepared_inputs(folder: Path, prepared: PreparedInputs) -> None:
    """Record ``prepared`` in ``folder`` (atomically)."""
    write_atomic_text(json.dumps(asdict(prepared), indent=2) + "\n", folder / INPUTS_RECORD)


def read_prepared_inputs(folder: Path) -> PreparedInputs | None:
    """The record in ``folder``, None when there is none; a damaged one is one usage line."""
    path = Path(folder) / INPUTS_RECORD
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        prepared = PreparedInputs(str(data["input"]), int(data["size"]), data["fit"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot read {path}: {error}; delete it to evaluate as stored") from None
    if prepared.fit not in FITS or prepared.size < 1:
        raise UsageError(f"{path} names an unknown fit or size; delete it to evaluate as stored")
    return prepared
