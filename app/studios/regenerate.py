"""Regenerate studio panel: paint the 19-label mask, pick a reference face per region, regenerate.

Views: the shared canvas shows the source (before) and the regenerated result (after, with the
before/after split); the panel's mask painter shows the edited label map over the photo. Every
finished stroke (and every undo/redo) regenerates in the worker, previews first.

Engine choice: Auto (the learned SEAN-style generator only when its card measured it better than
classical, else classical region warping), Classical, or Learned (runs the trained generator even
when its card says it measured worse — research use; refused with a message when no checkpoint
is usable). The Learned entry's tool tip shows the card's measured numbers; the info line names the
engine that ran and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.model.commands import SetParamCommand
from app.model.document import Document
from app.model.raster import LabelMap, ReplaceLabelsCommand
from app.qt_image import to_qimage
from app.studios.base import StudioPanel
from app.widgets.canvas import ImageCanvas
from app.widgets.engine_box import EngineBox
from app.widgets.mask_painter import MaskPainter, label_icon
from app.widgets.param_slider import ParamSlider
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.imageio import LOAD_EXTENSIONS
from engine.labels import CELEBAMASK_HQ
from engine.studios.base import EditResult
from engine.studios.regenerate.editor import RegenerateEditor
from engine.studios.regenerate.learned import learned_summary, resolve_backend
from engine.studios.regenerate.params import RegenerateParams

STUDIO = "regenerate"
PARSE = "regenerate.parse"
RENDER = "regenerate.render"
REFERENCE = "regenerate.reference"
EXPORT = "regenerate.export"
SAVE_MASK = "regenerate.save_mask"

DEFAULTS: dict[str, Any] = {"blend": 1.0, "regions": ("hair",), "reference": ""}
ENGINES = (("auto", "Auto (learned only if measured better)"), ("classical", "Classical region warping"),
           ("neural", "Learned SEAN-style generator"))
ENGINE_NAMES = {"classical": "classical region warping", "neural": "learned SEAN-style generator"}


def why_short(requested: str, backend: str, note: str) -> str:
    """One line: why ``backend`` ran for the ``requested`` engine (``note`` = the editor's full reason)."""
    worse = "measured worse" in note
    if requested == "classical":
        return "classical chosen in Engine"
    if requested == "neural":
        return ("learned chosen in Engine; its card measured it worse than classical — research use only"
                if worse else "learned chosen in Engine")
    if backend == "neural":
        return "Auto: the learned model's card measured it better than classical"
    return "Auto: " + ("the learned model measured worse than classical, so classical ran" if worse
                       else "no usable learned model, so classical ran")


class RegeneratePanel(StudioPanel):
    """Edit the face's semantic mask and regenerate the photo to match it."""

    name = STUDIO
    title = "Regenerate"
    icon = "mdi6.face-recognition"
    export_suffix = "regenerated"
    view_channels = (PARSE, RENDER)

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.editor = RegenerateEditor()  # used only inside worker jobs (which also set its backend)
        self.engine = "auto"
        self._rendered_engine: dict[int, str] = {}  # render generation → engine requested
        self.model: Optional[LabelMap] = None
        self.source_labels: Optional[np.ndarray] = None
        self.result: Optional[EditResult] = None
        self._parsed_for: Optional[np.ndarray] = None
        self._render_cancelled = False  # a render was cancelled by a studio switch: redo it on activate
        doc.declare(STUDIO, DEFAULTS)
        self.setAcceptDrops(True)
        self._build()
        doc.param_changed.connect(self._on_param_changed)
        doc.image_changed.connect(self._on_image_changed)
        undo.indexChanged.connect(self._on_undo_index)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        box = QGroupBox("Edited mask")
        bl = QVBoxLayout(box)
        self.painter = MaskPainter(self.undo)
        self.painter.setMinimumHeight(460)
        self.painter.stroke_finished.connect(self.render)
        bl.addWidget(self.painter)
        row = QHBoxLayout()
        self.order = QComboBox()
        self.order.addItem("official order", "official")
        self.order.addItem("BiSeNet order", "bisenet")
        self.order.setToolTip("Value order of grey mask files (load and save)")
        self.load_button = QPushButton("Load mask…")
        self.load_button.clicked.connect(self._load_mask)
        self.save_button = QPushButton("Save mask…")
        self.save_button.clicked.connect(self._save_mask)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the photo's own parsing (undoable)")
        self.reset_button.clicked.connect(self._reset_mask)
        self.load_button.setToolTip("Replace the mask with a label PNG (values in the order chosen below)")
        self.save_button.setToolTip("Save the edited mask as a label PNG (values in the order chosen below)")
        for w in (self.load_button, self.save_button, self.reset_button):
            w.setEnabled(False)  # until the photo is parsed
            row.addWidget(w)
        bl.addLayout(row)
        orow = QHBoxLayout()
        orow.addWidget(QLabel("Mask files in"))
        orow.addWidget(self.order, 1)
        bl.addLayout(orow)
        lay.addWidget(box)

        ref = QGroupBox("Reference style (per region)")
        rl = QVBoxLayout(ref)
        rrow = QHBoxLayout()
        self.ref_button = QPushButton("Open reference…")
        self.ref_button.setToolTip("A face whose style (colours, parts) the ticked regions take; or drop an image here")
        self.ref_button.clicked.connect(self._open_reference)
        self.ref_clear = QPushButton("Clear")
        self.ref_clear.setToolTip("Forget the reference face")
        self.ref_clear.clicked.connect(lambda: self._push("reference", ""))
        self.ref_label = QLabel("no reference")
        self.ref_label.setObjectName("reference_label")
        rrow.addWidget(self.ref_button, 1)
        rrow.addWidget(self.ref_clear)
        rl.addLayout(rrow)
        rl.addWidget(self.ref_label)
        self.regions = QListWidget()
        self.regions.setObjectName("reference_regions")
        self.regions.setFlow(QListWidget.Flow.LeftToRight)
        self.regions.setWrapping(True)
        self.regions.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.regions.setGridSize(QSize(84, 20))
        self.regions.setMaximumHeight(140)
        self.regions.setTextElideMode(Qt.TextElideMode.ElideRight)
        for i, name in enumerate(CELEBAMASK_HQ.classes):
            it = QListWidgetItem(label_icon(i, 10), name)
            it.setSizeHint(QSize(84, 20))  # a long name ("background") is elided, not drawn over its neighbour
            it.setToolTip(f"Take the {name} style from the reference")
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked)
            self.regions.addItem(it)
        self.regions.itemChanged.connect(self._regions_changed)
        rl.addWidget(self.regions)
        self.blend = ParamSlider("", 0.0, 1.0, decimals=2, tooltip="How much of the reference style the ticked regions take")
        self.blend.edited.connect(lambda v, mk: self._push("blend", v, mk))
        brow = QHBoxLayout()
        brow.addWidget(QLabel("Blend"))
        brow.addWidget(self.blend, 1)
        rl.addLayout(brow)
        lay.addWidget(ref)

        eng = EngineBox("Engine", ENGINES)
        self.engine_box, self.engine_combo, self.engine_note = eng, eng.combo, eng.note
        self._refresh_engine_tips()
        eng.chosen.connect(self._on_engine_changed)
        eng.set_note(self._engine_text())
        lay.addWidget(eng)

        self._add_export_and_info(lay, "Export regenerated image…",
                                  "Open a face photo; its parsing becomes the mask to paint.")
        lay.addStretch(1)
        self._sync_widgets()

    # -- engine choice ----------------------------------------------------------------------------
    def _refresh_engine_tips(self) -> None:
        """Tool tips of the engine entries; the learned one carries its card's measured numbers."""
        summary = learned_summary()
        tips = {"auto": "The learned generator only when its card says it measured better than classical; "
                        "else classical region warping.\n\n" + summary,
                "classical": "Warp each edited region from the source (or reference) and continue large "
                             "regions' texture; an unchanged mask returns the photo exactly.",
                "neural": summary}
        for key, _text in ENGINES:
            self.engine_box.set_tip(key, tips[key])

    def _engine_text(self) -> str:
        try:
            backend, why = resolve_backend(self.engine)
        except ValueError as exc:
            return str(exc)
        name = ENGINE_NAMES[backend]
        why = why[len(name) + 2:] if why[:len(name) + 2] in (name + ": ", name + "; ") else why
        return f"Runs: {name} — {why}."

    def _on_engine_changed(self, key: str) -> None:
        try:
            resolve_backend(key)  # an explicit learned choice without a usable checkpoint is refused
        except ValueError as exc:
            self.message.emit(f"Regenerate: {exc}")
            self.engine_box.set_note(str(exc))
            self.engine_box.set_current(self.engine)
            return
        self.engine = key
        self.engine_combo.setToolTip(self.engine_combo.itemData(self.engine_box.index(key), Qt.ItemDataRole.ToolTipRole))
        self.engine_note.setText(self._engine_text())
        self.render()

    def set_engine(self, key: str) -> None:
        """Choose ``auto`` / ``classical`` / ``neural`` (as the combo does; refused choices keep the old one)."""
        self.engine_combo.setCurrentIndex(self.engine_box.index(key))

    def _sync_widgets(self) -> None:
        p = self.doc.params(STUDIO)
        self.regions.blockSignals(True)
        for i in range(self.regions.count()):
            it = self.regions.item(i)
            it.setCheckState(Qt.CheckState.Checked if it.text() in p["regions"] else Qt.CheckState.Unchecked)
        self.regions.blockSignals(False)
        self.blend.set_value(p["blend"])
        self.ref_label.setText(f"reference: {Path(p['reference']).name}" if p["reference"] else
                               "no reference (open one or drop an image here)")

    # -- document binding -------------------------------------------------------------------------
    def _push(self, key: str, value: Any, merge_key: Optional[int] = None) -> None:
        self.undo.push(SetParamCommand(self.doc, STUDIO, key, value, merge_key))

    def _regions_changed(self, _item: QListWidgetItem) -> None:
        names = tuple(self.regions.item(i).text() for i in range(self.regions.count())
                      if self.regions.item(i).checkState() == Qt.CheckState.Checked)
        self._push("regions", names)

    def _on_param_changed(self, studio: str, key: str, value: Any) -> None:
        if studio != STUDIO:
            return
        self._sync_widgets()
        if key == "reference":
            self._load_reference(value)
        else:
            self.render()

    def _on_undo_index(self, _index: int) -> None:
        if self.isVisible() and self.model is not None:
            self.render()

    def _open_reference(self) -> None:
        exts = " ".join(f"*{e}" for e in sorted(LOAD_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Reference face", "", f"Images ({exts})")
        if path:
            self._push("reference", path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        urls = event.mimeData().urls()
        if urls and Path(urls[0].toLocalFile()).suffix.lower() in LOAD_EXTENSIONS:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        """An image dropped on the panel becomes the reference (on the canvas it opens as the photo)."""
        urls = event.mimeData().urls()
        if urls:
            self._push("reference", urls[0].toLocalFile())
            event.acceptProposedAction()

    # -- mask file I/O ----------------------------------------------------------------------------
    def _load_mask(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Label map", "", "PNG (*.png)")
        if path:
            self.load_mask(path, self.order.currentData())

    def load_mask(self, path: str, order: str = "official") -> None:
        """Replace the edited mask with a label PNG (undoable); bad files go to the status bar."""
        from engine.studios.regenerate.classical import resize_labels
        from engine.studios.regenerate.edits import load_label_map

        if self.model is None:
            self.message.emit("Regenerate: open a face photo first")
            return
        try:
            labels = load_label_map(path, order)
        except (ValueError, OSError, Exception) as exc:  # noqa: BLE001 - any reader failure is a message
            self.message.emit(f"Regenerate: {exc}")
            return
        h, w = self.model.labels.shape
        if abs(labels.shape[0] / labels.shape[1] - h / w) > 0.02:
            self.message.emit(f"Regenerate: mask {labels.shape[1]}x{labels.shape[0]} does not fit the photo {w}x{h}")
            return
        self.undo.push(ReplaceLabelsCommand(self.model, resize_labels(labels, (h, w)), "Load mask"))
        self.render()

    def _save_mask(self) -> None:
        if self.model is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save label map", self.suggested_mask_name(), "PNG (*.png)")
        if path:
            self.save_mask(path, self.order.currentData())

    def save_mask(self, path: str, order: str = "official") -> None:
        """Write the edited mask (in the worker)."""
        if self.model is None:
            return
        labels = self.model.labels.copy()

        def job(token: CancelToken) -> str:
            from engine.studios.regenerate.edits import save_label_map

            return str(save_label_map(path, labels, order))

        self.submit(SAVE_MASK, job)  # its own channel: an image export right after must not replace it

    def _reset_mask(self) -> None:
        if self.model is not None and self.source_labels is not None:
            self.undo.push(ReplaceLabelsCommand(self.model, self.source_labels, "Reset mask"))
            self.render()

    # -- activation -------------------------------------------------------------------------------
    def _on_image_changed(self) -> None:
        self._forget_result()
        self.model = None
        self.source_labels = None
        self._parsed_for = None
        self.painter.view.set_model(None)
        self.painter.view.set_photo(None)
        self._enable_mask_buttons(False)
        if self.isVisible():
            self.activate()

    def _enable_mask_buttons(self, on: bool) -> None:
        """Load / save / reset work only on a parsed photo's mask."""
        for w in (self.load_button, self.save_button, self.reset_button):
            w.setEnabled(on)

    def activate(self) -> None:
        image = self.doc.image
        self._show_document(after=self.result.image if self.result is not None else None)
        if image is not None and self._parsed_for is not image:
            self._parse(image)
        elif self._render_cancelled and self.model is not None:
            self.render()
        self._render_cancelled = False

    def cancel_view_jobs(self) -> list[str]:
        """As the base, and remember what to redo on :meth:`activate` (parse, or the last render)."""
        cancelled = super().cancel_view_jobs()
        if PARSE in cancelled:
            self._parsed_for = None
        if RENDER in cancelled:
            self._render_cancelled = True
        return cancelled

    def deactivate(self) -> None:
        """Nothing of this panel stays on the shared canvas (the window resets before/after)."""

    def _parse(self, image: np.ndarray) -> None:
        editor = self.editor

        def job(token: CancelToken) -> np.ndarray:
            editor.set_image(image)
            return editor.source_labels

        self.painter.view.set_photo(image)
        self._parsed_for = image
        self.info_label.setText("Parsing the face…")
        self.submit(PARSE, job)

    def _load_reference(self, path: str) -> None:
        editor = self.editor

        def job(token: CancelToken) -> str:
            if not path:
                editor.set_reference(None)
                return ""
            from engine.imageio import load_image

            editor.set_reference(load_image(path))
            return path

        self.submit(REFERENCE, job)

    # -- engine -----------------------------------------------------------------------------------
    def params(self) -> Optional[RegenerateParams]:
        if self.model is None:
            return None
        p = self.doc.params(STUDIO)
        return RegenerateParams(self.model.labels.copy(), reference_regions=tuple(p["regions"]),
                                blend=float(p["blend"])).validate()

    def render(self) -> None:
        """Regenerate in the worker (newest request wins; previews first)."""
        if not self.isVisible() or self.doc.image is None:
            return
        params = self.params()
        if params is None:
            return
        editor, engine = self.editor, self.engine

        def job(token: CancelToken) -> Iterator[EditResult]:
            editor.requested_backend = engine  # set in the worker thread, between jobs
            yield from editor.edit_stream(params, token)

        self._rendered_engine = {self.submit(RENDER, job): engine}

    def _on_result(self, channel: str, gen: int, value: object) -> None:
        if channel == SAVE_MASK:
            self.message.emit(f"Saved mask {value}")
        elif channel == PARSE and gen == self.worker.latest_generation(PARSE):
            assert isinstance(value, np.ndarray)
            self.source_labels = value
            self.model = LabelMap(value)
            self.painter.view.set_model(self.model)
            self._enable_mask_buttons(True)
            self.info_label.setText("Paint on the mask; each stroke regenerates.")
            self.render()
        elif channel == REFERENCE:
            self.ref_label.setText(f"reference: {Path(str(value)).name}" if value else "no reference")
            self.render()
        elif channel == RENDER and gen == self.worker.latest_generation(RENDER):
            assert isinstance(value, EditResult)
            if not value.is_preview:
                self.result = value
                self.export_button.setEnabled(True)
            if not self.isVisible():  # switched away meanwhile: the canvas is another studio's now
                return
            self.canvas.set_after(to_qimage(value.image))
            regions = value.info.get("regions", {})
            backend = str(value.info.get("backend", "classical"))
            text = (f"Engine: {ENGINE_NAMES.get(backend, backend)} · {'preview' if value.is_preview else 'full'} · "
                    f"{value.info.get('elapsed_ms', 0):.0f} ms · {len(regions)} region(s) regenerated")
            self.engine_status.emit(text)
            detail = "; ".join(f"{k}: {v}" for k, v in list(regions.items())[:4])
            why = why_short(self._rendered_engine.get(gen, self.engine), backend, str(value.info.get("note", "")))
            self.info_label.setText(f"{text}\nWhy: {why}\n{detail or 'mask unchanged: result = source'}")

    def _on_error(self, channel: str, gen: int, message: str) -> None:
        if channel not in (PARSE, RENDER, REFERENCE, EXPORT, SAVE_MASK):
            return
        if channel == REFERENCE:
            self.ref_label.setText(f"reference unusable: {message}")
        elif channel == PARSE:
            self.painter.view.set_model(None)
        self.message.emit(f"Regenerate: {message}")
        self.info_label.setText(message)

    # -- export -----------------------------------------------------------------------------------
    def suggested_mask_name(self) -> str:
        stem = self.doc.path.stem if self.doc.path is not None else "face"
        return f"{stem}_mask.png"
