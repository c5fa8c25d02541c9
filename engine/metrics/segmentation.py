"""Label-map agreement: confusion matrix, per-class IoU and mIoU."""

from __future__ import annotations

import numpy as np


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int,
                     ignore_index: int | None = None) -> np.ndarray:
    """``int64`` ``[K, K]`` counts, rows = target class, columns = predicted class.

    Args:
        pred: integer label map(s), any shape.
        target: same shape as ``pred``.
        num_classes: ``K``; labels must lie in ``0..K-1`` (except ``ignore_index``).
        ignore_index: target value whose pixels are left out.

    Raises:
        ValueError: shape mismatch, labels out of range, ``num_classes < 1``.
    """
    p, t = np.asarray(pred), np.asarray(target)
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    if num_classes < 1:
        raise ValueError(f"num_classes must be ≥ 1, got {num_classes}")
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    p, t = p[keep].astype(np.int64), t[keep].astype(np.int64)
    for name, v in (("pred", p), ("target", t)):
        if v.size and (v.min() < 0 or v.max() >= num_classes):
            raise ValueError(f"{name} has labels outside 0..{num_classes - 1}")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU of each class from a confusion matrix; ``nan`` for classes absent from both maps."""
    c = np.asarray(confusion, np.float64)
    inter = np.diag(c)
    union = c.sum(0) + c.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)


def mean_iou(pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None = None) -> float:
    """Mean IoU over the classes present in ``pred`` or ``target``.

    Args:
        pred: integer label map(s).
        target: ground truth, same shape.
        num_classes: number of classes.
        ignore_index: target value left out.

    Returns:
        mIoU in [0, 1].

    Raises:
        ValueError: see :func:`confusion_matrix`; no pixel left to compare.
    """
    iou = iou_per_class(confusion_matrix(pred, target, num_classes, ignore_index))
    if np.all(np.isnan(iou)):
        raise ValueError("no pixels to compare (everything ignored?)")
    return float(np.nanmean(iou))
