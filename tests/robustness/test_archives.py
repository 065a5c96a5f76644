"""The robustness corpus, archives: a zip bomb, and a good zip whose temporary folder is full.

LDM's ``vq-f4.zip`` is read by copying its ``model.ckpt`` out to a temporary file. A member
that declares far more than it compresses to is refused before anything is written; a good
archive whose temporary folder has no room says the disk is full and which folder it holds,
never that the archive is corrupt.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import pytest
import torch

from i2i_cli.base.errors import I2IError
from tests.conftest import run_i2i
from tests.robustness.run_helpers import error_line, snapshot

GIB_IN_MIB = 1024


def zip_bomb(path: Path, name: str = "model.ckpt", mib: int = GIB_IN_MIB) -> Path:
    """A zip whose one member inflates to ``mib`` MiB of zeros from about 1 MiB (a valid zip).

    The deflate stream is one fully flushed block of 1 MiB of zeros repeated (each block stands
    alone), so it is made in well under a second.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    data = block * mib + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc, zeros = 0, bytes(1 << 20)
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    size, encoded = mib << 20, name.encode()
    local = struct.pack(
        "<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0
    )
    central = struct.pack(
        "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
        len(encoded), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    directory = central + encoded
    start = len(local) + len(encoded) + len(data)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), start, 0)
    path.write_bytes(local + encoded + data + directory + end)
    return path


def good_zip(path: Path) -> Path:
    """LDM's layout: a zip holding ``model.ckpt``, a Lightning-style dict of tensors."""
    buffer = io.BytesIO()
    torch.save({"state_dict": {"encoder.conv_in.weight": torch.ones(4, 3, 3, 3)}}, buffer)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.ckpt", buffer.getvalue())
    return path


@pytest.fixture
def temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of the test's own (``tempfile.tempdir``), empty."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def read_vq(path: Path) -> str:
    """The one line ``read_vq_weights`` raises for ``path``."""
    from i2i_ldm.weights import read_vq_weights

    with pytest.raises(I2IError) as caught:
        read_vq_weights(path)
    line = str(caught.value)
    assert "\n" not in line, line
    return line


def test_a_member_that_inflates_to_a_gibibyte_is_refused_before_extracting(
    tmp_path: Path, temporary: Path
) -> None:
    bomb = zip_bomb(tmp_path / "vq-f4.zip")
    line = read_vq(bomb)
    assert "declares 1.1 GB unpacked from 1.1 MB" in line and "model.ckpt" in line, line
    assert "zip bomb" in line, line
    assert snapshot(temporary) == {}


def test_a_zip_bomb_offered_to_download_from_is_not_cached(tmp_path: Path, temporary: Path) -> None:
    bomb = zip_bomb(tmp_path / "vq-f4.zip")
    result = run_i2i(["download", "--from", str(bomb), "bbdm_vqgan_f4"])
    error_line(result, "is not 'bbdm_vqgan_f4'", "declares 1.1 GB unpacked")
    assert snapshot(temporary) == {}
    assert snapshot(Path(os.environ["I2I_HOME"])) == {}


def test_a_good_zip_without_room_in_the_temporary_folder_names_that_disk(
    tmp_path: Path, temporary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    archive = good_zip(tmp_path / "vq-f4.zip")
    usage = shutil.disk_usage(temporary)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    line = read_vq(archive)
    assert f"the disk holding the temporary folder {temporary} has 1.0 kB free" in line, line
    assert "corrupt" not in line and "download it again" not in line, line
    assert "TMPDIR" in line, line


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_good_zip_whose_temporary_disk_fills_while_copying_says_the_disk_is_full(
    tmp_path: Path, temporary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy is written to /dev/full (every write fails with ENOSPC), as on a full disk."""
    archive = good_zip(tmp_path / "vq-f4.zip")
    folder = temporary / "i2i-ldm-full"
    folder.mkdir()
    (folder / "model.ckpt").symlink_to("/dev/full")
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *args, **kwargs: str(folder))
    line = read_vq(archive)
    assert f"the disk holding the temporary folder {temporary} is full" in line, line
    assert "corrupt" not in line and "download it again" not in line, line
