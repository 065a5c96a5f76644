"""The SDDM task presets through the CLI give what skipper17/sddm computes.

Each shipped task runs as ``i2i translate sddm --task T`` with only the checkpoints and the
network size overridden, on the tiny golden networks (as in test_task_presets_egsde.py):

- with the preset's 100 steps the sampler is given the values sddm.md §5 gives for the task
  (as test_preset_sources.REFERENCE types them from the spec, not from the presets; the
  sampler is not run);
- with the golden run's 10 steps, its range_t and its block count (sddm_sample.pt: 32 px, 4x4
  blocks), the AFHQ tasks give the reference's sample within the golden tolerance, the recorded
  noise replayed and the golden reference images handed to the sampler (they are floats no
  image file holds; reading and fitting files is tested in test_adm_crop_fit.py), with the
  reference's batch-coupled Frank-Wolfe stop: the tasks' per-item stop is the one difference
  from the reference found, recorded as a strict xfail;
- male2female (the DDPM backbone, which no SDDM golden ran) equals the golden-tested sampler
  called directly with the reference's values and the same noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import i2i_sddm.translate
from i2i_cli.diffusion.guidance import WeightedEnergy
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.networks.backbones import backbone_settings
from i2i_cli.run.energy_terms import EnergyTerm, validate_energy_settings
from i2i_sddm.energy import vgg_adain_energy
from i2i_sddm.score_decomposition import ManifoldGuidance, sample_sddm
from tests.parity.test_egsde import score_model
from tests.parity.test_sddm import encoder
from tests.preset_runs import (
    DDPM_SIZE,
    adm_size,
    load_golden,
    not_run,
    preset,
    random_sources,
    record_energy_terms,
    reference,
    reference_backbone,
    saved_as_png,
    shipped_tasks,
    spy_sampler,
    state_file,
    tolerance,
    translate_task,
    with_checkpoint,
    write_layer,
    written,
)

TASKS = ("cat2dog", "male2female", "wild2dog")
AFHQ_DOG_4M = "plugins/i2i_adm/presets/afhq_dog_4m.toml"
VGG = "plugins/i2i_sddm/presets/vgg_normalised.toml"


def learned_variance(values: dict[str, Any]) -> bool:
    """Whether the task's score model learns its variance: afhq_dog_4m does (learn_sigma); the
    DDPM has none (FIXED_SMALL by SDDM's sigma_small=True, sddm.md pitfall 12)."""
    return values["backbone"] == "adm-unet" and reference_backbone(AFHQ_DOG_4M)["learn_sigma"]


def networks_layer(task: str, golden_dir: Path, folder: Path) -> dict[str, Any]:
    """Only the task's checkpoints and sizes: the golden SDDM ADM, or for the DDPM task the golden
    EGSDE DDPM (egsde_sample_ddpm.pt), and the golden relu1_1 encoder (its used layers only)."""
    sddm = load_golden(golden_dir, "sddm_sample")
    if preset("sddm", task)["backbone"] == "ddpm-unet":
        ddpm = load_golden(golden_dir, "egsde_sample_ddpm")
        config = ddpm["config"]
        yml = {**config["ddpm_yml_model"], "resolution": config["yml"]["data"]["image_size"]}
        state, model = ddpm["state_dict"]["model"], {k: yml[k] for k in DDPM_SIZE}
    else:
        state, model = sddm["state_dict"]["model"], adm_size(sddm["config"]["model_and_diffusion"])
    vgg = state_file(sddm["state_dict"]["vgg_normalised"], folder / "vgg.pth")
    energies = [
        with_checkpoint(term, vgg, {"layers": "used"}) for term in preset("sddm", task)["energy"]
    ]
    return {
        "checkpoint": str(state_file(state, folder / "score.pt")),
        "model": model,
        "energy": energies,
    }


def golden_steps(golden: dict[str, Any]) -> dict[str, Any]:
    """The golden run's 10 respaced steps, its range_t (5) and its 4x4 blocks of 32 px."""
    config = golden["config"]
    return {
        "respacing": config["model_and_diffusion"]["timestep_respacing"],
        "range_t": config["range_t"],
        "area": config["area"],
    }


def run_task(task: str, layer: dict[str, Any], folder: Path, count: int) -> tuple[Path, str]:
    """Translate ``count`` random 32 px sources with the task under ``layer``."""
    out = folder / "out"
    config = write_layer(folder / "layer.toml", layer)
    result = translate_task("sddm", task, config, random_sources(folder / "in", count, 32), out)
    assert result.returncode == 0, result.stderr
    return out, result.stderr


@pytest.fixture
def energy_terms(monkeypatch: pytest.MonkeyPatch) -> list[list[EnergyTerm]]:
    """The energy terms each run builds (after the method's area is given to them)."""
    return record_energy_terms(monkeypatch, i2i_sddm.translate)


def test_every_sddm_task_is_covered() -> None:
    assert shipped_tasks("sddm") == list(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_the_task_gives_the_sampler_the_references_values(
    task: str,
    golden_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    energy_terms: list[list[EnergyTerm]],
) -> None:
    """100 respaced steps (guided-diffusion's map), the task's range_t, 16 blocks per side, no
    detail merge, 4 refinements, HEAD's factor 1, clipped x0, fixed small variance, the VGG
    relu1_1 block-AdaIN energy x 25 on the same blocks (sddm.md §3-5)."""
    values = reference("sddm", task)
    respaced = load_golden(golden_dir, "adm_diffusion")["outputs"]["timestep_maps"]
    calls = spy_sampler(monkeypatch, i2i_sddm.translate, "sample_sddm", stub=not_run)
    _, log = run_task(task, networks_layer(task, golden_dir, tmp_path), tmp_path, 1)

    (call,) = calls
    network = f"{values['backbone']} ({values['preset']})"
    assert f"sddm: {network}, 100 steps, range_t {values['range_t']}, area 16" in log
    schedule = call.kwargs["schedule"]
    assert schedule.timestep_map.tolist() == list(respaced[values["respacing"]])
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)  # sddm.md §1
    expected = np.cumprod(1 - betas)[schedule.timestep_map]
    np.testing.assert_allclose(np.cumprod(1 - schedule.betas), expected, rtol=1e-10)
    guidance = call.kwargs["guidance"]
    for field in ("area", "range_t", "detail_merge", "refine_iterations", "combination_scale"):
        assert getattr(guidance, field) == values[field], field
    assert call.kwargs["clip_denoised"] is values["clip_denoised"]
    assert call.kwargs["fixed_variance"] == values["fixed_variance"]
    assert call.args[0].spec.learned_variance is learned_variance(values)
    energies = call.kwargs["energies"]
    assert [(e.name, e.weight) for e in energies] == [
        (term["name"], term["weight"]) for term in values["energy"]
    ]
    ((vgg,),) = [validate_energy_settings(terms) for terms in energy_terms]
    assert vgg.area == values["area"]
    assert (vgg.backbone, vgg.preset) == (
        values["energy"][0]["backbone"],
        values["energy"][0]["preset"],
    )
    _, encoder_settings = backbone_settings(vgg.backbone, vgg.preset, vgg.model)
    assert encoder_settings.level == reference_backbone(VGG)["level"]


@pytest.mark.parametrize("task", TASKS)
def test_the_task_stops_frank_wolfe_on_the_whole_batch_as_the_reference(
    task: str, golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_sampler(monkeypatch, i2i_sddm.translate, "sample_sddm", stub=not_run)
    run_task(task, networks_layer(task, golden_dir, tmp_path), tmp_path, 1)
    (call,) = calls
    assert call.kwargs["guidance"].batch_coupled_stop


@pytest.mark.parametrize(
    "task", [task for task in TASKS if learned_variance(reference("sddm", task))]
)
def test_the_task_reproduces_the_reference_run(
    task: str, golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sddm_sample.pt (learn_sigma, detail_merge False), both images in one batch."""
    golden = load_golden(golden_dir, "sddm_sample")
    calls = spy_sampler(
        monkeypatch,
        i2i_sddm.translate,
        "sample_sddm",
        noise=lambda: golden["noise"],
        inputs=golden["inputs"]["ref_img"],
    )
    layer = {**networks_layer(task, golden_dir, tmp_path), **golden_steps(golden)}
    # The reference's batch-coupled stop, so that the comparison holds for any golden draw: the
    # task's per-item stop is the difference test_the_task_stops_frank_wolfe_... records.
    layer["frank_wolfe_stop"] = "batch"
    out, _ = run_task(task, layer, tmp_path, 2)

    (call,) = calls
    sample = golden["outputs"]["sample"]
    torch.testing.assert_close(call.result, sample, **tolerance(golden))
    for index, expected in enumerate(saved_as_png(sample)):
        assert (written(out / f"src{index}.png") - expected).abs().max() <= 1


def test_male2female_is_the_golden_tested_sampler_on_the_ddpm(
    golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One image (so the Frank-Wolfe stop is the reference's either way), the DDPM with fixed
    small variance, the reference's values (test_preset_sources.REFERENCE), the same noise."""
    golden = load_golden(golden_dir, "sddm_sample")
    noise = [tensor[:1] for tensor in golden["noise"]]
    reference_image = golden["inputs"]["ref_img"][:1]
    calls = spy_sampler(
        monkeypatch,
        i2i_sddm.translate,
        "sample_sddm",
        noise=lambda: noise,
        inputs=reference_image,
    )
    steps = golden_steps(golden)
    run_task(
        "male2female", {**networks_layer("male2female", golden_dir, tmp_path), **steps}, tmp_path, 1
    )

    values = reference("sddm", "male2female")
    ddpm = load_golden(golden_dir, "egsde_sample_ddpm")
    energy = vgg_adain_energy(encoder(golden["state_dict"]["vgg_normalised"]), steps["area"])
    (term,) = values["energy"]
    direct = sample_sddm(
        score_model(ddpm),
        reference_image,
        DiscreteSchedule.named("linear", 1000, steps["respacing"]),
        guidance=ManifoldGuidance(
            area=steps["area"],
            range_t=steps["range_t"],
            detail_merge=values["detail_merge"],
            refine_iterations=values["refine_iterations"],
            batch_coupled_stop=True,
            combination_scale=values["combination_scale"],
        ),
        energies=[WeightedEnergy(term["name"], term["weight"], energy)],
        noise=RecordedNoise(noise),
        clip_denoised=values["clip_denoised"],
        fixed_variance=values["fixed_variance"],
    )
    (call,) = calls
    torch.testing.assert_close(call.result, direct, **tolerance(golden))
