"""Every method translates on the shipped mini models: discs come out as squares, content kept.

The models are ``benchmarks/minimodels`` (trained by ``benchmarks/minibench.py``, each checked
by its manifest's sha256); the sources are the first ``SOURCES`` held-out discs of
``benchmarks/minidomains.py`` and every measurement is exact (``benchmarks/minimeasure.py``, no
classifier). Bounds come from measurement with the test's step counts (``minimethods.QUICK``),
CPU, seed 0 (the values in each comment), with a margin; what a broken method gets is far
outside them: the sources are 0 % squares, and a random pairing of held-out images has a centre
error of 3.4 px, a size error of 1.2 px and a colour error of 66 (0-255).

DDIB decodes the source's latent x_T with the target model's ODE and, like the image methods'
samplers, clamps each x0 estimate (``clip_denoised``; without it these tiny models' ODE samples
saturate). It makes squares, but keeps little of the content: the latent is all the two
independently trained models share, so its centre error is below a random pairing's while
size and colour are at a random pairing's level; its bounds say so. DG samples (no source), so
its test checks that guidance changes the samples of the same seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_i2i

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from minidomains import write_domains  # noqa: E402
from minimeasure import content_error, measure_folder, target_rate  # noqa: E402
from minimethods import METHODS, QUICK, method_settings, verified_models  # noqa: E402

from i2i_cli.api.settings import to_toml  # noqa: E402

SOURCES = 8
"""Held-out discs translated per method."""

BOUNDS: dict[str, tuple[float, float, float, float]] = {
    # method: minimum square rate, maximum centre (px), size (px) and colour (0-255) errors
    "sdedit": (0.75, 1.0, 0.7, 40.0),  # measured 1.00, 0.24, 0.20, 21.5
    "egsde": (0.75, 1.0, 0.7, 30.0),  # measured 1.00, 0.24, 0.19, 16.5
    "ilvr": (0.5, 1.5, 1.2, 40.0),  # measured 0.75, 0.70, 0.62, 22.9
    "ddib": (0.5, 3.0, 1.6, 90.0),  # measured 0.75, 2.37, 1.13, 67.6 (see the docstring)
    "sddm": (0.75, 1.3, 1.0, 55.0),  # measured 1.00, 0.61, 0.49, 39.1
    "sde-bbdm": (0.75, 1.0, 0.8, 55.0),  # measured 1.00, 0.35, 0.38, 38.5
}
SLOW = {"sdedit", "egsde"}
"""Methods whose QUICK run (200 steps, no respacing) takes over 5 s on a CPU core."""


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first ``SOURCES`` held-out pairs of the benchmark's domains (seed 0)."""
    root = tmp_path_factory.mktemp("minidomains")
    write_domains(root, train=0, test=SOURCES, real=0)
    return root


def test_shipped_models_are_intact() -> None:
    """Every shipped file matches its manifest's sha256."""
    models = verified_models(BENCHMARKS / "minimodels")
    assert all(path.is_file() for path in models.values())


@pytest.mark.parametrize(
    "method", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in METHODS]
)
def test_method_translates_discs_to_squares(method: str, held_out: Path, tmp_path: Path) -> None:
    """The outputs are squares, with the sources' centre, size and colour."""
    models = verified_models(BENCHMARKS / "minimodels")
    config = tmp_path / "config.toml"
    config.write_text(to_toml(method_settings(method, models, QUICK)), encoding="utf-8")
    out = tmp_path / "out"
    result = run_i2i(
        [
            *("translate", method, "--config", str(config), "--input", str(held_out / "test/A")),
            *("--output", str(out), "--batch-size", str(SOURCES), "--device", "cpu"),
        ]
    )
    assert result.returncode == 0, result.stderr
    sources = measure_folder(held_out / "test/A")
    outputs = measure_folder(out, list(sources))
    rate = target_rate(list(outputs.values()))
    error = content_error([(sources[k].content, outputs[k].content) for k in sources])
    least_rate, position, size, colour = BOUNDS[method]
    assert target_rate(list(sources.values())) == 0.0
    assert rate >= least_rate, (method, rate)
    assert error.position <= position, (method, error)
    assert error.size <= size, (method, error)
    assert error.colour <= colour, (method, error)


def test_dg_guidance_moves_samples(tmp_path: Path) -> None:
    """DG on the adm-unet (sigma-time adapter): seeds reproduce, the guidance moves the samples."""
    from minidg import dg_samples

    models = verified_models(BENCHMARKS / "minimodels")
    plain = dg_samples(models, 4, w1=0.0, steps=8, output=tmp_path)
    again = dg_samples(models, 4, w1=0.0, steps=8, output=tmp_path)
    guided = dg_samples(models, 4, w1=2.0, steps=8, output=tmp_path)
    assert np.array_equal(plain, again)
    moved = np.abs(plain.astype(int) - guided.astype(int)).mean()
    assert moved > 1.0, moved  # measured 3.03 (0-255), with clip_denoised


def test_a_failed_step_stops_the_benchmark_with_its_status(tmp_path: Path) -> None:
    """``minibench.run_i2i`` does not carry on past a failed (or interrupted) ``i2i`` step."""
    import minibench

    with pytest.raises(SystemExit, match=r"i2i evaluate fid failed \(exit 2\)"):
        minibench.run_i2i(["evaluate", "fid", "--images", str(tmp_path / "absent")])
