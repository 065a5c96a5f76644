"""Comparing a state dict with the one a network expects: missing, unexpected, reshaped keys.

Pure key -> shape arithmetic, with no network and no file: the backbone loader
(``i2i_cli.networks.backbones``) and the artifact check (``i2i_cli.checkpoints.structure``) both use
it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DATA_PARALLEL_PREFIX = "module."
Shapes = Mapping[str, tuple[int, ...]]


def without_data_parallel_prefix(found: Mapping[str, Any], expected: Mapping[str, Any]) -> Any:
    """``found`` without DataParallel's ``module.`` prefix when every key has it and the keys of
    ``expected`` do not; else ``found`` as it is."""
    if (
        found
        and all(key.startswith(DATA_PARALLEL_PREFIX) for key in found)
        and not all(key.startswith(DATA_PARALLEL_PREFIX) for key in expected)
    ):
        return {key[len(DATA_PARALLEL_PREFIX) :]: value for key, value in found.items()}
    return found


def shape_problems(expected: Shapes, found: Shapes) -> list[str]:
    """What differs between two key -> shape maps: missing, unexpected and reshaped keys.

    A DataParallel ``module.`` prefix on every found key is ignored when the expected keys lack
    it, as ``load_state_dict_strictly`` does.
    """
    found = without_data_parallel_prefix(found, expected)
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    wrong = [
        f"{key} {found[key]} vs {shape}"
        for key, shape in expected.items()
        if key in found and tuple(found[key]) != tuple(shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (first: {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (first: {unexpected[0]})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (first: {wrong[0]}, file vs network)")
    return problems
