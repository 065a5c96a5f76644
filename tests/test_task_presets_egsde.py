"""The EGSDE, SDEdit and ILVR task presets through the CLI give what the references compute.

Each shipped task runs as ``i2i translate METHOD --task T`` with only the checkpoints and the
network size overridden (a ``--config`` layer over the preset), on the tiny golden networks:

- with the preset's own step counts, the sampler is given the reference's values (the table
  test_preset_sources.REFERENCE types from egsde.md §2-3 and sddm.md §10, not from the
  presets; the sampler is not run);
- with the golden run's few steps (and its low-pass factor, the preset's scaled to the tiny
  image), the sampler's result is the reference's own output within the golden tolerance, the
  recorded noise replayed (the reference drew from a global RNG) and the results written under
  the sources' names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import i2i_egsde.translate
from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.networks.backbones import backbone_settings
from i2i_cli.run.energy_terms import EnergyTerm, validate_energy_settings
from i2i_egsde.energy_guided_sde import sample_egsde
from tests.parity.test_egsde import score_model
from tests.preset_runs import (
    DDPM_SIZE,
    adm_size,
    classifier_size,
    load_golden,
    not_run,
    png_sources,
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
from tests.tiny_models import random_weights

AFHQ_DOG_4M = "plugins/i2i_adm/presets/afhq_dog_4m.toml"
REFERENCE_SIZE = reference_backbone(AFHQ_DOG_4M)["image_size"]
"""Every EGSDE/ILVR task runs on 256x256 images (egsde.md §2 "image size"; sddm.md §6)."""

EGSDE_TASKS = ("cat2dog", "male2female", "multi-afhq", "wild2dog")
ILVR_TASKS = ("cat2dog", "wild2dog")
DSE_CLASSES = reference_backbone("plugins/i2i_adm/classifier_presets/dse256.toml")["out_channels"]
"""The 2-class extractors' head; afhq_dse has 3 classes (egsde.md §4.3)."""


def network(values: dict[str, Any]) -> str:
    """How the run's log names the task's score model: ``backbone (preset)``."""
    return f"{values['backbone']} ({values['preset']})"


def dse_classes(method: str, task: str) -> int:
    """The class count of the task's extractor (the reference's; egsde.md §2, §4.3)."""
    terms = reference(method, task).get("energy", [])
    return next(
        (t.get("model", {}).get("out_channels", DSE_CLASSES) for t in terms if t["name"] == "dse"),
        DSE_CLASSES,
    )


def reference_betas() -> np.ndarray:
    """β = linspace(1e-4, 0.02, 1000) in float64 (egsde.md §1.1; sddm.md §1)."""
    return np.linspace(1e-4, 0.02, 1000, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# The tiny golden networks as checkpoint files


def with_classes(state: dict[str, torch.Tensor], classes: int) -> dict[str, torch.Tensor]:
    """The extractor with ``classes`` logits: its head (never used to sample, egsde.md §4.3)
    given extra rows, so a 3-class task loads the 2-class golden trunk."""
    state = dict(state)
    for key in ("I2Iout.2.c_proj.weight", "I2Iout.2.c_proj.bias"):
        rows = state[key]
        extra = torch.zeros((classes - rows.shape[0], *rows.shape[1:]), dtype=rows.dtype)
        state[key] = torch.cat([rows, extra])
    return state


def score_layer(golden: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Checkpoint and size of the golden score network (ADM, or the ddim-repo DDPM)."""
    checkpoint = state_file(golden["state_dict"]["model"], folder / "score.pt")
    config = golden["config"]
    if "ddpm_yml_model" in config:
        yml = {**config["ddpm_yml_model"], "resolution": config["yml"]["data"]["image_size"]}
        return {"checkpoint": str(checkpoint), "model": {k: yml[k] for k in DDPM_SIZE}}
    return {"checkpoint": str(checkpoint), "model": adm_size(config["create_model_kwargs"])}


def golden_for(method: str, task: str) -> tuple[str, str]:
    """The golden file and variant that ran the task's sampler settings on its backbone."""
    backbone = preset(method, task)["backbone"]
    if method == "sdedit":
        return ("egsde_sample_sdedit", "sdedit") if backbone == "adm-unet" else ("", "")
    name = "egsde_sample_adm" if backbone == "adm-unet" else "egsde_sample_ddpm"
    return name, "egsde_ref_weights"


def egsde_layer(
    method: str, task: str, golden: dict[str, Any], folder: Path, *, golden_steps: bool
) -> dict[str, Any]:
    """The override of the task: the golden networks; with ``golden_steps`` also its M and the
    preset's low-pass factor scaled to the golden image (32 of 256 px is 4 of 32 px)."""
    layer = score_layer(golden, folder)
    if golden_steps:
        layer["start_step"] = golden["config"]["args"]["t"]
    if method == "sdedit":
        return layer
    size = golden["inputs"]["x0"].shape[-1]
    classes = dse_classes(method, task)
    dse = state_file(with_classes(golden["state_dict"]["dse"], classes), folder / "dse.pt")
    energies = []
    for term in preset(method, task)["energy"]:
        if term["name"] == "dse":
            extractor = classifier_size(golden["config"]["dse_kwargs"])
            del extractor["out_channels"]  # the task's class count stays the preset's
            term = with_checkpoint(term, dse, extractor)
        elif golden_steps:
            term = {**term, "factor": term["factor"] * size // REFERENCE_SIZE}
            assert term["factor"] == golden["config"]["args"]["down_N"]
        energies.append(term)
    return {**layer, "energy": energies}


def run_task(
    method: str, task: str, layer: dict[str, Any], folder: Path, sources: Path
) -> tuple[Path, str]:
    """Translate ``sources`` with the task under ``layer``; the output folder and the log."""
    out = folder / "out"
    result = translate_task(method, task, write_layer(folder / "layer.toml", layer), sources, out)
    assert result.returncode == 0, result.stderr
    return out, result.stderr


@pytest.fixture
def energy_terms(monkeypatch: pytest.MonkeyPatch) -> list[list[EnergyTerm]]:
    """The energy terms each run builds (what the preset and the layer resolved to)."""
    return record_energy_terms(monkeypatch, i2i_egsde.translate)


def test_every_egsde_sdedit_and_ilvr_task_is_covered() -> None:
    assert shipped_tasks("egsde") == list(EGSDE_TASKS)
    assert shipped_tasks("sdedit") == list(EGSDE_TASKS)
    assert shipped_tasks("ilvr") == sorted(ILVR_TASKS)


# ---------------------------------------------------------------------------------------------
# EGSDE and SDEdit


@pytest.mark.parametrize("method", ["egsde", "sdedit"])
@pytest.mark.parametrize("task", EGSDE_TASKS)
def test_the_task_gives_the_sampler_the_profiles_values(
    method: str,
    task: str,
    golden_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    energy_terms: list[list[EnergyTerm]],
) -> None:
    """M on the linear 1000-step schedule; EGSDE: the realism (DSE cosine) and faithfulness
    (squared distance of the linear-kernel low-pass at N) energies at λs and λi (egsde.md §1.2,
    §2, §3); SDEdit: no energy. The values: test_preset_sources.REFERENCE."""
    values = reference(method, task)
    golden = load_golden(golden_dir, golden_for("egsde", task)[0])
    calls = spy_sampler(monkeypatch, i2i_egsde.translate, "sample_egsde", stub=not_run)
    layer = egsde_layer(method, task, golden, tmp_path, golden_steps=False)
    _, log = run_task(method, task, layer, tmp_path, random_sources(tmp_path / "in", 1, 32))

    (call,) = calls
    assert f"{method}: {network(values)}, M = {values['start_step']}" in log
    assert call.kwargs["start_step"] == values["start_step"]
    schedule = call.kwargs["schedule"]
    assert schedule.timestep_map.tolist() == list(range(1000))
    np.testing.assert_allclose(schedule.betas, reference_betas(), rtol=1e-12, atol=0)
    energies = call.kwargs["energies"]
    expected = values.get("energy", [])
    assert [(e.name, e.weight) for e in energies] == [(t["name"], t["weight"]) for t in expected]
    if method == "sdedit":
        assert energy_terms == []
        return
    (terms,) = energy_terms
    dse, lowpass = validate_energy_settings(terms)
    dse_values, lowpass_values = expected
    assert dse.similarity == dse_values["similarity"]
    assert (dse.backbone, dse.preset) == (dse_values["backbone"], dse_values["preset"])
    _, extractor = backbone_settings(dse.backbone, dse.preset, dse.model)
    assert extractor.out_channels == dse_classes(method, task)
    for field in ("factor", "kernel", "distance"):
        assert getattr(lowpass, field) == lowpass_values[field]


@pytest.mark.parametrize(
    ("method", "task"),
    [("egsde", task) for task in EGSDE_TASKS]
    + [("sdedit", task) for task in EGSDE_TASKS if task != "male2female"],
)
def test_the_task_reproduces_the_reference_run(
    method: str, task: str, golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference runner's y (egsde_sample_*.pt, official weights) and the PNGs it wrote."""
    name, variant = golden_for(method, task)
    golden = load_golden(golden_dir, name)
    expected = golden["outputs"][variant]
    calls = spy_sampler(
        monkeypatch, i2i_egsde.translate, "sample_egsde", noise=lambda: golden["noise"]
    )
    names = ["src0.png", "src1.png"]
    sources = png_sources(tmp_path / "in", golden["inputs"]["source_uint8"], names)
    layer = egsde_layer(method, task, golden, tmp_path, golden_steps=True)
    out, _ = run_task(method, task, layer, tmp_path, sources)

    (call,) = calls
    torch.testing.assert_close(call.result, expected["y_final"], **tolerance(golden))
    for index, file in enumerate(names):
        difference = written(out / file) - expected["saved_png_uint8"][index].long()
        assert difference.abs().max() <= 1


def test_sdedit_male2female_is_the_egsde_loop_without_energies(
    golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No SDEdit golden ran the DDPM backbone: the run equals the golden-tested sampler called
    on the golden DDPM with ls = li = 0 and the same noise (egsde.md §1.2, last bullet)."""
    golden = load_golden(golden_dir, "egsde_sample_ddpm")
    calls = spy_sampler(
        monkeypatch, i2i_egsde.translate, "sample_egsde", noise=lambda: golden["noise"]
    )
    names = ["src0.png", "src1.png"]
    sources = png_sources(tmp_path / "in", golden["inputs"]["source_uint8"], names)
    layer = egsde_layer("sdedit", "male2female", golden, tmp_path, golden_steps=True)
    run_task("sdedit", "male2female", layer, tmp_path, sources)

    direct = sample_egsde(
        score_model(golden),
        golden["inputs"]["x0"],
        DiscreteSchedule.named("linear", 1000),
        start_step=golden["config"]["args"]["t"],
        noise=RecordedNoise(golden["noise"]),
    )
    (call,) = calls
    torch.testing.assert_close(call.result, direct, **tolerance(golden))
    assert not torch.allclose(direct, golden["outputs"]["egsde_ref_weights"]["y_final"])


# ---------------------------------------------------------------------------------------------
# ILVR


TINY_64PX = {
    "image_size": 64,
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": "1,1",
    "attention_resolutions": "32",
    "num_head_channels": 16,
}
"""afhq_dog_4m shrunk to 64 px: the smallest image N = 32 low-passes (to 2x2 pixels)."""


@pytest.mark.parametrize("task", ILVR_TASKS)
def test_the_ilvr_task_gives_the_sampler_the_readme_values(
    task: str, golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 respaced steps (guided-diffusion's map), N = 32 with the cubic kernel, range_t 20,
    clipped x0, afhq_dog_4m's learned variance (sddm.md §10; test_preset_sources.REFERENCE)."""
    values = reference("ilvr", task)
    respaced = load_golden(golden_dir, "adm_diffusion")["outputs"]["timestep_maps"]
    unet = random_weights("adm-unet", "afhq_dog_4m", TINY_64PX, tmp_path / "unet.pt")
    calls = spy_sampler(monkeypatch, i2i_egsde.translate, "sample_ilvr", stub=not_run)
    layer = {"checkpoint": str(unet), "model": TINY_64PX}
    run_task("ilvr", task, layer, tmp_path, random_sources(tmp_path / "in", 1, 64))

    (call,) = calls
    schedule, low_pass = call.kwargs["schedule"], call.kwargs["low_pass"]
    assert schedule.timestep_map.tolist() == list(respaced[values["respacing"]])
    alphas_cumprod = np.cumprod(1 - reference_betas())[schedule.timestep_map]
    np.testing.assert_allclose(np.cumprod(1 - schedule.betas), alphas_cumprod, rtol=1e-10)
    assert (low_pass.factor, low_pass.kernel) == (values["down_n"], values["kernel"])
    assert call.kwargs["range_t"] == values["range_t"]
    assert call.kwargs["clip_denoised"] is values["clip_denoised"]
    denoiser = call.args[0]
    assert isinstance(denoiser, DiscreteDenoiser)
    assert denoiser.spec.learned_variance is reference_backbone(AFHQ_DOG_4M)["learn_sigma"]


@pytest.mark.parametrize("task", ILVR_TASKS)
def test_the_ilvr_task_reproduces_the_reference_run(
    task: str, golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ilvr_sample.pt: 10 steps; N and range_t are the preset's scaled to 32 px and 10 steps."""
    golden = load_golden(golden_dir, "ilvr_sample")
    config = golden["config"]
    flags = config["model_and_diffusion"]
    values = preset("ilvr", task)
    steps = int(flags["timestep_respacing"])
    layer = {
        "checkpoint": str(state_file(golden["state_dict"]["model"], tmp_path / "unet.pt")),
        "model": adm_size(flags),
        "respacing": flags["timestep_respacing"],
        "down_n": values["down_n"] * flags["image_size"] // REFERENCE_SIZE,
        "range_t": values["range_t"] * steps // int(values["respacing"]),
    }
    assert (layer["down_n"], layer["range_t"]) == (config["down_N"], config["range_t"])
    reference = golden["inputs"]["ref_img"]
    calls = spy_sampler(
        monkeypatch,
        i2i_egsde.translate,
        "sample_ilvr",
        noise=lambda: golden["noise"],
        inputs=reference,
    )
    out, _ = run_task("ilvr", task, layer, tmp_path, random_sources(tmp_path / "in", 2, 32))

    (call,) = calls
    torch.testing.assert_close(call.result, golden["outputs"]["sample"], **tolerance(golden))
    for index, expected in enumerate(saved_as_png(golden["outputs"]["sample"])):
        assert (written(out / f"src{index}.png") - expected).abs().max() <= 1
