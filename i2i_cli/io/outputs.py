"""Writing output images and resuming: where each output goes, what is left to do, grids.

Writing quantises like torchvision's ``save_image`` and never leaves a half-written file under
its final name, so a run can be interrupted at any moment and resumed by skipping the outputs
that exist.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from PIL import Image

from i2i_cli.base.atomic import write_atomic_bytes
from i2i_cli.base.errors import RunError, UsageError
from i2i_cli.base.paths import ABSENT, path_problem
from i2i_cli.io.data import ImageItem
from i2i_cli.io.output_format import OUTPUT_FORMATS, OutputFormat, output_suffix

# ---------------------------------------------------------------------------------------------
# The output folder


def make_output_folder(folder: Path) -> None:
    """Create ``folder`` and its parents for writing; one line when it cannot be made or written.

    A file where the folder (or one of its parents) should be, a parent without write
    permission, or an existing folder this process may not write to is a UsageError naming the
    path, before anything is written.
    """
    folder = Path(folder)
    check_not_blocked(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(
            f"cannot create --output {folder}: {reason}; choose another --output"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(
            f"cannot write to --output {folder}: permission denied; choose another --output"
        )


def check_not_blocked(folder: Path) -> None:
    """UsageError when ``folder``, or a parent of it, exists as something other than a folder."""
    blocking = _file_in_the_way(folder)
    if blocking is not None:
        what = "it" if blocking == folder else str(blocking)
        problem = path_problem(blocking)
        if problem is not None and problem != ABSENT:
            raise UsageError(
                f"cannot use --output {folder}: {what} {problem}; choose another --output"
            )
        raise UsageError(
            f"cannot use --output {folder}: {what} exists and is not a folder; "
            "choose another --output"
        )


def check_apart(output: Path, source: Path | None, output_format: OutputFormat = "png") -> None:
    """UsageError when results would land on or among the inputs (``--output`` vs ``--input``).

    An output folder that is the input folder or inside it would have its results read as
    inputs by the next run (and, with ``--overwrite``, written over the sources); an input file
    whose result (named as ``output_format`` names it) would take its own path would be
    overwritten.
    """
    if source is None:
        return
    out, src = Path(os.path.realpath(output)), Path(os.path.realpath(source))
    if src.is_dir() and (out == src or src in out.parents):
        where = "is" if out == src else "is inside"
        raise UsageError(
            f"--output {output} {where} --input {source}: the results would be mixed with the "
            "sources; choose an --output outside it"
        )
    if src.is_file() and (out / f"{src.stem}{output_suffix(src, output_format)}") == src:
        raise UsageError(
            f"--output {output} would write the result of {source} over it; choose another --output"
        )


def _file_in_the_way(folder: Path) -> Path | None:
    """``folder`` or the nearest of its parents that exists as something other than a folder."""
    for path in (folder, *folder.parents):
        if os.path.lexists(path):
            return None if path.is_dir() else path
    return None


# ---------------------------------------------------------------------------------------------
# Writing outputs and resuming


def output_path(output_dir: Path, item: ImageItem, output_format: OutputFormat = "png") -> Path:
    """Where ``item``'s output goes: ``output_dir / key`` plus the format's suffix, sub-folders
    kept (``.png``, or the source's own suffix for ``source``; see ``i2i_cli.io.output_format``)."""
    return Path(output_dir) / f"{item.key}{output_suffix(item.path, output_format)}"


def pending(
    items: Sequence[ImageItem],
    output_dir: Path,
    *,
    overwrite: bool,
    output_format: OutputFormat = "png",
) -> list[ImageItem]:
    """The items still to do: those without an output file yet, or all when ``overwrite``."""
    if overwrite:
        return list(items)
    return [item for item in items if not output_path(output_dir, item, output_format).exists()]


def remove_other_formats(
    output_dir: Path, item: ImageItem, output_format: OutputFormat, *, sources: frozenset[Path]
) -> list[Path]:
    """Delete ``item``'s results named as another format names them; the paths deleted.

    A run redone with ``--overwrite`` in a new format replaces each old result with the new
    one, so the folder keeps one result per source (``a.png`` and ``a.jpg`` side by side would
    be two images of one key to ``i2i evaluate``). A path in ``sources`` (resolved) is kept.
    """
    current = output_path(output_dir, item, output_format)
    others = {output_path(output_dir, item, other) for other in OUTPUT_FORMATS} - {current}
    removed = []
    for path in sorted(others):
        if path.is_file() and resolved(path) not in sources:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


Quantize = Literal["round", "truncate"]
"""How an image in [-1, 1] becomes 8 bits: ``round`` as torchvision's ``save_image`` (EGSDE,
SDEdit, ILVR, SDDM, SDE-BBDM), ``truncate`` as guided-diffusion's sample scripts
(``((x + 1) * 127.5).clamp(0, 255).to(uint8)``; DDIB's ``imagenet_translation.py``, ddib.md §3)."""


def resolved(path: Path) -> Path:
    """``path`` with its links followed, or as it is where they loop or cannot be followed."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def to_uint8(image: torch.Tensor, quantize: Quantize = "round") -> torch.Tensor:
    """(C, H, W) uint8 of an image in [-1, 1], rounded as ``save_image(((x + 1) / 2).clamp(0, 1))``.

    ``floor(clamp((x + 1) / 2, 0, 1) * 255 + 0.5)`` in float32 (float64 input stays float64);
    NaN becomes 0, as the uint8 cast of save_image gives on x86. ``truncate``:
    ``floor(clamp((x + 1) * 127.5, 0, 255))``, guided-diffusion's conversion.
    """
    x = image.detach().cpu()
    if x.dtype != torch.float64:
        x = x.float()
    if quantize == "truncate":
        scaled = ((x + 1) * 127.5).clamp(0, 255)
    else:
        scaled = ((x + 1) / 2).clamp(0, 1).mul(255).add(0.5).clamp(0, 255)
    return torch.nan_to_num(scaled, nan=0.0).to(torch.uint8)


def write_image(image: torch.Tensor, path: Path, quantize: Quantize = "round") -> None:
    """Write a (3, H, W) or (1, H, W) image in [-1, 1] as an 8-bit file, atomically.

    The format comes from the suffix (``.jpg`` is JPEG at Pillow's default quality 75); one
    channel is written as greyscale; ``quantize`` says how values become 8 bits (``to_uint8``).
    Parent folders are created; on any failure the previous file under ``path`` (if any) is
    untouched and no temporary file is left. An image holding NaN or infinity is never
    written (a RunError).
    """
    path = Path(path)
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(
            f"write_image needs a (3, H, W) or (1, H, W) image, got {tuple(image.shape)}"
        )
    if not torch.isfinite(image).all():
        raise RunError(f"not writing {path}: the image holds NaN or infinite values")
    pixels = to_uint8(image, quantize).permute(1, 2, 0).numpy()
    picture = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    write_atomic_bytes(_encode(picture, path), path)


def _encode(picture: Image.Image, path: Path) -> bytes:
    """The bytes of ``picture`` in the format ``path``'s suffix names."""
    file_format = Image.registered_extensions().get(path.suffix.lower())
    if file_format is None:
        raise UsageError(
            f"cannot write {path}: {path.suffix or 'no suffix'} is not an image format"
        )
    buffer = io.BytesIO()
    try:
        picture.save(buffer, format=file_format)
    except (OSError, KeyError, ValueError) as error:
        raise RunError(f"cannot write {path} as {file_format}: {error}") from error
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Quick-look grids


GRID_FILE = "grid.png"
"""The quick-look grid a translate run writes beside its outputs (not one of them)."""


def image_grid(
    columns: Sequence[torch.Tensor], padding: int = 2, pad_value: float = -1.0
) -> torch.Tensor:
    """A (3, B*H + (B+1)*padding, K*W + (K+1)*padding) grid in [-1, 1] of K batches side by side.

    Row ``b`` is ``columns[0][b] | columns[1][b] | ...``; each ``columns[k]`` is a (B, 3, H, W)
    or (B, 1, H, W) batch of one shape. Cells are separated and framed by ``padding`` pixels of
    ``pad_value`` (black by default, as torchvision's make_grid).
    """
    if not columns:
        raise ValueError("image_grid needs at least one column")
    batches = [_as_rgb_batch(column) for column in columns]
    shapes = {tuple(batch.shape) for batch in batches}
    if len(shapes) != 1:
        raise ValueError(f"image_grid columns must share one shape, got {sorted(shapes)}")
    count, _, height, width = batches[0].shape
    grid = torch.full(
        (3, count * (height + padding) + padding, len(batches) * (width + padding) + padding),
        float(pad_value),
        dtype=torch.float32,
    )
    for column, batch in enumerate(batches):
        left = padding + column * (width + padding)
        for row in range(count):
            top = padding + row * (height + padding)
            grid[:, top : top + height, left : left + width] = batch[row]
    return grid.clamp(-1, 1)


def _as_rgb_batch(batch: torch.Tensor) -> torch.Tensor:
    """A (B, 3 or 1, H, W) batch as a (B, 3, H, W) float32 CPU tensor (may be a view)."""
    if batch.dim() != 4 or batch.shape[1] not in (1, 3):
        raise ValueError(f"image_grid needs (B, 3, H, W) batches, got {tuple(batch.shape)}")
    return batch.detach().to("cpu", torch.float32).expand(-1, 3, -1, -1)
