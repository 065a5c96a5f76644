"""The robustness corpus, seeds: a seed of 2**32 or more would repeat a smaller seed's image.

EDM seeds seed k's generator with ``k % 2**32``; ``--help`` promises that seed k is image k, so
every sampler of seeds refuses such a seed in one line naming it, the limit and the seed it
would repeat, before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from i2i_cli.base.errors import UsageError
from i2i_cli.run.seeds import parse_seeds
from tests.conftest import run_i2i
from tests.robustness.run_helpers import error_line

SAMPLERS = ["edm", "dg"]
"""Every command that samples by seeds (``SeedOutput``)."""


@pytest.mark.parametrize("command", SAMPLERS)
@pytest.mark.parametrize(
    ("seeds", "repeats"), [("7,4294967303", "7"), ("4294967290-4294967296", "0")]
)
def test_a_seed_of_two_to_the_32_or_more_is_refused_naming_the_seed_it_would_repeat(
    command: str, seeds: str, repeats: str, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    result = run_i2i(
        ["sample", command, "--seeds", seeds, "--device", "cpu", "--output", str(output)]
    )
    seed = seeds.replace("-", ",").split(",")[-1]
    error_line(result, f"seed {seed} is 2**32 (4294967296) or more", f"repeat seed {repeats}")
    assert not output.exists()


def test_the_largest_seed_is_two_to_the_32_minus_one() -> None:
    assert parse_seeds("4294967294-4294967295") == [2**32 - 2, 2**32 - 1]
    with pytest.raises(UsageError, match="seed 4294967296 is 2"):
        parse_seeds("4294967296")


@pytest.mark.parametrize("command", SAMPLERS)
def test_help_says_where_seeds_end(command: str) -> None:
    result = run_i2i(["sample", command, "--help"], env={"COLUMNS": "200"})
    assert "0 <= k < 2**32" in result.stdout
