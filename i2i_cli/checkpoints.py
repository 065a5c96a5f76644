"""Checkpoint store: the manifest of downloadable artifacts, the cache, downloads, safe loading.

Artifacts are declared in TOML manifests (``checkpoints.toml`` at the repository top, shipped as
``i2i_cli/checkpoints.toml``). Each manifest is registered like any plugin, in the entry-point
group ``i2i.checkpoints`` (a callable returning the TOML file as a ``Traversable`` or path);
``$I2I_MANIFESTS`` adds private ones. A file lives at ``<cache>/<artifact name>/<file>``; the
cache is ``$I2I_HOME`` or the platform's user cache. Downloads go to ``<file>.download`` first
and reach the final name only once their sha256 (and size) check out; HTTP transfers resume
with a ``Range`` request, Google Drive ones through gdown. ``<name>/.verified.json`` remembers
the hash of the file in place, so listing the cache never rehashes multi-gigabyte files.

Neither torch nor gdown is imported here at module level: ``i2i --help`` stays light.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from i2i_cli.downloads import (
    CHUNK_BYTES,
    DownloadError,
    Progress,
    drive_download,
    drive_folder_listing,
    drop_partial,
    error_line,
    http_download,
    one_line,
    pick_folder_file,
)
from i2i_cli.errors import I2IError, PluginError, UsageError
from i2i_cli.registry import Registry
from i2i_cli.settings import parse_toml

HOME_ENV = "I2I_HOME"
"""Environment variable that overrides the cache root."""

MANIFESTS_ENV = "I2I_MANIFESTS"
"""Environment variable listing extra manifest files (``os.pathsep``-separated)."""

PLUGIN_KIND = "checkpoints"
"""Registry kind (entry-point group ``i2i.checkpoints``) of manifest providers."""

VERIFIED_FILE = ".verified.json"
PARTIAL_SUFFIX = ".download"

Warn = Callable[[str], None]

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
DRIVE_ID_PATTERN = re.compile(r"^[-\w]{10,}$")


class MissingCheckpointError(UsageError):
    """A checkpoint a command needs is not in the cache; the message says how to get it."""


class UnreleasedError(UsageError):
    """An artifact with no public download was asked for by name."""


# ----------------------------------------------------------------------------------------------
# Manifest schema.


class Source(BaseModel):
    """Where an artifact can be fetched: exactly one of a URL, a Drive file, a Drive folder path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, description="http(s) URL of the file.")
    drive_file: str | None = Field(default=None, description="Google Drive file id.")
    drive_folder: str | None = Field(default=None, description="Google Drive folder id.")
    path: str | None = Field(
        default=None,
        description="File path inside drive_folder ('/'-separated; shell wildcards allowed).",
    )

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Source:
        """Accept ``{url}``, ``{drive_file}`` or ``{drive_folder, path}``, nothing else."""
        given = {key for key in ("url", "drive_file", "drive_folder", "path") if getattr(self, key)}
        if given not in ({"url"}, {"drive_file"}, {"drive_folder", "path"}):
            raise ValueError(
                "a source is exactly one of {url}, {drive_file} or {drive_folder, path}; "
                f"got {{{', '.join(sorted(given))}}}"
            )
        return self

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        """Only http(s) URLs are fetched."""
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(f"url must start with https:// or http://, got {url!r}")
        return url

    @field_validator("drive_file", "drive_folder")
    @classmethod
    def _drive_id(cls, drive_id: str | None) -> str | None:
        """A Drive id is a bare id (letters, digits, '-', '_'), not a share link."""
        if drive_id is not None and not DRIVE_ID_PATTERN.match(drive_id):
            raise ValueError(f"not a Google Drive id: {drive_id!r} (give the id, not the link)")
        return drive_id

    @field_validator("path")
    @classmethod
    def _relative_path(cls, path: str | None) -> str | None:
        """A folder path is relative, '/'-separated and stays inside the folder."""
        if path is not None and (path.startswith("/") or ".." in path.split("/") or "\\" in path):
            raise ValueError(f"path must be relative and '/'-separated, got {path!r}")
        return path

    @property
    def kind(self) -> Literal["url", "drive_file", "drive_folder"]:
        """Which of the three source kinds this is."""
        if self.url:
            return "url"
        return "drive_file" if self.drive_file else "drive_folder"

    def describe(self) -> str:
        """The source as a URL a person can open (plus the path inside a Drive folder)."""
        if self.url:
            return self.url
        if self.drive_file:
            return f"https://drive.google.com/uc?id={self.drive_file}"
        return f"https://drive.google.com/drive/folders/{self.drive_folder} (file {self.path})"


class Artifact(BaseModel):
    """One downloadable file: where it goes in the cache, where it comes from, how to check it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Unique name; the cache folder and the download argument.")
    file: str = Field(description="File name inside the artifact's cache folder.")
    experiments: tuple[str, ...] = Field(default=(), description="`--exp` names selecting it.")
    status: Literal["available", "unreleased"] = Field(default="available")
    note: str = Field(default="", description="Provenance; for unreleased artifacts: why.")
    approx_size: str | None = Field(default=None, description="Human size estimate.")
    sha256: str | None = Field(default=None, description="Published sha256, lowercase hex.")
    size: int | None = Field(default=None, ge=0, description="Exact size in bytes.")
    sources: tuple[Source, ...] = Field(default=(), description="Tried in order.")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        """Names are lowercase letters, digits, '_', '-', '.': safe as folder and argument."""
        if not NAME_PATTERN.match(name):
            raise ValueError(f"artifact names match {NAME_PATTERN.pattern}, got {name!r}")
        return name

    @field_validator("file")
    @classmethod
    def _plain_file_name(cls, file: str) -> str:
        """A bare file name, not hidden, not a path, not our partial-download suffix."""
        bad = "/" in file or "\\" in file or file.startswith(".") or file.endswith(PARTIAL_SUFFIX)
        if bad or not file:
            raise ValueError(f"file must be a plain file name, got {file!r}")
        return file

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, digest: str | None) -> str | None:
        """64 hex digits, stored lowercase."""
        if digest is None:
            return None
        if not SHA256_PATTERN.match(digest.lower()):
            raise ValueError(f"sha256 must be 64 hex digits, got {digest!r}")
        return digest.lower()

    @model_validator(mode="after")
    def _sources_match_status(self) -> Artifact:
        """An available artifact has a source; an unreleased one has none."""
        if self.status == "available" and not self.sources:
            raise ValueError("an available artifact needs at least one source")
        if self.status == "unreleased" and self.sources:
            raise ValueError("an unreleased artifact has no sources")
        return self

    @property
    def released(self) -> bool:
        """Whether the artifact can be downloaded at all."""
        return self.status == "available"

    def size_text(self) -> str:
        """The exact size in human units, else the estimate, else '?'."""
        if self.size is not None:
            return human_size(self.size)
        return self.approx_size or "?"


def human_size(size: int) -> str:
    """Bytes in decimal units: '374.0 MB'."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - unreachable


def _validation_text(error: ValidationError) -> str:
    """Pydantic's errors as one line: 'field.path: message; ...'."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------------
# Manifests: reading, validating, collecting from plugins and $I2I_MANIFESTS.


@dataclass(frozen=True)
class ManifestSource:
    """One manifest file and who supplied it; a bad ``strict`` one is an error, else a warning."""

    label: str
    resource: Traversable
    strict: bool = True


def core_manifest() -> Traversable:
    """The manifest shipped with i2i (entry point ``i2i`` of the group ``i2i.checkpoints``)."""
    return resources.files("i2i_cli").joinpath("checkpoints.toml")


def parse_manifest(data: Mapping[str, Any], label: str) -> dict[str, Artifact]:
    """The artifacts of one parsed manifest; anything invalid is a UsageError naming the entry."""
    unknown = sorted(set(data) - {"artifacts"})
    if unknown:
        raise UsageError(f"bad checkpoint manifest {label}: unknown top-level keys {unknown}")
    tables = data.get("artifacts", {})
    if not isinstance(tables, Mapping):
        raise UsageError(f"bad checkpoint manifest {label}: 'artifacts' must be a table")
    return {name: _parse_artifact(name, table, label) for name, table in tables.items()}


def _parse_artifact(name: str, table: Any, label: str) -> Artifact:
    """One ``[artifacts.<name>]`` table as an Artifact."""
    where = f"bad checkpoint manifest {label}: artifact '{name}'"
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}: must be a table")
    if "name" in table:
        raise UsageError(f"{where}: 'name' is given by the table key, remove it")
    try:
        return Artifact.model_validate({"name": name, **table})
    except ValidationError as error:
        raise UsageError(f"{where}: {_validation_text(error)}") from None


def read_manifest(source: ManifestSource) -> dict[str, Artifact]:
    """The artifacts of one manifest file; unreadable or invalid -> UsageError naming it."""
    try:
        text = source.resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read checkpoint manifest {source.label}: {error}") from error
    return parse_manifest(parse_toml(text, f"checkpoint manifest {source.label}"), source.label)


def plugin_manifests(registry: Registry, warn: Warn) -> list[ManifestSource]:
    """The manifest of every ``i2i.checkpoints`` plugin; a broken plugin is a warning, skipped."""
    found = []
    for name in registry.names(PLUGIN_KIND):
        try:
            provider = registry.load(PLUGIN_KIND, name)
            resource = _as_resource(provider())
        except PluginError as error:
            warn(f"checkpoint manifest skipped: {error}")
            continue
        except Exception as error:
            warn(f"checkpoint manifest plugin '{name}' skipped: {error_line(error)}")
            continue
        origin = registry.entry(PLUGIN_KIND, name).origin
        found.append(ManifestSource(f"{resource} (plugin '{name}', {origin})", resource, False))
    return found


def _as_resource(value: Any) -> Traversable:
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


# ----------------------------------------------------------------------------------------------
# Cache location and verification records.


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
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(path: Path, record: Record) -> None:
    """Write ``record`` to ``path`` atomically."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(dataclasses.asdict(record), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


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
    return None


Verified = Literal["verified", "recorded", "unverified", "changed", "mismatch"]
"""verified: matches the published sha256; recorded: no published hash, ours recorded;
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

    def describe(self) -> str:
        """One line: where the file is and whether its hash was checked or just recorded."""
        if self.already_cached:
            return f"{self.name}: already cached at {self.path}"
        check = (
            "sha256 verified" if self.published else f"no published sha256; recorded {self.sha256}"
        )
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

    @property
    def ok(self) -> bool:
        """True unless the file differs from what was expected."""
        return self.problem is None

    def describe(self) -> str:
        """One line for the ``--verify`` report."""
        if self.problem is not None:
            return f"{self.name}: MISMATCH, {self.problem} ({self.path})"
        if self.against == "published":
            return f"{self.name}: ok, sha256 {self.sha256} matches the manifest"
        if self.against == "recorded":
            return f"{self.name}: ok, sha256 {self.sha256} matches the hash recorded earlier"
        return f"{self.name}: ok, no published sha256; recorded {self.sha256}"


# ----------------------------------------------------------------------------------------------
# Fetching one source.


def fetch_source(source: Source, partial: Path, progress: Progress | None = None) -> None:
    """Bring the file of one source into ``partial`` (complete, not yet checked)."""
    if source.url:
        http_download(source.url, partial, progress)
        return
    if source.drive_file:
        drive_download(source.drive_file, partial, progress)
        return
    assert source.drive_folder is not None and source.path is not None
    try:
        listing = drive_folder_listing(source.drive_folder)
        file_id = listing[pick_folder_file(listing, source.path)]
    except DownloadError as error:
        raise DownloadError(f"{source.describe()}: {error}") from None
    drive_download(file_id, partial, progress)


# ----------------------------------------------------------------------------------------------
# The store.


@dataclass(frozen=True)
class CheckpointStore:
    """The artifacts of every manifest and the cache that holds them."""

    root: Path
    entries: Mapping[str, Artifact]
    origins: Mapping[str, str]

    @classmethod
    def open(
        cls,
        root: Path | None = None,
        *,
        manifests: Sequence[ManifestSource] | None = None,
        warn: Warn = warn_stderr,
    ) -> CheckpointStore:
        """The store over ``manifests`` (default: all discovered) cached under ``root``."""
        sources = discover_manifests(warn) if manifests is None else manifests
        entries, origins = load_manifests(sources, warn)
        return cls(
            root=cache_root() if root is None else Path(root), entries=entries, origins=origins
        )

    # -- the manifest ---------------------------------------------------------------------------

    def artifacts(self) -> list[Artifact]:
        """Every artifact, in manifest order."""
        return list(self.entries.values())

    def experiments(self) -> list[str]:
        """Every experiment name some artifact lists, sorted."""
        return sorted({exp for artifact in self.entries.values() for exp in artifact.experiments})

    def artifact(self, name: str) -> Artifact:
        """The artifact called ``name``; unknown -> UsageError with the closest names."""
        if name in self.entries:
            return self.entries[name]
        close = difflib.get_close_matches(name, list(self.entries), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `i2i download --list`"
        raise UsageError(f"no checkpoint artifact named '{name}'{hint}")

    def select(self, names: Sequence[str] = (), experiments: Sequence[str] = ()) -> list[Artifact]:
        """The artifacts named, then those of the experiments, each once, in that order."""
        chosen = {name: self.artifact(name) for name in names}
        known = self.experiments()
        for experiment in experiments:
            if experiment not in known:
                close = difflib.get_close_matches(experiment, known, n=3, cutoff=0.5)
                hint = f"did you mean {', '.join(close)}? " if close else ""
                raise UsageError(
                    f"no experiment named '{experiment}'; {hint}known: {', '.join(known)}"
                )
            for artifact in self.entries.values():
                if experiment in artifact.experiments:
                    chosen.setdefault(artifact.name, artifact)
        return list(chosen.values())

    # -- the cache ------------------------------------------------------------------------------

    def directory(self, name: str) -> Path:
        """The cache folder of one artifact."""
        return self.root / self.artifact(name).name

    def path(self, name: str) -> Path:
        """Where the file of ``name`` is (or will be) in the cache."""
        return self.directory(name) / self.artifact(name).file

    def is_cached(self, name: str) -> bool:
        """Whether the file of ``name`` is in the cache."""
        return self.path(name).is_file()

    def require(self, name: str) -> Path:
        """The cached file of ``name``; missing -> MissingCheckpointError saying how to get it."""
        artifact = self.artifact(name)
        path = self.path(name)
        if path.is_file():
            return path
        if artifact.released:
            raise MissingCheckpointError(
                f"checkpoint '{name}' is not downloaded (expected at {path}); "
                f"run `i2i download {name}`"
            )
        raise MissingCheckpointError(
            f"checkpoint '{name}' is not in the cache (expected at {path}) and has no public "
            f"download: {one_line(artifact.note)} Put your own file there with "
            f"`i2i download --from FILE {name}`"
        )

    def require_all(self, names: list[str]) -> list[Path]:
        """The cached files of ``names``; the downloadable missing ones named in one line."""
        missing = [
            n
            for n in dict.fromkeys(names)
            if not self.path(n).is_file() and self.artifact(n).released
        ]
        if len(missing) > 1:
            raise MissingCheckpointError(
                f"checkpoints {', '.join(missing)} are not downloaded; "
                f"run `i2i download {' '.join(missing)}`"
            )
        return [self.require(name) for name in names]

    def record(self, name: str) -> Record | None:
        """The verification record of ``name``, if any."""
        return read_record(self.directory(name) / VERIFIED_FILE)

    def status(self, name: str) -> ArtifactStatus:
        """Cached or not, and what the verification record says about the file in place."""
        artifact = self.artifact(name)
        path = self.path(name)
        if not path.is_file():
            return ArtifactStatus(artifact, path, cached=False, verified=None)
        verified = self._verified(name, path)
        return ArtifactStatus(artifact, path, True, verified, size=path.stat().st_size)

    def _verified(self, name: str, path: Path) -> Verified:
        """The verification state of a cached file, from its record and its stat."""
        record = self.record(name)
        published = self.artifact(name).sha256
        if record is None:
            return "unverified"
        if not record.describes(path.stat()):
            return "changed"
        if published is not None:
            return "verified" if record.sha256 == published else "mismatch"
        return "recorded"

    def _remember(self, name: str, sha256: str) -> Record:
        """Write the record of the file now in place, whose hash is ``sha256``."""
        stat = self.path(name).stat()
        record = Record(
            sha256=sha256,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            published=self.artifact(name).sha256 is not None,
        )
        write_record(self.directory(name) / VERIFIED_FILE, record)
        return record

    def _forget(self, name: str) -> None:
        """Drop the record of ``name`` (its file no longer matches it)."""
        (self.directory(name) / VERIFIED_FILE).unlink(missing_ok=True)

    # -- checking -------------------------------------------------------------------------------

    def verify(self, name: str) -> Verification:
        """Rehash the cached file against the published hash, else the recorded one.

        With neither, the hash is recorded. A mismatch drops the record (the file stays).
        """
        artifact = self.artifact(name)
        path = self.require(name)
        sha256, size = sha256_file(path)
        record = self.record(name)
        if artifact.sha256 is not None or artifact.size is not None:
            against: Literal["published", "recorded", "none"] = "published"
            problem = mismatch(artifact, sha256, size)
        elif record is not None:
            against = "recorded"
            problem = _changed(record.sha256, sha256)
        else:
            against, problem = "none", None
        if problem is None:
            self._remember(name, sha256)
        else:
            self._forget(name)
        return Verification(name, path, sha256, size, problem, against)

    # -- getting files --------------------------------------------------------------------------

    def download(
        self, name: str, *, force: bool = False, progress: Progress | None = None
    ) -> Fetched:
        """Fetch ``name`` from its sources in order, check it, and move it into place."""
        artifact = self.artifact(name)
        if not artifact.released:
            raise UnreleasedError(f"'{name}' cannot be downloaded: {one_line(artifact.note)}")
        path = self.path(name)
        if path.is_file() and not force:
            return self._already_cached(name, path)
        partial = path.with_name(path.name + PARTIAL_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        if force:
            drop_partial(partial)
        failures = []
        for source in artifact.sources:
            try:
                return self._download_from(artifact, source, partial, progress)
            except DownloadError as error:
                failures.append(str(error))
        raise DownloadError(
            f"cannot download '{name}': {'; '.join(failures)}. Download it by hand and run "
            f"`i2i download --from FILE {name}` (it goes to {path})"
        )

    def _already_cached(self, name: str, path: Path) -> Fetched:
        """The Fetched of a file already in the cache (its recorded hash, if any)."""
        record = self.record(name)
        return Fetched(
            name=name,
            path=path,
            sha256=record.sha256 if record else None,
            size=path.stat().st_size,
            published=bool(record and record.published),
            already_cached=True,
        )

    def _download_from(
        self, artifact: Artifact, source: Source, partial: Path, progress: Progress | None
    ) -> Fetched:
        """One source: transfer, check size and hash, then atomically rename into place."""
        fetch_source(source, partial, progress)
        sha256, size = sha256_file(partial)
        problem = mismatch(artifact, sha256, size)
        if problem is not None:
            drop_partial(partial)
            raise DownloadError(f"{source.describe()}: {problem}; the downloaded file was removed")
        return self._install(artifact, partial, sha256, size)

    def _install(self, artifact: Artifact, temporary: Path, sha256: str, size: int) -> Fetched:
        """Rename a checked temporary file to the artifact's path and record its hash."""
        path = self.path(artifact.name)
        os.replace(temporary, path)
        for leftover in path.parent.glob(f"{glob.escape(path.name)}{PARTIAL_SUFFIX}*"):
            leftover.unlink(missing_ok=True)  # gdown's .part files, the partial's source note
        record = self._remember(artifact.name, sha256)
        return Fetched(artifact.name, path, sha256, size, published=record.published)

    def adopt(self, name: str, file: Path, *, force: bool = False) -> Fetched:
        """Copy a hand-downloaded ``file`` into the cache after checking its size and sha256."""
        artifact = self.artifact(name)
        source = Path(file).expanduser()
        path = self.path(name)
        if not source.is_file():
            raise UsageError(f"--from {source}: no such file")
        if path.is_file() and source.resolve() == path.resolve():
            return self._adopt_in_place(name, path)
        if path.is_file() and not force:
            raise UsageError(f"'{name}' is already cached at {path}; add --force to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary, sha256, size = _hashed_copy(source, path.parent, prefix=f"{path.name}.")
        problem = mismatch(artifact, sha256, size)
        if problem is not None:
            temporary.unlink(missing_ok=True)
            raise UsageError(f"{source} is not '{name}': {problem}; nothing was copied")
        return self._install(artifact, temporary, sha256, size)

    def _adopt_in_place(self, name: str, path: Path) -> Fetched:
        """A file put straight into the cache by hand: check it where it is."""
        check = self.verify(name)
        if not check.ok:
            raise UsageError(f"{path} is not '{name}': {check.problem}")
        return Fetched(name, path, check.sha256, check.size, published=check.against == "published")


def _changed(recorded: str, sha256: str) -> str | None:
    """Why a file no longer matches the hash recorded for it, or None when it does."""
    if recorded == sha256:
        return None
    return f"changed since it was recorded: expected sha256 {recorded}, got {sha256}"


def _hashed_copy(source: Path, directory: Path, prefix: str) -> tuple[Path, str, int]:
    """Copy ``source`` to a new temporary file in ``directory``; its path, sha256 and size."""
    digest = hashlib.sha256()
    size = 0
    temporary = directory / f"{prefix}{os.getpid()}.adopt"
    try:
        with temporary.open("wb") as out, source.open("rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary, digest.hexdigest(), size


# ----------------------------------------------------------------------------------------------
# Loading.


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; a missing, unsafe or corrupt file -> I2IError."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise I2IError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" in str(error):
            raise I2IError(
                f"checkpoint {path} holds objects other than tensors and plain containers; "
                f"refusing to unpickle it (weights_only=True)"
            ) from None
        raise I2IError(_corrupt_message(path, error)) from None
    except Exception as error:
        raise I2IError(_corrupt_message(path, error)) from None


def _corrupt_message(path: Path, error: BaseException) -> str:
    """The one-line message for a checkpoint that cannot be read."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"cannot load checkpoint {path}: the file is corrupt or truncated ({first}); "
        "delete it and download it again"
    )


def strip_state_dict_prefix(
    state_dict: Mapping[str, Any], prefix: str = "module."
) -> dict[str, Any]:
    """A new state dict with ``prefix`` removed from every key that starts with it.

    ``torch.nn.DataParallel`` saves its wrapped model's keys as ``module.<key>`` (the ddim
    repository's checkpoints, EGSDE's celebahq_female_ddpm.pth); a bare model needs them without
    it. Keys without the prefix and all values are kept as they are; the input is not modified.
    """
    return {key.removeprefix(prefix): value for key, value in state_dict.items()}
