"""A run folder's record, ``run.toml``: which of its settings shape the outputs, compared on rerun.

A rerun into a folder continues the run recorded there only when every setting that shapes the
outputs is the same; otherwise results made with two settings would sit side by side under one
record. Settings that leave each output as it is (where the results go, the device, the batch
size of batch-independent samplers, how many items to make) may change between reruns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from i2i_cli.api.settings import parse_toml, to_toml
from i2i_cli.base.errors import UsageError

RUN_RECORD = "run.toml"
ABOUT_TABLE = "i2i"
"""The record's table about the run itself (command, plugin, version, time)."""
RUN_TABLE = "run"

KEEPS_OUTPUTS = "keeps_outputs"
"""``Field(json_schema_extra={"keeps_outputs": True})`` marks a plugin setting that a rerun into
the same folder may change: it leaves every output as it is (e.g. which seeds to draw)."""

RUN_FIELDS_KEEPING_OUTPUTS = frozenset(
    {"output", "device", "batch_size", "overwrite", "strict", "num_samples", "resume"}
)
"""Run settings a rerun may change: results are per item and batch-independent (each item draws
its noise from (seed, key)), so neither where they go, the device, the batch size, the number of
items asked for nor the resume flags change an output already made."""

UNFINISHED = "unfinished"
"""``[i2i] unfinished = true``: the record of an ``--overwrite`` run that has not ended yet."""

IDENTITY = ("command", "plugin")
"""What the ``[i2i]`` table contributes to the comparison: which command and plugin ran."""

_SHOWN = 4
_WIDTH = 60


def changed_settings(
    saved: Mapping[str, Any], current: Mapping[str, Any], allowed: frozenset[str]
) -> list[str]:
    """Names of the settings, outside ``allowed``, whose values differ between two runs."""
    names = sorted(set(saved) | set(current))
    return [n for n in names if n not in allowed and saved.get(n) != current.get(n)]


def kept_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of a settings model marked ``keeps_outputs`` (a rerun may change them)."""
    kept = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(KEEPS_OUTPUTS) is True:
            kept.add(name)
    return frozenset(kept)


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{dotted.key: value}`` of nested tables; lists (arrays of tables too) stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def shaping_settings(record: Mapping[str, Any], kept: frozenset[str]) -> dict[str, Any]:
    """The settings of a run record that shape its outputs, as dotted keys.

    The plugin's settings except those in ``kept`` (and what lies under them), the run settings
    except ``RUN_FIELDS_KEEPING_OUTPUTS``, and the command and plugin that ran.
    """
    about = record.get(ABOUT_TABLE, {})
    about = about if isinstance(about, Mapping) else {}
    shaping = {f"{ABOUT_TABLE}.{key}": about.get(key) for key in IDENTITY}
    run_kept = {f"{RUN_TABLE}.{name}" for name in RUN_FIELDS_KEEPING_OUTPUTS}
    skipped = kept | run_kept
    for key, value in flatten({k: v for k, v in record.items() if k != ABOUT_TABLE}).items():
        if not any(key == name or key.startswith(f"{name}.") for name in skipped):
            shaping[key] = value
    return shaping


def read_record(folder: Path) -> dict[str, Any] | None:
    """The record in ``folder`` (None when there is none); an unreadable one is a UsageError."""
    path = Path(folder) / RUN_RECORD
    if not os.path.lexists(path):
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"cannot read the run record {path}: {reason}") from None
    return parse_toml(text, f"the run record {path}")


def record_differences(
    folder: Path, record: Mapping[str, Any], kept: frozenset[str]
) -> list[str] | None:
    """How the record in ``folder`` differs from ``record`` (``name: old -> new`` each).

    None when ``folder`` holds no record, or nothing besides it (a run that stopped before
    making anything); an empty list when every setting that shapes the outputs is the same. A
    record that cannot be read is one difference saying so. ``record`` is compared as it would
    be read back from its TOML file.
    """
    if not holds_outputs(folder):
        return None
    try:
        previous = read_record(folder)
    except UsageError as error:
        return [str(error)]
    if previous is None:
        return None
    now = parse_toml(to_toml(record), RUN_RECORD)
    before, after = shaping_settings(previous, kept), shaping_settings(now, kept)
    differences = [
        change_text(name, before.get(name), after.get(name))
        for name in changed_settings(before, after, frozenset())
    ]
    about = previous.get(ABOUT_TABLE)
    if isinstance(about, Mapping) and about.get(UNFINISHED) is True:
        differences.insert(0, "an --overwrite run into it did not finish, its outputs mix two runs")
    return differences


def mark_unfinished(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` marked as the record of a run that has not finished redoing its outputs."""
    about = dict(record.get(ABOUT_TABLE, {}))
    about[UNFINISHED] = True
    return {**record, ABOUT_TABLE: about}


def holds_outputs(folder: Path) -> bool:
    """Whether ``folder`` holds anything besides its record (hidden temporary files aside)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return any(name != RUN_RECORD and not name.startswith(".") for name in names)


def describe(differences: list[str], count: int = _SHOWN) -> str:
    """The first ``count`` differences on one line, then how many more there are."""
    shown = "; ".join(differences[:count])
    more = f"; and {len(differences) - count} more" if len(differences) > count else ""
    return shown + more


def change_text(name: str, before: Any, after: Any, width: int = _WIDTH) -> str:
    """``name: old -> new``, each value cut to ``width`` characters."""
    return f"{name}: {_shown(before, width)} -> {_shown(after, width)}"


def _shown(value: Any, width: int = _WIDTH) -> str:
    """A recorded value as the user would write it, cut to ``width`` characters; absent: unset."""
    if value is None:
        return "unset"
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = str(value).lower()
    return text if len(text) <= width else text[: width - 3] + "..."
