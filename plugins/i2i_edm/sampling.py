"""``i2i sample edm``: EDM's ``generate.py`` on a sigma-time backbone, one generator per seed.

Per batch of seeds (dg.md §3): latents ``randn([C, H, W])`` from each seed's generator, then,
for a conditional network, a label ``randint(label_dim)`` from the same generator; the Heun
sampler (``i2i_cli.diffusion.karras.sample_heun``) runs in float64 from
``latents.to(float64) * sigma_0`` and draws every step's Gaussian from those generators too, so
seed ``k`` gives EDM's image ``k`` whatever the batch size or rank. Images are EDM's uint8,
``clip(x * 127.5 + 128, 0, 255)`` truncated (dg.md §11, pitfall 18).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from i2i_cli.atomic import write_atomic_bytes
from i2i_cli.data import ImageItem
from i2i_cli.diffusion.denoiser import SigmaProcess
from i2i_cli.diffusion.karras import RoundSigma, karras_sigmas, sample_heun
from i2i_cli.errors import I2IError, UsageError
from i2i_cli.model_choice import load_for_run
from i2i_cli.noise import SeedNoise
from i2i_cli.outputs import output_path, pending
from i2i_cli.progress import StepCallback, no_step
from i2i_edm.method_settings import EdmSampleSettings
from i2i_edm.seeds import parse_seeds, seed_key, seed_of_key

if TYPE_CHECKING:
    from torch import nn

    from i2i_cli.backbones import LoadedBackbone
    from i2i_cli.context import RunContext

NPZ_FILE = "samples.npz"


class EdmSeedNoise(SeedNoise):
    """EDM's ``StackedRandomGenerator`` over output keys: key ``[dir/]{k:06d}`` draws from seed k.

    Besides ``randn``/``randn_like`` it has EDM's ``randint`` (one integer per generator).
    """

    def __init__(self, seed: int, keys: Sequence[str], device: torch.device | str = "cpu") -> None:
        super().__init__(seed, [str(seed_of_key(key)) for key in keys], device)
        self.keys = list(keys)

    def randint(self, high: int) -> torch.Tensor:
        """One integer in [0, high) per item, ``torch.randint(high, size=[])`` of its generator."""
        rows = [torch.randint(high, (), generator=g, device=self.device) for g in self._generators]
        return torch.stack(rows)


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


def draw_start(
    net: EdmNet,
    noise: EdmSeedNoise,
    count: int,
    class_label: int | None,
    device: torch.device | str,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents (float32) then one-hot labels, in EDM's draw order from each seed's generator.

    A conditional network draws ``eye(label_dim)[randint(label_dim)]`` per seed; with
    ``class_label`` the draw still happens (EDM's stream) and every row is set to that class.
    """
    latents = noise.randn((count, *net.shape), device=device)
    if not net.label_dim:
        return latents, None
    index = noise.randint(net.label_dim).to(device)
    if class_label is not None:
        index = torch.full_like(index, class_label)
    return latents, torch.eye(net.label_dim, device=device)[index]


def edm_sample(
    net: EdmNet,
    latents: torch.Tensor,
    labels: torch.Tensor | None,
    sigmas: torch.Tensor,
    settings: EdmSampleSettings,
    noise: EdmSeedNoise,
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


def edm_uint8(x: torch.Tensor) -> torch.Tensor:
    """EDM's image conversion: ``(x * 127.5 + 128).clip(0, 255)`` truncated to uint8 (NCHW)."""
    return (x * 127.5 + 128).clip(0, 255).to(torch.uint8)


def as_written(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as the [-1, 1] image the pipeline's ``write_image`` writes back as exactly them.

    ``u / 127.5 - 1`` (float64): ``write_image`` computes ``floor((y + 1) / 2 * 255 + 0.5)``,
    within float32 rounding of ``u + 0.5``, so the PNG holds EDM's uint8 image bit for bit.
    """
    return pixels.to(torch.float64) / 127.5 - 1


def seed_items(settings: EdmSampleSettings, num_samples: int) -> list[ImageItem]:
    """One item per seed: ``--seeds`` when given (it wins), else seeds 0 .. num_samples - 1."""
    text = settings.seeds.strip()
    seeds = parse_seeds(text) if text else list(range(num_samples))
    keys = [seed_key(seed, subdirs=settings.subdirs) for seed in seeds]
    return [ImageItem(key=key, path=Path(key)) for key in keys]


BatchFunction = Callable[[int, EdmSeedNoise, StepCallback], torch.Tensor]


def batch_sampler(
    net: EdmNet,
    settings: EdmSampleSettings,
    device: torch.device,
    autocast: Callable[[], AbstractContextManager[None]],
) -> BatchFunction:
    """``sample(count, noise, callback)``: EDM's images of the batch's seeds, as written."""
    sigmas = sigma_grid(net, settings, device)

    def sample_batch(count: int, noise: EdmSeedNoise, callback: StepCallback) -> torch.Tensor:
        latents, labels = draw_start(net, noise, count, settings.class_label, device)
        with autocast():
            x = edm_sample(net, latents, labels, sigmas, settings, noise, callback)
        return as_written(edm_uint8(x))

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
    from i2i_cli.pipeline import sample_images

    items = seed_items(settings, ctx.run.num_samples)
    if settings.seeds.strip():
        ctx.log(f"--seeds {settings.seeds}: {len(items)} seeds (--num-samples is not used)")
    net = EdmNet.of(load_for_run(settings, ctx))
    check_label(net, settings.class_label)
    device = ctx.runtime.device
    todo = pending(items, ctx.output, overwrite=ctx.run.overwrite)
    sampler = batch_sampler(net, settings, device, ctx.runtime.autocast)
    sample_images(ctx, sampler, items=items, noise=EdmSeedNoise)  # type: ignore[arg-type]
    if settings.npz:
        ctx.runtime.barrier()
        target = ctx.output / NPZ_FILE
        if ctx.runtime.is_main and (todo or not target.exists()):
            labels = seed_labels(net, items, settings.class_label, ctx.run.batch_size, device)
            write_npz(target, read_samples(ctx.output, items), labels)
            ctx.log(f"wrote {target} ({len(items)} images)")


def seed_labels(
    net: EdmNet,
    items: Sequence[ImageItem],
    class_label: int | None,
    batch_size: int,
    device: torch.device,
) -> np.ndarray | None:
    """The one-hot labels of ``items`` (None if unconditional), redrawn from their generators."""
    if not net.label_dim:
        return None
    rows = []
    for start in range(0, len(items), batch_size):
        keys = [item.key for item in items[start : start + batch_size]]
        noise = EdmSeedNoise(0, keys, device)
        rows.append(draw_start(net, noise, len(keys), class_label, device)[1].cpu())
    return torch.cat(rows).numpy()


def read_samples(output: Path, items: Sequence[ImageItem]) -> np.ndarray:
    """The written images of ``items`` as uint8 (N, H, W, C), in item order."""
    images = []
    for item in items:
        path = output_path(output, item)
        try:
            with Image.open(path) as picture:
                pixels = np.asarray(picture)
        except OSError as error:
            raise I2IError(f"cannot read {path} for {NPZ_FILE}: {error}") from error
        images.append(pixels[:, :, None] if pixels.ndim == 2 else pixels)
    return np.stack(images)


def write_npz(path: Path, samples: np.ndarray, labels: np.ndarray | None) -> None:
    """DG's ``--save_type npz`` file: ``samples`` uint8 NHWC (+ ``label`` one-hot), atomically."""
    arrays = {"samples": samples}
    if labels is not None:
        arrays["label"] = labels
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic_bytes(buffer.getvalue(), path)
