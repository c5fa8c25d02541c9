"""Regenerate studio panel: paint the 19-label mask, pick a reference face per region, regenerate.

Views: the shared canvas shows the source (before) and the regenerated result (after, with the
before/after split); the panel's mask painter shows the edited label map (a
:class:`~app.model.raster.RasterLayer`) over the photo. Every finished stroke (and every undo/redo)
regenerates in the worker, previews first.

Engine choice: Auto (the learned SEAN-style inpainter — it synthesises only the changed pixels — only
when its card measured it better than classical, else classical region warping and synthesis),
Classical, or Learned (runs the trained inpainter even
when its card says it did not measure better — research use; refused with a message when no
checkpoint is usable). The engine box shows the choice's resolution from the card only; the Learned
entry's tool tip shows the card's measured numbers; the info line names the engine that ran and why.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.model.document import Document
from app.model.raster import RasterLayer, ReplaceCommand
from app.qt_image import to_qimage
from app.studios.base import StudioPanel, WorkerEditor, engine_resolution
from app.widgets.canvas import ImageCanvas
from app.widgets.engine_box import EngineBox
from app.widgets.mask_painter import CanvasMaskTool, MaskPainter, label_icon
from app.widgets.param_slider import ParamSlider
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.imageio import LOAD_EXTENSIONS
from engine.labels import CELEBAMASK_HQ
from engine.studios.base import CLASSICAL, LEARNED, EditResult, Resolution
from engine.studios.regenerate.editor import RegenerateEditor
from engine.studios.regenerate.learned import learned_summary
from engine.studios.regenerate.params import RegenerateParams

STUDIO = "regenerate"
RENDER_PROGRESS_MS = 500
"""A render still running after this many milliseconds shows its progress and a Cancel button."""
PARSE = "regenerate.parse"
RENDER = "regenerate.render"
REFERENCE = "regenerate.reference"
SAVE_MASK = "regenerate.save_mask"
LABELS_LAYER = "regenerate.labels"
"""Name of the edited label map in a session (:class:`~app.model.recovery.Session` layers)."""

DEFAULTS: dict[str, Any] = {"blend": 1.0, "regions": ("hair",), "reference": ""}
ENGINES = (("auto", "Auto (learned only if measured better)"), ("classical", "Classical region warping"),
           ("neural", "Learned SEAN-style inpainter"))
ENGINE_NAMES = {"classical": "classical region warping", "neural": "learned SEAN-style inpainter"}


def why_short(res: Resolution, ran: str) -> str:
    """One line: why ``ran`` (the backend that produced the result) ran for the resolution ``res``
    of the requested engine — from the resolution's fields, never from its reason's words."""
    if res.requested == CLASSICAL:
        return "classical chosen in Engine"
    if res.requested == LEARNED:
        return ("learned chosen in Engine" if res.measured_better else
                "learned chosen in Engine; its card does not say it measured better than classical — research use only")
    if ran == LEARNED:
        return "Auto: the learned model's card says it measured better than classical"
    if res.learned:
        return "Auto: the learned model could not be loaded, so classical ran"
    if res.available:
        return "Auto: the learned model did not measure better than classical, so classical ran"
    return "Auto: no usable learned model, so classical ran"


class RegeneratePanel(StudioPanel):
    """Edit the face's semantic mask and regenerate the photo to match it."""

    name = STUDIO
    title = "Regenerate"
    icon = "mdi6.face-recognition"
    export_suffix = "regenerated"
    view_channels = (PARSE, RENDER)
    param_texts = {"blend": "reference blend", "regions": "reference regions"}
    batch_op = "regenerate"

    def batch_params(self) -> dict[str, Any]:
        """The reference face, its regions and blend in ``batch regenerate``'s form. The painted
        mask belongs to this photo: in batch every face gets its own parsing and the edits the
        dialog's ``edits`` field lists (e.g. ``dilate:hair:12``).

        Raises:
            ValueError: a blend out of range.
        """
        p = self.doc.params(STUDIO)
        blend = float(p["blend"])
        if not 0.0 <= blend <= 1.0:
            raise ValueError(f"blend must be in [0, 1], got {blend}")
        return {"edits": "", "reference": p["reference"], "regions": "+".join(p["regions"]), "blend": blend}

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: QWidget | None = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.editor: WorkerEditor[None, RegenerateEditor] = WorkerEditor(lambda _key: RegenerateEditor())
        self.engine = "auto"
        """The requested engine: ``auto``, ``classical`` or ``neural``."""
        self.resolution: Resolution = engine_resolution(RegenerateEditor.learned, "auto")
        """What the requested engine resolves to, from the card (what the engine box shows)."""
        self.model: RasterLayer | None = None
        self.strokes: RasterLayer | None = None  # the user's strokes (1 = painted), the mask's size
        """The edited label map (``None`` until the photo is parsed)."""
        self.source_labels: np.ndarray | None = None
        self.result: EditResult | None = None
        self._parsed_for: np.ndarray | None = None
        self._render_cancelled = False  # a render was cancelled by a studio switch: redo it on activate
        self._pending: np.ndarray | None = None
        """A recovered label map waiting for the photo's parsing (:meth:`restore_state`)."""
        self._pending_unsaved = False  # the pending map is not in a saved session yet
        doc.declare(STUDIO, DEFAULTS)
        self.setAcceptDrops(True)
        self._build()
        undo.indexChanged.connect(self._on_undo_index)

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        box = QGroupBox("Edited mask")
        bl = QVBoxLayout(box)
        self.painter = MaskPainter(self.undo)
        self.painter.setMinimumHeight(380)  # a navigator: painting happens on the main canvas
        self.painter.stroke_finished.connect(self.request_render)
        # the main canvas paints the same mask (overlay with the canvas' zoom/pan, screen-px brush)
        self.canvas_tool = CanvasMaskTool(self.painter.view)
        self.painter.use_canvas_brush(self.canvas_tool)
        self.painter.view.overlay_changed.connect(self._canvas_overlay_changed)
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
        show = self.add_show_group(lay, "Result")  # the mask is painted over the result or the photo
        self.overlay_check = QCheckBox("Mask overlay")
        self.overlay_check.setObjectName("mask_overlay")
        self.overlay_check.setToolTip("Show the label mask over the picture on the canvas (painting works either way)")
        self.overlay_check.setChecked(True)
        self.overlay_check.toggled.connect(self._set_overlay_shown)
        show.addWidget(self.overlay_check)

        ref = QGroupBox("Reference style (per region)")
        rl = QVBoxLayout(ref)
        rrow = QHBoxLayout()
        self.ref_button = QPushButton("Open reference…")
        self.ref_button.setToolTip("A face whose style (colours, parts) the ticked regions take; or drop an image here")
        self.ref_button.clicked.connect(self._open_reference)
        self.ref_clear = QPushButton("Clear")
        self.ref_clear.setToolTip("Forget the reference face")
        self.ref_clear.clicked.connect(lambda: self.push_param("reference", ""))
        self.ref_label = QLabel("no reference")
        self.ref_label.setObjectName("reference_label")
        rrow.addWidget(self.ref_button, 1)
        rrow.addWidget(self.ref_clear)
        rl.addLayout(rrow)
        self.ref_thumb = QLabel()  # the reference face as a picture (empty without one)
        self.ref_thumb.setObjectName("reference_thumb")
        rl.addWidget(self.ref_thumb)
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
        self.blend.edited.connect(lambda v, mk: self.push_param("blend", v, mk))
        brow = QHBoxLayout()
        brow.addWidget(QLabel("Blend"))
        brow.addWidget(self.blend, 1)
        rl.addLayout(brow)
        lay.addWidget(ref)

        # a render that takes longer than RENDER_PROGRESS_MS shows its stage and can be cancelled
        self.render_row = QWidget()
        rr = QHBoxLayout(self.render_row)
        rr.setContentsMargins(0, 0, 0, 0)
        self.render_bar = QProgressBar()
        self.render_bar.setObjectName("render_progress")
        self.render_bar.setTextVisible(True)
        self.render_cancel = QPushButton("Cancel")
        self.render_cancel.setObjectName("render_cancel")
        self.render_cancel.setToolTip("Stop this render (the next stroke renders again)")
        self.render_cancel.clicked.connect(self.cancel_render)
        rr.addWidget(self.render_bar, 1)
        rr.addWidget(self.render_cancel)
        self.render_row.hide()
        lay.insertWidget(0, self.render_row)  # at the top of the panel, where it is seen without scrolling
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self._show_render_progress)
        self._render_poll = QTimer(self)
        self._render_poll.setInterval(150)
        self._render_poll.timeout.connect(self._poll_render)
        self._render_stage = ""
        self._render_fraction: float | None = None  # written by the worker (editor.progress), read by the poll

        self.engine_box = EngineBox("Engine", ENGINES, ENGINE_NAMES)
        self.engine_combo, self.engine_note = self.engine_box.combo, self.engine_box.note
        self.engine_box.chosen.connect(self.set_engine)
        lay.addWidget(self.engine_box)

        self.add_export_and_info(lay, "Export regenerated image…",
                                 "Open a face photo; its parsing becomes the mask to paint.")
        lay.addStretch(1)
        self.refresh_engines()
        self.sync_widgets()

    # -- engine choice ----------------------------------------------------------------------------
    def refresh_engines(self) -> None:
        """Tool tips and the engine note from the generator's card (nothing is loaded)."""
        summary = learned_summary()
        tips = {"auto": "The learned inpainter only when its card says it measured better than classical; "
                        "else classical region warping.\n\n" + summary,
                "classical": "Warp each edited region from the source (or reference) and continue large "
                             "regions' texture; an unchanged mask returns the photo exactly.",
                "neural": summary}
        for key, _text in ENGINES:
            self.engine_box.set_tip(key, tips[key])
        self.resolution = self.rebind_engine(self.engine_box, RegenerateEditor.learned, self.engine)
        self.engine = self.resolution.requested

    def set_engine(self, key: str) -> None:
        """Choose ``auto`` / ``classical`` / ``neural`` (as the combo does); a learned choice without a
        usable checkpoint is refused with a message and the old choice stays."""
        res = self.choose_engine(self.engine_box, RegenerateEditor.learned, key)
        if res is None:
            return
        self.engine, self.resolution = key, res
        self.request_render()

    def sync_widgets(self) -> None:
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
    def undo_text(self, key: str, value: Any) -> str:
        if key == "reference":
            return f"Choose reference face {Path(value).name}" if value else "Clear reference face"
        return super().undo_text(key, value)

    def _regions_changed(self, _item: QListWidgetItem) -> None:
        names = tuple(self.regions.item(i).text() for i in range(self.regions.count())
                      if self.regions.item(i).checkState() == Qt.CheckState.Checked)
        self.push_param("regions", names)

    def on_param_changed(self, studio: str, key: str, value: Any) -> None:
        self.sync_widgets()
        if key == "reference":
            self._load_reference(value)
        else:
            self.request_render()

    def _on_undo_index(self, _index: int) -> None:
        if self.isVisible() and self.model is not None:
            self.request_render()

    def _open_reference(self) -> None:
        exts = " ".join(f"*{e}" for e in sorted(LOAD_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Reference face", "", f"Images ({exts})")
        if path:
            self.push_param("reference", path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and Path(urls[0].toLocalFile()).suffix.lower() in LOAD_EXTENSIONS:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """An image dropped on the panel becomes the reference (on the canvas it opens as the photo)."""
        urls = event.mimeData().urls()
        if urls:
            self.push_param("reference", urls[0].toLocalFile())
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
            self.report_error("open a face photo first")
            return
        try:
            labels = load_label_map(path, order)
        except Exception as exc:  # any reader failure is a message, never a crash
            self.report_error(str(exc))
            return
        h, w = self.model.shape
        if abs(labels.shape[0] / labels.shape[1] - h / w) > 0.02:
            self.report_error(f"mask {labels.shape[1]}x{labels.shape[0]} does not fit the photo {w}x{h}")
            return
        self.undo.push(ReplaceCommand(self.model, resize_labels(labels, (h, w)), f"Load mask {Path(path).name}"))

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
        labels = self.model.pixels.copy()

        def job(token: CancelToken) -> str:
            from engine.studios.regenerate.edits import save_label_map

            return str(save_label_map(path, labels, order))

        # its own channel: an image export right after must not replace it
        self.submit(SAVE_MASK, job, lambda written: self.message.emit(f"Saved mask {written}"), self._failed)

    def _reset_mask(self) -> None:
        if self.model is not None and self.source_labels is not None:
            self.undo.push(ReplaceCommand(self.model, self.source_labels, "Reset mask to the photo's parsing"))

    def suggested_mask_name(self) -> str:
        stem = self.doc.path.stem if self.doc.path is not None else "face"
        return f"{stem}_mask.png"

    # -- unsaved work and recovery ----------------------------------------------------------------
    def recovery_state(self) -> dict[str, np.ndarray]:
        """The edited label map (official order), or the recovered one still waiting for the parsing;
        nothing before the photo is parsed."""
        if self.model is not None:
            return {LABELS_LAYER: self.model.pixels.copy()}
        if self._pending is not None:
            return {LABELS_LAYER: self._pending.copy()}
        return {}

    def restore_state(self, layers: Mapping[str, np.ndarray]) -> None:
        """Put a session's label map back as the undoable step "Recover mask". The map is applied at
        once when the photo is parsed already, else when its parsing arrives (Regenerate parses when
        it is shown); until then it is unsaved work and in every session written.

        Raises:
            ValueError: the map is not a label map of the document image (nothing is applied).
        """
        labels = layers.get(LABELS_LAYER)
        if labels is None:
            return
        image = self.doc.image
        n = len(CELEBAMASK_HQ.classes)
        if image is None:
            raise ValueError("mask not recovered: no image is open")
        if labels.dtype != np.uint8 or labels.shape != image.shape[:2]:
            h, w = image.shape[:2]
            raise ValueError(f"mask not recovered: a {labels.dtype} map of shape {labels.shape} does not fit "
                             f"the {w}x{h} image")
        if labels.size and int(labels.max()) >= n:
            raise ValueError(f"mask not recovered: label {int(labels.max())} is not one of the {n} labels")
        self._pending, self._pending_unsaved = labels.copy(), True
        if self.model is not None:
            self._apply_pending()
        else:
            self.unsaved_changed.emit()

    def _apply_pending(self) -> None:
        """The parsing arrived: the recovered label map becomes the mask as "Recover mask" (the stack
        stays clean when the map was already saved and nothing else is unsaved)."""
        labels, unsaved = self._pending, self._pending_unsaved
        if labels is None or self.model is None:
            return
        self._pending, self._pending_unsaved = None, False
        if labels.shape != self.model.shape:  # cannot happen for the same image; never a wrong-size mask
            self.unsaved_changed.emit()
            self.report_failure("mask not recovered: it does not fit the parsed photo")
            return
        was_clean = self.undo.isClean()
        self.undo.push(ReplaceCommand(self.model, labels, "Recover mask"))
        if was_clean and not unsaved:
            self.undo.setClean()
        self.unsaved_changed.emit()

    def has_unsaved_work(self) -> bool:
        """As the base, and a recovered label map not applied yet that no session holds."""
        return super().has_unsaved_work() or (self._pending is not None and self._pending_unsaved)

    def mark_saved(self) -> None:
        self._pending_unsaved = False
        super().mark_saved()

    # -- activation -------------------------------------------------------------------------------
    def on_image_changed(self) -> None:
        self.forget_result()
        self.model = None
        self.strokes = None
        self.source_labels = None
        self._parsed_for = None
        if self._pending is not None:  # a recovered map belongs to the previous image
            self._pending, self._pending_unsaved = None, False
            self.unsaved_changed.emit()
        self.painter.view.set_model(None)
        self.painter.view.set_footprint(None)
        self.painter.view.set_photo(None)
        self._enable_mask_buttons(False)
        if self.doc.param(STUDIO, "reference"):  # the reference belonged to the previous photo
            self.doc.set_param(STUDIO, "reference", "")
        if self.isVisible():
            self.activate()

    def _enable_mask_buttons(self, on: bool) -> None:
        """Load / save / reset work only on a parsed photo's mask."""
        for w in (self.load_button, self.save_button, self.reset_button):
            w.setEnabled(on)

    def _set_overlay_shown(self, on: bool) -> None:
        self.canvas_tool.show_overlay = on
        self.canvas.update()

    def _canvas_overlay_changed(self) -> None:
        if self.canvas.paint_tool is self.canvas_tool:
            self.canvas.update()

    def deactivate(self) -> None:
        """The shared canvas stops painting this studio's mask."""
        if self.canvas.paint_tool is self.canvas_tool:
            self.canvas.set_paint_tool(None)

    def activate(self) -> None:
        image = self.doc.image
        self.canvas.set_paint_tool(self.canvas_tool)
        self.show_document(after=self.result.image if self.result is not None else None)
        if image is not None and self._parsed_for is not image:
            self._parse(image)
        elif self._render_cancelled and self.model is not None:
            self.request_render()
        self._render_cancelled = False

    def cancel_view_jobs(self) -> list[str]:
        """As the base, and remember what to redo on :meth:`activate` (parse, or the last render)."""
        cancelled = super().cancel_view_jobs()
        if PARSE in cancelled:
            self._parsed_for = None
        if RENDER in cancelled:
            self._render_cancelled = True
        return cancelled

    def _parse(self, image: np.ndarray) -> None:
        holder = self.editor

        def job(token: CancelToken) -> np.ndarray:
            editor = holder.get()
            editor.set_image(image)
            return editor.source_labels

        self.painter.view.set_photo(image)
        self._parsed_for = image
        self.info_label.setText("Parsing the face…")
        self.submit(PARSE, job, self._parsed, self._parse_failed)

    def _parsed(self, labels: object) -> None:
        assert isinstance(labels, np.ndarray)
        self.source_labels = labels
        self.model = RasterLayer(labels)
        self.strokes = RasterLayer(np.zeros_like(labels))  # where the user painted (undone with the labels)
        self.painter.view.set_model(self.model)
        self.painter.view.set_footprint(self.strokes)
        self._enable_mask_buttons(True)
        self.info_label.setText("Paint on the mask; each stroke regenerates.")
        if self._pending is not None:
            self._apply_pending()  # its undo step renders
        else:
            self.request_render()

    def _parse_failed(self, message: str) -> None:
        self.painter.view.set_model(None)
        self._failed(message)

    def _load_reference(self, path: str) -> None:
        holder = self.editor

        def job(token: CancelToken) -> str:
            editor = holder.get()
            if not path:
                editor.set_reference(None)
                return ""
            from engine.imageio import load_image

            editor.set_reference(load_image(path))
            return path

        self.submit(REFERENCE, job, self._reference_loaded, self._reference_failed)

    def _reference_loaded(self, path: object) -> None:
        thumb = QPixmap(str(path)) if path else QPixmap()
        self.ref_thumb.setPixmap(thumb.scaled(72, 72, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation) if not thumb.isNull() else QPixmap())
        self.ref_label.setText(f"reference: {Path(str(path)).name}" if path else "no reference")
        self.request_render()

    def _reference_failed(self, message: str) -> None:
        self.ref_label.setText(f"reference unusable: {message}")
        self._failed(message)

    def _failed(self, message: str) -> None:
        self._hide_render_progress()
        self.report_error(message)
        self.info_label.setText(message)

    # -- engine -----------------------------------------------------------------------------------
    def params(self) -> RegenerateParams | None:
        """The edited mask and reference settings, or ``None`` before the photo is parsed."""
        if self.model is None:
            return None
        p = self.doc.params(STUDIO)
        painted = None
        if self.strokes is not None and self.strokes.shape == self.model.shape and self.strokes.pixels.any():
            painted = self.strokes.pixels.astype(bool)
        return RegenerateParams(self.model.pixels.copy(), reference_regions=tuple(p["regions"]),
                                blend=float(p["blend"]), painted=painted).validate()

    def request_render(self) -> None:
        """Regenerate in the worker (newest request wins; previews first)."""
        if not self.isVisible() or self.doc.image is None:
            return
        params = self.params()
        if params is None:
            return
        holder, engine, resolution = self.editor, self.engine, self.resolution

        def job(token: CancelToken) -> Iterator[EditResult]:
            editor = holder.get()
            editor.requested_backend = engine  # set in the worker thread, between jobs
            editor.progress = self._note_render_progress
            try:
                yield from editor.edit_stream(params, token)
            finally:
                editor.progress = None

        self.submit(RENDER, job, lambda value: self._show_result(value, resolution), self._failed)
        self._render_stage = "Rendering a preview…"
        self._render_fraction = None
        self._render_timer.start(RENDER_PROGRESS_MS)

    def _note_render_progress(self, fraction: float) -> None:
        """The engine's share of the render done (called in the worker thread: only stored here)."""
        self._render_fraction = fraction

    def _update_render_bar(self) -> None:
        """Show the stage and, once the engine reports it, the percentage done."""
        fraction = self._render_fraction
        if fraction is None:
            self.render_bar.setRange(0, 0)  # busy until the engine says how far it is
            self.render_bar.setFormat(self._render_stage)
        else:
            self.render_bar.setRange(0, 100)
            self.render_bar.setValue(int(round(100 * fraction)))
            self.render_bar.setFormat(f"{self._render_stage} %p%")

    def _show_render_progress(self) -> None:
        """The render is slow: show its stage (preview, then full resolution), how far it is, and the Cancel button."""
        if not self.jobs.pending(RENDER):
            return
        self._update_render_bar()
        self.render_row.show()
        self._render_poll.start()

    def _poll_render(self) -> None:
        if not self.jobs.pending(RENDER):
            self._hide_render_progress()
        else:
            self._update_render_bar()

    def _hide_render_progress(self) -> None:
        self._render_timer.stop()
        self._render_poll.stop()
        self.render_row.hide()

    def cancel_render(self) -> None:
        """Stop the render under way (the worker checks between regions and search iterations)."""
        if self.jobs.cancel([RENDER]):
            self.info_label.setText("Render cancelled: the next stroke (or undo) renders again.")
        self._hide_render_progress()

    def _show_result(self, value: object, resolution: Resolution) -> None:
        assert isinstance(value, EditResult)
        if not self.take_result(value):  # switched away meanwhile: the canvas is another studio's now
            return
        self.canvas.set_after(to_qimage(value.image))
        if value.is_preview:
            self._render_stage = "Preview shown · rendering full resolution…"
            self._render_fraction = None  # the full render counts from 0 again
        else:
            self._hide_render_progress()
        regions = value.info.get("regions", {})
        backend = str(value.info.get("backend", CLASSICAL))
        text = (f"Engine: {ENGINE_NAMES.get(backend, backend)} · {'preview' if value.is_preview else 'full'} · "
                f"{value.info.get('elapsed_ms', 0):.0f} ms · {len(regions)} region(s) regenerated")
        self.report_engine(value, text)
        detail = "; ".join(f"{k}: {v}" for k, v in list(regions.items())[:4])
        why = why_short(resolution, backend)
        self.info_label.setText(f"{text}\nWhy: {why}\n{detail or 'mask unchanged: result = source'}")
