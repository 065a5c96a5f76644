"""DDIB's 2-D data sets: names, shapes, determinism, geometry, documented ranges (ddib.md §2.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.points.synthetic_data import (
    BAND_WIDTH,
    OLYMPIC_RING_CENTERS,
    TASK_NAMES,
    TASKS,
    SyntheticTask,
    parallel_centers,
    synthetic_array,
    synthetic_points,
    synthetic_task,
    task_geometry,
)

TASK_IDS = [task.name for task in TASKS]
N = 1200
"""Divisible by 12, so every task accepts it."""


def test_tasks_are_listed_in_the_reference_order_under_their_cli_names() -> None:
    assert TASK_NAMES == (
        "moons",
        "checkerboards",
        "concentric_rings",
        "concentric_squares",
        "parallel_rings",
        "parallel_squares",
    )
    assert [task.index for task in TASKS] == list(range(6))


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("moons", "moons"),
        ("squares", "concentric_squares"),
        ("rings", "concentric_rings"),
        ("CHECKERBOARD", "checkerboards"),
        ("Parallel Rings", "parallel_rings"),
        ("olympic-squares", "parallel_squares"),
        ("OLYMPIC_RINGS", "parallel_rings"),
        ("3", "concentric_squares"),
        (0, "moons"),
    ],
)
def test_task_lookup_accepts_names_aliases_enum_paper_names_and_indices(
    spelling: str | int, name: str
) -> None:
    assert synthetic_task(spelling).name == name


def test_unknown_task_is_a_one_line_usage_error_listing_the_known_names() -> None:
    with pytest.raises(UsageError, match=r"unknown 2-D data set 'spiral'.*concentric_squares"):
        synthetic_task("spiral")


@pytest.mark.parametrize(("name", "n"), [("concentric_rings", 100), ("parallel_squares", 60 + 6)])
def test_point_counts_that_do_not_split_into_the_bands_are_refused(name: str, n: int) -> None:
    with pytest.raises(UsageError, match="divisible by"):
        synthetic_points(name, n, np.random.RandomState(0))


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_points_are_a_float32_tensor_of_n_rows_and_two_columns(task: SyntheticTask) -> None:
    points = synthetic_points(task, N, np.random.RandomState(0))
    assert isinstance(points, torch.Tensor)
    assert points.shape == (N, 2)
    assert points.dtype == torch.float32
    assert torch.isfinite(points).all()


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_same_generator_seed_gives_the_same_points_and_another_seed_others(
    task: SyntheticTask,
) -> None:
    first = synthetic_points(task, N, np.random.RandomState(7))
    again = synthetic_points(task, N, np.random.RandomState(7))
    other = synthetic_points(task, N, np.random.RandomState(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_drawing_leaves_numpy_global_random_state_alone() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for task in TASKS:
        synthetic_array(task, N, np.random.RandomState(1))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_each_data_set_stays_within_its_documented_range(task: SyntheticTask) -> None:
    points = synthetic_array(task, 12_000, np.random.RandomState(2024)).astype(np.float64)
    margin = 0.05  # the documented ranges are 60 000-point extremes, rounded to 0.01
    assert task.x_range[0] - margin <= points[:, 0].min()
    assert points[:, 0].max() <= task.x_range[1] + margin
    assert task.y_range[0] - margin <= points[:, 1].min()
    assert points[:, 1].max() <= task.y_range[1] + margin
    assert np.abs(points).max() < 3.0  # inside the reference's plot window
    assert points.mean() == pytest.approx(0.0, abs=1e-6)
    assert points.std() == pytest.approx(1.0, abs=1e-6)


def test_moons_come_outer_arc_first_then_inner_arc() -> None:
    raw, label = task_geometry(synthetic_task("moons"), N, np.random.RandomState(0))
    assert (label[: N // 2] == 0).all() and (label[N // 2 :] == 1).all()
    assert raw[: N // 2, 1].mean() > raw[N // 2 :, 1].mean()


def test_checkerboard_fills_only_one_colour_of_a_four_by_four_board() -> None:
    raw, component = task_geometry(synthetic_task("checkerboards"), N, np.random.RandomState(0))
    assert component is None
    assert (raw >= -2).all() and (raw < 2).all()
    cells = np.floor(raw).astype(int)
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()
    assert len({tuple(cell) for cell in cells}) == 8
    assert (np.diff(raw[:, 0]) <= 0).all()


@pytest.mark.parametrize("name", ["concentric_rings", "parallel_rings"])
def test_ring_points_lie_in_their_ring_band(name: str) -> None:
    task = synthetic_task(name)
    raw, index = task_geometry(task, N, np.random.RandomState(0))
    centers = np.array([(-2.8, 0.0), (0.0, 0.0), (2.8, 0.0)]) if task.parallel else np.zeros((3, 2))
    radius = np.linalg.norm(raw - centers[index], axis=1)
    band = np.array(task.radii)[index]
    assert (np.abs(radius - band) <= BAND_WIDTH / 2 + 1e-6).all()
    np.testing.assert_array_equal(index, np.repeat([0, 1, 2], N // 3))


@pytest.mark.parametrize("name", ["concentric_squares", "parallel_squares"])
def test_square_points_lie_in_their_square_band(name: str) -> None:
    task = synthetic_task(name)
    raw, index = task_geometry(task, N, np.random.RandomState(0))
    centers = np.array([(-3.0, 0.0), (0.0, 0.0), (3.0, 0.0)]) if task.parallel else np.zeros((3, 2))
    half_side = np.abs(raw - centers[index]).max(axis=1)
    band = np.array(task.radii)[index]
    assert (np.abs(half_side - band) <= BAND_WIDTH / 2 + 1e-12).all()
    np.testing.assert_array_equal(index, np.repeat([0, 1, 2], N // 3))


def test_parallel_ring_centres_keep_the_reference_float32_rounding() -> None:
    centers = parallel_centers(OLYMPIC_RING_CENTERS, 3)
    assert centers.dtype == np.float64
    assert centers.tolist() == [[-2.799999952316284, 0.0], [0.0, 0.0], [2.799999952316284, 0.0]]
