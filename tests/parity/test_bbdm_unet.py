"""SDE-BBDM's UNet against sde_bbdm.networks.UNet (golden bbdm_unet.pt; bbdm.md §7, §11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_bbdm.settings import BridgeUNetSettings
from i2i_bbdm.unet import BridgeUNet
from i2i_cli.base.errors import UsageError
from i2i_cli.networks.backbones import backbone_settings

REFERENCE_ONLY = {"dims": 2, "num_classes": None, "legacy": True}
"""Reference arguments with one supported value each (2-D, unconditional, legacy heads)."""

OFFICIAL_PARAMETERS = 237_091_331
OFFICIAL_TENSORS = 248


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    """The golden file ``name``.pt."""
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


def settings_of(config: dict[str, Any]) -> BridgeUNetSettings:
    """Our settings from the reference constructor arguments (the fixed ones checked)."""
    for key, value in REFERENCE_ONLY.items():
        assert config[key] == value, key
    return BridgeUNetSettings(**{k: v for k, v in config.items() if k not in REFERENCE_ONLY})


def golden_unet(golden: dict[str, Any], config: dict[str, Any] | None = None) -> BridgeUNet:
    """The golden file's tiny UNet with its state dict loaded strictly, in eval mode."""
    model = BridgeUNet(settings_of(config or golden["config"])).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    return model


def close(actual: torch.Tensor, expected: torch.Tensor, tolerance: dict[str, Any]) -> None:
    """Assert agreement within the file's atol/rtol."""
    torch.testing.assert_close(actual, expected, atol=tolerance["atol"], rtol=tolerance["rtol"])


def test_unet_matches_at_small_and_raw_integer_times_up_to_T(golden_dir: Path) -> None:
    golden = load(golden_dir, "bbdm_unet")
    model = golden_unet(golden)
    inputs, outputs, tol = golden["inputs"], golden["outputs"], golden["tolerance"]
    with torch.no_grad():
        close(model(inputs["x"], inputs["t_a"]), outputs["eps_a"], tol)
        close(model(inputs["x"], inputs["t_b"]), outputs["eps_b"], tol)


def test_time_embedding_and_middle_block_match(golden_dir: Path) -> None:
    """The cos-first embedding of the raw t through the MLP, and the middle block's output."""
    golden = load(golden_dir, "bbdm_unet")
    model = golden_unet(golden)
    inputs, expected, tol = golden["inputs"], golden["intermediates_a"], golden["tolerance"]
    seen: list[torch.Tensor] = []
    model.middle_block.register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.no_grad():
        close(model.embed(inputs["t_a"]), expected["emb"], tol)
        model(inputs["x"], inputs["t_a"])
    close(seen[0], expected["h_middle"], tol)


def test_training_loss_is_the_mean_absolute_error(golden_dir: Path) -> None:
    golden = load(golden_dir, "bbdm_unet")
    inputs, tol = golden["inputs"], golden["tolerance"]
    with torch.no_grad():
        out = golden_unet(golden)(inputs["x"], inputs["t_a"])
    close((out - inputs["target"]).abs().mean(), golden["outputs"]["loss_mae"], tol)


def test_tiny_net_has_the_reference_heads_and_parameter_count(golden_dir: Path) -> None:
    """Attention at ds 2 (in and out) and in the middle, 32 / 16 = 2 heads, legacy split."""
    golden = load(golden_dir, "bbdm_unet")
    model = golden_unet(golden)
    assert sum(p.numel() for p in model.parameters()) == golden["n_params"]
    heads = {name: m.heads for name, m in model.named_modules() if hasattr(m, "legacy_order")}
    assert set(heads) == {"input_blocks.3.1", "middle_block.1", "output_blocks.0.1",
                          "output_blocks.1.1"}  # fmt: skip
    assert set(heads.values()) == {2}
    assert all(m.legacy_order for m in model.modules() if hasattr(m, "legacy_order"))


def test_official_preset_is_build_unet_3_3(golden_dir: Path) -> None:
    """The sde_bbdm preset: the reference's official configuration, 237,091,331 parameters."""
    golden = load(golden_dir, "bbdm_unet")
    _, preset = backbone_settings("bbdm-unet", "sde_bbdm")
    assert preset == settings_of(golden["official_config"]).model_copy(
        update={"image_size": preset.image_size}
    )
    with torch.device("meta"):
        model = BridgeUNet(preset)
    state = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS
    assert len(state) == OFFICIAL_TENSORS
    assert state["input_blocks.4.0.in_layers.2.weight"].shape == (512, 128, 3, 3)
    assert state["output_blocks.0.0.in_layers.2.weight"].shape == (1024, 2048, 3, 3)
    assert state["middle_block.1.qkv.weight"].shape == (3072, 1024, 1)
    attention = [name for name in state if name.endswith(".qkv.weight")]
    assert attention == ["middle_block.1.qkv.weight"]  # [32, 16, 8] are factors no level has
    assert model.middle_block[1].heads == 16


@pytest.mark.parametrize(
    ("broken", "field"),
    [({"model_channels": 48}, "channel_mult"), ({"num_head_channels": 48}, "num_head_channels")],
)
def test_widths_that_do_not_fit_are_refused_in_one_line(broken: dict[str, Any], field: str) -> None:
    with pytest.raises(UsageError, match=f"model.{field}") as error:
        backbone_settings("bbdm-unet", "sde_bbdm", broken)
    assert "\n" not in str(error.value)
