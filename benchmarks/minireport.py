"""The mini-benchmark's report: a row per method, the Markdown table and the picture of outputs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from minidomains import SIZE
from minimeasure import Measurement, content_error, frechet, target_rate

DENOISERS = ("UNetModel", "BridgeUNet")
"""Module classes whose calls are the NFE (adm-unet, bbdm-unet)."""


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    method: str
    target_rate: float
    position: float
    size: float
    colour: float
    fd: float
    nfe: float | None
    images_per_s: float | None
    note: str = ""


def row_of(
    method: str,
    measured: Sequence[Measurement],
    sources: Sequence[Any],
    reference: Sequence[Measurement],
    calls: dict[str, int] | None = None,
    seconds: float | None = None,
    note: str = "",
) -> Row:
    """The table row of outputs ``measured`` (paired with source contents ``sources``)."""
    count = len(measured)
    errors = content_error([(s, m.content) for s, m in zip(sources, measured, strict=True)])
    nfe = None
    if calls is not None:
        nfe = sum(calls.get(name, 0) for name in DENOISERS) / count
    return Row(
        method,
        target_rate(measured),
        errors.position,
        errors.size,
        errors.colour,
        frechet(measured, reference),
        nfe,
        count / seconds if seconds else None,
        note,
    )


def fmt(value: float | None, digits: int = 2) -> str:
    """A table cell: a number, or a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def table(rows: Sequence[Row]) -> str:
    """The Markdown table of ``rows``."""
    head = (
        "| method | target rate | centre err (px) | size err (px) | colour err (0-255) "
        "| FD to real squares | NFE | images/s |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r.method} | {r.target_rate:.2f} | {fmt(r.position)} | {fmt(r.size)} | "
        f"{fmt(r.colour, 1)} | {fmt(r.fd, 1)} | {fmt(r.nfe, 0)} | "
        f"{fmt(r.images_per_s, 1)} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def picture(rows: Sequence[tuple[str, Sequence[np.ndarray]]], path: Path, scale: int = 4) -> None:
    """One row of images per label (upscaled by ``scale``, nearest), its name on the left."""
    from PIL import Image, ImageDraw

    cell = SIZE * scale
    pad = 2
    label_width = 120
    columns = max(len(images) for _, images in rows)
    width = label_width + columns * (cell + pad)
    height = len(rows) * (cell + pad)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows):
        y = r * (cell + pad)
        draw.text((4, y + cell // 2 - 6), label, fill=(0, 0, 0))
        for c, pixels in enumerate(images):
            tile = Image.fromarray(pixels).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (label_width + c * (cell + pad), y))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
