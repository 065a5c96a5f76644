"""load_checkpoint on safetensors files: loaded by the optional package; faults are one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from i2i_cli.base.errors import I2IError, UsageError
from i2i_cli.weights.loading import load_checkpoint


def state_dict() -> dict[str, torch.Tensor]:
    """A small state dict of several dtypes and shapes."""
    return {
        "conv.weight": torch.arange(24.0).reshape(2, 3, 2, 2),
        "conv.bias": torch.tensor([0.5, -1.5]),
        "steps": torch.tensor([7], dtype=torch.int64),
        "half": torch.ones(3, dtype=torch.float16),
    }


def test_a_safetensors_state_dict_loads(tmp_path: Path) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "model.safetensors"
    expected = state_dict()
    safetensors_torch.save_file(expected, str(path))
    loaded = load_checkpoint(path)
    assert sorted(loaded) == sorted(expected)
    for key, tensor in expected.items():
        assert loaded[key].dtype == tensor.dtype and torch.equal(loaded[key], tensor), key


@pytest.mark.parametrize("cut", [0, 7, 100], ids=["empty", "header", "data"])
def test_a_corrupt_safetensors_file_is_one_line(tmp_path: Path, cut: int) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file(state_dict(), str(path))
    path.write_bytes(path.read_bytes()[:cut])
    cut_short = r"model\.safetensors: the file is (empty|truncated)"
    with pytest.raises(I2IError, match=cut_short) as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)


def test_without_the_package_a_safetensors_file_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(UsageError, match=r'pip install "i2i\[safetensors\]"') as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
