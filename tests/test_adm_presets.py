"""Each ADM preset builds the network of its official checkpoint (shapes checked on ``meta``)."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.networks.backbones import backbone_descriptor, backbone_presets, backbone_settings

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
    assert backbone_presets(backbone_descriptor("adm-unet")) == [
        "afhq_dog_4m",
        "imagenet128_cond",
        "imagenet256_cond",
        "imagenet256_uncond",
        "imagenet64_cond",
    ]
    assert backbone_presets(backbone_descriptor("adm-classifier")) == [
        "classifier256",
        "dg_cifar10_classifier32",
        "dse256",
    ]


@pytest.mark.parametrize(
    ("preset", "learned_variance", "num_classes"),
    [("afhq_dog_4m", True, 0), ("imagenet256_cond", True, 1000), ("imagenet256_uncond", True, 0)],
)
def test_unet_declares_eps_with_learned_variance_and_its_labels(
    preset: str, learned_variance: bool, num_classes: int
) -> None:
    descriptor, settings = backbone_settings("adm-unet", preset)
    prediction = descriptor.spec(settings)
    assert prediction.target == "eps"
    assert prediction.learned_variance is learned_variance
    assert prediction.num_classes == num_classes
    assert prediction.time_scale == 1.0
    assert prediction.input_shape == (3, 256, 256)


def test_fp16_presets_keep_float32_weights() -> None:
    """use_fp16 checkpoints are stored in fp32; precision comes from autocast (pitfall 12)."""
    descriptor, settings = backbone_settings("adm-unet", "imagenet256_cond")
    assert settings.use_fp16
    with torch.device("meta"):
        state = descriptor.build(settings).state_dict()
    assert {value.dtype for value in state.values()} == {torch.float32}


def test_legacy_and_new_attention_orders_differ_for_the_same_weights() -> None:
    """Guards pitfall 2: the two head orders share parameter shapes, not outputs."""
    tiny = {
        "image_size": 16,
        "num_channels": 32,
        "num_res_blocks": 1,
        "channel_mult": "1,1",
        "attention_resolutions": "16,8",
        "num_head_channels": 16,
    }
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 16, 16, generator=generator)
    t = torch.tensor([10, 500])
    outputs = []
    state: dict[str, torch.Tensor] = {}
    for new_order in (False, True):
        descriptor, settings = backbone_settings(
            "adm-unet", "afhq_dog_4m", {**tiny, "use_new_attention_order": new_order}
        )
        model = descriptor.build(settings).eval()
        state = state or {
            k: torch.randn(v.shape, generator=generator) * 0.2
            for k, v in model.state_dict().items()
        }
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            outputs.append(model(x, t))
    assert (outputs[0] - outputs[1]).abs().max() > 1e-3


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"no preset 'afhq' .*afhq_dog_4m"):
        backbone_settings("adm-unet", "afhq")


def test_bad_override_names_the_setting() -> None:
    with pytest.raises(UsageError, match=r"model\.num_res_blocks"):
        backbone_settings("adm-unet", "afhq_dog_4m", {"num_res_blocks": 0})
