"""Finding every checkpoint manifest: registered plugins (the core included), then $I2I_MANIFESTS.

Each manifest is registered like any plugin, in the entry-point group ``i2i.checkpoints`` (a
callable returning the TOML file as a ``Traversable`` or path); ``$I2I_MANIFESTS`` adds private
ones. A broken plugin manifest is a warning and is skipped; a bad private one is an error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from i2i_cli.api.registry import Registry
from i2i_cli.base.errors import PluginError, UsageError
from i2i_cli.checkpoints.downloads import error_line
from i2i_cli.checkpoints.manifest import Artifact, ManifestSource, read_manifest

MANIFESTS_ENV = "I2I_MANIFESTS"
"""Environment variable listing extra manifest files (``os.pathsep``-separated)."""

PLUGIN_KIND = "checkpoints"
"""Registry kind (entry-point group ``i2i.checkpoints``) of manifest providers."""

Warn = Callable[[str], None]


def plugin_manifests(registry: Registry, warn: Warn) -> list[ManifestSource]:
    """The manifest of every ``i2i.checkpoints`` plugin; a broken plugin is a warning, skipped."""
    found = []
    for name in registry.names(PLUGIN_KIND):
        try:
            provider = registry.load(PLUGIN_KIND, name)
            resource = as_resource(provider())
        except PluginError as error:
            warn(f"checkpoint manifest skipped: {error}")
            continue
        except Exception as error:
            warn(f"checkpoint manifest plugin '{name}' skipped: {error_line(error)}")
            continue
        origin = registry.entry(PLUGIN_KIND, name).origin
        found.append(ManifestSource(f"{resource} (plugin '{name}', {origin})", resource, False))
    return found


def as_resource(value: Any) -> Traversable:
    """A provider's return value as something with ``read_text``: Traversable or a path."""
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    if not callable(getattr(value, "read_text", None)):
        raise TypeError(f"returned {type(value).__name__}, not a Traversable or path")
    return value


def env_manifests(environ: Mapping[str, str]) -> list[ManifestSource]:
    """The manifest files listed in ``$I2I_MANIFESTS``; a missing one is a UsageError."""
    found = []
    for part in environ.get(MANIFESTS_ENV, "").split(os.pathsep):
        if not part.strip():
            continue
        path = Path(part.strip()).expanduser()
        if not path.is_file():
            raise UsageError(f"checkpoint manifest {path} (listed in ${MANIFESTS_ENV}) not found")
        found.append(ManifestSource(f"{path} (from ${MANIFESTS_ENV})", path, True))
    return found


def discover_manifests(
    warn: Warn, environ: Mapping[str, str] | None = None
) -> list[ManifestSource]:
    """Every manifest: registered plugins (the core included), then ``$I2I_MANIFESTS``."""
    environ = os.environ if environ is None else environ
    return [*plugin_manifests(Registry.discover(), warn), *env_manifests(environ)]


def load_manifests(
    sources: Iterable[ManifestSource], warn: Warn
) -> tuple[dict[str, Artifact], dict[str, str]]:
    """All artifacts by name and the label of the manifest each came from.

    A bad non-strict (plugin) manifest is reported through ``warn`` and skipped; a bad strict
    one raises. One name in two manifests is a UsageError naming both.
    """
    artifacts: dict[str, Artifact] = {}
    origins: dict[str, str] = {}
    for source in sources:
        try:
            found = read_manifest(source)
        except UsageError as error:
            if source.strict:
                raise
            warn(f"{error}; skipped")
            continue
        for name, artifact in found.items():
            if name in artifacts:
                raise UsageError(
                    f"checkpoint artifact '{name}' is defined twice: in {origins[name]} "
                    f"and in {source.label}"
                )
            artifacts[name] = artifact
            origins[name] = source.label
    return artifacts, origins


def warn_stderr(message: str) -> None:
    """Print one warning line on stderr."""
    print(f"warning: {message}", file=sys.stderr)
