"""``i2i translate sde-bbdm``: each source image to its target along the reverse bridge (bbdm.md).

Sources are resized to ``image_size`` squares, bilinear with antialias and the aspect ratio not
kept (``Fit`` ``stretch``, as the reference's loaders, §9); in latent mode they are encoded by
the VQ-f4 autoencoder (reached through the registry), bridged in latent space and decoded once
at the end (§6). The networks are loaded once per run.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import torch

from i2i_bbdm.reverse_bridge import sample_bridge, sample_bridge_fast
from i2i_bbdm.settings import BridgeUNetSettings, network_name
from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.noise import NoiseSource
from i2i_cli.networks.backbones import LoadedBackbone
from i2i_cli.run.model_choice import load_for_run, require_checkpoints
from i2i_cli.run.pipeline import translate_images
from i2i_cli.run.progress import StepCallback

if TYPE_CHECKING:
    from i2i_bbdm.settings import SDEBBDMSettings
    from i2i_cli.run.context import RunContext

NO_CHECKPOINT = (
    "sde-bbdm needs trained bridge weights and no SDE-BBDM weights are published: "
    "train one with `i2i train bbdm --data DIR --layout ...`, then pass --checkpoint FILE"
)


def required_checkpoints(settings: SDEBBDMSettings) -> list[str]:
    """The bridge weights and, in latent mode, the autoencoder's; none given -> one line."""
    if settings.checkpoint is None:
        raise UsageError(NO_CHECKPOINT)
    references = [settings.checkpoint]
    if settings.latent != "none":
        if settings.vq_checkpoint is None:
            raise UsageError(f"--latent {settings.latent} needs the autoencoder's --vq-checkpoint")
        references.append(settings.vq_checkpoint)
    return references


def bridge_net(settings: SDEBBDMSettings, ctx: RunContext) -> LoadedBackbone:
    """The bridge UNet with its weights; a backbone that predicts anything else -> one line."""
    loaded = load_for_run(settings, ctx)
    if loaded.spec.target != "raw":
        raise UsageError(
            f"backbone {settings.backbone} predicts {loaded.spec.target}; sde-bbdm needs a bridge "
            "network predicting x_t - x0 (backbone bbdm-unet)"
        )
    return loaded


def built(loaded: LoadedBackbone) -> str:
    """The network that was built, for the log (its preset, its file's record or --set)."""
    if isinstance(loaded.settings, BridgeUNetSettings):
        return network_name(loaded.settings)
    return "(custom)"


def translate_sde_bbdm(settings: SDEBBDMSettings, ctx: RunContext) -> None:
    """SDE-BBDM over the inputs: full or fast reverse bridge from ``x_T = y`` (bbdm.md §4-6)."""
    require_checkpoints(ctx, required_checkpoints(settings))
    loaded = bridge_net(settings, ctx)
    net = loaded.module
    autoencoder = None
    if settings.latent != "none":
        autoencoder = load_for_run(settings.autoencoder(), ctx).module
    if settings.sampler == "full":
        sampler = partial(sample_bridge, net, steps=settings.steps, c_lambda=settings.c_lambda)
        calls = settings.steps
    else:
        taus = settings.fast_taus()
        sampler = partial(
            sample_bridge_fast, net, taus=taus, steps=settings.steps, c_lambda=settings.c_lambda
        )
        calls = len(taus)
    ctx.log(
        f"sde-bbdm: {settings.backbone} {built(loaded)}, {settings.sampler} "
        f"sampler, {calls} network calls per batch, T = {settings.steps}, lambda = "
        f"{settings.c_lambda:g}, {'pixels' if autoencoder is None else settings.latent}"
    )

    def translate_batch(
        x: torch.Tensor, noise: NoiseSource, callback: StepCallback
    ) -> torch.Tensor:
        with ctx.runtime.autocast(), torch.no_grad():
            y = x if autoencoder is None else autoencoder.encode(x)
            x0 = sampler(y, noise=noise, callback=callback)
            return x0 if autoencoder is None else autoencoder.decode(x0)

    translate_images(ctx, translate_batch, image_size=settings.image_size, fit="stretch")
