"""DDIB cycle error against model evaluations: DDIM (the reference's solver) vs DPM-Solver++(2M).

    python benchmarks/bench_ddib_solvers.py --points 1000 --device cpu

For each pair of bundled 2-D models, the same source points (seed 0) go source -> target ->
source with each solver and step count, each at its default spacing as ``i2i translate ddib``
uses it (DDIM evenly in time, DPM-Solver++(2M) evenly in log-SNR). The table gives the model
evaluations of one cycle (4 passes x steps), the cycle error (max and mean per-point distance,
as synthetic_cycle.py logs the max), the wall time of the cycle, and the ratio of evaluations
to 1000-step DDIM's.
"""

from __future__ import annotations

import argparse
import time

import torch

from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.noise import GeneratorNoise
from i2i_cli.diffusion.ode import decode_ode, encode_ode, solver_schedule
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.networks.backbones import load_backbone
from i2i_cli.points.synthetic_data import seeded_rng, synthetic_points, synthetic_task
from i2i_ddib.bundled import bundled_model, verified_path

RUNS = [("ddim", 1000), ("ddim", 250), ("ddim", 100), ("dpmpp2m", 100), ("dpmpp2m", 50)]
RUNS += [("dpmpp2m", 25), ("dpmpp2m", 15)]


def denoiser(data: str, device: str) -> tuple[DiscreteDenoiser, int]:
    """The bundled model of ``data`` and its process length T."""
    bundled = bundled_model(synthetic_task(data).name)
    loaded = load_backbone(
        "ddib-2d", overrides=bundled.model, checkpoint=verified_path(bundled), device=device
    )
    return DiscreteDenoiser(loaded.module, loaded.spec), loaded.settings.diffusion_steps


def cycle(
    source: DiscreteDenoiser,
    target: DiscreteDenoiser,
    points: torch.Tensor,
    schedule: DiscreteSchedule,
    solver: str,
) -> torch.Tensor:
    """source -> latent -> target -> latent -> source: the round-trip points."""
    noise = GeneratorNoise(0, points.device)
    translated = decode_ode(
        target,
        encode_ode(source, points, schedule, solver=solver),
        schedule,
        solver=solver,
        noise=noise,
    )
    latent_2 = encode_ode(target, translated, schedule, solver=solver)
    return decode_ode(source, latent_2, schedule, solver=solver, noise=noise)


def main() -> None:
    """Print one markdown table row per pair, solver and step count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="moons:concentric_squares,moons:checkerboards")
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}")
    print("| pair | solver | steps/pass | NFE/cycle | NFE vs DDIM-1000 | max err | mean err | s |")
    print("|---|---|---|---|---|---|---|---|")
    for pair in args.pairs.split(","):
        a, b = pair.split(":")
        source, total = denoiser(a, args.device)
        target, _ = denoiser(b, args.device)
        count = args.points - args.points % synthetic_task(a).multiple_of
        points = synthetic_points(a, count, seeded_rng(0)).to(args.device)
        for solver, steps in RUNS:
            schedule = solver_schedule(DiscreteSchedule.named("linear", total), solver, steps)
            started = time.perf_counter()
            returned = cycle(source, target, points, schedule, solver)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            error = (returned - points).norm(dim=1)
            print(
                f"| {a}->{b} | {solver} | {steps} | {4 * steps} | 1/{1000 / steps:.0f} "
                f"| {error.max():.4f} | {error.mean():.5f} | {seconds:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
