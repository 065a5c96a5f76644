"""``i2i train ddib-2d``: a 2-D model on one synthetic data set, on the core loop (ddib.md §2.3).

The loss is the reference's, ``mean((eps - eps_theta(sqrt(abar) x0 + sqrt(1 - abar) eps, t))^2)``
with t uniform over the T steps (or uniform in log-SNR, ``--timesteps log-snr``), AdamW at a
constant rate. Unlike the reference, batches are
shuffled every epoch (the reference cycles through generator-ordered slices, pitfall 12).

``model.pt`` holds the raw weights, as the reference's translation, cycle and sampling scripts
load them (``scripts/common.py:20-34`` takes the newest ``model*.pt``, never the
``ema_0.9999_*.pt`` that ``guided_diffusion/train_util.py:231-245`` writes beside it);
``--export ema`` exports the EMA average instead (``--quick`` does: the bundled models are EMA).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from i2i_cli.api.settings import validate
from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.gaussian import q_sample
from i2i_cli.diffusion.schedule import DiscreteSchedule, ScheduleTables
from i2i_cli.points.synthetic_data import seeded_rng, synthetic_points, synthetic_task
from i2i_cli.run.model_choice import BackboneChoice
from i2i_cli.training import EpochSampler, Loss, TrainingRecipe, run_training
from i2i_cli.training.backbone_record import write_backbone_record
from i2i_ddib.model2d import build_synthetic_model
from i2i_ddib.settings import DDIB2DTrainSettings, Synthetic2DSettings

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext


def model_settings(settings: DDIB2DTrainSettings) -> Synthetic2DSettings:
    """The 2-D model's settings: the official architecture with the ``model`` overrides."""
    return validate(Synthetic2DSettings, dict(settings.model), prefix="model.")


def training_points(settings: DDIB2DTrainSettings, seed: int) -> torch.Tensor:
    """The training set: ``num_points`` of the data set (rounded down to a valid count)."""
    task = synthetic_task(settings.data)
    count = settings.num_points - settings.num_points % task.multiple_of
    return synthetic_points(task, count, seeded_rng(seed))


def rate_schedule(settings: DDIB2DTrainSettings) -> Callable[[int], float] | None:
    """The learning-rate multiplier of step k: none (constant) or 0.5 (1 + cos(pi k / K))."""
    if settings.lr_schedule == "constant":
        return None
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * step / settings.steps))


TimestepDraw = Callable[[int, torch.Generator, torch.device], torch.Tensor]
"""``draw(count, generator, device)``: ``count`` original timesteps in 0..T-1."""


def uniform_timesteps(num_steps: int) -> TimestepDraw:
    """t uniform in 0..T-1 (DDPM Algorithm 1, the reference)."""

    def draw(count: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randint(0, num_steps, (count,), generator=generator, device=device)

    return draw


def log_snr_timesteps(tables: ScheduleTables) -> TimestepDraw:
    """t whose log-SNR is uniform between the process's ends (a weighting over log-SNR).

    The log-SNR lambda_t = log(abar_t / (1 - abar_t)) falls with t; a level u drawn uniformly in
    [lambda_{T-1}, lambda_0] maps to the first t with lambda_t <= u. Each t keeps its own optimum
    E[eps | x_t]; only the share of the optimiser's effort per noise level changes (Kingma et
    al. 2021, "Variational Diffusion Models", §5: the weighting over log-SNR).
    """
    abar = tables.alphas_cumprod.double()
    falling = -(abar.log() - (-abar).log1p())
    on_device: dict[torch.device, torch.Tensor] = {falling.device: falling}

    def draw(count: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        table = on_device.get(device)
        if table is None:
            table = on_device[device] = falling.to(device)
        u = torch.rand(count, generator=generator, device=device).double()
        level = table[0] + u * (table[-1] - table[0])
        return torch.searchsorted(table, level).clamp_(0, len(table) - 1)

    return draw


def diffusion_loss(tables: ScheduleTables, timesteps: TimestepDraw | None = None) -> Loss:
    """The eps-MSE loss of a batch of points at drawn t (DDPM eq. 14; t uniform by default)."""
    draw = timesteps or uniform_timesteps(tables.num_steps)

    def loss(net: torch.nn.Module, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        t = draw(len(x0), generator, x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        prediction = net(q_sample(tables, x0, t, noise), t)
        return (noise - prediction.float()).pow(2).mean()

    return loss


def timestep_draw(settings: DDIB2DTrainSettings, tables: ScheduleTables) -> TimestepDraw:
    """The run's timestep distribution (``--timesteps``)."""
    if settings.timesteps == "log-snr":
        return log_snr_timesteps(tables)
    return uniform_timesteps(tables.num_steps)


def exported_weights(settings: DDIB2DTrainSettings) -> str:
    """What ``model.pt`` will hold, in words: ``raw`` or ``EMA 0.9999``."""
    return f"EMA {settings.ema_decay}" if settings.export == "ema" else "raw"


def train_ddib_2d(settings: DDIB2DTrainSettings, ctx: RunContext) -> dict[str, Any]:
    """Train; ``model.pt`` (raw weights, or EMA with ``--export ema``) loads as a ddib
    ``--source-checkpoint``/``--target-checkpoint``."""
    architecture = model_settings(settings)
    model = build_synthetic_model(architecture)
    device = ctx.runtime.device
    points = training_points(settings, ctx.runtime.seed).to(device)
    schedule = DiscreteSchedule.named(architecture.noise_schedule, architecture.diffusion_steps)
    tables = schedule.tables(device)
    if settings.batch_size > len(points):
        raise UsageError(
            f"--batch-size {settings.batch_size} exceeds the {len(points)} training points"
        )
    sampler = EpochSampler(
        len(points),
        settings.batch_size,
        ctx.runtime.seed,
        ctx.runtime.dist.rank,
        ctx.runtime.dist.world_size,
    )
    ctx.log(
        f"ddib-2d on {synthetic_task(settings.data).name}: {len(points)} points, C = "
        f"{architecture.num_channels}, R = {architecture.num_res_blocks}, T = "
        f"{architecture.diffusion_steps}, {settings.steps} steps of {settings.batch_size}; "
        f"exports the {exported_weights(settings)} weights"
    )
    recorded = settings.model_dump()
    recorded["model"] = architecture.model_dump()
    recipe = TrainingRecipe(
        model=model,
        optimizer=lambda net: torch.optim.AdamW(
            net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        ),
        loss=diffusion_loss(tables, timestep_draw(settings, tables)),
        batches=lambda step, _generator: points[sampler.indices(step).to(device)],
        steps=settings.steps,
        settings=recorded,
        lr_multiplier=rate_schedule(settings),
        warmup_steps=settings.warmup_steps,
        ema_decay=settings.ema_decay,
        export_ema=settings.export == "ema",
        grad_clip=settings.grad_clip,
        checkpoint_every=settings.checkpoint_every,
        resume_may_change=frozenset({"steps", "checkpoint_every", "export"}),
    )
    weights = run_training(ctx, recipe)
    choice = BackboneChoice(backbone="ddib-2d", preset=None, checkpoint=None)
    record = write_backbone_record(
        ctx,
        choice,
        architecture,
        weights,
        trainer="i2i train ddib-2d",
        use="i2i translate ddib --source-checkpoint <model.pt> (or --target-checkpoint)",
    )
    return {
        "weights": str(weights),
        **record,
        "exported": settings.export,
        "data": synthetic_task(settings.data).name,
        "steps": settings.steps,
        "model": architecture.model_dump(),
    }
