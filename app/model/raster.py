"""ONE raster layer for the document's painted pixels, with its two undo commands.

The Regenerate label map and the Opera sketch are both a :class:`RasterLayer` (``uint8`` ``[H, W]``
numpy pixels in a small ``QObject`` that says what changed). Every edit of a layer is one of two
commands, napari-style:

* :class:`PatchCommand` — a gesture (stroke, fill, clear): the changed box with its old and new
  values, nothing else;
* :class:`ReplaceCommand` — the whole layer (load a file, import a picture, new canvas, reset to the
  photo's parsing); the size may change.

Large stored pixels are kept zlib-compressed (:data:`PACK_BYTES`): a 2048² sketch or label map is
mostly flat, so a whole-image step costs tens of kilobytes instead of 8 MB while it sits in a
(limited, see :data:`app.model.commands.UNDO_LIMIT`) undo stack. The commands need no widget and are
tested on a bare ``QUndoStack``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

PACK_BYTES = 1 << 16
"""Stored pixel arrays larger than this (bytes) are kept zlib-compressed inside undo commands."""

Check = Callable[[np.ndarray], None]
"""A layer's rule for new pixels (e.g. the sketch's 256–2048 side limits): raises ``ValueError``."""


def as_pixels(array: np.ndarray, what: str = "layer") -> np.ndarray:
    """``array`` as a contiguous ``uint8`` ``[H, W]`` copy.

    Raises:
        ValueError: not two-dimensional, or empty.
    """
    arr = np.array(array, dtype=np.uint8, copy=True, order="C")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty grey [H, W] array, got shape {arr.shape}")
    return arr


class RasterLayer(QObject):
    """``uint8`` ``[H, W]`` pixels plus change signals (the label map, the sketch).

    Args:
        pixels: initial pixels (copied).
        check: optional rule every new whole image must pass (raises ``ValueError``); patches keep
            the size, so they are not checked again.
        parent: Qt parent.

    Signals:
        changed(x, y, w, h): pixels changed inside this rectangle (the whole layer on a replace).
        resized(w, h): the layer got a new size (emitted before ``changed``).
    """

    changed = Signal(int, int, int, int)
    resized = Signal(int, int)

    def __init__(self, pixels: np.ndarray, check: Check | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._check = check
        self.pixels = self.checked(pixels)

    def checked(self, pixels: np.ndarray) -> np.ndarray:
        """``pixels`` as this layer would hold them (a ``uint8`` copy), after the layer's rule.

        Raises:
            ValueError: wrong rank or size (the layer's message).
        """
        arr = as_pixels(pixels)
        if self._check is not None:
            self._check(arr)
        return arr

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        h, w = self.pixels.shape
        return int(h), int(w)

    def is_uniform(self, value: int) -> bool:
        """Every pixel equals ``value`` (e.g. a blank sketch)."""
        return bool((self.pixels == value).all())

    def write(self, y: int, x: int, patch: np.ndarray) -> None:
        """Write ``patch`` with its top-left corner at ``(x, y)`` and announce the change."""
        h, w = patch.shape
        self.pixels[y:y + h, x:x + w] = patch
        self.changed.emit(int(x), int(y), int(w), int(h))

    def replace(self, pixels: np.ndarray) -> None:
        """Swap in a whole new image (any size the layer's rule allows) and announce it.

        Raises:
            ValueError: the new pixels break the layer's rule (nothing changes).
        """
        arr = self.checked(pixels)
        resized = arr.shape != self.pixels.shape
        self.pixels = arr
        if resized:
            self.resized.emit(arr.shape[1], arr.shape[0])
        self.changed.emit(0, 0, arr.shape[1], arr.shape[0])

    def touch(self, x: int = 0, y: int = 0, w: int = -1, h: int = -1) -> None:
        """Announce pixels changed in place (a live stroke); the default box is the whole layer."""
        hh, ww = self.shape
        self.changed.emit(int(x), int(y), ww if w < 0 else int(w), hh if h < 0 else int(h))


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box ``(y0, x0, y1, x1)`` (end exclusive) of the pixels that differ, or ``None``."""
    diff = before != after
    if not diff.any():
        return None
    ys = np.flatnonzero(diff.any(1))
    xs = np.flatnonzero(diff.any(0))
    return int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1


class Stored:
    """A ``uint8`` array held by an undo command: as is when small, zlib-compressed when large.

    Args:
        array: the pixels (copied).
    """

    __slots__ = ("shape", "_raw", "_packed")

    def __init__(self, array: np.ndarray) -> None:
        arr = np.ascontiguousarray(array, dtype=np.uint8)
        self.shape: tuple[int, ...] = tuple(int(s) for s in arr.shape)
        if arr.nbytes > PACK_BYTES:
            self._raw: np.ndarray | None = None
            self._packed: bytes | None = zlib.compress(arr.tobytes(), 1)
        else:
            self._raw = arr.copy()
            self._packed = None

    def array(self) -> np.ndarray:
        """A fresh copy of the pixels."""
        if self._raw is not None:
            return self._raw.copy()
        assert self._packed is not None
        return np.frombuffer(zlib.decompress(self._packed), np.uint8).reshape(self.shape).copy()

    @property
    def nbytes(self) -> int:
        """Memory held (compressed size when packed)."""
        if self._packed is not None:
            return len(self._packed)
        assert self._raw is not None
        return int(self._raw.nbytes)


class PatchCommand(QUndoCommand):
    """One gesture on a layer: the changed box with its old and new values.

    Args:
        layer: the :class:`RasterLayer`.
        y: top row of the box.
        x: left column of the box.
        old: ``uint8`` values of the box before the gesture.
        new: ``uint8`` values after it (same shape).
        text: undo-history text in the user's words, e.g. ``"Paint hair"``.
        applied: ``True`` when the layer already holds ``new`` (a live stroke drew it and said so):
            the first ``redo`` (which ``QUndoStack.push`` calls) then does nothing.

    Raises:
        ValueError: ``old`` and ``new`` differ in shape.
    """

    def __init__(self, layer: RasterLayer, y: int, x: int, old: np.ndarray, new: np.ndarray,
                 text: str, applied: bool = False) -> None:
        super().__init__(text)
        if old.shape != new.shape:
            raise ValueError(f"old {old.shape} and new {new.shape} patches differ in shape")
        self.layer = layer
        self.y, self.x = int(y), int(x)
        self._old, self._new = Stored(old), Stored(new)
        self._skip = applied

    @classmethod
    def from_maps(cls, layer: RasterLayer, before: np.ndarray, after: np.ndarray, text: str,
                  applied: bool = False) -> PatchCommand | None:
        """A command for the difference ``before → after`` (``None`` when nothing changed)."""
        box = changed_box(before, after)
        if box is None:
            return None
        y0, x0, y1, x1 = box
        return cls(layer, y0, x0, before[y0:y1, x0:x1], after[y0:y1, x0:x1], text, applied)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` of the changed box."""
        h, w = self._new.shape
        return self.x, self.y, w, h

    @property
    def old(self) -> np.ndarray:
        """The box before the gesture (a copy)."""
        return self._old.array()

    @property
    def new(self) -> np.ndarray:
        """The box after the gesture (a copy)."""
        return self._new.array()

    @property
    def nbytes(self) -> int:
        """Memory held by the command (old + new patches)."""
        return self._old.nbytes + self._new.nbytes

    def redo(self) -> None:
        if self._skip:
            self._skip = False
            return
        self.layer.write(self.y, self.x, self.new)

    def undo(self) -> None:
        self.layer.write(self.y, self.x, self.old)


class ReplaceCommand(QUndoCommand):
    """Replace the whole layer (load, import, new canvas, reset); both images are stored.

    Args:
        layer: the :class:`RasterLayer`.
        pixels: the new ``uint8`` ``[H, W]`` image (the layer's rule decides the allowed sizes).
        text: undo-history text in the user's words, e.g. ``"Load mask"``.

    Raises:
        ValueError: ``pixels`` break the layer's rule (checked here, before anything is pushed).
    """

    def __init__(self, layer: RasterLayer, pixels: np.ndarray, text: str) -> None:
        super().__init__(text)
        self.layer = layer
        self._old = Stored(layer.pixels)
        self._new = Stored(layer.checked(pixels))

    @property
    def nbytes(self) -> int:
        """Memory held by the command (both images, compressed when large)."""
        return self._old.nbytes + self._new.nbytes

    def redo(self) -> None:
        self.layer.replace(self._new.array())

    def undo(self) -> None:
        self.layer.replace(self._old.array())
