"""Settings that contradict each other: one line naming the clash, before any work is done.

A settings class lists its clashes as ``Conflict`` pairs and checks them in a model validator::

    @model_validator(mode="after")
    def _no_conflicts(self) -> MySettings:
        return check_conflicts(self, CONFLICTS)

The ``SettingsError`` it raises passes through pydantic unchanged (it is not a ``ValueError``),
so the user sees exactly the line below, with the flags spelled as the command line has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from i2i_cli.api.settings import SettingsError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Conflict:
    """Two settings that cannot both be given, and why (what each one means)."""

    first: str
    second: str
    why: str


def flag_of(field: str) -> str:
    """The flag of a settings field: ``source_checkpoint`` -> ``--source-checkpoint``."""
    return "--" + field.replace("_", "-")


def is_given(value: Any) -> bool:
    """Whether a setting was given a value: not None, False, an empty string or collection."""
    return value is not None and value is not False and value != "" and value != [] and value != {}


def check_conflicts(settings: M, conflicts: Sequence[Conflict]) -> M:
    """``settings`` unchanged; the first clash among ``conflicts`` -> SettingsError naming it."""
    for conflict in conflicts:
        if is_given(getattr(settings, conflict.first)) and is_given(
            getattr(settings, conflict.second)
        ):
            raise SettingsError(
                f"{flag_of(conflict.first)} and {flag_of(conflict.second)} cannot be combined: "
                f"{conflict.why}"
            )
    return settings
