"""DDIB's six 2-D data sets, drawn exactly as the reference draws them (spec ddib.md §2.1).

Every draw comes from the ``numpy.random.RandomState`` passed in, in the reference's call order,
so ``np.random.RandomState(seed)`` reproduces ``np.random.seed(seed); Synthetic2DDataset(n, type)``
bit for bit. The functions are pure: no global RNG, no state. This module imports torch only
inside ``synthetic_points``, so task names can be listed without it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from i2i_cli.base.errors import UsageError

if TYPE_CHECKING:
    import torch

Family = Literal["moons", "checkerboard", "rings", "squares"]

MOONS_NOISE = 0.05
"""Standard deviation of the Gaussian noise ``make_moons`` adds (synthetic_datasets.py)."""

BAND_WIDTH = 0.5
"""Radial width of each ring or square band (synthetic_datasets.py)."""

OLYMPIC_RING_CENTERS = ((-140, 0), (0, 0), (140, 0), (-55, -50), (55, -50))
"""The reference's Olympic ring centres, in units of 1/50 (only the first three are used)."""

OLYMPIC_SQUARE_CENTERS = ((-150, 0), (0, 0), (150, 0), (-55, -50), (55, -50))
"""The reference's Olympic square centres, in units of 1/50 (only the first three are used)."""


@dataclass(frozen=True)
class SyntheticTask:
    """One of DDIB's 2-D data sets: how it is drawn and what it is called (ddib.md §2.1)."""

    name: str
    """Canonical name, as in the CLI (``concentric_squares``)."""
    index: int
    """Position in the reference's ``list(Synthetic2DType)``: the scripts' ``--task`` value."""
    reference_name: str
    """The reference's enum member (``OLYMPIC_RINGS``)."""
    family: Family
    radii: tuple[float, ...] = ()
    """Band radius of each ring or square (rings and squares only)."""
    parallel: bool = False
    """Side by side along x (Olympic layout) rather than concentric."""
    aliases: tuple[str, ...] = ()
    x_range: tuple[float, float] = (-3.0, 3.0)
    """Observed x range after normalisation, 60 000 points (ddib.md §2.1 table)."""
    y_range: tuple[float, float] = (-3.0, 3.0)
    """Observed y range after normalisation, 60 000 points (ddib.md §2.1 table)."""

    @property
    def paper_name(self) -> str:
        """The name in the paper (``Parallel Rings``): the canonical name in title case."""
        return self.name.replace("_", " ").title()

    @property
    def multiple_of(self) -> int:
        """The point count must be a multiple of this: 3 rings, or 3 squares of 4 edges."""
        return {"rings": len(self.radii), "squares": 4 * len(self.radii)}.get(self.family, 1)

    @property
    def normalize_passes(self) -> int:
        """How often the reference normalises: rings and squares in the sampler and the dataset."""
        return 2 if self.family in ("rings", "squares") else 1


def _band_task(
    family: Literal["rings", "squares"],
    layout: Literal["concentric", "parallel"],
    index: int,
    reference_name: str,
    extent: tuple[float, float],
) -> SyntheticTask:
    """Three rings or squares: radii 1, 2, 3 about the origin, or three of radius 1 side by side.

    ``extent`` is the observed half-width in x and y after normalisation (symmetric ranges).
    The concentric task also answers to the family's name (``rings``, ``squares``).
    """
    concentric = layout == "concentric"
    return SyntheticTask(
        f"{layout}_{family}",
        index,
        reference_name,
        family,
        radii=(1.0, 2.0, 3.0) if concentric else (1.0, 1.0, 1.0),
        parallel=not concentric,
        aliases=(family,) if concentric else (),
        x_range=(-extent[0], extent[0]),
        y_range=(-extent[1], extent[1]),
    )


TASKS: tuple[SyntheticTask, ...] = (
    SyntheticTask("moons", 0, "MOONS", "moons", x_range=(-2.13, 2.47), y_range=(-1.47, 1.12)),
    SyntheticTask(
        "checkerboards",
        1,
        "CHECKERBOARD",
        "checkerboard",
        x_range=(-1.74, 1.74),
        y_range=(-1.74, 1.74),
    ),
    _band_task("rings", "concentric", 2, "CONCENTRIC_RINGS", extent=(2.13, 2.13)),
    _band_task("squares", "concentric", 3, "CONCENTRIC_SQUARES", extent=(1.84, 1.84)),
    _band_task("rings", "parallel", 4, "OLYMPIC_RINGS", extent=(2.29, 0.71)),
    _band_task("squares", "parallel", 5, "OLYMPIC_SQUARES", extent=(2.22, 0.65)),
)
"""The six tasks in the reference's order (``list(Synthetic2DType)``, the README's order)."""

TASK_NAMES: tuple[str, ...] = tuple(task.name for task in TASKS)


def _key(name: str) -> str:
    """A name folded for lookup: lower case, runs of spaces and hyphens as one underscore."""
    return re.sub(r"[\s\-_]+", "_", name.strip().lower())


def _lookup_table() -> dict[str, SyntheticTask]:
    """Every accepted spelling of every task: name, alias, enum name, paper name, index."""
    table: dict[str, SyntheticTask] = {}
    for task in TASKS:
        spellings = (
            task.name,
            *task.aliases,
            task.reference_name,
            task.paper_name,
            str(task.index),
        )
        for spelling in spellings:
            table[_key(spelling)] = task
    return table


def synthetic_task(name: str | int) -> SyntheticTask:
    """The task called ``name``: canonical name, short alias, enum or paper name, or index 0-5."""
    task = _lookup_table().get(_key(str(name)))
    if task is None:
        known = ", ".join(TASK_NAMES)
        raise UsageError(f"unknown 2-D data set {name!r} (known: {known}; also rings, squares)")
    return task


def normalize(points: np.ndarray) -> np.ndarray:
    """``(p - mean) / std`` with ONE scalar mean and population std over all coordinates."""
    return (points - points.mean()) / points.std()


def moons_geometry(
    n: int, rng: np.random.RandomState, noise: float = MOONS_NOISE
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles plus Gaussian noise: sklearn's ``make_moons(shuffle=False)``.

    Rows: the ``n // 2`` outer points, then the inner ones; one ``normal`` draw of shape (n, 2).
    Returns the float64 points and the moon label (0 outer, 1 inner) of each.
    """
    n_out = n // 2
    n_in = n - n_out
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    x = np.concatenate([np.cos(outer), 1 - np.cos(inner)])
    y = np.concatenate([np.sin(outer), 1 - np.sin(inner) - 0.5])
    points = np.stack([x, y], axis=1)
    points += rng.normal(scale=noise, size=points.shape)
    labels = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    return points, labels


def checkerboard_geometry(n: int, rng: np.random.RandomState) -> np.ndarray:
    """A 4x4 board on [-2, 2)^2 with 8 filled unit cells, rows sorted by x descending."""
    x1 = np.sort(rng.rand(n) * 4 - 2)[::-1]
    u = rng.rand(n)
    k = rng.randint(0, 2, n)
    x2 = (u - k * 2) + (np.floor(x1) % 2)
    return np.stack([x1, x2], axis=1)


def parallel_centers(table: Sequence[tuple[int, int]], count: int) -> np.ndarray:
    """The first ``count`` Olympic centres: ``table / 50`` computed in float32, then widened.

    The float32 step is the reference's (2.8 becomes 2.799999952316284; ddib.md pitfall 11).
    """
    centers = np.array(table, dtype=np.float32) / np.float32(50)
    return centers[:count].astype(np.float64)


def _centers(task: SyntheticTask) -> np.ndarray:
    """The centre of each ring or square of ``task``: all zero, or the Olympic layout."""
    count = len(task.radii)
    if not task.parallel:
        return np.zeros((count, 2))
    table = OLYMPIC_RING_CENTERS if task.family == "rings" else OLYMPIC_SQUARE_CENTERS
    return parallel_centers(table, count)


def _check_multiple(n: int, multiple: int, what: str) -> None:
    """``n`` points must split evenly into the generator's groups."""
    if n <= 0 or n % multiple:
        raise ValueError(
            f"{what} need a positive number of points divisible by {multiple}, got {n}"
        )


class Bands(NamedTuple):
    """The bands of a rings or squares data set: each band's radius, centre and width."""

    radii: Sequence[float]
    centers: np.ndarray
    width: float = BAND_WIDTH


Geometry = tuple[np.ndarray, np.ndarray]
"""Raw float64 points (n, 2) and each point's band index."""


def ring_geometry(n: int, rng: np.random.RandomState, bands: Bands) -> Geometry:
    """Points on K noisy rings (the reference's ``RingSampler`` before its normalisation).

    Ring i holds rows i*n/K ... (i+1)*n/K - 1. Draw order: ``rand(n)`` for the radial offsets,
    then ``rand(K, n/K)`` for the angles, each row sorted, flattened and the whole array reversed.
    Returns the float64 points and the ring index of each.
    """
    radii, centers, width = bands
    count = len(radii)
    _check_multiple(n, count, f"{count} rings")
    index = np.repeat(np.arange(count), n // count)
    radius = np.asarray(radii, dtype=np.float64)[index] + (rng.rand(n) - 0.5) * width
    theta = np.sort(rng.rand(count, n // count) * 2 * np.pi, axis=1).reshape(-1)[::-1]
    center = centers[index]
    x = radius * np.cos(theta) + center[:, 0]
    y = radius * np.sin(theta) + center[:, 1]
    return np.stack([x, y], axis=1), index


def _edge(rng: np.random.RandomState, count: int) -> np.ndarray:
    """``count`` sorted positions along one edge: ``2 * sort(rand - 0.5)``, ascending in [-1, 1]."""
    return 2 * np.sort(rng.rand(count) - 0.5)


def square_geometry(n: int, rng: np.random.RandomState, bands: Bands) -> Geometry:
    """Points on K noisy square outlines (the reference's ``SquareSampler`` before normalising).

    Per square, C = n/(4K) points per edge, drawn top, right (reversed), bottom (reversed), left;
    then one ``rand(n)`` for the radial scale, by which both coordinates are multiplied before
    the centre is added. Returns the float64 points and the square index of each.
    """
    radii, centers, width = bands
    count = len(radii)
    _check_multiple(n, 4 * count, f"{count} squares")
    per_edge = n // (4 * count)
    ones = np.ones(per_edge)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for _ in range(count):
        top = _edge(rng, per_edge)
        right = _edge(rng, per_edge)[::-1]
        bottom = _edge(rng, per_edge)[::-1]
        left = _edge(rng, per_edge)
        xs += [top, ones, bottom, -ones]
        ys += [ones, right, -ones, left]
    index = np.repeat(np.arange(count), 4 * per_edge)
    radius = np.asarray(radii, dtype=np.float64)[index] + (rng.rand(n) - 0.5) * width
    points = np.stack([np.concatenate(xs) * radius, np.concatenate(ys) * radius], axis=1)
    return points + centers[index], index


def task_geometry(
    task: SyntheticTask, n: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray | None]:
    """The raw float64 geometry of ``task`` before any normalisation, and each point's component.

    The component is the moon label or ring/square index; None for the checkerboard.
    """
    if task.family == "moons":
        return moons_geometry(n, rng)
    if task.family == "checkerboard":
        return checkerboard_geometry(n, rng), None
    sampler = ring_geometry if task.family == "rings" else square_geometry
    return sampler(n, rng, Bands(task.radii, _centers(task)))


def synthetic_array(task: SyntheticTask | str, n: int, rng: np.random.RandomState) -> np.ndarray:
    """``Synthetic2DDataset(n, task).points``: normalised float32 points of shape (n, 2)."""
    task = task if isinstance(task, SyntheticTask) else synthetic_task(task)
    if n <= 0 or n % task.multiple_of:
        raise UsageError(
            f"{task.name} needs a positive number of points divisible by {task.multiple_of}, "
            f"got {n}"
        )
    points, _ = task_geometry(task, n, rng)
    for _ in range(task.normalize_passes):
        points = normalize(points)
    return points.astype(np.float32)


def synthetic_points(task: SyntheticTask | str, n: int, rng: np.random.RandomState) -> torch.Tensor:
    """The points of ``synthetic_array`` as a float32 tensor of shape (n, 2), generator order."""
    import torch

    return torch.from_numpy(synthetic_array(task, n, rng))


def seeded_rng(seed: int) -> np.random.RandomState:
    """A legacy numpy generator seeded like ``np.random.seed(seed)`` (the reference's stream)."""
    return np.random.RandomState(seed)
