"""mkdocs hook: the docs' generated parts, from the code itself, at build time.

A page asks for a generated part with a marker on a line of its own:

- ``<!-- i2i:settings KIND/NAME -->``: the settings table of a registered plugin (field, flag,
  type and range, default, description), from its pydantic settings model;
- ``<!-- i2i:tasks KIND/NAME -->``: the plugin's task presets (``--task``), each with the first
  line of its TOML comment and the values it sets;
- ``<!-- i2i:run COMMAND -->``: the run options of ``translate``, ``sample``, ``train`` or
  ``evaluate`` (``--seed``, ``--device``, ...), from their run settings model;
- ``<!-- i2i:plugins -->``: every registered plugin by kind, with its summary and distribution;
- ``<!-- i2i:cli -->``: the reference of every command, walked from the Typer app.

Pictures under ``benchmarks/`` are served as ``images/...`` without a copy in ``docs/``, and the
mini-benchmark's picture is cut into one strip per method (``images/minibench-<name>.png``).
An unknown marker, plugin or picture row fails the build.
"""

from __future__ import annotations

import enum
import html
import io
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- i2i:(\w+)(?: ([\w/.-]+))? -->$", re.MULTILINE)

# ---------------------------------------------------------------------------------------------
# Markdown table cells


def cell(text: str | None) -> str:
    """``text`` safe inside a Markdown table cell: HTML escaped, pipes and newlines removed."""
    return html.escape(" ".join(str(text or "").split()), quote=False).replace("|", "\\|")


def code(text: str) -> str:
    """``text`` as inline code inside a table cell (a pipe shown as a look-alike)."""
    text = " ".join(str(text).split())
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    return f"{fence}{text.replace('|', chr(0x2223))}{fence}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table of already escaped cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Settings tables from the pydantic models


def type_name(annotation: Any) -> str:
    """A reader's name for a field's type: ``int``, ``str or none``, ``one of fp32, bf16``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return type_name(typing.get_args(annotation)[0])
    if annotation is None or annotation is type(None):
        return "none"
    if origin is Literal:
        return "one of " + ", ".join(str(arg) for arg in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in typing.get_args(annotation))
    if origin in (list, tuple, set, frozenset):
        inner = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        return f"list of {type_name(inner[0])}" if inner else "list"
    if origin is dict or annotation is dict:
        return "table"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def plain(value: Any) -> Any:
    """``value`` as plain data: models dumped, enums by value, paths as strings."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def value_text(value: Any) -> str:
    """A value as a TOML settings file writes it."""
    from i2i_cli.api.settings import to_toml

    value = plain(value)
    if value == [] or value == {}:
        return "[]" if isinstance(value, list) else "{}"
    text = to_toml({"x": value}).strip()
    if text.startswith("x = "):
        return text[len("x = ") :]
    return " ".join(text.replace("[x]", "").split())


def default_text(info: FieldInfo) -> str:
    """The field's default, ``none``, or ``required``."""
    default = info.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        return "required"
    if default is None:
        return "none"
    return code(value_text(default))


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a table field holds (``X`` or ``X | None``), else None."""
    if typing.get_origin(annotation) in (list, tuple, set, frozenset, dict):
        return None
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def settings_rows(model: type[BaseModel], prefix: str = "") -> list[list[str]]:
    """One row per field of ``model`` (tables expanded to ``table.field``), with its flag."""
    from i2i_cli.cli.options import describe_range, flags_for

    flags = {flag.field: flag.flag for flag in flags_for(model)} if not prefix else {}
    rows = []
    for name, info in model.model_fields.items():
        dotted = prefix + name
        inner = nested_model(info.annotation)
        if inner is not None:
            rows += settings_rows(inner, dotted + ".")
            continue
        flag = flags.get(name)
        is_table = typing.get_origin(info.annotation) is dict or info.annotation is dict
        where = code(flag or f"--set {dotted}{'.KEY' if is_table else ''}=VALUE")
        kind = type_name(info.annotation)
        bounds = describe_range(info)
        if bounds:
            kind += f", {bounds}"
        rows.append([code(dotted), where, cell(kind), default_text(info), cell(info.description)])
    return rows


def settings_table(model: type[BaseModel]) -> str:
    """The settings table of one model."""
    header = ["setting", "flag", "type", "default", "description"]
    return table(header, settings_rows(model))


def load_plugin(path: str) -> Any:
    """The descriptor registered as ``KIND/NAME`` (e.g. ``methods/egsde``)."""
    from i2i_cli.api.registry import Registry

    kind, _, name = path.partition("/")
    registry = Registry.discover()
    if name not in registry.names(kind):
        raise ValueError(f"no {kind} plugin named '{name}' (known: {registry.names(kind)})")
    return registry.load(kind, name)


# ---------------------------------------------------------------------------------------------
# Task presets


def first_comment(text: str) -> str:
    """The first comment line of a preset, without its ``#``."""
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def preset_values(data: dict[str, Any], prefix: str = "") -> list[str]:
    """``key = value`` for each value a preset sets; a list of tables by its names."""
    from i2i_cli.cli.commands.resolve import RECORD_TABLE

    parts = []
    for key, value in data.items():
        if not prefix and key == RECORD_TABLE:
            continue
        if isinstance(value, dict):
            parts += preset_values(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            names = ", ".join(str(item.get("name", "?")) for item in value)
            parts.append(f"{prefix}{key} = [{names}]")
        else:
            parts.append(f"{prefix}{key} = {value_text(value)}")
    return parts


def tasks_table(descriptor: Any) -> str:
    """The task presets of a plugin: name, what it is, what it sets."""
    from i2i_cli.api.settings import parse_toml
    from i2i_cli.cli.commands.resolve import task_presets

    presets = task_presets(descriptor.presets)
    if not presets:
        return "*(No task presets: every setting starts at its default.)*"
    rows = []
    for name, resource in presets.items():
        text = resource.read_text(encoding="utf-8")
        values = preset_values(parse_toml(text, f"task preset '{name}'"))
        sets = "<br>".join(code(part) for part in values)
        rows.append([code(name), cell(first_comment(text)), sets])
    return table(["`--task`", "what it is", "what it sets"], rows)


def run_table(command: str) -> str:
    """The run options of one plugin command, from its run settings model."""
    from i2i_cli.cli.commands import capability as capabilities

    capability = getattr(capabilities, command.upper(), None)
    if not isinstance(capability, capabilities.Capability):
        raise ValueError(f"'{command}' is not a plugin command (translate, sample, ...)")
    return settings_table(capability.run_model)


def plugins_table() -> str:
    """Every registered plugin by kind: name, summary, distribution and entry point."""
    from i2i_cli.api.registry import KINDS, Registry

    registry = Registry.discover()
    sections = []
    for kind in KINDS:
        rows = []
        for name in registry.names(kind):
            entry = registry.entry(kind, name)
            summary = getattr(registry.load(kind, name), "summary", "")
            rows.append([code(name), cell(summary), cell(entry.origin), code(entry.target)])
        header = ["name", "summary", "distribution", "entry point"]
        sections.append(f"## {kind} (`i2i.{kind}`)\n\n" + table(header, rows))
    return "\n\n".join(sections)


# ---------------------------------------------------------------------------------------------
# The CLI reference, walked from the Typer app


def command_section(command: Any, ctx: Any, path: str) -> list[str]:
    """The reference of one command and, for a group, of each of its subcommands."""
    if getattr(command, "hidden", False):
        return []
    depth = min(path.count(" ") + 1, 4)
    lines = [f"{'#' * depth} `{path}`", ""]
    if command.help:
        lines += [cell(command.help), ""]
    usage = " ".join([path, *command.collect_usage_pieces(ctx)])
    lines += ["```text", usage, "```", ""]
    rows = []
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        group = getattr(param, "rich_help_panel", None) or ""
        rows.append([code(record[0]), cell(record[1]), cell(group)])
    if rows:
        lines += [table(["option", "meaning", "group"], rows), ""]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None:
                continue
            sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
            lines += command_section(sub, sub_ctx, f"{path} {name}")
    return lines


def cli_reference() -> str:
    """Every ``i2i`` command with its usage and options, as the Typer app declares them."""
    import typer

    from i2i_cli.cli.app import app

    root = typer.main.get_command(app)
    ctx = root.make_context("i2i", [], resilient_parsing=True)
    return "\n".join(command_section(root, ctx, "i2i"))


# ---------------------------------------------------------------------------------------------
# Pictures

PICTURES = {
    "images/moons2squares.png": ROOT / "benchmarks" / "moons2squares.png",
    "images/minibench.png": ROOT / "benchmarks" / "minibench.png",
}
"""Pictures the docs show from where the benchmarks write them: docs path -> file."""

MINIBENCH_ROWS = ("source", "ideal", "sdedit", "egsde", "ilvr", "ddib", "sddm", "sde-bbdm",
                  "dg-w0", "dg-w2")  # fmt: skip
"""The rows of ``benchmarks/minibench.png``, top to bottom (``benchmarks/minibench.py``)."""

STRIPS = {
    "sdedit": ("source", "sdedit"),
    "egsde": ("source", "egsde"),
    "ilvr": ("source", "ilvr"),
    "ddib": ("source", "ddib"),
    "sddm": ("source", "sddm"),
    "sde-bbdm": ("source", "sde-bbdm"),
    "edm": ("dg-w0",),
    "dg": ("dg-w0", "dg-w2"),
}
"""``images/minibench-<name>.png``: the rows of the mini-benchmark's picture it shows."""


def minibench_strip(rows: tuple[str, ...]) -> bytes:
    """The named rows of the mini-benchmark's picture, stacked, as PNG bytes."""
    from PIL import Image

    picture = Image.open(PICTURES["images/minibench.png"]).convert("RGB")
    step, rest = divmod(picture.height, len(MINIBENCH_ROWS))
    if rest:
        raise ValueError(
            f"benchmarks/minibench.png is {picture.height} px high, not {len(MINIBENCH_ROWS)} "
            "equal rows: update MINIBENCH_ROWS in docs/hooks/i2i_docs.py"
        )
    strip = Image.new("RGB", (picture.width, step * len(rows)), (255, 255, 255))
    for i, name in enumerate(rows):
        top = MINIBENCH_ROWS.index(name) * step
        strip.paste(picture.crop((0, top, picture.width, top + step)), (0, i * step))
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# mkdocs events


def on_files(files: Any, config: Any) -> Any:
    """Add the benchmarks' pictures and the mini-benchmark strips to the site's files."""
    from mkdocs.structure.files import File

    for uri, path in PICTURES.items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    for name, rows in STRIPS.items():
        content = minibench_strip(rows)
        files.append(File.generated(config, f"images/minibench-{name}.png", content=content))
    return files


def expand(kind: str, argument: str | None) -> str:
    """The generated Markdown of one marker."""
    if kind == "settings" and argument:
        return settings_table(load_plugin(argument).settings)
    if kind == "tasks" and argument:
        return tasks_table(load_plugin(argument))
    if kind == "run" and argument:
        return run_table(argument)
    if kind == "plugins" and argument is None:
        return plugins_table()
    if kind == "cli" and argument is None:
        return cli_reference()
    raise ValueError(f"unknown docs marker <!-- i2i:{kind} {argument or ''} -->")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each ``<!-- i2i:... -->`` marker of a page with what it asks for."""
    return MARKER.sub(lambda match: expand(match.group(1), match.group(2)), markdown)
