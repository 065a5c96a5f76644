"""The celebahq_female preset is EGSDE's DDPM; its weights load with or without module."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.api.settings import SettingsError
from i2i_cli.base.errors import I2IError
from i2i_cli.networks.backbones import backbone_settings, load_state_dict_strictly
from i2i_ddpm.settings import settings_from_yml

TINY = {"resolution": 16, "ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [8]}

# EGSDE profiles/male2female/male2female.yml, the sections the backbone reads (egsde.md §4.2).
MALE2FEMALE_YML = {
    "data": {"dataset": "male2female", "image_size": 256, "channels": 3},
    "model": {
        "type": "simple",
        "in_channels": 3,
        "out_ch": 3,
        "ch": 128,
        "ch_mult": [1, 1, 2, 2, 4, 4],
        "num_res_blocks": 2,
        "attn_resolutions": [16],
        "dropout": 0.0,
        "var_type": "fixedsmall",
        "ema_rate": 0.999,
        "ema": True,
        "resamp_with_conv": True,
    },
    "diffusion": {"num_diffusion_timesteps": 1000},
}


def test_celebahq_female_preset_is_the_official_architecture() -> None:
    """egsde.md §4.2: about 113.7 M parameters in 450 keys."""
    descriptor, settings = backbone_settings("ddpm-unet", "celebahq_female")
    with torch.device("meta"):
        state = descriptor.build(settings).state_dict()
    assert len(state) == 450
    assert sum(v.numel() for v in state.values()) / 1e6 == pytest.approx(113.67, abs=0.01)
    assert tuple(state["mid.attn_1.q.weight"].shape) == (512, 512, 1, 1)
    assert tuple(state["temb.dense.0.weight"].shape) == (512, 128)
    assert tuple(state["down.4.attn.1.proj_out.weight"].shape) == (512, 512, 1, 1)
    assert tuple(state["up.5.block.2.nin_shortcut.weight"].shape) == (512, 1024, 1, 1)
    assert tuple(state["conv_out.weight"].shape) == (3, 128, 3, 3)


def test_celebahq_female_preset_equals_the_male2female_yml() -> None:
    _, settings = backbone_settings("ddpm-unet", "celebahq_female")
    assert settings == settings_from_yml(MALE2FEMALE_YML)


def test_bayesian_model_type_adds_the_logvar_parameter() -> None:
    yml = {**MALE2FEMALE_YML, "data": {"image_size": 16}, "diffusion": {}}
    yml["model"] = {**yml["model"], **TINY, "type": "bayesian"}
    del yml["model"]["resolution"]
    descriptor, _ = backbone_settings("ddpm-unet")
    state = descriptor.build(settings_from_yml(yml)).state_dict()
    assert tuple(state["logvar"].shape) == (1000,)
    simple = descriptor.build(backbone_settings("ddpm-unet", None, TINY)[1]).state_dict()
    assert set(state) - set(simple) == {"logvar"}


def test_unknown_model_type_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="model_type"):
        backbone_settings("ddpm-unet", None, {"model_type": "fancy"})


def test_loading_strips_only_the_leading_dataparallel_prefix() -> None:
    model = torch.nn.Module()
    model.a = torch.nn.Linear(1, 1, bias=False)
    model.b = torch.nn.Module()
    model.b.module = torch.nn.Module()
    model.b.module.bias = torch.nn.Parameter(torch.zeros(1))
    model.module = torch.nn.Module()
    model.module.c = torch.nn.Parameter(torch.zeros(1))
    state = {
        "module.a.weight": torch.full((1, 1), 1.0),
        "module.b.module.bias": torch.full((1,), 2.0),
        "module.module.c": torch.full((1,), 3.0),
    }
    load_state_dict_strictly(model, state, "test")
    assert {k: v.item() for k, v in model.state_dict().items()} == {
        "a.weight": 1.0,
        "b.module.bias": 2.0,
        "module.c": 3.0,
    }
    assert list(state) == ["module.a.weight", "module.b.module.bias", "module.module.c"]


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
    with pytest.raises(I2IError, match=r"1 shape mismatches \(first: conv_in.weight") as error:
        load_state_dict_strictly(model, state, "test")
    assert "\n" not in str(error.value)
