"""Tiny random-weight checkpoints of the official networks, written to disk for CLI tests."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from i2i_cli.backbones import backbone_settings

TINY_ADM_UNET: dict[str, Any] = {
    "image_size": 32,
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": "1,1",
    "attention_resolutions": "16",
    "num_head_channels": 16,
}
"""afhq_dog_4m's flags shrunk to 32 px (attention on the second level)."""

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
