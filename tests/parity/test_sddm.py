"""SDDM's block operations, manifold steps and sampler replay skipper17/sddm (golden sddm_*.pt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from i2i_adm.build import build_unet
from i2i_adm.settings import AdmUNetSettings
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, energy_gradients
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.networks.backbones import load_state_dict_strictly
from i2i_sddm.blocks import block_adain, block_adain_to, block_moments, blockify
from i2i_sddm.energy import vgg_adain_energy
from i2i_sddm.manifold import (
    Moments,
    diffused_moments,
    frank_wolfe_min_norm,
    min_norm_of_two,
    split_on_manifold,
)
from i2i_sddm.score_decomposition import (
    ManifoldGuidance,
    StepConstants,
    energy_directions,
    energy_state,
    manifold_mean,
    project_to_level,
    sample_sddm,
)
from i2i_sddm.vgg import AdaINEncoder

UNET_FLAGS = (
    "image_size", "num_channels", "num_res_blocks", "channel_mult", "attention_resolutions",
    "num_heads", "num_head_channels", "num_heads_upsample", "class_cond", "use_scale_shift_norm",
    "resblock_updown", "use_fp16", "use_new_attention_order", "dropout", "learn_sigma",
)  # fmt: skip


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    return torch.load(golden_dir / name, weights_only=True)


def tolerance(golden: dict[str, Any]) -> dict[str, float]:
    return {"atol": golden["tolerance"]["atol"], "rtol": golden["tolerance"]["rtol"]}


def x0_tolerance(golden: dict[str, Any], step: int) -> dict[str, float]:
    """The file's tolerance for an x0 estimate at respaced ``step``, where the network's float32
    rounding in eps is amplified by sqrt(1 / abar - 1) (x0 = (x - sqrt(1 - abar) eps) / sqrt(abar),
    about 100 at the first of 10 respaced steps)."""
    flags = golden["config"]["model_and_diffusion"]
    schedule = DiscreteSchedule.named(
        flags["noise_schedule"], flags["diffusion_steps"], flags["timestep_respacing"]
    )
    abar = float(np.prod(1 - schedule.betas[: step + 1]))
    close = tolerance(golden)
    return {**close, "atol": close["atol"] * max(1.0, (1 / abar - 1) ** 0.5)}


def encoder(state: dict[str, torch.Tensor]) -> AdaINEncoder:
    module = AdaINEncoder(level=1, layers="used")
    load_state_dict_strictly(module, state, "golden vgg_normalised")
    return module.eval()


@pytest.mark.parametrize("area", [8, 16, 32])
def test_block_statistics_and_block_adain(golden_dir: Path, area: int) -> None:
    golden = load(golden_dir, "sddm_blockadain.pt")
    close, want = tolerance(golden), golden["outputs"][f"area{area}"]
    content, style = golden["inputs"]["content"], golden["inputs"]["style"]
    assert list(blockify(style, area).shape) == want["block_shape"]
    mean, std = block_moments(style, area)
    torch.testing.assert_close(mean, want["ref_mean"], **close)
    torch.testing.assert_close(std, want["ref_std"], **close)
    torch.testing.assert_close(block_adain_to(content, style, area), want["block_adain"], **close)
    tables = DiscreteSchedule.named("linear", 1000).tables()
    t = torch.full((content.shape[0],), golden["config"]["t"], dtype=torch.long)
    level = diffused_moments(tables, Moments(mean, std), t)
    torch.testing.assert_close(level.mean, want["q_sample_sta_mean_t500"], **close)
    torch.testing.assert_close(level.std**2, want["q_sample_sta_var_t500"], **close)
    projected = block_adain(content, level.mean, level.std, area)
    torch.testing.assert_close(projected, want["block_adain_simplified_t500"], **close)


@pytest.fixture(scope="module")
def ops(golden_dir: Path) -> dict[str, Any]:
    return load(golden_dir, "sddm_manifold_ops.pt")


def ops_schedule(ops: dict[str, Any]) -> DiscreteSchedule:
    config = ops["config"]
    schedule = DiscreteSchedule.named(
        config["noise_schedule"], config["diffusion_steps"], str(config["respacing"])
    )
    torch.testing.assert_close(
        torch.from_numpy(schedule.betas), ops["outputs"]["respaced_betas"], rtol=1e-12, atol=0
    )
    return schedule


def test_level_moments_and_tangent_normal_split(ops: dict[str, Any]) -> None:
    close, inputs, outputs = tolerance(ops), ops["inputs"], ops["outputs"]
    area, batch = ops["config"]["area"], inputs["x"].shape[0]
    reference = Moments(*block_moments(inputs["ref_img"], area))
    torch.testing.assert_close(reference.mean, outputs["ref_mean"], **close)
    torch.testing.assert_close(reference.std, outputs["ref_std"], **close)
    tables = ops_schedule(ops).tables()
    t = torch.full((batch,), ops["config"]["t"], dtype=torch.long)
    level = diffused_moments(tables, reference, t)
    torch.testing.assert_close(level.mean, outputs["mean_t7"], **close)
    torch.testing.assert_close(level.std**2, outputs["var_t7"], **close)
    on_manifold = project_to_level(tables, inputs["x"], reference, t, area)
    torch.testing.assert_close(on_manifold, inputs["x_on_manifold"], **close)
    for where, x in (("on", inputs["x_on_manifold"]), ("off", inputs["x"])):
        tangent, normal = split_on_manifold(x, inputs["delta"], level.mean, area)
        torch.testing.assert_close(tangent, outputs[f"divide_{where}_tangent"], **close)
        torch.testing.assert_close(normal, outputs[f"divide_{where}_normal"], **close)


@pytest.mark.parametrize(
    ("name", "dim"), [("fw_v2", 2), ("fw_v4", 2), ("fw_vdegenerate", 2), ("fw_vblock", 4)]
)
def test_frank_wolfe_batch_coupled_as_the_reference(
    ops: dict[str, Any], name: str, dim: int
) -> None:
    result = frank_wolfe_min_norm(ops["inputs"][name], dim, batch_coupled=True)
    torch.testing.assert_close(result, ops["outputs"][name], **tolerance(ops))


def test_min_norm_of_two_including_the_zero_over_zero_case(ops: dict[str, Any]) -> None:
    inputs = ops["inputs"]
    gamma = min_norm_of_two(inputs["mne_v1v1"], inputs["mne_v1v2"], inputs["mne_v2v2"])
    torch.testing.assert_close(gamma, ops["outputs"]["min_norm_element_from2"], **tolerance(ops))


def test_vgg_adain_energy_gradient(ops: dict[str, Any]) -> None:
    inputs = ops["inputs"]
    energy = vgg_adain_energy(encoder(ops["state_dict"]["vgg_normalised"]), ops["config"]["area"])
    (gradient,) = energy_gradients(
        [WeightedEnergy("vgg-adain", 1.0, energy)],
        inputs["energy_x"],
        GuidanceState(source=inputs["ref_img"]),
    )
    torch.testing.assert_close(-gradient.gradient, ops["outputs"]["energy_grad"], **tolerance(ops))


@pytest.mark.parametrize("detail_merge", [False, True])
def test_condition_mean_on_the_manifold(ops: dict[str, Any], detail_merge: bool) -> None:
    config, inputs = ops["config"], ops["inputs"]
    area, x = config["area"], inputs["x_on_manifold"]
    schedule = ops_schedule(ops)
    tables = schedule.tables()
    energy = vgg_adain_energy(encoder(ops["state_dict"]["vgg_normalised"]), area)
    energies = [WeightedEnergy("vgg-adain", float(config["energy_scale_constant"]), energy)]
    t = torch.full((x.shape[0],), config["t"], dtype=torch.long)
    guidance = ManifoldGuidance(area=area, detail_merge=detail_merge, batch_coupled_stop=True)
    mean = manifold_mean(
        tables,
        StepConstants.of(schedule.betas),
        x,
        inputs["p_mean"],
        t,
        reference=Moments(*block_moments(inputs["ref_img"], area)),
        directions=energy_directions(energies, x, energy_state(tables, inputs["ref_img"], t)),
        guidance=guidance,
    )
    want = ops["outputs"]["condition_mean"][f"detail_merge_{detail_merge}"]
    torch.testing.assert_close(mean, want, **tolerance(ops))


def sddm_run(golden: dict[str, Any], *, batch_coupled: bool) -> tuple[torch.Tensor, list]:
    config = golden["config"]
    flags = config["model_and_diffusion"]
    model = build_unet(AdmUNetSettings(**{k: flags[k] for k in UNET_FLAGS})).eval()
    load_state_dict_strictly(model, golden["state_dict"]["model"], "golden SDDM model")
    schedule = DiscreteSchedule.named(
        flags["noise_schedule"], flags["diffusion_steps"], flags["timestep_respacing"]
    )
    assert schedule.timestep_map.tolist() == golden["outputs"]["timestep_map"]
    area = config["area"]
    energy = vgg_adain_energy(encoder(golden["state_dict"]["vgg_normalised"]), area)
    noise = RecordedNoise(golden["noise"])
    steps: list[dict[str, Any]] = []
    sample = sample_sddm(
        DiscreteDenoiser(model, ModelSpec(learned_variance=flags["learn_sigma"])),
        golden["inputs"]["ref_img"],
        schedule,
        guidance=ManifoldGuidance(
            area=area,
            range_t=config["range_t"],
            detail_merge=config["detail_merge"],
            refine_iterations=config["refine_iterations"],
            batch_coupled_stop=batch_coupled,
        ),
        energies=[WeightedEnergy("vgg-adain", float(config["energy_scale_constant"]), energy)],
        noise=noise,
        clip_denoised=config["clip_denoised"],
        fixed_variance="small" if flags["sigma_small"] else "large",
        callback=steps.append,
    )
    noise.assert_exhausted()
    return sample, steps


@pytest.mark.parametrize("name", ["sddm_sample.pt", "sddm_sample_detail.pt"])
def test_sddm_sampler_replays_the_recorded_noise(golden_dir: Path, name: str) -> None:
    golden = load(golden_dir, name)
    outputs, close = golden["outputs"], tolerance(golden)
    sample, steps = sddm_run(golden, batch_coupled=True)
    by_step = {info["t"]: info for info in steps}
    torch.testing.assert_close(
        by_step[9]["denoised"], outputs["pred_xstart_first_step"], **x0_tolerance(golden, 9)
    )
    torch.testing.assert_close(by_step[9]["x"], outputs["x_after_first_step"], **close)
    range_t = golden["config"]["range_t"]
    torch.testing.assert_close(by_step[range_t + 1]["x"], outputs["x_after_refine_step"], **close)
    torch.testing.assert_close(sample, outputs["sample"], **close)
