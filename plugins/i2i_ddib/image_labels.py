"""DDIB's ImageNet class pairs: labels from --source/--target and from file names (ddib.md §3).

Torch-free. ``--source 260,261 --target 261,262`` zips into the map 260 -> 261, 261 -> 262; an
input's class is the prefix of its file name before the first ``_`` (the reference's
``{L}_{i}.PNG`` layout), and an input whose class is not a source class is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from i2i_cli.base.errors import UsageError
from i2i_cli.io.data import ImageItem

LABEL_SEPARATOR = "_"
"""A file's class label is its name's prefix before the first of these (``260_1.png``)."""


def parse_labels(text: str, flag: str) -> list[int]:
    """The comma-separated integer class labels of ``text``; anything else is one usage line."""
    parts = [part.strip() for part in text.split(",")]
    try:
        labels = [int(part) for part in parts]
    except ValueError:
        raise UsageError(
            f"{flag} must be comma-separated class labels (e.g. 260,261), got '{text}'"
        ) from None
    negative = [label for label in labels if label < 0]
    if negative:
        raise UsageError(f"{flag}: class labels are non-negative, got {negative[0]}")
    return labels


def class_pairs(source: str, target: str) -> dict[int, int]:
    """``--source`` zipped with ``--target`` into a source -> target map (ddib.md §3).

    Lists of different lengths, or a source class given twice, are one usage line.
    """
    sources = parse_labels(source, "--source")
    targets = parse_labels(target, "--target")
    if len(sources) != len(targets):
        raise UsageError(
            f"--source has {len(sources)} class labels and --target {len(targets)}; "
            "they are paired in order (--source 260,261 --target 261,262)"
        )
    repeated = sorted({label for label in sources if sources.count(label) > 1})
    if repeated:
        raise UsageError(f"--source names class {repeated[0]} twice; each source class maps once")
    return dict(zip(sources, targets, strict=True))


def check_label_range(labels: Sequence[int], num_classes: int, flag: str, network: str) -> None:
    """Usage line unless every label is a class of a network with ``num_classes`` classes."""
    outside = [label for label in labels if label >= num_classes]
    if outside:
        raise UsageError(
            f"{flag}: class {outside[0]} is out of range for the {network}, "
            f"which has {num_classes} classes (0 to {num_classes - 1})"
        )


def file_label(item: ImageItem) -> int | None:
    """The class label in ``item``'s file name (``260_1.png`` -> 260), or None if it has none."""
    prefix, separator, _ = item.path.name.partition(LABEL_SEPARATOR)
    if not separator or not (prefix.isascii() and prefix.isdigit()):
        return None
    return int(prefix)


def skip_reason(item: ImageItem, pairs: Mapping[int, int]) -> str | None:
    """Why ``item`` is not translated with the class map ``pairs``, or None when it is."""
    label = file_label(item)
    if label is None:
        return "no class label in the file name (expected <label>_<name>, e.g. 260_1.png)"
    if label not in pairs:
        known = ",".join(str(source) for source in pairs)
        return f"class {label} is not a source class (--source {known})"
    return None


def mapped_labels(
    items: Sequence[ImageItem], pairs: Mapping[int, int]
) -> tuple[list[int], list[int]]:
    """The source and target class of each item; an item ``skip_reason`` rejects is a bug."""
    sources = []
    for item in items:
        label = file_label(item)
        if label is None or label not in pairs:
            raise ValueError(f"{item.path} has no source class of {sorted(pairs)}")
        sources.append(label)
    return sources, [pairs[label] for label in sources]
