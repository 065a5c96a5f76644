"""EGSDE's extractor energy and full sampling loops against the reference (golden egsde_*.pt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_adm.build import build_classifier, build_unet
from i2i_adm.settings import AdmClassifierSettings, AdmUNetSettings
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, energy_gradient
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.io.resizer import LowPassFilter
from i2i_cli.networks.backbones import load_state_dict_strictly
from i2i_ddpm.build import build_unet as build_ddpm
from i2i_ddpm.settings import DdpmUNetSettings
from i2i_egsde.energies import positionwise_cosine, squared_distance
from i2i_egsde.energy_guided_sde import sample_egsde


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


def close(actual: torch.Tensor, expected: torch.Tensor, tol: dict[str, float]) -> None:
    torch.testing.assert_close(actual, expected, atol=tol["atol"], rtol=tol["rtol"])


def dse_from(kwargs: dict[str, Any], state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The extractor from its exact EncoderUNetModel arguments, loaded strictly."""
    size = kwargs["image_size"]
    settings = AdmClassifierSettings(
        image_size=size,
        in_channels=kwargs["in_channels"],
        out_channels=kwargs["out_channels"],
        width=kwargs["model_channels"],
        depth=kwargs["num_res_blocks"],
        channel_mult=",".join(str(m) for m in kwargs["channel_mult"]),
        attention_resolutions=",".join(str(size // r) for r in kwargs["attention_resolutions"]),
        num_head_channels=kwargs["num_head_channels"],
        use_scale_shift_norm=kwargs["use_scale_shift_norm"],
        resblock_updown=kwargs["resblock_updown"],
        pool=kwargs["pool"],
        head_name="I2Iout",
    )
    model = build_classifier(settings).eval()
    load_state_dict_strictly(model, state, "golden extractor")
    return model


def test_dse_features_logits_similarities_and_gradient(golden_dir: Path) -> None:
    golden = load(golden_dir, "egsde_dse")
    model = dse_from(golden["config"]["dse_kwargs"], golden["state_dict"])
    inputs, outputs, tol = golden["inputs"], golden["outputs"], golden["tolerance"]
    with torch.no_grad():
        features = model.features(inputs["x"], inputs["t"])
        features_xt = model.features(inputs["xt"], inputs["t"])
        close(features, outputs["features"], tol)
        close(features_xt, outputs["features_xt"], tol)
        close(model(inputs["x"], inputs["t"]), outputs["logits"], tol)
        close(positionwise_cosine(features, features_xt), outputs["cosine"], tol)
        close(-squared_distance(features, features_xt), outputs["neg_l2"], tol)
    x = inputs["x"].clone().requires_grad_(True)
    cosine = positionwise_cosine(model.features(x, inputs["t"]), features_xt)
    (gradient,) = torch.autograd.grad(cosine.sum(), x)
    close(gradient, outputs["grad_cosine"], tol["per_output"]["grad_cosine"])


def score_model(golden: dict[str, Any]) -> DiscreteDenoiser:
    """The golden run's score network as a denoiser (ADM or DDPM)."""
    config = golden["config"]
    if "ddpm_yml_model" in config:
        yml = config["ddpm_yml_model"]
        settings = DdpmUNetSettings(
            resolution=config["yml"]["data"]["image_size"],
            ch=yml["ch"],
            ch_mult=yml["ch_mult"],
            num_res_blocks=yml["num_res_blocks"],
            attn_resolutions=yml["attn_resolutions"],
        )
        model = build_ddpm(settings)
        prediction = ModelSpec(learned_variance=False)
    else:
        flags = {k: v for k, v in config["create_model_kwargs"].items() if k != "num_class"}
        model = build_unet(AdmUNetSettings(**flags))
        prediction = ModelSpec(learned_variance=flags["learn_sigma"])
    load_state_dict_strictly(model.eval(), golden["state_dict"]["model"], "golden score model")
    return DiscreteDenoiser(model, prediction)


def golden_energies(golden: dict[str, Any], ls: float, li: float) -> list[WeightedEnergy]:
    """The reference's realism (cosine) and faithfulness (low-pass l2) energies."""
    extractor = dse_from(golden["config"]["dse_kwargs"], golden["state_dict"]["dse"])
    size = golden["inputs"]["x0"].shape[-1]
    low_pass = LowPassFilter(size, size, golden["config"]["args"]["down_N"], "linear")

    def realism(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        with torch.no_grad():
            source = extractor.features(state.perturbed_source, state.t)
        return positionwise_cosine(extractor.features(y, state.t), source)

    def faithfulness(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        return squared_distance(low_pass(state.perturbed_source), low_pass(y))

    return [WeightedEnergy("dse", ls, realism), WeightedEnergy("lowpass", li, faithfulness)]


CASES = [
    ("egsde_sample_adm", "egsde_ref_weights"),
    ("egsde_sample_adm", "egsde_strong"),
    ("egsde_sample_ddpm", "egsde_ref_weights"),
    ("egsde_sample_ddpm", "egsde_strong"),
    ("egsde_sample_sdedit", "sdedit"),
]


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_full_loop_replays_the_recorded_noise(golden_dir: Path, name: str, variant: str) -> None:
    golden = load(golden_dir, name)
    expected, tol = golden["outputs"][variant], golden["tolerance"]
    denoiser = score_model(golden)
    energies = golden_energies(golden, expected.get("ls", 0.0), expected.get("li", 0.0))
    energies = [energy for energy in energies if energy.weight]
    noise = RecordedNoise(golden["noise"])
    steps: list[int] = []
    y = sample_egsde(
        denoiser,
        golden["inputs"]["x0"],
        DiscreteSchedule.named("linear", 1000),
        start_step=golden["config"]["args"]["t"],
        energies=energies,
        noise=noise,
        callback=lambda info: steps.append(info["t"]),
    )
    noise.assert_exhausted()
    assert steps == [int(t) for t in expected["t_sequence"]]
    close(y, expected["y_final"], tol)
    png = ((y.clamp(-1, 1) + 1) / 2 * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    assert (png.permute(0, 2, 3, 1).int() - expected["saved_png_uint8"].int()).abs().max() <= 1


def test_mid_step_energy_gradients_match(golden_dir: Path) -> None:
    golden = load(golden_dir, "egsde_sample_adm")
    expected, tol = golden["outputs"]["egsde_ref_weights"], golden["tolerance"]
    realism, faithfulness = golden_energies(golden, 1.0, 1.0)
    schedule = DiscreteSchedule.named("linear", 1000).tables()
    x0, e = golden["inputs"]["x0"], golden["noise"][0]
    step = golden["config"]["args"]["t"] - 1 - expected["mid_step_index"]
    t = torch.full((len(x0),), step)
    state = GuidanceState(
        x0,
        schedule.sqrt_alphas_cumprod[step] * x0 + schedule.sqrt_one_minus_alphas_cumprod[step] * e,
        t,
    )
    y = expected["y_before_mid_step"]
    close(energy_gradient([realism], y, state), expected["mid_step_grad_ls"], tol)
    close(energy_gradient([faithfulness], y, state), expected["mid_step_grad_li"], tol)
