"""EDM-family sampling by seeds (dg.md §3): the network, its grid, a seed's draws, its files.

``SigmaNet`` is what ``i2i sample edm`` and ``i2i sample dg`` read of a loaded sigma-time
backbone and ``sigma_grid`` EDM's time steps on it (``i2i_cli.run.karras_choice``); one item per
seed (``i2i_cli.run.seeds``) draws from its own ``SeedNoise`` generator (``draw_start``: latents,
then a conditional network's label), is written as EDM's uint8 image (``edm_image``) and, with
``--npz``, gathered into DG's ``samples.npz`` (``sample_seeds``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from i2i_cli.base.atomic import write_atomic_bytes
from i2i_cli.base.errors import RunError, UsageError
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, DiscreteProcess, SigmaProcess
from i2i_cli.diffusion.karras import RoundSigma, karras_sigmas
from i2i_cli.diffusion.noise import SeedNoise
from i2i_cli.diffusion.sigma_time import IndexToSigma
from i2i_cli.io.data import ImageItem
from i2i_cli.io.outputs import output_path, pending
from i2i_cli.run.seeds import SeedOutput, parse_seeds, seed_key

if TYPE_CHECKING:
    from torch import nn

    from i2i_cli.networks.backbones import LoadedBackbone
    from i2i_cli.run.context import RunContext
    from i2i_cli.run.karras_choice import KarrasChoice
    from i2i_cli.run.progress import StepCallback

NPZ_FILE = "samples.npz"
"""DG's ``--save_type npz`` file, written next to the images with ``--npz``."""


@dataclass(frozen=True)
class SigmaNet:
    """What an EDM-family sampler needs of a loaded network: the module and its interface."""

    module: nn.Module
    shape: tuple[int, ...]
    label_dim: int
    sigma_min: float
    sigma_max: float
    round_sigma: RoundSigma | None

    @classmethod
    def of(cls, loaded: LoadedBackbone, command: str) -> SigmaNet:
        """The interface of a loaded backbone (EDM's attributes where the module has them).

        A backbone that is not a sigma-time denoiser D(x; sigma) is one usage line naming
        ``command`` (e.g. ``i2i sample edm``).
        """
        spec = loaded.spec
        if isinstance(spec.process, DiscreteProcess) and spec.target in ("eps", "x0"):
            return cls.of_discrete(loaded)
        if spec.target != "denoised" or not isinstance(spec.process, SigmaProcess):
            raise UsageError(
                f"backbone {loaded.name} is neither a sigma-time denoiser D(x; sigma) nor an "
                f"eps/x0 network of a discrete process (target {spec.target}); {command} "
                "cannot sample it"
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

    def denoiser(
        self, labels: torch.Tensor | None, *, clip: bool = False
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """D(x; sigma) of the network given one-hot ``labels`` (or none), clamped iff ``clip``."""
        module = self.module

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            out = module(x, sigma) if labels is None else module(x, sigma, class_labels=labels)
            return out.clamp(-1.0, 1.0) if clip else out

        return denoise

    @classmethod
    def of_discrete(cls, loaded: LoadedBackbone) -> SigmaNet:
        """An eps/x0 network of a discrete process read as D(x; sigma) (``IndexToSigma``).

        Its sigma range is the process's [sigma_0, sigma_{T-1}], which clamps EDM's grid.
        """
        adapter = IndexToSigma.for_denoiser(DiscreteDenoiser(loaded.module, loaded.spec))
        return cls(
            module=IndexTimeNetwork(adapter),
            shape=tuple(loaded.spec.input_shape),
            label_dim=int(loaded.spec.num_classes or 0),
            sigma_min=adapter.sigma_min,
            sigma_max=adapter.sigma_max,
            round_sigma=None,
        )


class IndexTimeNetwork(torch.nn.Module):
    """An index-time network called the way EDM calls its own: ``net(x, sigma, class_labels)``.

    The network runs in its parameters' dtype; the result comes back in ``x``'s (the EDM
    samplers work in float64). One-hot ``class_labels`` become the integer labels ADM takes.
    """

    def __init__(self, adapter: IndexToSigma) -> None:
        super().__init__()
        self.adapter = adapter
        if isinstance(adapter.denoiser, DiscreteDenoiser) and isinstance(
            adapter.denoiser.model, torch.nn.Module
        ):
            self.network = adapter.denoiser.model

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """D(x; sigma) of the wrapped network (Karras et al. 2022, Table 1, VP column)."""
        labels = None if class_labels is None else class_labels.argmax(dim=1)
        adapter = self.adapter.with_labels(labels)
        dtype = next(iter(self.parameters()), x).dtype
        return adapter(x.to(dtype), sigma).to(x.dtype)


def sigma_grid(net: SigmaNet, choice: KarrasChoice, device: torch.device | str) -> torch.Tensor:
    """EDM's t_steps: the range clamped to the network's (dg.md §3 step 1), eq. 5, then 0."""
    sigma_min = max(choice.sigma_min, net.sigma_min)
    sigma_max = min(choice.sigma_max, net.sigma_max)
    if not 0 < sigma_min <= sigma_max < math.inf:
        raise UsageError(
            f"sigma range [{sigma_min:g}, {sigma_max:g}] is empty after clamping to the "
            f"network's [{net.sigma_min:g}, {net.sigma_max:g}]; check --sigma-min/--sigma-max"
        )
    return karras_sigmas(
        choice.steps,
        sigma_min,
        sigma_max,
        choice.rho,
        round_sigma=net.round_sigma,
        device=device,
    )


def seed_items(choice: SeedOutput, num_samples: int) -> list[ImageItem]:
    """One item per seed: ``--seeds`` when given (it wins), else seeds 0 .. num_samples - 1."""
    text = choice.seeds.strip()
    seeds = parse_seeds(text) if text else list(range(num_samples))
    keys = [seed_key(seed, subdirs=choice.subdirs) for seed in seeds]
    return [ImageItem(key=key, path=Path(key)) for key in keys]


def draw_start(
    noise: SeedNoise,
    shape: Sequence[int],
    label_dim: int,
    device: torch.device | str,
    class_label: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents (float32, ``shape`` per seed) then one-hot labels, in EDM's draw order.

    A conditional network (``label_dim > 0``) draws ``eye(label_dim)[randint(label_dim)]`` per
    seed; with ``class_label`` the draw still happens (EDM's stream) and every row is that class.
    """
    latents = noise.randn((len(noise.keys), *shape), device=device)
    if not label_dim:
        return latents, None
    index = noise.randint(label_dim).to(device)
    if class_label is not None:
        index = torch.full_like(index, class_label)
    return latents, torch.eye(label_dim, device=device)[index]


def edm_uint8(x: torch.Tensor) -> torch.Tensor:
    """EDM's image conversion: ``(x * 127.5 + 128).clip(0, 255)`` truncated to uint8 (NCHW)."""
    return (x * 127.5 + 128).clip(0, 255).to(torch.uint8)


def as_written(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as the [-1, 1] image the pipeline's ``write_image`` writes back as exactly them.

    ``u / 127.5 - 1`` (float64): ``write_image`` computes ``floor((y + 1) / 2 * 255 + 0.5)``,
    within float32 rounding of ``u + 0.5``, so the PNG holds EDM's uint8 image bit for bit.
    """
    return pixels.to(torch.float64) / 127.5 - 1


def edm_image(x: torch.Tensor) -> torch.Tensor:
    """A sampler's output as the image whose PNG is EDM's uint8 image (``edm_uint8``)."""
    return as_written(edm_uint8(x))


SeedBatch = Callable[[int, SeedNoise, "StepCallback"], torch.Tensor]
"""``sample_batch(count, noise, callback)``: the images (``edm_image``) of a batch of seeds."""


def sample_seeds(
    ctx: RunContext,
    choice: SeedOutput,
    sample_batch: SeedBatch,
    *,
    shape: Sequence[int],
    label_dim: int,
    class_label: int | None = None,
) -> None:
    """Draw the image of every seed not yet written (resumable, seeds sharded over ranks).

    With ``--npz`` the main rank then writes ``samples.npz`` of all seeds, the labels redrawn
    from the seeds' generators (``draw_start`` with the network's ``shape`` and ``label_dim``).
    """
    from i2i_cli.run.pipeline import sample_images

    items = seed_items(choice, ctx.run.num_samples)
    if choice.seeds.strip():
        ctx.log(f"--seeds {choice.seeds}: {len(items)} seeds (--num-samples is not used)")
    todo = pending(items, ctx.output, overwrite=ctx.run.overwrite)
    sample_images(ctx, sample_batch, items=items, noise=SeedNoise)  # type: ignore[arg-type]
    if not choice.npz:
        return
    ctx.runtime.barrier()
    target = ctx.output / NPZ_FILE
    if ctx.runtime.is_main and (todo or not target.exists()):
        device = ctx.runtime.device
        batch = ctx.run.batch_size
        labels = seed_labels(items, shape, label_dim, batch, device, class_label)
        write_npz(target, read_samples(ctx.output, items), labels)
        ctx.log(f"wrote {target} ({len(items)} images)")


def seed_labels(
    items: Sequence[ImageItem],
    shape: Sequence[int],
    label_dim: int,
    batch_size: int,
    device: torch.device | str,
    class_label: int | None = None,
) -> np.ndarray | None:
    """The one-hot labels of ``items`` (None if unconditional), redrawn from their generators."""
    if not label_dim:
        return None
    rows = []
    for start in range(0, len(items), batch_size):
        noise = SeedNoise(0, [item.key for item in items[start : start + batch_size]], device)
        _, labels = draw_start(noise, shape, label_dim, device, class_label)
        if labels is not None:
            rows.append(labels.cpu())
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
            raise RunError(f"cannot read {path} for {NPZ_FILE}: {error}") from error
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
