"""Opera studio panel, first cut: XDoG line art with live preview, export and batch."""

from __future__ import annotations

from typing import Any, Iterator, Optional

from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QRadioButton, QVBoxLayout, QWidget)

from app.commands import SetParamCommand, SetParamsCommand
from app.document import Document
from app.qt_image import to_qimage
from app.studios.base import StudioPanel
from app.widgets.canvas import ImageCanvas
from app.widgets.param_slider import ParamSlider
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.studios.base import EditResult
from engine.studios.opera import LineArtEditor, XDoGParams

STUDIO = "opera"
RENDER = "opera.lineart"
EXPORT = "opera.export"

_D = XDoGParams()
DEFAULTS: dict[str, Any] = {
    "sigma": _D.sigma, "k": _D.k, "gamma": _D.gamma, "epsilon": _D.epsilon, "phi": _D.phi,
    "threshold_on": False, "threshold": 0.5,
}

# key: (label, lo, hi, decimals, log, tooltip)
SLIDERS: dict[str, tuple[str, float, float, int, bool, str]] = {
    "sigma": ("σ", 0.3, 5.0, 2, False, "Inner Gaussian σ (pixels): larger = thicker, fewer lines"),
    "k": ("k", 1.1, 5.0, 2, False, "Outer/inner σ ratio"),
    "gamma": ("γ", 0.80, 1.0, 3, False, "Outer Gaussian weight γ (τ): closer to 1 = less shading"),
    "epsilon": ("ε", -0.1, 0.1, 3, False, "White level ε: higher = more and darker lines"),
    "phi": ("φ", 1.0, 1000.0, 1, True, "Soft threshold steepness φ: higher = crisper"),
}


def params_from_dict(d: dict[str, Any]) -> XDoGParams:
    """Document parameters → validated :class:`XDoGParams`."""
    return XDoGParams(sigma=d["sigma"], k=d["k"], gamma=d["gamma"], epsilon=d["epsilon"],
                      phi=d["phi"], threshold=d["threshold"] if d["threshold_on"] else None).validate()


class OperaPanel(StudioPanel):
    """XDoG sliders bound to the document; renders through the worker with previews."""

    name = STUDIO
    title = "Opera"
    icon = "mdi6.drama-masks"

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.editor = LineArtEditor()  # used only inside worker jobs
        self.result: Optional[EditResult] = None
        self.show_original = False
        self._waiting: dict[str, int] = {}  # channel → newest generation not yet answered
        doc.declare(STUDIO, self._restore_settings())
        self._build()
        doc.param_changed.connect(self._on_param_changed)
        doc.image_changed.connect(self._on_image_changed)
        worker.result.connect(self._on_result)
        worker.finished.connect(self._on_done)
        worker.cancelled.connect(self._on_done)
        worker.error.connect(self._on_error)

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        box = QGroupBox("Line art (XDoG)")
        form = QVBoxLayout(box)
        self.sliders: dict[str, ParamSlider] = {}
        for key, (label, lo, hi, dec, log, tip) in SLIDERS.items():
            s = ParamSlider(label, lo, hi, decimals=dec, log=log, tooltip=tip)
            s.setObjectName(f"slider_{key}")
            s.set_value(self.doc.param(STUDIO, key))
            s.edited.connect(lambda v, mk, key=key: self._push(key, v, mk))
            form.addWidget(s)
            self.sliders[key] = s
        self.threshold_check = QCheckBox("Binarise (pure black/white)")
        self.threshold_check.setChecked(self.doc.param(STUDIO, "threshold_on"))
        self.threshold_check.toggled.connect(lambda on: self._push("threshold_on", bool(on), None))
        form.addWidget(self.threshold_check)
        t = ParamSlider("level", 0.0, 1.0, decimals=2, tooltip="Binarisation level")
        t.setObjectName("slider_threshold")
        t.set_value(self.doc.param(STUDIO, "threshold"))
        t.setEnabled(self.doc.param(STUDIO, "threshold_on"))
        t.edited.connect(lambda v, mk: self._push("threshold", v, mk))
        form.addWidget(t)
        self.sliders["threshold"] = t
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(self._reset)
        form.addWidget(reset)
        lay.addWidget(box)

        view = QGroupBox("Show")
        vl = QHBoxLayout(view)
        self.view_group = QButtonGroup(self)
        self.radio_result = QRadioButton("Line art")
        self.radio_original = QRadioButton("Original")
        self.radio_result.setChecked(True)
        for i, r in enumerate((self.radio_result, self.radio_original)):
            self.view_group.addButton(r, i)
            vl.addWidget(r)
        self.view_group.idToggled.connect(lambda i, on: on and self.set_show_original(i == 1))
        lay.addWidget(view)

        self.export_button = QPushButton("Export line art…")
        self.export_button.setEnabled(False)
        self.batch_button = QPushButton("Batch line art…")
        self.export_button.clicked.connect(self.export_requested)
        self.batch_button.clicked.connect(self.open_batch_dialog)
        lay.addWidget(self.export_button)
        lay.addWidget(self.batch_button)
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        self.info_label.setStyleSheet("color: #777;")
        lay.addWidget(self.info_label)
        lay.addStretch(1)

    # -- document binding -------------------------------------------------------------------------
    def _push(self, key: str, value: Any, merge_key: Optional[int]) -> None:
        self.undo.push(SetParamCommand(self.doc, STUDIO, key, value, merge_key))

    def _reset(self) -> None:
        self.undo.push(SetParamsCommand(self.doc, STUDIO, DEFAULTS, "Reset line-art parameters"))

    def _on_param_changed(self, studio: str, key: str, value: Any) -> None:
        if studio != STUDIO:
            return
        if key in self.sliders:
            self.sliders[key].set_value(value)
        if key == "threshold_on":
            self.threshold_check.blockSignals(True)
            self.threshold_check.setChecked(bool(value))
            self.threshold_check.blockSignals(False)
            self.sliders["threshold"].setEnabled(bool(value))
        self.render()

    def _on_image_changed(self) -> None:
        self.result = None
        self.export_button.setEnabled(False)
        self.canvas.set_document_size(self._doc_size())
        self.canvas.set_before(to_qimage(self.doc.image) if self.doc.image is not None else None)
        self.canvas.set_after(None)
        self.render()

    def _doc_size(self) -> QSize:
        if self.doc.image is None:
            return QSize()
        h, w = self.doc.image.shape[:2]
        return QSize(w, h)

    # -- engine -----------------------------------------------------------------------------------
    def render(self) -> None:
        """Send the current image + parameters to the worker (newest request wins)."""
        image = self.doc.image
        if image is None:
            return
        try:
            params = params_from_dict(self.doc.params(STUDIO))
        except ValueError as exc:
            self.message.emit(f"Opera: {exc}")
            return
        editor = self.editor

        def job(token: CancelToken) -> Iterator[EditResult]:
            if not editor.has_image or editor.image is not image:
                editor.set_image(image)
            yield from editor.edit_stream(params, token)

        self._waiting[RENDER] = self.worker.submit(RENDER, job)

    def _on_result(self, channel: str, gen: int, value: object) -> None:
        if channel == EXPORT:
            self.message.emit(f"Exported {value}")
            return
        if channel != RENDER or gen != self.worker.latest_generation(RENDER):
            return
        assert isinstance(value, EditResult)
        if not value.is_preview:
            self.result = value
            self.export_button.setEnabled(True)
        if not self.show_original:
            self.canvas.set_after(to_qimage(value.image))
        info = value.info
        size = "preview" if value.is_preview else "full"
        h, w = value.image.shape[:2]
        text = (f"Engine: {info.get('backend')} ({info.get('method', '')}) · {size} {w}×{h} · "
                f"{info.get('elapsed_ms', 0):.1f} ms")
        self.engine_status.emit(text)
        self.info_label.setText(text)

    def _on_done(self, channel: str, gen: int) -> None:
        if self._waiting.get(channel) == gen:
            del self._waiting[channel]

    def _on_error(self, channel: str, gen: int, message: str) -> None:
        if channel in (RENDER, EXPORT):
            self._on_done(channel, gen)
            self.message.emit(f"Opera: {message}")

    def is_idle(self) -> bool:
        return not self._waiting

    # -- view -------------------------------------------------------------------------------------
    def set_show_original(self, on: bool) -> None:
        """Show the original picture instead of the line art (the canvas split still works)."""
        self.show_original = on
        button = self.radio_original if on else self.radio_result
        if not button.isChecked():
            button.setChecked(True)
        if on and self.doc.image is not None:
            self.canvas.set_after(to_qimage(self.doc.image))
        elif self.result is not None:
            self.canvas.set_after(to_qimage(self.result.image))

    def toggle_view(self) -> None:
        self.set_show_original(not self.show_original)

    def activate(self) -> None:
        self._on_image_changed()

    # -- export -----------------------------------------------------------------------------------
    def has_result(self) -> bool:
        return self.result is not None

    def export_result(self, path: str) -> None:
        """Save the full-resolution line art atomically (in the worker)."""
        if self.result is None:
            self.message.emit("Opera: nothing to export yet")
            return
        line = self.result.image

        def job(token: CancelToken) -> str:
            from engine.imageio import save_image

            return str(save_image(path, line))

        self._waiting[EXPORT] = self.worker.submit(EXPORT, job)

    def suggested_export_name(self) -> str:
        stem = self.doc.path.stem if self.doc.path is not None else "lineart"
        return f"{stem}_lineart.png"

    def open_batch_dialog(self) -> None:
        from app.dialogs.batch_dialog import BatchDialog

        dlg = BatchDialog(op="lineart", params=params_from_dict(self.doc.params(STUDIO)).to_dict(),
                          parent=self.window())
        dlg.exec()

    # -- settings ---------------------------------------------------------------------------------
    def _restore_settings(self) -> dict[str, Any]:
        s = QSettings()
        out = dict(DEFAULTS)
        for key, default in DEFAULTS.items():
            v = s.value(f"opera/{key}", default)
            try:
                out[key] = (str(v).lower() in ("1", "true")) if isinstance(default, bool) else float(v)
            except (TypeError, ValueError):
                out[key] = default
        try:
            params_from_dict(out)
        except ValueError:
            out = dict(DEFAULTS)
        return out

    def save_settings(self) -> None:
        s = QSettings()
        for key, value in self.doc.params(STUDIO).items():
            s.setValue(f"opera/{key}", value)
