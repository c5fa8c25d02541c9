"""Mask-wear studio panel: template gallery, colour, faces, lighting, draggable anchors, export."""

from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.model.commands import SetParamCommand, SetParamsCommand
from app.model.document import Document
from app.qt_image import to_qimage
from app.studios.base import StudioPanel
from app.widgets.canvas import ImageCanvas
from app.widgets.param_slider import ParamSlider
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.procedural.mask_templates import ANCHORS, get_template, template_names
from engine.studios.base import EditResult
from engine.studios.maskwear.editor import MaskWearEditor
from engine.studios.maskwear.params import MaskWearParams

STUDIO = "maskwear"
RENDER = "maskwear.render"
EXPORT = "maskwear.export"
USER_TEMPLATE = "maskwear.user_template"

DEFAULTS: dict[str, Any] = {"template": "surgical-blue", "color": "", "method": "auto", "faces": "all", "lighting": 0.8,
                            "offsets": (), "user_template": ""}


def template_icon(name: str, side: int = 72) -> QIcon:
    """Thumbnail of a built-in template on a light background."""
    t = get_template(name)
    a = t.rgba[:, :, 3:].astype(np.float32) / 255.0
    comp = (t.rgba[:, :, :3] * a + 235 * (1 - a)).astype(np.uint8)
    pix = QPixmap.fromImage(to_qimage(comp)).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation)
    return QIcon(pix)


class MaskWearPanel(StudioPanel):
    """Put a mask on every face of the open photo; drag the anchors on the canvas to nudge the fit."""

    name = STUDIO
    title = "Mask-wear"
    icon = "mdi6.face-mask-outline"
    export_suffix = "masked"
    view_channels = (RENDER,)

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.editor = MaskWearEditor()  # used only inside worker jobs
        self.result: Optional[EditResult] = None
        self._user_template = None  # MaskTemplate loaded in the worker
        self._drag_key: Optional[int] = None
        self._drag_counter = 0
        doc.declare(STUDIO, DEFAULTS)
        self._build()
        doc.param_changed.connect(self._on_param_changed)
        doc.image_changed.connect(self._on_image_changed)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)
        canvas.handle_dragged.connect(self._on_handle_dragged)
        canvas.handle_released.connect(self._on_handle_released)

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        box = QGroupBox("Template")
        bl = QVBoxLayout(box)
        self.gallery = QListWidget()
        self.gallery.setObjectName("template_gallery")
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(72, 72))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setMinimumHeight(200)
        for name in template_names():
            item = QListWidgetItem(template_icon(name), name, self.gallery)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setSizeHint(QSize(92, 100))
        self.gallery.currentItemChanged.connect(self._gallery_changed)
        bl.addWidget(self.gallery)
        row = QHBoxLayout()
        self.color_button = QPushButton("Colour…")
        self.color_button.clicked.connect(self._pick_color)
        self.color_reset = QPushButton("Reset colour")
        self.color_reset.setToolTip("Back to the template's own colours")
        self.color_reset.clicked.connect(lambda: self._push("color", ""))
        self.user_button = QPushButton("Load template…")
        self.user_button.setToolTip("An RGBA PNG with a JSON file of anchors a–f beside it")
        self.user_button.clicked.connect(self._load_user_template)
        for b in (self.color_button, self.color_reset, self.user_button):
            row.addWidget(b)
        bl.addLayout(row)
        lay.addWidget(box)

        fit = QGroupBox("Fit")
        form = QFormLayout(fit)
        self.method = QComboBox()
        self.method.addItem("Auto", "auto")
        self.method.addItem("Key-point (classical)", "keypoint")
        self.method.addItem("Learned refiner", "learned")
        self.method.setToolTip("Auto uses the learned STN refiner only when its checkpoint measured better "
                               "than the key-point fit; the info line says which ran and why.")
        self.method.currentIndexChanged.connect(lambda i: self._push("method", self.method.itemData(i)))
        form.addRow("Method", self.method)
        self.faces = QComboBox()
        self.faces.addItem("All faces", "all")
        self.faces.addItem("Largest face", "largest")
        self.faces.currentIndexChanged.connect(lambda i: self._push("faces", self.faces.itemData(i)))
        form.addRow("Faces", self.faces)
        self.lighting = ParamSlider("", 0.0, 1.0, decimals=2, tooltip="How much the mask takes the face's shading")
        self.lighting.set_value(self.doc.param(STUDIO, "lighting"))
        self.lighting.edited.connect(lambda v, mk: self._push("lighting", v, mk))
        form.addRow("Lighting", self.lighting)
        self.reset_anchors = QPushButton("Reset anchors")
        self.reset_anchors.setToolTip("Drag the white handles on the picture to nudge the fit of the largest face")
        self.reset_anchors.clicked.connect(lambda: self._push("offsets", ()))
        form.addRow("", self.reset_anchors)
        lay.addWidget(fit)

        self._add_export_and_info(lay, "Export masked image…", "Drag the white anchor handles to adjust the mask.")
        lay.addStretch(1)
        self._sync_widgets()

    def _sync_widgets(self) -> None:
        p = self.doc.params(STUDIO)
        self.gallery.blockSignals(True)
        for i in range(self.gallery.count()):
            if self.gallery.item(i).data(Qt.ItemDataRole.UserRole) == p["template"]:
                self.gallery.setCurrentRow(i)
        self.gallery.blockSignals(False)
        for combo, key in ((self.faces, "faces"), (self.method, "method")):
            combo.blockSignals(True)
            combo.setCurrentIndex(combo.findData(p[key]))
            combo.blockSignals(False)
        self.lighting.set_value(p["lighting"])
        pix = QPixmap(14, 14)
        pix.fill(QColor(p["color"]) if p["color"] else QColor(0, 0, 0, 0))
        self.color_button.setIcon(QIcon(pix))
        own = "the template's own"
        self.color_button.setToolTip(f"Mask colour: {p['color'] or own}")

    # -- document binding -------------------------------------------------------------------------
    def _push(self, key: str, value: Any, merge_key: Optional[int] = None) -> None:
        self.undo.push(SetParamCommand(self.doc, STUDIO, key, value, merge_key))

    def _gallery_changed(self, item: Optional[QListWidgetItem], _prev=None) -> None:
        if item is not None:
            self.undo.push(SetParamsCommand(self.doc, STUDIO, {"template": item.data(Qt.ItemDataRole.UserRole),
                                                               "user_template": ""}, "Choose template"))

    def _pick_color(self) -> None:
        current = self.doc.param(STUDIO, "color") or "#78aadc"
        c = QColorDialog.getColor(QColor(current), self, "Mask colour")
        if c.isValid():
            self._push("color", c.name())

    def _load_user_template(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Mask template (RGBA PNG + JSON anchors)", "", "PNG (*.png)")
        if path:
            self._push("user_template", path)

    def _on_param_changed(self, studio: str, key: str, value: Any) -> None:
        if studio != STUDIO:
            return
        self._sync_widgets()
        self.render()

    def _on_image_changed(self) -> None:
        self._forget_result()
        if self.isVisible():
            self.activate()

    def activate(self) -> None:
        self._show_document()
        self.render()

    def deactivate(self) -> None:
        self.canvas.set_handles(None)

    # -- anchors ----------------------------------------------------------------------------------
    def _base_anchors(self) -> Optional[np.ndarray]:
        if self.result is None or not self.result.info.get("anchors"):
            return None
        pts = np.array(self.result.info["anchors"][0], np.float32)
        for name, dx, dy in self.result.info.get("offsets", []):  # the nudges that result was made with
            pts[ANCHORS.index(name)] -= (dx, dy)
        return pts

    def _offsets_for(self, index: int, x: float, y: float) -> tuple:
        base = self._base_anchors()
        if base is None:
            return self.doc.param(STUDIO, "offsets")
        table = {k: (dx, dy) for k, dx, dy in self.doc.param(STUDIO, "offsets")}
        table[ANCHORS[index]] = (round(float(x - base[index][0]), 1), round(float(y - base[index][1]), 1))
        return tuple((k, *table[k]) for k in ANCHORS if k in table)

    def _on_handle_dragged(self, index: int, x: float, y: float) -> None:
        if not self.isVisible():
            return
        if self._drag_key is None:
            self._drag_counter += 1
            self._drag_key = 10_000 + self._drag_counter
        self._push("offsets", self._offsets_for(index, x, y), self._drag_key)

    def _on_handle_released(self, index: int, x: float, y: float) -> None:
        if not self.isVisible():
            return
        self._push("offsets", self._offsets_for(index, x, y), self._drag_key)
        self._drag_key = None

    # -- engine -----------------------------------------------------------------------------------
    def params(self) -> MaskWearParams:
        p = self.doc.params(STUDIO)
        return MaskWearParams(template=p["template"], color=p["color"] or None, faces=p["faces"], method=p["method"],
                              lighting=float(p["lighting"]), offsets=tuple(p["offsets"])).validate()

    def render(self) -> None:
        """Fit and composite in the worker (newest request wins)."""
        image = self.doc.image
        if image is None or not self.isVisible():
            return
        params = self.params()
        user_path = self.doc.param(STUDIO, "user_template")
        editor = self.editor

        def job(token: CancelToken) -> Iterator[EditResult]:
            nonlocal params
            if not editor.has_image or editor.image is not image:
                editor.set_image(image)
            if user_path:
                from dataclasses import replace

                from engine.procedural.mask_templates import load_user_template

                params = replace(params, user_template=load_user_template(user_path))
            yield from editor.edit_stream(params, token)

        self.submit(RENDER, job)

    def _on_result(self, channel: str, gen: int, value: object) -> None:
        if channel != RENDER or gen != self.worker.latest_generation(RENDER):
            return
        assert isinstance(value, EditResult)
        if not value.is_preview:
            self.result = value
            self.export_button.setEnabled(True)
        if not self.isVisible():  # switched away meanwhile: the canvas is another studio's now
            return
        self.canvas.set_after(to_qimage(value.image))
        if not value.is_preview:
            anchors = value.info.get("anchors") or []
            if anchors and self.isVisible() and self._drag_key is None:
                self.canvas.set_handles(np.array(anchors[0]), ANCHORS)
        info = value.info
        text = (f"Engine: {info.get('backend')} ({info.get('method')}: {info.get('method_reason')}) · "
                f"{info.get('faces')} face(s) · {'preview' if value.is_preview else 'full'} · "
                f"{info.get('elapsed_ms', 0):.1f} ms")
        self.engine_status.emit(text)
        self.info_label.setText(text + "\nDrag the white anchor handles to adjust the mask.")

    def _on_error(self, channel: str, gen: int, message: str) -> None:
        if channel == RENDER and gen == self.worker.latest_generation(RENDER):
            self._forget_result()  # nothing valid to export or to drag any more
            if self.isVisible():
                self.canvas.set_handles(None)
                self.canvas.set_after(None)
            self.info_label.setText(message)
        if channel in (RENDER, EXPORT):  # a failed export keeps the result on screen and exportable
            self.message.emit(f"Mask-wear: {message}")

    # -- export -----------------------------------------------------------------------------------
