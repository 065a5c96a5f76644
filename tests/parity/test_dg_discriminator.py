"""DG's discriminator vs ``classifier_lib.py`` (dg_discriminator.pt, dg_official_shapes.pt).

The frozen extractor is the ADM ``adm-classifier`` backbone reached through the core; the head
is i2i_dg's own. Gradients and scores (``-(sigma^2 m) grad_vp``, up to 430 at sigma = 80) are
float32 backward passes whose rounding scales with their size: their absolute tolerance is the
file's times each item's largest value (at least 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.networks.backbones import load_backbone, load_state_dict_strictly
from i2i_dg.discriminator import Discriminator, grad_log_ratio, vp_input
from i2i_dg.head import DiscriminatorHead, HeadConfig
from i2i_dg.vpsde import compute_tau, marginal_prob, t_cos_from_t_lin
from tests.parity.test_ddib_image import classifier_settings


def load(golden_dir: Path, name: str) -> dict[str, Any]:
    """The golden file ``name``.pt."""
    return torch.load(golden_dir / f"{name}.pt", weights_only=True)


def extractor_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``adm-classifier`` settings for DG's ``create_classifier`` kwargs (guided-diffusion's)."""
    return classifier_settings({"classifier_EncoderUNetModel": kwargs})


def head_config(kwargs: dict[str, Any]) -> HeadConfig:
    """Our head config for DG's head kwargs."""
    return HeadConfig(
        image_size=kwargs["image_size"],
        in_channels=kwargs["in_channels"],
        model_channels=kwargs["model_channels"],
        out_channels=kwargs["out_channels"],
        num_res_blocks=kwargs["num_res_blocks"],
        attention_resolutions=tuple(kwargs["attention_resolutions"]),
        channel_mult=tuple(kwargs["channel_mult"]),
        num_head_channels=kwargs["num_head_channels"],
        condition=bool(kwargs["condition"]),
        num_class=kwargs.get("num_class", 1000),
    )


def discriminator_case(golden_dir: Path, case: str) -> tuple[Any, Any, Any, Discriminator]:
    """(tolerance, inputs, outputs, our discriminator) of golden case ``uncond``/``cond``."""
    golden = load(golden_dir, "dg_discriminator")
    disc = golden_discriminator(golden["config"], golden["state_dict"], f"discriminator_{case}")
    return golden["tolerance"], golden["inputs"][case], golden["outputs"][case], disc


def golden_discriminator(config: dict[str, Any], state: dict[str, Any], head: str) -> Discriminator:
    """The golden extractor (through the core) and head ``head``, weights loaded strictly."""
    extractor = load_backbone(
        "adm-classifier", overrides=extractor_overrides(config["classifier"])
    ).module
    load_state_dict_strictly(extractor, state["classifier"], "golden classifier")
    network = DiscriminatorHead(head_config(config[head]))
    load_state_dict_strictly(network, state[head], f"golden {head}")
    return Discriminator(extractor, network).eval().requires_grad_(False)


def close(
    actual: torch.Tensor, expected: torch.Tensor, tol: dict[str, Any], scale: Any = None
) -> None:
    """|actual - expected| <= atol + rtol |expected|, or with an item ``scale``
    (atol + rtol) * max(|expected|, scale), same dtype.

    A float32 backward pass rounds every element relative to the whole pass's magnitude, not
    its own: with ``scale`` an item's largest value, a small element of a large gradient may be
    off by rtol of that largest value.
    """
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if scale is None:
        bound = tol["atol"] + tol["rtol"] * expected.abs()
    else:
        size = torch.maximum(expected.abs(), torch.as_tensor(scale, dtype=expected.dtype))
        bound = tol["atol"] * scale + tol["rtol"] * size
    assert bool(((actual - expected).abs() <= bound).all()), (actual - expected).abs().max()


def item_scale(expected: torch.Tensor) -> torch.Tensor:
    """max(1, max |expected| of each item): float32 gradients round relative to their size."""
    return expected.abs().amax(dim=tuple(range(1, expected.ndim)), keepdim=True).clamp(min=1)


def score_scale(sigma: torch.Tensor) -> torch.Tensor:
    """sigma^2 m(tau(sigma)) per item, broadcast over images: the score's gradient factor."""
    mean, _ = marginal_prob(compute_tau(sigma))
    return (sigma**2 * mean).reshape(-1, 1, 1, 1)


def test_vpsde_time_map(golden_dir: Path) -> None:
    """compute_tau, marginal_prob and t_cos_from_t_lin in float64 (dg.md §5.1)."""
    golden = load(golden_dir, "dg_discriminator")
    out = golden["outputs"]["vpsde"]
    tau = compute_tau(out["sigma"])
    mean, std = marginal_prob(tau)
    for ours, key in [(tau, "tau"), (mean, "mean"), (std, "std")]:
        torch.testing.assert_close(ours, out[key], atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(t_cos_from_t_lin(tau), out["t_cos_from_t_lin"], atol=1e-9, rtol=0)


@pytest.mark.parametrize("case", ["uncond", "cond"])
def test_discriminator_and_log_ratio_gradient(golden_dir: Path, case: str) -> None:
    """Features, logits, prediction, log-ratio, its VP gradient and the returned g (§5.2)."""
    tol, inputs, out, disc = discriminator_case(golden_dir, case)
    x, sigma, labels = inputs["x"], inputs["sigma"], inputs["class_labels"]
    resolution = inputs["img_resolution"]
    x_vp, tau, mean = vp_input(x, sigma, resolution)
    torch.testing.assert_close(tau, out["tau"], atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(mean, out["mean_vp_tau"], atol=1e-12, rtol=1e-10)
    close(x_vp, out["x_vp"], tol)
    torch.testing.assert_close(999 * tau, out["timesteps_fed_to_networks"], atol=1e-9, rtol=0)
    with torch.no_grad():
        close(disc.features(x_vp, tau), out["features"], tol)
        logits = disc(x_vp, tau, labels)
    close(logits, out["disc_logit"], tol)
    close(torch.sigmoid(logits).reshape(-1), out["prediction"], tol)
    window = {"time_min": inputs["time_min"], "time_max": inputs["time_max"]}
    score, log_ratio = grad_log_ratio(
        disc, x, sigma, labels=labels, img_resolution=resolution, **window
    )
    close(log_ratio, out["log_ratio"], tol)
    grad_vp = out["grad_log_ratio_wrt_x_vp"]
    close(score / -score_scale(sigma).float(), grad_vp, tol, item_scale(grad_vp))
    expected = out["discriminator_guidance_score"]
    close(score, expected, tol, item_scale(expected))


@pytest.mark.parametrize("case", ["uncond", "cond"])
def test_time_window_uses_the_batch_minimum(golden_dir: Path, case: str) -> None:
    """One item below time_min, or the smallest tau above time_max: zeros and 1e7 for all."""
    tol, inputs, out, disc = discriminator_case(golden_dir, case)
    x, labels, resolution = inputs["x"], inputs["class_labels"], inputs["img_resolution"]
    score, log_ratio = grad_log_ratio(
        disc, x, out["mixed_window_sigma"], labels=labels, img_resolution=resolution
    )
    assert torch.equal(score, out["mixed_window_score"])
    assert torch.equal(log_ratio, out["mixed_window_log_ratio"])
    sigma = out["high_sigma"]
    for time_max, key in [(0.5, "0p5"), (0.6, "0p6")]:
        score, log_ratio = grad_log_ratio(
            disc, x, sigma, time_max=time_max, labels=labels, img_resolution=resolution
        )
        expected = out[f"high_sigma_time_max_{key}_score"]
        close(score, expected, tol, item_scale(expected))
        close(log_ratio, out[f"high_sigma_time_max_{key}_log_ratio"], tol)


@pytest.mark.parametrize(
    ("preset", "released"),
    [
        ("cifar10_uncond", "DG/checkpoints/discriminator/cifar_uncond/discriminator_60.pt"),
        ("cifar10_cond", "DG/checkpoints/discriminator/cifar_cond/discriminator_250.pt"),
        ("imagenet_cond", "DG_imagenet/pretrained_models/discriminator/discriminator_7.pt"),
    ],
)
def test_official_head_presets_have_the_released_keys(
    golden_dir: Path, preset: str, released: str
) -> None:
    """Each head preset builds exactly the key -> shape map and size of DG's released file."""
    outputs = load(golden_dir, "dg_official_shapes")["outputs"]
    head = load_backbone("dg-discriminator", preset=preset).module
    ours = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert ours == {k: tuple(v) for k, v in outputs["shapes"][released].items()}
    assert sum(p.numel() for p in head.parameters()) == outputs["param_counts"][released]
