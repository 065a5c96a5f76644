"""How the CLI's lines count things: "1 image", "2 images", never "1 images"."""

from __future__ import annotations

IRREGULAR = {"energies": "energy"}
"""Plurals whose singular is not the plural without its final "s"."""


def singular(plural: str) -> str:
    """The singular of a plural noun: ``images`` -> ``image``, ``energies`` -> ``energy``."""
    last = plural.rsplit(" ", 1)
    word = IRREGULAR.get(last[-1], last[-1][:-1] if last[-1].endswith("s") else last[-1])
    return " ".join([*last[:-1], word])


def counted(count: int, plural: str) -> str:
    """``count`` and the noun in its number: ``counted(1, "source images")``: ``1 source image``."""
    return f"{count} {singular(plural) if count == 1 else plural}"
