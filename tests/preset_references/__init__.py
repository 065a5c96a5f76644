"""The reference values of every shipped preset, one module per plugin family.

Typed in from the specs (``shared/spec/*.md``) and the reference code they cite; sources: the
spec section first, then the reference file:line. ``REFERENCE`` and ``I2I_OWN`` merge the
families' tables."""

from __future__ import annotations

from typing import Any

from tests.preset_references import adm, bbdm, ddib, dg, edm, egsde, sddm
from tests.preset_references.common import File

__all__ = ["I2I_OWN", "REFERENCE", "File"]

FAMILIES = (adm, edm, dg, egsde, sddm, bbdm, ddib)

REFERENCE: dict[str, dict[str, Any]] = {
    path: values for family in FAMILIES for path, values in family.REFERENCE.items()
}
"""Each shipped preset file -> the values the reference uses."""

I2I_OWN: dict[str, set[str]] = {**dg.I2I_OWN, **ddib.I2I_OWN}
"""Preset fields that are i2i's own choice, not the reference's: their comment says so."""
