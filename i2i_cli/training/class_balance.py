"""Whether a classifier's training classes are so unequal that its accuracy says little."""

from __future__ import annotations

from collections.abc import Mapping

IMBALANCE_RATIO = 2.0
"""The size ratio of the largest to the smallest class above which a run is warned."""


def imbalance_warning(counts: Mapping[str, int], ratio: float = IMBALANCE_RATIO) -> str | None:
    """A warning when the largest class is over ``ratio`` times the smallest (else None).

    It gives the accuracy of always answering the largest class, the floor any accuracy the
    run reports must be read against (256 real and 8 fake: 0.970).
    """
    if len(counts) < 2 or sum(counts.values()) == 0:
        return None
    largest = max(counts, key=lambda name: counts[name])
    smallest = min(counts.values())
    if counts[largest] <= ratio * smallest:
        return None
    sizes = ", ".join(f"{count} {name}" for name, count in counts.items())
    majority = counts[largest] / sum(counts.values())
    return (
        f"the classes differ in size ({sizes}): always answering '{largest}' scores an "
        f"accuracy of {majority:.3f}; read the accuracy against that, or balance the classes"
    )
