"""Every shipped preset gives the reference's values, and every field says where it comes from.

``REFERENCE`` holds, for each preset file i2i ships (backbone presets and the task presets of
methods and trainers), the values the reference uses. They are typed in from the specs
(``shared/spec/*.md``) and, where a spec is silent, from the reference code it cites; they are
not read or copied from the presets. Each value is compared with what the registry resolves for
that preset (defaults < preset, as ``i2i`` runs it), so a wrong preset value, or a changed
default the preset relies on, fails here. A preset without an entry fails too.

Each field line of a preset carries a comment saying where its value comes from (``file:line``
in the reference, a spec section, a paper table), or, for the few fields that are i2i's own
choice, saying so.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from i2i_cli.api.registry import Registry
from i2i_cli.api.settings import dump_settings
from i2i_cli.checkpoints.index import shipped_manifests
from i2i_cli.checkpoints.manifest import read_manifest
from i2i_cli.cli.commands.capability import SAMPLE, TRAIN, TRANSLATE
from i2i_cli.cli.commands.resolve import resolve
from i2i_cli.networks.backbones import backbone_settings
from i2i_cli.run.energy_terms import validate_energy_settings
from tests.preset_references import I2I_OWN, REFERENCE, File

ROOT = Path(__file__).resolve().parents[1]
PRESET_GLOBS = (
    "plugins/*/presets/*.toml",
    "plugins/*/*_presets/*.toml",
    "plugins/*/tasks/*/*.toml",
)
"""Where plugins ship presets: backbone presets (``presets/``, ``<kind>_presets/``) and task
presets (``tasks/<command>/``)."""


# ---------------------------------------------------------------------------------------------
# Resolving a shipped preset through the registry.


@cache
def registry() -> Registry:
    return Registry.discover()


@cache
def owners() -> dict[Path, list[tuple[str, str]]]:
    """Each preset folder -> the (kind, name) of the plugins that read it."""
    found: dict[Path, list[tuple[str, str]]] = {}
    for kind in ("backbones", "methods", "trainers"):
        for name in registry().names(kind):
            package = getattr(registry().load(kind, name), "presets", None)
            if package is not None:
                folder = Path(str(resources.files(package))).resolve()
                found.setdefault(folder, []).append((kind, name))
    return found


@cache
def artifact_files() -> dict[str, str]:
    """Each shipped checkpoint artifact -> the file name it downloads."""
    files: dict[str, str] = {}
    for source in shipped_manifests(registry()):
        files.update({name: a.file for name, a in read_manifest(source).items()})
    return files


def shipped_presets() -> list[str]:
    return sorted({str(p.relative_to(ROOT)) for g in PRESET_GLOBS for p in ROOT.glob(g)})


def flat(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"a": {"b": [x]}}`` as ``("a.b", [x])``; lists of tables are indexed (``energy.0``)."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from flat(value, f"{prefix}{key}.")
    elif isinstance(data, list) and data and all(isinstance(v, Mapping) for v in data):
        for index, value in enumerate(data):
            yield from flat(value, f"{prefix}{index}.")
    else:
        yield prefix[:-1], data


def resolved(path: str) -> dict[str, Any]:
    """The settings ``i2i`` runs preset ``path`` with, flattened (energies fully validated)."""
    file = ROOT / path
    (kind, name), *_ = owners()[file.parent.resolve()]
    descriptor = registry().load(kind, name)
    if kind == "backbones":
        _, settings = backbone_settings(name, file.stem, registry=registry())
        return dict(flat(dump_settings(settings)))
    if kind == "trainers":
        capability = TRAIN
    else:
        capability = TRANSLATE if descriptor.translate is not None else SAMPLE
    run = resolve(
        capability, name, descriptor, task=file.stem, config=None, assignments=[], flags={}
    )
    data = dump_settings(run.settings)
    data["run"] = dump_settings(run.run)
    terms = getattr(run.settings, "energy", None)
    if terms:
        energies = validate_energy_settings(terms, registry())
        data["energy"] = [
            {"name": t.name, "weight": t.weight, **dump_settings(s)}
            for t, s in zip(terms, energies, strict=True)
        ]
    return dict(flat(data))


def differences(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """One line per reference value the resolved settings do not give."""
    lines = []
    for key, want in flat(expected):
        if key not in actual:
            lines.append(f"{key}: absent (reference: {want!r})")
            continue
        got = actual[key]
        if isinstance(want, File):
            got_file = artifact_files().get(got) if isinstance(got, str) else None
            if got_file != want.name:
                lines.append(f"{key}: {got!r} is {got_file!r}, the reference's is {want.name!r}")
        elif got != want or isinstance(got, bool) != isinstance(want, bool):
            lines.append(f"{key}: {got!r}, the reference's is {want!r}")
    return lines


# ---------------------------------------------------------------------------------------------
# Citations.

CITATION = re.compile(r"\.\w+(?:@\w+)?:\d|§\s?\d|\.md \d|\bTable \d|\bpitfall \d")
"""A source: ``file.py:12`` (``README.md@ae1a69d:121``), a spec section, a paper table."""

I2I_MARK = re.compile(r"\bi2i's (?:own|choice|addition)\b")
"""How a comment says a field is i2i's own choice."""


def comment_of(line: str) -> str | None:
    """The comment at the end of a TOML line (``#`` outside strings), or None."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[index + 1 :].strip()
    return None


def uncited_fields(text: str, own: Collection[str] = ()) -> list[str]:
    """The fields of preset ``text`` whose comments name no source (``own``: i2i's own).

    A field's comment is the one at the end of its line, continued by comment lines just below
    it that are indented or end its group (a blank line, a table or the end follows); a field
    with none at the end of its line may have it just above instead, unless that opens the file.
    """
    lines = text.splitlines()
    kinds = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            kinds.append("blank")
        elif stripped.startswith("#"):
            kinds.append("comment")
        elif stripped.startswith("["):
            kinds.append("table")
        else:
            kinds.append("field")
    missing, table = [], ""
    for index, line in enumerate(lines):
        if kinds[index] == "table":
            table = line.split("#", 1)[0].strip().strip("[]").strip() + "."
        if kinds[index] != "field":
            continue
        key = table + line.split("=", 1)[0].strip()
        trailing = comment_of(line)
        parts = [trailing or ""]
        below = index + 1
        while below < len(lines) and kinds[below] == "comment":
            below += 1
        block = lines[index + 1 : below]
        ends_group = below == len(lines) or kinds[below] in ("blank", "table")
        if block and (ends_group or all(b[:1].isspace() for b in block)):
            parts += [b.strip() for b in block]
        above = index
        while above > 0 and kinds[above - 1] == "comment":
            above -= 1
        if trailing is None and above > 0:
            parts += [b.strip() for b in lines[above:index]]
        said = " ".join(parts)
        if not (I2I_MARK if key in own else CITATION).search(said):
            missing.append(key)
    return missing


# ---------------------------------------------------------------------------------------------
# The promises.


def test_every_shipped_preset_has_reference_values() -> None:
    assert shipped_presets(), "no preset found: is the repository layout still plugins/*/...?"
    assert [path for path in shipped_presets() if path not in REFERENCE] == []


def test_every_shipped_preset_is_read_by_a_registered_plugin() -> None:
    assert [p for p in shipped_presets() if (ROOT / p).parent.resolve() not in owners()] == []


@pytest.mark.parametrize("path", shipped_presets())
def test_preset_gives_the_reference_values(path: str) -> None:
    assert differences(REFERENCE.get(path, {}), resolved(path)) == []


@pytest.mark.parametrize("path", shipped_presets())
def test_every_preset_field_cites_its_source(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    assert uncited_fields(text, I2I_OWN.get(path, ())) == []


def test_a_value_other_than_the_reference_is_reported() -> None:
    actual = resolved("plugins/i2i_egsde/tasks/egsde/cat2dog.toml")
    assert differences(REFERENCE["plugins/i2i_egsde/tasks/egsde/cat2dog.toml"], actual) == []
    wrong = {**actual, "start_step": 400, "energy.0.checkpoint": "egsde_wild2dog_dse"}
    assert differences(REFERENCE["plugins/i2i_egsde/tasks/egsde/cat2dog.toml"], wrong) == [
        "start_step: 400, the reference's is 500",
        "energy.0.checkpoint: 'egsde_wild2dog_dse' is 'wild2dog_dse.pt', the reference's is "
        "'cat2dog_dse.pt'",
    ]


def test_a_field_without_a_source_is_reported() -> None:
    text = "\n".join(
        [
            "# header: egsde.md §2 (does not cite the fields below it)",
            "steps = 18",
            "w1 = 2.0  # --dg_weight_1st_order default (generate.py:125)",
            "boosting = false  # no boosting",
            "",
            "[run]",
            "# --batch default (generate.py:100)",
            "batch_size = 100",
            "cycle = true  # i2i's addition",
        ]
    )
    assert uncited_fields(text) == ["steps", "boosting", "run.cycle"]
    assert uncited_fields(text, {"run.cycle"}) == ["steps", "boosting"]
