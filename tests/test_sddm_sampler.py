"""SDDM's sampler and manifold steps: per-item results, projections onto the manifolds, and the
Frank-Wolfe min-norm point, on tiny random networks (the reference replays are in parity/)."""

from __future__ import annotations

import pytest
import torch

from i2i_adm.build import build_unet
from i2i_adm.settings import AdmUNetSettings
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.guidance import WeightedEnergy
from i2i_cli.diffusion.noise import PerItemNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_sddm.blocks import block_moments
from i2i_sddm.energy import vgg_adain_energy
from i2i_sddm.manifold import Moments, diffused_moments, frank_wolfe_min_norm, split_on_manifold
from i2i_sddm.score_decomposition import ManifoldGuidance, project_to_level, sample_sddm
from i2i_sddm.vgg import AdaINEncoder
from tests.tiny_models import TINY_ADM_UNET

KEYS = ["a", "b", "c"]


def seeded(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return module.eval()


@pytest.fixture(scope="module")
def tiny() -> dict:
    unet = seeded(build_unet(AdmUNetSettings(**TINY_ADM_UNET, learn_sigma=True)), 0)
    encoder = seeded(AdaINEncoder(level=1, layers="used"), 1)
    references = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    return {
        "denoiser": DiscreteDenoiser(unet, ModelSpec(learned_variance=True)),
        "energies": [WeightedEnergy("vgg-adain", 25.0, vgg_adain_energy(encoder, 4))],
        "references": references,
        "schedule": DiscreteSchedule.named("linear", 1000, "6"),
    }


def run(tiny: dict, references: torch.Tensor, keys: list[str], **guidance: object) -> dict:
    steps: list[dict] = []
    sample = sample_sddm(
        tiny["denoiser"],
        references,
        tiny["schedule"],
        guidance=ManifoldGuidance(**{"area": 4, "range_t": 2, **guidance}),  # type: ignore[arg-type]
        energies=tiny["energies"],
        noise=PerItemNoise(7, keys),
        callback=steps.append,
    )
    return {"sample": sample, "steps": steps}


def test_a_batch_gives_each_item_what_a_run_of_one_gives_it(tiny: dict) -> None:
    batch = run(tiny, tiny["references"], KEYS)["sample"]
    for k, key in enumerate(KEYS):
        single = run(tiny, tiny["references"][k : k + 1], [key])["sample"]
        torch.testing.assert_close(batch[k : k + 1], single, atol=1e-5, rtol=1e-5)


def test_each_conditioned_step_ends_on_the_next_manifold(tiny: dict) -> None:
    references = tiny["references"]
    steps = run(tiny, references, KEYS)["steps"]
    tables = tiny["schedule"].tables()
    reference = Moments(*block_moments(references, 4))
    for info in steps:
        if info["t"] <= 2:
            continue
        t = torch.full((3,), info["t"] - 1, dtype=torch.long)
        level = diffused_moments(tables, reference, t)
        mean, std = block_moments(info["x"], 4)
        torch.testing.assert_close(mean, level.mean, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(std, level.std, atol=1e-4, rtol=1e-3)


def test_the_tangent_part_keeps_the_block_moments_to_first_order(tiny: dict) -> None:
    tables = tiny["schedule"].tables()
    references = tiny["references"]
    reference = Moments(*block_moments(references, 4))
    t = torch.full((3,), 4, dtype=torch.long)
    generator = torch.Generator().manual_seed(3)
    start = torch.randn(3, 3, 32, 32, generator=generator)
    x = project_to_level(tables, start, reference, t, 4).double()
    direction = torch.randn(3, 3, 32, 32, generator=generator, dtype=torch.float64)
    level = Moments(*(m.double() for m in block_moments(x, 4)))
    tangent, normal = split_on_manifold(x, direction, level.mean, 4)
    torch.testing.assert_close(tangent + normal, direction)
    step = 1e-4

    def moment_change(move: torch.Tensor) -> torch.Tensor:
        mean, std = block_moments(x + step * move, 4)
        return torch.stack([(mean - level.mean).abs().max(), (std - level.std).abs().max()])

    along, raw = moment_change(tangent), moment_change(direction)
    assert (along < 1e-2 * raw).all(), (along, raw)


def test_frank_wolfe_reaches_the_min_norm_point_of_two_vectors() -> None:
    generator = torch.Generator().manual_seed(4)
    u, v = torch.randn(2, 1, 1, 64, generator=generator)
    point = frank_wolfe_min_norm(torch.stack([u, v], dim=2), 2)
    gamma = ((v - u) * v).sum() / ((u - v) ** 2).sum()
    exact = gamma.clamp(0, 1) * u + (1 - gamma.clamp(0, 1)) * v
    torch.testing.assert_close(point, exact, atol=1e-5, rtol=1e-5)


def test_frank_wolfe_per_item_stopping_matches_single_problems() -> None:
    objectives = torch.randn(4, 3, 3, 50, generator=torch.Generator().manual_seed(5))
    together = frank_wolfe_min_norm(objectives, 2)
    for k in range(4):
        alone = frank_wolfe_min_norm(objectives[k : k + 1], 2, batch_coupled=True)
        torch.testing.assert_close(together[k : k + 1], alone, atol=1e-6, rtol=1e-6)


def test_a_block_count_that_does_not_tile_the_image_is_refused(tiny: dict) -> None:
    with pytest.raises(ValueError, match="5 blocks per side do not tile a 32x32 image"):
        run(tiny, tiny["references"], KEYS, area=5)
