"""EDM's seed-per-image output (dg.md §3): ``--seeds``, keys, a seed's draws, ``samples.npz``.

A seed is both the item of a run and the seed of its generator (``i2i_cli.noise.SeedNoise``):
seed ``k`` is written as ``{k:06d}.png``, or ``{k - k % 1000:06d}/{k:06d}.png`` with
``--subdirs``; its latents ``randn([C, H, W])`` then, for a conditional network, its label
``randint(label_dim)`` come from its own generator, so seed ``k`` is EDM's (and DG's) image
``k`` whatever the batch size or rank. Images are EDM's uint8, ``clip(x * 127.5 + 128, 0, 255)``
truncated (dg.md §11, pitfall 18). Every sampler of the EDM family (``i2i sample edm``,
``i2i sample dg``) declares ``SeedOutput`` and runs ``sample_seeds``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from pydantic import Field, field_validator

from i2i_cli.atomic import write_atomic_bytes
from i2i_cli.data import ImageItem
from i2i_cli.errors import I2IError, UsageError
from i2i_cli.noise import SeedNoise
from i2i_cli.outputs import output_path, pending
from i2i_cli.settings import Settings

if TYPE_CHECKING:
    from i2i_cli.context import RunContext
    from i2i_cli.progress import StepCallback

MAX_SEEDS = 10_000_000
"""The most seeds one run takes (as ``--num-samples``)."""

NPZ_FILE = "samples.npz"
"""DG's ``--save_type npz`` file, written next to the images with ``--npz``."""

_RANGE = re.compile(r"^(\d+)-(\d+)$")
_SEED = re.compile(r"^\d+$")


def parse_seeds(text: str) -> list[int]:
    """The seeds of a comma-separated list of ``N`` and ``A-B`` (inclusive), in the order given.

    EDM's ``generate.py:parse_int_list`` (dg.md §3) for every list it accepts; what it would
    take silently or crash on (an empty or reversed range, a negative seed, a repeated seed, a
    stray character) is one usage line here.
    """
    try:
        return seed_list(text)
    except ValueError as error:
        raise UsageError(f"--seeds: {error}") from None


def seed_list(text: str) -> list[int]:
    """``parse_seeds`` raising ValueError with the reason (for settings validation)."""
    seeds: list[int] = []
    for piece in (part.strip() for part in text.split(",")):
        bounds = _RANGE.match(piece)
        if bounds:
            first, last = int(bounds.group(1)), int(bounds.group(2))
            if last < first:
                raise ValueError(f"the range {piece} is reversed (write {last}-{first})")
            if len(seeds) + last - first + 1 > MAX_SEEDS:
                raise ValueError(f"more than {MAX_SEEDS} seeds in '{text}'")
            seeds.extend(range(first, last + 1))
        elif _SEED.match(piece):
            seeds.append(int(piece))
        else:
            raise ValueError(
                f"'{piece}' is not a seed or a range A-B of non-negative integers "
                f"(e.g. 0-49999 or 0,5,7-9)"
            )
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"more than {MAX_SEEDS} seeds in '{text}'")
    repeated = _first_repeat(seeds)
    if repeated is not None:
        raise ValueError(f"seed {repeated} is listed twice in '{text}'")
    return seeds


def _first_repeat(seeds: list[int]) -> int | None:
    """The first seed that occurs a second time, or None."""
    seen: set[int] = set()
    for seed in seeds:
        if seed in seen:
            return seed
        seen.add(seed)
    return None


def seed_key(seed: int, *, subdirs: bool = False) -> str:
    """The output key of ``seed``: ``{seed:06d}``, under ``{seed - seed % 1000:06d}/`` if asked.

    ``i2i_cli.noise.seed_of_key`` reads the seed back.
    """
    name = f"{seed:06d}"
    return f"{seed - seed % 1000:06d}/{name}" if subdirs else name


class SeedOutput(Settings):
    """EDM's seed-per-image output: which seeds, their folders, and DG's ``samples.npz``."""

    seeds: str = Field(
        "",
        description="Seeds to draw, e.g. 0-49999 or 0,5,7-9: seed k is image {k:06d}.png from "
        "its own generator (EDM's image k). Given, it wins over --num-samples; empty: seeds "
        "0 .. num-samples - 1.",
    )
    subdirs: bool = Field(
        False, description="Write seed k under a folder per 1000 seeds: 000000/000123.png."
    )
    npz: bool = Field(
        False,
        description="Also write samples.npz: 'samples' uint8 (N, H, W, C) in seed order "
        "(and 'label' one-hot for a conditional network), DG's --save_type npz.",
    )

    @field_validator("seeds")
    @classmethod
    def _seeds_parse(cls, value: str) -> str:
        """Reject a bad seed list when the settings are read (one line, EDM's syntax)."""
        if value.strip():
            seed_list(value)
        return value


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
    from i2i_cli.pipeline import sample_images

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
