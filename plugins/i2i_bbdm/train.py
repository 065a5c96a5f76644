"""``i2i train bbdm``: SDE-BBDM's training (bbdm.md §3) on the core training loop.

Per step, for a batch of pairs (condition y, target x0): ``t ~ uniform{2, ..., T}``, one
``eps ~ N(0, I)``, ``x_t = (1 - m_t) x0 + m_t y + B_t eps`` (``i2i_bbdm.bridge``), and the loss
is the mean absolute error between ``net(x_t, t)`` and the objective ``x_t - x0`` (torchmanager's
``MAE``). Adam (lr 1e-4, torch defaults otherwise), gradient norm clipped to 1, no EMA and no
schedule: the reference's ``examples/train.py``. The loop adds AMP, EMA on request, atomic
checkpoints, bitwise resume and DDP. In latent mode (``latent = "vq-f4"``, bbdm.md §6) both sides
are first encoded by the frozen VQ-f4 autoencoder (pre-quantisation latents, no gradient), which
is reached through the backbone registry. The UNet is the ``bbdm-unet`` backbone, fresh (its
weights seeded by the run seed) or from ``checkpoint``; the core exports its state dict as
``model.pt``, and ``backbone.toml`` beside it records the network's settings
(``i2i_cli.training.backbone_record``), so ``i2i translate sde-bbdm --checkpoint model.pt``
builds the trained network with no ``--set model.*``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from i2i_bbdm.bridge import bridge_marginal
from i2i_bbdm.pair_batches import PairBatch, PrefetchedPairs
from i2i_bbdm.paired import check_pairs, find_paired
from i2i_cli.base.errors import UsageError
from i2i_cli.run.model_choice import load_for_run
from i2i_cli.training import EpochSampler, TrainingRecipe, loop_options, run_training
from i2i_cli.training.backbone_record import write_backbone_record
from i2i_cli.training.initial_network import initial_network
from i2i_cli.training.prefetch import decoding_workers

if TYPE_CHECKING:
    from pathlib import Path

    from i2i_bbdm.settings import BBDMTrainSettings
    from i2i_cli.networks.backbones import LoadedBackbone
    from i2i_cli.run.context import RunContext

FIRST_TRAINED_T = 2
"""``randint(2, T + 1)``: t = 1 is never trained (bbdm.md §3, pitfall 5)."""
VQ_FACTOR = 4
RESUMABLE_CHANGES = frozenset({"iterations", "checkpoint_every", "log_every", "workers"})
USE = "i2i translate sde-bbdm --checkpoint <its model.pt> (or --config <this file>)"
BRIDGE_NOTE = "with the bridge it was trained on: --steps {steps} --c-lambda {c_lambda:g}"

BRIDGE_SETTINGS = ("steps", "c_lambda", "image_size", "latent", "vq_preset", "vq_checkpoint")
"""What ``translate sde-bbdm`` must run the trained network with, written into its
``backbone.toml`` so that ``--config backbone.toml`` gives the bridge as well as the network."""

Encode = Callable[[torch.Tensor], torch.Tensor]


def training_times(
    count: int, steps: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """``t ~ uniform{2, ..., T}``, one per pair, int64 (bbdm.md §3)."""
    return torch.randint(FIRST_TRAINED_T, steps + 1, (count,), generator=generator, device=device)


def bridge_ends(batch: PairBatch, encode: Encode | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x0, y)`` the bridge joins: the pair's target and source, encoded in latent mode (§6).

    The autoencoder is frozen: no gradient flows through ``encode``; latents are float32.
    """
    if encode is None:
        return batch.target, batch.source
    with torch.no_grad():
        return encode(batch.target).float(), encode(batch.source).float()


def bridge_loss(
    net: nn.Module, t: torch.Tensor, marginal: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """``mean |net(x_t, t) - (x_t - x0)|``, the L1 objective of bbdm.md §3, for the bridge's
    ``marginal`` ``(x_t, x_t - x0)`` at times ``t`` (``bridge_marginal``)."""
    x_t, objective = marginal
    prediction = net(x_t, t)
    return F.l1_loss(prediction.float(), objective.float())


def make_optimizer(net: nn.Module, lr: float) -> torch.optim.Optimizer:
    """The reference's optimiser: Adam(lr) with torch's defaults (betas 0.9/0.999, eps 1e-8)."""
    return torch.optim.Adam(net.parameters(), lr=lr)


def build_unet(settings: BBDMTrainSettings, ctx: RunContext) -> LoadedBackbone:
    """The bridge UNet to train: from ``checkpoint`` (built as that file records, if it does),
    else fresh with weights seeded by the run."""
    return initial_network(settings, ctx, "bbdm-unet-init")


def latent_encoder(settings: BBDMTrainSettings, ctx: RunContext) -> Encode | None:
    """The frozen VQ-f4 ``encode`` of latent mode (bbdm.md §6); None in image space."""
    if settings.latent == "none":
        return None
    if settings.image_size % VQ_FACTOR:
        raise UsageError(
            f"--latent {settings.latent} needs an image size divisible by {VQ_FACTOR}, "
            f"got {settings.image_size}"
        )
    autoencoder = load_for_run(settings.autoencoder(), ctx).module
    encode = getattr(autoencoder, "encode", None)
    if encode is None:
        raise UsageError(f"backbone {settings.autoencoder().backbone} has no encode()")
    return encode


def train_bbdm(settings: BBDMTrainSettings, ctx: RunContext) -> dict[str, Any]:
    """Train the bridge UNet on the pairs of ``--data`` (bbdm.md §3); returns the weights' path."""
    runtime = ctx.runtime
    device = runtime.device
    if not settings.data:
        raise UsageError("i2i train bbdm needs --data (a folder of pairs; see --layout)")
    items = find_paired(settings.data, settings.layout, settings.split)
    check_pairs(items)
    encode = latent_encoder(settings, ctx)
    built = build_unet(settings, ctx)
    net = built.module
    sampler = EpochSampler(
        len(items), settings.batch_size, runtime.seed, runtime.dist.rank, runtime.dist.world_size
    )
    steps, c_lambda = settings.steps, settings.c_lambda
    workers = decoding_workers(settings.workers, runtime.dist.world_size)
    space = "pixels" if encode is None else f"{settings.latent} latents"
    ctx.log(
        f"{len(items)} pairs ({settings.layout}, {settings.split}) at {settings.image_size} px, "
        f"on {space}; {settings.iterations} steps of {settings.batch_size} "
        f"({settings.iterations / sampler.steps_per_epoch:.1f} epochs); "
        + (f"{workers} decoding processes" if workers else "decoding in the loop")
    )

    def loss(model: nn.Module, batch: PairBatch, generator: torch.Generator) -> torch.Tensor:
        x0, y = bridge_ends(batch, encode)
        t = training_times(len(x0), steps, generator, device)
        eps = torch.randn(x0.shape, generator=generator, device=device)
        marginal = bridge_marginal(x0, y, t, eps, steps=steps, c_lambda=c_lambda)
        return bridge_loss(model, t, marginal)

    with PrefetchedPairs(
        items, settings.image_size, sampler, settings.iterations, device, workers
    ) as batches:
        recipe = TrainingRecipe(
            model=net,
            optimizer=lambda model: make_optimizer(model, settings.lr),
            loss=loss,
            batches=batches,
            steps=settings.iterations,
            settings=settings.model_dump(),
            **loop_options(settings),
            resume_may_change=RESUMABLE_CHANGES,
        )
        weights: Path = run_training(ctx, recipe)
    note = BRIDGE_NOTE.format(steps=steps, c_lambda=c_lambda)
    if encode is not None:
        note += f" --latent {settings.latent} (and its autoencoder's settings)"
    bridge = {name: getattr(settings, name) for name in BRIDGE_SETTINGS}
    record = write_backbone_record(
        ctx,
        settings,
        built.settings,
        weights,
        trainer="i2i train bbdm",
        use=USE,
        notes=(note,),
        method={key: value for key, value in bridge.items() if value is not None},
    )
    return {"weights": str(weights), **record, "pairs": len(items), "steps": settings.iterations}
