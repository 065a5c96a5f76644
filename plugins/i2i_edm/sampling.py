"""``i2i sample edm``: EDM's ``generate.py`` on a sigma-time backbone, one generator per seed.

Per batch of seeds (dg.md §3): latents then, for a conditional network, a label from each
seed's generator (``i2i_cli.seeds.draw_start``); the Heun sampler
(``i2i_cli.diffusion.karras.sample_heun``) runs in float64 from ``latents.to(float64) *
sigma_0`` and draws every step's Gaussian from those generators too, so seed ``k`` gives EDM's
image ``k`` whatever the batch size or rank. Images are EDM's uint8 (``i2i_cli.seeds``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from i2i_cli.diffusion.denoiser import SigmaProcess
from i2i_cli.diffusion.karras import RoundSigma, karras_sigmas, sample_heun
from i2i_cli.errors import UsageError
from i2i_cli.model_choice import load_for_run
from i2i_cli.noise import SeedNoise
from i2i_cli.progress import StepCallback, no_step
from i2i_cli.seeds import SeedBatch, draw_start, edm_image, sample_seeds
from i2i_edm.method_settings import EdmSampleSettings

if TYPE_CHECKING:
    from torch import nn

    from i2i_cli.backbones import LoadedBackbone
    from i2i_cli.context import RunContext


@dataclass(frozen=True)
class EdmNet:
    """What the sampler needs of a loaded EDM network: the module and its declared interface."""

    module: nn.Module
    shape: tuple[int, ...]
    label_dim: int
    sigma_min: float
    sigma_max: float
    round_sigma: RoundSigma | None

    @classmethod
    def of(cls, loaded: LoadedBackbone) -> EdmNet:
        """The interface of a loaded backbone: EDM's attributes where the module has them."""
        spec = loaded.spec
        if spec.target != "denoised" or not isinstance(spec.process, SigmaProcess):
            raise UsageError(
                f"backbone {loaded.name} is not a sigma-time denoiser D(x; sigma) "
                f"(target {spec.target}); i2i sample edm needs an EDM network"
            )
        module = loaded.module
        process = spec.process
        return cls(
            module=module,
            shape=tuple(spec.input_shape),
            label_dim=int(getattr(module, "label_dim", spec.num_classes) or 0),
            sigma_min=float(getattr(module, "sigma_min", process.sigma_min)),
            sigma_max=float(getattr(module, "sigma_max", process.sigma_max)),
            round_sigma=getattr(module, "round_sigma", None),
        )


def sigma_grid(net: EdmNet, settings: EdmSampleSettings, device: torch.device) -> torch.Tensor:
    """EDM's t_steps: the range clamped to the network's (dg.md §3 step 1), eq. 5, then 0."""
    sigma_min = max(settings.sigma_min, net.sigma_min)
    sigma_max = min(settings.sigma_max, net.sigma_max)
    if not 0 < sigma_min <= sigma_max < math.inf:
        raise UsageError(
            f"sigma range [{sigma_min:g}, {sigma_max:g}] is empty after clamping to the "
            f"network's [{net.sigma_min:g}, {net.sigma_max:g}]; check --sigma-min/--sigma-max"
        )
    return karras_sigmas(
        settings.steps,
        sigma_min,
        sigma_max,
        settings.rho,
        round_sigma=net.round_sigma,
        device=device,
    )


def edm_sample(
    net: EdmNet,
    latents: torch.Tensor,
    labels: torch.Tensor | None,
    sigmas: torch.Tensor,
    settings: EdmSampleSettings,
    noise: SeedNoise,
    callback: StepCallback = no_step,
) -> torch.Tensor:
    """EDM's ``edm_sampler`` (dg.md §3): Heun in float64 from ``latents * sigma_0`` to sigma 0."""

    def denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if labels is None:
            return net.module(x, sigma)
        return net.module(x, sigma, class_labels=labels)

    x = latents.to(torch.float64) * sigmas[0]
    return sample_heun(
        denoiser,
        x,
        sigmas,
        noise=noise,
        callback=callback,
        s_churn=settings.s_churn,
        s_tmin=settings.s_min,
        s_tmax=settings.s_max,
        s_noise=settings.s_noise,
        round_sigma=net.round_sigma,
    )


def batch_sampler(
    net: EdmNet,
    settings: EdmSampleSettings,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager[None]],
) -> SeedBatch:
    """``sample(count, noise, callback)``: EDM's images of the batch's seeds, as written."""
    sigmas = sigma_grid(net, settings, device)

    def sample_batch(count: int, noise: SeedNoise, callback: StepCallback) -> torch.Tensor:
        latents, labels = draw_start(noise, net.shape, net.label_dim, device, settings.class_label)
        with autocast():
            x = edm_sample(net, latents, labels, sigmas, settings, noise, callback)
        return edm_image(x)

    return sample_batch


def check_label(net: EdmNet, class_label: int | None) -> None:
    """A fixed class needs a conditional network and a class it knows (one usage line)."""
    if class_label is None:
        return
    if not net.label_dim:
        raise UsageError("--class-label needs a conditional network; this one has no labels")
    if class_label >= net.label_dim:
        raise UsageError(
            f"--class-label {class_label} is out of range: the network has classes "
            f"0 .. {net.label_dim - 1}"
        )


def sample(settings: EdmSampleSettings, ctx: RunContext) -> None:
    """Draw EDM's image of every seed not yet written (resumable, seeds sharded over ranks)."""
    net = EdmNet.of(load_for_run(settings, ctx))
    check_label(net, settings.class_label)
    sampler = batch_sampler(net, settings, ctx.runtime.device, ctx.runtime.autocast)
    shape, label_dim, label = net.shape, net.label_dim, settings.class_label
    sample_seeds(ctx, settings, sampler, shape=shape, label_dim=label_dim, class_label=label)
