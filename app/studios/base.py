"""The wiring every studio panel shares: document binding, undo texts, worker jobs with per-submit
callbacks, editors that live in the worker, the engine resolution for display, result / export /
view plumbing, remembered settings.

A panel subclasses :class:`StudioPanel`, declares its parameters, builds its widgets and overrides
the hooks it needs (:meth:`StudioPanel.request_render`, :meth:`StudioPanel.sync_widgets`,
:meth:`StudioPanel.on_param_changed`, :meth:`StudioPanel.activate`, ...; for sessions and crash
recovery :meth:`StudioPanel.recovery_state` / :meth:`StudioPanel.restore_state`). It never filters the
worker's signals: each request carries its own result callback (:class:`app.worker.Jobs`).

No model is loaded or run on the GUI thread: editors are made and used inside worker jobs
(:class:`WorkerEditor`), and what the engine box and info lines show comes from
:func:`engine_resolution` — the learned engine's card only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from PySide6.QtCore import QSettings, QSize, Signal
from PySide6.QtGui import QShowEvent, QUndoStack
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

from app.model.commands import SetParamCommand, SetParamsCommand
from app.model.document import Document
from app.qt_image import to_qimage
from app.widgets.engine_box import EngineBox
from app.widgets.wheel_guard import guard_wheel
from app.worker import EngineWorker, Jobs, OnError, OnResult
from engine.cancel import CancelToken
from engine.device import CLASSICAL_DEVICE
from engine.studios.base import Editor, EditResult, LearnedBackend, Resolution, classical_resolution

if TYPE_CHECKING:
    from app.widgets.canvas import ImageCanvas

E = TypeVar("E", bound=Editor)
K = TypeVar("K", bound=Hashable)


def engine_resolution(learned: LearnedBackend | None, requested: str = "auto") -> Resolution:
    """Which engine runs for ``requested`` and why, from the learned model's card only (cheap, safe
    on the GUI thread: nothing is loaded).

    Args:
        learned: the studio editor's learned backend (``Editor.learned``); ``None``: classical only.
        requested: ``"auto"``, ``"classical"`` or ``"neural"``.

    Returns:
        The :class:`~engine.studios.base.Resolution`.

    Raises:
        LearnedBackendError: ``neural`` requested and no usable checkpoint (a ``ValueError``).
        ValueError: unknown ``requested``.
    """
    if learned is None:
        if requested not in ("auto", "classical"):
            raise ValueError(f"only the classical engine exists here; got {requested!r}")
        return classical_resolution()
    return learned.resolve(requested)


def edit_summary(res: EditResult, *details: str) -> str:
    """What ran for ``res`` in one status line: ``"Engine: classical (xdog) · full 640×480 · 12.0 ms"``.

    Args:
        res: the edit's result.
        details: studio facts put after the engine, e.g. ``"1 face(s)"``.

    Returns:
        The line.
    """
    info = res.info
    h, w = res.image.shape[:2]
    parts = [f"Engine: {info.get('backend')} ({info.get('method', '')})", *details,
             f"{'preview' if res.is_preview else 'full'} {w}×{h}", f"{info.get('elapsed_ms', 0):.1f} ms"]
    return " · ".join(parts)


def device_text(device: str) -> str:
    """How the status bar names a torch device string: ``"cpu"`` → ``"CPU"``, ``"cuda:1"`` → ``"CUDA 1"``."""
    kind, _, index = str(device).partition(":")
    return f"{kind.upper()} {index}" if index else kind.upper()


class WorkerEditor(Generic[K, E]):
    """A studio editor made and used only inside worker jobs.

    Making an editor may read cards and its first edit may load a learned model or run face
    analysis: all of that happens in the worker thread, never on the GUI thread. The editor is made
    again when the ``key`` a job asks with changes (e.g. another requested backend).

    Args:
        make: ``make(key) -> editor`` (``key`` is ``None`` for a studio with one editor).

    Example:
        >>> holder = WorkerEditor(lambda backend: MakeupEditor(backend or "auto"))  # doctest: +SKIP
        >>> def job(token): return holder.get("auto").edit(params, token)            # doctest: +SKIP
    """

    def __init__(self, make: Callable[[K | None], E]) -> None:
        self._make = make
        self._key: K | None = None
        self._editor: E | None = None

    def get(self, key: K | None = None) -> E:
        """The editor for ``key``, made on first use or when ``key`` changed (worker thread only)."""
        if self._editor is None or key != self._key:
            self._editor = self._make(key)
            self._key = key
        return self._editor


class StudioPanel(QWidget):
    """Base of the studio panels: binds document ↔ widgets and sends work to the engine worker.

    Args:
        doc: the document (image and every studio's parameters).
        undo: this studio's own undo stack (the window groups the stacks).
        worker: the engine worker.
        canvas: the window's shared image canvas.
        parent: Qt parent.

    Signals:
        engine_status(str): what ran (backend, size, time) for the status bar.
        device_used(str): the torch device that really ran the last result (``EditResult.info["device"]``).
        message(str): a transient status-bar message (errors included).
        failure(str): a failure of something the user asked for (the window shows it in its
            persistent notice, see :meth:`report_failure`).
        unsaved_changed(): unsaved work changed outside the undo stack (e.g. a recovered layer
            waiting to be applied, see :meth:`has_unsaved_work`).
        export_requested(): the panel's export button was pressed (the window asks for a file).
        batch_requested(str, object): batch export of op ``str`` with these parameters (the window
            opens the dialog).
    """

    name: str = ""
    title: str = ""
    icon: str = "mdi6.image"
    """qtawesome icon name shown in the studio switcher."""
    export_suffix: str = "result"
    """Suggested export file name: ``<image stem>_<export_suffix>.png``."""
    view_channels: tuple[str, ...] = ()
    """Channels whose jobs only serve what the studio shows (renders, parsing): the window cancels
    them when another studio is shown (:meth:`cancel_view_jobs`); the panel redoes them on
    :meth:`activate`. Exports and saves are never in here: they always finish."""
    param_texts: Mapping[str, str] = {}
    """Each parameter in the user's words for undo texts: ``{"lips_intensity": "lip intensity"}``
    gives "Change lip intensity" (see :meth:`undo_text`)."""
    settings_group: str | None = None
    """QSettings group the studio's parameters are remembered in between runs (``None``: not kept)."""
    batch_op: str | None = None
    """The batch op the "Batch …" button exports with (``None``: no batch export)."""

    engine_status = Signal(str)
    device_used = Signal(str)
    message = Signal(str)
    failure = Signal(str)
    unsaved_changed = Signal()
    export_requested = Signal()
    batch_requested = Signal(str, object)

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.undo = undo
        self.worker = worker
        self.canvas = canvas
        self.jobs = Jobs(worker, self.report_error, self)
        self.result: Any = None
        self.show_original = False
        self.radio_result: QRadioButton | None = None
        self.radio_original: QRadioButton | None = None
        self.confirm_discard: Callable[[str], bool] = lambda action: True
        """Asked before the panel replaces the document's image (the window asks Save / Discard /
        Cancel about unsaved work); True to go on."""
        doc.param_changed.connect(self._on_doc_param)
        doc.image_changed.connect(self.on_image_changed)
        self.wheel_guard = guard_wheel(self)  # the wheel scrolls the panel, not the control under it

    def showEvent(self, event: QShowEvent) -> None:
        """Guard the wheel of controls built since the last show (see :mod:`app.widgets.wheel_guard`)."""
        guard_wheel(self, self.wheel_guard)
        super().showEvent(event)

    # -- worker -----------------------------------------------------------------------------------
    def submit(self, channel: str, job: Callable[[CancelToken], Any], on_result: OnResult | None = None,
               on_error: OnError | None = None) -> int:
        """Send ``job`` to the worker on ``channel`` (newest wins); ``on_result`` gets its values.

        Args:
            channel: request channel (a newer request on it replaces this one).
            job: ``job(token) -> value | Iterator[value]`` run in the worker thread.
            on_result: called on the GUI thread with each value of this request.
            on_error: called with the one-line message on failure (default: :meth:`report_error`).

        Returns:
            The request's generation number.
        """
        return self.jobs.submit(channel, job, on_result, on_error)

    def submit_edit(self, channel: str, editor: Callable[[], Editor], image: np.ndarray, params: Any,
                    on_result: OnResult, on_error: OnError | None = None,
                    load: Callable[[Any, np.ndarray], None] | None = None) -> int:
        """Stream ``editor().edit_stream(params)`` from the worker on ``channel`` (previews first).

        Args:
            channel: request channel.
            editor: returns the editor to use (called in the worker, e.g. ``WorkerEditor.get``).
            image: the document image the edit is for.
            params: the editor's parameters.
            on_result: called with each :class:`~engine.studios.base.EditResult`.
            on_error: failure handler (default: :meth:`report_error`).
            load: ``load(editor, image)`` instead of ``editor.set_image(image)`` when the editor
                holds another image (in the worker: it may run face analysis).

        Returns:
            The request's generation number.
        """
        def job(token: CancelToken) -> Any:
            ed = editor()
            if not ed.has_image or ed.image is not image:
                if load is None:
                    ed.set_image(image)
                else:
                    load(ed, image)
            yield from ed.edit_stream(params, token)

        return self.submit(channel, job, on_result, on_error)

    def is_idle(self) -> bool:
        """True when the studio has no outstanding engine job (used by --screenshot and tests)."""
        return self.jobs.is_idle()

    def cancel_view_jobs(self) -> list[str]:
        """Cancel the queued or running jobs of :attr:`view_channels` (another studio is shown, so
        their results would be thrown away); returns the channels cancelled."""
        return self.jobs.cancel(self.view_channels)

    def report_error(self, message: str) -> None:
        """Say ``message`` in the status bar, prefixed with the studio's title."""
        self.message.emit(f"{self.title}: {message}")

    def report_failure(self, message: str) -> None:
        """A failure of something the user asked for (a button of this panel): ``message``, prefixed
        with the studio's title, goes to the window's persistent notice (:attr:`failure`)."""
        self.failure.emit(f"{self.title}: {message}")

    # -- results ----------------------------------------------------------------------------------
    def take_result(self, res: EditResult) -> bool:
        """Keep a full-resolution result (export becomes possible); returns whether the canvas is
        this panel's to draw on (it is the shown studio)."""
        if not res.is_preview:
            self.result = res
            self.export_button.setEnabled(True)
        return self.isVisible()

    def report_engine(self, res: EditResult, text: str) -> None:
        """Put ``text`` (what ran) and the device that really ran ``res`` in the status bar."""
        self.engine_status.emit(text)
        self.device_used.emit(str(res.info.get("device", CLASSICAL_DEVICE)))

    def forget_result(self) -> None:
        """A new document image: the previous result no longer applies (nothing to export)."""
        self.result = None
        self.export_button.setEnabled(False)

    def _doc_size(self) -> QSize:
        """Size of the document image (empty when none is open), for the canvas."""
        if self.doc.image is None:
            return QSize()
        h, w = self.doc.image.shape[:2]
        return QSize(w, h)

    def show_document(self, after: np.ndarray | None = None) -> None:
        """Put the document image on the canvas as "before" and ``after`` (default: none yet)."""
        image = self.doc.image
        self.canvas.set_document_size(self._doc_size())
        self.canvas.set_before(to_qimage(image) if image is not None else None)
        self.canvas.set_after(to_qimage(after) if after is not None else None)

    # -- document binding -------------------------------------------------------------------------
    @property
    def param_namespaces(self) -> tuple[str, ...]:
        """The document namespaces this panel's parameters live in (default: its name)."""
        return (self.name,)

    def _on_doc_param(self, studio: str, key: str, value: Any) -> None:
        if studio in self.param_namespaces:
            self.on_param_changed(studio, key, value)

    def undo_text(self, key: str, value: Any) -> str:
        """The undo-history text of setting ``key`` to ``value``: ``"Change <words>"`` from
        :attr:`param_texts` (a panel overrides this for wordings such as "Move mask anchor").

        Raises:
            KeyError: ``key`` has no words in :attr:`param_texts`.
        """
        return f"Change {self.param_texts[key]}"

    def push_param(self, key: str, value: Any, merge_key: int | None = None, studio: str | None = None,
                   text: str | None = None) -> None:
        """Set one parameter through this studio's undo stack (``merge_key``: one drag = one step)."""
        self.undo.push(SetParamCommand(self.doc, studio or self.name, key, value,
                                       text or self.undo_text(key, value), merge_key))

    def push_params(self, values: dict[str, Any], text: str, studio: str | None = None) -> None:
        """Set several parameters as one undo step called ``text``."""
        self.undo.push(SetParamsCommand(self.doc, studio or self.name, values, text))

    # -- hooks ------------------------------------------------------------------------------------
    def on_param_changed(self, studio: str, key: str, value: Any) -> None:
        """A parameter of this panel changed (widget, undo or redo): show it, render again."""
        self.sync_widgets()
        self.request_render()

    def on_image_changed(self) -> None:
        """A new document image: drop the old result; the shown studio draws it at once, a hidden one
        on :meth:`activate`."""
        self.forget_result()
        if self.isVisible():
            self.activate()

    def sync_widgets(self) -> None:
        """Show the document's parameters in the widgets (signals blocked)."""

    def request_render(self) -> None:
        """Send the current image and parameters to the engine (newest request wins). (Not Qt's
        ``QWidget.render``, which paints a widget into a device.)"""

    def activate(self) -> None:
        """Called when the panel becomes the visible studio: put its image on the canvas, render."""
        self.show_document(after=self.result.image if self.result is not None else None)
        self.request_render()

    def deactivate(self) -> None:
        """Called before another studio is shown: remove what this panel put on the shared canvas."""

    def refresh_engines(self) -> None:
        """Checkpoints were added or replaced (Model manager): show the engine choice again."""

    # -- unsaved work and recovery ----------------------------------------------------------------
    def recovery_state(self) -> dict[str, np.ndarray]:
        """The studio's painted layers for a session file or an autosave, by layer name
        (``"<studio>.<layer>"``, ``uint8`` ``[H, W]`` copies); parameters are the document's and not
        in here. Default: none."""
        return {}

    def restore_state(self, layers: Mapping[str, np.ndarray]) -> None:
        """Put this studio's layers of a restored session back as undoable "Recover …" steps (layers
        of other studios are ignored). Default: the studio has no layers.

        Args:
            layers: every layer of the session, by name.

        Raises:
            ValueError: a layer of this studio does not fit (one line; nothing of it is applied).
        """

    def has_unsaved_work(self) -> bool:
        """True while the studio holds work a session has not saved: its undo stack is away from its
        clean index (a panel adds state held outside the stack)."""
        return not self.undo.isClean()

    def mark_saved(self) -> None:
        """The studio's work was saved (or deliberately discarded): nothing of it is unsaved now."""
        self.undo.setClean()

    # -- engine choice ------------------------------------------------------------------------------
    def choose_engine(self, box: EngineBox, learned: LearnedBackend | None, requested: str) -> Resolution | None:
        """The resolution of a requested engine, bound to ``box``; a refused choice (the learned
        engine without a usable checkpoint) is said in the status bar and the box, and gives ``None``.

        Args:
            box: the studio's engine box.
            learned: the editor's learned backend.
            requested: ``auto``, ``classical`` or ``neural``.
        """
        try:
            res = engine_resolution(learned, requested)
        except ValueError as exc:
            self.report_error(str(exc))
            box.refuse(str(exc))
            return None
        self.bind_engine(box, learned, res)
        return res

    @staticmethod
    def bind_engine(box: EngineBox, learned: LearnedBackend | None, res: Resolution) -> None:
        """Show ``res`` in ``box``, offering the learned entry when the card says a usable checkpoint exists."""
        box.bind(res, None if res.requested == "auto" else engine_resolution(learned, "auto"))

    def rebind_engine(self, box: EngineBox, learned: LearnedBackend | None, requested: str) -> Resolution:
        """Show ``requested``'s resolution again (cards may have changed); ``auto`` when a learned
        choice is no longer possible. Returns the resolution shown."""
        try:
            res = engine_resolution(learned, requested)
        except ValueError:  # the learned checkpoint went away
            res = engine_resolution(learned, "auto")
        self.bind_engine(box, learned, res)
        return res

    # -- shared controls --------------------------------------------------------------------------
    def add_show_group(self, lay: QBoxLayout, result_text: str) -> QHBoxLayout:
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
        self.view_group.idToggled.connect(self._view_toggled)
        lay.addWidget(view)
        return row

    def _view_toggled(self, index: int, on: bool) -> None:
        if on:
            self.set_show_original(index == 1)

    def add_export_and_info(self, lay: QBoxLayout, export_text: str, info_text: str = "",
                            batch_text: str | None = None, info_lines: int = 0) -> None:
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

    # -- export and batch -------------------------------------------------------------------------
    @property
    def export_channel(self) -> str:
        return f"{self.name}.export"

    def export_image(self, path: str, image: np.ndarray) -> None:
        """Save ``image`` to ``path`` atomically in the worker; the status bar says when it is written."""

        def job(token: CancelToken) -> str:
            from engine.imageio import save_image

            return str(save_image(path, image))

        self.submit(self.export_channel, job, self._exported)

    def _exported(self, path: object) -> None:
        self.message.emit(f"Exported {path}")

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

    def batch_params(self) -> dict[str, Any]:
        """The current settings in the batch op's flat form.

        Raises:
            ValueError: the current settings are not valid.
        """
        return {}

    def open_batch_dialog(self) -> None:
        """Ask the window to open the batch dialog for :attr:`batch_op` with :meth:`batch_params`
        (the panel's "Batch …" button); settings that cannot start a batch are a failure the user
        sees in the window's notice (:meth:`report_failure`), as from File → Batch export."""
        if self.batch_op is None:
            return
        try:
            params = self.batch_params()
        except ValueError as exc:
            self.report_failure(f"cannot start a batch: {exc}")
            return
        self.batch_requested.emit(self.batch_op, params)

    # -- settings ---------------------------------------------------------------------------------
    def restore_params(self, defaults: Mapping[str, Any], check: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """The parameters remembered in :attr:`settings_group` (each read as its default's type),
        or ``defaults`` when nothing usable was kept.

        Args:
            defaults: every parameter with its default.
            check: raises ``ValueError`` (or ``KeyError``) for a set that is not valid.

        Returns:
            The parameters to declare.
        """
        if self.settings_group is None:
            return dict(defaults)
        s = QSettings()
        out = dict(defaults)
        for key, default in defaults.items():
            v = s.value(f"{self.settings_group}/{key}", default)
            try:
                if isinstance(default, bool):
                    out[key] = str(v).lower() in ("1", "true")
                elif isinstance(default, (int, float)):
                    out[key] = type(default)(str(v))
                else:
                    out[key] = str(v)
            except (TypeError, ValueError):
                out[key] = default
        try:
            check(out)
        except (ValueError, KeyError):
            out = dict(defaults)
        return out

    def save_settings(self) -> None:
        """Remember the studio's parameters (QSettings) when it has a :attr:`settings_group`."""
        if self.settings_group is None:
            return
        s = QSettings()
        for key, value in self.doc.params(self.name).items():
            s.setValue(f"{self.settings_group}/{key}", value)
