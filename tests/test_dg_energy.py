"""The ``discriminator`` energy: DG's correction guiding the core's Heun sampler (dg.md §4).

A tiny random discriminator (a seeded ``adm-classifier`` trunk and ``dg-discriminator`` head,
built and loaded through the core) guides ``sample_heun`` on the analytic Gaussian denoiser
with no DG code in the sampler: the guided derivative at x_hat must be DG's
``d += w1 g / t_hat`` with g = ``grad_log_ratio`` = -sigma^2 grad log d/(1-d).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy, bind
from i2i_cli.diffusion.karras import sample_heun
from i2i_cli.diffusion.noise import GeneratorNoise
from i2i_cli.networks.backbones import backbone_settings, load_backbone
from i2i_dg.discriminator import Discriminator, grad_log_ratio
from i2i_dg.energy import build_discriminator_energy, discriminator_energy
from i2i_dg.settings import DiscriminatorEnergySettings
from tests.analytic_gaussian import GaussianSigmaDenoiser, exact_denoised
from tests.toy_training import make_context

EXTRACTOR = {
    "image_size": 8,
    "in_channels": 3,
    "out_channels": 4,
    "width": 32,
    "depth": 1,
    "channel_mult": "1",
    "attention_resolutions": "",
    "num_head_channels": 32,
}
HEAD = {
    "image_size": 8,
    "in_channels": 32,
    "width": 32,
    "depth": 1,
    "attention_rates": "1",
    "num_head_channels": 32,
    "num_class": 10,
}


def seeded_weights(backbone: str, overrides: dict[str, Any], path: Path, seed: int) -> Path:
    """A state-dict file of seeded weights as the golden files draw them (dg.md §10).

    Matrices N(0, 1/fan_in), norm gains 1 + 0.1 N, other vectors 0.1 N: no layer is zero, so
    the discriminator's log-ratio really depends on its input.
    """
    descriptor, settings = backbone_settings(backbone, None, overrides)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in descriptor.build(settings).state_dict().items():
        noise = torch.randn(value.shape, generator=generator)
        if value.ndim >= 2:
            state[key] = noise / math.sqrt(value[0].numel())
        elif key.endswith("weight"):
            state[key] = 1 + 0.1 * noise
        else:
            state[key] = 0.1 * noise
    torch.save(state, path)
    return path


def tiny_files(tmp_path: Path, condition: bool = False) -> tuple[Path, Path]:
    """Seeded random weights of the tiny extractor and head, as state-dict files."""
    extractor = seeded_weights("adm-classifier", EXTRACTOR, tmp_path / "extractor.pt", seed=1)
    head_overrides = {**HEAD, "condition": condition}
    head = seeded_weights("dg-discriminator", head_overrides, tmp_path / "head.pt", seed=2)
    return extractor, head


def tiny_discriminator(tmp_path: Path, condition: bool = False) -> Discriminator:
    """The tiny discriminator, both parts loaded strictly through ``load_backbone``."""
    extractor_file, head_file = tiny_files(tmp_path, condition)
    extractor = load_backbone("adm-classifier", overrides=EXTRACTOR, checkpoint=extractor_file)
    head = load_backbone(
        "dg-discriminator", overrides={**HEAD, "condition": condition}, checkpoint=head_file
    )
    return Discriminator(extractor.module, head.module).eval()  # type: ignore[arg-type]


def guided_first_step(
    energies: list[WeightedEnergy], x: torch.Tensor, sigmas: torch.Tensor
) -> dict[str, Any]:
    """The callback record of ``sample_heun``'s first step on the analytic denoiser."""
    steps: list[dict[str, Any]] = []
    sample_heun(
        GaussianSigmaDenoiser(),
        x,
        sigmas,
        energies=energies,
        noise=GeneratorNoise(0),
        callback=steps.append,
    )
    return steps[0]


@pytest.mark.parametrize("condition", [False, True])
def test_guided_heun_step_is_dgs_first_order_term(tmp_path: Path, condition: bool) -> None:
    """(x_hat - D')/t_hat == (x_hat - D)/t_hat + w1 g / t_hat, g from grad_log_ratio."""
    disc = tiny_discriminator(tmp_path, condition)
    w1, sigma = 2.0, 2.0
    x = sigma * torch.randn((3, 3, 8, 8), generator=torch.Generator().manual_seed(5))
    x = x.double()
    labels = torch.tensor([1, 7, 3])
    energy = discriminator_energy(disc, cond=condition, img_resolution=8)
    energies = bind([WeightedEnergy("discriminator", w1, energy)], labels=labels)
    step = guided_first_step(energies, x, torch.tensor([sigma, 1.0, 0.0], dtype=torch.float64))
    assert step["sigma_hat"] == sigma
    sigma_vec = torch.full((3,), sigma, dtype=torch.float64)
    g, log_ratio = grad_log_ratio(disc, x, sigma_vec, labels=labels if condition else None)
    assert (log_ratio != 1e7).all() and g.abs().max() > 0
    guided_d = (x - step["denoised"]) / sigma
    reference_d = (x - exact_denoised(x, sigma_vec)) / sigma + w1 * g.double() / sigma
    term = w1 * g.double().abs().max() / sigma
    torch.testing.assert_close(guided_d, reference_d, atol=1e-5 * float(term), rtol=0)


def test_outside_the_time_window_the_energy_does_not_guide(tmp_path: Path) -> None:
    """tau(sigma) < time_min for any item: the energy is constant, the run unguided."""
    disc = tiny_discriminator(tmp_path)
    energy = discriminator_energy(disc, time_min=0.5, img_resolution=8)
    x = torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sigmas = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)
    guided = guided_first_step([WeightedEnergy("discriminator", 1.0, energy)], 2 * x, sigmas)
    plain = guided_first_step([], 2 * x, sigmas)
    assert torch.equal(guided["denoised"], plain["denoised"])
    value = energy(x.float(), GuidanceState(sigma=torch.tensor([2.0, 0.01])))
    assert torch.equal(value, torch.full((2,), -1e7))


def test_conditional_energy_needs_labels_and_sigma(tmp_path: Path) -> None:
    """A conditional head without labels, or any head without sigma: one usage line."""
    disc = tiny_discriminator(tmp_path, condition=True)
    x = torch.zeros((1, 3, 8, 8))
    with pytest.raises(UsageError, match="needs labels"):
        discriminator_energy(disc, cond=True)(x, GuidanceState(sigma=torch.ones(1)))
    with pytest.raises(UsageError, match="needs sigma"):
        discriminator_energy(disc)(x, GuidanceState())


def test_energy_builds_from_its_settings(tmp_path: Path) -> None:
    """The energy's settings name both checkpoints; its value is -log d/(1-d)."""
    extractor_file, head_file = tiny_files(tmp_path)
    settings = DiscriminatorEnergySettings(
        preset=None,
        model=HEAD,
        checkpoint=str(head_file),
        extractor_preset=None,
        extractor_model=EXTRACTOR,
        extractor_checkpoint=str(extractor_file),
    )
    energy = build_discriminator_energy(settings, make_context(tmp_path / "run"))
    x = torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sigma = torch.tensor([1.5, 3.0], dtype=torch.float64)
    _, log_ratio = grad_log_ratio(tiny_discriminator(tmp_path), x, sigma)
    value = energy(x.float(), GuidanceState(sigma=sigma))
    torch.testing.assert_close(value, -log_ratio, atol=1e-5, rtol=1e-5)


def test_a_fresh_head_is_seeded_without_touching_the_global_rng() -> None:
    """Two fresh heads are equal, and building one leaves torch's global RNG as it was."""
    state = torch.random.get_rng_state()
    first = load_backbone("dg-discriminator", overrides=HEAD).module.state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    second = load_backbone("dg-discriminator", overrides=HEAD).module.state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)
