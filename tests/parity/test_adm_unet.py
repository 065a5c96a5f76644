"""ADM UNet against guided-diffusion (golden adm_unet_uncond.pt, adm_unet_classcond.pt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_adm.build import build_unet
from i2i_adm.settings import AdmUNetSettings
from i2i_adm.unet import UNetModel
from i2i_cli.diffusion.nn import timestep_embedding


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    """The golden file ``name``.pt."""
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


def settings_of(golden: dict[str, Any], **changes: Any) -> AdmUNetSettings:
    """Our settings from the file's ``create_model`` flags (10 classes where it patched 1000)."""
    flags = {k: v for k, v in golden["config"]["create_model"].items() if k != "use_checkpoint"}
    if "num_classes" in golden["config"]:
        flags["num_classes"] = golden["config"]["num_classes"]
    return AdmUNetSettings(**{**flags, **changes})


def loaded_unet(golden: dict[str, Any], **changes: Any) -> UNetModel:
    """The UNet of the golden flags with its weights loaded strictly, in eval mode."""
    model = build_unet(settings_of(golden, **changes)).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    return model


def close(actual: torch.Tensor, expected: torch.Tensor, tolerance: dict[str, Any]) -> None:
    """Assert agreement within the file's atol/rtol."""
    torch.testing.assert_close(actual, expected, atol=tolerance["atol"], rtol=tolerance["rtol"])


def distinguishable(actual: torch.Tensor, other: torch.Tensor, tolerance: dict[str, Any]) -> bool:
    """Whether ``actual`` would fail a parity check against ``other`` at the file's tolerance."""
    return not torch.allclose(actual, other, atol=tolerance["atol"], rtol=tolerance["rtol"])


def test_flags_map_onto_the_reference_constructor_arguments(golden_dir: Path) -> None:
    """attention "16" at 32 px is ds 2; "32,16,8" is ds 1, 2, 4 (adm.md pitfall 3)."""
    from i2i_adm.settings import attention_rates, channel_mult_of

    for name in ("adm_unet_uncond", "adm_unet_classcond"):
        golden = load(golden_dir, name)
        kwargs, settings = golden["config"]["unet_kwargs"], settings_of(golden)
        rates = attention_rates(settings.attention_resolutions, settings.image_size)
        assert list(rates) == kwargs["attention_resolutions"]
        mult = channel_mult_of(settings.channel_mult, settings.image_size)
        assert list(mult) == kwargs["channel_mult"]


def test_unconditional_unet_matches_at_integer_and_fractional_timesteps(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_unet_uncond")
    model = loaded_unet(golden)
    inputs, outputs, tol = golden["inputs"], golden["outputs"], golden["tolerance"]
    with torch.no_grad():
        close(model(inputs["x"], inputs["t"]), outputs["out"], tol)
        close(model(inputs["x"], inputs["t_float"]), outputs["out_float_t"], tol)


def test_timestep_embedding_is_cos_then_sin_and_feeds_the_time_mlp(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_unet_uncond")
    model = loaded_unet(golden)
    inputs, outputs, tol = golden["inputs"], golden["outputs"], golden["tolerance"]
    embedding = timestep_embedding(inputs["t"], model.model_channels)
    close(embedding, outputs["timestep_embedding"], tol)
    with torch.no_grad():
        close(model.time_embed(embedding), outputs["time_embed"], tol)


def test_class_conditional_unet_matches_and_depends_on_the_label(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_unet_classcond")
    model = loaded_unet(golden)
    assert tuple(model.label_emb.weight.shape) == (10, 128)
    inputs, outputs, tol = golden["inputs"], golden["outputs"], golden["tolerance"]
    with torch.no_grad():
        close(model(inputs["x"], inputs["t"], inputs["y"]), outputs["out"], tol)
        swapped = model(inputs["x"], inputs["t"], inputs["y_swapped"])
    close(swapped, outputs["out_swapped_labels"], tol)
    assert distinguishable(swapped, outputs["out"], tol)


def test_class_conditional_unet_refuses_a_missing_label(golden_dir: Path) -> None:
    golden = load(golden_dir, "adm_unet_classcond")
    model = loaded_unet(golden)
    with pytest.raises(ValueError, match="labels y"):
        model(golden["inputs"]["x"], golden["inputs"]["t"])


@pytest.mark.parametrize("name", ["adm_unet_uncond", "adm_unet_classcond"])
def test_new_attention_order_is_a_different_function_of_the_same_weights(
    golden_dir: Path, name: str
) -> None:
    """Guards pitfall 2: both orders accept the same weights but do not compute the same thing.

    The wrong order would fail the parity check: it is off by more than the file's tolerance.
    """
    golden = load(golden_dir, name)
    model = loaded_unet(golden, use_new_attention_order=True)
    inputs = golden["inputs"]
    with torch.no_grad():
        out = model(inputs["x"], inputs["t"], inputs.get("y"))
    assert distinguishable(out, golden["outputs"]["out"], golden["tolerance"])


def test_output_is_the_same_when_a_graph_is_recorded(golden_dir: Path) -> None:
    """The in-place activations of no-grad inference leave the function unchanged."""
    golden = load(golden_dir, "adm_unet_uncond")
    model = loaded_unet(golden)
    x = golden["inputs"]["x"].clone().requires_grad_(True)
    out = model(x, golden["inputs"]["t"])
    close(out.detach(), golden["outputs"]["out"], golden["tolerance"])
    (gradient,) = torch.autograd.grad(out.square().sum(), x)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0
