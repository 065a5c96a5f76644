"""The VQ autoencoder's weights from LDM's files, without running code they carry (bbdm.md §6, §8).

Three shapes of file are read:

- LDM's ``vq-f4.zip`` as distributed (README model zoo), a zip archive holding ``model.ckpt``;
- that ``model.ckpt``: a PyTorch Lightning checkpoint (``torch.save`` of a dict whose
  ``state_dict`` holds the weights), unpickled by the core's restricted unpickler with the few
  globals such a checkpoint names (Lightning's ``ModelCheckpoint`` as a ``callbacks`` key, numpy
  scalars) as inert stand-ins;
- a plain state dict (``.pt``/``.pth``, ``.safetensors``).

The training-only ``loss.*`` tensors (LPIPS and discriminator) are dropped; a full LDM model's
``first_stage_model.*`` tensors are taken when the file holds no bare autoencoder keys.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i_cli.base.errors import I2IError
from i2i_cli.base.paths import unreachable
from i2i_cli.checkpoints.archives import extracted_member
from i2i_cli.weights.file_kind import file_fault
from i2i_cli.weights.loading import fault_message
from i2i_cli.weights.safe_pickle import (
    ZIP_MAGIC,
    numpy_scalar_globals,
    restricted_load,
    stand_in,
)

if TYPE_CHECKING:
    import torch

LIGHTNING_STAND_INS = ("pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",)
"""Globals of a Lightning checkpoint outside its weights: Lightning <= 1.4 keys ``callbacks``
by the callback's class."""

LIGHTNING_WEIGHTS = "state_dict"
"""The entry of a Lightning checkpoint holding the module's weights."""

TRAINING_ONLY = "loss."
"""LDM's ``VQModel.loss`` (LPIPS + discriminator): not part of the autoencoder."""

FIRST_STAGE = "first_stage_model."
"""Where a full LDM diffusion checkpoint keeps its autoencoder."""

CKPT_SUFFIX = ".ckpt"
TORCH_ARCHIVE_RECORD = "data.pkl"
SAFETENSORS_SUFFIX = ".safetensors"

EXPECTED = "expected LDM's vq-f4.zip, its model.ckpt (a Lightning checkpoint) or a plain state dict"


def lightning_allow_list() -> dict[str, Any]:
    """What a Lightning checkpoint may ask for beyond tensors': inert stand-ins, numpy scalars."""
    allowed: dict[str, Any] = {name: stand_in(name) for name in LIGHTNING_STAND_INS}
    allowed.update(numpy_scalar_globals())
    return allowed


def read_vq_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The ``vq-f4`` backbone's ``read_weights``: LDM ``VQModel`` tensors in ``path``.

    ``path`` is LDM's distributed zip, its Lightning ``model.ckpt`` or a plain state dict; any
    other file, or one without autoencoder tensors, is one ``I2IError`` line naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise I2IError(unreachable(path, "checkpoint") or f"checkpoint {path} does not exist")
    if path.suffix == SAFETENSORS_SUFFIX:
        from i2i_cli.weights.loading import load_checkpoint

        return autoencoder_tensors(load_checkpoint(path), f"checkpoint {path}")
    with path.open("rb") as stream:
        zipped = stream.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    if not zipped:
        return read_torch_file(path, f"checkpoint {path}")
    member = distributed_checkpoint(path)
    if member is None:
        return read_torch_file(path, f"checkpoint {path}")
    with extracted_member(path, member, prefix="i2i-ldm-") as ckpt:
        return read_torch_file(ckpt, f"{member} in {path}", shown_as=ckpt)


def distributed_checkpoint(path: Path) -> str | None:
    """The ``*.ckpt`` member of an LDM model zip; None for a ``torch.save`` archive.

    A zip that is neither (no ``.ckpt`` member, no ``data.pkl`` record) or holds several
    ``.ckpt`` members -> one ``I2IError`` line.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError) as error:
        fault = file_fault(path)
        if fault is not None:
            raise I2IError(fault_message(path, fault)) from None
        raise I2IError(
            f"checkpoint {path} is not a readable zip archive ({error}); {EXPECTED}"
        ) from None
    checkpoints = [name for name in names if name.endswith(CKPT_SUFFIX)]
    if len(checkpoints) == 1:
        return checkpoints[0]
    if len(checkpoints) > 1:
        preferred = [name for name in checkpoints if Path(name).name == "model.ckpt"]
        if len(preferred) == 1:
            return preferred[0]
        raise I2IError(f"checkpoint {path} holds several .ckpt files ({', '.join(checkpoints)})")
    if any(Path(name).name == TORCH_ARCHIVE_RECORD for name in names):
        return None
    raise I2IError(f"checkpoint {path} is a zip archive without a model.ckpt; {EXPECTED}")


def read_torch_file(
    path: Path, origin: str, shown_as: Path | None = None
) -> dict[str, torch.Tensor]:
    """The autoencoder tensors of a ``torch.save`` file: a Lightning checkpoint or a state dict.

    A zip archive goes through the restricted unpickler (``lightning_allow_list``); a legacy
    (pre-1.6) file through the core's ``weights_only`` loader. ``shown_as`` is the path the
    loaders' messages would name instead of ``origin`` (a temporary copy).
    """
    from i2i_cli.weights.loading import load_checkpoint

    with path.open("rb") as stream:
        archive = stream.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    try:
        loaded = restricted_load(path, lightning_allow_list()) if archive else load_checkpoint(path)
    except I2IError as error:
        if shown_as is None:
            raise
        message = (
            str(error).replace(f"checkpoint {shown_as}", origin).replace(str(shown_as), origin)
        )
        raise type(error)(message) from None
    return autoencoder_tensors(loaded, origin)


def autoencoder_tensors(loaded: Any, origin: str) -> dict[str, torch.Tensor]:
    """The ``VQModel`` tensors of a loaded file: its Lightning ``state_dict`` or itself, without
    ``loss.*``; ``first_stage_model.*`` renamed when only those are there."""
    import torch

    if isinstance(loaded, Mapping) and isinstance(loaded.get(LIGHTNING_WEIGHTS), Mapping):
        loaded = loaded[LIGHTNING_WEIGHTS]
    if not (
        isinstance(loaded, Mapping)
        and loaded
        and all(isinstance(k, str) and torch.is_tensor(v) for k, v in loaded.items())
    ):
        raise I2IError(f"{origin} holds no state dict of tensors; {EXPECTED}")
    tensors = {k: v for k, v in loaded.items() if not k.startswith(TRAINING_ONLY)}
    if not any(k.startswith("encoder.") for k in tensors) and any(
        k.startswith(FIRST_STAGE) for k in tensors
    ):
        tensors = {
            k[len(FIRST_STAGE) :]: v for k, v in tensors.items() if k.startswith(FIRST_STAGE)
        }
    return tensors
