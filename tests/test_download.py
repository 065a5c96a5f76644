"""``i2i download`` against a real HTTP server on 127.0.0.1 (and gdown redirected to it)."""

from __future__ import annotations

import hashlib
import json
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

from i2i_cli.checkpoints.downloads import DownloadError
from i2i_cli.checkpoints.loading import load_checkpoint
from i2i_cli.checkpoints.store import CheckpointStore
from i2i_cli.commands.download import download
from i2i_cli.errors import I2IError

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

DRIVE_FILE_ID = "F" * 30
DRIVE_FOLDER_ID = "D" * 30
DRIVE_SUBFOLDER_ID = "S" * 30


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
    """A minimal app with ``download`` as a subcommand, as ``i2i_cli.app`` registers it."""
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


# ----------------------------------------------------------------------------------------------
# Plain HTTP downloads.


def test_download_fetches_checks_and_records_a_file(good: Path) -> None:
    result = i2i("download", "t_good")
    assert result.exit_code == 0, result.output
    assert good.read_bytes() == PAYLOAD
    assert "sha256 verified" in result.stdout
    record = json.loads((good.parent / ".verified.json").read_text())
    assert record["sha256"] == sha256(PAYLOAD) and record["published"] is True
    assert sorted(p.name for p in good.parent.iterdir()) == [".verified.json", "good.bin"]


def test_a_cached_file_is_not_fetched_again(good: Path, server: Server) -> None:
    assert i2i("download", "t_good").exit_code == 0
    result = i2i("download", "t_good")
    assert "already cached" in result.stdout
    assert len(server.state.requests_for("/files/good.bin")) == 1


def test_force_fetches_again(good: Path, server: Server) -> None:
    assert i2i("download", "t_good").exit_code == 0
    assert i2i("download", "--force", "t_good").exit_code == 0
    assert len(server.state.requests_for("/files/good.bin")) == 2


def test_an_interrupted_transfer_resumes_with_a_range_request(good: Path, server: Server) -> None:
    server.state.cut_once["/files/good.bin"] = 1_000_000
    result = i2i("download", "t_good")
    assert result.exit_code == 0, result.output
    first, second = server.state.requests_for("/files/good.bin")
    assert "Range" not in first
    assert second["Range"] == "bytes=1000000-"
    assert sha256(good.read_bytes()) == sha256(PAYLOAD)


def _break_off_after_1000_bytes(good: Path, server: Server) -> None:
    """A run whose transfer keeps breaking off at byte 1000: it fails and keeps its partial file."""
    server.state.cut_always["/files/good.bin"] = 1000
    failed = i2i("download", "t_good")
    del server.state.cut_always["/files/good.bin"]
    assert failed.exit_code == 1
    assert "is kept for the next run to resume" in failed.stderr
    assert good.with_name("good.bin.download").read_bytes() == PAYLOAD[:1000]


def test_a_partial_file_from_an_earlier_run_is_resumed(good: Path, server: Server) -> None:
    _break_off_after_1000_bytes(good, server)
    assert i2i("download", "t_good").exit_code == 0
    assert server.state.requests_for("/files/good.bin")[-1]["Range"] == "bytes=1000-"
    assert good.read_bytes() == PAYLOAD


def test_a_server_ignoring_range_restarts_the_file(good: Path, server: Server) -> None:
    _break_off_after_1000_bytes(good, server)
    server.state.ignore_range.add("/files/good.bin")
    assert i2i("download", "t_good").exit_code == 0
    assert server.state.requests_for("/files/good.bin")[-1]["Range"] == "bytes=1000-"
    assert good.read_bytes() == PAYLOAD


def test_a_partial_file_of_unknown_origin_is_not_resumed(good: Path, server: Server) -> None:
    good.parent.mkdir(parents=True)
    good.with_name("good.bin.download").write_bytes(b"bytes from who knows where")
    assert i2i("download", "t_good").exit_code == 0
    (only,) = server.state.requests_for("/files/good.bin")
    assert "Range" not in only
    assert good.read_bytes() == PAYLOAD


def test_a_wrong_hash_removes_the_download_and_says_expected_and_got(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    server.state.files["/files/wrong.bin"] = b"not the published bytes"
    expected = sha256(PAYLOAD)
    use_manifest(tmp_path, monkeypatch, url_entry(server, "t_wrong", "/files/wrong.bin", expected))
    result = i2i("download", "t_wrong")
    assert result.exit_code == 1
    assert f"expected sha256 {expected}, got {sha256(b'not the published bytes')}" in result.stderr
    assert "removed" in result.stderr
    assert list((home / "t_wrong").iterdir()) == []


def test_a_404_is_one_line_naming_the_url_and_the_hand_download_path(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(tmp_path, monkeypatch, url_entry(server, "t_gone", "/files/gone.bin", None))
    result = i2i("download", "t_gone")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"{server.base}/files/gone.bin" in line and "404" in line
    assert str(home / "t_gone" / "gone.bin") in line
    assert "`i2i download --from FILE t_gone`" in line


def test_an_unreachable_host_is_a_download_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(
        tmp_path, monkeypatch, entry("t_far", "far.bin", '{ url = "http://127.0.0.1:9/far.bin" }')
    )
    store = CheckpointStore.open()
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1:9/far\.bin: cannot connect"):
        store.download("t_far")


def test_the_next_source_is_tried_when_one_fails(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    server.state.files["/files/good.bin"] = PAYLOAD
    sources = (
        f'{{ url = "{server.base}/files/gone.bin" }}, {{ url = "{server.base}/files/good.bin" }}'
    )
    use_manifest(tmp_path, monkeypatch, entry("t_two", "two.bin", sources, digest=sha256(PAYLOAD)))
    assert i2i("download", "t_two").exit_code == 0
    assert (home / "t_two" / "two.bin").read_bytes() == PAYLOAD


def test_an_entry_without_sha256_records_the_hash_it_got(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    server.state.files["/files/plain.bin"] = PAYLOAD
    use_manifest(tmp_path, monkeypatch, url_entry(server, "t_plain", "/files/plain.bin", None))
    result = i2i("download", "t_plain")
    assert result.exit_code == 0, result.output
    assert f"no published sha256; recorded {sha256(PAYLOAD)}" in result.stdout
    record = json.loads((home / "t_plain" / ".verified.json").read_text())
    assert record["sha256"] == sha256(PAYLOAD) and record["published"] is False
    assert "recorded" in i2i("download", "--list", "t_plain").stdout
    verify = i2i("download", "--verify", "t_plain")
    assert verify.exit_code == 0 and "matches the hash recorded" in verify.stdout


def test_download_by_experiment_fetches_each_of_its_artifacts(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    server.state.files.update({"/files/a.bin": b"a", "/files/b.bin": b"b"})
    use_manifest(
        tmp_path,
        monkeypatch,
        url_entry(server, "t_a", "/files/a.bin", sha256(b"a"), exp="pair")
        + url_entry(server, "t_b", "/files/b.bin", sha256(b"b"), exp="pair"),
    )
    assert i2i("download", "--exp", "pair").exit_code == 0
    assert (home / "t_a" / "a.bin").read_bytes() == b"a"
    assert (home / "t_b" / "b.bin").read_bytes() == b"b"


# ----------------------------------------------------------------------------------------------
# Unreleased artifacts, --from, --verify, --list, no arguments.

UNRELEASED = """
[artifacts.t_secret]
file = "secret.pt"
experiments = ["t"]
status = "unreleased"
note = "the authors never published it"
"""


def test_an_unreleased_artifact_asked_by_name_fails_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(tmp_path, monkeypatch, UNRELEASED)
    result = i2i("download", "t_secret")
    assert result.exit_code != 0
    assert "never published" in result.stderr


def test_an_unreleased_artifact_is_skipped_under_exp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(tmp_path, monkeypatch, UNRELEASED)
    result = i2i("download", "--exp", "t")
    assert result.exit_code == 0
    assert "t_secret: skipped, unreleased: the authors never published it" in result.stdout


def test_from_adopts_a_file_with_the_right_hash(good: Path, tmp_path: Path) -> None:
    mine = tmp_path / "by-hand.bin"
    mine.write_bytes(PAYLOAD)
    result = i2i("download", "--from", str(mine), "t_good")
    assert result.exit_code == 0, result.output
    assert good.read_bytes() == PAYLOAD and mine.exists()
    assert "verified" in i2i("download", "--list", "t_good").stdout


def test_from_refuses_a_file_with_the_wrong_hash(good: Path, tmp_path: Path) -> None:
    mine = tmp_path / "by-hand.bin"
    mine.write_bytes(b"something else")
    result = i2i("download", "--from", str(mine), "t_good")
    assert result.exit_code == 2
    assert f"expected sha256 {sha256(PAYLOAD)}, got {sha256(b'something else')}" in result.stderr
    assert not good.exists() and list(good.parent.iterdir()) == []


def test_from_supplies_an_unreleased_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(tmp_path, monkeypatch, UNRELEASED)
    mine = tmp_path / "trained.pt"
    mine.write_bytes(b"my weights")
    assert i2i("download", "--from", str(mine), "t_secret").exit_code == 0
    assert CheckpointStore.open().require("t_secret").read_bytes() == b"my weights"


def test_verify_rehashes_and_fails_on_a_changed_file(good: Path) -> None:
    assert i2i("download", "t_good").exit_code == 0
    ok = i2i("download", "--verify")
    assert ok.exit_code == 0 and "t_good: ok" in ok.stdout
    good.write_bytes(PAYLOAD[:-1] + b"!")
    bad = i2i("download", "--verify", "t_good")
    assert bad.exit_code == 1
    assert f"expected sha256 {sha256(PAYLOAD)}" in bad.stdout and "MISMATCH" in bad.stdout
    assert "failed verification: t_good" in bad.stderr


def test_list_shows_size_status_cached_and_verified(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    text = url_entry(server, "t_good", "/files/good.bin", sha256(PAYLOAD)) + UNRELEASED
    use_manifest(tmp_path, monkeypatch, text)
    assert i2i("download", "t_good").exit_code == 0
    result = i2i("download", "--list")
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["t_good"][-5:] == ["3.1", "MB", "available", "yes", "yes"]  # size on disk
    assert rows["t_secret"][-3:] == ["unreleased", "no", "-"]
    assert rows["afhq_dog_4m"][-4:] == ["MB", "available", "no", "-"]  # "~374 MB", shipped


def test_no_arguments_print_a_usage_hint_and_exit_2(home: Path) -> None:
    result = i2i("download")
    assert result.exit_code == 2
    assert "usage: i2i download" in result.stderr


# ----------------------------------------------------------------------------------------------
# Google Drive through the real gdown, its HTTP redirected to the local server.


def test_a_drive_file_is_fetched_through_gdown(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    server.state.drive_files[DRIVE_FILE_ID] = ("weights.pt", PAYLOAD)
    source = f'{{ drive_file = "{DRIVE_FILE_ID}" }}'
    use_manifest(tmp_path, monkeypatch, entry("t_drive", "w.pt", source, digest=sha256(PAYLOAD)))
    result = i2i("download", "t_drive")
    assert result.exit_code == 0, result.output
    assert (home / "t_drive" / "w.pt").read_bytes() == PAYLOAD
    assert server.state.requests_for(f"/uc?id={DRIVE_FILE_ID}")
    assert sorted(p.name for p in (home / "t_drive").iterdir()) == [".verified.json", "w.pt"]


def test_an_interrupted_drive_transfer_is_resumed_by_gdown(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    server.state.drive_files[DRIVE_FILE_ID] = ("weights.pt", PAYLOAD)
    server.state.cut_once["/uc"] = 1_500_000
    monkeypatch.setattr("random.uniform", lambda low, high: 0.0)  # gdown's retry back-off
    source = f'{{ drive_file = "{DRIVE_FILE_ID}" }}'
    use_manifest(tmp_path, monkeypatch, entry("t_drive", "w.pt", source, digest=sha256(PAYLOAD)))
    assert i2i("download", "t_drive").exit_code == 0
    first, second = (h.get("Range") for h in server.state.requests_for("/uc"))
    assert first is None  # gdown resumes from the last whole chunk it wrote
    assert second is not None and 0 < int(second.removeprefix("bytes=").rstrip("-")) <= 1_500_000
    assert (home / "t_drive" / "w.pt").read_bytes() == PAYLOAD


def _drive_folder(server: Server) -> None:
    """A Drive folder: a file at the top and a subfolder with two training snapshots."""
    server.state.drive_folders[DRIVE_FOLDER_ID] = (
        "models",
        [("T" * 30, "top.pt", False), (DRIVE_SUBFOLDER_ID, "log2D0", True)],
    )
    server.state.drive_folders[DRIVE_SUBFOLDER_ID] = (
        "log2D0",
        [("A" * 30, "model000100.pt", False), ("B" * 30, "model002000.pt", False)],
    )
    server.state.drive_files["T" * 30] = ("top.pt", b"top")
    server.state.drive_files["A" * 30] = ("model000100.pt", b"early")
    server.state.drive_files["B" * 30] = ("model002000.pt", b"late")


def test_a_drive_folder_entry_picks_its_path_from_the_listing(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    _drive_folder(server)
    top = f'{{ drive_folder = "{DRIVE_FOLDER_ID}", path = "top.pt" }}'
    latest = f'{{ drive_folder = "{DRIVE_FOLDER_ID}", path = "log2D0/model*.pt" }}'
    use_manifest(
        tmp_path,
        monkeypatch,
        entry("t_top", "top.pt", top, digest=sha256(b"top"))
        + entry("t_latest", "model.pt", latest),
    )
    result = i2i("download", "t_top", "t_latest")
    assert result.exit_code == 0, result.output
    assert (home / "t_top" / "top.pt").read_bytes() == b"top"
    assert (home / "t_latest" / "model.pt").read_bytes() == b"late"  # the largest step
    assert server.state.requests_for(f"/embeddedfolderview?id={DRIVE_FOLDER_ID}")


def test_a_path_missing_from_a_drive_folder_lists_what_is_there(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    _drive_folder(server)
    source = f'{{ drive_folder = "{DRIVE_FOLDER_ID}", path = "absent.pt" }}'
    use_manifest(tmp_path, monkeypatch, entry("t_absent", "absent.pt", source))
    result = i2i("download", "t_absent")
    assert result.exit_code == 1
    assert "no file 'absent.pt' in the folder" in result.stderr
    assert "log2D0/model002000.pt" in result.stderr and "top.pt" in result.stderr


# ----------------------------------------------------------------------------------------------
# Safe loading.


def test_load_checkpoint_reads_a_state_dict(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "ok.pt"
    torch.save({"weight": torch.ones(3)}, path)
    assert torch.equal(load_checkpoint(path)["weight"], torch.ones(3))


def test_load_checkpoint_turns_a_truncated_file_into_one_line(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "cut.pt"
    torch.save({"weight": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(I2IError, match=r"cut\.pt: the file is corrupt or truncated") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)


def test_load_checkpoint_refuses_arbitrary_objects(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "object.pt"
    torch.save({"model": ServerState()}, path)
    with pytest.raises(I2IError, match="refusing to unpickle"):
        load_checkpoint(path)
