"""EDM's ``--seeds`` syntax: ``0-49999``, ``0,5,7-9`` (NVlabs/edm ``generate.py:parse_int_list``).

A seed is both the item of a run and the seed of its generator (dg.md §3): seed ``k`` is written
as ``{k:06d}.png``, or ``{k - k % 1000:06d}/{k:06d}.png`` with ``--subdirs``.
"""

from __future__ import annotations

import re

from i2i_cli.errors import UsageError

MAX_SEEDS = 10_000_000
"""The most seeds one run takes (as ``--num-samples``)."""

_RANGE = re.compile(r"^(\d+)-(\d+)$")
_SEED = re.compile(r"^\d+$")


def parse_seeds(text: str) -> list[int]:
    """The seeds of a comma-separated list of ``N`` and ``A-B`` (inclusive), in the order given.

    EDM's ``parse_int_list`` (dg.md §3) for every list it accepts; what it would take silently
    or crash on (an empty or reversed range, a negative seed, a repeated seed, a stray
    character) is one usage line here.
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
    """The output key of ``seed``: ``{seed:06d}``, under ``{seed - seed % 1000:06d}/`` if asked."""
    name = f"{seed:06d}"
    return f"{seed - seed % 1000:06d}/{name}" if subdirs else name


def seed_of_key(key: str) -> int:
    """The seed an output key names (its last path component, see ``seed_key``)."""
    return int(key.rsplit("/", 1)[-1])
