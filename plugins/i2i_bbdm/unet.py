"""SDE-BBDM's UNet: ``sde_bbdm.networks.UNet``, an LDM ``openaimodel`` copy (bbdm.md §7).

The layer maths is guided-diffusion's, so the blocks are the core's (``i2i_cli.diffusion.nn``);
module and parameter names are the reference's, so its state dicts load with ``strict=True``. What
differs from ADM's UNet, spelled out here:

* time: the sinusoidal ``[cos | sin]`` embedding of the **raw integer t** in {1..T} (no 1/T
  scaling, no respacing map), then Linear, SiLU, Linear;
* ``attention_resolutions`` are downsample factors ``ds`` (1, 2, 4, ... per level) used as
  given, not pixel sizes: the official [32, 16, 8] matches no level of a 3-level net, so only
  the middle block attends;
* heads: ``channels // num_head_channels`` whenever num_head_channels is set (num_heads is then
  ignored), with the legacy per-head q/k/v split (``QKVAttentionLegacy``);
* input: x_t only (the source y is not concatenated); output: the objective ``x_t - x0``.
"""

from __future__ import annotations

import torch
from torch import nn

from i2i_bbdm.settings import BridgeUNetSettings
from i2i_cli.diffusion.denoiser import ModelSpec
from i2i_cli.diffusion.nn import (
    AttentionBlock,
    Downsample,
    ResBlock,
    SkipUNet,
    TimestepEmbedSequential,
    Upsample,
    output_head,
    timestep_embedding,
)


def res_block(s: BridgeUNetSettings, channels: int, out_channels: int) -> ResBlock:
    """A residual block from ``channels`` to ``out_channels`` with the net's conditioning."""
    return ResBlock(
        channels,
        4 * s.model_channels,
        s.dropout,
        out_channels,
        use_scale_shift_norm=s.use_scale_shift_norm,
    )


def attention(s: BridgeUNetSettings, channels: int, num_heads: int) -> AttentionBlock:
    """Self-attention: ``channels // num_head_channels`` heads when set, legacy q/k/v split."""
    return AttentionBlock(channels, num_heads, s.num_head_channels, s.use_new_attention_order)


def resample(s: BridgeUNetSettings, channels: int, *, down: bool) -> nn.Module:
    """Halve (``down``) or double the map: a residual block when ``resblock_updown``."""
    if s.resblock_updown:
        return ResBlock(
            channels,
            4 * s.model_channels,
            s.dropout,
            channels,
            use_scale_shift_norm=s.use_scale_shift_norm,
            up=not down,
            down=down,
        )
    if down:
        return Downsample(channels, s.conv_resample)
    return Upsample(channels, s.conv_resample)


class BridgeUNet(SkipUNet):
    """The bridge network ``net(x_t, t) -> x_t - x0`` the settings describe (reference keys).

    The zero-initialised layers of the reference (each ResBlock's last conv, each attention
    ``proj_out`` and the output conv) start at zero here too; the rest keep torch's default
    initialisation, drawn from the global generator of whoever builds it (a trainer seeds it).
    """

    def __init__(self, settings: BridgeUNetSettings) -> None:
        super().__init__()
        s = settings
        self.model_channels = s.model_channels
        emb = 4 * s.model_channels
        self.time_embed = nn.Sequential(
            nn.Linear(s.model_channels, emb), nn.SiLU(), nn.Linear(emb, emb)
        )
        self.input_blocks = nn.ModuleList(
            [TimestepEmbedSequential(nn.Conv2d(s.in_channels, s.model_channels, 3, padding=1))]
        )
        skips = [s.model_channels]
        ch, ds = s.model_channels, 1
        for level, mult in enumerate(s.channel_mult):
            for _ in range(s.num_res_blocks):
                layers: list[nn.Module] = [res_block(s, ch, mult * s.model_channels)]
                ch = mult * s.model_channels
                if ds in s.attention_resolutions:
                    layers.append(attention(s, ch, s.num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skips.append(ch)
            if level != len(s.channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(resample(s, ch, down=True)))
                skips.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(
            res_block(s, ch, ch), attention(s, ch, s.num_heads), res_block(s, ch, ch)
        )
        heads_up = s.num_heads if s.num_heads_upsample == -1 else s.num_heads_upsample
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(s.channel_mult))[::-1]:
            for i in range(s.num_res_blocks + 1):
                layers = [res_block(s, ch + skips.pop(), mult * s.model_channels)]
                ch = mult * s.model_channels
                if ds in s.attention_resolutions:
                    layers.append(attention(s, ch, heads_up))
                if level and i == s.num_res_blocks:
                    layers.append(resample(s, ch, down=False))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = output_head(ch, s.out_channels)
        self._zero_initial_outputs()

    def _zero_initial_outputs(self) -> None:
        """The reference's ``zero_module`` layers start at zero (deterministic, no draw)."""
        zeroed = [self.out[2]]
        for module in self.modules():
            if isinstance(module, ResBlock):
                zeroed.append(module.out_layers[3])
            elif isinstance(module, AttentionBlock):
                zeroed.append(module.proj_out)
        for layer in zeroed:
            for parameter in layer.parameters():
                nn.init.zeros_(parameter)

    def embed(self, timesteps: torch.Tensor) -> torch.Tensor:
        """``time_embed([cos(t f) | sin(t f)])`` of the raw integer times (bbdm.md §7)."""
        return self.time_embed(timestep_embedding(timesteps, self.model_channels))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The predicted objective ``x_t - x0`` for maps ``x`` at integer times ``timesteps``."""
        return self.unet(x, self.embed(timesteps))


def build_unet(settings: BridgeUNetSettings) -> BridgeUNet:
    """The bridge UNet the settings describe (reference initialisation, weights not loaded)."""
    return BridgeUNet(settings)


def unet_spec(settings: BridgeUNetSettings) -> ModelSpec:
    """A raw objective ``x_t - x0`` at raw integer times (SDE-BBDM's own reading, bbdm.md §3)."""
    return ModelSpec(
        target="raw",
        channels=settings.out_channels,
        input_shape=(settings.in_channels, settings.image_size, settings.image_size),
    )
