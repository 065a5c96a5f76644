"""EDM's seed-per-image output (dg.md §3): ``--seeds``, keys, a seed's draws, ``samples.npz``.

A seed is both the item of a run and the seed of its generator
(``i2i_cli.diffusion.noise.SeedNoise``): seed ``k`` is written as ``{k:06d}.png``, or ``{k - k %
1000:06d}/{k:06d}.png`` with ``--subdirs``; its latents ``randn([C, H, W])`` then, for a conditional
network, its label ``randint(label_dim)`` come from its own generator, so seed ``k`` is EDM's (and
DG's) image ``k`` whatever the batch size or rank. Images are EDM's uint8, ``clip(x * 127.5 + 128,
0, 255)`` truncated (dg.md §11, pitfall 18). Every sampler of the EDM family (``i2i sample edm``,
``i2i sample dg``) declares ``SeedOutput`` and runs ``i2i_cli.run.seed_sampling.sample_seeds``. This
module is torch-free (settings are read for ``--help``).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from i2i_cli.api.settings import Settings
from i2i_cli.base.errors import UsageError
from i2i_cli.io.run_record import KEEPS_OUTPUTS

MAX_SEEDS = 10_000_000
"""The most seeds one run takes (as ``--num-samples``)."""

SEED_LIMIT = 2**32
"""Seeds are below 2**32: EDM seeds seed k's generator with ``k % 2**32`` (generate.py), so a
larger seed would silently repeat a smaller one's image."""

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
            _below_limit(last)
            if len(seeds) + last - first + 1 > MAX_SEEDS:
                raise ValueError(f"more than {MAX_SEEDS} seeds in '{text}'")
            seeds.extend(range(first, last + 1))
        elif _SEED.match(piece):
            seeds.append(_below_limit(int(piece)))
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


def _below_limit(seed: int) -> int:
    """``seed`` when below ``SEED_LIMIT``; else ValueError naming the seed it would repeat."""
    if seed >= SEED_LIMIT:
        raise ValueError(
            f"seed {seed} is 2**32 ({SEED_LIMIT}) or more; seeds are 0-{SEED_LIMIT - 1} (EDM "
            f"draws seed k from k % 2**32, so it would repeat seed {seed % SEED_LIMIT})"
        )
    return seed


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

    ``i2i_cli.diffusion.noise.seed_of_key`` reads the seed back.
    """
    name = f"{seed:06d}"
    return f"{seed - seed % 1000:06d}/{name}" if subdirs else name


class SeedOutput(Settings):
    """EDM's seed-per-image output: which seeds, their folders, and DG's ``samples.npz``."""

    seeds: str = Field(
        "",
        description="Seeds to draw, e.g. 0-49999 or 0,5,7-9: seed k is image {k:06d}.png from "
        "its own generator (EDM's image k), 0 <= k < 2**32. Given, it wins over --num-samples; "
        "empty: seeds 0 .. num-samples - 1.",
        json_schema_extra={KEEPS_OUTPUTS: True},  # which seeds, not what each seed gives
    )
    subdirs: bool = Field(
        False, description="Write seed k under a folder per 1000 seeds: 000000/000123.png."
    )
    npz: bool = Field(
        False,
        description="Also write samples.npz: 'samples' uint8 (N, H, W, C) in seed order "
        "(and 'label' one-hot for a conditional network), DG's --save_type npz.",
        json_schema_extra={KEEPS_OUTPUTS: True},  # made from the images, which stay as they are
    )

    @field_validator("seeds")
    @classmethod
    def _seeds_parse(cls, value: str) -> str:
        """Reject a bad seed list when the settings are read (one line, EDM's syntax)."""
        if value.strip():
            seed_list(value)
        return value
