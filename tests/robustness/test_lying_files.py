"""The robustness corpus, lying files: every format the loaders accept, as everything it is not.

Each format (a torch zip archive, a legacy torch stream, an EDM pickle, safetensors, .npz, .npy,
LDM's model zip, NVIDIA's detector pickle) is given to its loader as text (starting with ``c``,
pickle's GLOBAL opcode), a web page, random bytes (``c`` and thousands of bytes without a
newline), a good file cut in half, its own magic bytes followed by junk, and, where the format
can carry code, a hostile file. Each is one short line saying what the file is; only the
hostile file is called hostile.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from i2i_cli.base.errors import I2IError

Make = Callable[[Path], None]


class RunsAShell:
    """Unpickling this would call ``os.system``; every loader refuses it first."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo ran > hostile.marker",))


def torch_bytes(obj: Any, legacy: bool = False) -> bytes:
    """``torch.save(obj)`` as bytes: a zip archive, or the legacy (pre-1.6) stream."""
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def weights() -> dict[str, torch.Tensor]:
    """A small state dict."""
    return {"layer.weight": torch.arange(600, dtype=torch.float32).reshape(20, 30)}


def safetensors_bytes() -> bytes:
    """``weights()`` as a safetensors file."""
    from safetensors.torch import save

    return save(weights())


def npz_bytes(**arrays: Any) -> bytes:
    """``np.savez`` of ``arrays`` as bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    """``np.save`` of ``array`` as bytes."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def ldm_zip_bytes(member: bytes) -> bytes:
    """LDM's distributed layout: a zip holding ``model.ckpt``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.ckpt", member)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------
# Each format: its file suffix, its loader, a good file, its magic and a hostile file (if any).


def load_torch(path: Path) -> Any:
    from i2i_cli.weights.loading import load_checkpoint

    return load_checkpoint(path)


def load_edm(path: Path) -> Any:
    from i2i_edm.pickles import read_edm_weights

    return read_edm_weights(path)


def load_npz(path: Path) -> Any:
    from i2i_cli.weights.arrays import read_npz_arrays

    return read_npz_arrays(path)


def load_npy(path: Path) -> Any:
    from i2i_cli.points.files import read_points

    return read_points(path)


def load_vq(path: Path) -> Any:
    from i2i_ldm.weights import read_vq_weights

    return read_vq_weights(path)


def load_detector(path: Path) -> Any:
    from i2i_cli.metrics.detector_files import read_detector_pickle

    return read_detector_pickle(path)


FORMATS: dict[str, dict[str, Any]] = {
    "torch-zip": {
        "suffix": ".pt",
        "load": load_torch,
        "good": lambda: torch_bytes(weights()),
        "magic": b"PK\x03\x04",
        "hostile": lambda: torch_bytes({"weight": RunsAShell()}),
    },
    "torch-legacy": {
        "suffix": ".pt",
        "load": load_torch,
        "good": lambda: torch_bytes(weights(), legacy=True),
        "magic": torch_bytes(weights(), legacy=True)[:16],
        "hostile": lambda: torch_bytes({"weight": RunsAShell()}, legacy=True),
    },
    "edm-pickle": {
        "suffix": ".pkl",
        "load": load_edm,
        "good": lambda: pickle.dumps({"ema": list(range(2000))}, protocol=4),
        "magic": b"\x80\x04",
        "hostile": lambda: pickle.dumps({"ema": RunsAShell()}, protocol=4),
    },
    "safetensors": {
        "suffix": ".safetensors",
        "load": load_torch,
        "good": safetensors_bytes,
        "magic": (1 << 20).to_bytes(8, "little") + b'{"layer.weight":',
        "hostile": None,
    },
    "npz": {
        "suffix": ".npz",
        "load": load_npz,
        "good": lambda: npz_bytes(mu=np.zeros(300), sigma=np.eye(30)),
        "magic": b"PK\x03\x04",
        "hostile": lambda: npz_bytes(mu=np.array([RunsAShell()], dtype=object)),
    },
    "npy": {
        "suffix": ".npy",
        "load": load_npy,
        "good": lambda: npy_bytes(np.zeros((400, 2), np.float32)),
        "magic": b"\x93NUMPY\x01\x00",
        "hostile": lambda: npy_bytes(np.array([RunsAShell()], dtype=object), allow_pickle=True),
    },
    "ldm-zip": {
        "suffix": ".zip",
        "load": load_vq,
        "good": lambda: ldm_zip_bytes(torch_bytes(weights())),
        "magic": b"PK\x03\x04",
        "hostile": lambda: ldm_zip_bytes(torch_bytes({"weight": RunsAShell()})),
    },
    "detector-pickle": {
        "suffix": ".pkl",
        "load": load_detector,
        "good": lambda: pickle.dumps({"_modules": list(range(2000))}, protocol=4),
        "magic": b"\x80\x04",
        "hostile": lambda: pickle.dumps(RunsAShell(), protocol=4),
    },
}


def long_random_line() -> bytes:
    """Random bytes starting with ``c`` (pickle's GLOBAL) and no newline for 5000 bytes."""
    data = np.random.default_rng(3).bytes(6000).replace(b"\n", b" ")
    return b"c" + data


KINDS: dict[str, tuple[Callable[[dict[str, Any]], bytes], tuple[str, ...]]] = {
    "text": (lambda f: b"checkpoint of my model\nsaved on monday\n" * 4, ("a text file",)),
    "html": (
        lambda f: b"<!DOCTYPE html><html><head><title>Quota exceeded</title></head></html>",
        ("web page (HTML)",),
    ),
    "random-bytes": (lambda f: long_random_line(), ("its first bytes 63",)),
    "truncated": (lambda f: f["good"]()[: len(f["good"]()) // 2], ("truncated",)),
    "lying-header": (
        lambda f: f["magic"] + np.random.default_rng(5).bytes(3000),
        ("truncated", "corrupt"),
    ),
}
"""What each format is given, and what its line must say (one of the phrases)."""

LYING = [(name, kind) for name in FORMATS for kind in KINDS]
HOSTILE = [name for name, f in FORMATS.items() if f["hostile"] is not None]


def loader_line(name: str, data: bytes, folder: Path) -> str:
    """The one line the loader of format ``name`` raises for a file holding ``data``."""
    if name == "safetensors":
        pytest.importorskip("safetensors")
    path = folder / f"file{FORMATS[name]['suffix']}"
    path.write_bytes(data)
    with pytest.raises(I2IError) as caught:
        FORMATS[name]["load"](path)
    line = str(caught.value)
    assert "\n" not in line and str(path) in line, line
    assert len(line.replace(str(path), "")) < 250, line
    for advice in ("weights_only", "allow_pickle", "safe_globals"):
        assert advice not in line, line
    return line


@pytest.mark.parametrize(("name", "kind"), LYING, ids=[f"{n}-{k}" for n, k in LYING])
def test_a_file_that_is_not_its_format_says_what_it_is_and_is_not_called_hostile(
    name: str, kind: str, tmp_path: Path
) -> None:
    make, needles = KINDS[kind]
    line = loader_line(name, make(FORMATS[name]), tmp_path)
    assert "not allowed to run" not in line, line
    assert any(needle in line for needle in needles), line


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_file_of_every_format_is_refused_as_hostile(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = loader_line(name, FORMATS[name]["hostile"](), tmp_path)
    assert "not allowed to run" in line, line
    assert not (tmp_path / "hostile.marker").exists()


def test_a_text_file_given_as_an_edm_network_is_named_text_by_the_cli(tmp_path: Path) -> None:
    from tests.conftest import run_i2i
    from tests.robustness.run_helpers import error_line

    network = tmp_path / "network.pkl"
    network.write_text("checkpoint of my model, saved on monday\n")
    output = tmp_path / "out"
    command = ["sample", "edm", "--checkpoint", str(network), "--seeds", "0-1", "--device", "cpu"]
    result = run_i2i([*command, "--output", str(output)])
    line = error_line(result, str(network), "it is a text file, not a checkpoint")
    assert "not allowed to run" not in line
    assert not list(output.glob("*.png"))
