"""The DDIB task presets through the CLI give what suxuann/ddib computes.

Every shipped task runs as ``i2i translate|sample ddib --task T`` with only the checkpoints and
the network size overridden, on the tiny golden networks. DDIB's ODE passes draw no noise that
matters (DDIM with eta = 0, ddib.md §1.5), so where a golden run used the task's sampler the CLI
output itself is compared with the reference's:

- imagenet (scripts/imagenet_translation.py, ddib.md §3): the values given to the translation
  with the task's own steps (all 1000, DDIM, decoder clipped, classifier scale 1, the README's
  class pairs), and, on the golden run's 10 steps, 8 classes and scale 10 (the golden's
  deviations forced by size, §6.4), the reference's translated images, truncated to 8 bits as
  the reference truncates them (its ``*_translated_*`` names are not kept: results are named
  by their source, README);
- moons2checkerboards-reference (synthetic_cycle.py as README.md:79 runs it, §2.4): the values
  given with the task's own 4000 steps and 90 000 points, and on the golden run's 100 steps the
  reference's latent, target, round trip and logged L2 distance (given checkpoints replace the
  official ones, so these runs add --no-official);
- the quick translation jobs and the sampling tasks of the bundled models: the run completes,
  writes what the task says and the domains are the reference's.

The reference values come from test_preset_sources.REFERENCE (typed from the spec).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import i2i_ddib.images
import i2i_ddib.points
from i2i_cli.checkpoints.discovery import discover_manifests, load_manifests, warn_stderr
from i2i_ddib.bridges import Translation
from tests.conftest import run_i2i
from tests.preset_runs import (
    adm_size,
    classifier_size,
    load_golden,
    preset,
    reference,
    reference_backbone,
    shipped_tasks,
    spy_sampler,
    state_file,
    tolerance,
    translate_task,
    with_checkpoint,
    write_layer,
    written,
)
from tests.tiny_models import TINY_ADM_UNET, random_weights

IMAGENET256 = "plugins/i2i_adm/presets/imagenet256_cond.toml"
OFFICIAL_2D_STEPS = 4000
"""T of the official synthetic models, all of them run by every pass (ddib.md §2.2, §2.4)."""

QUICK = ("moons2checkerboards", "moons2squares")
"""The quick jobs on the bundled models (3000 points, the default solver: i2i's own)."""

SAMPLED = ("checkerboards", "concentric_rings", "concentric_squares", "moons")
SAMPLED += ("parallel_rings", "parallel_squares")
"""synthetic_sample.py's data sets (ddib.md §2.1, --task 0..5) as i2i names them."""


MOONS_AXIS_MEANS = (0.174, -0.174)
"""Per-axis means of normalised Moons (ddib.md §2.1: one scalar mean and std over both axes)."""


def class_pairs(values: dict[str, Any]) -> dict[int, int]:
    """--source and --target zipped into source -> target classes (ddib.md §3)."""
    pairs = zip(values["source"].split(","), values["target"].split(","), strict=True)
    return {int(a): int(b) for a, b in pairs}


def translation_of(source: Any, target: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    """A stub of ``ddib_translate``: latent and result are the input (nothing runs)."""
    return Translation(x, x)


def test_every_ddib_task_is_covered() -> None:
    tasks = ["imagenet", "moons2checkerboards-reference", *QUICK, *SAMPLED]
    assert shipped_tasks("ddib") == sorted(tasks)


# ---------------------------------------------------------------------------------------------
# imagenet


def imagenet_sources(folder: Path, images: list[torch.Tensor], names: list[str]) -> Path:
    """The inputs under the reference's ``{label}_{i}`` names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, pixels in zip(names, images, strict=True):
        Image.fromarray(np.asarray(pixels)).save(folder / name)
    return folder


def classifier_term(checkpoint: Path, size: dict[str, Any]) -> dict[str, Any]:
    """The task's classifier guidance with only its checkpoint and size replaced."""
    (term,) = preset("ddib", "imagenet")["energy"]
    return with_checkpoint(term, checkpoint, size)


def test_the_imagenet_task_gives_the_translation_the_scripts_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1000-class tiny model and classifier, one input per source class of the README: all
    the model's steps (the script's timestep_respacing ""), DDIM with eta 0, the decoder's x0
    clipped, classifier guidance at scale 1 (ddib.md §3; test_preset_sources.REFERENCE)."""
    values = reference("ddib", "imagenet")
    pairs = class_pairs(values)
    unet_size = {**TINY_ADM_UNET, "num_classes": 1000}
    unet = random_weights("adm-unet", "imagenet256_cond", unet_size, tmp_path / "unet.pt")
    classes = {"image_size": 32, "width": 32, "depth": 1, "channel_mult": "1,1"}
    classes.update(attention_resolutions="16", num_head_channels=16)
    classifier = random_weights(
        "adm-classifier", "classifier256", classes, tmp_path / "classifier.pt", seed=1
    )
    layer = {
        "checkpoint": str(unet),
        "model": unet_size,
        "energy": [classifier_term(classifier, classes)],
    }
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in pairs]
    names = [f"{label}_1.png" for label in pairs]
    calls = spy_sampler(monkeypatch, i2i_ddib.images, "ddib_translate", stub=translation_of)
    config = write_layer(tmp_path / "layer.toml", layer)
    sources = imagenet_sources(tmp_path / "in", images, names)
    result = translate_task("ddib", "imagenet", config, sources, tmp_path / "out")
    assert result.returncode == 0, result.stderr

    (call,) = calls
    encoder, decoder, _, schedule = call.args
    assert encoder.model_kwargs["y"].tolist() == list(pairs)
    assert decoder.model_kwargs["y"].tolist() == list(pairs.values())
    assert values["steps"] is None  # every step of the model's process
    steps = reference_backbone(IMAGENET256)["diffusion_steps"]
    assert schedule.timestep_map.tolist() == list(range(steps))
    assert call.kwargs["solver"] == values["solver"]
    assert call.kwargs["clip_denoised"] is values["clip_denoised"]
    energies = [(term["name"], term["weight"]) for term in values["energy"]]
    assert [(e.name, e.weight) for e in call.kwargs["energies"]] == energies


def golden_imagenet_run(golden_dir: Path, folder: Path) -> tuple[dict[str, Any], Path]:
    """The imagenet task on the golden run's networks, inputs and settings (see below)."""
    golden = load_golden(golden_dir, "ddib_translate_image")
    aux = load_golden(golden_dir, "ddib_translate_image_aux")
    config = golden["config"]
    flags = config["create_model_and_diffusion"]
    unet = state_file(golden["state_dict"]["model"], folder / "unet.pt")
    classifier = state_file(aux["state_dict"]["classifier"], folder / "classifier.pt")
    term = classifier_term(classifier, classifier_size(config["classifier_EncoderUNetModel"]))
    layer = {
        "checkpoint": str(unet),
        "model": {**adm_size(flags), "num_classes": flags["num_classes"]},
        "steps": int(flags["timestep_respacing"]),
        "source": config["source"],
        "target": config["target"],
        "energy": [{**term, "weight": config["classifier_scale"]}],
    }
    names = golden["inputs"]["file_names"]
    sources = imagenet_sources(folder / "in", golden["inputs"]["raw_images"], names)
    out = folder / "out"
    result = translate_task(
        "ddib", "imagenet", write_layer(folder / "layer.toml", layer), sources, out
    )
    assert result.returncode == 0, result.stderr
    return golden, out


def test_the_imagenet_task_reproduces_the_references_translation(
    golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ddib_translate_image.pt: the golden run's 10 steps, its 8 classes (labels 0..4) and its
    classifier scale 10; the inputs go through the real loader as the reference's did."""
    calls = spy_sampler(monkeypatch, i2i_ddib.images, "ddib_translate")
    golden, out = golden_imagenet_run(golden_dir, tmp_path)

    (call,) = calls
    torch.testing.assert_close(call.args[2], golden["inputs"]["batch"], atol=0, rtol=0)
    assert call.args[3].timestep_map.tolist() == golden["outputs"]["timestep_map"].tolist()
    close = tolerance(golden)
    torch.testing.assert_close(call.result.latent, golden["outputs"]["latent"], **close)
    torch.testing.assert_close(call.result.result, golden["outputs"]["sample"], **close)
    for index, name in enumerate(golden["inputs"]["file_names"]):
        expected = golden["outputs"]["sample_uint8"][index].long()
        assert (written(out / f"{name.split('.')[0]}.png") - expected).abs().max() <= 1


def test_the_imagenet_task_writes_the_references_truncated_pixels(
    golden_dir: Path, tmp_path: Path
) -> None:
    golden, out = golden_imagenet_run(golden_dir, tmp_path)
    for index, name in enumerate(golden["inputs"]["file_names"]):
        expected = golden["outputs"]["sample_uint8"][index].long()
        assert torch.equal(written(out / f"{name.split('.')[0]}.png"), expected)


# ---------------------------------------------------------------------------------------------
# 2-D translation


def point_models(golden_dir: Path, folder: Path) -> list[str]:
    """The golden Moons and Checkerboards models (ddib_translate_synthetic.pt) as the task's
    checkpoints; --no-official, since given checkpoints replace the official ones."""
    golden = load_golden(golden_dir, "ddib_translate_synthetic")
    source = state_file(golden["state_dict"]["source"], folder / "moons.pt")
    target = state_file(golden["state_dict"]["target"], folder / "checkerboards.pt")
    return ["--no-official", "--source-checkpoint", str(source), "--target-checkpoint", str(target)]


def translate_points(task: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``i2i translate ddib --task TASK ARGS`` on the CPU."""
    return run_i2i(["translate", "ddib", "--task", task, "--device", "cpu", *args])


def test_the_reference_cycle_task_asks_for_the_official_raw_weights(tmp_path: Path) -> None:
    """official: log2D0 and log2D1's model*.pt, the non-EMA weights (ddib.md §2.3, pitfall 17)."""
    out = tmp_path / "out"
    result = translate_points("moons2checkerboards-reference", "--output", str(out))
    assert result.returncode != 0
    assert "ddib_2d_moons, ddib_2d_checkerboard are not downloaded" in result.stderr
    artifacts, _ = load_manifests(discover_manifests(warn_stderr), warn_stderr)
    names = ("ddib_2d_moons", "ddib_2d_checkerboard")
    sources = [artifacts[name].sources[0].path for name in names]
    assert sources == ["log2D0/model*.pt", "log2D1/model*.pt"]


def test_the_reference_cycle_task_gives_the_translation_the_scripts_values(
    golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DDIM on all 4000 steps of both passes, no clipping, 90 000 Moons points there and back
    to Checkerboards (ddib.md §2.4; test_preset_sources.REFERENCE)."""
    values = reference("ddib", "moons2checkerboards-reference")
    calls = spy_sampler(monkeypatch, i2i_ddib.points, "ddib_translate", stub=translation_of)
    out = tmp_path / "out"
    result = translate_points(
        "moons2checkerboards-reference", *point_models(golden_dir, tmp_path), "--output", str(out)
    )
    assert result.returncode == 0, result.stderr

    # encode-decode there and back (synthetic_cycle.py:58-87), each pass in chunks of points
    half = len(calls) // 2
    for call in calls:
        schedule = call.args[3]
        assert values["steps"] is None
        assert schedule.timestep_map.tolist() == list(range(OFFICIAL_2D_STEPS))
        assert call.kwargs["solver"] == values["solver"]
        assert call.kwargs.get("clip_denoised", False) is values["clip_denoised"]
    points = torch.cat([call.args[2] for call in calls[:half]])
    assert points.shape == (values["num_points"], 2)
    assert sum(len(call.args[2]) for call in calls[half:]) == values["num_points"]
    np.testing.assert_allclose(points.mean(0).numpy(), MOONS_AXIS_MEANS, atol=0.01)
    record = json.loads((out / "result.json").read_text())
    assert (record["source"], record["target"]) == (values["source"], values["target"])
    assert record["points"] == values["num_points"] and "cycle_max_l2" in record


def test_the_reference_cycle_task_reproduces_the_references_cycle(
    golden_dir: Path, tmp_path: Path
) -> None:
    """ddib_translate_synthetic.pt on its 32 Moons points and 100 respaced steps."""
    golden = load_golden(golden_dir, "ddib_translate_synthetic")
    source = tmp_path / "source.npy"
    np.save(source, golden["inputs"]["source"].numpy())
    out = tmp_path / "out"
    steps = golden["config"]["create_model_and_diffusion_2d"]["timestep_respacing"]
    result = translate_points(
        "moons2checkerboards-reference",
        *point_models(golden_dir, tmp_path),
        *("--steps", steps, "--input", str(source), "--output", str(out)),
    )
    assert result.returncode == 0, result.stderr

    outputs = golden["outputs"]
    for name in ("latent", "target", "latent_2", "source_2"):
        ours = torch.from_numpy(np.load(out / f"{name}.npy"))
        torch.testing.assert_close(ours, outputs[name], **tolerance(golden))
    record = json.loads((out / "result.json").read_text())
    assert record["steps_per_pass"] == len(outputs["timestep_map"])
    assert record["cycle_max_l2"] == pytest.approx(outputs["cycle_max_l2_logged"], rel=1e-4)


@pytest.mark.parametrize("task", QUICK)
def test_the_quick_translation_task_runs_the_readme_pair(
    task: str, golden_dir: Path, tmp_path: Path
) -> None:
    """synthetic_cycle.py's pair (README.md:79) and synthetic_translation.py's (README.md:86),
    there and back; the task's 3000 points are i2i's quick count, not a reference value: 300
    here."""
    values = reference("ddib", task)
    out = tmp_path / "out"
    args = point_models(golden_dir, tmp_path)[1:]  # these tasks are not official
    result = translate_points(task, *args, "--num-points", "300", "--output", str(out))
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "result.json").read_text())
    assert (record["source"], record["target"]) == (values["source"], values["target"])
    assert record["points"] == 300
    for name in ("source", "latent", "target", "latent_2", "source_2"):
        assert np.load(out / f"{name}.npy").shape == (record["points"], 2)
    returned = np.load(out / "source.npy") - np.load(out / "source_2.npy")
    assert record["cycle_max_l2"] == pytest.approx(np.linalg.norm(returned, axis=1).max(), rel=1e-5)
    assert (out / "translation.png").is_file()


@pytest.mark.parametrize("task", SAMPLED)
def test_the_sampling_task_decodes_gaussian_latents_with_its_data_sets_model(
    task: str, golden_dir: Path, tmp_path: Path
) -> None:
    """synthetic_sample.py: decode(model, randn(B, 2)) with the task's model (ddib.md §1.7)."""
    golden = load_golden(golden_dir, "ddib_translate_synthetic")
    model = state_file(golden["state_dict"]["target"], tmp_path / "model.pt")
    out = tmp_path / "out"
    command = ["sample", "ddib", "--task", task, "--device", "cpu", "--target-checkpoint"]
    result = run_i2i([*command, str(model), "--output", str(out)])
    assert result.returncode == 0, result.stderr
    assert f"sampling 16 points of {reference('ddib', task)['target']}" in result.stderr
    latent, points = np.load(out / "latent.npy"), np.load(out / "points.npy")
    assert latent.shape == points.shape == (16, 2)
    assert np.isfinite(points).all() and not np.allclose(points, latent)
    assert (out / "samples.png").is_file()
    assert json.loads((out / "result.json").read_text())["points"] == str(out / "points.npy")
