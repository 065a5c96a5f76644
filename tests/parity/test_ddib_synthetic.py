"""DDIB's 2-D data sets and 2-D model reproduce the reference (ddib_synthetic_*.pt; ddib.md §6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from i2i_cli.diffusion.gaussian import q_sample
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_ddib.model2d import SyntheticModel, timestep_embedding
from i2i_ddib.settings2d import (
    Synthetic2DSettings,
    build_synthetic_model,
    settings_from_flags,
    synthetic_prediction,
)
from i2i_ddib.synthetic_data import (
    TASKS,
    SyntheticTask,
    normalize,
    synthetic_array,
    synthetic_points,
    task_geometry,
)

TASK_IDS = [task.name for task in TASKS]


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
    record = _data_golden(golden_dir, task)
    seed, n = record["seed"], record["n"]
    raw, component = task_geometry(task, n, np.random.RandomState(seed))
    np.testing.assert_array_equal(raw, record["raw"].numpy())
    if record["component"] is None:
        assert component is None
    else:
        np.testing.assert_array_equal(component, record["component"].numpy())
    assert task.normalize_passes == record["normalize_calls"]
    assert raw.mean() == record["normalize_mean"][0]
    assert raw.std() == record["normalize_std"][0]
    if "after_first_normalize" in record:
        np.testing.assert_array_equal(normalize(raw), record["after_first_normalize"].numpy())
    points = synthetic_points(task, n, np.random.RandomState(seed))
    assert points.dtype == torch.float32
    torch.testing.assert_close(points, record["points"], atol=0.0, rtol=0.0)


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_large_draw_reproduces_the_reference_statistics(
    golden_dir: Path, task: SyntheticTask
) -> None:
    record = _data_golden(golden_dir, task)
    stats = record["stats"]
    points = synthetic_array(task, stats["n"], np.random.RandomState(record["seed"]))
    xy = points.astype(np.float64)
    np.testing.assert_array_equal(xy[:8], stats["first_points"].numpy())
    np.testing.assert_array_equal(xy[-8:], stats["last_points"].numpy())
    np.testing.assert_array_equal(xy.min(axis=0), stats["min_xy"].numpy())
    np.testing.assert_array_equal(xy.max(axis=0), stats["max_xy"].numpy())
    np.testing.assert_allclose(xy.mean(axis=0), stats["mean_xy"].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(xy.std(axis=0), stats["std_xy"].numpy(), rtol=0, atol=1e-12)
    assert xy.mean() == pytest.approx(stats["mean_all"], abs=1e-12)
    assert xy.std() == pytest.approx(stats["std_all"], abs=1e-12)
    low, high = stats["hist_range"]
    bins = stats["hist_bins"]
    counts, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins, range=[[low, high]] * 2)
    np.testing.assert_allclose(counts / len(xy), stats["hist2d_frac"].numpy(), rtol=0, atol=1e-12)


def _model_golden(golden_dir: Path) -> tuple[dict[str, Any], SyntheticModel]:
    """ddib_synthetic_model.pt and the model built from its config, loaded strictly, in eval."""
    golden = torch.load(golden_dir / "ddib_synthetic_model.pt", weights_only=True)
    settings = settings_from_flags(golden["config"]["create_model_and_diffusion_2d"])
    assert settings.num_channels == golden["config"]["SyntheticModel"]["model_channels"]
    model = build_synthetic_model(settings).eval()
    model.load_state_dict(golden["state_dict"], strict=True)
    return golden, model


def test_synthetic_model_loads_official_keys_and_matches_the_reference(golden_dir: Path) -> None:
    golden, model = _model_golden(golden_dir)
    tol = golden["tolerance"]
    activations: dict[str, torch.Tensor] = {}
    for name in golden["outputs"]["activations"]:
        model.get_submodule(name).register_forward_hook(
            lambda _module, _args, output, name=name: activations.__setitem__(name, output)
        )
    x, t = golden["inputs"]["x"], golden["inputs"]["t"]
    with torch.no_grad():
        out = model(x, t)
    torch.testing.assert_close(out, golden["outputs"]["out"], atol=tol["atol"], rtol=tol["rtol"])
    for name, expected in golden["outputs"]["activations"].items():
        torch.testing.assert_close(
            activations[name], expected, atol=tol["atol"], rtol=tol["rtol"], msg=name
        )
    embedding = timestep_embedding(t, model.model_channels)
    torch.testing.assert_close(
        embedding, golden["outputs"]["timestep_embedding"], atol=tol["atol"], rtol=tol["rtol"]
    )


def test_synthetic_model_reproduces_the_reference_training_loss(golden_dir: Path) -> None:
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
    with torch.no_grad():
        model_output = model(x_t, training["t"])
    mse = ((noise - model_output) ** 2).mean(dim=1)
    for value, key in ((x_t, "x_t"), (model_output, "model_output"), (mse, "mse"), (mse, "loss")):
        torch.testing.assert_close(value, training[key], atol=tol["atol"], rtol=tol["rtol"])


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


def test_synthetic_prediction_is_eps_on_unscaled_integer_timesteps() -> None:
    prediction = synthetic_prediction(Synthetic2DSettings())
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
