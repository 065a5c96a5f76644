"""ADM encoder classifier vs guided-diffusion and DG (adm_classifier.pt, dg_official_shapes.pt)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_adm.build import build_classifier
from i2i_adm.classifier import EncoderUNetModel
from i2i_adm.settings import AdmClassifierSettings


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    """The golden file ``name``.pt."""
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


def settings_of(kwargs: Mapping[str, Any], **flags: Any) -> AdmClassifierSettings:
    """Our settings for guided-diffusion's ``EncoderUNetModel(**kwargs)`` plus its CLI ``flags``."""
    return AdmClassifierSettings(
        image_size=kwargs["image_size"],
        in_channels=kwargs["in_channels"],
        out_channels=kwargs["out_channels"],
        width=kwargs["model_channels"],
        depth=kwargs["num_res_blocks"],
        channel_mult=",".join(str(m) for m in kwargs["channel_mult"]),
        num_head_channels=kwargs["num_head_channels"],
        **flags,
    )


def loaded_classifier(golden: dict[str, Any]) -> EncoderUNetModel:
    """The classifier of adm_classifier.pt's config with its weights loaded strictly."""
    flags = golden["config"]["create_classifier_flags_equivalent"]
    settings = settings_of(
        golden["config"]["unet_kwargs"],
        attention_resolutions=flags["classifier_attention_resolutions"],
        use_scale_shift_norm=flags["classifier_use_scale_shift_norm"],
        resblock_updown=flags["classifier_resblock_updown"],
        pool=flags["classifier_pool"],
        use_fp16=flags["classifier_use_fp16"],
    )
    model = build_classifier(settings).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    return model


def close(actual: torch.Tensor, expected: torch.Tensor, tolerance: dict[str, Any]) -> None:
    """Assert agreement within atol/rtol."""
    torch.testing.assert_close(actual, expected, atol=tolerance["atol"], rtol=tolerance["rtol"])


def test_classifier_logits_match(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_classifier")
    model = loaded_classifier(golden)
    with torch.no_grad():
        logits = model(golden["inputs"]["x"], golden["inputs"]["t"])
    close(logits, golden["outputs"]["logits"], golden["tolerance"])


def test_classifier_guidance_gradient_matches(golden_dir: Path) -> None:
    """cond_fn = grad_x sum_i log_softmax(logits)[i, y_i] at scale 1 (adm.md §2)."""
    golden = load(golden_dir, "adm_classifier")
    model = loaded_classifier(golden)
    inputs, tolerance = golden["inputs"], golden["tolerance"]
    x = inputs["x"].clone().requires_grad_(True)
    log_probs = torch.log_softmax(model(x, inputs["t"]), dim=-1)
    (gradient,) = torch.autograd.grad(log_probs[torch.arange(len(x)), inputs["y"]].sum(), x)
    close(gradient, golden["outputs"]["cond_fn_grad"], tolerance["per_output"]["cond_fn_grad"])


def test_features_are_the_middle_block_map_the_head_pools(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_classifier")
    model = loaded_classifier(golden)
    inputs = golden["inputs"]
    with torch.no_grad():
        features = model.features(inputs["x"], inputs["t"])
        logits = model.head(features)
    assert tuple(features.shape) == (2, 32, 16, 16)
    close(logits, golden["outputs"]["logits"], golden["tolerance"])


DG_NETWORKS = [
    "DG/checkpoints/ADM_classifier/32x32_classifier.pt",
    "DG_imagenet/pretrained_models/ADM_classifier/32x32_classifier.pt",
    "DG/checkpoints/discriminator/cifar_uncond/discriminator_60.pt",
]


@pytest.mark.parametrize("checkpoint", DG_NETWORKS)
def test_dg_networks_have_the_official_key_shapes(golden_dir: Path, checkpoint: str) -> None:
    """DG's extractors and unconditional head (dg.md §5.3) build with the official key map."""
    golden = load(golden_dir, "dg_official_shapes")
    settings = settings_of(golden["config"][checkpoint], attention_resolutions="32,16,8")
    with torch.device("meta"):
        state = build_classifier(settings).state_dict()
    shapes = {key: list(value.shape) for key, value in state.items()}
    assert shapes == golden["outputs"]["shapes"][checkpoint]
    count = sum(value.numel() for value in state.values())
    assert count == golden["outputs"]["param_counts"][checkpoint]
