"""ADM UNet and classifier against guided-diffusion (golden adm_unet_*.pt, adm_classifier.pt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_adm.build import build_classifier, build_unet
from i2i_adm.layers import timestep_embedding
from i2i_adm.settings import AdmClassifierSettings, AdmUNetSettings


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


def unet_from(golden: dict[str, Any]) -> torch.nn.Module:
    flags = {k: v for k, v in golden["config"]["create_model"].items() if k != "use_checkpoint"}
    if "num_classes" in golden["config"]:
        flags["num_classes"] = golden["config"]["num_classes"]
    model = build_unet(AdmUNetSettings(**flags)).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    return model


def close(actual: torch.Tensor, expected: torch.Tensor, tolerance: dict[str, float]) -> None:
    torch.testing.assert_close(actual, expected, atol=tolerance["atol"], rtol=tolerance["rtol"])


def test_unconditional_unet_matches_at_integer_and_float_timesteps(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_unet_uncond")
    model = unet_from(golden)
    inputs, outputs, tol = golden["inputs"], golden["outputs"], golden["tolerance"]
    with torch.no_grad():
        close(model(inputs["x"], inputs["t"]), outputs["out"], tol)
        close(model(inputs["x"], inputs["t_float"]), outputs["out_float_t"], tol)
        embedding = timestep_embedding(inputs["t"], model.model_channels)
        close(embedding, outputs["timestep_embedding"], tol)
        close(model.time_embed(embedding), outputs["time_embed"], tol)


def test_class_conditional_unet_matches_and_depends_on_the_label(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_unet_classcond")
    model = unet_from(golden)
    inputs, outputs, tol = golden["inputs"], golden["outputs"], golden["tolerance"]
    with torch.no_grad():
        close(model(inputs["x"], inputs["t"], inputs["y"]), outputs["out"], tol)
        swapped = model(inputs["x"], inputs["t"], inputs["y_swapped"])
        close(swapped, outputs["out_swapped_labels"], tol)
    assert not torch.allclose(outputs["out"], outputs["out_swapped_labels"])


def test_classifier_logits_and_guidance_gradient_match(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_classifier")
    kwargs = golden["config"]["unet_kwargs"]
    flags = golden["config"]["create_classifier_flags_equivalent"]
    settings = AdmClassifierSettings(
        image_size=kwargs["image_size"],
        in_channels=kwargs["in_channels"],
        out_channels=kwargs["out_channels"],
        width=flags["classifier_width"],
        depth=flags["classifier_depth"],
        channel_mult=",".join(str(m) for m in kwargs["channel_mult"]),
        attention_resolutions=flags["classifier_attention_resolutions"],
        num_head_channels=kwargs["num_head_channels"],
        use_scale_shift_norm=flags["classifier_use_scale_shift_norm"],
        resblock_updown=flags["classifier_resblock_updown"],
        pool=flags["classifier_pool"],
    )
    model = build_classifier(settings).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    inputs, outputs, tol = golden["inputs"], golden["outputs"], golden["tolerance"]
    x = inputs["x"].clone().requires_grad_(True)
    logits = model(x, inputs["t"])
    close(logits.detach(), outputs["logits"], tol)
    chosen = torch.log_softmax(logits, dim=-1)[torch.arange(len(x)), inputs["y"]]
    (gradient,) = torch.autograd.grad(chosen.sum(), x)
    close(gradient, outputs["cond_fn_grad"], tol["per_output"]["cond_fn_grad"])


@pytest.mark.parametrize("name", ["adm_unet_uncond", "adm_unet_classcond"])
def test_legacy_and_new_attention_orders_differ_on_the_same_weights(
    golden_dir: Path, name: str
) -> None:
    """Guards pitfall 2: both orders accept the same weights but are not the same function."""
    golden = load(golden_dir, name)
    flags = {k: v for k, v in golden["config"]["create_model"].items() if k != "use_checkpoint"}
    flags.update(
        use_new_attention_order=True, num_classes=golden["config"].get("num_classes", 1000)
    )
    model = build_unet(AdmUNetSettings(**flags)).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    labels = golden["inputs"].get("y")
    with torch.no_grad():
        out = model(golden["inputs"]["x"], golden["inputs"]["t"], labels)
    assert (out - golden["outputs"]["out"]).abs().max() > 1e-3
