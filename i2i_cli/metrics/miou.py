"""Mean intersection-over-union from a confusion matrix (bbdm.md §9, Cityscapes protocol).

The reference's ``eval_miou.py`` does not run as written and torchmanager's ``MeanIoU`` bit-ANDs
class indices instead of counting matches; here every labelled pixel adds one count to
``confusion[truth, prediction]``, and IoU_c = TP / (TP + FP + FN) per class, averaged over the
classes that occur in the ground truth or the predictions. Void pixels are ignored.
"""

from __future__ import annotations

import numpy as np

IGNORE = 255
"""Label value of void pixels (Cityscapes trainId convention)."""

CITYSCAPES_EVAL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
"""Cityscapes labelIds of the 19 evaluated classes, in trainId order 0..18 (bbdm.md §9)."""


def cityscapes_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Cityscapes labelIds -> trainIds 0..18, every other id -> 255 (void)."""
    table = np.full(256, IGNORE, dtype=np.uint8)
    for train_id, label_id in enumerate(CITYSCAPES_EVAL_IDS):
        table[label_id] = train_id
    return table[np.asarray(label_ids, dtype=np.uint8)]


class Confusion:
    """Pixel counts ``[truth, prediction]`` over non-void truth pixels.

    ``counts`` is (classes, classes + 1): its last column holds pixels predicted outside the
    classes (e.g. void), which count as misses of their true class.
    """

    def __init__(self, classes: int) -> None:
        self.classes = classes
        self.counts = np.zeros((classes, classes + 1), dtype=np.int64)

    def add(self, truth: np.ndarray, prediction: np.ndarray) -> None:
        """Count one pair of label maps of the same size."""
        truth = np.asarray(truth).astype(np.int64)
        prediction = np.asarray(prediction).astype(np.int64)
        if truth.shape != prediction.shape:
            raise ValueError(f"label maps differ in size: {truth.shape} and {prediction.shape}")
        truth, prediction = truth.ravel(), prediction.ravel()
        valid = (truth >= 0) & (truth < self.classes)
        inside = (prediction >= 0) & (prediction < self.classes)
        predicted = np.where(inside, prediction, self.classes)
        width = self.classes + 1
        flat = np.bincount(truth[valid] * width + predicted[valid], minlength=self.classes * width)
        self.counts += flat.reshape(self.classes, width)

    def per_class_iou(self) -> np.ndarray:
        """IoU_c = TP / (TP + FP + FN) per class; NaN where the class occurs nowhere."""
        hits = np.diag(self.counts[:, : self.classes]).astype(np.float64)
        union = self.counts.sum(axis=1) + self.counts[:, : self.classes].sum(axis=0) - hits
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(union > 0, hits / np.maximum(union, 1), np.nan)

    def mean_iou(self) -> float:
        """The mean of the per-class IoUs over the classes that occur."""
        ious = self.per_class_iou()
        present = ious[~np.isnan(ious)]
        return float(present.mean()) if present.size else float("nan")

    def pixel_accuracy(self) -> float:
        """Correct pixels over labelled pixels."""
        total = self.counts.sum()
        return float(np.trace(self.counts[:, : self.classes]) / total) if total else float("nan")
