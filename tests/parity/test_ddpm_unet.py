"""The ddim-repository UNet reproduces the reference (golden egsde_ddpm_unet.pt, module. keys)."""

from __future__ import annotations

from pathlib import Path

import torch

from i2i_cli.networks.backbones import load_state_dict_strictly
from i2i_ddpm.build import build_unet as build
from i2i_ddpm.settings import settings_from_yml


def test_ddpm_unet_matches_with_dataparallel_keys(golden_dir: Path) -> None:
    golden = torch.load(golden_dir / "egsde_ddpm_unet.pt", weights_only=True)
    assert all(key.startswith("module.") for key in golden["state_dict"])
    model = build(settings_from_yml(golden["config"]["yml"])).eval()
    load_state_dict_strictly(model, golden["state_dict"], "golden egsde_ddpm_unet.pt")
    tol = golden["tolerance"]
    with torch.no_grad():
        out = model(golden["inputs"]["x"], golden["inputs"]["t"])
        out_int_t = model(golden["inputs"]["x"], golden["inputs"]["t"].long())
    torch.testing.assert_close(out, golden["outputs"]["out"], atol=tol["atol"], rtol=tol["rtol"])
    torch.testing.assert_close(out_int_t, out)


def test_ddpm_unet_loads_strictly_without_the_prefix_too(golden_dir: Path) -> None:
    golden = torch.load(golden_dir / "egsde_ddpm_unet.pt", weights_only=True)
    model = build(settings_from_yml(golden["config"]["yml"])).eval()
    bare = {key.removeprefix("module."): value for key, value in golden["state_dict"].items()}
    load_state_dict_strictly(model, bare, "golden egsde_ddpm_unet.pt without 'module.'")
    tol = golden["tolerance"]
    with torch.no_grad():
        out = model(golden["inputs"]["x"], golden["inputs"]["t"])
    torch.testing.assert_close(out, golden["outputs"]["out"], atol=tol["atol"], rtol=tol["rtol"])
