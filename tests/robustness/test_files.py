"""The robustness corpus, file half: broken, hostile and wrong checkpoints, unreachable hosts, bad
statistics (bad inputs to runs are in test_input_files.py). Every input is made at test time;
every case is one error line, a non-zero exit, no traceback, and the cache exactly as it was.

The checkpoints belong to a test manifest whose artifacts name the ``ddib-2d`` backbone shrunk
to a tiny width (its structure check builds on the meta device in milliseconds), an ``.npz`` of
statistics, a torch file without a backbone and one with a published sha256 prefix.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import threading
import zipfile
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i_cli.checkpoints.structure import expected_shapes
from tests.conftest import run_i2i
from tests.download.conftest import Handler, ServerState
from tests.robustness.file_helpers import RunsAShell, assert_safe, stats
from tests.robustness.run_helpers import error_line, snapshot

TINY = {"num_channels": 32, "num_res_blocks": 1}
"""ddib-2d shrunk: the network of the test artifact ``t_points``."""


def manifest_text(url: str = "http://127.0.0.1:9") -> str:
    """The test manifest: four artifacts fetched from ``url`` (default: a closed port)."""
    return (
        '[artifacts.t_points]\nfile = "points.pt"\nbackbone = "ddib-2d"\n'
        "overrides = { num_channels = 32, num_res_blocks = 1 }\n"
        f'note = "test"\nsources = [{{ url = "{url}/points.pt" }}]\n\n'
        '[artifacts.t_stats]\nfile = "stats.npz"\narrays = ["mu", "sigma"]\n'
        f'note = "test"\nsources = [{{ url = "{url}/stats.npz" }}]\n\n'
        '[artifacts.t_weights]\nfile = "weights.pth"\n'
        f'note = "test"\nsources = [{{ url = "{url}/weights.pth" }}]\n\n'
        '[artifacts.t_hub]\nfile = "hub-00000000.pth"\nsha256_prefix = "00000000"\n'
        f'note = "test"\nsources = [{{ url = "{url}/hub-00000000.pth" }}]\n'
    )


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test manifest in ``I2I_MANIFESTS`` (sources on a closed port)."""
    path = tmp_path / "manifest.toml"
    path.write_text(manifest_text())
    monkeypatch.setenv("I2I_MANIFESTS", str(path))
    return path


def home() -> Path:
    """The test's checkpoint cache (``I2I_HOME``, set per test by ``isolated_home``)."""
    return Path(os.environ["I2I_HOME"])


def i2i(*args: str) -> subprocess.CompletedProcess[str]:
    """``i2i ARGS`` in process, with the test manifest."""
    return run_i2i(list(args), env={"I2I_MANIFESTS": os.environ.get("I2I_MANIFESTS", "")})


# ----------------------------------------------------------------------------------------------
# Files of every kind, made at test time.


def good_points(path: Path, overrides: dict[str, int] = TINY) -> Path:
    """A state dict with every tensor the tiny ddib-2d builds (seeded values)."""
    generator = torch.Generator().manual_seed(0)
    shapes = expected_shapes("ddib-2d", None, overrides)
    torch.save({k: torch.randn(s, generator=generator) for k, s in shapes.items()}, path)
    return path


class SomeObject:
    """A class of a module nobody blocks: still not allowed."""


def random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).bytes(100_000))


def truncated(path: Path) -> None:
    good_points(path)
    path.write_bytes(path.read_bytes()[:700])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def html_page(path: Path) -> None:
    path.write_text(
        "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head>"
        "<body>Google Drive can't scan this file for viruses.</body></html>"
    )


def wrong_width(path: Path) -> None:
    good_points(path, {"num_channels": 64, "num_res_blocks": 1})


def other_model(path: Path) -> None:
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, path)


def hostile_shell(path: Path) -> None:
    torch.save({"weight": RunsAShell()}, path)


def hostile_object(path: Path) -> None:
    torch.save({"weight": SomeObject()}, path)


def plain_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")


def no_tensors(path: Path) -> None:
    torch.save({"epoch": 3, "lr": 0.1}, path)


ADOPTION_CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "random-bytes": (random_bytes, ("is not a checkpoint (its first bytes",)),
    "truncated": (truncated, ("the file is truncated",)),
    "empty": (empty, ("the file is empty",)),
    "html-page": (html_page, ("web page (HTML)",)),
    "wrong-architecture": (wrong_width, ("do not fit ddib-2d", "shape mismatches")),
    "another-model": (other_model, ("do not fit ddib-2d", "missing keys")),
    "hostile-os-system": (hostile_shell, ("not allowed to run", "system")),
    "hostile-object": (hostile_object, ("not allowed to run", "SomeObject")),
    "zip-not-torch": (plain_zip, ("corrupt or truncated",)),
    "no-tensors": (no_tensors, ("does not hold a state dict of tensors",)),
}


@pytest.fixture
def cached(manifest: Path, tmp_path: Path) -> dict[str, bytes]:
    """``t_points`` adopted from a good file; the cache snapshot after it."""
    good = good_points(tmp_path / "good.pt")
    adopted = i2i("download", "--from", str(good), "t_points")
    assert adopted.returncode == 0, adopted.stderr
    assert "structure verified (ddib-2d with num_channels=32, num_res_blocks=1" in adopted.stdout
    assert "sha256 recorded" in adopted.stdout
    return snapshot(home())


@pytest.mark.parametrize("case", list(ADOPTION_CASES))
def test_adopting_a_bad_file_is_refused_and_keeps_the_cached_one(
    case: str, cached: dict[str, bytes], tmp_path: Path
) -> None:
    make, needles = ADOPTION_CASES[case]
    bad = tmp_path / "hand-download.pt"
    make(bad)
    result = i2i("download", "--from", str(bad), "--force", "t_points")
    line = error_line(result, str(bad), "is not 't_points'", "nothing was copied", *needles)
    assert_safe(line)
    assert snapshot(home()) == cached


def test_a_first_adoption_of_random_bytes_leaves_no_file(manifest: Path, tmp_path: Path) -> None:
    bad = tmp_path / "random.pt"
    random_bytes(bad)
    error_line(i2i("download", "--from", str(bad), "t_points"), "is not a checkpoint")
    assert snapshot(home()) == {}


# ----------------------------------------------------------------------------------------------
# Arrays and files without a network.


NPZ_CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "npz-missing-array": (
        lambda p: stats(p, mu=np.zeros(4)),
        ("lacks the arrays sigma", "it holds: mu"),
    ),
    "npz-object-array": (
        lambda p: stats(p, mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(1)),
        ("Python objects", "not allowed to run"),
    ),
    "npy-not-npz": (lambda p: np.save(p.open("wb"), np.zeros(3)), ("not an .npz archive",)),
    "pickle-as-npz": (lambda p: p.write_bytes(pickle.dumps([1, 2])), ("not an .npy/.npz file",)),
}


@pytest.mark.parametrize("case", list(NPZ_CASES))
def test_adopting_bad_statistics_is_refused(case: str, manifest: Path, tmp_path: Path) -> None:
    make, needles = NPZ_CASES[case]
    bad = tmp_path / "stats-by-hand.npz"
    make(bad)
    line = error_line(i2i("download", "--from", str(bad), "t_stats"), str(bad), *needles)
    assert_safe(line)
    assert snapshot(home()) == {}


def test_good_statistics_are_adopted_with_their_arrays_named(
    manifest: Path, tmp_path: Path
) -> None:
    good = tmp_path / "stats.npz"
    stats(good, mu=np.zeros(4), sigma=np.eye(4))
    result = i2i("download", "--from", str(good), "t_stats")
    assert result.returncode == 0, result.stderr
    assert "structure verified (arrays mu, sigma), sha256 recorded" in result.stdout


def test_a_torch_file_without_tensors_is_refused(manifest: Path, tmp_path: Path) -> None:
    bad = tmp_path / "weights.pth"
    torch.save({"epoch": 3}, bad)
    error_line(i2i("download", "--from", str(bad), "t_weights"), "holds no tensors")
    assert snapshot(home()) == {}


def test_a_file_against_a_published_prefix_is_refused(manifest: Path, tmp_path: Path) -> None:
    bad = tmp_path / "hub.pth"
    torch.save({"weight": torch.ones(2)}, bad)
    error_line(i2i("download", "--from", str(bad), "t_hub"), "sha256 starting with 00000000")
    assert snapshot(home()) == {}


# ----------------------------------------------------------------------------------------------
# --verify of files already in the cache.


def test_verify_finds_garbage_put_into_the_cache_by_hand(manifest: Path) -> None:
    target = home() / "t_points" / "points.pt"
    target.parent.mkdir(parents=True)
    random_bytes(target)
    before = snapshot(home())
    result = i2i("download", "--verify", "t_points")
    error_line(result, "1 of 1 cached files failed verification", "t_points")
    assert "t_points: MISMATCH" in result.stdout and "is not a checkpoint" in result.stdout
    assert snapshot(home()) == before


def test_verify_finds_a_cached_file_replaced_by_another_network(
    cached: dict[str, bytes],
) -> None:
    target = home() / "t_points" / "points.pt"
    wrong_width(target)
    result = i2i("download", "--verify", "t_points")
    error_line(result, "failed verification")
    assert "do not fit ddib-2d" in result.stdout
    assert (home() / "t_points" / "points.pt").is_file()


def test_verify_of_a_good_cached_file_says_what_was_verified(cached: dict[str, bytes]) -> None:
    result = i2i("download", "--verify", "t_points")
    assert result.returncode == 0, result.stderr
    assert "ok, structure verified (ddib-2d" in result.stdout
    assert "matches the hash recorded earlier" in result.stdout
    assert "structure" in i2i("download", "--list", "t_points").stdout


# ----------------------------------------------------------------------------------------------
# Downloads: a local server that hands out bad files, a closed port.


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerState]:
    """A server on 127.0.0.1 and the test manifest fetching from it."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Bound", (Handler,), {"state": state}))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    path = tmp_path / "manifest.toml"
    path.write_text(manifest_text(f"http://127.0.0.1:{httpd.server_address[1]}"))
    monkeypatch.setenv("I2I_MANIFESTS", str(path))
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def serialised(make: Callable[[Path], None], tmp_path: Path) -> bytes:
    """The bytes ``make`` writes."""
    path = tmp_path / "made.bin"
    make(path)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("html-page", "web page (HTML)"),
        ("random-bytes", "is not a checkpoint"),
        ("wrong-architecture", "do not fit ddib-2d"),
        ("hostile-os-system", "not allowed to run"),
    ],
)
def test_a_bad_download_is_removed_and_named(
    case: str, needle: str, served: ServerState, tmp_path: Path
) -> None:
    served.files["/points.pt"] = serialised(ADOPTION_CASES[case][0], tmp_path)
    result = i2i("download", "t_points")
    line = error_line(result, "cannot download 't_points'", "not this checkpoint")
    assert len(line) < 100, line
    assert needle in result.stderr
    assert_safe(result.stderr)
    assert [p.name for p in home().rglob("*") if p.is_file()] == []


def test_a_good_download_is_structure_verified(served: ServerState, tmp_path: Path) -> None:
    served.files["/points.pt"] = good_points(tmp_path / "p.pt").read_bytes()
    result = i2i("download", "t_points")
    assert result.returncode == 0, result.stderr
    assert "structure verified (ddib-2d" in result.stdout and "sha256 recorded" in result.stdout


def test_a_missing_file_on_the_server_is_a_short_line(served: ServerState) -> None:
    result = i2i("download", "t_points")
    line = error_line(result, "cannot download 't_points': HTTP 404 from 127.0.0.1")
    assert len(line) < 100, line
    assert snapshot(home()) == {}


def test_an_unreachable_host_is_a_short_line_then_details(manifest: Path) -> None:
    result = i2i("download", "t_points")
    line = error_line(result, "cannot download 't_points': cannot connect to 127.0.0.1:9")
    assert len(line) < 100, line
    details = result.stderr.strip().splitlines()[1:]
    assert any("http://127.0.0.1:9/points.pt: cannot connect" in d for d in details)
    assert "i2i download --from FILE t_points" in details[-1]
    assert [p.name for p in home().rglob("*") if p.is_file()] == []  # no .download.source


def test_a_legacy_torch_file_of_the_right_network_is_adopted(
    manifest: Path, tmp_path: Path
) -> None:
    """Not a fault: a pre-1.6 torch.save file cannot be memory-mapped and is read instead."""
    legacy = tmp_path / "legacy.pt"
    shapes = expected_shapes("ddib-2d", None, TINY)
    buffer = io.BytesIO()
    torch.save(
        {k: torch.zeros(s) for k, s in shapes.items()}, buffer, _use_new_zipfile_serialization=False
    )
    legacy.write_bytes(buffer.getvalue())
    result = i2i("download", "--from", str(legacy), "t_points")
    assert result.returncode == 0, result.stderr
