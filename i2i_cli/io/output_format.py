"""How a translate run names and encodes its results: ``<key>.png``, or the source's own format.

``png`` (the default) writes every result losslessly as ``<key>.png``. ``source`` writes each
result under its source's file name, suffix included (``cat/001.jpg`` -> ``cat/001.jpg``), in the
format that suffix names with Pillow's defaults: a ``.jpg`` source gives a JPEG at quality 75.
That is what EGSDE's runner does (it hands ``save_image`` the source's name, egsde.md pitfall 11),
so metrics computed on such a folder follow that paper's protocol. Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

OutputFormat = Literal["png", "source"]
"""``png``: ``<key>.png``, lossless; ``source``: the source's name and format (Pillow defaults)."""

OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("png", "source")

PNG_SUFFIX = ".png"

JPEG_DEFAULT_QUALITY = 75
"""The quality Pillow (libjpeg) writes a JPEG with when none is given, as ``save_image`` does."""


def output_suffix(source: Path, output_format: OutputFormat = "png") -> str:
    """The suffix of the result made from ``source``: ``.png``, or the source's own (case kept).

    A source without a suffix (a sampling run's keys) is written as PNG in either format.
    """
    if output_format == "source" and Path(source).suffix:
        return Path(source).suffix
    return PNG_SUFFIX


def describe_output_format(output_format: OutputFormat) -> str:
    """One phrase for the run's log: where and how the results are written."""
    if output_format == "source":
        return (
            "each result under its source's name and format (Pillow defaults: a .jpg source "
            f"gives a JPEG at quality {JPEG_DEFAULT_QUALITY})"
        )
    return "each result as <source name>.png (lossless)"
