"""guided-diffusion's ``EncoderUNetModel``: the noisy classifier and its trunk (adm.md §2)."""

from __future__ import annotations

import torch
from torch import nn

from i2i_adm.layers import AttentionPool2d
from i2i_adm.unet import EncoderConfig, encoder_blocks, time_embed_mlp
from i2i_cli.diffusion.nn import GroupNorm32, timestep_embedding


class EncoderUNetModel(nn.Module):
    """The UNet's down path and middle block, then a pooled head giving logits.

    ``config`` holds the arguments it shares with ``UNetModel`` (guided-diffusion's names).
    ``features(x, t)`` returns the middle-block map (EGSDE's DSE and DG's discriminator read it).
    ``head_name`` is the head's state-dict name: ``out`` for guided-diffusion classifiers,
    ``I2Iout`` for EGSDE's domain-specific extractors. DG's variant (dg.md §5.3: timesteps x999,
    an optional ``label_emb`` added to the time embedding, a sigmoid on the logits) extends
    ``embed`` and wraps ``forward``; the trunk and head stay as they are.
    """

    def __init__(
        self,
        config: EncoderConfig,
        pool: str = "adaptive",  # head: "attention" pooling or global "adaptive" average
        head_name: str = "out",  # the head's state-dict name
    ) -> None:
        super().__init__()
        self.model_channels = config.model_channels
        self.use_fp16 = config.use_fp16
        self.head_name = head_name
        self.time_embed = time_embed_mlp(config.model_channels)
        self.input_blocks, self.middle_block, _, ch, ds = encoder_blocks(config)
        out_channels = config.out_channels
        if pool == "attention":
            head = nn.Sequential(
                GroupNorm32(ch),
                nn.SiLU(),
                AttentionPool2d(
                    config.image_size // ds, ch, config.num_head_channels, out_channels
                ),
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
