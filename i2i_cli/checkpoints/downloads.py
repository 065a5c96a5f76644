"""Transfers: plain HTTP(S) with ``Range`` resume, Google Drive (files and folders) via gdown.

These functions move bytes into a partial file; the checkpoint store decides what the bytes must
hash to and when they reach their final name. gdown is imported only when Drive is used.
"""

from __future__ import annotations

import fnmatch
import http.client
import inspect
import os
import posixpath
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from i2i_cli import __version__
from i2i_cli.base.errors import RunError

if TYPE_CHECKING:
    from i2i_cli.checkpoints.manifest import Source

CHUNK_BYTES = 1 << 20
HTTP_TIMEOUT_S = 60.0
HTTP_RETRIES = 3
"""Reconnections (each resuming with a Range request) after a transfer breaks off mid-way."""

DRIVE_REFUSED = "Google Drive did not hand out the file"
DRIVE_HOST = "drive.google.com"
UNREACHABLE_MARKS = (
    "ConnectionError",
    "Max retries exceeded",
    "Failed to resolve",
    "Connection refused",
    "Name or service not known",
    "timed out",
)
"""How requests and gdown say that a host could not be reached at all."""

Progress = Callable[[int, int | None], None]
"""Download progress callback: ``progress(bytes so far, total bytes or None)``."""


class DownloadError(RunError):
    """A download that failed: unreachable source, bad response, or a checksum mismatch.

    ``summary`` is the short form of what went wrong ('cannot connect to example.org'), for the
    first line of a report that lists the full messages below it.
    """

    def __init__(self, message: str, summary: str | None = None) -> None:
        """A failure described by ``message``, in short by ``summary`` (default: the message)."""
        super().__init__(message)
        self.summary = summary or message


def one_line(text: object) -> str:
    """Any message collapsed onto one line."""
    return " ".join(str(text).split())


def error_line(error: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    return one_line(error) or type(error).__name__


RESOLVE_FAILURE = re.compile(
    r"Failed to resolve '([^']+)'|host='([^']+)'.*(?:resolve|Name or service)"
)
"""urllib3's and requests' wording of a host name that did not resolve."""


def network_reason(error: BaseException) -> str:
    """Why a transfer failed, in a few words where the library's text is a known network fault
    (a name that does not resolve, a refused connection, a timeout), else its one line."""
    text = error_line(error)
    resolved = RESOLVE_FAILURE.search(text)
    if resolved or "Name or service not known" in text or "name resolution" in text:
        host = next((g for g in resolved.groups() if g), None) if resolved else None
        return f"cannot resolve {host or 'the host'} (no network, or no DNS)"
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text if len(text) <= 300 else text[:297] + "..."


class _Interrupted(Exception):
    """A transfer that broke off after some bytes; the partial file is kept for a resume."""


def http_download(url: str, partial: Path, progress: Progress | None = None) -> None:
    """Fetch ``url`` into ``partial``, resuming what is there; reconnect if the transfer breaks."""
    _claim_partial(partial, url)
    try:
        _http_attempts(url, partial, progress)
    except DownloadError:
        if not partial.is_file() or partial.stat().st_size == 0:
            drop_partial(partial)  # nothing to resume: no note of a source either
        raise


def _http_attempts(url: str, partial: Path, progress: Progress | None) -> None:
    """The transfer of ``url`` into ``partial``, reconnecting up to ``HTTP_RETRIES`` times."""
    for attempt in range(HTTP_RETRIES + 1):
        try:
            _http_transfer(url, partial, progress)
            return
        except _Interrupted as error:
            if attempt == HTTP_RETRIES:
                raise DownloadError(
                    f"{url}: {error} (after {HTTP_RETRIES} resumed attempts); the partial file "
                    f"{partial} is kept for the next run to resume",
                    f"the transfer from {_host(url)} kept breaking off",
                ) from None


def _source_note(partial: Path) -> Path:
    """The file beside a partial download that names the URL its bytes came from."""
    return partial.with_name(partial.name + ".source")


def _claim_partial(partial: Path, url: str) -> None:
    """Keep ``partial`` only if its bytes came from ``url``; then note ``url`` as its source."""
    note = _source_note(partial)
    try:
        earlier = note.read_text(encoding="utf-8")
    except OSError:
        earlier = None
    if earlier != url:
        partial.unlink(missing_ok=True)
    note.write_text(url, encoding="utf-8")


def drop_partial(partial: Path) -> None:
    """Remove a partial download and the note of where it came from."""
    partial.unlink(missing_ok=True)
    _source_note(partial).unlink(missing_ok=True)


class _HTTPStatusError(DownloadError):
    """An HTTP error status; ``code`` lets a stale resume (416) be told apart."""

    def __init__(self, url: str, code: int, reason: str) -> None:
        """HTTP status ``code`` (``reason``) in answer to ``url``."""
        super().__init__(f"{url}: HTTP {code} {reason}", f"HTTP {code} from {_host(url)}")
        self.code = code


def _open_url(url: str, offset: int) -> Any:
    """The response to a GET of ``url``, asking for bytes from ``offset`` on when non-zero."""
    headers = {"User-Agent": f"i2i/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        error.close()
        raise _HTTPStatusError(url, error.code, str(error.reason)) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(
            f"{url}: cannot connect ({network_reason(reason)})", f"cannot connect to {_host(url)}"
        ) from None


def _host(url: str) -> str:
    """The host (and port) part of a URL."""
    return urllib.parse.urlsplit(url).netloc or url


def _open_resumed(url: str, partial: Path) -> tuple[Any, int]:
    """The response to a GET resuming ``partial``, and the offset asked for.

    A stale partial file (the server answers 416) is dropped and the transfer restarts.
    """
    offset = partial.stat().st_size if partial.exists() else 0
    try:
        return _open_url(url, offset), offset
    except _HTTPStatusError as error:
        if error.code != 416 or not offset:
            raise
    partial.unlink()
    return _open_url(url, 0), 0


def _body_start(response: Any, offset: int) -> int | None:
    """Where the body starts: ``offset`` for a matching 206, 0 for a 200 (Range ignored).

    None for a 206 that starts elsewhere: the partial file cannot be continued.
    """
    if response.status == 200:
        return 0
    if response.status == 206:
        match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
        return offset if match and int(match.group(1)) == offset else None
    raise DownloadError(
        f"{response.url}: unexpected HTTP {response.status}",
        f"HTTP {response.status} from {_host(response.url)}",
    )


def _http_transfer(url: str, partial: Path, progress: Progress | None) -> None:
    """One GET of ``url`` appended to ``partial`` (restarting it when the server ignores Range)."""
    response, offset = _open_resumed(url, partial)
    with response:
        start = _body_start(response, offset)
        if start is None:
            partial.unlink()
            raise _Interrupted("the server resumed at another offset; restarting")
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        with partial.open("ab" if start else "wb") as out:
            received = _copy_body(response, out, start, total, progress)
    if total is not None and received < total:
        raise _Interrupted(f"connection closed after {received} of {total} bytes")


def _copy_body(
    response: Any, out: IO[bytes], start: int, total: int | None, progress: Progress | None
) -> int:
    """Stream the response body into ``out``; the byte count reached (from ``start``)."""
    received = start
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except (http.client.HTTPException, OSError, ValueError) as error:
            out.flush()
            raise _Interrupted(f"transfer broke off after {received} bytes ({error})") from None
        if not chunk:
            return received
        out.write(chunk)
        received += len(chunk)
        if progress is not None:
            progress(received, total)


def drive_download(file_id: str, partial: Path, progress: Progress | None = None) -> None:
    """Fetch a Google Drive file into ``partial`` with gdown (which resumes its own .part file)."""
    import gdown

    # gdown treats an existing output as finished; only its own .part files carry resume state.
    partial.unlink(missing_ok=True)
    url = f"https://drive.google.com/uc?id={file_id}"
    try:
        gdown.download(
            id=file_id,
            output=str(partial),
            quiet=True,
            resume=True,
            use_cookies=False,
            **_accepted(
                gdown.download, progress=progress, timeout=HTTP_TIMEOUT_S, retries=HTTP_RETRIES
            ),
        )
    except Exception as error:
        raise DownloadError(
            f"{url}: {network_reason(error)}", _drive_summary(error, DRIVE_REFUSED)
        ) from None
    if not partial.is_file():
        raise DownloadError(f"{url}: gdown finished without writing {partial}", DRIVE_REFUSED)


def _accepted(function: Callable[..., Any], **options: Any) -> dict[str, Any]:
    """The ``options`` that ``function`` takes (newer gdown releases take more)."""
    parameters = inspect.signature(function).parameters
    return {key: value for key, value in options.items() if key in parameters}


def drive_folder_listing(folder_id: str) -> dict[str, str]:
    """Every file of a Google Drive folder (recursively): '/'-separated path -> file id."""
    import gdown

    try:
        files = gdown.download_folder(
            id=folder_id,
            skip_download=True,
            quiet=True,
            use_cookies=False,
            **_accepted(gdown.download_folder, timeout=HTTP_TIMEOUT_S, remaining_ok=True),
        )
    except Exception as error:
        raise DownloadError(
            f"cannot list the folder ({network_reason(error)})",
            _drive_summary(error, "cannot list the Google Drive folder"),
        ) from None
    return {str(item.path).replace(os.sep, "/"): str(item.id) for item in files}


def _drive_summary(error: BaseException, otherwise: str) -> str:
    """'cannot connect to drive.google.com' when Drive was not reached, else ``otherwise``."""
    text = f"{type(error).__name__}: {error}"
    if any(mark in text for mark in UNREACHABLE_MARKS):
        return f"cannot connect to {DRIVE_HOST}"
    return otherwise


def _step_number(path: str) -> tuple[int, str]:
    """Sort key: the last number in the file name (a training step), then the path."""
    numbers = re.findall(r"\d+", posixpath.basename(path))
    return (int(numbers[-1]) if numbers else -1, path)


def pick_folder_file(listing: Mapping[str, str], pattern: str) -> str:
    """The path of ``listing`` that ``pattern`` names; among wildcard matches the largest step.

    A pattern without '/' that matches no full path may match the file name in a subfolder,
    provided exactly one file does.
    """
    matches = [path for path in listing if fnmatch.fnmatchcase(path, pattern)]
    if not matches and "/" not in pattern:
        by_name = [p for p in listing if fnmatch.fnmatchcase(posixpath.basename(p), pattern)]
        if len(by_name) > 1:
            raise DownloadError(
                f"'{pattern}' is ambiguous in the folder: {', '.join(by_name)}",
                f"'{pattern}' is ambiguous in the Google Drive folder",
            )
        matches = by_name
    if not matches:
        held = ", ".join(sorted(listing)[:20]) or "nothing"
        raise DownloadError(
            f"no file '{pattern}' in the folder (it holds: {held})",
            f"no file '{pattern}' in the Google Drive folder",
        )
    return max(matches, key=_step_number)


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
        raise DownloadError(f"{source.describe()}: {error}", error.summary) from None
    drive_download(file_id, partial, progress)
