"""Undoable label-map edits for the mask painter (Regenerate studio).

A :class:`LabelMap` holds the edited ``uint8`` ``[H, W]`` map (official CelebAMask-HQ order). Each
stroke, fill, rectangle or lasso is one :class:`PaintLabelsCommand` that stores only the changed
bounding box with its old and new values (napari-style paint atoms). Loading a whole map is one
:class:`ReplaceLabelsCommand`. Both work on a bare ``QUndoStack`` without widgets.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from PySide6.QtGui import QUndoCommand


class LabelMap:
    """The edited label map plus change listeners (no Qt needed).

    Args:
        labels: initial ``uint8`` ``[H, W]`` map (copied).
    """

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = np.array(labels, dtype=np.uint8, copy=True)
        self._listeners: list[Callable[[Optional[tuple[int, int, int, int]]], None]] = []

    def subscribe(self, fn: Callable[[Optional[tuple[int, int, int, int]]], None]) -> None:
        """Call ``fn(bbox)`` after every change (``bbox = (y0, x0, y1, x1)``, ``None`` = everything)."""
        self._listeners.append(fn)

    def notify(self, bbox: Optional[tuple[int, int, int, int]] = None) -> None:
        for fn in list(self._listeners):
            fn(bbox)

    def write(self, y0: int, x0: int, patch: np.ndarray) -> None:
        """Write ``patch`` at ``(y0, x0)`` and notify."""
        h, w = patch.shape
        self.labels[y0:y0 + h, x0:x0 + w] = patch
        self.notify((y0, x0, y0 + h, x0 + w))

    def replace(self, labels: np.ndarray) -> None:
        """Swap in a whole new map (any size) and notify."""
        self.labels = np.array(labels, dtype=np.uint8, copy=True)
        self.notify(None)


def changed_box(before: np.ndarray, after: np.ndarray) -> Optional[tuple[int, int, int, int]]:
    """Bounding box ``(y0, x0, y1, x1)`` of the pixels that differ, or ``None``."""
    diff = before != after
    if not diff.any():
        return None
    ys = np.flatnonzero(diff.any(1))
    xs = np.flatnonzero(diff.any(0))
    return int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1


class PaintLabelsCommand(QUndoCommand):
    """One paint gesture: the changed box with its old and new values.

    Args:
        model: the :class:`LabelMap`.
        y0: top of the changed box.
        x0: left of the changed box.
        old: ``uint8`` values of the box before the gesture.
        new: ``uint8`` values after it (same shape).
        text: undo-history text, e.g. ``"Paint hair"``.
        applied: ``True`` when the model already holds ``new`` (a live stroke): the first ``redo``
            then does nothing.
    """

    def __init__(self, model: LabelMap, y0: int, x0: int, old: np.ndarray, new: np.ndarray,
                 text: str = "Paint labels", applied: bool = False) -> None:
        super().__init__(text)
        if old.shape != new.shape:
            raise ValueError("old and new patches must have the same shape")
        self.model = model
        self.y0, self.x0 = y0, x0
        self.old = old.copy()
        self.new = new.copy()
        self._skip = applied

    @classmethod
    def from_maps(cls, model: LabelMap, before: np.ndarray, after: np.ndarray, text: str,
                  applied: bool = False) -> Optional["PaintLabelsCommand"]:
        """A command for the difference ``before → after`` (``None`` when nothing changed)."""
        box = changed_box(before, after)
        if box is None:
            return None
        y0, x0, y1, x1 = box
        return cls(model, y0, x0, before[y0:y1, x0:x1], after[y0:y1, x0:x1], text, applied)

    @property
    def nbytes(self) -> int:
        """Memory held by the command (old + new patches)."""
        return int(self.old.nbytes + self.new.nbytes)

    def redo(self) -> None:
        if self._skip:
            self._skip = False
            self.model.notify((self.y0, self.x0, self.y0 + self.new.shape[0], self.x0 + self.new.shape[1]))
            return
        self.model.write(self.y0, self.x0, self.new)

    def undo(self) -> None:
        self.model.write(self.y0, self.x0, self.old)


class ReplaceLabelsCommand(QUndoCommand):
    """Replace the whole map (load a mask file, reset to the photo's parsing).

    Args:
        model: the :class:`LabelMap`.
        labels: the new ``uint8`` ``[H, W]`` map.
        text: undo-history text.
    """

    def __init__(self, model: LabelMap, labels: np.ndarray, text: str = "Load mask") -> None:
        super().__init__(text)
        self.model = model
        self.old = model.labels.copy()
        self.new = np.array(labels, dtype=np.uint8, copy=True)

    def redo(self) -> None:
        self.model.replace(self.new)

    def undo(self) -> None:
        self.model.replace(self.old)
