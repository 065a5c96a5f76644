"""The real and generated point sets DG's 2-D discriminator trains on.

``--fake`` is an ``.npy`` of samples (the ``points.npy`` of ``i2i sample dg`` with w1 = 0, or of
``i2i sample ddib``); ``--real`` is a 2-D data set's name, drawn fresh from the run seed, or an
``.npy``. Both sets keep their first ``num_data`` points, and a drawn real set is as large as
the fake one, so the classes are balanced and an accuracy of 0.5 means chance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from i2i_cli.base.errors import UsageError
from i2i_cli.diffusion.noise import item_seed
from i2i_cli.points.files import read_points
from i2i_cli.points.synthetic_data import TASK_NAMES, seeded_rng, synthetic_points, synthetic_task

if TYPE_CHECKING:
    from i2i_dg.settings import DiscriminatorTrainSettings


def is_data_set_name(reference: str) -> bool:
    """Whether ``--real`` names a 2-D data set rather than a file."""
    if reference.endswith(".npy") or "/" in reference:
        return False
    try:
        synthetic_task(reference)
    except UsageError:
        return False
    return True


def real_points(reference: str, count: int, seed: int) -> torch.Tensor:
    """``count`` fresh points of the named data set (rounded up to its multiple), from ``seed``."""
    task = synthetic_task(reference)
    count += -count % task.multiple_of
    rng = seeded_rng(item_seed(seed, "dg-real-points") % 2**32)
    return synthetic_points(task, count, rng).float()


def point_training_set(
    settings: DiscriminatorTrainSettings, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(points (N, D) float32, targets 1 real / 0 fake): balanced, the first num_data of each."""
    if not settings.fake:
        raise UsageError("i2i train discriminator needs --fake (an .npy of generated points)")
    if not settings.real:
        names = ", ".join(TASK_NAMES)
        raise UsageError(f"i2i train discriminator needs --real (a data set: {names}; or an .npy)")
    fake = read_points(Path(settings.fake).expanduser(), "--fake")[: settings.num_data]
    if is_data_set_name(settings.real):
        real = real_points(settings.real, len(fake), seed)[: len(fake)]
    elif Path(settings.real).suffix == ".npy":
        real = read_points(Path(settings.real).expanduser(), "--real")[: settings.num_data]
    else:
        names = ", ".join(TASK_NAMES)
        raise UsageError(f"--real {settings.real}: neither a 2-D data set ({names}) nor an .npy")
    if real.shape[1] != fake.shape[1]:
        raise UsageError(
            f"--real holds {real.shape[1]}-D points and --fake {fake.shape[1]}-D points"
        )
    targets = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))])
    return torch.cat([real, fake]), targets
