"""The checkpoint store: every manifest's artifacts and the cache that holds their files.

Downloads go to ``<file>.download`` first and reach the final name only once their sha256 (and
size) check out; a hand-downloaded file is adopted the same way. Neither torch nor gdown is
imported here at module level: ``i2i --help`` stays light.
"""

from __future__ import annotations

import difflib
import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_file
from i2i_cli.checkpoints.cache import (
    VERIFIED_FILE,
    ArtifactStatus,
    Fetched,
    Record,
    Verification,
    Verified,
    cache_root,
    content_text,
    mismatch,
    read_record,
    sha256_file,
    write_record,
)
from i2i_cli.checkpoints.cache_files import folder_for, hashed_copy, named_as
from i2i_cli.checkpoints.discovery import Warn, discover_manifests, load_manifests, warn_stderr
from i2i_cli.checkpoints.downloads import (
    DownloadError,
    Progress,
    drop_partial,
    fetch_source,
    one_line,
)
from i2i_cli.checkpoints.manifest import PARTIAL_SUFFIX, Artifact, ManifestSource, Source

if TYPE_CHECKING:
    from i2i_cli.checkpoints.structure import ContentCheck


class MissingCheckpointError(UsageError):
    """A checkpoint a command needs is not in the cache; the message says how to get it."""


class UnreleasedError(UsageError):
    """An artifact with no public download was asked for by name."""


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
        return "structure" if record.checked else "recorded"

    def _remember(self, name: str, sha256: str, checked: str | None = None) -> Record:
        """Write the record of the file now in place: its hash and what its contents proved."""
        stat = self.path(name).stat()
        record = Record(
            sha256=sha256,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            published=self.artifact(name).sha256 is not None,
            checked=checked,
        )
        write_record(self.directory(name) / VERIFIED_FILE, record)
        return record

    def _forget(self, name: str) -> None:
        """Drop the record of ``name`` (its file no longer matches it)."""
        (self.directory(name) / VERIFIED_FILE).unlink(missing_ok=True)

    # -- checking -------------------------------------------------------------------------------

    def verify(self, name: str) -> Verification:
        """Rehash the cached file against the published hash, else check its contents (see
        ``structure``) and compare with the recorded hash.

        With neither hash, the hash is recorded. A mismatch drops the record (the file stays).
        """
        artifact = self.artifact(name)
        path = self.require(name)
        sha256, size = sha256_file(path)
        record = self.record(name)
        problem = mismatch(artifact, sha256, size)
        content, checked = "", None
        if artifact.sha256 is not None or artifact.size is not None:
            against: Literal["published", "recorded", "none"] = "published"
        else:
            against = "recorded" if record is not None else "none"
            if problem is None:
                check = self.check_contents(artifact, path)
                problem, checked = check.problem, check.checked
                content = content_text(artifact, check.checked, check.skipped)
            if problem is None and record is not None:
                problem = _changed(record.sha256, sha256)
        if problem is None:
            self._remember(name, sha256, checked)
        else:
            self._forget(name)
        return Verification(name, path, sha256, size, problem, against, content)

    def check_contents(self, artifact: Artifact, path: Path) -> ContentCheck:
        """What ``path`` proves to hold for ``artifact`` (``structure.check_contents``).

        The file is looked at under the artifact's file name (a temporary link beside it), so
        readers that go by the suffix see the real one.
        """
        from i2i_cli.checkpoints.structure import check_contents

        with named_as(path, artifact.file) as named:
            return check_contents(artifact, named)

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
        with folder_for(path):
            if force:
                drop_partial(partial)
            failures: list[DownloadError] = []
            for source in artifact.sources:
                try:
                    return self._download_from(artifact, source, partial, progress)
                except DownloadError as error:
                    failures.append(error)
            raise _failed_download(name, path, failures)

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
        problem, check = self._problem_of(artifact, partial, sha256, size)
        if problem is not None:
            drop_partial(partial)
            raise DownloadError(
                f"{source.describe()}: {problem}; the downloaded file was removed",
                "the downloaded file is not this checkpoint",
            )
        return self._install(artifact, partial, sha256, size, check)

    def _problem_of(
        self, artifact: Artifact, file: Path, sha256: str, size: int
    ) -> tuple[str | None, ContentCheck | None]:
        """What is wrong with a fetched or copied ``file`` as ``artifact`` (None: nothing), and
        the content check that said so where the artifact publishes no sha256 to compare."""
        problem = mismatch(artifact, sha256, size)
        if problem is not None or artifact.sha256 is not None:
            return problem, None
        check = self.check_contents(artifact, file)
        return check.problem, check

    def _install(
        self,
        artifact: Artifact,
        temporary: Path,
        sha256: str,
        size: int,
        check: ContentCheck | None = None,
    ) -> Fetched:
        """Rename a checked temporary file to the artifact's path and record its hash."""
        path = self.path(artifact.name)
        os.replace(temporary, path)
        for leftover in path.parent.glob(f"{glob.escape(path.name)}{PARTIAL_SUFFIX}*"):
            leftover.unlink(missing_ok=True)  # gdown's .part files, the partial's source note
        checked = check.checked if check else None
        record = self._remember(artifact.name, sha256, checked)
        content = content_text(artifact, checked, check.skipped if check else None)
        return Fetched(artifact.name, path, sha256, size, record.published, content=content)

    def adopt(self, name: str, file: Path, *, force: bool = False) -> Fetched:
        """Copy a hand-downloaded ``file`` into the cache after checking its size and sha256."""
        artifact = self.artifact(name)
        source = Path(file).expanduser()
        path = self.path(name)
        require_file(source, "--from", f"--from {source}: no such file")
        if path.is_file() and source.resolve() == path.resolve():
            return self._adopt_in_place(name, path)
        if path.is_file() and not force:
            raise UsageError(f"'{name}' is already cached at {path}; add --force to replace it")
        with folder_for(path):
            temporary, sha256, size = hashed_copy(source, path.parent, prefix=f"{path.name}.")
            problem, check = self._problem_of(artifact, temporary, sha256, size)
            if problem is not None:
                temporary.unlink(missing_ok=True)
                raise UsageError(f"{source} is not '{name}': {problem}; nothing was copied")
            return self._install(artifact, temporary, sha256, size, check)

    def _adopt_in_place(self, name: str, path: Path) -> Fetched:
        """A file put straight into the cache by hand: check it where it is."""
        check = self.verify(name)
        if not check.ok:
            raise UsageError(f"{path} is not '{name}': {check.problem}")
        published = check.against == "published"
        return Fetched(name, path, check.sha256, check.size, published, content=check.content)


def _failed_download(name: str, path: Path, failures: list[DownloadError]) -> DownloadError:
    """Every source failed: a short first line, each source's failure, then what to do."""
    summaries = ", ".join(dict.fromkeys(error.summary for error in failures))
    details = "".join(f"\n  {error}" for error in failures)
    return DownloadError(
        f"cannot download '{name}': {summaries}{details}\n"
        f"Download it by hand and run `i2i download --from FILE {name}` (it goes to {path})",
        f"cannot download '{name}': {summaries}",
    )


def _changed(recorded: str, sha256: str) -> str | None:
    """Why a file no longer matches the hash recorded for it, or None when it does."""
    if recorded == sha256:
        return None
    return f"changed since it was recorded: expected sha256 {recorded}, got {sha256}"
