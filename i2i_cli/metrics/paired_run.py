"""Paired evaluations over two folders (pairs matched by file name), sharded across ranks."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from i2i_cli.base.errors import UsageError
from i2i_cli.io.image_fit import fit_to_size
from i2i_cli.io.input_record import PreparedInputs, read_prepared_inputs
from i2i_cli.metrics.images import PilTransform, format_census, images_in, pair_by_key
from i2i_cli.metrics.miou import Confusion, cityscapes_train_ids
from i2i_cli.metrics.paired_eval import PairScores, score_pairs
from i2i_cli.metrics.settings import MiouSettings, PairedSettings

if TYPE_CHECKING:
    from i2i_cli.metrics.sources import Warnings
    from i2i_cli.run.context import RunContext

_LISTED = 3


def _pairs(images: Path, other: Path, role: str) -> tuple[list, int]:
    """The pairs of ``images`` with ``other`` by name, and how many files ``other`` holds."""
    found = images_in(images, "images")
    sources = images_in(other, role)
    return pair_by_key(found, sources, images, other), len(sources)


def source_preparation(prepared: PreparedInputs | None) -> PilTransform | None:
    """The fit a translate run applied to its sources (None: none recorded)."""
    if prepared is None:
        return None
    return partial(fit_to_size, size=prepared.size, fit=prepared.fit)


def paired_fields(
    names: list[str], settings: PairedSettings, ctx: RunContext, warnings: Warnings, metric: str
) -> dict[str, Any]:
    """Means of the paired metrics ``names`` and the fields recording how they were computed."""
    from i2i_cli.metrics.sources import required

    images = Path(required(settings.images, "--images DIR", metric))
    prepared = read_prepared_inputs(images) if images.is_dir() else None
    recorded = prepared.input if prepared else None
    source = Path(required(settings.source or recorded, "--source DIR", metric))
    pairs, source_count = _pairs(images, source, "source")
    ctx.progress.start_items(len(pairs), "pairs")
    local = score_pairs(
        ctx.runtime.shard(pairs),
        names,
        size=settings.paired_size or None,
        batch_size=ctx.run.batch_size,  # type: ignore[attr-defined]
        device=ctx.runtime.device,
        on_batch=ctx.progress.advance_items,
        prepare_source=source_preparation(prepared),
    )
    scores = PairScores().merge(ctx.runtime.all_gather_objects(local))
    if scores.skipped:
        first = "; ".join(scores.skipped[:_LISTED])
        warnings.warn(f"skipped {len(scores.skipped)} pair(s) with an unreadable file ({first})")
    resize = (
        f"PIL bicubic, shorter side to {settings.paired_size} (torchvision Resize), then ToTensor"
        if settings.paired_size
        else "stored size, ToTensor"
    )
    return {
        **scores.means(names),
        "images": str(images),
        "images_formats": format_census(image for image, _ in pairs),
        "source": str(source),
        "pairs": len(scores.values),
        "pairs_skipped": len(scores.skipped),
        "source_count": source_count,
        "pairing": "by file name without suffix",
        "paired_resize": resize,
        "source_prepared": prepared.describe() if prepared else "as stored",
        "paired_dtype": "float32 in [0, 1]; MSE and PSNR in float64",
    }


def read_labels(path: Path, label_format: str) -> np.ndarray:
    """A single-channel label map as class indices (255 = void)."""
    try:
        with Image.open(path) as image:
            labels = np.array(image)
    except Exception as error:
        raise UsageError(f"cannot read label map {path}: {error}") from None
    if labels.ndim != 2:
        raise UsageError(
            f"label map {path} has {labels.shape[-1]} channels; expected one channel of class ids"
        )
    if label_format == "cityscapes-label-ids":
        return cityscapes_train_ids(labels)
    return labels


def miou_fields(settings: MiouSettings, ctx: RunContext, warnings: Warnings) -> dict[str, Any]:
    """Mean IoU of predicted label maps against the ground truth, from one confusion matrix."""
    from i2i_cli.metrics.sources import required

    images = Path(required(settings.images, "--images DIR", "miou"))
    truth = Path(required(settings.truth, "--truth DIR", "miou"))
    pairs, truth_count = _pairs(images, truth, "truth")
    ctx.progress.start_items(len(pairs), "label maps")
    confusion = Confusion(settings.classes)
    for predicted, actual in ctx.runtime.shard(pairs):
        prediction = read_labels(predicted.path, settings.prediction_format)
        labels = read_labels(actual.path, settings.truth_format)
        if prediction.shape != labels.shape:
            raise UsageError(
                f"{predicted.path} is {prediction.shape[1]}x{prediction.shape[0]} but "
                f"{actual.path} is {labels.shape[1]}x{labels.shape[0]}"
            )
        confusion.add(labels, prediction)
        ctx.progress.advance_items(1)
    confusion.counts = sum(ctx.runtime.all_gather_objects(confusion.counts))
    ious = confusion.per_class_iou()
    absent = int(np.isnan(ious).sum())
    if absent:
        warnings.warn(f"{absent} of {settings.classes} classes occur nowhere; they are left out")
    return {
        "miou": confusion.mean_iou(),
        "pixel_accuracy": confusion.pixel_accuracy(),
        "per_class_iou": [None if np.isnan(v) else float(v) for v in ious],
        "classes": settings.classes,
        "images": str(images),
        "truth": str(truth),
        "pairs": len(pairs),
        "truth_count": truth_count,
        "prediction_format": settings.prediction_format,
        "truth_format": settings.truth_format,
        "method": "confusion matrix over non-void pixels; IoU = TP / (TP + FP + FN)",
    }
