"""Reference gallery: thumbnails of reference pictures keyed by a string; image files can be dropped on it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from app.qt_image import to_qimage
from app.widgets.file_drop import accept_local_files, take_local_files

THUMB = 96
"""Thumbnail side (pixels)."""


def thumbnail(image: np.ndarray, side: int = THUMB) -> np.ndarray:
    """``image`` shrunk so its long side is ``side`` (INTER_AREA), for a gallery entry.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        side: long side of the thumbnail.

    Returns:
        ``uint8`` RGB thumbnail.
    """
    import cv2

    h, w = image.shape[:2]
    s = side / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


class ReferenceGallery(QListWidget):
    """Thumbnails of reference pictures; accepts image files dropped on it.

    Args:
        parent: Qt parent.

    Signals:
        files_dropped(list): local file paths dropped onto the gallery.
    """

    files_dropped = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 14, THUMB + 30))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setWrapping(True)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setMinimumHeight(2 * (THUMB + 30) + 8)
        self.setToolTip("Reference masks: click one to colour the sketch from it; drop pictures here to add them")

    def add_entry(self, key: str, label: str, thumb: np.ndarray) -> QListWidgetItem:
        """Add (or refresh) the entry ``key`` with its text and thumbnail; returns its item."""
        item = self.item_for(key)
        if item is None:
            item = QListWidgetItem(self)
            item.setData(Qt.ItemDataRole.UserRole, key)
        item.setText(label)
        item.setToolTip(key)
        item.setIcon(QIcon(QPixmap.fromImage(to_qimage(thumb))))
        return item

    def item_for(self, key: str) -> QListWidgetItem | None:
        """The item of ``key``, or ``None``."""
        for i in range(self.count()):
            it = self.item(i)
            if it.data(Qt.ItemDataRole.UserRole) == key:
                return it
        return None

    def keys(self) -> list[str]:
        """Entry keys in display order."""
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def select_key(self, key: str) -> None:
        """Highlight entry ``key`` (none when it is not there) without emitting signals."""
        item = self.item_for(key)
        self.blockSignals(True)
        if item is not None:
            self.setCurrentItem(item)
        else:
            self.clearSelection()
        self.blockSignals(False)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        accept_local_files(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        accept_local_files(event)

    def dropEvent(self, event: QDropEvent) -> None:
        files = take_local_files(event)
        if files:
            self.files_dropped.emit(files)
