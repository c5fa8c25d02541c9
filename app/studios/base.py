"""What the main window needs from a studio panel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QWidget

from app.document import Document
from app.worker import EngineWorker

if TYPE_CHECKING:
    from app.widgets.canvas import ImageCanvas


class StudioPanel(QWidget):
    """Base of the studio panels: binds document ↔ widgets and sends work to the engine worker.

    Signals:
        engine_status(str): what ran (backend, device, time) for the status bar.
        message(str): a transient status-bar message (errors included).
        export_requested(): the panel's export button was pressed (the window asks for a file).
    """

    name: str = ""
    title: str = ""
    icon: str = "mdi6.image"
    """qtawesome icon name shown in the studio switcher."""

    engine_status = Signal(str)
    message = Signal(str)
    export_requested = Signal()

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: "ImageCanvas",
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.undo = undo
        self.worker = worker
        self.canvas = canvas

    def activate(self) -> None:
        """Called when the panel becomes the visible studio: refresh the canvas."""

    def deactivate(self) -> None:
        """Called before another studio is shown: remove what this panel put on the shared canvas."""

    def has_result(self) -> bool:
        """True when there is a full-resolution result to export."""
        return False

    def export_result(self, path: str) -> None:
        """Write the current result to ``path`` (through the worker)."""
        raise NotImplementedError

    def export_filter(self) -> str:
        return "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"

    def is_idle(self) -> bool:
        """True when the studio has no outstanding engine job (used by --screenshot)."""
        return True

    def open_batch_dialog(self) -> None:
        """Open this studio's batch export dialog."""

    def save_settings(self) -> None:
        """Persist the panel's parameters (QSettings)."""
