"""What the main window needs from a studio panel, and the worker bookkeeping they all share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QBoxLayout,
    QButtonGroup,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QWidget,
)

from app.model.document import Document
from app.qt_image import to_qimage
from app.worker import EngineWorker
from engine.cancel import CancelToken

if TYPE_CHECKING:
    from app.widgets.canvas import ImageCanvas


class StudioPanel(QWidget):
    """Base of the studio panels: binds document ↔ widgets and sends work to the engine worker.

    Jobs sent with :meth:`submit` are tracked per channel until the worker answers the newest one
    (finished, cancelled or failed), which is what :meth:`is_idle` reports. A panel that keeps its
    full-resolution :class:`~engine.studios.base.EditResult` in ``self.result`` gets export for
    free (:meth:`export_result` saves ``result.image`` atomically in the worker).

    Signals:
        engine_status(str): what ran (backend, device, time) for the status bar.
        message(str): a transient status-bar message (errors included).
        export_requested(): the panel's export button was pressed (the window asks for a file).
    """

    name: str = ""
    title: str = ""
    icon: str = "mdi6.image"
    """qtawesome icon name shown in the studio switcher."""
    export_suffix: str = "result"
    """Suggested export file name: ``<image stem>_<export_suffix>.png``."""
    radio_result: Optional[QRadioButton] = None
    radio_original: Optional[QRadioButton] = None
    """A panel's "result / original" radio buttons, kept in step by :meth:`set_show_original`."""
    view_channels: tuple[str, ...] = ()
    """Channels whose jobs only serve what the studio shows (renders, parsing): the window cancels
    them when another studio is shown (:meth:`cancel_view_jobs`); the panel redoes them on
    :meth:`activate`. Exports and saves are never in here: they always finish."""

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
        self.result: Any = None
        self.show_original = False
        self._waiting: dict[str, int] = {}  # channel → newest generation not yet answered
        # Bound methods of this widget only: PySide calls a lambda connected to a signal of the
        # worker in the worker thread (a direct call), which raced submit() — a fast failing job
        # could be marked done before it was tracked, leaving the panel busy for ever.
        worker.finished.connect(self._job_done)
        worker.cancelled.connect(self._job_done)
        worker.error.connect(self._job_failed)
        worker.result.connect(self._export_done)

    # -- worker bookkeeping -----------------------------------------------------------------------
    def submit(self, channel: str, job: Callable[[CancelToken], Any]) -> int:
        """Send ``job`` to the worker on ``channel`` (newest wins) and track it; returns its generation."""
        gen = self.worker.submit(channel, job)
        self._waiting[channel] = gen
        return gen

    def _job_done(self, channel: str, gen: int) -> None:
        if self._waiting.get(channel) == gen:
            del self._waiting[channel]

    def _job_failed(self, channel: str, gen: int, _message: str) -> None:
        self._job_done(channel, gen)

    def is_idle(self) -> bool:
        """True when the studio has no outstanding engine job (used by --screenshot and tests)."""
        return not self._waiting

    def cancel_view_jobs(self) -> list[str]:
        """Cancel the queued or running jobs of :attr:`view_channels` (another studio is shown, so
        their results would be thrown away) and stop tracking them; returns the channels cancelled."""
        cancelled = [ch for ch in self.view_channels if ch in self._waiting]
        for ch in cancelled:
            self.worker.cancel(ch)
            del self._waiting[ch]  # a queued request is dropped without a signal
        return cancelled

    def _doc_size(self) -> QSize:
        """Size of the document image (empty when none is open), for the canvas."""
        if self.doc.image is None:
            return QSize()
        h, w = self.doc.image.shape[:2]
        return QSize(w, h)

    # -- document and engine plumbing ------------------------------------------------------------
    def _forget_result(self) -> None:
        """A new document image: the previous result no longer applies (nothing to export)."""
        self.result = None
        self.export_button.setEnabled(False)

    def _show_document(self, after: Optional[np.ndarray] = None) -> None:
        """Put the document image on the canvas as "before" and ``after`` (default: none yet)."""
        image = self.doc.image
        self.canvas.set_document_size(self._doc_size())
        self.canvas.set_before(to_qimage(image) if image is not None else None)
        self.canvas.set_after(to_qimage(after) if after is not None else None)

    def _submit_edit(self, channel: str, editor: Any, image: np.ndarray, params: Any,
                     load: Optional[Callable[[Any, np.ndarray], None]] = None) -> int:
        """Stream ``editor.edit_stream(params)`` from the worker on ``channel`` (newest request wins).

        The editor gets ``image`` first when it holds another one, through ``load(editor, image)``
        (default ``editor.set_image``) — in the worker, as that may run face analysis.
        """
        def job(token: CancelToken) -> Any:
            if not editor.has_image or editor.image is not image:
                if load is None:
                    editor.set_image(image)
                else:
                    load(editor, image)
            yield from editor.edit_stream(params, token)

        return self.submit(channel, job)

    # -- shared controls --------------------------------------------------------------------------
    def _add_show_group(self, lay: QBoxLayout, result_text: str) -> QHBoxLayout:
        """Add the "Show" group (result / original radios bound to :meth:`set_show_original`).

        Sets ``view_group``, ``radio_result`` and ``radio_original``; returns the group's row so a
        panel can add its own view options.
        """
        view = QGroupBox("Show")
        row = QHBoxLayout(view)
        self.view_group = QButtonGroup(self)
        self.radio_result = QRadioButton(result_text)
        self.radio_original = QRadioButton("Original")
        self.radio_result.setChecked(True)
        for i, b in enumerate((self.radio_result, self.radio_original)):
            self.view_group.addButton(b, i)
            row.addWidget(b)
        self.view_group.idToggled.connect(lambda i, on: on and self.set_show_original(i == 1))
        lay.addWidget(view)
        return row

    def _add_export_and_info(self, lay: QBoxLayout, export_text: str, info_text: str = "",
                             batch_text: Optional[str] = None, info_lines: int = 0) -> None:
        """Add the export button (off until there is a result), an optional batch button and the
        grey info line; sets ``export_button``, ``batch_button`` (when asked) and ``info_label``."""
        self.export_button = QPushButton(export_text)
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_requested)
        lay.addWidget(self.export_button)
        if batch_text is not None:
            self.batch_button = QPushButton(batch_text)
            self.batch_button.clicked.connect(self.open_batch_dialog)
            lay.addWidget(self.batch_button)
        self.info_label = QLabel(info_text)
        self.info_label.setWordWrap(True)
        self.info_label.setStyleSheet("color: #777;")
        if info_lines:
            self.info_label.setMinimumHeight(info_lines * self.info_label.fontMetrics().lineSpacing())
        lay.addWidget(self.info_label)

    # -- view -------------------------------------------------------------------------------------
    def set_show_original(self, on: bool) -> None:
        """Show the opened image instead of the result on the canvas (the split still compares)."""
        self.show_original = on
        button = self.radio_original if on else self.radio_result
        if button is not None and not button.isChecked():
            button.setChecked(True)
        if on and self.doc.image is not None:
            self.canvas.set_after(to_qimage(self.doc.image))
        elif self.result is not None:
            self.canvas.set_after(to_qimage(self.result.image))

    def toggle_view(self) -> None:
        """Result ↔ original (Tab)."""
        self.set_show_original(not self.show_original)

    # -- export -----------------------------------------------------------------------------------
    @property
    def export_channel(self) -> str:
        return f"{self.name}.export"

    def export_image(self, path: str, image: np.ndarray) -> None:
        """Save ``image`` to ``path`` atomically in the worker; the status bar says when it is written."""

        def job(token: CancelToken) -> str:
            from engine.imageio import save_image

            return str(save_image(path, image))

        self.submit(self.export_channel, job)

    def _export_done(self, channel: str, gen: int, value: object) -> None:
        if channel == self.export_channel:
            self.message.emit(f"Exported {value}")

    def has_result(self) -> bool:
        """True when there is a full-resolution result to export."""
        return self.result is not None

    def export_result(self, path: str) -> None:
        """Write the current result to ``path`` (through the worker)."""
        if not self.has_result():
            self.message.emit(f"{self.title}: nothing to export yet")
            return
        self.export_image(path, self.result.image)

    def suggested_export_name(self) -> str:
        stem = self.doc.path.stem if self.doc.path is not None else self.name
        return f"{stem}_{self.export_suffix}.png"

    def export_filter(self) -> str:
        return "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"

    # -- hooks ------------------------------------------------------------------------------------
    def activate(self) -> None:
        """Called when the panel becomes the visible studio: refresh the canvas."""

    def deactivate(self) -> None:
        """Called before another studio is shown: remove what this panel put on the shared canvas."""

    def open_batch_dialog(self) -> None:
        """Open this studio's batch export dialog."""

    def save_settings(self) -> None:
        """Persist the panel's parameters (QSettings)."""
