"""The checkpoint cache: where it is, the hash records kept beside each file, and check results.

A file lives at ``<cache>/<artifact name>/<file>``; the cache is ``$I2I_HOME`` or the platform's
user cache. ``<name>/.verified.json`` remembers the hash of the file in place and the stat it
had then, so listing the cache never rehashes multi-gigabyte files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from i2i_cli.base.atomic import write_atomic_text
from i2i_cli.checkpoints.downloads import CHUNK_BYTES
from i2i_cli.checkpoints.manifest import Artifact, human_size

HOME_ENV = "I2I_HOME"
"""Environment variable that overrides the cache root."""

VERIFIED_FILE = ".verified.json"
"""The hash record beside each cached file."""


def cache_root(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
) -> Path:
    """``$I2I_HOME``, else the user cache: XDG on Linux, Library/Caches, LOCALAPPDATA."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    if environ.get(HOME_ENV):
        return Path(environ[HOME_ENV]).expanduser()
    if platform == "win32":
        local = environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(local) / "i2i" / "Cache"
    if platform == "darwin":
        return home / "Library" / "Caches" / "i2i"
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".cache"
    return base / "i2i"


@dataclass(frozen=True)
class Record:
    """The hash of the file in place and the stat it had then (``.verified.json``)."""

    sha256: str
    size: int
    mtime_ns: int
    published: bool
    checked: str | None = None
    """What the contents were verified to be (``structure.ContentCheck.checked``), if anything."""

    def describes(self, stat: os.stat_result) -> bool:
        """Whether the file still has the size and mtime it had when hashed."""
        return stat.st_size == self.size and stat.st_mtime_ns == self.mtime_ns


def read_record(path: Path) -> Record | None:
    """The record at ``path``; missing or unreadable -> None (the file counts as unchecked)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Record(
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            mtime_ns=int(data["mtime_ns"]),
            published=bool(data["published"]),
            checked=str(data["checked"]) if data.get("checked") else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(path: Path, record: Record) -> None:
    """Write ``record`` to ``path`` atomically."""
    write_atomic_text(json.dumps(dataclasses.asdict(record), indent=2) + "\n", path)


def sha256_file(path: Path) -> tuple[str, int]:
    """The sha256 hex digest and the size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def mismatch(artifact: Artifact, sha256: str, size: int) -> str | None:
    """What differs from the artifact's published size/sha256 ('expected ..., got ...'), or None."""
    if artifact.size is not None and size != artifact.size:
        return f"expected {artifact.size} bytes, got {size}"
    if artifact.sha256 is not None and sha256 != artifact.sha256:
        return f"expected sha256 {artifact.sha256}, got {sha256}"
    prefix = artifact.sha256_prefix
    if prefix is not None and not sha256.startswith(prefix):
        return f"expected a sha256 starting with {prefix} (published), got {sha256}"
    return None


def content_text(artifact: Artifact, checked: str | None, skipped: str | None) -> str:
    """What was verified of a file without a published full sha256: its published prefix and
    its structure ('structure verified (adm-unet preset afhq_dog_4m, 362 tensors)'); '' if
    nothing."""
    parts = []
    if artifact.sha256_prefix is not None:
        parts.append(f"published sha256 prefix {artifact.sha256_prefix} verified")
    if checked is not None:
        parts.append(f"structure verified ({checked})")
    elif skipped is not None:
        parts.append(f"structure not checked ({skipped})")
    return ", ".join(parts)


def recorded_text(content: str, sha256: str) -> str:
    """'<content>, sha256 recorded <hash>', or 'no published sha256; recorded <hash>'."""
    if content:
        return f"{content}, sha256 recorded {sha256}"
    return f"no published sha256; recorded {sha256}"


Verified = Literal["verified", "structure", "recorded", "unverified", "changed", "mismatch"]
"""verified: matches the published sha256; structure: no published hash, the contents verified
(network structure, arrays or a safe load) and the hash recorded; recorded: no published hash,
ours recorded;
unverified: never hashed (placed by hand); changed: size/mtime differ from the record;
mismatch: the recorded hash is not the published one."""


@dataclass(frozen=True)
class ArtifactStatus:
    """What ``--list`` shows for one artifact: is it cached, and what do we know of its hash."""

    artifact: Artifact
    path: Path
    cached: bool
    verified: Verified | None
    size: int | None = None
    """Size of the cached file, if cached."""

    def size_text(self) -> str:
        """The manifest's exact size, else the cached file's, else the manifest's estimate."""
        if self.artifact.size is None and self.size is not None:
            return human_size(self.size)
        return self.artifact.size_text()


@dataclass(frozen=True)
class Fetched:
    """The outcome of a download or adoption: the file in place and how it was checked."""

    name: str
    path: Path
    sha256: str | None
    size: int
    published: bool
    already_cached: bool = False
    content: str = ""
    """What was verified besides the hash (``content_text``), for files without a published one."""

    def describe(self) -> str:
        """One line: where the file is and whether its hash was checked or just recorded."""
        if self.already_cached:
            return f"{self.name}: already cached at {self.path}"
        recorded = recorded_text(self.content, self.sha256 or "?")
        check = "sha256 verified" if self.published else recorded
        return f"{self.name}: {human_size(self.size)} at {self.path} ({check})"


@dataclass(frozen=True)
class Verification:
    """The outcome of rehashing a cached file against the published or recorded hash."""

    name: str
    path: Path
    sha256: str
    size: int
    problem: str | None
    against: Literal["published", "recorded", "none"]
    content: str = ""
    """What was verified besides the hash (``content_text``), for files without a published one."""

    @property
    def ok(self) -> bool:
        """True unless the file differs from what was expected."""
        return self.problem is None

    def describe(self) -> str:
        """One line for the ``--verify`` report."""
        if self.problem is not None:
            return f"{self.name}: MISMATCH, {self.problem} ({self.path})"
        if self.against == "published":
            return f"{self.name}: ok, sha256 verified ({self.sha256} matches the manifest)"
        if self.against == "recorded":
            found = f"sha256 {self.sha256} matches the hash recorded earlier"
            return f"{self.name}: ok, " + (f"{self.content}, {found}" if self.content else found)
        return f"{self.name}: ok, {recorded_text(self.content, self.sha256)}"
