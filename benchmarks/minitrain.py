"""The mini-benchmark's fallback diffusion trainer: an adm-unet on one image folder, core loop.

Used only when ``i2i train diffusion`` is not installed. L_simple (Ho et al. 2020, eq. 14) at
uniform t over the backbone's own discrete process, AdamW, EMA, on i2i's ``run_training`` (atomic
checkpoints, resume, per-step generators); the exported ``model.pt`` is the adm-unet's state dict
with the official key names, so every method loads it through ``--checkpoint``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F


def train_diffusion(
    data: Path,
    output: Path,
    model: Mapping[str, Any],
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 2e-4,
    ema_decay: float = 0.999,
    seed: int = 0,
) -> Path:
    """Train an ``adm-unet`` (afhq_dog_4m preset under ``model``) on ``data``; its model.pt."""
    from i2i_cli.diffusion.gaussian import q_sample
    from i2i_cli.diffusion.schedule import DiscreteSchedule
    from i2i_cli.io.data import find_images, read_image
    from i2i_cli.networks.backbones import backbone_settings
    from i2i_cli.run.context import open_context
    from i2i_cli.run.run_settings import TrainRun
    from i2i_cli.training import TrainingRecipe, run_training, training_setup_rng

    descriptor, settings = backbone_settings("adm-unet", "afhq_dog_4m", dict(model))
    size = settings.image_size
    run = TrainRun(output=output, device="cpu", seed=seed)
    with open_context("train", "minibench-diffusion", None, run, output) as ctx:
        device = ctx.runtime.device
        with training_setup_rng(seed, device):
            net = descriptor.build(settings)
        images = torch.stack([read_image(i.path, size, fit="crop") for i in find_images(data)])
        images = images.to(device)
        schedule = DiscreteSchedule.named(settings.noise_schedule, settings.diffusion_steps)
        tables = schedule.tables(device)

        def batches(step: int, generator: torch.Generator) -> torch.Tensor:
            index = torch.randint(0, len(images), (batch_size,), generator=generator, device=device)
            return images[index]

        def loss(module: torch.nn.Module, x0: torch.Tensor, generator: torch.Generator) -> Any:
            t = torch.randint(0, tables.num_steps, (len(x0),), generator=generator, device=device)
            noise = torch.randn(x0.shape, generator=generator, device=device)
            eps = module(q_sample(tables, x0, t, noise), t)[:, : x0.shape[1]]
            return F.mse_loss(eps.float(), noise)

        recipe = TrainingRecipe(
            model=net,
            optimizer=torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0),
            loss=loss,
            batches=batches,
            steps=steps,
            settings={"data": str(data), "model": dict(model), "batch_size": batch_size},
            warmup_steps=min(100, steps // 10),
            ema_decay=ema_decay,
            checkpoint_every=max(steps // 4, 1),
            log_every=50,
        )
        return run_training(ctx, recipe)
