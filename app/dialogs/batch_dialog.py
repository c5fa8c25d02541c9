"""Batch export dialog, generated from a studio's batch ops: input folder (or seeds) × a parameter
grid → output folder, with workers, engine, dataset card, progress, ETA and Cancel.

One dialog serves every studio. It lists the ops the studio's package exports
(:func:`studio_ops`, from ``engine/studios/<studio>/batch.py``), starting on the op the studio's
button asked for with the studio's current settings; the form below is built from the chosen op:

* its parameters, one row each (a check box for a flag, a list for an option with choices, a text
  field otherwise — a file field for references), seeded with the studio's values and explained
  by the op's own ``--help`` texts;
* a grid box, one ``NAME=V1,V2,...`` per line: the job runs every combination on every input;
* the input folder for file ops, a count and first seed for procedural ops;
* output folder, workers, engine (this machine or a Ray cluster), the set's licence and
  validation share (``dataset.json``, ``annotations*.json``), "replace a different job".

The job runs in its own ``QThread`` (it can take minutes and must not block live previews); the
engine's batch core spreads it over worker processes (or cluster actors), writes a resumable
manifest and checks the cancel token between images. The ETA comes from the rate after the first
finished image, so worker start-up and model loading do not inflate it.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QThread, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
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


def studio_ops(op: str) -> list[str]:
    """The batch ops of the studio that exports ``op`` (``op`` first), or ``[op]`` for an op no
    studio exports (a plug-in)."""
    from engine.studios.registry import STUDIOS, studio_module

    for studio in STUDIOS:
        names = [o.name for o in studio_module(studio, "batch").BATCH_OPS]
        if op in names:
            return [op] + [n for n in names if n != op]
    return [op]


def op_options(op: str) -> dict[str, argparse.Action]:
    """The op's own command-line options by destination name (help texts, choices)."""
    from engine.batch import get_op

    o = get_op(op)
    if o.add_arguments is None:
        return {}
    parser = argparse.ArgumentParser(add_help=False)
    o.add_arguments(parser)
    return {a.dest: a for a in parser._actions}


def default_params(op: str) -> dict[str, Any]:
    """The op's parameters with nothing chosen: its defaults, or the base its options give."""
    from engine.batch import get_op

    o = get_op(op)
    try:
        return dict(o.normalize({}))
    except (ValueError, OSError):
        pass
    options = {dest: a.default for dest, a in op_options(op).items()}
    if o.params_from_args is not None:
        try:
            return dict(o.params_from_args(argparse.Namespace(**options)))
        except (ValueError, OSError):  # e.g. colorize: no reference chosen yet
            pass
    return options


PATH_KEYS = ("reference", "styles_file")
"""Parameters that name a file: their field gets a Browse… button."""


def is_path_key(key: str) -> bool:
    return key in PATH_KEYS or key.endswith("_reference")


def parse_value(text: str, like: Any) -> Any:
    """The text of a parameter field as a value of the default's type (``""`` → ``None`` when the
    default is ``None``; numbers stay text when they are not numbers: the op's check says why)."""
    from engine.batch.cli import parse_grid_value

    text = text.strip()
    if like is None or isinstance(like, bool):
        return None if text == "" else parse_grid_value(text)
    if isinstance(like, (int, float)):
        try:
            return type(like)(float(text)) if isinstance(like, float) else int(text)
        except ValueError:
            return text
    return text


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


class ParamField(QWidget):
    """One parameter row: a check box, a list of choices, or a text field (with Browse… for files).

    Args:
        key: the parameter name.
        value: its starting value (the studio's, or the op's default).
        action: the op's command-line option of that name (help text, choices), if any.
    """

    def __init__(self, key: str, value: Any, action: argparse.Action | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.like = value
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.check: QCheckBox | None = None
        self.combo: QComboBox | None = None
        self.edit: QLineEdit | None = None
        choices = list(action.choices) if action is not None and action.choices is not None else []
        if isinstance(value, bool):
            self.check = QCheckBox()
            self.check.setChecked(value)
            lay.addWidget(self.check)
            lay.addStretch(1)
        elif choices:
            self.combo = QComboBox()
            for c in choices:
                self.combo.addItem(str(c), c)
            if value in choices:
                self.combo.setCurrentIndex(choices.index(value))
            lay.addWidget(self.combo, 1)
        else:
            self.edit = QLineEdit("" if value is None else str(value))
            if value is None:
                self.edit.setPlaceholderText("default")
            lay.addWidget(self.edit, 1)
            if is_path_key(key):
                b = QPushButton("Browse…")
                b.clicked.connect(self._browse)
                lay.addWidget(b)
        help_text = (action.help or "") if action is not None else ""
        if help_text and help_text != argparse.SUPPRESS:
            self.setToolTip(help_text % {"default": getattr(action, "default", "")} if "%(" in help_text else help_text)

    def _browse(self) -> None:
        assert self.edit is not None
        path, _ = QFileDialog.getOpenFileName(self, f"Choose {self.key}", self.edit.text(),
                                              "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp);;All files (*)")
        if path:
            self.edit.setText(path)

    def value(self) -> Any:
        """The value shown, in the parameter's type."""
        if self.check is not None:
            return self.check.isChecked()
        if self.combo is not None:
            return self.combo.currentData()
        assert self.edit is not None
        return parse_value(self.edit.text(), self.like)


class BatchDialog(QDialog):
    """Choose the op, its parameters and grid, folders, workers and engine; run, watch, cancel.

    Args:
        op: the batch op the studio asked for (``"lineart"``); the studio's other ops are offered too.
        params: base parameters of that op (the studio's current ones).
    """

    def __init__(self, op: str, params: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(600)
        self.op = op
        self.params = dict(params)
        self.studio_params = {op: dict(params)}
        self.thread: QThread | None = None
        self.runner: BatchRunner | None = None
        self.summary: Any = None
        self.fields: dict[str, ParamField] = {}
        s = QSettings()

        self.op_box = QComboBox()
        for name in studio_ops(op):
            self.op_box.addItem(self._op_title(name), name)
        self.op_box.currentIndexChanged.connect(lambda _: self.set_op(str(self.op_box.currentData())))
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setStyleSheet("color: #777;")

        self.input_edit = QLineEdit(str(s.value("batch/input", "")))
        self.input_row = self._with_browse(self.input_edit)
        self.count = QSpinBox()
        self.count.setRange(1, 10_000_000)
        self.count.setValue(int(s.value("batch/count", 100)))
        self.seed_start = QSpinBox()
        self.seed_start.setRange(0, 2_000_000_000)
        self.output_edit = QLineEdit(str(s.value("batch/output", "")))
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, os.cpu_count() or 1))
        self.workers.setValue(min(self.workers.maximum(), int(s.value("batch/workers", 2))))
        self.engine_box = QComboBox()
        self.engine_box.addItem("This machine (worker processes)", "local")
        self.engine_box.addItem("Ray cluster (ray start --head / --address)", "ray")
        self.engine_box.setToolTip("Ray: the tasks run on the cluster's machines, which must see the input and "
                                   "output folders at the same paths; workers = actors (0 = one per CPU).")
        self.address_edit = QLineEdit()
        self.address_edit.setPlaceholderText("this machine's cluster (or RAY_ADDRESS); HOST:PORT of a head node")
        self.engine_box.currentIndexChanged.connect(lambda _: self._engine_changed())
        self.licence_edit = QLineEdit(str(s.value("batch/licence", "")))
        self.licence_edit.setPlaceholderText("e.g. CC BY 4.0 — written into dataset.json and annotations.json")
        self.val_fraction = QDoubleSpinBox()
        self.val_fraction.setRange(0.0, 0.95)
        self.val_fraction.setSingleStep(0.05)
        self.val_fraction.setToolTip("Share of the input files put in the validation split "
                                     "(annotations_val.json); 0: no split")
        self.replace_box = QCheckBox("Replace a different job already in the output folder")
        self.replace_box.setToolTip(
            "Without this, a folder that holds another job's results (other parameters or operation) "
            "is refused. With it, that job's manifest is kept as manifest.jsonl.old and its images "
            "are overwritten where names match. The same job always resumes.")

        top = QFormLayout()
        top.addRow("Operation", self.op_box)
        top.addRow("", self.summary_label)
        self.params_box = QGroupBox("Parameters (the studio's current settings)")
        self.params_form = QFormLayout()
        inner = QWidget()
        inner.setLayout(self.params_form)
        self.params_scroll = QScrollArea()  # long option lists (makeup: 25) scroll instead of growing the dialog
        self.params_scroll.setWidgetResizable(True)
        self.params_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.params_scroll.setWidget(inner)
        box_lay = QVBoxLayout(self.params_box)
        box_lay.setContentsMargins(4, 4, 4, 4)
        box_lay.addWidget(self.params_scroll)
        box_lay.addStretch(1)
        self.grid_edit = QPlainTextEdit()
        self.grid_edit.setFixedHeight(3 * self.grid_edit.fontMetrics().lineSpacing() + 12)
        self.grid_edit.setToolTip("One parameter per line, NAME=V1,V2,...: every combination runs on every input")
        self.grid_edit.textChanged.connect(self._update_counts)
        jobs = QFormLayout()
        self.input_label = QLabel("Input folder")
        jobs.addRow(self.input_label, self.input_row)
        self.count_label = QLabel("Count (seeds)")
        jobs.addRow(self.count_label, self.count)
        self.seed_label = QLabel("First seed")
        jobs.addRow(self.seed_label, self.seed_start)
        jobs.addRow("Parameter grid", self.grid_edit)
        jobs.addRow("Output folder", self._with_browse(self.output_edit))
        jobs.addRow("Worker processes", self.workers)
        jobs.addRow("Engine", self.engine_box)
        self.address_label = QLabel("Cluster address")
        jobs.addRow(self.address_label, self.address_edit)
        jobs.addRow("Licence of the set", self.licence_edit)
        jobs.addRow("Validation share", self.val_fraction)
        jobs.addRow("", self.replace_box)

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
        lay.addLayout(top)
        lay.addWidget(self.params_box)
        lay.addLayout(jobs)
        lay.addStretch(1)  # spare height goes here, not between the rows
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)
        lay.setSizeConstraint(QVBoxLayout.SizeConstraint.SetMinimumSize)  # never squeeze the form
        self.set_op(op)
        self._engine_changed()

    # -- the form -----------------------------------------------------------------------------------
    @staticmethod
    def _op_title(name: str) -> str:
        from engine.batch import get_op

        o = get_op(name)
        kind = "generated, no input folder" if o.source == "procedural" else "a folder of images"
        return f"{name} ({kind})"

    def set_op(self, op: str) -> None:
        """Show ``op``'s parameters (the studio's values for the op it asked for, else the op's defaults)."""
        from engine.batch import get_op

        if self.fields:
            self.studio_params[self.op] = self.current_params()
        self.op = op
        index = self.op_box.findData(op)
        if index >= 0 and index != self.op_box.currentIndex():
            self.op_box.blockSignals(True)
            self.op_box.setCurrentIndex(index)
            self.op_box.blockSignals(False)
        o = get_op(op)
        self.setWindowTitle(f"Batch {op}")
        self.summary_label.setText(o.summary)
        values = {**default_params(op), **self.studio_params.get(op, {})}
        actions = op_options(op)
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self.fields = {}
        for key, value in values.items():
            field = ParamField(key, value, actions.get(key))
            self.fields[key] = field
            self.params_form.addRow(key.replace("_", " "), field)
        self.params_box.setVisible(bool(self.fields))
        row_h = self.fontMetrics().lineSpacing() + 14
        inner = self.params_scroll.widget()
        inner.adjustSize()
        self.params_scroll.setFixedHeight(min(inner.sizeHint().height() + 2, 9 * row_h + 8))
        self.params_box.setMinimumHeight(self.params_scroll.height() + self.fontMetrics().lineSpacing() + 20)
        self.resize(self.width(), self.sizeHint().height())  # another op's form may be taller or shorter
        procedural = o.source == "procedural"
        for w in (self.input_label, self.input_row):
            w.setVisible(not procedural)
        for w in (self.count_label, self.count, self.seed_label, self.seed_start):
            w.setVisible(procedural)
        numeric = [k for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        example = f"{numeric[0]}=..." if numeric else "NAME=V1,V2"
        self.grid_edit.setPlaceholderText(f"one per line, e.g. {example}  (empty: the parameters above once)")
        self._update_counts()

    def current_params(self) -> dict[str, Any]:
        """The parameters as the fields show them."""
        return {k: f.value() for k, f in self.fields.items()}

    def grid(self) -> dict[str, list[Any]]:
        """The grid box as ``{name: [values]}``.

        Raises:
            ValueError: a line that is not ``NAME=V1,V2,...``, or a name given twice.
        """
        from engine.batch.cli import parse_grid_arg

        out: dict[str, list[Any]] = {}
        for line in self.grid_edit.toPlainText().splitlines():
            if not line.strip():
                continue
            try:
                name, values = parse_grid_arg(line.strip())
            except argparse.ArgumentTypeError as exc:
                raise ValueError(f"grid: {exc}") from None
            if name in out:
                raise ValueError(f"grid: {name} given twice; list all its values on one line")
            out[name] = values
        return out

    def _update_counts(self) -> None:
        try:
            combos = 1
            for values in self.grid().values():
                combos *= len(values)
        except ValueError:
            return
        self.grid_edit.setToolTip(f"{combos} combination(s) per input; one NAME=V1,V2,... per line")

    def _engine_changed(self) -> None:
        ray = self.engine_box.currentData() == "ray"
        self.address_label.setVisible(ray)
        self.address_edit.setVisible(ray)
        self.workers.setMinimum(0 if ray else 1)
        self.workers.setSpecialValueText("one per cluster CPU" if ray else "")
        self.workers.setMaximum(4096 if ray else max(1, os.cpu_count() or 1))

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

    def make_spec(self) -> Any:
        """The job the form describes.

        Raises:
            ValueError: a folder missing, a bad grid line or parameter (the op's own words).
        """
        from engine.batch import JobSpec, get_op
        from engine.batch.plan import DatasetOptions

        o = get_op(self.op)
        out = self.output_edit.text().strip()
        procedural = o.source == "procedural"
        inp = self.input_edit.text().strip()
        if not procedural and (not inp or not Path(inp).is_dir()):
            raise ValueError(f"Input folder not found: {inp or '(empty)'}")
        if not out:
            raise ValueError("Choose an output folder")
        params = self.current_params()
        grid = self.grid()
        o.normalize({k: v for k, v in params.items() if k not in grid})  # the op's own words, before any work
        engine = str(self.engine_box.currentData())
        return JobSpec(op=self.op, input_dir=None if procedural else Path(inp), output_dir=Path(out),
                       grid=grid, params=params, workers=self.workers.value(), force=self.replace_box.isChecked(),
                       count=self.count.value() if procedural else None,
                       seed_start=self.seed_start.value() if procedural else 0,
                       engine=engine, address=self.address_edit.text().strip() or None,
                       dataset=DatasetOptions(licence=self.licence_edit.text().strip(),
                                              val_fraction=round(self.val_fraction.value(), 4)))

    def start(self) -> None:
        """Validate the form and start the job in a background thread."""
        if self.running():
            return
        try:
            spec = self.make_spec()
        except (ValueError, OSError) as exc:
            self.status.setText(self._in_dialog_words(str(exc)))
            return
        s = QSettings()
        if spec.input_dir is not None:
            s.setValue("batch/input", str(spec.input_dir))
        s.setValue("batch/output", str(spec.output_dir))
        s.setValue("batch/workers", self.workers.value())
        s.setValue("batch/licence", self.licence_edit.text().strip())
        if spec.count is not None:
            s.setValue("batch/count", spec.count)
        self.summary = None
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
        self.status.setText("Starting worker processes…" if spec.engine == "local" else "Joining the Ray cluster…")
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
            f"— manifest: {summary.manifest_path}; dataset card: dataset.json")

    def _in_dialog_words(self, message: str) -> str:
        """The engine words errors for the command line; here the options are the dialog's fields."""
        message = message.replace("force (--force)", f"tick “{self.replace_box.text()}”")

        def field(m: re.Match[str]) -> str:
            key = m.group(1).replace("-", "_")
            return f"the “{key.replace('_', ' ')}” field" if key in self.fields else m.group(0)

        return re.sub(r"--([a-z][a-z0-9-]*)(?: [A-Z]+\b)?", field, message)

    def _on_failed(self, message: str) -> None:
        self._finish_thread()
        self.status.setText(f"Batch failed: {self._in_dialog_words(message)}")

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

