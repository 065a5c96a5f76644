"""Checkpoint manifests: the artifact schema (Source, Artifact) and reading one manifest file.

A manifest is a TOML file of ``[artifacts.<name>]`` tables (the schema is described at the head
of the core's ``i2i_cli/checkpoints.toml``). The core and every plugin ship their own, each
registered in the entry-point group ``i2i.checkpoints`` by a provider such as
``PackageManifest("my_plugin")``; ``discovery`` collects them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from i2i_cli.api.settings import parse_toml
from i2i_cli.base.errors import UsageError

MANIFEST_FILE = "checkpoints.toml"
"""The file name of a package's manifest."""

PARTIAL_SUFFIX = ".download"
"""Suffix of a download in progress (no artifact file may end with it)."""

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
SHA256_PREFIX_PATTERN = re.compile(r"^[0-9a-f]{8,63}$")
DRIVE_ID_PATTERN = re.compile(r"^[-\w]{10,}$")


# ----------------------------------------------------------------------------------------------
# The schema.


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
    sha256_prefix: str | None = Field(
        default=None,
        description="Published leading hex digits of the sha256 (torch hub's file-name rule).",
    )
    backbone: str | None = Field(
        default=None, description="Registered backbone whose network the file holds."
    )
    preset: str | None = Field(
        default=None, description="The backbone's preset the file's tensors must fit."
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Backbone settings on top of the preset."
    )
    arrays: tuple[str, ...] = Field(default=(), description="Arrays an .npz file must hold.")
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

    @field_validator("sha256_prefix")
    @classmethod
    def _sha256_prefix(cls, prefix: str | None) -> str | None:
        """8 to 63 hex digits, stored lowercase."""
        if prefix is None:
            return None
        if not SHA256_PREFIX_PATTERN.match(prefix.lower()):
            raise ValueError(f"sha256_prefix must be 8 to 63 hex digits, got {prefix!r}")
        return prefix.lower()

    @model_validator(mode="after")
    def _structure_fields_fit(self) -> Artifact:
        """A preset or overrides need a backbone; arrays need an .npz file."""
        if (self.preset or self.overrides) and not self.backbone:
            raise ValueError("preset and overrides need a backbone")
        if self.arrays and not self.file.endswith(".npz"):
            raise ValueError("arrays describe an .npz file")
        if self.sha256 and self.sha256_prefix and not self.sha256.startswith(self.sha256_prefix):
            raise ValueError("sha256 does not start with sha256_prefix")
        return self

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
# One manifest file.


@dataclass(frozen=True)
class ManifestSource:
    """One manifest file and who supplied it; a bad ``strict`` one is an error, else a warning."""

    label: str
    resource: Traversable
    strict: bool = True


@dataclass(frozen=True)
class PackageManifest:
    """A manifest provider for the group ``i2i.checkpoints``: the manifest inside ``package``."""

    package: str
    file: str = MANIFEST_FILE

    def __call__(self) -> Traversable:
        """The package's manifest file, found as package data."""
        return resources.files(self.package).joinpath(self.file)


core_manifest = PackageManifest("i2i_cli")
"""The core's manifest, ``i2i_cli/checkpoints.toml`` (entry point ``i2i``)."""


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
