"""DDIB's 2-D noise-prediction network ``SyntheticModel`` (spec ddib.md §2.2).

An MLP counterpart of the ADM UNet: residual blocks on (N, C) features with a timestep
embedding, one skip from the input side to the output side. Module and parameter names follow
the reference's ``guided_diffusion/synthetic.py``, so the official synthetic checkpoints
(``models/synthetic/log2D{i}/model*.pt``) load with ``strict=True``. ``GroupNorm32`` and
``timestep_embedding`` (of the original integer timesteps) are the core's.

Inside the network features are (C, N) columns, channel-major: a Linear is ``W @ h + b`` and a
group norm sums whole rows (``GroupNorm32.columns``), which a CPU vectorises, where (N, C) rows
would reduce 4 or 8 values at a time. The arithmetic is the reference's, in another layout.
"""

from __future__ import annotations

import torch
from torch import nn

from i2i_cli.diffusion.nn import GroupNorm32, silu, timestep_embedding
from i2i_ddib.settings import Synthetic2DSettings


class ResBlock2d(nn.Module):
    """Residual block on (ch, N) feature columns conditioned on a timestep embedding (ddib.md §2.2).

    ``x + Linear(Dropout(SiLU(GN(Linear(SiLU(GN(x))) + Linear(SiLU(emb))))))``; the last
    Linear starts at zero, so a fresh block is the identity.
    """

    def __init__(self, channels: int, emb_channels: int, dropout: float) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(
            GroupNorm32(channels), nn.SiLU(), nn.Linear(channels, channels)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(channels),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            _zeroed(nn.Linear(channels, channels)),
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The block's output for columns ``x`` (ch, N) and embedding rows ``emb`` (1 or N, C).

        An embedding shared by every column is added with the first Linear's bias.
        """
        norm, _, linear = self.in_layers
        shift = self.emb_layers(emb).type(x.dtype).T
        h = silu(norm.columns(x))
        if shift.shape[1] == 1:
            h = torch.addmm((linear.bias + shift[:, 0])[:, None], linear.weight, h)
        else:
            h = columns_linear(linear, h) + shift
        norm, _, dropout, linear = self.out_layers
        h = dropout(silu(norm.columns(h)))
        return columns_linear(linear, h).add_(x)


def columns_linear(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``linear`` applied to (in, N) columns: ``W @ x + b`` as (out, N) columns."""
    return torch.addmm(linear.bias[:, None], linear.weight, x)


class EmbedSequential(nn.Sequential):
    """A sequence of layers on feature columns; its residual blocks also receive the embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Apply the layers in order to columns ``x``, passing ``emb`` to each ``ResBlock2d``."""
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock2d) else columns_linear(layer, x)
        return x


def _zeroed(module: nn.Module) -> nn.Module:
    """``module`` with every parameter set to zero (the reference's ``zero_module``)."""
    for parameter in module.parameters():
        nn.init.zeros_(parameter)
    return module


class SyntheticModel(nn.Module):
    """DDIB's 2-D eps-network ``SyntheticModel`` (Su et al. 2023; guided_diffusion/synthetic.py).

    Forward: h0 = Linear(x); h1 = R blocks(h0); hm = 2 blocks(h1); h = R blocks on the 2C
    features ``[hm, h1]``; eps = Linear(SiLU(GN(h))). The embedding width is C throughout.
    """

    def __init__(
        self,
        in_channels: int = 2,  # Point dimension.
        model_channels: int = 256,  # Block width C (a multiple of 32).
        out_channels: int = 2,  # Output width (eps of each coordinate).
        num_res_blocks: int = 3,  # Residual blocks on the input and on the output side.
        dropout: float = 0.0,  # Dropout inside every residual block.
    ) -> None:
        super().__init__()
        channels = model_channels
        self.model_channels = channels
        self.time_embed = nn.Sequential(
            nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels)
        )
        self.input_blocks = nn.ModuleList(
            [
                EmbedSequential(nn.Linear(in_channels, channels)),
                EmbedSequential(
                    *(ResBlock2d(channels, channels, dropout) for _ in range(num_res_blocks))
                ),
            ]
        )
        self.middle_block = EmbedSequential(
            ResBlock2d(channels, channels, dropout), ResBlock2d(channels, channels, dropout)
        )
        self.output_blocks = nn.ModuleList(
            [
                EmbedSequential(
                    *(ResBlock2d(2 * channels, channels, dropout) for _ in range(num_res_blocks))
                )
            ]
        )
        self.out = nn.Sequential(
            GroupNorm32(2 * channels), nn.SiLU(), _zeroed(nn.Linear(2 * channels, out_channels))
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps predicted for points ``x`` (N, in) at original integer timesteps ``t`` (N,).

        A sampler's batch shares one timestep: its embedding is then computed once, as one row
        every block broadcasts, which spares a quarter of the pass's arithmetic.
        """
        shared = t.ndim == 1 and len(t) > 1 and bool((t == t[0]).all())
        steps = t[:1] if shared else t
        emb = self.time_embed(timestep_embedding(steps, self.model_channels).to(x.dtype))
        h0 = self.input_blocks[0](x.T, emb)
        h1 = self.input_blocks[1](h0, emb)
        h = self.middle_block(h1, emb)
        h = self.output_blocks[0](torch.cat([h, h1]), emb)
        norm, _, linear = self.out
        return columns_linear(linear, silu(norm.columns(h))).T.contiguous()


def build_synthetic_model(settings: Synthetic2DSettings) -> SyntheticModel:
    """The 2-D ``SyntheticModel`` of ``settings`` (fresh weights, reference initialisation)."""
    return SyntheticModel(
        in_channels=settings.in_channels,
        model_channels=settings.num_channels,
        out_channels=settings.in_channels,
        num_res_blocks=settings.num_res_blocks,
        dropout=settings.dropout,
    )
