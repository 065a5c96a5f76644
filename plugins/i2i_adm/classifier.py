"""guided-diffusion's ``EncoderUNetModel``: the noisy classifier and its trunk (adm.md §2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from i2i_adm.layers import AttentionPool2d, GroupNorm32, timestep_embedding
from i2i_adm.unet import encoder_blocks, time_embed_mlp


class EncoderUNetModel(nn.Module):
    """The UNet's down path and middle block, then a pooled head giving logits.

    ``features(x, t)`` returns the middle-block map (EGSDE's DSE and DG's discriminator read it).
    ``head_name`` is the head's state-dict name: ``out`` for guided-diffusion classifiers,
    ``I2Iout`` for EGSDE's domain-specific extractors. DG's variant (dg.md §5.3: timesteps x999,
    an optional ``label_emb`` added to the time embedding, a sigmoid on the logits) extends
    ``embed`` and wraps ``forward``; the trunk and head stay as they are.
    """

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int,
        attention_resolutions: Sequence[int],  # downsample rates with attention
        dropout: float = 0.0,
        channel_mult: Sequence[float] = (1, 2, 4, 8),
        conv_resample: bool = True,
        use_fp16: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        use_new_attention_order: bool = False,
        pool: str = "adaptive",
        head_name: str = "out",
    ) -> None:
        super().__init__()
        self.model_channels = model_channels
        self.use_fp16 = use_fp16
        self.head_name = head_name
        self.time_embed = time_embed_mlp(model_channels)
        self.input_blocks, self.middle_block, _, ch, ds = encoder_blocks(
            in_channels=in_channels,
            model_channels=model_channels,
            channel_mult=channel_mult,
            num_res_blocks=num_res_blocks,
            attention_resolutions=attention_resolutions,
            dropout=dropout,
            num_heads=num_heads,
            num_head_channels=num_head_channels,
            use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown,
            use_new_attention_order=use_new_attention_order,
            conv_resample=conv_resample,
        )
        if pool == "attention":
            head = nn.Sequential(
                GroupNorm32(ch),
                nn.SiLU(),
                AttentionPool2d(image_size // ds, ch, num_head_channels, out_channels),
            )
        elif pool == "adaptive":
            head = nn.Sequential(
                GroupNorm32(ch),
                nn.SiLU(),
                nn.AdaptiveAvgPool2d((1, 1)),
                nn.Conv2d(ch, out_channels, 1),
                nn.Flatten(),
            )
        else:
            raise ValueError(f"unknown pool {pool!r}; expected 'attention' or 'adaptive'")
        self.add_module(head_name, head)

    @property
    def head(self) -> nn.Module:
        """The pooling head (registered as ``head_name``)."""
        return getattr(self, self.head_name)

    def embed(self, timesteps: torch.Tensor) -> torch.Tensor:
        """The timestep embedding every ResBlock receives (adm.md §1.2)."""
        return self.time_embed(timestep_embedding(timesteps, self.model_channels))

    def features(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The middle-block feature map of noisy images ``x`` at timesteps ``timesteps``."""
        emb = self.embed(timesteps)
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
        return self.middle_block(h, emb)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Logits (B, out_channels) of noisy images ``x`` at timesteps ``timesteps``."""
        return self.head(self.features(x, timesteps).type(x.dtype))
