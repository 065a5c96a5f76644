"""The SDE-BBDM task presets through the CLI give what kisonho/score-based-bbdm-a-bridge computes.

``i2i translate sde-bbdm --task eval|generate`` with only the bridge weights (the golden tiny
UNet, bbdm.md §11) and the image and network size overridden:

- eval is ``examples/eval.py``: the fast sampler over the 199-step list, T = 1000, λ = 2. The
  golden ``bbdm_fast_sample.pt`` case ``T1000_eval_schedule`` ran exactly that (8x8, one image),
  so the task's own schedule reproduces the reference's output;
- generate is ``examples/generate.py`` without ``--fast_sampling``: the full T = 1000-step
  sampler, λ = 2 (bbdm.md §4); its values are checked as given to the sampler, and on the golden
  full run's T = 10 (``bbdm_sample.pt``) the task reproduces the reference.

The golden conditions y are floats no image file holds: they are handed to the sampler in place
of the images read (reading and resizing are tested in test_bbdm_translate.py), the recorded
noise is replayed (the reference drew from the global RNG).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import i2i_bbdm.translate
from tests.preset_runs import (
    load_golden,
    not_run,
    random_sources,
    reference,
    saved_as_png,
    shipped_tasks,
    spy_sampler,
    state_file,
    tolerance,
    translate_task,
    write_layer,
    written,
)

TASKS = ("eval", "generate")

EVAL_TAUS = list(range(1000, 904, -2)) + list(range(902, 1, -6))
"""eval.py's schedule: arange(T, 904, -2) then arange(902, 1, -6), 199 steps (bbdm.md §5)."""

SAMPLERS = {"fast": "sample_bridge_fast", "full": "sample_bridge"}
"""The sampler functions of the reference's fast and full samplers (bbdm.md §4, §5)."""

SIZE_KEYS = ("model_channels", "num_res_blocks", "channel_mult", "attention_resolutions")


def bridge_layer(golden: dict[str, Any], size: int, folder: Path) -> dict[str, Any]:
    """Only the bridge weights and the sizes: the golden tiny UNet on ``size`` px images."""
    unet = golden["config"]["unet"]
    model = {key: unet[key] for key in SIZE_KEYS}
    model.update(num_head_channels=unet["num_head_channels"], image_size=size)
    checkpoint = state_file(golden["state_dict"], folder / "bridge.pt")
    return {"checkpoint": str(checkpoint), "image_size": size, "model": model}


def run_task(task: str, layer: dict[str, Any], folder: Path, count: int) -> Path:
    """Translate ``count`` random sources of the layer's size with the task."""
    out = folder / "out"
    sources = random_sources(folder / "in", count, layer["image_size"])
    result = translate_task(
        "sde-bbdm", task, write_layer(folder / "layer.toml", layer), sources, out
    )
    assert result.returncode == 0, result.stderr
    return out


def test_every_sde_bbdm_task_is_covered() -> None:
    assert shipped_tasks("sde-bbdm") == list(TASKS)


@pytest.mark.parametrize("task", TASKS)
def test_the_task_gives_the_sampler_the_example_scripts_values(
    task: str, golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eval.py always samples fast over its list (its --fast_sampling flag is ignored),
    generate.py without --fast_sampling full; T = 1000, λ = 2 (test_preset_sources.REFERENCE)."""
    values = reference("sde-bbdm", task)
    calls = spy_sampler(monkeypatch, i2i_bbdm.translate, SAMPLERS[values["sampler"]], stub=not_run)
    golden = load_golden(golden_dir, "bbdm_sample")
    run_task(task, bridge_layer(golden, 32, tmp_path), tmp_path, 1)
    (call,) = calls
    assert (call.kwargs["steps"], call.kwargs["c_lambda"]) == (values["steps"], values["c_lambda"])
    if values["sampler"] == "fast":
        assert call.kwargs["taus"] == EVAL_TAUS


def test_the_eval_task_reproduces_the_references_fast_run(
    golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bbdm_fast_sample.pt, case T1000_eval_schedule: the task's own 199 steps, T and λ."""
    values = reference("sde-bbdm", "eval")
    golden = load_golden(golden_dir, "bbdm_fast_sample")
    case = golden["cases"]["T1000_eval_schedule"]
    config = case["config"]
    assert (config["time_steps"], config["c_lambda"]) == (values["steps"], values["c_lambda"])
    assert config["sampling_range"] == EVAL_TAUS
    calls = spy_sampler(
        monkeypatch,
        i2i_bbdm.translate,
        "sample_bridge_fast",
        noise=lambda: case["noise"],
        inputs=case["inputs"]["y"],
    )
    layer = bridge_layer(golden, config["image_size"], tmp_path)
    out = run_task("eval", layer, tmp_path, config["batch"])

    (call,) = calls
    torch.testing.assert_close(call.result, case["outputs"]["x0"], **tolerance(case))
    expected = saved_as_png(case["outputs"]["x0"])[0]
    assert (written(out / "src0.png") - expected).abs().max() <= 1


def test_the_generate_task_reproduces_the_references_full_run(
    golden_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bbdm_sample.pt: the task's full sampler and λ on the golden's T = 10."""
    values = reference("sde-bbdm", "generate")
    golden = load_golden(golden_dir, "bbdm_sample")
    config = golden["config"]
    assert (config["fast_sampling"], config["c_lambda"]) == (False, values["c_lambda"])
    calls = spy_sampler(
        monkeypatch,
        i2i_bbdm.translate,
        "sample_bridge",
        noise=lambda: golden["noise"],
        inputs=golden["inputs"]["y"],
    )
    layer = {**bridge_layer(golden, config["image_size"], tmp_path), "steps": config["time_steps"]}
    out = run_task("generate", layer, tmp_path, config["batch"])

    (call,) = calls
    torch.testing.assert_close(call.result, golden["outputs"]["x0"], **tolerance(golden))
    for index, expected in enumerate(saved_as_png(golden["outputs"]["x0"])):
        assert (written(out / f"src{index}.png") - expected).abs().max() <= 1
