"""Weights shipped inside an installed package, named ``package:<dotted.package>/<file>``.

A method reads such a file wherever the command runs (``package:i2i_ddib.models/moons.pt``),
without knowing where the package was installed and without importing it: the name is resolved
with ``importlib.resources``. Where the package holds a ``manifest.toml`` that lists the file
(any table with ``file`` and ``sha256``), its sha256 is checked before every load, so a damaged
install fails with one line instead of sampling from broken weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from i2i_cli.api.settings import parse_toml
from i2i_cli.base.errors import I2IError, UsageError

PREFIX = "package:"
MANIFEST = "manifest.toml"


def is_package_reference(reference: str) -> bool:
    """Whether a checkpoint reference names a file shipped in a package."""
    return reference.startswith(PREFIX)


def package_file(reference: str) -> Path:
    """The file ``package:<package>/<file>`` names, its sha256 checked where listed."""
    package, _, name = reference.removeprefix(PREFIX).partition("/")
    if not package or not name:
        raise UsageError(f"checkpoint {reference}: expected package:<dotted.package>/<file>")
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise UsageError(f"checkpoint {reference}: no installed package {package}") from None
    path = Path(str(root / name))
    if not path.is_file():
        raise UsageError(f"checkpoint {reference}: package {package} holds no file {name}")
    expected = listed_sha256(root / MANIFEST, name)
    if expected is not None:
        check_sha256(path, expected)
    return path


def listed_sha256(manifest: Any, name: str) -> str | None:
    """The sha256 a package's manifest gives file ``name`` (None: no manifest or no entry)."""
    if not manifest.is_file():
        return None
    table = parse_toml(manifest.read_text(encoding="utf-8"), str(manifest))
    for entry in tables(table):
        if entry.get("file") == name and isinstance(entry.get("sha256"), str):
            return str(entry["sha256"])
    return None


def tables(table: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every table nested in ``table``, itself included."""
    yield table
    for value in table.values():
        if isinstance(value, Mapping):
            yield from tables(value)


def check_sha256(path: Path, expected: str) -> None:
    """One line when the file's sha256 is not the manifest's (reinstall the package)."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise I2IError(f"bundled file {path} cannot be read: {error}") from error
    if digest != expected:
        raise I2IError(
            f"bundled file {path} is damaged (sha256 {digest[:12]}..., manifest "
            f"{expected[:12]}...); reinstall i2i"
        )
