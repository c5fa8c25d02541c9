"""Batch export dialog: input folder × current parameters → output folder, with progress, ETA, Cancel.

The job runs in its own ``QThread`` (it can take minutes and must not block live previews); the
engine's batch core spreads it over worker processes, writes a resumable manifest and checks the
cancel token between images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QThread, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.cancel import CancelToken


def format_eta(seconds: float | None) -> str:
    """``"1:05"`` style remaining time; ``"–"`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class BatchRunner(QObject):
    """Runs one batch job in a thread; reports progress and the summary as signals."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, spec: Any) -> None:
        super().__init__()
        self.spec = spec
        self.token = CancelToken()

    @Slot()
    def run(self) -> None:
        from engine.batch import run_batch
        from engine.errors import Cancelled, MasqueradeError

        try:
            summary = run_batch(self.spec, progress=self.progress.emit, cancel=self.token)
        except Cancelled:
            self.cancelled.emit()
        except (MasqueradeError, ValueError, OSError) as exc:
            self.failed.emit(str(exc))
        else:
            self.finished.emit(summary)


class BatchDialog(QDialog):
    """Choose folders and workers, run, watch progress, cancel.

    Args:
        op: batch operation name (``"lineart"``).
        params: base parameters of the operation (the studio's current ones).
    """

    def __init__(self, op: str, params: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Batch {op}")
        self.setMinimumWidth(560)
        self.op = op
        self.params = dict(params)
        self.thread: QThread | None = None
        self.runner: BatchRunner | None = None
        self.summary: Any = None
        s = QSettings()

        self.input_edit = QLineEdit(str(s.value("batch/input", "")))
        self.output_edit = QLineEdit(str(s.value("batch/output", "")))
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, os.cpu_count() or 1))
        self.workers.setValue(min(self.workers.maximum(), int(s.value("batch/workers", 2))))
        form = QFormLayout()
        form.addRow("Input folder", self._with_browse(self.input_edit))
        form.addRow("Output folder", self._with_browse(self.output_edit))
        form.addRow("Worker processes", self.workers)
        self.replace_box = QCheckBox("Replace a different job already in the output folder")
        self.replace_box.setToolTip(
            "Without this, a folder that holds another job's results (other parameters or operation) "
            "is refused. With it, that job's manifest is kept as manifest.jsonl.old and its images "
            "are overwritten where names match. The same job always resumes.")
        form.addRow("", self.replace_box)
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items() if v is not None)
        params_label = QLabel(shown)
        params_label.setWordWrap(True)
        form.addRow("Parameters", params_label)

        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status = QLabel("Re-running into the same output folder resumes: finished images are skipped.")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = self.buttons.addButton("Close", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(edit, 1)
        b = QPushButton("Browse…")
        b.clicked.connect(lambda: self._browse(edit))
        h.addWidget(b)
        return w

    def _browse(self, edit: QLineEdit) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose folder", edit.text())
        if d:
            edit.setText(d)

    # -- running ----------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.thread is not None

    def start(self) -> None:
        """Validate the folders and start the job in a background thread."""
        from engine.batch import JobSpec

        if self.running():
            return
        inp, out = self.input_edit.text().strip(), self.output_edit.text().strip()
        if not inp or not Path(inp).is_dir():
            self.status.setText(f"Input folder not found: {inp or '(empty)'}")
            return
        if not out:
            self.status.setText("Choose an output folder")
            return
        s = QSettings()
        s.setValue("batch/input", inp)
        s.setValue("batch/output", out)
        s.setValue("batch/workers", self.workers.value())
        spec = JobSpec(op=self.op, input_dir=Path(inp), output_dir=Path(out),
                       params=self.params, workers=self.workers.value(), force=self.replace_box.isChecked())
        self.runner = BatchRunner(spec)
        self.thread = QThread(self)
        self.runner.moveToThread(self.thread)
        self.thread.started.connect(self.runner.run)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Starting worker processes…")
        self.thread.start()

    def cancel(self) -> None:
        """Ask the job to stop after the images in flight."""
        if self.runner is not None:
            self.runner.token.cancel()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _on_progress(self, p: Any) -> None:
        self.bar.setRange(0, max(1, p.total))
        self.bar.setValue(p.done + p.skipped + p.failed)
        self.status.setText(
            f"{p.done + p.skipped + p.failed} / {p.total} · {p.failed} failed · "
            f"{p.skipped} already done · ETA {format_eta(p.eta_s)}")

    def _finish_thread(self) -> None:
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait()
        self.thread = None
        self.runner = None
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_finished(self, summary: Any) -> None:
        self.summary = summary
        self._finish_thread()
        self.bar.setRange(0, max(1, summary.total))
        self.bar.setValue(summary.total)
        self.status.setText(
            f"Done: {summary.done} written, {summary.skipped} already done, {summary.failed} failed "
            f"— manifest: {summary.manifest_path}")

    def _on_failed(self, message: str) -> None:
        self._finish_thread()
        # the engine words it for the command line; here the option is the checkbox
        message = message.replace("force (--force)", f"tick “{self.replace_box.text()}”")
        self.status.setText(f"Batch failed: {message}")

    def _on_cancelled(self) -> None:
        self._finish_thread()
        self.status.setText("Cancelled. Finished images are kept; start again to resume.")

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running():
            self.cancel()
            self._finish_thread()
        super().closeEvent(event)

    def reject(self) -> None:
        """Escape / window close: cancel a running job first."""
        if self.running():
            self.cancel()
            self._finish_thread()
        super().reject()
