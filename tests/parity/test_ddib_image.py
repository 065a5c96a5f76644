"""DDIB's ImageNet translation replays the reference run (ddib_translate_image*.pt; ddib.md §6.4).

The golden run is ``imagenet_translation.py main()`` on a tiny class-conditional UNet (8
classes, 10 respaced steps) guided by a tiny random classifier at scale 10. The networks are
built from the golden config through our backbones and loaded from files by the real loader.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from i2i_adm.energies import classifier_energy
from i2i_adm.settings import AdmUNetSettings
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.gaussian import eps_from_x0, p_mean_variance
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, bind, energy_gradient
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.io.data import find_images, read_image
from i2i_cli.networks.backbones import load_backbone
from i2i_cli.run.model_choice import schedule_for
from i2i_ddib.bridges import ddib_translate
from i2i_ddib.image_labels import class_pairs, mapped_labels, skip_reason
from tests.conftest import run_i2i

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

STEPS = 10
"""The golden run's --timestep_respacing."""


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    """The golden file ``name``.pt."""
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


def close(actual: torch.Tensor, expected: torch.Tensor, golden: Mapping[str, Any]) -> None:
    """Agreement within the golden atol/rtol (1e-4)."""
    tolerance = golden["tolerance"]
    torch.testing.assert_close(
        actual, expected, atol=tolerance["atol"], rtol=tolerance["rtol"], check_dtype=False
    )


def pass_schedule() -> DiscreteSchedule:
    """The golden run's grid: 10 of the linear 1000-step process, spaced as guided-diffusion."""
    return schedule_for(ModelSpec(), solver="ddim", steps=STEPS)


def guidance(classifier: torch.nn.Module, scale: float) -> WeightedEnergy:
    """Classifier guidance at ``scale`` as the run composes it (``--energy classifier``)."""
    return WeightedEnergy("classifier", scale, classifier_energy(classifier, 8))


def cond_grad(
    energy: WeightedEnergy, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The reference's cond_fn, scale grad log p(y | x_t): minus the energy's gradient."""
    return -energy_gradient([energy], x, GuidanceState(t=t, labels=y))


def unet_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """adm-unet settings from the golden ``create_model_and_diffusion`` arguments."""
    flags = config["create_model_and_diffusion"]
    return {name: flags[name] for name in AdmUNetSettings.model_fields if name in flags}


def classifier_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """adm-classifier settings from the golden EncoderUNetModel arguments (rates -> pixels)."""
    kwargs = config["classifier_EncoderUNetModel"]
    size = kwargs["image_size"]
    return {
        "image_size": size,
        "in_channels": kwargs["in_channels"],
        "out_channels": kwargs["out_channels"],
        "width": kwargs["model_channels"],
        "depth": kwargs["num_res_blocks"],
        "channel_mult": ",".join(str(m) for m in kwargs["channel_mult"]),
        "attention_resolutions": ",".join(str(size // r) for r in kwargs["attention_resolutions"]),
        "num_head_channels": kwargs["num_head_channels"],
        "use_scale_shift_norm": kwargs["use_scale_shift_norm"],
        "resblock_updown": kwargs["resblock_updown"],
        "pool": kwargs["pool"],
        "use_fp16": kwargs["use_fp16"],
    }


@dataclass(frozen=True)
class GoldenRun:
    """The golden files, the weights written to disk, and our replay of the run."""

    main: dict[str, Any]
    aux: dict[str, Any]
    unet_file: Path
    classifier_file: Path
    unet: DiscreteDenoiser
    classifier: torch.nn.Module
    sample: torch.Tensor
    encode_steps: list[Mapping[str, Any]]
    decode_steps: list[Mapping[str, Any]]
    cond_grads: list[torch.Tensor]


def replay(golden_dir: Path, folder: Path) -> GoldenRun:
    """Load the networks from files like a run does and translate the golden batch."""
    main, aux = (
        load(golden_dir, "ddib_translate_image"),
        load(golden_dir, "ddib_translate_image_aux"),
    )
    config = main["config"]
    unet_file, classifier_file = folder / "model.pt", folder / "classifier.pt"
    torch.save(main["state_dict"]["model"], unet_file)
    torch.save(aux["state_dict"]["classifier"], classifier_file)
    unet = load_backbone("adm-unet", overrides=unet_settings(config), checkpoint=unet_file)
    classifier = load_backbone(
        "adm-classifier", overrides=classifier_settings(config), checkpoint=classifier_file
    ).module
    denoiser = DiscreteDenoiser(unet.module, unet.spec)
    inputs = main["inputs"]
    schedule = pass_schedule()
    energy = guidance(classifier, config["classifier_scale"])
    cond_grads: list[torch.Tensor] = []

    def recorded_energy(x: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        assert state.t is not None and state.labels is not None
        cond_grads.append(cond_grad(energy, x.detach(), state.t, state.labels))
        return energy.function(x, state)

    steps: list[Mapping[str, Any]] = []
    noise = RecordedNoise(main["noise"])
    sample = ddib_translate(
        denoiser.with_labels(inputs["y_source"]),
        denoiser.with_labels(inputs["y_target"]),
        inputs["batch"],
        schedule,
        solver="ddim",
        noise=noise,
        clip_denoised=config["clip_denoised_decode"],
        energies=bind(
            [WeightedEnergy("classifier", energy.weight, recorded_energy)],
            labels=inputs["y_target"],
        ),
        callback=steps.append,
    ).result
    noise.assert_exhausted()
    return GoldenRun(
        main,
        aux,
        unet_file,
        classifier_file,
        denoiser,
        classifier,
        sample,
        steps[:STEPS],
        steps[STEPS:],
        cond_grads,
    )


@pytest.fixture(scope="module")
def run(golden_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> GoldenRun:
    """One replay shared by the tests of this module."""
    return replay(golden_dir, tmp_path_factory.mktemp("ddib_image"))


def write_raw_images(golden: Mapping[str, Any], folder: Path) -> Path:
    """The golden raw images under their reference names (``0_1.PNG``, ``3_1.PNG``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, pixels in zip(
        golden["inputs"]["file_names"], golden["inputs"]["raw_images"], strict=True
    ):
        Image.fromarray(pixels.numpy()).save(folder / name, format="PNG")
    return folder


def test_loader_crops_like_center_crop_arr_and_reads_labels_from_file_names(
    run: GoldenRun, tmp_path: Path
) -> None:
    inputs, config = run.main["inputs"], run.main["config"]
    items = find_images(write_raw_images(run.main, tmp_path / "in"))
    batch = torch.stack([read_image(item.path, 32, fit="adm-crop") for item in items])
    torch.testing.assert_close(batch, inputs["batch"], atol=0, rtol=0)
    pairs = class_pairs(config["source"], config["target"])
    assert all(skip_reason(item, pairs) is None for item in items)
    y_source, y_target = mapped_labels(items, pairs)
    assert y_source == inputs["y_source"].tolist()
    assert y_target == inputs["y_target"].tolist()


def test_schedule_is_the_reference_respacing(run: GoldenRun) -> None:
    schedule = pass_schedule()
    outputs = run.main["outputs"]
    assert schedule.timestep_map.tolist() == outputs["timestep_map"].tolist()
    alphas_cumprod = torch.from_numpy(schedule.arrays()["alphas_cumprod"])
    torch.testing.assert_close(
        alphas_cumprod, outputs["alphas_cumprod_respaced"], atol=1e-15, rtol=0
    )


def test_encoder_first_step_trajectory_and_latent(run: GoldenRun) -> None:
    trajectory, first = run.aux["outputs"]["trajectories"], run.aux["outputs"]["encode_first_step"]
    assert [int(step["t"]) for step in run.encode_steps] == list(range(STEPS))
    close(run.encode_steps[0]["denoised"], first["pred_xstart"], run.main)
    close(run.encode_steps[0]["x"], first["sample"], run.main)
    for k, step in enumerate(run.encode_steps):
        close(step["x"], trajectory["encode_x"][k], run.main)
    close(run.encode_steps[-1]["x"], run.main["outputs"]["latent"], run.main)


def test_classifier_logits_and_guidance_at_the_first_decode_step(run: GoldenRun) -> None:
    check = run.aux["outputs"]["classifier_check"]
    close(run.encode_steps[-1]["x"], check["x"], run.main)
    with torch.no_grad():
        close(run.classifier(check["x"], check["t"]), check["logits"], run.main)
    close(run.cond_grads[0], check["cond_grad"], run.main)
    energy = guidance(run.classifier, run.main["config"]["classifier_scale"])
    own = cond_grad(energy, check["x"], check["t"], check["y"])
    close(own, check["cond_grad"], run.main)


def test_decoder_clips_then_guides_at_the_first_step(run: GoldenRun) -> None:
    """Pitfall 5: x0 is clipped before guidance and not after it.

    At timestep 999, x0 = sqrt(1/abar) x - sqrt(1/abar - 1) eps amplifies float32 round-off in
    eps 157-fold, so both x0 estimates are compared through the eps they imply (the sampler's
    own ``eps_from_x0``), where the tolerance means what it says.
    """
    check = run.aux["outputs"]["classifier_check"]
    schedule = pass_schedule()
    tables = schedule.tables()
    x, t = check["x"], torch.full((len(check["x"]),), STEPS - 1)

    def implied_eps(x0: torch.Tensor) -> torch.Tensor:
        return eps_from_x0(tables, x, t, x0)

    with torch.no_grad():
        denoiser = run.unet.with_labels(check["y"])
        before = p_mean_variance(denoiser, tables, x, t, clip_denoised=True).pred_x0
    assert before.abs().max() <= 1
    close(implied_eps(before), implied_eps(check["pred_xstart_before_guidance"]), run.main)
    first = run.decode_steps[0]
    assert int(first["t"]) == STEPS - 1
    after, reference_after = first["denoised"], check["pred_xstart_after_guidance"]
    close(implied_eps(after), implied_eps(reference_after), run.main)
    # The guided x0 is not clipped again: wherever the reference's leaves [-1, 1] by more than
    # the eps comparison can blur (its tolerance carried to x0 by sqrt(1/abar - 1)), ours does.
    tolerance = run.main["tolerance"]
    eps_slack = tolerance["atol"] + tolerance["rtol"] * implied_eps(reference_after).abs()
    blur = tables.sqrt_recipm1_alphas_cumprod[STEPS - 1] * eps_slack
    outside = reference_after.abs() > 1 + blur
    assert (after.abs()[outside] > 1).all()
    close(first["x"], check["sample"], run.main)


def test_decoder_trajectory_guidance_and_final_sample(run: GoldenRun) -> None:
    trajectory, outputs = run.aux["outputs"]["trajectories"], run.main["outputs"]
    visited = [int(step["t"]) for step in run.decode_steps]
    assert visited == trajectory["decode_t"][:, 0].tolist()
    assert len(run.cond_grads) == STEPS  # guided at every decode step, k = 0 included
    for k, step in enumerate(run.decode_steps):
        close(step["x"], trajectory["decode_x"][k], run.main)
        close(run.cond_grads[k], trajectory["cond_grad"][k], run.main)
    close(run.sample, outputs["sample"], run.main)


def test_truncated_uint8_matches_the_saved_translation(run: GoldenRun) -> None:
    """Pitfall 16: the reference truncates; ours equals it up to one level at boundaries."""
    truncated = ((run.sample + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    expected = run.main["outputs"]["sample_uint8"]
    difference = (truncated.int() - expected.int()).abs().max()
    assert difference <= run.main["tolerance"]["uint8_max_diff"]


def test_guidance_moves_the_sample_as_much_as_the_reference(run: GoldenRun) -> None:
    """Scale 0 changes the final sample by the reference's recorded guidance effect.

    Both samples may each lie ``atol + rtol |x|`` from the reference's, so their largest
    difference may move by twice that.
    """
    inputs, config = run.main["inputs"], run.main["config"]
    schedule = pass_schedule()
    unguided = ddib_translate(
        run.unet.with_labels(inputs["y_source"]),
        run.unet.with_labels(inputs["y_target"]),
        inputs["batch"],
        schedule,
        solver="ddim",
        noise=RecordedNoise(run.main["noise"]),
        clip_denoised=config["clip_denoised_decode"],
    ).result
    effect = (run.sample - unguided).abs().max().item()
    tolerance = run.main["tolerance"]
    magnitude = torch.maximum(run.sample.abs(), unguided.abs()).max().item()
    slack = 2 * (tolerance["atol"] + tolerance["rtol"] * magnitude)
    assert effect == pytest.approx(run.main["outputs"]["guidance_effect_max_abs"], rel=0, abs=slack)


def tiny_run_config(run: GoldenRun, path: Path) -> Path:
    """A settings file running the golden networks from their files through ``i2i``."""
    config = run.main["config"]
    lines = [
        'backbone = "adm-unet"',
        f'checkpoint = "{run.unet_file}"',
        "clip_denoised = true",
        'solver = "ddim"',
        f"steps = {STEPS}",
        f'source = "{config["source"]}"',
        f'target = "{config["target"]}"',
        "",
        "[model]",
        *_toml_table(unet_settings(config)),
        "",
        "[[energy]]",
        'name = "classifier"',
        f"weight = {config['classifier_scale']}",
        f'checkpoint = "{run.classifier_file}"',
        'preset = ""',
        "",
        "[energy.model]",
        *_toml_table(classifier_settings(config)),
    ]
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())  # a broken file would fail here, not in the CLI
    return path


def _toml_table(values: Mapping[str, Any]) -> list[str]:
    """``key = value`` lines of a flat table of booleans, numbers and strings."""
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        else:
            lines.append(f"{key} = {value}")
    return lines


def test_cli_translation_writes_the_reference_images(run: GoldenRun, tmp_path: Path) -> None:
    """``i2i translate ddib`` on the golden files and weights gives the saved translations."""
    source = write_raw_images(run.main, tmp_path / "in")
    out = tmp_path / "out"
    result = run_i2i(
        [
            "translate",
            "ddib",
            "--device",
            "cpu",
            "--config",
            str(tiny_run_config(run, tmp_path / "golden.toml")),
            "--input",
            str(source),
            "--output",
            str(out),
        ],
    )
    assert result.returncode == 0, result.stderr
    expected = run.main["outputs"]["sample_uint8"].int().numpy()
    for index, name in enumerate(run.main["inputs"]["file_names"]):
        written = np.asarray(Image.open(out / f"{Path(name).stem}.png"), dtype=np.int32)
        # rounding (ours) vs truncation (reference): at most one level apart
        assert np.abs(written - expected[index]).max() <= 1
