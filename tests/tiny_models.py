"""Tiny random-weight checkpoints of the official networks, written to disk for CLI tests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.networks.backbones import backbone_settings
from tests.conftest import run_i2i

TINY_ADM_UNET: dict[str, Any] = {
    "image_size": 32,
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": "1,1",
    "attention_resolutions": "16",
    "num_head_channels": 16,
}
"""afhq_dog_4m's flags shrunk to 32 px (attention on the second level)."""

TINY_ADM_8PX: dict[str, Any] = {
    "image_size": 8,
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": "1,1",
    "attention_resolutions": "4",
    "num_head_channels": 16,
}
"""afhq_dog_4m's flags shrunk to 8 px (DG's tiny discriminator's size)."""

TINY_EDM: dict[str, Any] = {
    "img_resolution": 8,
    "model_channels": 8,
    "channel_mult": [2, 2],
    "num_blocks": 1,
    "attn_resolutions": [4],
}
"""The real ``edm`` backbone's CIFAR-10 DDPM++ preset shrunk to 8x8 (dg.md §10's tiny nets)."""

TINY_DSE: dict[str, Any] = {
    "image_size": 32,
    "width": 32,
    "depth": 1,
    "channel_mult": "1",
    "attention_resolutions": "16,8",
    "num_head_channels": 16,
}
"""dse256's flags shrunk to 32 px (the golden EGSDE files' extractor)."""


def random_weights(
    backbone: str, preset: str, overrides: Mapping[str, Any], path: Path, seed: int = 0
) -> Path:
    """Save seeded random weights (no zero-initialised layer) of a backbone as a state dict."""
    descriptor, settings = backbone_settings(backbone, preset, overrides)
    generator = torch.Generator().manual_seed(seed)
    state = {
        key: torch.randn(value.shape, generator=generator) * 0.05
        for key, value in descriptor.build(settings).state_dict().items()
    }
    torch.save(state, path)
    return path


def sha256(path: Path) -> str:
    """The file's sha256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_entry(name: str, path: Path, experiment: str) -> str:
    """A checkpoints-manifest table for ``path`` (its source is a host that is never reached)."""
    return (
        f'[artifacts.{name}]\nfile = "{path.name}"\nexperiments = ["{experiment}"]\n'
        f'sha256 = "{sha256(path)}"\nsize = {path.stat().st_size}\n'
        f'sources = [{{ url = "http://127.0.0.1:9/{path.name}" }}]\n\n'
    )


def manifest_env() -> dict[str, str]:
    """The test manifest (set by the ``tiny_egsde`` fixture) for a subprocess."""
    return {"I2I_MANIFESTS": os.environ.get("I2I_MANIFESTS", "")}


def toml_table(name: str, values: Mapping[str, Any]) -> str:
    """A TOML table ``[name]`` of strings, booleans and numbers."""
    rows = [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in values.items()]
    return f"[{name}]\n" + "\n".join(rows) + "\n"


TASK_OVERRIDES = (
    'checkpoint = "tiny_afhq_dog"\nstart_step = 6\n\n'
    + toml_table("model", TINY_ADM_UNET)
    + '\n[[energy]]\nname = "dse"\nweight = 500.0\ncheckpoint = "tiny_wild2dog_dse"\n\n'
    + toml_table("energy.model", TINY_DSE)
    + '\n[[energy]]\nname = "lowpass"\nweight = 2.0\nfactor = 4\n'
)
"""The wild2dog task shrunk to the tiny networks: M = 6, DSE and low-pass energies."""


def tiny_egsde_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny score model and extractor in a test manifest, adopted into the cache; the config."""
    unet = random_weights("adm-unet", "afhq_dog_4m", TINY_ADM_UNET, tmp_path / "tiny_unet.pt")
    dse = random_weights("adm-classifier", "dse256", TINY_DSE, tmp_path / "tiny_dse.pt", seed=1)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        manifest_entry("tiny_afhq_dog", unet, "tiny")
        + manifest_entry("tiny_wild2dog_dse", dse, "tiny")
    )
    monkeypatch.setenv("I2I_MANIFESTS", str(manifest))
    for name, path in (("tiny_afhq_dog", unet), ("tiny_wild2dog_dse", dse)):
        adopted = run_i2i(["download", "--from", str(path), name], env=manifest_env())
        assert adopted.returncode == 0, adopted.stderr
    config = tmp_path / "tiny.toml"
    config.write_text(TASK_OVERRIDES)
    return config
