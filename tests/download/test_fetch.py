"""``i2i download`` fetching over HTTP and from Google Drive (real gdown) from a local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from i2i_cli.checkpoints.downloads import DownloadError
from i2i_cli.checkpoints.store import CheckpointStore
from tests.download.conftest import PAYLOAD, Server, entry, i2i, sha256, url_entry, use_manifest

DRIVE_FILE_ID = "F" * 30
DRIVE_FOLDER_ID = "D" * 30
DRIVE_SUBFOLDER_ID = "S" * 30


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
    assert not (home / "t_wrong").exists()  # nothing left, not even an empty folder


def test_a_404_is_a_short_line_then_the_url_and_the_hand_download_path(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(tmp_path, monkeypatch, url_entry(server, "t_gone", "/files/gone.bin", None))
    result = i2i("download", "t_gone")
    assert result.exit_code == 1
    first, detail, advice = result.stderr.strip().splitlines()
    host = server.base.removeprefix("http://")
    assert first == f"error: cannot download 't_gone': HTTP 404 from {host}"
    assert f"{server.base}/files/gone.bin" in detail and "404" in detail
    assert str(home / "t_gone" / "gone.bin") in advice
    assert "`i2i download --from FILE t_gone`" in advice
    assert not (home / "t_gone").exists()  # a failed download leaves no empty folder


def test_an_unreachable_host_is_a_download_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_manifest(
        tmp_path, monkeypatch, entry("t_far", "far.bin", '{ url = "http://127.0.0.1:9/far.bin" }')
    )
    store = CheckpointStore.open()
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1:9/far\.bin: cannot connect"):
        store.download("t_far")
    assert not (home / "t_far").exists()


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
        + entry("t_latest", "model.bin", latest),  # .bin: no torch contents check
    )
    result = i2i("download", "t_top", "t_latest")
    assert result.exit_code == 0, result.output
    assert (home / "t_top" / "top.pt").read_bytes() == b"top"
    assert (home / "t_latest" / "model.bin").read_bytes() == b"late"  # the largest step
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
