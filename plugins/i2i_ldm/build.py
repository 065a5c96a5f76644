"""LDM's VQ autoencoder from its backbone settings, and what it outputs (bbdm.md §6)."""

from __future__ import annotations

import torch

from i2i_cli.diffusion.denoiser import ModelSpec
from i2i_ldm.autoencoder import AutoencoderConfig, VQModel
from i2i_ldm.settings import VqAutoencoderSettings, int_list

INIT_SEED = 0
"""The seed of a fresh autoencoder's initial weights (PyTorch's default initialisers)."""


def autoencoder_config(settings: VqAutoencoderSettings) -> AutoencoderConfig:
    """The network's constructor arguments from its settings."""
    s = settings
    return AutoencoderConfig(
        ch=s.ch,
        ch_mult=int_list(s.ch_mult),
        num_res_blocks=s.num_res_blocks,
        attn_resolutions=int_list(s.attn_resolutions),
        attn_type=s.attn_type,
        dropout=s.dropout,
        in_channels=s.in_channels,
        out_ch=s.out_ch,
        resolution=s.resolution,
        z_channels=s.z_channels,
        embed_dim=s.embed_dim,
        n_embed=s.n_embed,
        apply_proj_out=s.apply_proj_out,
        norm_eps=s.norm_eps,
    )


def build_vq_autoencoder(settings: VqAutoencoderSettings) -> VQModel:
    """LDM's ``VQModel`` the settings describe, initialised from a seeded generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return VQModel(autoencoder_config(settings))


def vq_autoencoder_spec(settings: VqAutoencoderSettings) -> ModelSpec:
    """A time-free autoencoder: its ``forward`` is the reconstruction ("raw"), image in/out."""
    s = settings
    return ModelSpec(
        target="raw",
        channels=s.out_ch,
        input_shape=(s.in_channels, s.resolution, s.resolution),
    )
