"""Each ADM preset builds the network of its official checkpoint (shapes checked on ``meta``)."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.backbones import backbone_presets, backbone_settings
from i2i_cli.errors import UsageError

# (backbone, preset): (parameters in millions, state-dict keys, a key and its shape), adm.md §4
# and egsde.md §4.3.
EXPECTED = {
    ("adm-unet", "afhq_dog_4m"): (93.56, 362, "input_blocks.9.1.qkv.weight", (1536, 512, 1)),
    ("adm-unet", "imagenet256_cond"): (553.84, 567, "label_emb.weight", (1000, 1024)),
    ("adm-unet", "imagenet256_uncond"): (553.84 - 1.024, 566, "out.2.weight", (6, 256, 3, 3)),
    ("adm-classifier", "classifier256"): (54.10, 249, "out.2.positional_embedding", (512, 65)),
    ("adm-classifier", "dse256"): (53.58, 249, "I2Iout.2.c_proj.weight", (2, 512, 1)),
    ("adm-classifier", "dg_cifar10_classifier32"): (
        47.77,
        255,
        "out.2.positional_embedding",
        (512, 65),
    ),
}


@pytest.mark.parametrize(("backbone", "preset"), EXPECTED)
def test_preset_builds_the_official_architecture(backbone: str, preset: str) -> None:
    millions, keys, key, shape = EXPECTED[backbone, preset]
    descriptor, settings = backbone_settings(backbone, preset)
    with torch.device("meta"):
        state = descriptor.build(settings).state_dict()
    assert sum(v.numel() for v in state.values()) / 1e6 == pytest.approx(millions, abs=0.01)
    assert len(state) == keys
    assert tuple(state[key].shape) == shape


def test_afhq_preset_has_attention_where_the_spec_says() -> None:
    descriptor, settings = backbone_settings("adm-unet", "afhq_dog_4m")
    with torch.device("meta"):
        state = descriptor.build(settings).state_dict()
    blocks = sorted({k.rsplit(".qkv.weight", 1)[0] for k in state if k.endswith(".qkv.weight")})
    assert blocks == [
        "input_blocks.9.1",
        "middle_block.1",
        "output_blocks.2.1",
        "output_blocks.3.1",
    ]


def test_every_shipped_preset_is_listed() -> None:
    from i2i_cli.backbones import backbone_descriptor

    assert backbone_presets(backbone_descriptor("adm-unet")) == [
        "afhq_dog_4m",
        "imagenet128_cond",
        "imagenet256_cond",
        "imagenet256_uncond",
        "imagenet64_cond",
    ]


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"no preset 'afhq' .*afhq_dog_4m"):
        backbone_settings("adm-unet", "afhq")


def test_bad_override_names_the_setting() -> None:
    with pytest.raises(UsageError, match=r"model\.num_res_blocks"):
        backbone_settings("adm-unet", "afhq_dog_4m", {"num_res_blocks": 0})
