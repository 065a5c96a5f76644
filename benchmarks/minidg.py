"""DG's row of the mini-benchmark: the target model sampled with and without the discriminator.

It runs ``i2i sample dg`` itself, in this process: the discrete adm-unet is read as
D(x; sigma) by the sigma-time adapter (``i2i_cli.run.seed_sampling.SigmaNet.of_discrete``,
k-diffusion's OpenAIDenoiser), EDM's grid (eq. 5) is clamped to the process's
[sigma_0, sigma_{T-1}], and the ``discriminator`` energy is the trained head on its frozen
extractor (the mini DSE, whose middle block plays the ADM classifier's part). ``w1 = 0`` is
plain EDM Heun sampling; the same seeds give the same start noise with any ``w1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from minimethods import DSE, DSE_PRESET, HEAD, HEAD_PRESET, unet
from PIL import Image


def dg_settings(models: Mapping[str, Path], *, w1: float, steps: int) -> dict[str, object]:
    """The ``i2i sample dg`` settings (``--config`` TOML) on the mini models."""
    discriminator = {
        "preset": HEAD_PRESET,
        "model": dict(HEAD),
        "checkpoint": str(models["discriminator"]),
        "extractor_preset": DSE_PRESET,
        "extractor_model": dict(DSE),
        "extractor_checkpoint": str(models["dse"]),
    }
    return {
        **unet(models["diffusion_b"]),
        "steps": steps,
        "w1": w1,
        "clip_denoised": True,
        "discriminator": discriminator,
    }


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

    ``i2i sample dg`` writes them to ``output/w1_<w1>`` (replaced on every call).
    """
    from minibench import run_i2i, write_config

    folder = output / f"w1_{w1:g}"
    config = write_config(output / f"dg_w1_{w1:g}.toml", dg_settings(models, w1=w1, steps=steps))
    run_i2i(
        ["sample", "dg", "--config", str(config), "--num-samples", str(count)],
        ["--batch-size", str(batch_size), "--device", "cpu", "--overwrite"],
        ["--output", str(folder)],
    )
    files = sorted(folder.glob("[0-9]*.png"))
    return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in files])
