"""``i2i translate ddib`` and ``i2i sample ddib``: dispatch, and the 2-D runs (ddib.md §1.7, §2.4).

A 2-D translation writes ``source.npy``, ``latent.npy`` and ``target.npy`` (with ``--cycle`` also
``latent_2.npy`` and ``source_2.npy``), a scatter plot of them, and a ``result.json`` with the
cycle error (max and mean per-point distance, as ``synthetic_cycle.py`` logs the max) and the
sliced Wasserstein distance of the translation to the target data set.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from i2i_cli.atomic import write_atomic_bytes
from i2i_cli.backbones import (
    LoadedBackbone,
    backbone_prediction,
    checkpoint_path,
    load_backbone,
    state_dict_from,
)
from i2i_cli.checkpoints import load_checkpoint
from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.ode import decode_ode, encode_ode, solver_schedule
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.errors import UsageError
from i2i_cli.noise import GeneratorNoise
from i2i_ddib.bundled import bundled_model, verified_path
from i2i_ddib.plots import scatter_figure
from i2i_ddib.point_metrics import sliced_wasserstein
from i2i_ddib.settings2d import architecture_of
from i2i_ddib.synthetic_data import SyntheticTask, seeded_rng, synthetic_array, synthetic_task

if TYPE_CHECKING:
    from i2i_cli.context import RunContext
    from i2i_ddib.settings import DDIBSettings

CHUNK = 50_000
"""Points per network call."""

REFERENCE_POINTS = 20_000
"""Points of a fresh data-set draw the sliced Wasserstein distance compares against."""


def translate_ddib(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any] | None:
    """Run the 2-D point translation or, on an image backbone, the image translation."""
    if is_point_backbone(settings):
        return translate_points(settings, ctx)
    from i2i_ddib.images import translate_ddib_images

    return translate_ddib_images(settings, ctx)


def sample_ddib(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any]:
    """Decode Gaussian latents with the ``--target`` 2-D model (``synthetic_sample.py``)."""
    if not is_point_backbone(settings):
        raise UsageError(
            "i2i sample ddib draws 2-D points; sample images with `i2i sample diffusion`"
        )
    task = synthetic_task(settings.target)
    model = point_model(settings, ctx, task, settings.target_checkpoint)
    schedule = ode_schedule(settings, model)
    count = ctx.run.num_samples
    noise = GeneratorNoise(ctx.runtime.seed, ctx.runtime.device)
    latent = noise.randn((count, *model.prediction.input_shape)).cpu()
    log_plan(ctx, f"sampling {count} points of {task.name}", schedule, settings)
    points = run_pass(ctx, "decode", model, latent, schedule, settings, noise)
    save_points(ctx.output, {"latent": latent, "points": points})
    if settings.plot:
        scatter_figure(
            [("latent", latent.numpy()), (f"samples: {task.name}", points.numpy())],
            ctx.output / "samples.png",
            colour_by=latent.numpy(),
        )
    distance = data_distance(points.numpy(), task, ctx.runtime.seed)
    ctx.log(f"sliced Wasserstein distance to {task.name}: {distance:.4f}")
    return {"points": str(ctx.output / "points.npy"), "sliced_wasserstein": distance}


def is_point_backbone(settings: DDIBSettings) -> bool:
    """Whether the backbone takes 2-D points (one input dimension) rather than images."""
    prediction = backbone_prediction(settings.backbone, settings.preset, settings.model)
    return len(prediction.input_shape) == 1


def official_artifact(task: SyntheticTask) -> str:
    """The artifact of the official checkpoint of ``task`` (``i2i download --exp synthetic``)."""
    return f"ddib_2d_{task.reference_name.lower()}"


def point_model(
    settings: DDIBSettings, ctx: RunContext, task: SyntheticTask, reference: str | None
) -> LoadedBackbone:
    """The 2-D model of one domain: the given checkpoint, the official one, or the bundled one.

    A checkpoint file's width and depth are read from its shapes (``--set model.*`` wins), so
    the model.pt of any ``i2i train ddib-2d`` run loads as it is.
    """
    if reference is not None:
        path = checkpoint_path(ctx, reference)
        shapes = architecture_of(state_dict_from(load_checkpoint(path), f"checkpoint {path}"))
        overrides = {**shapes, **settings.model}
    elif settings.official:
        path = ctx.checkpoint(official_artifact(task))
        overrides = dict(settings.model)
    else:
        bundled = bundled_model(task.name)
        path = verified_path(bundled)
        overrides = {**bundled.model, **settings.model}
    return load_backbone(
        settings.backbone,
        preset=settings.preset,
        overrides=overrides,
        checkpoint=path,
        device=ctx.runtime.device,
    )


def ode_schedule(settings: DDIBSettings, *models: LoadedBackbone) -> DiscreteSchedule:
    """The schedule both passes use: the models' process, respaced to ``--steps``."""
    processes = {
        (
            getattr(m.settings, "noise_schedule", settings.noise_schedule),
            getattr(m.settings, "diffusion_steps", settings.diffusion_steps or 1000),
        )
        for m in models
    }
    if len(processes) > 1:
        raise UsageError(
            "the source and target models were trained on different processes "
            f"({sorted(processes)}); DDIB needs one noise schedule for both"
        )
    name, total = processes.pop()
    try:
        return solver_schedule(
            DiscreteSchedule.named(name, total), settings.solver, settings.steps, settings.spacing
        )
    except ValueError as error:
        raise UsageError(str(error)) from None


def log_plan(
    ctx: RunContext, what: str, schedule: DiscreteSchedule, settings: DDIBSettings
) -> None:
    """One line saying what runs: points, solver, steps per pass."""
    ctx.log(f"ddib: {what}; {settings.solver} with {schedule.num_steps} steps per pass")


def run_pass(
    ctx: RunContext,
    direction: str,
    model: LoadedBackbone,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    settings: DDIBSettings,
    noise: GeneratorNoise,
) -> torch.Tensor:
    """One ODE pass (``encode`` or ``decode``) over ``x`` in chunks; returns CPU float32."""
    denoiser = DiscreteDenoiser(model.module, model.prediction)
    results = []
    for chunk in x.split(CHUNK):
        chunk = chunk.to(ctx.runtime.device)
        with ctx.runtime.autocast():
            if direction == "encode":
                y = encode_ode(denoiser, chunk, schedule, solver=settings.solver)
            else:
                y = decode_ode(denoiser, chunk, schedule, solver=settings.solver, noise=noise)
        results.append(y.float().cpu())
    return torch.cat(results)


@dataclass(frozen=True)
class PointSource:
    """The points to translate and where they came from."""

    points: torch.Tensor
    origin: str


def source_points(settings: DDIBSettings, ctx: RunContext, task: SyntheticTask) -> PointSource:
    """``--input`` (an .npy of shape (n, 2)) or ``num_points`` fresh points of the source set."""
    given = getattr(ctx.run, "input", None)
    if given is not None:
        return PointSource(read_points(Path(given)), str(given))
    count = settings.num_points - settings.num_points % task.multiple_of
    points = synthetic_array(task, count, seeded_rng(ctx.runtime.seed))
    return PointSource(torch.from_numpy(points), f"{count} points of {task.name}")


def read_points(path: Path) -> torch.Tensor:
    """An (n, 2) float array from an .npy file; anything else is one line."""
    if path.suffix != ".npy":
        raise UsageError(f"--input {path}: 2-D translation reads points from an .npy file")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UsageError(f"--input {path} is not a readable .npy file: {error}") from None
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise UsageError(f"--input {path} holds shape {array.shape}; expected (n, 2) points")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise UsageError(f"--input {path} holds non-numeric or non-finite values")
    return torch.from_numpy(array.astype(np.float32))


def save_points(output: Path, arrays: dict[str, torch.Tensor]) -> None:
    """Write each array as ``<name>.npy`` atomically (float32, as the reference saves them)."""
    for name, tensor in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, tensor.numpy().astype(np.float32), allow_pickle=False)
        write_atomic_bytes(buffer.getvalue(), output / f"{name}.npy")


def data_distance(points: np.ndarray, task: SyntheticTask, seed: int) -> float:
    """Sliced Wasserstein distance of ``points`` to a fresh draw of ``task`` (another seed)."""
    count = REFERENCE_POINTS - REFERENCE_POINTS % task.multiple_of
    reference = synthetic_array(task, count, seeded_rng(seed + 1))
    return sliced_wasserstein(points, reference)


def cycle_errors(source: torch.Tensor, returned: torch.Tensor) -> dict[str, float]:
    """Per-point Euclidean distance of the round trip: max (the reference's log) and mean."""
    distance = (source - returned).norm(dim=1)
    return {"cycle_max_l2": float(distance.max()), "cycle_mean_l2": float(distance.mean())}


def translate_points(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any]:
    """Source -> latent -> target (and with ``--cycle`` back again); npy, plot and errors."""
    source_task, target_task = synthetic_task(settings.source), synthetic_task(settings.target)
    if settings.official:
        sides = [
            (source_task, settings.source_checkpoint),
            (target_task, settings.target_checkpoint),
        ]
        ctx.store.require_all([official_artifact(task) for task, given in sides if given is None])
    source_model = point_model(settings, ctx, source_task, settings.source_checkpoint)
    target_model = point_model(settings, ctx, target_task, settings.target_checkpoint)
    schedule = ode_schedule(settings, source_model, target_model)
    source = source_points(settings, ctx, source_task)
    noise = GeneratorNoise(ctx.runtime.seed, ctx.runtime.device)
    log_plan(ctx, f"{source.origin} -> {target_task.name}", schedule, settings)
    arrays = {"source": source.points}
    arrays["latent"] = run_pass(
        ctx, "encode", source_model, source.points, schedule, settings, noise
    )
    arrays["target"] = run_pass(
        ctx, "decode", target_model, arrays["latent"], schedule, settings, noise
    )
    result: dict[str, Any] = {
        "source": source_task.name,
        "target": target_task.name,
        "points": len(source.points),
        "solver": settings.solver,
        "steps_per_pass": schedule.num_steps,
        "target_sliced_wasserstein": data_distance(
            arrays["target"].numpy(), target_task, ctx.runtime.seed
        ),
    }
    if settings.cycle:
        arrays["latent_2"] = run_pass(
            ctx, "encode", target_model, arrays["target"], schedule, settings, noise
        )
        arrays["source_2"] = run_pass(
            ctx, "decode", source_model, arrays["latent_2"], schedule, settings, noise
        )
        result.update(cycle_errors(arrays["source"], arrays["source_2"]))
        ctx.log(
            f"cycle error: max {result['cycle_max_l2']:.5f}, mean {result['cycle_mean_l2']:.5f}"
        )
    ctx.output.mkdir(parents=True, exist_ok=True)
    save_points(ctx.output, arrays)
    if settings.plot:
        panels = [(name, tensor.numpy()) for name, tensor in arrays.items()]
        result["plot"] = str(scatter_figure(panels, ctx.output / "translation.png"))
    return result
