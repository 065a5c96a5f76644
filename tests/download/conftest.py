"""A live HTTP server for ``i2i download`` tests, with the test manifest, home and CLI.

The server on 127.0.0.1 serves files by path and Google Drive's /uc and /embeddedfolderview
(gdown's requests to Drive hosts are redirected to it), and can cut a body short or ignore Range.
The fixtures (``server``, ``home``, ``good``) serve the tests of this folder; they import the
helpers from here, as other tests import ``run_i2i`` from ``tests.conftest``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import requests.adapters
import typer
from typer.testing import CliRunner, Result

from i2i_cli.cli.commands.download import download

PAYLOAD = bytes(range(256)) * 12_000  # 3 MB: several chunks on the wire
DRIVE_HOSTS = {"drive.google.com", "drive.usercontent.google.com", "docs.google.com"}


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------------
# A small HTTP server: files by path, Google Drive's /uc and /embeddedfolderview, faults.


@dataclass
class ServerState:
    """What the server serves and how it misbehaves; every request is logged."""

    files: dict[str, bytes] = field(default_factory=dict)
    drive_files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    drive_folders: dict[str, tuple[str, list[tuple[str, str, bool]]]] = field(default_factory=dict)
    cut_once: dict[str, int] = field(default_factory=dict)
    cut_always: dict[str, int] = field(default_factory=dict)
    ignore_range: set[str] = field(default_factory=set)
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def requests_for(self, path: str) -> list[dict[str, str]]:
        """The headers of every request whose path (with query) starts with ``path``."""
        return [headers for logged, headers in self.log if logged.startswith(path)]


class Handler(BaseHTTPRequestHandler):
    """Serves ``ServerState``; supports Range, can cut a body short or ignore Range."""

    state: ServerState

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Answer one GET."""
        self.state.log.append((self.path, dict(self.headers.items())))
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if parts.path == "/embeddedfolderview" and query.get("id") in self.state.drive_folders:
            self._send_folder(query["id"])
        elif parts.path == "/uc" and query.get("id") in self.state.drive_files:
            name, data = self.state.drive_files[query["id"]]
            self._send_bytes(data, {"Content-Disposition": f'attachment; filename="{name}"'})
        elif parts.path in self.state.files:
            self._send_bytes(self.state.files[parts.path], {})
        else:
            self.send_error(404, "Not Found")

    def _send_folder(self, folder_id: str) -> None:
        """The HTML of Drive's embedded folder view, as gdown parses it."""
        title, children = self.state.drive_folders[folder_id]
        links = "".join(
            f'<a href="https://drive.google.com/drive/folders/{child}">{name}</a>'
            if is_folder
            else f'<a href="https://drive.google.com/file/d/{child}/view">{name}</a>'
            for child, name, is_folder in children
        )
        body = f"<html><head><title>{title}</title></head><body>{links}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_bytes(self, data: bytes, headers: dict[str, str]) -> None:
        """``data`` whole (200) or from a Range start (206); cut short once when asked to."""
        start = self._range_start(len(data))
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        path = urllib.parse.urlsplit(self.path).path
        cut = self.state.cut_once.pop(path, self.state.cut_always.get(path))
        body = data[start:] if cut is None else data[start:cut]
        self.wfile.write(body)

    def _range_start(self, length: int) -> int:
        """The first byte a ``Range: bytes=N-`` header asks for (0 without one, or if ignored)."""
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        path = urllib.parse.urlsplit(self.path).path
        if match is None or path in self.state.ignore_range or int(match.group(1)) >= length:
            return 0
        return int(match.group(1))


@dataclass
class Server:
    """The running server: its state and base URL."""

    state: ServerState
    base: str

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.base.rsplit(":", 1)[1])


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A live server on 127.0.0.1; requests to Google Drive hosts are redirected to it."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    state = ServerState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    live = Server(state, f"http://127.0.0.1:{httpd.server_address[1]}")
    _redirect_drive(monkeypatch, live.port)
    try:
        yield live
    finally:
        httpd.shutdown()
        httpd.server_close()


def _redirect_drive(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Send gdown's requests for Drive hosts to the local server; refuse any other host."""
    original = requests.adapters.HTTPAdapter.send

    def send(
        self: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **kwargs: object
    ) -> requests.Response:
        parts = urllib.parse.urlsplit(request.url or "")
        if parts.hostname in DRIVE_HOSTS:
            request.url = urllib.parse.urlunsplit(
                ("http", f"127.0.0.1:{port}", parts.path, parts.query, "")
            )
            kwargs["proxies"] = {}
        elif parts.hostname != "127.0.0.1":
            raise requests.ConnectionError(f"test network: {parts.hostname} is not reachable")
        return original(self, request, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)


# ----------------------------------------------------------------------------------------------
# Test manifest, home and CLI.


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``I2I_HOME`` for the test."""
    root = tmp_path / "home"
    monkeypatch.setenv("I2I_HOME", str(root))
    return root


def use_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    """Write a test manifest and point ``I2I_MANIFESTS`` at it."""
    path = tmp_path / "test-manifest.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("I2I_MANIFESTS", str(path))
    return path


def entry(name: str, file: str, source: str, *, digest: str | None = None, exp: str = "t") -> str:
    """One manifest table; ``source`` is the inline table of its single source."""
    check = f'sha256 = "{digest}"\n' if digest else ""
    return (
        f'[artifacts.{name}]\nfile = "{file}"\nexperiments = ["{exp}"]\nnote = "test"\n'
        f"{check}sources = [{source}]\n\n"
    )


def url_entry(server: Server, name: str, path: str, digest: str | None, exp: str = "t") -> str:
    """A manifest table fetching ``path`` from the test server."""
    return entry(
        name, Path(path).name, f'{{ url = "{server.base}{path}" }}', digest=digest, exp=exp
    )


def cli_app() -> typer.Typer:
    """A minimal app with ``download`` as a subcommand, as ``i2i_cli.cli.app`` registers it."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """i2i (test app)."""

    app.command("download")(download)
    return app


def i2i(*args: str) -> Result:
    """Run ``i2i ARGS`` in process."""
    return CliRunner().invoke(cli_app(), list(args), env={"COLUMNS": "200"})


@pytest.fixture
def good(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """A manifest with ``t_good`` (published sha256) served at /files/good.bin."""
    server.state.files["/files/good.bin"] = PAYLOAD
    use_manifest(
        tmp_path, monkeypatch, url_entry(server, "t_good", "/files/good.bin", sha256(PAYLOAD))
    )
    return home / "t_good" / "good.bin"
