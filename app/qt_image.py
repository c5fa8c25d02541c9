"""numpy ↔ Qt image conversion (the only place that knows both layouts)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def to_qimage(array: np.ndarray) -> QImage:
    """Copy a ``uint8`` grey ``[H, W]``, RGB ``[H, W, 3]`` or RGBA ``[H, W, 4]`` array into a QImage."""
    arr = np.ascontiguousarray(array)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 image, got {arr.dtype}")
    if arr.ndim == 2:
        h, w = arr.shape
        fmt, stride = QImage.Format.Format_Grayscale8, w
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        h, w, c = arr.shape
        fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
        stride = w * c
    else:
        raise ValueError(f"cannot show an array of shape {arr.shape}")
    return QImage(arr.data, w, h, stride, fmt).copy()


def from_qimage(image: QImage) -> np.ndarray:
    """RGB ``uint8`` ``[H, W, 3]`` copy of a QImage (any format)."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()
