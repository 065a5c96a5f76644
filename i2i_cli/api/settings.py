"""Validated settings: pydantic models, TOML layers, ``--set`` assignments and the run record.

Layering, lowest first: model defaults < task preset < ``--config`` file < command-line flags.
A layer is a nested dict; the plugin's own settings sit at its top level and the run settings
(device, seed, output, ...) in its ``[run]`` table.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import unreachable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

M = TypeVar("M", bound=BaseModel)


class Settings(BaseModel):
    """Base of every plugin's settings: unknown keys are errors; resolved values never change.

    Every number must be finite: NaN and infinity are refused in every float field, nested ones
    included. A field where infinity means "no bound" says so with ``allow_inf_nan=True`` and a
    range that still refuses NaN (``ge=0`` does), e.g. ``KarrasChoice.s_max``.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


class SettingsError(UsageError):
    """Settings that do not validate: names the field, the bad value and what is allowed."""


def parse_toml(text: str, origin: str) -> dict[str, Any]:
    """The table a TOML document holds; a syntax error names ``origin`` and the position."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{origin} is not valid TOML: {error}") from error


def read_toml(path: Path) -> dict[str, Any]:
    """The table a TOML file holds; a missing or unreadable file is a one-line UsageError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except OSError as error:
        line = unreachable(path, "config file")
        raise UsageError(line or f"cannot read config file {path}: {error}") from error
    except UnicodeDecodeError as error:
        raise UsageError(f"cannot read config file {path}: {error}") from error
    return parse_toml(text, str(path))


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``; nested tables merge key by key, other values replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_assignment(text: str) -> dict[str, Any]:
    """The nested layer ``{"a": {"b": value}}`` of one ``--set a.b=value`` assignment.

    The value is read as a TOML value (``3``, ``0.5``, ``true``, ``[1, 2]``, ``"x"``); anything
    that is not valid TOML is taken as a plain string, so ``--set name=wild2dog`` works unquoted.
    """
    key, sep, raw = text.partition("=")
    path = [part.strip() for part in key.split(".")]
    if not sep or not all(path):
        raise UsageError(f"--set expects dotted.key=value, got {text!r}")
    try:
        value: Any = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    layer: dict[str, Any] = {path[-1]: value}
    for part in reversed(path[:-1]):
        layer = {part: layer}
    return layer


def _location(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted key (``energies.0.weight``)."""
    return ".".join(str(part) for part in loc)


def _nested_model(model: type[BaseModel], path: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The settings model at ``path`` under ``model`` (None where it is no single model)."""
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _unknown_settings(problems: list[Any], model: type[BaseModel], prefix: str) -> dict[str, str]:
    """One text per table with unknown keys, the known settings said once: by the first key."""
    tables: dict[tuple[int | str, ...], list[str]] = {}
    for problem in problems:
        if problem["type"] == "extra_forbidden":
            tables.setdefault(tuple(problem["loc"][:-1]), []).append(
                prefix + _location(problem["loc"])
            )
    texts = {}
    for parent, fields in tables.items():
        named = ", ".join(f"'{field}'" for field in fields)
        owner = _nested_model(model, parent)
        known = f" (known settings: {', '.join(owner.model_fields)})" if owner else ""
        noun = "setting" if len(fields) == 1 else "settings"
        texts[fields[0]] = f"unknown {noun} {named}{known}"
    return texts


def format_validation_error(
    error: ValidationError, model: type[BaseModel], prefix: str = ""
) -> str:
    """One line per problem: the field, the value given and what is allowed.

    Unknown keys of one table are one problem, with the known settings listed once (a
    ``run.toml`` given as ``--config`` holds many keys a plugin's settings do not).
    """
    problems = error.errors()
    unknown = _unknown_settings(problems, model, prefix)
    lines = []
    for problem in problems:
        field = prefix + _location(problem["loc"])
        if problem["type"] == "extra_forbidden":
            if field in unknown:
                lines.append(unknown[field])
        elif problem["type"] == "missing":
            lines.append(f"setting '{field}' is required")
        elif problem["type"] == "finite_number":
            given = problem["input"]
            lines.append(f"invalid setting '{field}' = {given!r}: it must be a finite number")
        else:
            allowed = problem["msg"].removeprefix("Value error, ")
            lines.append(f"invalid setting '{field}' = {problem['input']!r}: {allowed}")
    return "; ".join(lines)


def validate(model: type[M], data: Mapping[str, Any], prefix: str = "") -> M:
    """``model`` from ``data``, or a SettingsError naming what is wrong and what is allowed."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise SettingsError(format_validation_error(error, model, prefix)) from None


def _toml_key(key: str) -> str:
    """A TOML key, quoted where it is not a bare key."""
    bare = key and all(ch.isalnum() or ch in "-_" for ch in key)
    return key if bare else _toml_value(key)


def _toml_value(value: Any) -> str:
    """The TOML spelling of a scalar or an array of scalars."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | Path):
        text = str(value)
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(data: Mapping[str, Any], table: str = "") -> str:
    """A TOML document for ``data`` (scalars, then sub-tables); ``None`` values are left out."""
    scalars = []
    tables = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            scalars.append(f"{_toml_key(key)} = {_toml_value(value)}")
    parts = []
    if table and (scalars or not tables):
        parts.append(f"[{table}]")
    parts.extend(scalars)
    text = "\n".join(parts)
    for key, value in tables:
        name = f"{table}.{_toml_key(key)}" if table else _toml_key(key)
        sub = to_toml(value, name)
        text = f"{text}\n\n{sub}" if text else sub
    return text if table else text + "\n"


def dump_settings(settings: BaseModel) -> dict[str, Any]:
    """The settings as plain TOML-ready data (paths as strings, tuples as lists)."""
    return settings.model_dump(mode="json")
