"""Command-line flags generated from a settings model: type, default, range and help per field."""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

FLAG_TYPES: tuple[type, ...] = (bool, int, float, str, Path)
"""Field types that become flags; other fields (tables, lists) are set with --set or --config."""

REPEATABLE_FLAG = "cli_flag"
"""``Field(json_schema_extra={"cli_flag": "--energy"})`` gives a list field a repeatable flag
whose strings the field's own validator parses (e.g. ``--energy dse:weight=500``)."""


@dataclass(frozen=True)
class Flag:
    """One generated flag: the field it sets, its Python type and its help text."""

    field: str
    param: str
    flag: str
    python_type: Any
    help: str


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None`` in a union, and whether ``None`` was allowed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _choices(annotation: Any) -> list[str] | None:
    """The allowed values of a Literal or Enum annotation, as strings."""
    if typing.get_origin(annotation) is Literal:
        return [str(arg) for arg in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return None


def flag_type(annotation: Any) -> type | None:
    """The Python type a flag for this annotation parses, or None when it gets no flag."""
    inner, _ = _unwrap_optional(annotation)
    if _choices(inner) is not None:
        return str
    if isinstance(inner, type) and issubclass(inner, FLAG_TYPES):
        for kind in FLAG_TYPES:
            if issubclass(inner, kind):
                return kind
    return None


def describe_range(info: FieldInfo) -> str | None:
    """The numeric bounds of a field, e.g. ``1 <= x <= 1000``, or None when unbounded."""
    low = high = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"{item.ge} <="
        elif isinstance(item, annotated_types.Gt):
            low = f"{item.gt} <"
        elif isinstance(item, annotated_types.Le):
            high = f"<= {item.le}"
        elif isinstance(item, annotated_types.Lt):
            high = f"< {item.lt}"
    if low is None and high is None:
        return None
    return " ".join(part for part in (low, "x", high) if part)


def describe_field(info: FieldInfo) -> str:
    """Help text for a field: its description, allowed values or range, and default."""
    parts = [info.description or ""]
    inner, optional = _unwrap_optional(info.annotation)
    choices = _choices(inner)
    if choices:
        parts.append(f"One of: {', '.join(choices)}.")
    bounds = describe_range(info)
    if bounds:
        parts.append(f"Range: {bounds}.")
    default = info.get_default(call_default_factory=True)
    if isinstance(default, enum.Enum):
        default = default.value
    if default is not None and not isinstance(default, BaseModel):
        parts.append(f"Default: {default}.")
    elif optional:
        parts.append("Default: none.")
    return " ".join(part for part in parts if part)


def repeatable_flag(info: FieldInfo) -> str | None:
    """The repeatable flag a list field asked for (``cli_flag``), or None."""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get(REPEATABLE_FLAG), str):
        return str(extra[REPEATABLE_FLAG])
    return None


def flags_for(model: type[BaseModel], reserved: frozenset[str] = frozenset()) -> list[Flag]:
    """The flags of every scalar field of ``model``; a name in ``reserved`` is a ValueError."""
    flags = []
    for name, info in model.model_fields.items():
        repeatable = repeatable_flag(info)
        kind: Any = list[str] if repeatable else flag_type(info.annotation)
        if kind is None:
            continue
        if name in reserved:
            raise ValueError(f"setting '{name}' clashes with a built-in option of the same name")
        help_text = describe_field(info)
        if repeatable:
            help_text = f"{info.description or ''} Repeatable; replaces the preset's list."
        flags.append(
            Flag(
                field=name,
                param=f"opt_{name}",
                flag=repeatable or "--" + name.replace("_", "-"),
                python_type=kind,
                help=help_text,
            )
        )
    return flags
