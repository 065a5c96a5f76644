"""A run's backbone: its spec read from the backbone's settings, loading, and its schedule."""

from __future__ import annotations

import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.denoiser import DiscreteProcess, ModelOutput, ModelSpec, SigmaProcess
from i2i_cli.diffusion.gaussian import eps_of, x0_from_eps, x0_of
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.run.model_choice import BackboneChoice, load_for_run, schedule_for, spec_for


def test_methods_read_the_process_from_the_backbone_preset() -> None:
    """No method asks for a schedule: the preset of the checkpoint says what it was trained on."""
    spec = spec_for(BackboneChoice(preset="imagenet64_cond"))
    assert spec.process == DiscreteProcess("cosine", 1000)
    assert spec.time == "index"
    assert spec_for(BackboneChoice()).process == DiscreteProcess("linear", 1000)
    longer = spec_for(BackboneChoice(model={"diffusion_steps": 4000}))
    assert schedule_for(longer).num_steps == 4000


def test_schedule_respaces_or_builds_an_ode_grid_of_the_process() -> None:
    spec = ModelSpec(process=DiscreteProcess("linear", 1000))
    assert schedule_for(spec).num_steps == 1000
    assert schedule_for(spec, respacing="ddim25").num_steps == 25
    grid = schedule_for(spec, solver="dpmpp2m", steps=20)
    assert grid.num_steps == 20
    reference = DiscreteSchedule.named("linear", 1000).log_snr_spaced(20)
    assert grid.timestep_map.tolist() == reference.timestep_map.tolist()


def test_models_of_different_processes_are_one_usage_line() -> None:
    linear = ModelSpec(process=DiscreteProcess("linear", 1000))
    cosine = ModelSpec(process=DiscreteProcess("cosine", 1000))
    assert schedule_for(linear, linear).num_steps == 1000
    with pytest.raises(UsageError, match="different processes"):
        schedule_for(linear, cosine)


def test_a_sigma_time_model_has_no_discrete_schedule() -> None:
    edm = ModelSpec(target="denoised", process=SigmaProcess(0.002, 80.0, 0.5))
    assert edm.time == "sigma"
    with pytest.raises(UsageError, match="continuous sigma"):
        schedule_for(edm)


def test_bad_counts_are_one_usage_line_without_cli_wording_in_the_core() -> None:
    spec = ModelSpec()
    with pytest.raises(UsageError, match="a pass takes 2 to 1000 steps"):
        schedule_for(spec, solver="dpmpp2m", steps=5000)
    with pytest.raises(UsageError):
        schedule_for(spec, respacing="ddim7x")


def test_a_backbone_without_weights_is_one_usage_line() -> None:
    with pytest.raises(UsageError, match="needs weights"):
        load_for_run(BackboneChoice(checkpoint=None), ctx=None)  # type: ignore[arg-type]


def test_eps_and_x0_are_read_from_either_target_and_refused_for_raw() -> None:
    tables = DiscreteSchedule.named("linear", 1000).tables()
    generator = torch.Generator().manual_seed(0)
    x_t, eps = torch.randn(2, 3, 4, 4, generator=generator), torch.randn(2, 3, 4, 4)
    t = torch.tensor([10, 900])
    x0 = x0_from_eps(tables, x_t, t, eps)
    as_eps, as_x0 = ModelOutput(eps, None, "eps"), ModelOutput(x0, None, "x0")
    torch.testing.assert_close(eps_of(tables, as_x0, x_t, t), eps, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(x0_of(tables, as_eps, x_t, t), x0)
    assert eps_of(tables, as_eps, x_t, t) is eps
    with pytest.raises(ValueError, match="raw"):
        eps_of(tables, ModelOutput(eps, None, "raw"), x_t, t)
