"""DDIB's 2-D data sets and 2-D model reproduce the reference (ddib_synthetic_*.pt; ddib.md §6)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwad

from i2i_cli.diffusion.gaussian import q_sample
from i2i_cli.diffusion.nn import timestep_embedding
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.points.synthetic_data import (
    TASKS,
    SyntheticTask,
    normalize,
    synthetic_array,
    synthetic_points,
    task_geometry,
)
from i2i_ddib.model2d import SyntheticModel, build_synthetic_model
from i2i_ddib.settings import Synthetic2DSettings, settings_from_flags, synthetic_spec

TASK_IDS = [task.name for task in TASKS]

UNIT_ROUNDOFF = 2.0**-53
"""u of float64: every rounded operation errs by at most u relative."""


def _sum_order_slack(values: np.ndarray) -> float:
    """How far two summation orders of the mean of ``values`` may lie apart (float64).

    numpy sums in memory order, and the reference's arrays are not always laid out as ours
    (sklearn's ``make_moons`` transposes a ``vstack``: column-major), so the same N numbers are
    summed in another order. Any order is within (N - 1) u sum|x| of the exact sum (Higham,
    *Accuracy and Stability of Numerical Algorithms*, eq. 4.4), and the division by N adds u:
    two orders of a mean differ by at most 2 N u mean|x|.
    """
    return 2 * values.size * UNIT_ROUNDOFF * float(np.abs(values).mean())


def _std_order_rel(values: np.ndarray) -> float:
    """Relative slack of numpy's population std of ``values`` between two summation orders.

    ``std = sqrt(sum((x - m)^2) / N)``: each term errs by 3u relative (subtraction, square,
    and the mean's own slack enters only squared, since sum(x - m) = 0), the sum of N
    non-negative terms by (N - 1) u, the division and the root by 2u: (N + 4) u per order, so
    two orders differ by at most 2 (N + 4) u relative.
    """
    return 2 * (values.size + 4) * UNIT_ROUNDOFF


def _data_golden(golden_dir: Path, task: SyntheticTask) -> dict[str, Any]:
    """The golden record of ``task`` in ddib_synthetic_data.pt."""
    golden = torch.load(golden_dir / "ddib_synthetic_data.pt", weights_only=True)
    record = golden["outputs"][task.reference_name]
    assert record["index"] == task.index
    return record


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_data_set_replays_the_reference_points_bit_exactly(
    golden_dir: Path, task: SyntheticTask
) -> None:
    """Geometry and points are bit-exact; the scalar mean and std within summation-order slack."""
    record = _data_golden(golden_dir, task)
    seed, n = record["seed"], record["n"]
    raw, component = task_geometry(task, n, np.random.RandomState(seed))
    np.testing.assert_array_equal(raw, record["raw"].numpy())
    if record["component"] is None:
        assert component is None
    else:
        np.testing.assert_array_equal(component, record["component"].numpy())
    assert task.normalize_passes == record["normalize_calls"]
    assert raw.mean() == pytest.approx(
        record["normalize_mean"][0], rel=0, abs=_sum_order_slack(raw)
    )
    assert raw.std() == pytest.approx(record["normalize_std"][0], rel=_std_order_rel(raw), abs=0)
    if "after_first_normalize" in record:
        np.testing.assert_array_equal(normalize(raw), record["after_first_normalize"].numpy())
    points = synthetic_points(task, n, np.random.RandomState(seed))
    assert points.dtype == torch.float32
    torch.testing.assert_close(points, record["points"], atol=0.0, rtol=0.0)


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_large_draw_reproduces_the_reference_statistics(
    golden_dir: Path, task: SyntheticTask
) -> None:
    """Points bit-exact; moments within summation-order slack; every histogram count the same.

    The histogram tolerance is below one point's share (1/N), so it asks for equal counts.
    """
    record = _data_golden(golden_dir, task)
    stats = record["stats"]
    points = synthetic_array(task, stats["n"], np.random.RandomState(record["seed"]))
    xy = points.astype(np.float64)
    np.testing.assert_array_equal(xy[:8], stats["first_points"].numpy())
    np.testing.assert_array_equal(xy[-8:], stats["last_points"].numpy())
    np.testing.assert_array_equal(xy.min(axis=0), stats["min_xy"].numpy())
    np.testing.assert_array_equal(xy.max(axis=0), stats["max_xy"].numpy())
    for axis in range(2):
        column = xy[:, axis]
        mean, std = stats["mean_xy"][axis].item(), stats["std_xy"][axis].item()
        assert column.mean() == pytest.approx(mean, rel=0, abs=_sum_order_slack(column))
        assert column.std() == pytest.approx(std, rel=_std_order_rel(column), abs=0)
    assert xy.mean() == pytest.approx(stats["mean_all"], rel=0, abs=_sum_order_slack(xy))
    assert xy.std() == pytest.approx(stats["std_all"], rel=_std_order_rel(xy), abs=0)
    low, high = stats["hist_range"]
    bins = stats["hist_bins"]
    counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins, range=[[low, high]] * 2)
    share = 1.0 / len(xy)
    np.testing.assert_allclose(
        counts / len(xy), stats["hist2d_frac"].numpy(), rtol=0, atol=share / 4
    )


def _model_golden(golden_dir: Path) -> tuple[dict[str, Any], SyntheticModel]:
    """ddib_synthetic_model.pt and the model built from its config, loaded strictly, in eval."""
    golden = torch.load(golden_dir / "ddib_synthetic_model.pt", weights_only=True)
    settings = settings_from_flags(golden["config"]["create_model_and_diffusion_2d"])
    assert settings.num_channels == golden["config"]["SyntheticModel"]["model_channels"]
    model = build_synthetic_model(settings).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    return golden, model


def _ulp(x: torch.Tensor) -> torch.Tensor:
    """One float32 unit in the last place of each ``|x|``."""
    x = x.abs().float()
    return torch.nextafter(x, torch.full_like(x, math.inf)) - x


def embedding_slack(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """How far another machine's float32 ``exp`` can move each entry of the embedding (N, dim).

    The reference computes ``f_i = exp(-ln(max_period) i / half)`` with float32 ``torch.exp``, as we
    do (``i2i_cli.diffusion.nn``), but a float32 ``exp`` is only faithfully rounded: on another CPU
    (vector width, SLEEF or libm) or on a GPU it may return the other float32 neighbour of the true
    value, one ulp of f_i away (some f_i lie almost halfway between two float32 numbers). Then ``t
    f_i`` moves by ``t ulp(f_i)`` before rounding and the rounded product by at most one more ulp of
    ``t f_i``; cos and sin move no more than their argument, and each side rounds its cos or sin
    (below 1) within 2^-24: ``|d emb| <= t ulp(f_i) + ulp(t f_i) + 2^-23``, about two float32 ulps
    of ``t f_i`` (4.9e-4 at t = 3999). It comes from the arguments' magnitudes, not from one draw.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    slack = t.float().abs()[:, None] * _ulp(freqs)[None] + _ulp(args) + 2.0**-23
    columns = [slack, slack]
    if dim % 2:
        columns.append(torch.zeros_like(slack[:, :1]))
    return torch.cat(columns, dim=1)


Probe = Callable[[SyntheticModel, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
"""Runs the model on (x, t) and returns named outputs."""


def _feeding_embedding(
    model: SyntheticModel, embedding: torch.Tensor, run: Probe, x: torch.Tensor, t: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``run(model, x, t)`` with ``embedding`` as the time MLP's input instead of the model's own
    ``timestep_embedding(t)`` (nothing else in the network reads ``t``)."""
    handle = model.time_embed.register_forward_pre_hook(lambda _module, _args: (embedding,))
    try:
        return run(model, x, t)
    finally:
        handle.remove()


def propagated_slack(
    model: SyntheticModel, x: torch.Tensor, t: torch.Tensor, run: Probe
) -> dict[str, torch.Tensor]:
    """``embedding_slack`` carried to every output of ``run``: sum_i |d y / d e_i| slack_i.

    The embedding enters the network only through the time MLP; forward-mode derivatives along
    each embedding column (all items at once: the items do not interact) give the first-order
    bound of how far each output may move when every entry moves by its slack.
    """
    embedding = timestep_embedding(t, model.model_channels)
    slack = embedding_slack(t, model.model_channels)
    bound: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for column in range(embedding.shape[1]):
            tangent = torch.zeros_like(embedding)
            tangent[:, column] = slack[:, column]
            with fwad.dual_level():
                dual = fwad.make_dual(embedding, tangent)
                outputs = _feeding_embedding(model, dual, run, x, t)
                for name, value in outputs.items():
                    primal, derivative = fwad.unpack_dual(value)
                    step = torch.zeros_like(primal) if derivative is None else derivative.abs()
                    bound[name] = bound[name] + step if name in bound else step
    return bound


def _assert_within(
    actual: torch.Tensor,
    expected: torch.Tensor,
    slack: torch.Tensor,
    tol: dict[str, float],
    name: str,
) -> None:
    """``|actual - expected| <= slack + atol + rtol |expected|`` element by element."""
    limit = slack + tol["atol"] + tol["rtol"] * expected.abs()
    excess = (actual - expected).abs() - limit
    assert excess.max() <= 0, f"{name}: exceeds its bound by {excess.max().item():.3g}"


ACTIVATIONS = ("time_embed", "input_blocks.0", "input_blocks.1", "middle_block", "output_blocks.0")


def _activations(model: SyntheticModel, x: torch.Tensor, t: torch.Tensor) -> dict[str, Any]:
    """The output ``out`` and the forward-hook outputs the golden file records, as (N, C) rows.

    The blocks compute on (C, N) feature columns (``i2i_ddib.model2d``), the reference on rows.
    """
    recorded: dict[str, torch.Tensor] = {}

    def record(name: str, output: torch.Tensor) -> None:
        recorded[name] = output if name == "time_embed" else output.T

    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda _module, _args, output, name=name: record(name, output)
        )
        for name in ACTIVATIONS
    ]
    try:
        out = model(x, t)
    finally:
        for handle in handles:
            handle.remove()
    return {"out": out, **recorded}


def test_timestep_embedding_is_the_reference_within_one_exp_ulp(golden_dir: Path) -> None:
    golden, model = _model_golden(golden_dir)
    t = golden["inputs"]["t"]
    embedding = timestep_embedding(t, model.model_channels)
    slack = embedding_slack(t, model.model_channels)
    expected = golden["outputs"]["timestep_embedding"]
    _assert_within(embedding, expected, slack, golden["tolerance"], "timestep_embedding")


def test_synthetic_model_on_the_reference_embedding_matches_at_the_file_tolerance(
    golden_dir: Path,
) -> None:
    """Fed the reference's own embedding, the network needs nothing beyond the file's tolerance."""
    golden, model = _model_golden(golden_dir)
    x, t = golden["inputs"]["x"], golden["inputs"]["t"]
    tol = golden["tolerance"]
    assert set(golden["outputs"]["activations"]) == set(ACTIVATIONS)
    with torch.no_grad():
        got = _feeding_embedding(model, golden["outputs"]["timestep_embedding"], _activations, x, t)
    expected = {"out": golden["outputs"]["out"], **golden["outputs"]["activations"]}
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, atol=tol["atol"], rtol=tol["rtol"], msg=name)


def test_synthetic_model_loads_official_keys_and_matches_the_reference(golden_dir: Path) -> None:
    """From the integer timesteps on: the file's tolerance plus the embedding's propagated slack."""
    golden, model = _model_golden(golden_dir)
    x, t = golden["inputs"]["x"], golden["inputs"]["t"]
    with torch.no_grad():
        got = _activations(model, x, t)
    slack = propagated_slack(model, x, t, _activations)
    expected = {"out": golden["outputs"]["out"], **golden["outputs"]["activations"]}
    for name, value in expected.items():
        _assert_within(got[name], value, slack[name], golden["tolerance"], name)


def test_synthetic_model_reproduces_the_reference_training_loss(golden_dir: Path) -> None:
    """x_t at the file's tolerance; the network's output and the loss with the propagated slack.

    ``mse = mean_c (noise - out)^2`` moves by at most ``mean_c (2 |noise - out| d + d^2)`` when
    each ``out`` moves by ``d``.
    """
    golden, model = _model_golden(golden_dir)
    tol = golden["tolerance"]
    settings = settings_from_flags(golden["config"]["create_model_and_diffusion_2d"])
    schedule = DiscreteSchedule.named(settings.noise_schedule, settings.diffusion_steps)
    np.testing.assert_allclose(
        schedule.betas, golden["outputs"]["schedule"]["betas"].numpy(), rtol=0, atol=1e-15
    )
    training = golden["outputs"]["training"]
    (noise,) = golden["noise"]
    torch.testing.assert_close(noise, training["noise"], atol=0.0, rtol=0.0)
    x_t = q_sample(schedule.tables(), training["x_start"], training["t"], noise)
    torch.testing.assert_close(x_t, training["x_t"], atol=tol["atol"], rtol=tol["rtol"])
    with torch.no_grad():
        model_output = model(x_t, training["t"])
    slack = propagated_slack(model, x_t, training["t"], _activations)["out"]
    _assert_within(model_output, training["model_output"], slack, tol, "model_output")
    mse = ((noise - model_output) ** 2).mean(dim=1)
    mse_slack = (2 * (noise - model_output).abs() * slack + slack**2).mean(dim=1)
    for key in ("mse", "loss"):
        _assert_within(mse, training[key], mse_slack, tol, key)


@pytest.mark.parametrize(("blocks", "tensors"), [(1, 50), (3, 90)])
def test_state_dict_has_the_reference_key_count_and_no_buffers(blocks: int, tensors: int) -> None:
    model = build_synthetic_model(Synthetic2DSettings(num_channels=96, num_res_blocks=blocks))
    state = model.state_dict()
    assert len(state) == tensors
    assert not list(model.buffers())
    assert state["input_blocks.0.0.weight"].shape == (96, 2)
    assert state["output_blocks.0.0.emb_layers.1.weight"].shape == (192, 96)
    assert state["out.2.weight"].shape == (2, 192)


def test_fresh_synthetic_model_predicts_zero_noise() -> None:
    model = build_synthetic_model(Synthetic2DSettings(num_channels=96, num_res_blocks=1))
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    out = model.eval()(x, torch.tensor([0, 1, 100, 2000, 3999]))
    assert out.shape == (5, 2)
    assert torch.count_nonzero(out) == 0


def test_synthetic_spec_is_eps_on_unscaled_integer_timesteps() -> None:
    prediction = synthetic_spec(Synthetic2DSettings())
    assert prediction.target == "eps"
    assert not prediction.learned_variance
    assert prediction.channels == 2
    assert prediction.time_scale == 1.0
    assert prediction.input_shape == (2,)


def test_settings_reject_widths_groupnorm_cannot_split_and_eps_less_flags() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        Synthetic2DSettings(num_channels=100)
    with pytest.raises(ValueError, match="learn_sigma"):
        settings_from_flags({"learn_sigma": True, "num_channels": 96})
    with pytest.raises(ValueError, match="unknown"):
        settings_from_flags({"num_chanels": 96})
