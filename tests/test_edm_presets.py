"""Each EDM preset builds the network of its official pickle (shapes checked on ``meta``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.denoiser import SigmaProcess
from i2i_cli.networks.backbones import backbone_descriptor, backbone_presets, backbone_settings
from i2i_edm.build import build
from i2i_edm.settings import EdmSettings, settings_from_edm

GOLDEN_NETWORKS = [
    "edm-cifar10-32x32-uncond-vp",
    "edm-cifar10-32x32-cond-vp",
    "edm-cifar10-32x32-uncond-ve",
    "edm-imagenet-64x64-cond-adm",
]
"""The official pickles whose key -> shape maps dg_official_shapes.pt records (dg.md §10)."""


def preset_name(network: str) -> str:
    """The preset of an official pickle: its artifact name (``edm_cifar10_32x32_uncond_vp``)."""
    return network.replace("-", "_")


def shapes(settings: EdmSettings) -> dict[str, tuple[int, ...]]:
    """The state-dict key -> shape map of the network ``settings`` describe, built on meta."""
    with torch.device("meta"):
        state = build(settings).state_dict()
    return {key: tuple(value.shape) for key, value in state.items()}


def preset(name: str, overrides: dict[str, Any] | None = None) -> EdmSettings:
    """The ``edm`` backbone's validated settings of preset ``name``."""
    _, settings = backbone_settings("edm", name, overrides)
    assert isinstance(settings, EdmSettings)
    return settings


@pytest.fixture(scope="module")
def official(golden_dir: Path) -> dict[str, Any]:
    """The official key -> shape maps, configs, parameter counts and sigma attributes."""
    return torch.load(golden_dir / "dg_official_shapes.pt", weights_only=True)


@pytest.mark.parametrize("network", GOLDEN_NETWORKS)
def test_preset_builds_exactly_the_official_state_dict(
    official: dict[str, Any], network: str
) -> None:
    expected = {k: tuple(v) for k, v in official["outputs"]["shapes"][network].items()}
    ours = shapes(preset(preset_name(network)))
    assert list(ours.items()) == list(expected.items())
    count = sum(torch.Size(shape).numel() for shape in ours.values())
    assert count == official["outputs"]["param_counts"][network]


@pytest.mark.parametrize("network", GOLDEN_NETWORKS)
def test_recorded_constructor_arguments_build_the_same_network(
    official: dict[str, Any], network: str
) -> None:
    config = dict(official["config"][network])
    settings = settings_from_edm(config.pop("class_name"), config)
    assert shapes(settings) == shapes(preset(preset_name(network)))


@pytest.mark.parametrize("network", GOLDEN_NETWORKS)
def test_spec_declares_denoised_on_the_networks_sigma_range(
    official: dict[str, Any], network: str
) -> None:
    settings = preset(preset_name(network))
    spec = backbone_descriptor("edm").spec(settings)
    attributes = official["outputs"]["edm_attributes"][network]
    assert spec.target == "denoised"
    assert spec.time == "sigma"
    assert spec.process == SigmaProcess(attributes["sigma_min"], attributes["sigma_max"], 0.5)
    assert spec.input_shape == (3, settings.img_resolution, settings.img_resolution)
    assert spec.num_classes == settings.label_dim


def test_every_official_pickle_has_a_preset() -> None:
    assert backbone_presets(backbone_descriptor("edm")) == [
        "baseline_cifar10_32x32_uncond_ve",
        "baseline_cifar10_32x32_uncond_vp",
        "baseline_imagenet_64x64_cond_adm",
        "edm_afhqv2_64x64_uncond_ve",
        "edm_afhqv2_64x64_uncond_vp",
        "edm_cifar10_32x32_cond_ve",
        "edm_cifar10_32x32_cond_vp",
        "edm_cifar10_32x32_uncond_ve",
        "edm_cifar10_32x32_uncond_vp",
        "edm_ffhq_64x64_uncond_ve",
        "edm_ffhq_64x64_uncond_vp",
        "edm_imagenet_64x64_cond_adm",
    ]


def test_conditional_ve_adds_only_the_label_map() -> None:
    uncond = shapes(preset("edm_cifar10_32x32_uncond_ve"))
    cond = shapes(preset("edm_cifar10_32x32_cond_ve"))
    added = {k: v for k, v in cond.items() if k not in uncond}
    assert added == {"model.map_label.weight": (256, 10), "model.map_label.bias": (256,)}
    assert {k: v for k, v in cond.items() if k in uncond} == uncond


@pytest.mark.parametrize("kind", ["vp", "ve"])
def test_ffhq_and_afhqv2_share_the_64px_architecture(kind: str) -> None:
    ffhq = preset(f"edm_ffhq_64x64_uncond_{kind}")
    afhq = preset(f"edm_afhqv2_64x64_uncond_{kind}")
    assert (ffhq.dropout, afhq.dropout) == (0.05, 0.25)
    ffhq_shapes = shapes(ffhq)
    assert ffhq_shapes == shapes(afhq)
    assert ffhq_shapes["model.enc.64x64_conv.weight"] == (128, 3, 3, 3)
    assert ffhq_shapes["model.enc.8x8_block3.conv1.weight"] == (256, 256, 3, 3)
    assert "model.enc.16x16_block0.qkv.weight" in ffhq_shapes


def test_fp16_preset_keeps_float32_weights() -> None:
    settings = preset("edm_imagenet_64x64_cond_adm")
    assert settings.use_fp16
    with torch.device("meta"):
        state = build(settings).state_dict()
    assert {value.dtype for value in state.values()} == {torch.float32}


def test_initialisation_is_seeded() -> None:
    tiny = {"img_resolution": 8, "model_channels": 8, "channel_mult": [1, 1], "num_blocks": 1}
    first, second = (build(preset("edm_cifar10_32x32_uncond_ve", tiny)) for _ in range(2))
    other = build(preset("edm_cifar10_32x32_uncond_ve", {**tiny, "init_seed": 1}))
    for key, value in first.state_dict().items():
        torch.testing.assert_close(value, second.state_dict()[key], rtol=0, atol=0)
    freqs = "model.map_noise.freqs"
    assert not torch.equal(first.state_dict()[freqs], other.state_dict()[freqs])


def test_iddpm_rounds_sigma_to_its_levels_and_reads_the_first_channels() -> None:
    tiny = {"img_resolution": 8, "model_channels": 8, "channel_mult": [1], "num_blocks": 1}
    model = build(EdmSettings(precond="iddpm", **tiny)).eval()
    levels = model.u
    assert model.model.out_conv.weight.shape[0] == 6  # 2C outputs, D uses the first C
    assert (model.sigma_min, model.sigma_max) == (float(levels[999]), float(levels[0]))
    between = (levels[10] * 0.9 + levels[11] * 0.1).reshape(1)
    assert torch.equal(model.round_sigma(between), levels[10:11])
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 8, 8), torch.tensor([1.0, 5.0])).shape == (2, 3, 8, 8)


def test_adm_refuses_songunet_only_arguments_in_one_line() -> None:
    with pytest.raises(UsageError, match=r"DhariwalUNet takes no encoder_type"):
        preset("edm_imagenet_64x64_cond_adm", {"encoder_type": "residual"})


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"no preset 'cifar10' .*edm_cifar10_32x32_uncond_vp"):
        backbone_settings("edm", "cifar10")


def test_bad_resolution_names_the_setting() -> None:
    with pytest.raises(UsageError, match=r"model\.img_resolution"):
        preset("edm_cifar10_32x32_uncond_vp", {"img_resolution": 24})


def test_vp_refuses_a_sigma_range() -> None:
    with pytest.raises(UsageError, match=r"model\.sigma_min.*derives its sigma range"):
        preset("edm_cifar10_32x32_uncond_vp", {"precond": "vp", "sigma_min": 0.01})
