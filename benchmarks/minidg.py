"""DG's row of the mini-benchmark: the target model sampled with and without the discriminator.

``i2i sample dg`` runs EDM networks only: it refuses a backbone that is not a sigma-time
denoiser D(x; sigma) (``i2i_cli.seed_sampling.SigmaNet.of``), so it cannot take the discrete
adm-unet. This module does the same computation through i2i's parts instead: the adm-unet read
as D(x; sigma) by ``i2i_cli.diffusion.sigma_time.IndexToSigma`` (k-diffusion's OpenAIDenoiser),
EDM's grid (``karras_sigmas``, eq. 5) clamped to the process's [sigma_0, sigma_{T-1}],
``i2i_dg.sampler.sample_dg`` (EDM-G++, first-order term, no boosting) and the ``discriminator``
energy of ``i2i_dg`` built from the trained head and its frozen extractor (the mini DSE, whose
middle block plays the ADM classifier's part). ``w1 = 0`` is plain EDM Heun sampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from minimethods import DSE, DSE_PRESET, HEAD, HEAD_PRESET, unet


def dg_samples(
    models: Mapping[str, Path],
    count: int,
    *,
    w1: float,
    steps: int = 18,
    batch_size: int = 64,
    output: Path,
) -> np.ndarray:
    """``count`` uint8 (N, H, W, 3) samples of the target model, seeds 0 .. count-1.

    The same seeds give the same start noise with any ``w1``; ``output`` is the run folder
    i2i's context needs (nothing is written there).
    """
    from i2i_cli.context import open_context
    from i2i_cli.diffusion.denoiser import DiscreteDenoiser
    from i2i_cli.diffusion.karras import karras_sigmas
    from i2i_cli.diffusion.sigma_time import IndexToSigma
    from i2i_cli.model_choice import BackboneChoice, load_for_run
    from i2i_cli.noise import SeedNoise
    from i2i_cli.run_settings import SampleRun
    from i2i_dg.energy import build_discriminator_energy
    from i2i_dg.sampler import sample_dg
    from i2i_dg.settings import DiscriminatorEnergySettings

    run = SampleRun(output=output, device="cpu", seed=0)
    with open_context("sample", "minibench-dg", None, run, output) as ctx:
        loaded = load_for_run(BackboneChoice(**unet(models["diffusion_b"])), ctx)
        adapter = IndexToSigma.for_denoiser(DiscreteDenoiser(loaded.module, loaded.spec))

        def denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            return adapter(x.float(), sigma).double()

        sigmas = karras_sigmas(steps, max(0.002, adapter.sigma_min), min(80.0, adapter.sigma_max))
        discriminator = None
        if w1:
            settings = DiscriminatorEnergySettings(
                preset=HEAD_PRESET,
                model=dict(HEAD),
                checkpoint=str(models["discriminator"]),
                extractor_preset=DSE_PRESET,
                extractor_model=dict(DSE),
                extractor_checkpoint=str(models["dse"]),
            )
            discriminator = build_discriminator_energy(settings, ctx)
        images = []
        shape = tuple(loaded.spec.input_shape)
        for start in range(0, count, batch_size):
            keys = [f"{k:06d}" for k in range(start, min(count, start + batch_size))]
            noise = SeedNoise(0, keys)
            latents = noise.randn((len(keys), *shape)).to(torch.float64)
            x = sample_dg(
                denoiser,
                latents * sigmas[0],
                sigmas,
                discriminator=discriminator,
                w1=w1,
                noise=noise,
            )
            pixels = (x * 127.5 + 128).clip(0, 255).to(torch.uint8)
            images.append(pixels.permute(0, 2, 3, 1).numpy())
    return np.concatenate(images)
