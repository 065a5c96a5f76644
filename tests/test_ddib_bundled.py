"""The bundled 2-D models: intact, faithful to their data sets, and cycle-consistent as a pair.

Sample quality is support precision and coverage against the data set itself
(``i2i_cli.points.support``); the cycle bounds come from measurement
(``python benchmarks/bench_ddib_solvers.py`` and the numbers in each test's docstring, CPU,
seed 0) with a margin of about 2x.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.noise import GeneratorNoise
from i2i_cli.diffusion.ode import decode_ode, encode_ode, solver_schedule
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.networks.backbones import load_backbone
from i2i_cli.points.support import support_scores
from i2i_cli.points.synthetic_data import TASK_NAMES, seeded_rng, synthetic_array, synthetic_task
from i2i_ddib.bundled import bundled_models, verified_path
from i2i_ddib.settings import DDIB2DTrainSettings
from tests.conftest import run_i2i

SAMPLES = 3000
"""Samples per model (``i2i sample ddib --num-samples 3000``)."""
LEAST_PRECISION = 0.95
"""Support precision every model must reach (the data itself: 0.99; before: 0.68 to 0.97)."""
COVERAGE_SLACK = 0.03
"""How far coverage may fall below the data's own (about 0.95)."""
CYCLE_MEAN_BOUND = 0.06
CYCLE_MAX_BOUND = 1.8


def _denoiser(name: str) -> DiscreteDenoiser:
    """The bundled model of data set ``name``, checked against its sha256."""
    bundled = bundled_models()[name]
    loaded = load_backbone("ddib-2d", overrides=bundled.model, checkpoint=verified_path(bundled))
    return DiscreteDenoiser(loaded.module, loaded.spec)


def _grid(solver: str = "dpmpp2m", steps: int | None = None) -> DiscreteSchedule:
    """The default pass grid on the models' 4000-step process."""
    return solver_schedule(DiscreteSchedule.named("linear", 4000), solver, steps)


def test_every_data_set_has_a_bundled_model_with_provenance() -> None:
    """Six models, each with its command (our trainer) and a sha256 the file matches."""
    models = bundled_models()
    assert sorted(models) == sorted(TASK_NAMES)
    for name, model in models.items():
        assert model.command.startswith(f"i2i train ddib-2d --task {name}")
        assert verified_path(model).stat().st_size < 4_000_000
        state = torch.load(model.path, weights_only=True)
        assert all(torch.isfinite(v).all() for v in state.values())


def test_the_manifest_says_which_weights_each_file_holds() -> None:
    """Every bundled file is what its --quick command exports: the EMA average (decay 0.999),
    not the raw weights plain ``i2i train ddib-2d`` exports as the reference's scripts load."""
    quick = DDIB2DTrainSettings(quick=True)
    assert (quick.export, quick.ema_decay) == ("ema", 0.999)
    for name, model in bundled_models().items():
        assert model.command == f"i2i train ddib-2d --task {name} --quick"
        assert model.weights == quick.export, name


@pytest.mark.parametrize("name", TASK_NAMES)
def test_samples_lie_on_and_fill_their_data_set(name: str) -> None:
    """Default solver and steps: support precision >= 0.95, coverage within 0.03 of the data's.

    Precision is the share of samples within the data's own 99% nearest-neighbour radius of a
    60 000-point draw; coverage the share of the data with a sample nearby
    (``i2i_cli.points.support``).
    Any seed of the latents and of the data draws passes; a model that blurs the bands does not.
    """
    latent = torch.randn(SAMPLES, 2, generator=torch.Generator().manual_seed(0))
    grid, noise = _grid(), GeneratorNoise(0)
    with torch.no_grad():
        samples = decode_ode(_denoiser(name), latent, grid, solver="dpmpp2m", noise=noise)
    scores = support_scores(samples.numpy(), synthetic_task(name), seed=1)
    assert scores.precision >= LEAST_PRECISION, scores
    assert scores.coverage >= scores.data_coverage - COVERAGE_SLACK, scores


@pytest.mark.slow
def test_bundled_pair_is_cycle_consistent() -> None:
    """Moons -> Concentric Squares -> Moons returns the points close to where they started.

    Measured (1000 points, DPM-Solver++(2M), 50 steps): mean 0.013, max 1.07; bounds above that.
    """
    source, target = _denoiser("moons"), _denoiser("concentric_squares")
    points = torch.from_numpy(synthetic_array("moons", 1000, seeded_rng(0)))
    grid, noise = _grid(), GeneratorNoise(0)

    def translate(a: DiscreteDenoiser, b: DiscreteDenoiser, x: torch.Tensor) -> torch.Tensor:
        latent = encode_ode(a, x, grid, solver="dpmpp2m")
        return decode_ode(b, latent, grid, solver="dpmpp2m", noise=noise)

    returned = translate(target, source, translate(source, target, points))
    error = (returned - points).norm(dim=1)
    assert error.mean() < CYCLE_MEAN_BOUND, float(error.mean())
    assert error.max() < CYCLE_MAX_BOUND, float(error.max())


@pytest.mark.slow
def test_main_job_runs_offline_and_writes_the_plot(tmp_path: Path) -> None:
    """The README's main job: bundled models, no network, plot and cycle error.

    Measured (3000 points): cycle max 1.15, mean 0.015; sliced Wasserstein to the target 0.016;
    support precision 0.975, coverage 0.923 (the data's own 0.939).
    """
    out = tmp_path / "run"
    result = run_i2i(["translate", "ddib", "--task", "moons2squares", "--output", str(out)])
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "result.json").read_text())
    assert record["cycle_mean_l2"] < CYCLE_MEAN_BOUND
    assert record["cycle_max_l2"] < CYCLE_MAX_BOUND
    assert record["target_sliced_wasserstein"] < 0.05
    assert record["target_support_precision"] >= LEAST_PRECISION, record
    coverage, ceiling = record["target_support_coverage"], record["target_data_support_coverage"]
    assert coverage >= ceiling - COVERAGE_SLACK, record
    assert (out / "translation.png").stat().st_size > 10_000
    for name in ("source", "latent", "target", "latent_2", "source_2"):
        assert np.load(out / f"{name}.npy").shape == (record["points"], 2)
