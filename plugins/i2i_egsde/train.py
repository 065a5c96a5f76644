"""``i2i train dse``: EGSDE's domain-specific extractor on the core training loop (egsde.md §5)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from i2i_cli.base.errors import UsageError
from i2i_cli.base.paths import require_folder
from i2i_cli.checkpoints.store import MissingCheckpointError
from i2i_cli.diffusion.gaussian import q_sample
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.io.data import ImageItem, UnreadableImageError, find_images, read_image
from i2i_cli.networks.backbones import backbone_settings, is_file_reference
from i2i_cli.run.model_choice import BackboneChoice, checkpoint_path
from i2i_cli.training import TrainingRecipe, run_training
from i2i_cli.training.backbone_record import write_backbone_record
from i2i_cli.weights.loading import load_checkpoint

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_egsde.settings import DSETrainSettings


def labelled_images(settings: DSETrainSettings) -> list[tuple[ImageItem, int]]:
    """Every training image with its domain label (folder order: a = 0, b = 1, c = 2)."""
    folders = {"a": settings.data_a, "b": settings.data_b, "c": settings.data_c}
    if not settings.data_a or not settings.data_b:
        raise UsageError("i2i train dse needs --data-a and --data-b (one folder per domain)")
    given = [(side, folder) for side, folder in folders.items() if folder]
    for side, folder in given:  # every folder is checked before any is read
        require_folder(Path(folder), f"--data-{side}")
    labelled = []
    for label, (_, folder) in enumerate(given):
        labelled += [(item, label) for item in find_images(Path(folder))]
    return labelled


def share_trunk(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> int:
    """Copy every tensor whose key and shape the model shares (``load_share_weights``)."""
    own = model.state_dict()
    shared = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    own.update(shared)
    model.load_state_dict(own)
    return len(shared)


def initialise(model: torch.nn.Module, settings: DSETrainSettings, ctx: RunContext) -> None:
    """Initialise the trunk from the ImageNet classifier when it is available (egsde.md §5)."""
    reference = settings.init_checkpoint
    if not reference:
        ctx.log("training the extractor from scratch")
        return
    try:
        path = checkpoint_path(ctx, reference)
    except MissingCheckpointError:
        if is_file_reference(reference):
            raise
        ctx.log(
            f"[yellow]{reference} is not downloaded: training from scratch[/yellow] "
            f"(run `i2i download {reference}` to initialise from it)"
        )
        return
    count = share_trunk(model, load_checkpoint(path))
    ctx.log(f"initialised {count} tensors of the extractor from {path}")


def train_dse(settings: DSETrainSettings, ctx: RunContext) -> dict[str, Any]:
    """Train the extractor; its ``model.pt`` loads as the ``dse`` energy's checkpoint."""
    images = labelled_images(settings)
    classes = 1 + max(label for _, label in images)
    choice = BackboneChoice(
        backbone="adm-classifier",
        preset=settings.preset,
        model={**settings.model, "out_channels": classes},
        checkpoint=None,
    )
    descriptor, model_settings = backbone_settings(choice.backbone, choice.preset, choice.model)
    model = descriptor.build(model_settings)
    initialise(model, settings, ctx)
    size = model_settings.image_size
    device = ctx.runtime.device
    tables = DiscreteSchedule.named(settings.noise_schedule, settings.diffusion_steps).tables(
        device
    )
    ctx.log(f"{len(images)} images in {classes} domains, {size} px, {settings.iterations} steps")

    def batches(step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = torch.randperm(len(images), generator=generator, device=device)[
            : settings.batch_size
        ]
        pixels, labels = [], []
        for index in chosen.tolist():
            item, label = images[index]
            try:
                image = read_image(item.path, size, fit="crop")
            except UnreadableImageError as error:
                raise UsageError(str(error)) from None
            if settings.hflip and torch.rand((), generator=generator, device=device) < 0.5:
                image = image.flip(-1)
            pixels.append(image)
            labels.append(label)
        return torch.stack(pixels).to(device), torch.tensor(labels, device=device)

    def loss(net: torch.nn.Module, batch: Any, generator: torch.Generator) -> torch.Tensor:
        x0, labels = batch
        t = torch.zeros(len(x0), dtype=torch.long, device=device)
        x = x0
        if settings.noised:
            t = torch.randint(0, tables.num_steps, (len(x0),), generator=generator, device=device)
            noise = torch.randn(x0.shape, generator=generator, device=device)
            x = q_sample(tables, x0, t, noise)
        return F.cross_entropy(net(x, t).float(), labels)

    recipe = TrainingRecipe(
        model=model,
        optimizer=torch.optim.AdamW(
            model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        ),
        loss=loss,
        batches=batches,
        steps=settings.iterations,
        settings=settings.model_dump(),
        lr_multiplier=lambda step: 1.0 - step / settings.iterations,
        ema_decay=settings.ema_decay,
        grad_clip=settings.grad_clip,
        checkpoint_every=settings.checkpoint_every,
        resume_may_change=frozenset({"iterations", "checkpoint_every"}),
    )
    weights = run_training(ctx, recipe)
    record = write_backbone_record(
        ctx,
        choice,
        model_settings,
        weights,
        trainer="i2i train dse",
        use="i2i translate egsde --energy dse:checkpoint=<model.pt>,weight=...",
    )
    return {"weights": str(weights), **record, "classes": classes, "steps": settings.iterations}
