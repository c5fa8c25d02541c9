"""Model manager: every model the app knows, whether its weights are there and sound, and Import….

A table of :func:`engine.weights.catalog.list_models` (studio, backend, state, size, SHA-256,
licence, measured quality). *Verify* hashes every present file and loads it into its architecture
with strict shapes; *Import…* checks a downloaded file the same way and copies it where the app
looks for it (:func:`engine.weights.catalog.import_weights`). Both run in the dialog's own engine
worker thread, so hashing a large file never blocks the window. After a successful import every
learned backend forgets what it cached (:func:`engine.studios.base.forget_learned`) and
:attr:`ModelManagerDialog.weights_imported` tells the window, whose studios show their engine
choice again.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.worker import Jobs, WorkerThread
from engine.cancel import CancelToken

CHANNEL = "models"
COLUMNS = ("Model", "Studio", "Backend", "State", "Size", "SHA-256", "Licence", "Quality")
MAX_COLUMN_WIDTH = 240
"""Pixels; wider cells are elided."""
STATE_COLOURS = {"verified": "#1b7f3b", "present": "#1b5e9f", "BROKEN": "#b3261e", "missing": "#8a6d00",
                 "optional, missing": "#777777"}
"""Text colour of the State column."""


def sha_text(entry) -> str:
    """What is known about the file's SHA-256, in a word or two."""
    if not entry.present:
        return "–"
    if not entry.sha256:
        return "not checked"
    return {True: "ok", False: "MISMATCH", None: "no reference"}[entry.sha256_ok] + f" ({entry.sha256[:8]})"


def _stop_if_alive(thread: WorkerThread) -> None:
    """Stop ``thread`` unless Qt already deleted its ``QThread`` (at interpreter exit)."""
    if isValid(thread.thread):
        thread.stop()


class ModelManagerDialog(QDialog):
    """Table of models + Import… + Verify.

    Args:
        parent: owning window.

    Signals:
        weights_imported(): a checkpoint was imported (learned backends have forgotten their caches).
    """

    weights_imported = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model manager")
        self.resize(1280, 520)
        self.entries: list = []
        self.last_error: str | None = None
        self._thread: WorkerThread | None = WorkerThread()
        self.worker = self._thread.worker
        self.jobs = Jobs(self.worker, parent=self)
        # The thread must end before the QThread object goes: on app exit, or when the dialog is
        # destroyed with its parent window without having been closed itself.
        QCoreApplication.instance().aboutToQuit.connect(self.stop_worker)
        thread = self._thread
        self.destroyed.connect(lambda *_: _stop_if_alive(thread))

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)

        self.status = QLabel("Reading the model list…")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        note = QLabel("Weights are never downloaded by the app. Import files you downloaded yourself: they are "
                      "checked (SHA-256 where a reference is known, tensor shapes always, no pickled code) "
                      "before they are copied. Missing models fall back to the classical engines.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")

        self.buttons = QDialogButtonBox()
        self.import_button = self.buttons.addButton("Import…", QDialogButtonBox.ButtonRole.ActionRole)
        self.verify_button = self.buttons.addButton("Verify", QDialogButtonBox.ButtonRole.ActionRole)
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.import_button.clicked.connect(self.import_dialog)
        self.verify_button.clicked.connect(self.verify)
        close.clicked.connect(self.reject)

        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)
        lay.addWidget(note)
        lay.addWidget(self.buttons)
        self.refresh()

    # -- jobs ---------------------------------------------------------------------------------------
    def _submit(self, job: Callable[[CancelToken], tuple[str, list]], message: str,
                after: Callable[[], None] | None = None) -> int:
        """Run ``job`` (returns ``(status text, entries)``) in the dialog's worker; ``after`` runs on
        the GUI thread once it succeeded."""
        self.last_error = None
        self.status.setStyleSheet("")
        self.status.setText(message)
        self.import_button.setEnabled(False)
        self.verify_button.setEnabled(False)
        return self.jobs.submit(CHANNEL, job, lambda value: self._on_result(value, after), self._on_error)

    def refresh(self) -> int:
        """List the models (cheap checks) in the worker; returns the job id."""

        def job(token: CancelToken):
            from engine.weights.catalog import list_models

            return None, list_models(verify=False)

        return self._submit(job, "Reading the model list…")

    def verify(self) -> int:
        """Hash and shape-check every present file in the worker; returns the job id."""

        def job(token: CancelToken):
            from engine.weights.catalog import list_models

            entries = list_models(verify=True)
            bad = sum(1 for e in entries if e.present and not e.ok)
            present = sum(1 for e in entries if e.present)
            return f"Verified {present} present file(s): {bad} failed.", entries

        return self._submit(job, "Verifying: hashing and loading every present file…")

    def import_path(self, path: str) -> int:
        """Check and import ``path`` in the worker, then list again; returns the job id."""

        def job(token: CancelToken) -> tuple[str, list]:
            from engine.studios.base import forget_learned
            from engine.weights.catalog import import_weights, list_models

            res = import_weights(path)
            # a checkpoint was added: every learned backend forgets its cached models and failures, so
            # the studios see the new file without a restart (here, off the GUI thread: forgetting
            # waits for a model that is being loaded)
            forget_learned()
            return res.message[:1].upper() + res.message[1:], list_models(verify=False)

        return self._submit(job, f"Checking {path}…", self.weights_imported.emit)

    def import_dialog(self) -> None:
        start = str(QSettings().value("paths/last_weights_dir", ""))
        path, _ = QFileDialog.getOpenFileName(
            self, "Import weights", start,
            "Weights (*.pth *.pt *.bin *.ckpt *.safetensors *.json);;All files (*)")
        if path:
            from pathlib import Path

            QSettings().setValue("paths/last_weights_dir", str(Path(path).parent))
            self.import_path(path)

    def is_idle(self) -> bool:
        """No job outstanding."""
        return self.jobs.is_idle()

    def _on_result(self, value: object, after: Callable[[], None] | None) -> None:
        assert isinstance(value, tuple)
        message, entries = value
        self.set_entries(entries)
        present = sum(1 for e in entries if e.present)
        self.status.setText(message or f"{len(entries)} models known, {present} with weights present.")
        self._enable()
        if after is not None:
            after()

    def _on_error(self, message: str) -> None:
        self.last_error = message
        self.status.setStyleSheet("color: #b3261e;")
        self.status.setText(f"Refused: {message}")
        self._enable()

    def _enable(self) -> None:
        self.import_button.setEnabled(True)
        self.verify_button.setEnabled(True)

    # -- table --------------------------------------------------------------------------------------
    def set_entries(self, entries: list) -> None:
        """Show ``entries`` (:class:`engine.weights.catalog.ModelEntry`) in the table."""
        from engine.weights.catalog import format_size

        self.entries = list(entries)
        self.table.setRowCount(len(self.entries))
        for row, e in enumerate(self.entries):
            state = e.state
            cells = (e.name, e.studio or "–", e.backend, state, format_size(e.size), sha_text(e),
                     e.licence or "–", e.quality or "–")
            tip = "\n".join(x for x in (e.status, str(e.path) if e.path else "", e.used_for) if x)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{text}\n\n{tip}" if text != "–" else tip)
                if col == COLUMNS.index("State"):
                    item.setForeground(QColor(STATE_COLOURS[state]))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        for col in range(len(COLUMNS) - 1):  # long card texts are elided; the tooltip has them whole
            self.table.setColumnWidth(col, min(self.table.columnWidth(col), MAX_COLUMN_WIDTH))

    def stop_worker(self) -> None:
        """Stop the dialog's worker thread (a running verify is cancelled); safe to call twice."""
        if self._thread is not None:
            self.jobs.cancel([CHANNEL])
            self._thread.stop()
            self._thread = None

    def done(self, result: int) -> None:
        """Close the dialog and stop its worker thread."""
        self.stop_worker()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop_worker()
        super().closeEvent(event)


def open_model_manager(parent: QWidget | None = None) -> ModelManagerDialog:
    """Open the model manager (modeless) over ``parent`` and return it."""
    dlg = ModelManagerDialog(parent)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    return dlg
