"""The network a trainer starts from: its ``--checkpoint``, else fresh with run-seeded weights.

Every trainer whose settings choose a backbone (a ``BackboneChoice``) builds its network here,
so a fresh network's initial weights depend on the run seed and the trainer's key only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from i2i_cli.diffusion.noise import item_seed
from i2i_cli.networks.backbones import load_backbone
from i2i_cli.run.model_choice import load_for_run

if TYPE_CHECKING:
    from i2i_cli.networks.backbones import LoadedBackbone
    from i2i_cli.run.context import RunContext
    from i2i_cli.run.model_choice import BackboneChoice


def initial_network(choice: BackboneChoice, ctx: RunContext, key: str) -> LoadedBackbone:
    """The chosen backbone in training mode: loaded from ``choice.checkpoint`` (built as that
    file records, if it does), else built fresh under torch's global generator seeded from
    (run seed, ``key``), the caller's generators left as they were."""
    if choice.checkpoint is not None:
        loaded = load_for_run(choice, ctx)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed(ctx.runtime.seed, key))
            loaded = load_backbone(choice.backbone, preset=choice.preset, overrides=choice.model)
    loaded.module.train().requires_grad_(True)
    return loaded
