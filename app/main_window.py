"""The main window: studio switcher, canvas, studio panel, menus, status bar.

Undo: one ``QUndoStack`` per studio (with :data:`app.model.commands.UNDO_LIMIT`) in a ``QUndoGroup``;
switching studio makes its stack the active one, so Edit → Undo / Redo, Ctrl+Z and Ctrl+Shift+Z
follow the studio on screen and never touch another studio's state. A new document image clears
every stack (their steps belong to the previous image).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
    QUndoGroup,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import shortcuts
from app.dialogs.model_manager import open_model_manager
from app.model.commands import new_undo_stack
from app.model.document import Document
from app.studios.base import StudioPanel, device_text
from app.studios.expression import ExpressionPanel
from app.studios.makeup import MakeupPanel
from app.studios.maskwear import MaskWearPanel
from app.studios.opera.panel import OperaPanel
from app.studios.regenerate import RegeneratePanel
from app.widgets.canvas import ImageCanvas
from app.worker import Jobs, WorkerThread
from engine.cancel import CancelToken
from engine.imageio import LOAD_EXTENSIONS

MAX_RECENT = 10
LOAD = "document.load"
DEVICE = "engine.device"
FACES = "faces.analyze"
OVERLAY_ALPHA = 110
"""Opacity (0–255) of the parsing overlay."""
ENGINE_LABEL_WIDTH = 520
"""Widest the status bar's engine text may get (px) before it is elided: room is left for messages."""

STUDIO_CLASSES: tuple[type[StudioPanel], ...] = (OperaPanel, ExpressionPanel, MaskWearPanel, MakeupPanel,
                                                 RegeneratePanel)
"""Studios that work today, in switcher order. Only these are shown."""


class MainWindow(QMainWindow):
    """Masquerade's window. Owns the document, the studios' undo stacks and the engine worker thread."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Masquerade")
        self.setAcceptDrops(True)
        self.doc = Document()
        self.undo_group = QUndoGroup(self)
        self.worker_thread = WorkerThread()
        self.worker = self.worker_thread.worker
        self.jobs = Jobs(self.worker, self.show_message, self)
        self._pending_load: int | None = None
        self._load_interrupted = False  # open_path cancelled the shown studio's render of the old image
        self.device_label = "…"
        self.last_error: str | None = None
        self._analyzer: Any = None  # engine.faces.FaceAnalyzer, created and used in the worker thread only
        self._faces_pending: int | None = None
        self.faces_status = ""
        self.persist_settings = True
        """False for throw-away windows (``--screenshot``): nothing is written to QSettings on close."""

        self.canvas = ImageCanvas()
        self.switcher = QListWidget()
        self.switcher.setObjectName("studio_switcher")
        self.switcher.setFixedWidth(104)
        self.switcher.setIconSize(QSize(28, 28))
        self.switcher.setViewMode(QListWidget.ViewMode.IconMode)
        self.switcher.setFlow(QListWidget.Flow.TopToBottom)
        self.switcher.setMovement(QListWidget.Movement.Static)
        self.switcher.setSpacing(4)
        self.stack = QStackedWidget()
        self.panels: dict[str, StudioPanel] = {}
        for cls in STUDIO_CLASSES:
            stack = new_undo_stack(self)
            self.undo_group.addStack(stack)
            panel = cls(self.doc, stack, self.worker, self.canvas)
            panel.engine_status.connect(self._set_engine_status)
            panel.device_used.connect(self._set_device_used)
            panel.message.connect(self.show_message)
            panel.export_requested.connect(self.export_dialog)
            panel.batch_requested.connect(self.open_batch_dialog)
            self.panels[panel.name] = panel
            scroll = QScrollArea()  # a tall panel must never force the window's minimum height
            scroll.setWidget(panel)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.stack.addWidget(scroll)
            item = QListWidgetItem(studio_icon(panel.icon), panel.title, self.switcher)
            item.setData(Qt.ItemDataRole.UserRole, panel.name)
            item.setSizeHint(QSize(92, 64))
        self.undo_group.setActiveStack(next(iter(self.panels.values())).undo)
        self.switcher.currentRowChanged.connect(self._switch_row)
        self.stack.setMinimumWidth(380)  # the widest studio group (opera Sketch) plus a scroll bar
        self.stack.setMaximumWidth(460)

        split = QSplitter()
        split.addWidget(self.canvas)
        split.addWidget(self.stack)
        split.setStretchFactor(0, 1)
        split.setCollapsible(0, False)
        split.setSizes([900, 390])
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.switcher)
        row.addWidget(split, 1)
        self.setCentralWidget(central)

        self.engine_label = QLabel("Engine: idle")
        self.device_widget = QLabel("Device: …")
        self.zoom_label = QLabel("")
        sb = self.statusBar()
        sb.addPermanentWidget(self.engine_label)
        sb.addPermanentWidget(self.device_widget)
        sb.addPermanentWidget(self.zoom_label)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))

        self.doc.image_changed.connect(self._on_image_changed)
        self.worker.busy.connect(self._set_busy)  # a bound method runs in the GUI thread; a lambda would not
        self._build_actions()
        self._restore_settings()
        self.jobs.submit(DEVICE, _device_job, self._show_device)

    @property
    def undo(self) -> QUndoStack:
        """The undo stack of the studio on screen (the group's active stack)."""
        stack = self.undo_group.activeStack()
        assert stack is not None
        return stack

    # -- actions ----------------------------------------------------------------------------------
    def _action(self, name: str, text: str, slot: Callable[[], object], menu: QMenu) -> QAction:
        act = QAction(text, self)
        act.setObjectName(f"action_{name}")
        act.setShortcut(shortcuts.key(name))
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action("open", "&Open…", self.open_dialog, f)
        self.recent_menu = f.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.save_action = self._action("save", "&Export result…", self.export_dialog, f)
        self._action("batch", "&Batch export…", self.open_batch, f)
        f.addSeparator()
        self._action("quit", "&Quit", self.close, f)

        e = mb.addMenu("&Edit")
        undo = self.undo_group.createUndoAction(self, "&Undo")
        undo.setObjectName("action_undo")
        undo.setShortcut(shortcuts.key("undo"))
        redo = self.undo_group.createRedoAction(self, "&Redo")
        redo.setObjectName("action_redo")
        redo.setShortcuts([shortcuts.key("redo"), QKeySequence("Ctrl+Y")])
        for a in (undo, redo):
            e.addAction(a)
            self.addAction(a)
        self.undo_action, self.redo_action = undo, redo

        v = mb.addMenu("&View")
        self._action("fit", "&Fit to window", self.canvas.fit, v)
        self._action("actual", "&Actual size", self.canvas.actual_size, v)
        self._action("zoom_in", "Zoom &in", lambda: self.canvas.zoom_by(1.25), v)
        self._action("zoom_out", "Zoom &out", lambda: self.canvas.zoom_by(0.8), v)
        self.split_action = self._action("split", "Before/after &split", self._toggle_split, v)
        self.split_action.setCheckable(True)
        self._action("toggle_view", "Toggle result/&original", self._toggle_view, v)
        v.addSeparator()
        self.overlay_action = self._action("face_overlay", "Face &overlay (landmarks + parsing)",
                                           self._toggle_overlay, v)
        self.overlay_action.setCheckable(True)

        h = mb.addMenu("&Help")
        self._action("shortcuts", "&Keyboard shortcuts", self.show_shortcuts, h)
        h.addAction("&Model manager…", self.open_model_manager).setObjectName("action_models")
        h.addAction("&Training monitor…", self.open_training_monitor).setObjectName("action_training_monitor")

    def open_training_monitor(self) -> QDialog:
        """Help → Training monitor…: plot a training run's log.jsonl live (pyqtgraph loads on first use)."""
        from app.dialogs.training_monitor import open_training_monitor

        return open_training_monitor(self)

    def open_model_manager(self) -> QDialog:
        """Help → Model manager…: after an import the studios show their engine choice again."""
        dlg = open_model_manager(self)
        dlg.weights_imported.connect(self._weights_changed)
        return dlg

    def _weights_changed(self) -> None:
        for panel in self.panels.values():
            panel.refresh_engines()

    def _toggle_split(self) -> None:
        self.canvas.set_split(self.split_action.isChecked())

    def _toggle_view(self) -> None:
        self.current_panel().toggle_view()

    # -- face overlay ---------------------------------------------------------------------------
    def _toggle_overlay(self) -> None:
        if self.overlay_action.isChecked():
            self._analyze_faces()
        else:
            self._faces_pending = None
            self.jobs.cancel([FACES])
            self.canvas.set_overlay(None)

    def _analyze_faces(self) -> None:
        """Analyse the document image in the worker (once per image: the analyzer caches)."""
        image = self.doc.image
        if image is None or not self.overlay_action.isChecked():
            return

        def job(token: CancelToken) -> Any:
            if self._analyzer is None:
                from engine.faces import FaceAnalyzer

                self._analyzer = FaceAnalyzer()
            return self._analyzer.analyze(image)

        self.show_message("Analysing faces…")
        self._faces_pending = self.jobs.submit(FACES, job, self._show_faces, self._faces_failed)

    def _faces_failed(self, message: str) -> None:
        self._faces_pending = None
        self.show_message(f"Face analysis failed: {message}")

    def _show_faces(self, res: Any) -> None:
        self._faces_pending = None
        from app.qt_image import to_qimage
        from engine.labels import CELEBAMASK_HQ, CELEBAMASK_HQ_PALETTE, colorize_labels

        lab = res.parsing
        rgba = np.dstack([colorize_labels(lab), np.where(lab > 0, OVERLAY_ALPHA, 0).astype(np.uint8)])
        pts = [f.landmarks for f in res.faces if f.landmarks is not None]
        present = [int(v) for v in np.unique(lab) if v > 0]
        legend = [(CELEBAMASK_HQ.classes[v], QColor(*(int(c) for c in CELEBAMASK_HQ_PALETTE[v]))) for v in present]
        self.canvas.set_overlay(to_qimage(rgba), np.concatenate(pts) if pts else None, legend)
        info = res.info
        n = len(res.faces)
        text = (f"Faces: {n} ({info.get('detector')}, {info.get('parser')})" if n else "No face found")
        self.show_message(text)
        self.faces_status = text

    # -- studios ----------------------------------------------------------------------------------
    def current_panel(self) -> StudioPanel:
        return list(self.panels.values())[max(0, self.stack.currentIndex())]

    def set_studio(self, name: str) -> None:
        """Show studio ``name``; ``KeyError`` listing the available ones if unknown."""
        if name not in self.panels:
            raise KeyError(f"unknown studio {name!r}; available: {', '.join(self.panels)}")
        self.switcher.setCurrentRow(list(self.panels).index(name))

    def _switch_row(self, row: int) -> None:
        if row < 0:
            return
        previous = self.current_panel()
        if previous is not None:
            if self.stack.currentIndex() != row:
                previous.cancel_view_jobs()  # its renders would only land on the next studio's canvas
            previous.deactivate()
        self.stack.setCurrentIndex(row)
        panel = self.current_panel()
        self.undo_group.setActiveStack(panel.undo)
        panel.activate()

    # -- opening ----------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(QSettings().value("paths/last_open_dir", ""))
        exts = " ".join(f"*{e}" for e in LOAD_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, f"Images ({exts});;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> int:
        """Load ``path`` in the worker; the document updates when it arrives. Returns the job id."""
        p = Path(path)

        def job(token: CancelToken) -> tuple[Path, np.ndarray]:
            from engine.imageio import load_image

            return p, load_image(p)

        self.show_message(f"Opening {p.name}…")
        # the shown studio's renders of the old image would only delay the load (one worker thread)
        self._load_interrupted = bool(self.current_panel().cancel_view_jobs()) or self._load_interrupted
        self._pending_load = self.jobs.submit(LOAD, job, self._loaded, self._load_failed)
        return self._pending_load

    def _loaded(self, value: object) -> None:
        self._pending_load = None
        self._load_interrupted = False
        assert isinstance(value, tuple)
        path, image = value
        self.doc.set_image(image, path)  # stacks, title and face overlay follow in _on_image_changed
        self._add_recent(path)
        QSettings().setValue("paths/last_open_dir", str(Path(path).resolve().parent))
        self.show_message(f"Opened {path}")

    def _load_failed(self, message: str) -> None:
        self._pending_load = None
        self.last_error = message
        self.show_message(f"Could not open: {message}")
        if self._load_interrupted:  # the old image stays: redo the render open_path cancelled
            self._load_interrupted = False
            self.current_panel().activate()

    def _show_device(self, label: object) -> None:
        """Where learned engines will run (until a result says which device really ran)."""
        self.device_label = str(label)
        self.device_widget.setText(f"Device: {label}")
        self.device_widget.setToolTip(f"Learned engines run on {label} (MASQUERADE_DEVICE overrides); "
                                      "classical engines on the CPU")

    def _set_device_used(self, device: str) -> None:
        """The device that really ran the studio's last result (``EditResult.info["device"]``)."""
        self.device_widget.setText(f"Device: {device_text(device)}")

    def _on_image_changed(self) -> None:
        """Any new document image (opened, or made by a studio such as "Random anime face"): every
        studio's undo steps belong to the old image and go, the title names the new one and the face
        overlay of the previous image goes."""
        for stack in self.undo_group.stacks():
            stack.clear()
        self.canvas.set_overlay(None)
        self._analyze_faces()
        image = self.doc.image
        if image is None:
            self.setWindowTitle("Masquerade")
            return
        h, w = image.shape[:2]
        name = self.doc.path.name if self.doc.path is not None else "Untitled"
        self.setWindowTitle(f"{name} ({w}×{h}) — Masquerade")

    # -- recent files -----------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        v = QSettings().value("paths/recent", [])
        if isinstance(v, str):
            return [v]
        return [str(x) for x in v] if isinstance(v, (list, tuple)) else []

    def _add_recent(self, path: Path) -> None:
        items = [str(Path(path).resolve())] + [r for r in self.recent_files() if r != str(Path(path).resolve())]
        QSettings().setValue("paths/recent", items[:MAX_RECENT])
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        """Rebuild File → Open Recent (also each time the menu opens: files come and go)."""
        self.recent_menu.clear()
        recent = self.recent_files()
        for r in recent:
            act = self.recent_menu.addAction(r)
            act.triggered.connect(lambda checked=False, r=r: self.open_path(r))
            if not Path(r).is_file():  # moved or deleted (or on a drive not mounted now): greyed out
                act.setEnabled(False)
                act.setText(f"{r} (not found)")
        self.recent_menu.setEnabled(bool(recent))

    # -- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for u in event.mimeData().urls():
            if u.isLocalFile():
                self.open_path(u.toLocalFile())
                event.acceptProposedAction()
                return

    # -- export / batch ---------------------------------------------------------------------------
    def export_dialog(self) -> None:
        panel = self.current_panel()
        if not panel.has_result():
            self.show_message("Nothing to export yet: open an image first")
            return
        start = QSettings().value("paths/last_export_dir", "")
        name = panel.suggested_export_name()
        path, _ = QFileDialog.getSaveFileName(self, "Export result", str(Path(str(start)) / name),
                                              panel.export_filter())
        if path:
            QSettings().setValue("paths/last_export_dir", str(Path(path).parent))
            panel.export_result(path)

    def open_batch(self) -> None:
        """File → Batch export…: the shown studio's batch export."""
        self.current_panel().open_batch_dialog()

    def open_batch_dialog(self, op: str, params: object) -> None:
        """Open the batch dialog for op ``op`` with a studio's current ``params`` (modal)."""
        from app.dialogs.batch_dialog import BatchDialog

        assert isinstance(params, dict)
        BatchDialog(op=op, params=params, parent=self).exec()

    # -- status -----------------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _set_busy(self, busy: bool) -> None:
        self.engine_label.setProperty("busy", busy)

    def _set_engine_status(self, text: str) -> None:
        """Show what ran in the status bar, elided to :data:`ENGINE_LABEL_WIDTH` (full text as tool tip)."""
        fm = self.engine_label.fontMetrics()
        self.engine_label.setText(fm.elidedText(text, Qt.TextElideMode.ElideRight, ENGINE_LABEL_WIDTH))
        self.engine_label.setToolTip(text)

    def show_shortcuts(self) -> None:
        dlg = QDialog(self)
        dlg.setWindowTitle("Keyboard shortcuts")
        rows = [(k, d) for k, d in shortcuts.SHORTCUTS.values()] + list(shortcuts.GESTURES)
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Key", "Action"])
        for i, (k, d) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(k))
            table.setItem(i, 1, QTableWidgetItem(d))
        table.resizeColumnsToContents()
        table.verticalHeader().hide()  # row numbers mean nothing here
        table.horizontalHeader().setStretchLastSection(True)  # long actions are not cut off
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        lay = QVBoxLayout(dlg)
        lay.addWidget(table)
        dlg.resize(460, 420)
        dlg.exec()

    def is_idle(self) -> bool:
        """No load pending and the current studio has no outstanding job."""
        return self._pending_load is None and self._faces_pending is None and self.current_panel().is_idle()

    # -- settings ---------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = QSettings()
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        studio = str(s.value("window/studio", next(iter(self.panels))))
        self.set_studio(studio if studio in self.panels else next(iter(self.panels)))
        self._fill_recent_menu()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.persist_settings:
            s = QSettings()
            s.setValue("window/geometry", self.saveGeometry())
            s.setValue("window/studio", self.current_panel().name)
            for p in self.panels.values():
                p.save_settings()
        self.hide()  # gone at once, even while a long engine job winds down
        self.worker_thread.stop()
        super().closeEvent(event)


def studio_icon(name: str) -> QIcon:
    """A qtawesome icon by name; an empty icon if qtawesome or its fonts are unavailable."""
    try:
        import qtawesome

        return qtawesome.icon(name, color="#444")
    except Exception:  # icons are decoration only: any failure gives an empty icon
        return QIcon()


def _device_job(token: CancelToken) -> str:
    from engine.device import select_device

    choice = select_device()
    return f"{choice.label}"
