"""The main window: studio switcher, canvas, studio panel, menus, status bar.

Undo: one ``QUndoStack`` per studio (with :data:`app.model.commands.UNDO_LIMIT`) in a ``QUndoGroup``;
switching studio makes its stack the active one, so Edit → Undo / Redo, Ctrl+Z and Ctrl+Shift+Z
follow the studio on screen and never touch another studio's state. A new document image clears
every stack (their steps belong to the previous image).

Unsaved work: every edit of editable state (parameters, the Opera sketch, the Regenerate label map,
mask anchors) is a step on a studio stack, so the document is modified exactly when some stack is
not at its clean index — or a studio holds unsaved state outside it (a recovered label map waiting
for Regenerate's parsing, :meth:`StudioPanel.has_unsaved_work`); the title then carries ``*``. Each
panel writes and restores its own painted layers (:meth:`StudioPanel.recovery_state` /
:meth:`StudioPanel.restore_state`). In the interactive app
(:meth:`MainWindow.protect_work`) closing or opening another image over unsaved work asks Save /
Discard / Cancel, and the editable state is autosaved (:mod:`app.model.recovery`) every minute to
the recovery folder, offered again on the next start after a crash or kill.

Errors: failures of what the user asked for (open, export, save, batch start) go to a persistent
notice bar over the canvas; background previews report in the status bar. The status bar's engine
and device always describe the shown studio's last result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
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
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import shortcuts
from app.dialogs.model_manager import open_model_manager
from app.dialogs.notice import NoticeBar
from app.model.commands import SetParamsCommand, new_undo_stack
from app.model.document import Document
from app.model.recovery import SESSION_SUFFIX, RecoverySlot, Session, SessionError, read_session, write_session
from app.studios.base import StudioPanel, device_text
from app.studios.expression import ExpressionPanel
from app.studios.makeup import MakeupPanel
from app.studios.maskwear import MaskWearPanel
from app.studios.opera.colour import SAVE_SKETCH
from app.studios.opera.panel import OperaPanel
from app.studios.regenerate import SAVE_MASK, RegeneratePanel
from app.widgets.canvas import ImageCanvas
from app.widgets.shortcut_table import ShortcutTable
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
AUTOSAVE = "recovery.autosave"
ENGINE_IDLE = "Engine: idle"
USER_ACTION_CHANNELS = (SAVE_SKETCH, SAVE_MASK)
"""Worker channels (besides every studio's ``<name>.export``) whose jobs the user asked for: their
failures get the persistent notice, not only a status-bar line."""

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
        self.guard_unsaved = False
        """True in the interactive app (:meth:`protect_work`): ask before unsaved work is lost."""
        self.recovery: RecoverySlot | None = None
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave)
        self._edits = 0  # bumped by every undo-stack move and new image: autosave only what changed
        self._autosaved_edits = -1
        self._engine_texts: dict[str, str] = {}  # studio → its last result's engine line
        self._devices: dict[str, str] = {}  # studio → the device that ran its last result

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
            panel.engine_status.connect(lambda text, n=panel.name: self._studio_engine(n, text))
            panel.device_used.connect(lambda device, n=panel.name: self._studio_device(n, device))
            stack.cleanChanged.connect(self._update_modified)
            stack.indexChanged.connect(self._count_edit)
            panel.unsaved_changed.connect(self._update_modified)
            panel.unsaved_changed.connect(self._count_edit)
            panel.message.connect(self.show_message)
            panel.failure.connect(self.report_failure)
            panel.export_requested.connect(self.export_dialog)
            panel.batch_requested.connect(self.open_batch_dialog)
            panel.confirm_discard = self.confirm_discard
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
        self.notice = NoticeBar()
        right = QWidget()
        col = QVBoxLayout(right)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        col.addWidget(self.notice)
        col.addWidget(split, 1)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.switcher)
        row.addWidget(right, 1)
        self.setCentralWidget(central)

        self.engine_label = QLabel(ENGINE_IDLE)
        self.device_widget = QLabel("Device: …")
        self.zoom_label = QLabel("")
        sb = self.statusBar()
        sb.addPermanentWidget(self.engine_label)
        sb.addPermanentWidget(self.device_widget)
        sb.addPermanentWidget(self.zoom_label)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))

        self.doc.image_changed.connect(self._on_image_changed)
        self.doc.modified_changed.connect(self.setWindowModified)
        self.worker.busy.connect(self._set_busy)  # a bound method runs in the GUI thread; a lambda would not
        self.worker.error.connect(self._on_worker_error)
        self.setWindowTitle("Masquerade[*]")
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
        self.batch_action = self._action("batch", "&Batch export…", self.open_batch, f)
        f.addSeparator()
        act = f.addAction("Open &session…", self.open_session_dialog)
        act.setObjectName("action_open_session")
        self._action("save_session", "Save s&ession…", self.save_session_dialog, f)
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
        self._show_studio_status()
        panel.activate()
        self._update_batch_action(panel)

    # -- opening ----------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        if not self.confirm_discard("opening another image"):
            return
        start = str(QSettings().value("paths/last_open_dir", ""))
        exts = " ".join(f"*{e}" for e in LOAD_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, f"Images ({exts});;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> int:
        """Load ``path`` in the worker; the document updates when it arrives. Returns the job id.

        A session file (``*.masq``) is restored instead (:meth:`open_session`; the id is then 0).
        Asking about unsaved work is the caller's (:meth:`confirm_discard`)."""
        p = Path(path)
        if p.suffix.lower() == SESSION_SUFFIX:
            self.open_session(p)
            return 0

        def job(token: CancelToken) -> tuple[Path, np.ndarray]:
            from engine.imageio import load_image

            return p, load_image(p)

        self.show_message(f"Opening {p.name}…")
        # the shown studio's renders of the old image would only delay the load (one worker thread)
        self._load_interrupted = bool(self.current_panel().cancel_view_jobs()) or self._load_interrupted
        self._pending_load = self.jobs.submit(LOAD, job, self._loaded, self._load_failed)
        return self._pending_load

    def open_user_path(self, path: str | Path) -> int | None:
        """Open ``path`` for the user (recent file, dropped file): asks about unsaved work first.
        Returns the job id, or ``None`` when the user cancelled."""
        if not self.confirm_discard("opening another image"):
            return None
        return self.open_path(path)

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
        self.report_failure(f"Could not open: {message}")
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

    def _studio_engine(self, studio: str, text: str) -> None:
        """Studio ``studio`` says what ran for its last result; shown when it is the studio on screen."""
        self._engine_texts[studio] = text
        if studio == self.current_panel().name:
            self._set_engine_status(text)

    def _studio_device(self, studio: str, device: str) -> None:
        self._devices[studio] = device
        if studio == self.current_panel().name:
            self._set_device_used(device)

    def _show_studio_status(self) -> None:
        """The engine and device of the shown studio's last result (idle and the default device
        when it has none yet), never another studio's."""
        name = self.current_panel().name
        self._set_engine_status(self._engine_texts.get(name, ENGINE_IDLE))
        if name in self._devices:
            self._set_device_used(self._devices[name])
        else:
            self.device_widget.setText(f"Device: {self.device_label}")

    def _forget_studio_status(self, studio: str | None = None) -> None:
        """Results are gone (new image, or the studio's render failed): its status says idle."""
        for name in ([studio] if studio else list(self.panels)):
            self._engine_texts.pop(name, None)
            self._devices.pop(name, None)
        self._show_studio_status()

    def _on_worker_error(self, channel: str, gen: int, message: str) -> None:
        """A failed job: user actions (exports, saves) get the persistent notice; a failed render of a
        studio leaves its status without the previous result's engine line."""
        if channel.endswith(".export") or channel in USER_ACTION_CHANNELS:
            studio = channel.partition(".")[0]
            title = self.panels[studio].title if studio in self.panels else ""
            self.report_failure(f"{title}: {message}" if title else message)
            return
        for panel in self.panels.values():
            if channel in panel.view_channels:
                self._forget_studio_status(panel.name)
                return

    def _on_image_changed(self) -> None:
        """Any new document image (opened, or made by a studio such as "Random anime face"): every
        studio's undo steps belong to the old image and go, the title names the new one and the face
        overlay of the previous image goes."""
        for stack in self.undo_group.stacks():
            stack.clear()
        self._update_modified()
        self._count_edit()
        self._forget_studio_status()
        self.canvas.set_overlay(None)
        self._analyze_faces()
        image = self.doc.image
        if image is None:
            self.setWindowTitle("Masquerade[*]")
            return
        h, w = image.shape[:2]
        name = self.doc.path.name if self.doc.path is not None else "Untitled"
        self.setWindowTitle(f"{name} ({w}×{h})[*] — Masquerade")

    # -- unsaved work -----------------------------------------------------------------------------
    def _update_modified(self) -> None:
        """The document is modified while any studio holds unsaved work (its stack is away from its
        clean index, or a recovered layer waits to be applied)."""
        self.doc.set_modified(bool(self.unsaved_studios()))

    def unsaved_studios(self) -> list[str]:
        """Titles of the studios holding unsaved work, in switcher order."""
        return [p.title for p in self.panels.values() if p.has_unsaved_work()]

    def _count_edit(self, *_args: object) -> None:
        self._edits += 1

    def mark_saved(self) -> None:
        """The editable state was saved (or deliberately discarded): nothing is unsaved now."""
        for panel in self.panels.values():
            panel.mark_saved()
        self._update_modified()
        if self.recovery is not None:
            self.recovery.clear()

    def confirm_discard(self, action: str) -> bool:
        """Before ``action`` ("closing", "opening another image") loses unsaved work, ask Save /
        Discard / Cancel (interactive app only, :attr:`guard_unsaved`).

        Returns:
            True to go on (saved, discarded, or nothing unsaved), False to stay.
        """
        if not (self.guard_unsaved and self.doc.modified):
            return True
        studios = self.unsaved_studios()
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved work",
                          f"Save your work before {action}?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText(f"Unsaved changes in: {', '.join(studios)}. Save keeps the sketch, mask, "
                               "anchors and parameters as a session file (File → Open session…).")
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return self.save_session_dialog()
        if answer == QMessageBox.StandardButton.Discard:
            self.mark_saved()
            return True
        return False

    def protect_work(self, folder: str | Path, interval_s: float) -> None:
        """Interactive app: ask before unsaved work is lost, autosave it every ``interval_s`` seconds
        into a :class:`~app.model.recovery.RecoverySlot` in ``folder``.

        Raises:
            SessionError: the recovery folder cannot be used.
        """
        self.guard_unsaved = True
        self.recovery = RecoverySlot(folder)
        self.autosave_timer.start(max(100, int(interval_s * 1000)))

    # -- sessions ---------------------------------------------------------------------------------
    def session(self) -> Session:
        """The editable state now: image, every studio's parameters and painted layers (the sketch,
        the label map — each panel's :meth:`~StudioPanel.recovery_state`)."""
        params = {ns: self.doc.params(ns) for ns in self.doc.namespaces()}
        layers: dict[str, np.ndarray] = {}
        for panel in self.panels.values():
            layers.update(panel.recovery_state())
        image = self.doc.image.copy() if self.doc.image is not None else None
        return Session(studio=self.current_panel().name, path=self.doc.path, image=image, params=params,
                       layers=layers)

    def restore_session(self, session: Session) -> None:
        """Put ``session``'s state back: the image (clears the stacks), then parameters and each
        studio's layers (:meth:`~StudioPanel.restore_state`: the sketch at once, the label map when
        Regenerate's parsing of the image arrives) as undoable "Recover" steps — so the document
        stays modified until saved. A layer that does not fit gets the notice; the rest is restored."""
        if session.image is not None:
            self.doc.set_image(session.image, session.path)
        owners = {ns: p for p in self.panels.values() for ns in p.param_namespaces}
        for ns, values in session.params.items():
            panel = owners.get(ns)
            if panel is None:
                continue
            known = set(self.doc.params(ns))
            changed = {k: v for k, v in values.items() if k in known}
            if changed:
                panel.undo.push(SetParamsCommand(self.doc, ns, changed, f"Recover {panel.title} settings"))
        for panel in self.panels.values():
            try:
                panel.restore_state(session.layers)
            except ValueError as exc:
                self.report_failure(f"{panel.title}: {exc}")
        if session.studio in self.panels:
            self.set_studio(session.studio)
        self._update_modified()

    def open_session(self, path: str | Path) -> bool:
        """Restore a saved session file; a bad file gets the notice. Returns whether it was restored."""
        try:
            session = read_session(path)
        except SessionError as exc:
            self.report_failure(f"Could not open session: {exc}")
            return False
        self.restore_session(session)
        self.show_message(f"Opened session {path}")
        return True

    def open_session_dialog(self) -> None:
        """File → Open session…"""
        if not self.confirm_discard("opening a session"):
            return
        start = str(QSettings().value("paths/last_session_dir", ""))
        path, _ = QFileDialog.getOpenFileName(self, "Open session", start,
                                              f"Masquerade session (*{SESSION_SUFFIX})")
        if path:
            self.open_session(path)

    def save_session(self, path: str | Path) -> bool:
        """Write the editable state to ``path`` (atomically); on success nothing is unsaved.

        Returns:
            Whether it was written (a failure gets the notice).
        """
        p = Path(path)
        if p.suffix.lower() != SESSION_SUFFIX:
            p = p.with_name(p.name + SESSION_SUFFIX)
        try:
            write_session(p, self.session())
        except SessionError as exc:
            self.report_failure(f"Could not save session: {exc}")
            return False
        self.mark_saved()
        QSettings().setValue("paths/last_session_dir", str(p.parent))
        self.show_message(f"Saved session {p}")
        return True

    def save_session_dialog(self) -> bool:
        """File → Save session…: ask for a file and save; False when cancelled or failed."""
        start = Path(str(QSettings().value("paths/last_session_dir", "")))
        stem = self.doc.path.stem if self.doc.path is not None else "untitled"
        path, _ = QFileDialog.getSaveFileName(self, "Save session", str(start / f"{stem}{SESSION_SUFFIX}"),
                                              f"Masquerade session (*{SESSION_SUFFIX})")
        return bool(path) and self.save_session(path)

    def autosave(self) -> None:
        """Write the modified state into the recovery slot (in the worker) when it changed since the
        last autosave; with nothing unsaved the slot is emptied."""
        if self.recovery is None:
            return
        if not self.doc.modified:
            self.recovery.clear()
            self._autosaved_edits = -1
            return
        if self._edits == self._autosaved_edits:
            return
        session, slot, edits = self.session(), self.recovery, self._edits

        def job(token: CancelToken) -> int:
            slot.save(session)
            return edits

        self.jobs.submit(AUTOSAVE, job, self._autosaved, self._autosave_failed)

    def _autosaved(self, edits: object) -> None:
        self._autosaved_edits = int(edits) if isinstance(edits, int) else -1

    def _autosave_failed(self, message: str) -> None:
        self.show_message(f"Autosave failed: {message}")  # background work: the status bar

    def offer_recovery(self, folder: str | Path) -> bool:
        """After a crash or kill: offer the newest orphaned autosave in ``folder`` (older ones and a
        refused one are removed). Returns whether work was recovered."""
        from app.model.recovery import discard_orphan, orphaned_sessions

        orphans = orphaned_sessions(folder)
        if not orphans:
            return False
        newest = orphans[0]
        try:
            session = read_session(newest)
        except SessionError as exc:
            self.report_failure(f"Unsaved work could not be recovered: {exc}")
            session = None
        recovered = False
        if session is not None:
            import time

            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(session.saved_at))
            what = session.path.name if session.path is not None else "untitled work"
            answer = QMessageBox.question(
                self, "Recover unsaved work",
                f"Masquerade did not close normally. Recover the unsaved work on {what} from {when}?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
            if answer == QMessageBox.StandardButton.Yes:
                self.restore_session(session)
                self.show_message(f"Recovered unsaved work from {when}")
                recovered = True
        for p in orphans:
            discard_orphan(p)
        return recovered

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
            act.triggered.connect(lambda checked=False, r=r: self.open_user_path(r))
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
                event.acceptProposedAction()
                self.open_user_path(u.toLocalFile())
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
        """File → Batch export…: the shown studio's batch export (settings that cannot start a batch
        get the notice)."""
        panel = self.current_panel()
        if panel.batch_op is None:
            self.report_failure(f"{panel.title} has no batch export")
            return
        try:
            params = panel.batch_params()
        except ValueError as exc:
            self.report_failure(f"{panel.title}: cannot start a batch: {exc}")
            return
        self.open_batch_dialog(panel.batch_op, params)

    def _update_batch_action(self, panel: StudioPanel) -> None:
        """File → Batch export… (Ctrl+B) on for a studio with batch ops, off with the reason as its tip."""
        can = panel.batch_op is not None
        self.batch_action.setEnabled(can)
        self.batch_action.setToolTip(
            f"Batch export: a folder × a parameter grid with the {panel.title} studio's operations"
            if can else f"{panel.title} has no batch export")
        self.batch_action.setStatusTip(self.batch_action.toolTip())

    def open_batch_dialog(self, op: str, params: object) -> None:
        """Open the batch dialog for op ``op`` with a studio's current ``params`` (modal)."""
        from app.dialogs.batch_dialog import BatchDialog

        assert isinstance(params, dict)
        BatchDialog(op=op, params=params, parent=self).exec()

    # -- status -----------------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        """A transient status-bar line (background work, confirmations)."""
        self.statusBar().showMessage(text, 8000)

    def report_failure(self, text: str) -> None:
        """A failure of something the user asked for: the persistent notice (until dismissed or
        replaced) and the status bar."""
        self.notice.show_notice(text)
        self.show_message(text)

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
        table = ShortcutTable()  # every studio's keys, grouped by studio
        lay = QVBoxLayout(dlg)
        lay.addWidget(table)
        dlg.resize(520, 560)
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
        if not self.confirm_discard("closing"):
            event.ignore()
            return
        self.autosave_timer.stop()
        if self.persist_settings:
            s = QSettings()
            s.setValue("window/geometry", self.saveGeometry())
            s.setValue("window/studio", self.current_panel().name)
            for p in self.panels.values():
                p.save_settings()
        self.hide()  # gone at once, even while a long engine job winds down
        self.worker_thread.stop()
        if self.recovery is not None:  # a clean exit: nothing to recover next time
            self.recovery.close()
            self.recovery = None
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
