"""Training monitor: plots the JSONL log of a training run (``out_dir/log.jsonl``) and follows it live.

The shared training loop (:mod:`engine.training.loop`) appends one JSON object per logged step,
e.g. ``{"step": 10, "elapsed_s": 6.3, "d_loss": 0.46, "g_loss": 1.9, "p": 0.0006}``. The dialog
plots every numeric key over ``step`` (one small plot per key, x axes linked, so losses of
different scale stay readable), including the ADA augmentation probability ``p`` and Diffusion-GAN's
``T`` when present. A timer polls the file's size: appended lines are read incrementally, a partial
last line (the trainer is mid-write) waits for its newline, a file that does not exist yet is
waited for, and a file that shrank (a new run in the same folder) is read again from the start.

Reading is plain Python on small appended chunks (a log line per logged step), so it runs on the
GUI thread without freezing it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

LOG_NAME = "log.jsonl"
X_KEY = "step"
HIDDEN_BY_DEFAULT = frozenset({"elapsed_s"})
"""Keys that are logged but are not training curves; listed, unchecked at first."""
KEY_HELP: dict[str, str] = {
    "p": "ADA / APA augmentation probability p (adjusted from r_t towards its target)",
    "real_sign": "r_t = E[sign D(real)] — the overfitting heuristic ADA steers to 0.6",
    "T": "Diffusion-GAN: maximum diffusion steps T",
    "r1": "R1 gradient penalty on reals",
    "pl": "path-length regulariser",
    "elapsed_s": "seconds since the run (re)started",
}
"""Tooltips of well-known keys."""
REFERENCE_LINES: dict[str, tuple[float, str]] = {"real_sign": (0.6, "ADA target 0.6")}
"""Horizontal guide lines drawn on some plots: key → (value, label)."""
POLL_MS = 1000
"""How often the file is checked for growth while following (milliseconds)."""
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22")


def resolve_log_path(path: str | Path) -> Path:
    """A run folder → its ``log.jsonl``; a file path is returned unchanged."""
    p = Path(path)
    return p / LOG_NAME if p.is_dir() or not p.suffix else p


def is_number(value: Any) -> bool:
    """True for finite-or-not real numbers that are not booleans."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class JsonlLog:
    """Incremental reader of a JSONL training log.

    Call :meth:`poll` as often as you like: it reads only what was appended since the last call.
    Complete lines are parsed; a trailing partial line is kept until its newline arrives; lines
    that are not JSON objects are counted in :attr:`bad_lines` and skipped. When the file shrinks
    (truncated or replaced by a new run) everything is read again from the start.

    Args:
        path: the ``log.jsonl`` file (it may not exist yet).

    Attributes:
        series: key → ``(xs, ys)`` lists of every numeric value seen, ``x`` being the record's
            ``step`` (or its line index when it has none).
        records: number of records parsed.
        bad_lines: number of complete lines that were not JSON objects.
        resets: how many times the file was read again from the start (truncation).
    """

    path: Path
    series: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    records: int = 0
    bad_lines: int = 0
    resets: int = 0
    _offset: int = 0
    _partial: bytes = b""
    _identity: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget everything read so far (the next :meth:`poll` starts at the beginning)."""
        self.series = {}
        self.records = 0
        self.bad_lines = 0
        self._offset = 0
        self._partial = b""
        self._identity = None

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def keys(self) -> list[str]:
        """Numeric keys in the order they first appeared (the x key excluded)."""
        return list(self.series)

    @property
    def last_x(self) -> float | None:
        """The largest step read so far (``None`` before the first record)."""
        xs = [s[0][-1] for s in self.series.values() if s[0]]
        return max(xs) if xs else None

    def poll(self) -> bool:
        """Read what was appended since the last call; True when new records (or a reset) arrived."""
        try:
            st = os.stat(self.path)
        except OSError:
            if self._offset or self.series:  # the file went away: start over when it is back
                self.reset()
                self.resets += 1
                return True
            return False
        identity = (st.st_dev, st.st_ino)
        changed = False
        if st.st_size < self._offset or (self._identity is not None and identity != self._identity):
            self.reset()
            self.resets += 1
            changed = True
        self._identity = identity
        if st.st_size == self._offset:
            return changed
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return changed
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            if line.strip():
                changed |= self._parse(line)
        return changed

    def _parse(self, line: bytes) -> bool:
        try:
            rec = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.bad_lines += 1
            return False
        if not isinstance(rec, dict):
            self.bad_lines += 1
            return False
        x = rec.get(X_KEY)
        x = float(x) if is_number(x) else float(self.records)
        self.records += 1
        for key, value in rec.items():
            if key == X_KEY or not is_number(value):
                continue
            xs, ys = self.series.setdefault(key, ([], []))
            xs.append(x)
            ys.append(float(value))
        return True


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard-style exponential moving average with bias correction (``weight`` in [0, 1)).

    Non-finite values are carried over (they do not poison later points).
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out = np.empty_like(values, dtype=np.float64)
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        if math.isfinite(v):
            acc = weight * acc + (1.0 - weight) * v
            norm = weight * norm + (1.0 - weight)
        out[i] = acc / norm if norm > 0 else v
    return out


class TrainingMonitorDialog(QDialog):
    """Plots each numeric key of a training log over step, following the file live.

    Args:
        path: a run folder or a ``log.jsonl`` file to open at once (optional).
        parent: owning window.
        poll_ms: polling interval while following.
    """

    def __init__(self, path: str | Path | None = None, parent: QWidget | None = None,
                 poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        self._pg = pg
        self.setWindowTitle("Training monitor")
        self.resize(1100, 700)
        self.log: JsonlLog | None = None
        self.visible_keys: set[str] = set()
        self.plots: dict[str, Any] = {}
        self._curves: dict[str, tuple[Any, Any]] = {}
        self._layout_keys: list[str] = []

        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setReadOnly(True)
        self.path_edit.setPlaceholderText("Open a training run folder (its log.jsonl) or a .jsonl file")
        self.open_dir_button = QPushButton("Open run folder…")
        self.open_dir_button.clicked.connect(self._open_dir_dialog)
        self.open_file_button = QPushButton("Open log file…")
        self.open_file_button.clicked.connect(self._open_file_dialog)
        top.addWidget(self.path_edit, 1)
        top.addWidget(self.open_dir_button)
        top.addWidget(self.open_file_button)
        lay.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(QLabel("Curves"))
        self.key_list = QListWidget()
        self.key_list.setObjectName("training_keys")
        self.key_list.setToolTip("Tick the keys to plot")
        self.key_list.itemChanged.connect(self._key_toggled)
        sl.addWidget(self.key_list, 1)
        self.smooth_label = QLabel("Smoothing: off")
        sl.addWidget(self.smooth_label)
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, 95)
        self.smooth_slider.setValue(0)
        self.smooth_slider.setToolTip("Exponential moving average weight (0 = raw); the raw curve stays faint behind")
        self.smooth_slider.valueChanged.connect(self._smoothing_changed)
        sl.addWidget(self.smooth_slider)
        self.follow_check = QCheckBox("Follow the file live")
        self.follow_check.setChecked(True)
        self.follow_check.toggled.connect(self._set_follow)
        sl.addWidget(self.follow_check)
        split.addWidget(side)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setObjectName("training_plots")
        split.addWidget(self.graphics)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 880])
        lay.addWidget(split, 1)
        self.status_label = QLabel("No log open")
        self.status_label.setObjectName("training_status")
        self.status_label.setStyleSheet("color: #555;")
        lay.addWidget(self.status_label)

        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.poll)
        if path is not None:
            self.open_log(path)

    # -- opening ----------------------------------------------------------------------------------
    def _start_dir(self) -> str:
        return str(QSettings().value("training_monitor/last_dir", ""))

    def _open_dir_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Training run folder", self._start_dir())
        if d:
            self.open_log(d)

    def _open_file_dialog(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Training log", self._start_dir(), "JSONL logs (*.jsonl);;All files (*)")
        if f:
            self.open_log(f)

    def open_log(self, path: str | Path) -> Path:
        """Monitor ``path`` (a run folder or a ``.jsonl`` file; it may not exist yet). Returns the file."""
        file = resolve_log_path(path)
        QSettings().setValue("training_monitor/last_dir", str(file.parent))
        self.log = JsonlLog(file)
        self.path_edit.setText(str(file))
        self.visible_keys = set()
        self.key_list.blockSignals(True)
        self.key_list.clear()
        self.key_list.blockSignals(False)
        self._rebuild_plots()
        self._set_follow(self.follow_check.isChecked())
        self.poll()
        return file

    def _set_follow(self, on: bool) -> None:
        if on and self.log is not None:
            self.timer.start()
        else:
            self.timer.stop()
        if self.log is not None:
            self._show_status()

    # -- reading ----------------------------------------------------------------------------------
    def poll(self) -> bool:
        """Read what was appended and refresh the plots; True when something new arrived."""
        log = self.log
        if log is None:
            return False
        changed = log.poll()
        if changed:
            self._sync_keys()
            self._refresh_curves()
        self._show_status()
        return changed

    def _show_status(self) -> None:
        log = self.log
        assert log is not None
        if not log.exists:
            self.status_label.setText(f"Waiting for {log.path.name} to appear…")
            return
        parts = [f"{log.records} records"]
        if log.last_x is not None:
            parts.append(f"last step {log.last_x:g}")
        if log.bad_lines:
            parts.append(f"{log.bad_lines} unreadable lines skipped")
        if log.resets:
            parts.append(f"file restarted {log.resets}×")
        parts.append("following" if self.timer.isActive() else "not following")
        self.status_label.setText(" · ".join(parts))

    def _sync_keys(self) -> None:
        """Add list entries for new keys (checked unless hidden by default); drop vanished ones."""
        assert self.log is not None
        keys = self.log.keys
        present = {self.key_list.item(i).text() for i in range(self.key_list.count())}
        if present - set(keys):  # the file restarted with other keys
            self.key_list.blockSignals(True)
            self.key_list.clear()
            self.key_list.blockSignals(False)
            present = set()
            self.visible_keys &= set(keys)
        self.key_list.blockSignals(True)
        for key in keys:
            if key in present:
                continue
            item = QListWidgetItem(key, self.key_list)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = key not in HIDDEN_BY_DEFAULT
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            if key in KEY_HELP:
                item.setToolTip(KEY_HELP[key])
            if on:
                self.visible_keys.add(key)
        self.key_list.blockSignals(False)
        if [k for k in keys if k in self.visible_keys] != self._layout_keys:
            self._rebuild_plots()

    def set_key_visible(self, key: str, on: bool) -> None:
        """Show or hide the plot of ``key`` (and tick its checkbox)."""
        for i in range(self.key_list.count()):
            item = self.key_list.item(i)
            if item.text() == key:
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
                return
        raise KeyError(f"no key {key!r} in the log")

    def _key_toggled(self, item: QListWidgetItem) -> None:
        key = item.text()
        if item.checkState() == Qt.CheckState.Checked:
            self.visible_keys.add(key)
        else:
            self.visible_keys.discard(key)
        self._rebuild_plots()
        self._refresh_curves()

    # -- plotting ---------------------------------------------------------------------------------
    def _rebuild_plots(self) -> None:
        """One plot per visible key, two columns, x axes linked to the first."""
        pg = self._pg
        self.graphics.clear()
        self.plots = {}
        self._curves = {}
        keys = [k for k in (self.log.keys if self.log is not None else []) if k in self.visible_keys]
        self._layout_keys = keys
        cols = 1 if len(keys) <= 1 else 2
        first = None
        for i, key in enumerate(keys):
            if i and i % cols == 0:
                self.graphics.nextRow()
            plot = self.graphics.addPlot()
            plot.setTitle(key, color="#333", size="10pt")
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("bottom", X_KEY)
            colour = COLOURS[self.log.keys.index(key) % len(COLOURS)] if self.log is not None else COLOURS[0]
            c = pg.mkColor(colour)
            faint = pg.mkColor(colour)
            faint.setAlpha(70)
            raw = plot.plot(pen=pg.mkPen(faint, width=1))
            smooth = plot.plot(pen=pg.mkPen(c, width=2))
            if key in REFERENCE_LINES:
                value, label = REFERENCE_LINES[key]
                plot.addItem(pg.InfiniteLine(pos=value, angle=0, label=label,
                                             pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine),
                                             labelOpts={"position": 0.7, "color": "#666"}))
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            self.plots[key] = plot
            self._curves[key] = (raw, smooth)

    def _smoothing_changed(self, value: int) -> None:
        self.smooth_label.setText(f"Smoothing: {value / 100:.2f}" if value else "Smoothing: off")
        self._refresh_curves()

    def smoothing(self) -> float:
        """The EMA weight in [0, 0.95]."""
        return self.smooth_slider.value() / 100.0

    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) drawn as the main curve of ``key`` (smoothed when smoothing is on)."""
        assert self.log is not None
        xs, ys = self.log.series[key]
        x, y = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
        w = self.smoothing()
        return x, (ema(y, w) if w > 0 else y)

    def _refresh_curves(self) -> None:
        if self.log is None:
            return
        smoothing = self.smoothing() > 0
        for key, (raw, smooth) in self._curves.items():
            if key not in self.log.series:
                continue
            x, y = self.curve_data(key)
            smooth.setData(x, y)
            if smoothing:
                raw.setData(x, np.asarray(self.log.series[key][1], np.float64))
                raw.show()
            else:
                raw.setData([], [])
                raw.hide()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        super().closeEvent(event)


def open_training_monitor(parent: QWidget | None = None, path: str | Path | None = None) -> TrainingMonitorDialog:
    """Open the training monitor (modeless) over ``parent`` and return it."""
    dlg = TrainingMonitorDialog(path, parent)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    return dlg
