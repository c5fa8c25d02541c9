"""Mask-wear studio panel: template gallery, colour, faces, fitting method, lighting, draggable
anchors, export.

The fitting method (Auto / Key-point / Learned refiner) is a document parameter; the note under it
says what runs, from the learned refiner's card only (its verdict compares it with the key-point
fit). The editor — face analysis and, when chosen, the refiner — is made and run in the worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.model.document import Document
from app.qt_image import to_qimage
from app.studios.base import StudioPanel, WorkerEditor
from app.widgets.canvas import ImageCanvas
from app.widgets.engine_box import runs_line
from app.widgets.param_slider import ParamSlider
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.procedural.mask_templates import ANCHORS, get_template, template_names
from engine.studios.base import EditResult
from engine.studios.maskwear.editor import MaskWearEditor
from engine.studios.maskwear.learned import method_resolution
from engine.studios.maskwear.params import MaskWearParams

STUDIO = "maskwear"
RENDER = "maskwear.render"

DEFAULTS: dict[str, Any] = {"template": "surgical-blue", "color": "", "method": "auto", "faces": "all", "lighting": 0.8,
                            "offsets": (), "user_template": ""}
METHOD_NAMES = {"classical": "the key-point fit", "neural": "the learned refiner"}
"""How the fitting note calls the two engines (the key-point fit is the refiner's classical twin)."""


def template_icon(name: str, side: int = 72) -> QIcon:
    """Thumbnail of a built-in template on a light background."""
    t = get_template(name)
    a = t.rgba[:, :, 3:].astype(np.float32) / 255.0
    comp = (t.rgba[:, :, :3] * a + 235 * (1 - a)).astype(np.uint8)
    pix = QPixmap.fromImage(to_qimage(comp)).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation)
    return QIcon(pix)


def _editor_and_params(holder: WorkerEditor[None, MaskWearEditor], image: np.ndarray, params: MaskWearParams,
                       user_path: str | None) -> tuple[MaskWearEditor, MaskWearParams]:
    """In the worker: the studio's editor holding ``image`` (analysed once per image) and the fit
    parameters with the user's template file loaded when one is chosen."""
    editor = holder.get()
    if not editor.has_image or editor.image is not image:
        editor.set_image(image)
    if user_path:
        from dataclasses import replace

        from engine.procedural.mask_templates import load_user_template

        params = replace(params, user_template=load_user_template(user_path))
    return editor, params


_ANALYSIS: list[Any] = []
"""The batch's analysis (:class:`engine.studios.maskwear.batch.DatasetAnalysis`), built by the first
dataset export in the worker."""


def _dataset_analysis() -> Any:
    """In the worker: the analysis ``batch wear-mask`` runs (so the export writes its bytes)."""
    if not _ANALYSIS:
        from engine.studios.maskwear.batch import DatasetAnalysis

        _ANALYSIS.append(DatasetAnalysis())
    return _ANALYSIS[0]


class MaskWearPanel(StudioPanel):
    """Put a mask on every face of the open photo; drag the anchors on the canvas to nudge the fit."""

    name = STUDIO
    title = "Mask-wear"
    icon = "mdi6.face-mask-outline"
    export_suffix = "masked"
    view_channels = (RENDER,)
    param_texts = {"template": "mask template", "method": "fitting method", "faces": "which faces get a mask",
                   "lighting": "mask lighting"}
    batch_op = "wear-mask"
    dataset_exported = Signal(list)
    """The paths the last "Export dataset files…" wrote."""

    def _export_dataset_dialog(self) -> None:
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QFileDialog

        if self.doc.image is None:
            self.report_failure("open a photo first")
            return
        start = str(QSettings().value("paths/last_export_dir", ""))
        folder = QFileDialog.getExistingDirectory(self, "Export dataset files to", start)
        if folder:
            QSettings().setValue("paths/last_export_dir", folder)
            self.export_dataset_files(folder)

    def export_dataset_files(self, folder: str, size: int = 144) -> None:
        """Write the largest face's dataset files into ``folder`` (through the worker): the same
        ``<stem>_face.png``, ``_masked.png``, ``_alpha.png`` and ``_params.json`` that ``batch
        wear-mask`` writes, all or none, made with the studio's template, colour, method, lighting
        and anchor drags. The status bar names them; a failure goes to the notice.

        Args:
            folder: an existing folder.
            size: side of the aligned crops (the batch default).
        """
        image = self.doc.image
        if image is None:
            self.report_failure("open a photo first")
            return
        try:
            params = self.params()
        except ValueError as exc:
            self.report_failure(f"cannot export dataset files: {exc}")
            return
        user_path = self.doc.param(STUDIO, "user_template")
        stem = self.doc.path.stem if self.doc.path is not None else "face"
        holder = self.editor

        def job(token: CancelToken) -> list[str]:
            from pathlib import Path

            from engine.batch.core import output_bytes
            from engine.imageio import atomic_write_files
            from engine.studios.maskwear.batch import wear_mask_files

            _editor, job_params = _editor_and_params(holder, image, params, user_path)
            out = wear_mask_files(image, _dataset_analysis().largest_face(image), job_params, size)
            files: dict[Any, bytes] = {}
            for name, value in out.items():
                path = Path(folder) / (f"{stem}_{name}" if name.endswith(".json") else f"{stem}_{name}.png")
                files[path] = output_bytes(name, path, value)
            atomic_write_files(files)
            return [str(p) for p in files]

        self.submit("export_dataset", job, self._dataset_exported,
                    lambda message: self.report_failure(f"dataset files not written: {message}"))

    def _dataset_exported(self, paths: object) -> None:
        assert isinstance(paths, list)
        names = ", ".join(p.rsplit("/", 1)[-1] for p in paths)
        self.message.emit(f"Exported {names}")
        self.dataset_exported.emit(paths)

    def batch_params(self) -> dict[str, Any]:
        """The template, colour, fitting method and lighting in ``batch wear-mask``'s form (the
        dataset's crop size and augmentation start at the op's defaults; dragged anchors belong to
        this photo and do not carry over).

        A template of the user's own (a PNG with its anchor JSON) goes as ``template_file``.
        """
        p = self.doc.params(STUDIO)
        out: dict[str, Any] = {"template": p["template"], "color": p["color"] or None, "method": p["method"],
                               "lighting": float(p["lighting"]), "size": 144, "augment": "none"}
        if p["user_template"]:
            del out["template"]
            out["template_file"] = str(p["user_template"])
        return out

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: QWidget | None = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.editor: WorkerEditor[None, MaskWearEditor] = WorkerEditor(lambda _key: MaskWearEditor())
        self.result: EditResult | None = None
        self._drag_key: int | None = None
        self._drag_counter = 0
        doc.declare(STUDIO, DEFAULTS)
        self._build()
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
        self.color_reset.clicked.connect(lambda: self.push_param("color", ""))
        self.user_button = QPushButton("Load template…")
        self.user_button.setToolTip("An RGBA PNG with a JSON file of anchors a–f beside it")
        self.user_button.clicked.connect(self._load_user_template)
        self.photo_button = QPushButton("Template from photo…")
        self.photo_button.setObjectName("template_from_photo")
        self.photo_button.setToolTip("Take the mask a person wears in a photo as a template of your own")
        self.photo_button.clicked.connect(self._template_from_photo)
        for b in (self.color_button, self.color_reset, self.user_button):
            row.addWidget(b)
        bl.addLayout(row)
        bl.addWidget(self.photo_button)  # a row of its own: four buttons did not fit the panel
        lay.addWidget(box)

        fit = QGroupBox("Fit")
        form = QFormLayout(fit)
        self.method = QComboBox()
        self.method.addItem("Auto", "auto")
        self.method.addItem("Key-point (classical)", "keypoint")
        self.method.addItem("Learned refiner", "learned")
        self.method.setToolTip("Auto uses the learned STN refiner only when its checkpoint measured better "
                               "than the key-point fit; the note below says which runs and why.")
        self.method.currentIndexChanged.connect(lambda i: self.push_param("method", self.method.itemData(i)))
        form.addRow("Method", self.method)
        self.method_note = QLabel("")
        self.method_note.setObjectName("method_note")
        self.method_note.setWordWrap(True)
        self.method_note.setStyleSheet("color: #777;")
        form.addRow(self.method_note)
        self.faces = QComboBox()
        self.faces.addItem("All faces", "all")
        self.faces.addItem("Largest face", "largest")
        self.faces.currentIndexChanged.connect(lambda i: self.push_param("faces", self.faces.itemData(i)))
        form.addRow("Faces", self.faces)
        self.lighting = ParamSlider("", 0.0, 1.0, decimals=2, tooltip="How much the mask takes the face's shading")
        self.lighting.set_value(self.doc.param(STUDIO, "lighting"))
        self.lighting.edited.connect(lambda v, mk: self.push_param("lighting", v, mk))
        form.addRow("Lighting", self.lighting)
        self.reset_anchors = QPushButton("Reset anchors")
        self.reset_anchors.setToolTip("Drag the white handles on the picture to nudge the fit of the largest face")
        self.reset_anchors.clicked.connect(lambda: self.push_param("offsets", ()))
        form.addRow("", self.reset_anchors)
        lay.addWidget(fit)

        self.add_export_and_info(lay, "Export masked image…", "Drag the white anchor handles to adjust the mask.",
                                 batch_text="Batch dataset…")
        self.dataset_button = QPushButton("Export dataset files…")
        self.dataset_button.setObjectName("export_dataset_files")
        self.dataset_button.setToolTip("The largest face's files as batch wear-mask writes them: aligned face and "
                                       "masked crops, the mask's alpha label, and the record (anchors, parameters, "
                                       "478 landmarks, head pose) — with your template, colour and anchor drags")
        self.dataset_button.clicked.connect(self._export_dataset_dialog)
        lay.insertWidget(lay.indexOf(self.export_button) + 1, self.dataset_button)
        lay.addStretch(1)
        self.sync_widgets()
        self.refresh_engines()

    def refresh_engines(self) -> None:
        """Say which fitting the chosen method runs, from the refiner's card only."""
        try:
            res = method_resolution(self.doc.param(STUDIO, "method"))
        except ValueError as exc:  # the learned refiner chosen but not available
            self.method_note.setText(str(exc))
            return
        self.method_note.setText(f"{runs_line(res, METHOD_NAMES)}\nWhy: {res.reason}")

    def sync_widgets(self) -> None:
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
    def on_param_changed(self, studio: str, key: str, value: Any) -> None:
        self.sync_widgets()
        if key == "method":
            self.refresh_engines()
        self.request_render()

    def undo_text(self, key: str, value: Any) -> str:
        """Undo texts in the user's words ("Move mask anchor", "Reset mask colour", ...)."""
        if key == "offsets":
            return "Move mask anchor" if value else "Reset mask anchors"
        if key == "color":
            return "Change mask colour" if value else "Reset mask colour"
        if key == "user_template":
            return "Load mask template"
        return super().undo_text(key, value)

    def _gallery_changed(self, item: QListWidgetItem | None, _prev: QListWidgetItem | None = None) -> None:
        if item is not None:
            self.push_params({"template": item.data(Qt.ItemDataRole.UserRole), "user_template": ""},
                             f"Choose the {item.text()} template")

    def _pick_color(self) -> None:
        current = self.doc.param(STUDIO, "color") or "#78aadc"
        c = QColorDialog.getColor(QColor(current), self, "Mask colour")
        if c.isValid():
            self.push_param("color", c.name())

    def _load_user_template(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Mask template (RGBA PNG + JSON anchors)", "", "PNG (*.png)")
        if path:
            self.push_param("user_template", path)

    def _template_from_photo(self) -> None:
        photo, _ = QFileDialog.getOpenFileName(self, "Photo of a person wearing a mask", "",
                                               "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)")
        if not photo:
            return
        out, _ = QFileDialog.getSaveFileName(self, "Save the mask template as", "", "PNG (*.png)")
        if out:
            self.make_template_from_photo(photo, out if out.lower().endswith(".png") else out + ".png")

    def make_template_from_photo(self, photo: str, out: str) -> None:
        """In the worker: find the mask worn in ``photo``, save it as template ``out`` (+ its .json
        anchors) and choose it (one-line error when there is no face or no mask)."""
        def job(token: CancelToken) -> str:
            from engine.errors import NoFaceError
            from engine.faces import FaceAnalyzer
            from engine.imageio import load_image
            from engine.studios.maskwear.from_photo import save_template, template_from_photo

            image = load_image(photo)
            faces = [f for f in FaceAnalyzer().analyze(image, parse=False).faces if f.landmarks is not None]
            if not faces:
                raise NoFaceError(f"no face found in {photo}")
            token.raise_if_cancelled()
            png, _ = save_template(template_from_photo(image, faces[0]), out)
            return str(png)

        self.submit(f"{STUDIO}.template", job, lambda path: self.push_param("user_template", str(path)))

    def activate(self) -> None:
        self.show_document()
        self.request_render()

    def deactivate(self) -> None:
        self.canvas.set_handles(None)

    # -- anchors ----------------------------------------------------------------------------------
    def _base_anchors(self) -> np.ndarray | None:
        if self.result is None or not self.result.info.get("anchors"):
            return None
        pts = np.array(self.result.info["anchors"][0], np.float32)
        for name, dx, dy in self.result.info.get("offsets", []):  # the nudges that result was made with
            pts[ANCHORS.index(name)] -= (dx, dy)
        return pts

    def _offsets_for(self, index: int, x: float, y: float) -> tuple[tuple[str, float, float], ...]:
        base = self._base_anchors()
        if base is None:
            return tuple(self.doc.param(STUDIO, "offsets"))
        table = {k: (dx, dy) for k, dx, dy in self.doc.param(STUDIO, "offsets")}
        table[ANCHORS[index]] = (round(float(x - base[index][0]), 1), round(float(y - base[index][1]), 1))
        return tuple((k, *table[k]) for k in ANCHORS if k in table)

    def _on_handle_dragged(self, index: int, x: float, y: float) -> None:
        if not self.isVisible():
            return
        if self._drag_key is None:
            self._drag_counter += 1
            self._drag_key = 10_000 + self._drag_counter
        self.push_param("offsets", self._offsets_for(index, x, y), self._drag_key)

    def _on_handle_released(self, index: int, x: float, y: float) -> None:
        if not self.isVisible():
            return
        self.push_param("offsets", self._offsets_for(index, x, y), self._drag_key)
        self._drag_key = None

    # -- engine -----------------------------------------------------------------------------------
    def params(self) -> MaskWearParams:
        """The document's parameters as validated :class:`MaskWearParams`.

        Raises:
            ValueError: a value out of range.
        """
        p = self.doc.params(STUDIO)
        return MaskWearParams(template=p["template"], color=p["color"] or None, faces=p["faces"], method=p["method"],
                              lighting=float(p["lighting"]), offsets=tuple(p["offsets"])).validate()

    def request_render(self) -> None:
        """Fit and composite in the worker (newest request wins)."""
        image = self.doc.image
        if image is None or not self.isVisible():
            return
        params = self.params()
        user_path = self.doc.param(STUDIO, "user_template")
        holder = self.editor

        def job(token: CancelToken) -> Iterator[EditResult]:
            editor, job_params = _editor_and_params(holder, image, params, user_path)
            yield from editor.edit_stream(job_params, token)

        self.submit(RENDER, job, self._show_result, self._render_failed)

    def _show_result(self, value: object) -> None:
        assert isinstance(value, EditResult)
        if not self.take_result(value):  # switched away meanwhile: the canvas is another studio's now
            return
        self.canvas.set_after(to_qimage(value.image))
        if not value.is_preview:
            anchors = value.info.get("anchors") or []
            if anchors and self._drag_key is None:
                self.canvas.set_handles(np.array(anchors[0]), ANCHORS)
        info = value.info
        text = (f"Engine: {info.get('backend')} ({info.get('method')}: {info.get('method_reason')}) · "
                f"{info.get('faces')} face(s) · {'preview' if value.is_preview else 'full'} · "
                f"{info.get('elapsed_ms', 0):.1f} ms")
        self.report_engine(value, text)
        self.info_label.setText(text + "\nDrag the white anchor handles to adjust the mask.")

    def _render_failed(self, message: str) -> None:
        self.forget_result()  # nothing valid to export or to drag any more
        if self.isVisible():
            self.canvas.set_handles(None)
            self.canvas.set_after(None)
        self.info_label.setText(message)
        self.report_error(message)
