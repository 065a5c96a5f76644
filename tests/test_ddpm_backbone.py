"""The celebahq_female preset is EGSDE's DDPM; its weights load with or without module."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.backbones import backbone_settings, load_state_dict_strictly
from i2i_cli.errors import I2IError

TINY = {"resolution": 16, "ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [8]}


def test_celebahq_female_preset_is_the_official_architecture() -> None:
    """egsde.md §4.2: about 113.7 M parameters in 450 keys."""
    descriptor, settings = backbone_settings("ddpm-unet", "celebahq_female")
    with torch.device("meta"):
        state = descriptor.build(settings).state_dict()
    assert len(state) == 450
    assert sum(v.numel() for v in state.values()) / 1e6 == pytest.approx(113.67, abs=0.01)
    assert tuple(state["mid.attn_1.q.weight"].shape) == (512, 512, 1, 1)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_state_dict_loads_with_or_without_the_dataparallel_prefix(prefix: str) -> None:
    descriptor, settings = backbone_settings("ddpm-unet", None, TINY)
    source, target = descriptor.build(settings), descriptor.build(settings)
    state = {prefix + k: v for k, v in source.state_dict().items()}
    load_state_dict_strictly(target, state, "test")
    x, t = torch.randn(1, 3, 16, 16), torch.tensor([10])
    torch.testing.assert_close(target(x, t), source(x, t))


def test_wrong_shape_state_dict_is_one_clear_error() -> None:
    descriptor, settings = backbone_settings("ddpm-unet", None, TINY)
    model = descriptor.build(settings)
    state = model.state_dict()
    state["conv_in.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(I2IError, match=r"1 shape mismatches \(first: conv_in.weight"):
        load_state_dict_strictly(model, state, "test")
