"""A backbone reads its weights in its own format when it declares ``read_weights``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from i2i_cli.api.plugin import Backbone
from i2i_cli.api.settings import Settings
from i2i_cli.base.errors import I2IError
from i2i_cli.networks.backbones import read_state_dict


def read_npz(path: Path) -> dict[str, torch.Tensor]:
    """A state dict kept as numpy arrays (a format the default loader does not read)."""
    with np.load(path) as arrays:
        return {name: torch.from_numpy(arrays[name]) for name in arrays.files}


def test_a_declared_reader_replaces_the_default_load(tmp_path: Path) -> None:
    path = tmp_path / "weights.npz"
    np.savez(path, **{"layer.weight": np.ones((2, 3), dtype=np.float32)})
    backbone = Backbone(
        summary="npz weights", settings=Settings, build=torch.nn.Identity, read_weights=read_npz
    )
    state = read_state_dict(backbone, path)
    assert list(state) == ["layer.weight"] and state["layer.weight"].shape == (2, 3)


def test_without_a_reader_the_file_is_a_weights_only_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    backbone = Backbone(summary="plain", settings=Settings, build=torch.nn.Identity)
    assert torch.equal(read_state_dict(backbone, path)["w"], torch.zeros(2))


def test_a_reader_returning_no_state_dict_is_one_line(tmp_path: Path) -> None:
    backbone = Backbone(
        summary="bad", settings=Settings, build=torch.nn.Identity, read_weights=lambda p: [1, 2]
    )
    with pytest.raises(I2IError, match="does not hold a state dict"):
        read_state_dict(backbone, tmp_path / "x.bin")
