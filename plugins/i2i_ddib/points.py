"""DDIB on 2-D points: the translation and sampling runs of the synthetic suite (ddib.md §2.4).

A translation writes ``source.npy``, ``latent.npy`` and ``target.npy`` (with ``--cycle`` also
``latent_2.npy`` and ``source_2.npy``), a scatter plot of them, and a ``result.json`` with the
cycle error (max and mean per-point distance, as ``synthetic_cycle.py`` logs the max), the
sliced Wasserstein distance of the translation to the target data set and its support
precision and coverage (``i2i_cli.points.support``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from i2i_cli.base.wording import counted
from i2i_cli.checkpoints import load_checkpoint
from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.noise import GeneratorNoise
from i2i_cli.diffusion.ode import decode_ode
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.networks.backbones import LoadedBackbone, state_dict_from
from i2i_cli.points.files import (
    data_distance,
    read_points,
    save_points,
    support_fields,
    support_line,
)
from i2i_cli.points.plots import scatter_figure
from i2i_cli.points.support import support_scores
from i2i_cli.points.synthetic_data import SyntheticTask, seeded_rng, synthetic_array, synthetic_task
from i2i_cli.run.model_choice import checkpoint_path, load_for_run, schedule_for
from i2i_cli.run.threads import map_on_threads, raise_if_stopped
from i2i_ddib.bridges import Translation, ddib_translate
from i2i_ddib.bundled import bundled_model, verified_path
from i2i_ddib.settings import architecture_of

if TYPE_CHECKING:
    from i2i_cli.run.context import RunContext
    from i2i_ddib.settings import DDIBSettings

CHUNK = 50_000
"""Points per network call."""

PART_POINTS = 512
"""Fewest points a part of a pass computes with on a thread of its own (``point_parts``)."""


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
        return load_for_run(settings, ctx, checkpoint=str(path), overrides=shapes)
    if settings.official:
        return load_for_run(settings, ctx, checkpoint=official_artifact(task))
    bundled = bundled_model(task.name)
    path = verified_path(bundled)
    return load_for_run(settings, ctx, checkpoint=str(path), overrides=bundled.model)


def ode_schedule(settings: DDIBSettings, *models: LoadedBackbone) -> DiscreteSchedule:
    """The grid both passes use: the models' one process, ``--steps`` of it (ddib.md §1.2)."""
    specs = [model.spec for model in models]
    return schedule_for(
        *specs, solver=settings.solver, steps=settings.steps, spacing=settings.spacing
    )


def log_plan(
    ctx: RunContext,
    what: str,
    schedule: DiscreteSchedule,
    settings: DDIBSettings,
    points: torch.Tensor,
) -> None:
    """One line saying what runs: points, solver, steps per pass, and the CPU threads."""
    line = f"ddib: {what}; {settings.solver} with {schedule.num_steps} steps per pass"
    if ctx.runtime.device.type == "cpu":
        parts = len(point_parts(ctx, points))
        side = f"{parts} parts side by side" if parts > 1 else "one part"
        line += f"; {side}, {counted(torch.get_num_threads(), 'CPU threads')}"
    ctx.log(line)


def point_parts(ctx: RunContext, x: torch.Tensor) -> list[torch.Tensor]:
    """``x`` in parts for ``map_on_threads``: on the CPU as many as the run computes side by
    side (``ctx.parts``) while each keeps ``PART_POINTS``, and none over ``CHUNK`` points."""
    threads = ctx.parts if ctx.runtime.device.type == "cpu" else 1
    threads = max(1, min(threads, len(x) // PART_POINTS))
    return list(x.split(max(1, min(CHUNK, math.ceil(len(x) / threads)))))


def part_noise(ctx: RunContext) -> GeneratorNoise:
    """A part's own noise source from the run seed.

    No point's result depends on it (``dpmpp2m`` draws nothing, ``ddim``'s eta = 0 draws are
    zeroed), so the parts need not share one generator across threads.
    """
    return GeneratorNoise(ctx.runtime.seed, ctx.runtime.device)


def translate_chunks(
    ctx: RunContext,
    source: LoadedBackbone,
    target: LoadedBackbone,
    x: torch.Tensor,
    schedule: DiscreteSchedule,
    settings: DDIBSettings,
) -> Translation:
    """``ddib_translate`` over ``x``, its parts side by side (``point_parts``); CPU float32."""

    def translate(part: torch.Tensor, stop: threading.Event) -> Translation:
        with ctx.runtime.autocast():
            done = ddib_translate(
                DiscreteDenoiser(source.module, source.spec),
                DiscreteDenoiser(target.module, target.spec),
                part.to(ctx.runtime.device),
                schedule,
                solver=settings.solver,
                noise=part_noise(ctx),
                callback=lambda _step: raise_if_stopped(stop),
            )
        return Translation(done.latent.float().cpu(), done.result.float().cpu())

    chunks = point_parts(ctx, x)
    parts = map_on_threads(translate, chunks, threads=len(chunks))
    return Translation(
        torch.cat([part.latent for part in parts]), torch.cat([part.result for part in parts])
    )


def decode_points(
    ctx: RunContext,
    model: LoadedBackbone,
    latent: torch.Tensor,
    schedule: DiscreteSchedule,
    settings: DDIBSettings,
) -> torch.Tensor:
    """The target model's ODE decode of Gaussian latents, in parts side by side; CPU float32."""
    denoiser = DiscreteDenoiser(model.module, model.spec)

    def decode(part: torch.Tensor, stop: threading.Event) -> torch.Tensor:
        with ctx.runtime.autocast():
            y = decode_ode(
                denoiser,
                part.to(ctx.runtime.device),
                schedule,
                solver=settings.solver,
                noise=part_noise(ctx),
                callback=lambda _step: raise_if_stopped(stop),
            )
        return y.float().cpu()

    chunks = point_parts(ctx, latent)
    return torch.cat(map_on_threads(decode, chunks, threads=len(chunks)))


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
    log_plan(ctx, f"{source.origin} -> {target_task.name}", schedule, settings, source.points)
    forward = translate_chunks(ctx, source_model, target_model, source.points, schedule, settings)
    arrays = {"source": source.points, "latent": forward.latent, "target": forward.result}
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
    if len(source.points) >= target_task.multiple_of:
        support = support_scores(arrays["target"].numpy(), target_task, ctx.runtime.seed + 2)
        result.update(support_fields(support, prefix="target_"))
        ctx.log(support_line(support, target_task))
    if settings.cycle:
        back = translate_chunks(ctx, target_model, source_model, forward.result, schedule, settings)
        arrays["latent_2"], arrays["source_2"] = back.latent, back.result
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


def sample_points(settings: DDIBSettings, ctx: RunContext) -> dict[str, Any]:
    """Decode Gaussian latents with the ``--target`` 2-D model (``synthetic_sample.py``)."""
    task = synthetic_task(settings.target)
    model = point_model(settings, ctx, task, settings.target_checkpoint)
    schedule = ode_schedule(settings, model)
    count = ctx.run.num_samples
    noise = GeneratorNoise(ctx.runtime.seed, ctx.runtime.device)
    latent = noise.randn((count, *model.spec.input_shape)).cpu()
    log_plan(ctx, f"sampling {count} points of {task.name}", schedule, settings, latent)
    points = decode_points(ctx, model, latent, schedule, settings)
    save_points(ctx.output, {"latent": latent, "points": points})
    if settings.plot:
        scatter_figure(
            [("latent", latent.numpy()), (f"samples: {task.name}", points.numpy())],
            ctx.output / "samples.png",
            colour_by=latent.numpy(),
        )
    distance = data_distance(points.numpy(), task, ctx.runtime.seed)
    ctx.log(f"sliced Wasserstein distance to {task.name}: {distance:.4f}")
    result: dict[str, Any] = {
        "points": str(ctx.output / "points.npy"),
        "sliced_wasserstein": distance,
    }
    if count >= task.multiple_of:
        support = support_scores(points.numpy(), task, ctx.runtime.seed + 2)
        ctx.log(support_line(support, task))
        result.update(support_fields(support))
    return result
