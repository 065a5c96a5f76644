"""Plugin discovery through entry points: found without importing, loaded on first use.

Every plugin, first-party or third-party, registers in one of the entry-point groups below;
the core has no list of plugins. A plugin that fails to import is reported, not fatal:
only the command that needs it fails, with one clear line.
"""

from __future__ import annotations

import importlib.metadata as metadata
from dataclasses import dataclass, field
from typing import Any

from i2i_cli.api.plugin import Descriptor, one_line
from i2i_cli.base.errors import PluginError
from i2i_cli.base.wording import singular

KINDS: tuple[str, ...] = ("methods", "backbones", "energies", "metrics", "trainers", "checkpoints")
"""Plugin kinds; kind ``k`` is the entry-point group ``i2i.k``."""


def group_of(kind: str) -> str:
    """The entry-point group name of a plugin kind."""
    return f"i2i.{kind}"


@dataclass(frozen=True)
class PluginEntry:
    """One registered plugin as its distribution declares it, not yet imported."""

    kind: str
    name: str
    target: str
    distribution: str
    version: str
    entry_point: metadata.EntryPoint = field(repr=False, compare=False)

    @property
    def origin(self) -> str:
        """The distribution and version that registered the plugin, e.g. ``i2i 0.1.0``."""
        return f"{self.distribution} {self.version}"


def _origin_of(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    """The name and version of the distribution that declared an entry point (``?`` if none)."""
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "?", "?"
    found = dist.metadata
    return found["Name"], found["Version"]


def _entry_from(
    kind: str, entry_point: metadata.EntryPoint, origin: tuple[str, str]
) -> PluginEntry:
    """A ``PluginEntry`` for one entry point, naming the distribution that declared it."""
    return PluginEntry(
        kind=kind,
        name=entry_point.name,
        target=entry_point.value,
        distribution=origin[0],
        version=origin[1],
        entry_point=entry_point,
    )


@dataclass(frozen=True)
class Registry:
    """Every registered plugin by kind and name; ``load`` imports one on demand."""

    entries: dict[str, dict[str, tuple[PluginEntry, ...]]]

    @classmethod
    def discover(cls) -> Registry:
        """Read the entry points of every installed distribution, importing none of them."""
        entries: dict[str, dict[str, tuple[PluginEntry, ...]]] = {}
        installed = metadata.entry_points()
        origins: dict[int, tuple[str, str]] = {}  # a distribution's METADATA is parsed once
        for kind in KINDS:
            by_name: dict[str, tuple[PluginEntry, ...]] = {}
            for entry_point in installed.select(group=group_of(kind)):
                dist = getattr(entry_point, "dist", None)
                if id(dist) not in origins:
                    origins[id(dist)] = _origin_of(entry_point)
                entry = _entry_from(kind, entry_point, origins[id(dist)])
                same = by_name.get(entry.name, ())
                if all(other.distribution != entry.distribution for other in same):
                    by_name[entry.name] = (*same, entry)
            entries[kind] = dict(sorted(by_name.items()))
        return cls(entries)

    def names(self, kind: str) -> list[str]:
        """The registered names of one kind, sorted."""
        return list(self._kind(kind))

    def all_entries(self) -> list[PluginEntry]:
        """Every registered plugin, duplicates included, in kind then name order."""
        return [e for kind in KINDS for same in self._kind(kind).values() for e in same]

    def entry(self, kind: str, name: str) -> PluginEntry:
        """The single registration of ``name``; unknown or doubly registered -> PluginError."""
        registered = self._kind(kind)
        if name not in registered:
            known = ", ".join(registered) or "none"
            raise PluginError(f"no {singular(kind)} plugin named '{name}' (registered: {known})")
        same = registered[name]
        if len(same) > 1:
            origins = " and ".join(e.origin for e in same)
            raise PluginError(
                f"{singular(kind)} '{name}' is registered by two distributions: {origins}"
            )
        return same[0]

    def load(self, kind: str, name: str) -> Any:
        """Import and return the object a plugin registered; any failure -> one-line PluginError.

        A descriptor comes back named for its registration (``method 'egsde'``), so a function
        reference of it that does not import says which plugin names it.
        """
        entry = self.entry(kind, name)
        try:
            loaded = entry.entry_point.load()
        except Exception as error:
            raise PluginError(
                f"{singular(kind)} plugin '{name}' ({entry.origin}, {entry.target}) "
                f"failed to load: "
                f"{one_line(error)}"
            ) from error
        if isinstance(loaded, Descriptor):
            return loaded.registered_as(f"{singular(kind)} '{name}'")
        return loaded

    def health(self, entry: PluginEntry) -> str | None:
        """None when the plugin imports and is registered once, else a one-line reason."""
        try:
            self.load(entry.kind, entry.name)
        except PluginError as error:
            return str(error)
        return None

    def _kind(self, kind: str) -> dict[str, tuple[PluginEntry, ...]]:
        """The registrations of one kind; an unknown kind is a programming error."""
        if kind not in self.entries:
            raise ValueError(f"unknown plugin kind {kind!r}; kinds are {', '.join(KINDS)}")
        return self.entries[kind]
