"""Opera studio panel: XDoG line art (tab "Line art") and drawing + colouring masks (tab "Colour").

Line art: XDoG sliders bound to the document, live preview through the worker, export and batch.

Colour: a sketch canvas (mirror symmetry, per-stroke undo), the coloured result and the warped
exemplar side by side in place of the main canvas; a reference gallery (procedural designs, the
opened image and user pictures, drag-and-drop); a procedural generator (seed + main colour); the
colouring engine (Auto / Classical / Learned CoCosNet — *Learned* is offered only when a trained
checkpoint exists, *Auto* picks it only when its card says it measured better); a strip of designs
from the trained StyleGAN2 generator (seed, ψ, style mixing, interpolation — clicking one makes it
the colour reference); a fill tool that recolours a region by hand; the main-colour class with its
traditional meaning; export as PNG transparent outside the face. Engine work (colouring,
generating, loading, XDoG import, export, checkpoint look-ups) runs in the worker (latest wins per
channel); every edit (stroke, clear, import, reference choice, engine choice, fill) is an undo step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QHideEvent,
    QIcon,
    QMouseEvent,
    QPixmap,
    QShowEvent,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.model.commands import SetParamCommand, SetParamsCommand
from app.model.document import Document
from app.qt_image import to_qimage
from app.studios.base import StudioPanel
from app.widgets.canvas import ImageCanvas
from app.widgets.engine_box import EngineBox
from app.widgets.generation_strip import GenerationStrip, Sample
from app.widgets.param_slider import ParamSlider
from app.widgets.sketch_canvas import SketchCanvas, line_art_from_picture
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.labels import OPERA_COLOUR_RGB, OPERA_COLOURS
from engine.studios.base import EditResult
from engine.studios.opera.classical import ColorizeResult, ColourClass
from engine.studios.opera.editor import LineArtEditor
from engine.studios.opera.params import XDoGParams

STUDIO = "opera"
RENDER = "opera.lineart"
EXPORT = "opera.export"
SAVE_SKETCH = "opera.save_sketch"
COLOUR = "opera.colour"          # colouring the sketch (also the document namespace of the Colour tab)
GALLERY = "opera.gallery"        # generating / loading gallery references
SKETCH_IO = "opera.sketch_io"    # importing pictures / loading line art into the sketch
BACKENDS = "opera.backends"      # which colouring engines are available (checkpoint cards)
WORKSPACE_PANE_MIN = 140
"""Narrowest a Colour-tab pane (sketch / colour / warped) may get, px: with three side by side the
window still fits 1000 px (the canvases' own 200 px minimum forced ~1110 px)."""
BACKEND_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto", "Auto — the better one by its card"),
    ("classical", "Classical — region correspondence"),
    ("neural", "Learned — CoCosNet network"),
)
"""Colouring engines of the selector: (engine backend name, label)."""
THUMB = 96                       # gallery thumbnail side (pixels)
GALLERY_SEEDS = (3, 8, 11, 21, 5, 14)
"""Procedural designs the gallery starts with (a varied set of shapes and main colours)."""

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
    view_channels = (RENDER,)

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.editor = LineArtEditor()  # used only inside worker jobs
        self.result: Optional[EditResult] = None
        doc.declare(STUDIO, self._restore_settings())
        doc.declare(COLOUR, COLOUR_DEFAULTS)
        self.mode = "lineart"
        self.references: dict[str, Reference] = {}
        self.colour_result: Optional[ColorizeResult] = None
        self.colour_class: Optional[ColourClass] = None
        self._gallery_started = False
        self._sketch_version = 0
        self._colour_cache: dict[str, Any] = {}  # last colouring, used inside worker jobs only
        self.backend_state: Optional[BackendState] = None  # set when the checkpoint look-up answers
        self._build()
        doc.param_changed.connect(self._on_param_changed)
        doc.image_changed.connect(self._on_image_changed)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("opera_tabs")
        outer.addWidget(self.tabs)
        page = QWidget()
        lay = QVBoxLayout(page)
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

        self._add_show_group(lay, "Line art")
        self._add_export_and_info(lay, "Export line art…", batch_text="Batch line art…")
        lay.addStretch(1)
        self.tabs.addTab(page, "Line art")
        self._build_colour_tab()
        self.tabs.currentChanged.connect(lambda i: self.set_mode("colour" if i == 1 else "lineart"))

    # -- document binding -------------------------------------------------------------------------
    def _push(self, key: str, value: Any, merge_key: Optional[int]) -> None:
        self.undo.push(SetParamCommand(self.doc, STUDIO, key, value, merge_key))

    def _reset(self) -> None:
        self.undo.push(SetParamsCommand(self.doc, STUDIO, DEFAULTS, "Reset line-art parameters"))

    def _on_param_changed(self, studio: str, key: str, value: Any) -> None:
        if studio == COLOUR:
            self._on_colour_param(key, value)
            return
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
        self._forget_result()
        if self.isVisible():  # a hidden studio draws nothing on the shared canvas; activate() catches up
            self._show_document()
            self.render()
        if self._gallery_started and self.doc.image is not None:
            self._add_document_reference()

    # -- engine -----------------------------------------------------------------------------------
    def render(self) -> None:
        """Send the current image + parameters to the worker (newest request wins)."""
        image = self.doc.image
        if image is None or not self.isVisible():
            return
        try:
            params = params_from_dict(self.doc.params(STUDIO))
        except ValueError as exc:
            self.message.emit(f"Opera: {exc}")
            return
        self._submit_edit(RENDER, self.editor, image, params)

    def _on_result(self, channel: str, gen: int, value: object) -> None:
        if channel == SAVE_SKETCH:
            self.message.emit(f"Saved sketch {value}")
            return
        if self._on_colour_channel(channel, gen, value):
            return
        if channel != RENDER or gen != self.worker.latest_generation(RENDER):
            return
        assert isinstance(value, EditResult)
        if not value.is_preview:
            self.result = value
            self.export_button.setEnabled(True)
        if not self.isVisible():  # switched away meanwhile: the canvas is another studio's now
            return
        if not self.show_original:
            self.canvas.set_after(to_qimage(value.image))
        if self.mode != "lineart":
            return
        info = value.info
        size = "preview" if value.is_preview else "full"
        h, w = value.image.shape[:2]
        text = (f"Engine: {info.get('backend')} ({info.get('method', '')}) · {size} {w}×{h} · "
                f"{info.get('elapsed_ms', 0):.1f} ms")
        self.engine_status.emit(text)
        self.info_label.setText(text)

    def _on_error(self, channel: str, gen: int, message: str) -> None:
        if channel.startswith(STUDIO + "."):
            self.message.emit(f"Opera: {message}")

    # -- view -------------------------------------------------------------------------------------
    def toggle_view(self) -> None:
        """Line art ↔ original (Line art tab), or result ↔ aligned reference (Colour tab)."""
        if self.mode == "colour":
            self.view_ref_check.toggle()
        else:
            self.set_show_original(not self.show_original)

    def activate(self) -> None:
        self._on_image_changed()
        self.set_mode(self.mode)

    # -- export -----------------------------------------------------------------------------------
    def has_result(self) -> bool:
        if self.mode == "colour":
            return self.colour_result is not None
        return self.result is not None

    def export_filter(self) -> str:
        if self.mode == "colour":
            return "PNG image, transparent outside the face (*.png);;JPEG image (*.jpg *.jpeg)"
        return super().export_filter()

    def export_result(self, path: str) -> None:
        """Save the full-resolution result atomically (in the worker): the line art, or in the
        Colour tab the coloured mask (PNG/WebP: transparent outside the face)."""
        if self.mode == "colour":
            self._export_colour(path)
            return
        super().export_result(path)

    def _export_colour(self, path: str) -> None:
        res = self.colour_result
        if res is None:
            self.message.emit("Opera: nothing coloured yet")
            return

        def job(token: CancelToken) -> str:
            from engine.imageio import save_image

            rgba = str(path).lower().endswith((".png", ".webp"))
            return str(save_image(path, res.rgba() if rgba else res.image))

        self.submit(EXPORT, job)

    def suggested_export_name(self) -> str:
        if self.mode == "colour":
            return "lianpu_colour.png"
        stem = self.doc.path.stem if self.doc.path is not None else "lineart"
        return f"{stem}_lineart.png"

    def open_batch_dialog(self) -> None:
        from app.dialogs.batch_dialog import BatchDialog

        dlg = BatchDialog(op="lineart", params=params_from_dict(self.doc.params(STUDIO)).to_dict(),
                          parent=self.window())
        dlg.exec()

    # -- Colour tab: layout -------------------------------------------------------------------------
    def _build_colour_tab(self) -> None:
        self.sketch = SketchCanvas(self.undo, 512)
        self.sketch.setObjectName("opera_sketch")
        self.result_view = ResultCanvas()
        self.result_view.setObjectName("opera_result")
        self.result_view.placeholder = "Draw a face (mirror symmetry is on) or trace a design, then pick a reference"
        self.warped_view = ImageCanvas()
        self.warped_view.setObjectName("opera_warped")
        self.warped_view.placeholder = "The reference as the correspondence placed it on the sketch"
        self.workspace = QSplitter(Qt.Orientation.Horizontal)
        self.workspace.setObjectName("opera_workspace")
        captions = []
        for title, view in (("Sketch — mirrored about the dashed axis", self.sketch),
                            ("Colour — click with the fill tool to repaint a region", self.result_view),
                            ("Warped exemplar", self.warped_view)):
            box = QWidget()
            bl = QVBoxLayout(box)
            bl.setContentsMargins(2, 2, 2, 2)
            bl.setSpacing(2)
            cap = QLabel(title)
            cap.setStyleSheet("color: #555; font-weight: bold;")
            cap.setWordWrap(True)
            captions.append(cap)
            bl.addWidget(cap)
            view.setMinimumWidth(WORKSPACE_PANE_MIN)
            bl.addWidget(view, 1)
            self.workspace.addWidget(box)
        self.warped_caption = captions[2]
        self.warped_caption.setToolTip("The paper's warped exemplar r_{y→x}: where each reference colour landed on "
                                       "the sketch before the regions were painted")
        self.warped_pane = self.workspace.widget(2)
        self.workspace.setChildrenCollapsible(False)
        for i, stretch in enumerate((2, 2, 1)):
            self.workspace.setStretchFactor(i, stretch)
        self.workspace.setSizes([1000, 1000, 500])
        self.workspace.hide()

        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(4, 4, 4, 4)

        sk = QGroupBox("Sketch")
        g = QGridLayout(sk)
        self.brush_button = QToolButton()
        self.brush_button.setText("Brush (B)")
        self.eraser_button = QToolButton()
        self.eraser_button.setText("Eraser (E)")
        self.tool_group = QButtonGroup(self)
        for i, b in enumerate((self.brush_button, self.eraser_button)):
            b.setCheckable(True)
            self.tool_group.addButton(b, i)
        self.brush_button.setChecked(True)
        self.tool_group.idClicked.connect(lambda i: self.sketch.set_tool("eraser" if i == 1 else "brush"))
        self.sketch.tool_changed.connect(
            lambda t: (self.eraser_button if t == "eraser" else self.brush_button).setChecked(True))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 64)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Brush size ([ smaller, ] larger)")
        self.size_spin.setValue(self.sketch.brush_size)
        self.size_spin.valueChanged.connect(self.sketch.set_brush_size)
        self.sketch.brush_size_changed.connect(self._show_brush_size)
        self.mirror_check = QCheckBox("Mirror (M)")
        self.mirror_check.setToolTip("Mirror every stroke about the vertical axis (lianpu are symmetric)")
        self.mirror_check.setChecked(self.sketch.mirror)
        self.mirror_check.toggled.connect(self.sketch.set_mirror)
        self.sketch.mirror_changed.connect(self._show_mirror)
        g.addWidget(self.brush_button, 0, 0)
        g.addWidget(self.eraser_button, 0, 1)
        g.addWidget(self.size_spin, 0, 2)
        g.addWidget(self.mirror_check, 0, 3)
        g.addWidget(QLabel("Smoothing"), 1, 0)
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, 90)
        self.smooth_slider.setValue(round(self.sketch.smoothing * 100))
        self.smooth_slider.setToolTip("Stroke stabiliser: higher = smoother, lazier strokes")
        self.smooth_slider.valueChanged.connect(lambda v: self.sketch.set_smoothing(v / 100.0))
        g.addWidget(self.smooth_slider, 1, 1, 1, 3)
        self.side_combo = QComboBox()
        for side in CANVAS_SIDES:
            self.side_combo.addItem(f"{side} × {side}", side)
        self.side_combo.setCurrentIndex(CANVAS_SIDES.index(512))
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Start a blank canvas of the chosen size (undoable)")
        self.new_button.clicked.connect(lambda: self.sketch.new_canvas(int(self.side_combo.currentData())))
        self.side_combo.setToolTip("Size of a new blank canvas (press New)")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Erase the whole sketch (undoable)")
        self.clear_button.clicked.connect(self.sketch.clear)
        g.addWidget(self.side_combo, 2, 0, 1, 2)
        g.addWidget(self.new_button, 2, 2)
        g.addWidget(self.clear_button, 2, 3)
        self.import_button = QPushButton("Import picture…")
        self.import_button.setToolTip("A picture as line art (XDoG), fitted into the canvas")
        self.import_button.clicked.connect(self._import_picture_dialog)
        self.use_doc_button = QPushButton("Opened image")
        self.use_doc_button.setToolTip("The image opened in the window as line art (XDoG)")
        self.use_doc_button.clicked.connect(self.import_document_image)
        self.load_sketch_button = QPushButton("Load…")
        self.load_sketch_button.setToolTip("Open a line-art PNG (dark lines on white) as the sketch")
        self.load_sketch_button.clicked.connect(self._load_sketch_dialog)
        self.save_sketch_button = QPushButton("Save…")
        self.save_sketch_button.setToolTip("Save the sketch as a line-art PNG")
        self.save_sketch_button.clicked.connect(self._save_sketch_dialog)
        g.addWidget(self.import_button, 3, 0, 1, 2)
        g.addWidget(self.use_doc_button, 3, 2, 1, 2)
        g.addWidget(self.load_sketch_button, 4, 0, 1, 2)
        g.addWidget(self.save_sketch_button, 4, 2, 1, 2)
        lay.addWidget(sk)

        rf = QGroupBox("Reference")
        rl = QVBoxLayout(rf)
        self.gallery = ReferenceGallery()
        self.gallery.setObjectName("opera_gallery")
        self.gallery.itemClicked.connect(self._gallery_clicked)
        self.gallery.files_dropped.connect(self.add_reference_files)
        rl.addWidget(self.gallery)
        row = QHBoxLayout()
        self.add_ref_button = QPushButton("Add pictures…")
        self.add_ref_button.setToolTip("Add coloured masks to the reference gallery (or drop them on it)")
        self.add_ref_button.clicked.connect(self._add_reference_dialog)
        self.trace_button = QPushButton("Trace into sketch")
        self.trace_button.setToolTip("Replace the sketch by the line art of the selected reference (undoable)")
        self.trace_button.clicked.connect(self.trace_reference)
        row.addWidget(self.add_ref_button)
        row.addWidget(self.trace_button)
        rl.addLayout(row)
        row = QHBoxLayout()
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 999_999)
        self.seed_spin.setPrefix("seed ")
        self.seed_spin.setValue(42)
        self.seed_spin.setToolTip("Seed of the procedural lianpu: the same seed draws the same design")
        self.colour_combo = QComboBox()
        self.colour_combo.addItem("any colour", None)
        for c in OPERA_COLOURS:
            self.colour_combo.addItem(c, c)
        self.colour_combo.setToolTip("Main colour of the generated lianpu (its traditional meaning shows below)")
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Add a procedural lianpu of this seed and main colour and use it")
        self.generate_button.clicked.connect(lambda: self.generate_reference(
            self.seed_spin.value(), self.colour_combo.currentData()))
        row.addWidget(self.seed_spin)
        row.addWidget(self.colour_combo)
        row.addWidget(self.generate_button)
        rl.addLayout(row)
        lay.addWidget(rf)

        eg = EngineBox("Colouring engine", BACKEND_CHOICES, combo_name="opera_backend", note_name="opera_backend_info")
        self.engine_box, self.backend_combo, self.backend_info = eg, eg.combo, eg.note
        eg.set_current(self.doc.param(COLOUR, "backend"))
        eg.chosen.connect(self._backend_chosen)
        eg.set_enabled("neural", False, "Looking for a trained CoCosNet checkpoint…")
        el = eg.layout()
        self.warped_check = QCheckBox("Warped exemplar beside the result")
        self.warped_check.setToolTip("Show the reference as the engine's correspondence placed it on the sketch")
        self.warped_check.setChecked(True)
        self.warped_check.toggled.connect(self.warped_pane.setVisible)
        el.addWidget(self.warped_check)
        lay.addWidget(eg)

        self.generation = GenerationStrip(self.submit, self.worker)
        self.generation.chosen.connect(self.use_generated)
        lay.addWidget(self.generation)

        pt = QGroupBox("Paint")
        pl = QGridLayout(pt)
        self.fill_rgb: tuple[int, int, int] = OPERA_COLOUR_RGB["red"]
        self.colour_button = QPushButton("Fill colour…")
        self.colour_button.setToolTip("Choose the paint of the fill tool (Ctrl+click the result picks one)")
        self.colour_button.clicked.connect(self._choose_fill_colour)
        self.fill_check = QCheckBox("Fill tool (F)")
        self.fill_check.setToolTip("Click a region of the coloured result to repaint it (undoable)")
        self.reset_fills_button = QPushButton("Remove hand fills")
        self.reset_fills_button.setToolTip("Undo every region repainted with the fill tool (one undoable step)")
        self.reset_fills_button.clicked.connect(self.reset_fills)
        self.view_ref_check = QCheckBox("Show the aligned reference")
        self.view_ref_check.setToolTip("Show the reference warped onto the sketch (the paper's warped exemplar)")
        self.view_ref_check.toggled.connect(lambda on: self._show_colour_result())
        pl.addWidget(self.colour_button, 0, 0)
        pl.addWidget(self.fill_check, 0, 1)
        pl.addWidget(self.reset_fills_button, 1, 0)
        pl.addWidget(self.view_ref_check, 1, 1)
        lay.addWidget(pt)
        self._set_fill_colour(self.fill_rgb)

        self.class_label = QLabel("Main colour: —")
        self.class_label.setObjectName("opera_class")
        self.class_label.setWordWrap(True)
        self.class_label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.class_label)
        self.export_colour_button = QPushButton("Export coloured PNG…")
        self.export_colour_button.setToolTip("PNG transparent outside the face")
        self.export_colour_button.setEnabled(False)
        self.export_colour_button.clicked.connect(self.export_requested)
        lay.addWidget(self.export_colour_button)
        self.colour_info = QLabel("")
        self.colour_info.setWordWrap(True)
        self.colour_info.setStyleSheet("color: #777;")
        lay.addWidget(self.colour_info)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(page)
        self.tabs.addTab(scroll, "Colour")

        from PySide6.QtGui import QKeySequence, QShortcut

        fill_key = QShortcut(QKeySequence("F"), self.workspace)
        fill_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        fill_key.activated.connect(self.fill_check.toggle)
        self.sketch.edited.connect(self._on_sketch_edited)
        self.result_view.clicked.connect(self._on_result_clicked)

    def _show_brush_size(self, size: int) -> None:
        self.size_spin.blockSignals(True)
        self.size_spin.setValue(size)
        self.size_spin.blockSignals(False)

    def _show_mirror(self, on: bool) -> None:
        self.mirror_check.blockSignals(True)
        self.mirror_check.setChecked(on)
        self.mirror_check.blockSignals(False)

    # -- Colour tab: mode and placement -------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """``"lineart"`` (XDoG of the opened image on the main canvas) or ``"colour"`` (sketch +
        coloured result side by side in place of the main canvas)."""
        if mode not in ("lineart", "colour"):
            raise ValueError(f"mode must be 'lineart' or 'colour', got {mode!r}")
        self.mode = mode
        index = 1 if mode == "colour" else 0
        if self.tabs.currentIndex() != index:
            self.tabs.setCurrentIndex(index)  # calls set_mode again through currentChanged
            return
        self._place_workspace(self.isVisible())
        if mode == "colour":
            self._ensure_gallery()
            self.recolour()
        elif self.result is not None:
            self._on_result(RENDER, self.worker.latest_generation(RENDER), self.result)

    def _place_workspace(self, visible: bool) -> None:
        """Show the sketch/result workspace in the main canvas's place (colour mode), or the canvas."""
        split = self.canvas.parentWidget()
        colour = visible and self.mode == "colour" and isinstance(split, QSplitter)
        if colour and self.workspace.parentWidget() is not split:
            split.insertWidget(split.indexOf(self.canvas), self.workspace)
            split.setCollapsible(split.indexOf(self.workspace), False)
        if colour and not self.workspace.isVisible():
            sizes = split.sizes()
            i, j = split.indexOf(self.workspace), split.indexOf(self.canvas)
            sizes[i], sizes[j] = max(sizes[i], sizes[j]), 0
            self.canvas.hide()
            self.workspace.show()
            split.setSizes(sizes)
        elif not colour:
            self.workspace.hide()
            self.canvas.show()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._place_workspace(True)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt API
        # another studio took over: give the main canvas back
        if not self.window().isHidden():
            self._place_workspace(False)
        super().hideEvent(event)

    # -- Colour tab: gallery ----------------------------------------------------------------------
    def _ensure_gallery(self) -> None:
        """Fill the gallery with the starter designs (once, in the worker)."""
        if self._gallery_started:
            return
        self._gallery_started = True

        def job(token: CancelToken) -> list[Reference]:
            out = []
            for seed in GALLERY_SEEDS:
                token.raise_if_cancelled()
                out.append(generated_reference(seed, None))
            return out

        self.submit(GALLERY + ".init", job)
        if self.doc.image is not None:
            self._add_document_reference()
        self.refresh_backends()
        self.generation.load()

    def _add_document_reference(self) -> None:
        image, path = self.doc.image, self.doc.path
        name = path.name if path is not None else "opened image"

        def job(token: CancelToken) -> list[Reference]:
            return [Reference(f"doc:{path}", name, image, _thumbnail(image))]

        self.submit(GALLERY + ".doc", job)

    def add_reference_files(self, paths: list[str]) -> None:
        """Load pictures into the gallery (in the worker); the first one becomes the reference."""
        files = [Path(p) for p in paths]

        def job(token: CancelToken) -> tuple[list[Reference], list[str]]:
            refs, errors = [], []
            for p in files:
                token.raise_if_cancelled()
                try:
                    refs.append(picture_reference(p))
                except Exception as exc:  # noqa: BLE001 - one bad file must not lose the others
                    errors.append(f"{p.name}: {exc}")
            return refs, errors

        self.submit(GALLERY + ".files", job)

    def _add_reference_dialog(self) -> None:
        from engine.imageio import LOAD_EXTENSIONS

        exts = " ".join(f"*{e}" for e in LOAD_EXTENSIONS)
        paths, _ = QFileDialog.getOpenFileNames(self, "Add reference pictures", "", f"Images ({exts})")
        if paths:
            self.add_reference_files(paths)

    def generate_reference(self, seed: int, colour: Optional[str]) -> None:
        """Generate a procedural design (in the worker), add it and make it the reference."""
        if colour is not None and colour not in OPERA_COLOURS:
            raise ValueError(f"unknown main colour {colour!r}; known: {', '.join(OPERA_COLOURS)}")

        def job(token: CancelToken) -> Reference:
            return generated_reference(int(seed), colour)

        self.submit(GALLERY + ".generate", job)

    def _receive_references(self, refs: list[Reference], select: bool) -> None:
        for ref in refs:
            self.references[ref.key] = ref
            self.gallery.add_reference(ref)
        if not refs:
            return
        current = self.doc.param(COLOUR, "reference")
        if select and refs[0].key != current:
            self.undo.push(SetParamCommand(self.doc, COLOUR, "reference", refs[0].key, label="Choose reference"))
        elif current not in self.references:
            self.doc.set_param(COLOUR, "reference", refs[0].key)  # first default, not an edit
        self._select_gallery_item(self.doc.param(COLOUR, "reference"))

    def _select_gallery_item(self, key: str) -> None:
        item = self.gallery.item_for(key)
        self.gallery.blockSignals(True)
        self.gallery.setCurrentItem(item) if item is not None else self.gallery.clearSelection()
        self.gallery.blockSignals(False)

    def _gallery_clicked(self, item: QListWidgetItem) -> None:
        self.set_reference(item.data(Qt.ItemDataRole.UserRole))

    def set_reference(self, key: str) -> None:
        """Colour from gallery entry ``key`` (one undo step)."""
        if key not in self.references:
            raise KeyError(f"no gallery reference {key!r}")
        if key != self.doc.param(COLOUR, "reference"):
            self.undo.push(SetParamCommand(self.doc, COLOUR, "reference", key, label="Choose reference"))

    def current_reference(self) -> Optional[Reference]:
        """The gallery entry colours come from, if any."""
        return self.references.get(self.doc.param(COLOUR, "reference"))

    # -- Colour tab: sketch input/output ------------------------------------------------------------
    def _sketch_side(self) -> int:
        return int(max(self.sketch.layer.shape))

    def _import_picture_dialog(self) -> None:
        from engine.imageio import LOAD_EXTENSIONS

        exts = " ".join(f"*{e}" for e in LOAD_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Import a picture as line art", "", f"Images ({exts})")
        if path:
            self.import_picture(path)

    def import_picture(self, path: str | Path) -> None:
        """Load a picture and turn it into line art (XDoG) in the worker; one undo step."""
        side = self._sketch_side()
        p = Path(path)

        def job(token: CancelToken) -> tuple[np.ndarray, str]:
            from engine.imageio import load_image

            return line_art_from_picture(load_image(p), side), f"Import {p.name}"

        self.submit(SKETCH_IO, job)

    def import_document_image(self) -> None:
        """The opened image as line art (XDoG, in the worker); one undo step."""
        image = self.doc.image
        if image is None:
            self.message.emit("Opera: open an image first (Ctrl+O)")
            return
        side = self._sketch_side()

        def job(token: CancelToken) -> tuple[np.ndarray, str]:
            return line_art_from_picture(image, side), "Import opened image"

        self.submit(SKETCH_IO, job)

    def trace_reference(self) -> None:
        """Replace the sketch by the current reference's line art (its own for procedural designs,
        XDoG for pictures); in the worker, one undo step."""
        ref = self.current_reference()
        if ref is None:
            self.message.emit("Opera: choose a reference first")
            return
        side = self._sketch_side()

        def job(token: CancelToken) -> tuple[np.ndarray, str]:
            if ref.seed is not None:
                from engine.procedural.lianpu import generate_lianpu

                return generate_lianpu(ref.seed, ref.colour, side).line_art, f"Trace {ref.label}"
            return line_art_from_picture(ref.image, side), f"Trace {ref.label}"

        self.submit(SKETCH_IO, job)

    def _load_sketch_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load line art", "", "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)")
        if path:
            self.load_sketch(path)

    def load_sketch(self, path: str | Path) -> None:
        """Load a line-art picture into the sketch (in the worker); one undo step."""
        p = Path(path)

        def job(token: CancelToken) -> tuple[np.ndarray, str]:
            from app.widgets.sketch_canvas import fit_side_range
            from engine.imageio import load_grey

            return fit_side_range(load_grey(p)), f"Load {p.name}"

        self.submit(SKETCH_IO, job)

    def _save_sketch_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save line art", "sketch.png", "PNG image (*.png)")
        if path:
            self.save_sketch(path)

    def save_sketch(self, path: str | Path) -> None:
        """Write the sketch as a grey PNG (atomically, in the worker)."""
        pixels = self.sketch.line_art()

        def job(token: CancelToken) -> str:
            from engine.imageio import save_image

            return str(save_image(path, pixels))

        self.submit(SAVE_SKETCH, job)  # own channel: a following export must not replace it

    # -- Colour tab: colouring ----------------------------------------------------------------------
    def _on_sketch_edited(self) -> None:
        self._sketch_version += 1
        self.recolour()

    def recolour(self) -> None:
        """Colour the sketch from the reference in the worker (newest request wins)."""
        if not self._gallery_started:
            return
        ref = self.current_reference()
        if ref is None:
            self.colour_info.setText("Pick a reference in the gallery")
            return
        if self.sketch.layer.is_blank():
            self.colour_result = None
            self.colour_class = None
            self.export_colour_button.setEnabled(False)
            self.result_view.set_after(None)
            self.result_view.set_document_size(QSize())
            self.class_label.setText("Main colour: —")
            self.colour_info.setText("The sketch is empty: draw a face outline, or trace a design")
            return
        sketch = self.sketch.line_art()
        version = self._sketch_version
        fills = tuple(self.doc.param(COLOUR, "fills"))
        requested = str(self.doc.param(COLOUR, "backend"))
        cache = self._colour_cache  # touched by worker jobs only (one at a time)

        def job(token: CancelToken) -> ColourOutcome:
            import time

            from engine.studios.opera.classical import (
                classify_main_colour,
                recolour_region,
            )

            t0 = time.perf_counter()
            key = (version, ref.key, sketch.shape, requested)
            if cache.get("key") != key:
                cache["base"], cache["info"] = colour_sketch(sketch, ref.image, requested)
                cache["key"] = key
            res: ColorizeResult = cache["base"]
            info: dict[str, str] = cache["info"]
            applied = 0
            h, w = res.regions.shape
            for x, y, r, g, b in fills:
                if 0 <= x < w and 0 <= y < h and res.face_mask[y, x]:
                    res = recolour_region(res, sketch, x, y, (r, g, b))
                    applied += 1
            token.raise_if_cancelled()
            try:
                cls: Optional[ColourClass] = classify_main_colour(res.image, res.face_mask)
            except ValueError:
                cls = None
            return ColourOutcome(res, cls, ref.key, applied, (time.perf_counter() - t0) * 1e3,
                                 requested=requested, backend=info["backend"], method=info["method"],
                                 note=info["note"])

        self.submit(COLOUR, job)

    def _receive_colour(self, out: ColourOutcome) -> None:
        self.colour_result = out.result
        self.colour_class = out.colour_class
        self.export_colour_button.setEnabled(True)
        self._show_colour_result()
        c = out.colour_class
        if c is None:
            self.class_label.setText("Main colour: — (no paint inside the face)")
        else:
            rgb = OPERA_COLOUR_RGB[c.colour]
            self.class_label.setText(
                f"<span style='background: rgb{rgb}; color: rgb{rgb};'>&nbsp;&nbsp;&nbsp;&nbsp;</span> "
                f"Main colour: <b>{c.colour}</b> ({100 * c.scores[c.colour]:.0f} %)<br>"
                f"<i>{c.meaning}</i>")
        n = int(out.result.regions.max())
        h, w = out.result.image.shape[:2]
        text = (f"{engine_line(out)} · {n} regions · {w}×{h} · "
                f"{len(self.doc.param(COLOUR, 'fills'))} hand fills · {out.elapsed_ms:.0f} ms")
        self.colour_info.setText(text)
        self.engine_status.emit(text)
        self.warped_caption.setText(f"Warped exemplar — {ENGINE_NAMES.get(out.backend, out.backend)}")

    def _show_colour_result(self) -> None:
        res = self.colour_result
        if res is None:
            return
        h, w = res.image.shape[:2]
        self.result_view.set_document_size(QSize(w, h))
        self.result_view.set_after(to_qimage(res.warped_reference if self.view_ref_check.isChecked() else res.image))
        self.warped_view.set_document_size(QSize(w, h))
        self.warped_view.set_after(to_qimage(res.warped_reference))

    # -- Colour tab: engine choice ------------------------------------------------------------------
    def refresh_backends(self) -> None:
        """Find out (in the worker) whether a trained CoCosNet exists and what ``auto`` picks."""
        self.submit(BACKENDS, lambda token: probe_backends())

    def backend_enabled(self, backend: str) -> bool:
        """Whether ``backend`` can be chosen in the selector."""
        return self.engine_box.is_enabled(backend)

    def _backend_chosen(self, backend: str) -> None:
        try:
            self.set_backend(backend)
        except ValueError as exc:
            self.message.emit(f"Opera: {exc}")

    def _receive_backends(self, state: "BackendState") -> None:
        self.backend_state = state
        self.engine_box.set_enabled("neural", state.neural_available, state.neural_reason)
        self.engine_box.set_enabled("auto", True, f"Auto runs {ENGINE_NAMES[state.auto_backend]}: {state.auto_reason}")
        self.engine_box.set_enabled("classical", True, "Closed regions of the sketch painted with the dominant "
                                                          "colour of the aligned reference")
        self._show_backend_note()
        self.backend_combo.setToolTip(f"Auto: {state.auto_reason}\nLearned: {state.neural_reason}")

    def _show_backend_note(self) -> None:
        """The line under the engine combo: what the current choice runs and why."""
        state = getattr(self, "backend_state", None)
        if state is None:
            return
        chosen = self.doc.param(COLOUR, "backend")
        auto = f"Auto → {ENGINE_NAMES[state.auto_backend]}"
        if chosen == "neural":
            text = f"Learned chosen by hand: {_short_note(state.auto_reason)}"
        elif chosen == "classical":
            text = "Classical chosen by hand."
        elif state.neural_available:
            text = f"{auto}: {_short_note(state.auto_reason)}"
        else:
            text = f"{auto}. Learned engine off: {_short_note(state.neural_reason)}"
        self.backend_info.setText(text)

    def set_backend(self, backend: str) -> None:
        """Colour with ``"auto"``, ``"classical"`` or ``"neural"`` (one undo step).

        Raises:
            ValueError: unknown name, or ``"neural"`` while no trained checkpoint is available.
        """
        if backend not in dict(BACKEND_CHOICES):
            raise ValueError(f"backend must be one of {', '.join(dict(BACKEND_CHOICES))}, got {backend!r}")
        if backend == "neural" and not self.backend_enabled("neural"):
            state = getattr(self, "backend_state", None)
            self.engine_box.set_current(self.doc.param(COLOUR, "backend"))
            raise ValueError(f"the learned engine is off: {state.neural_reason if state else 'not checked yet'}")
        if backend != self.doc.param(COLOUR, "backend"):
            self.undo.push(SetParamCommand(self.doc, COLOUR, "backend", backend, label="Colouring engine"))

    # -- Colour tab: learned generator ----------------------------------------------------------------
    def use_generated(self, sample: Sample) -> None:
        """A design from the generation strip joins the gallery and becomes the colour reference
        (one undo step, like choosing any gallery entry)."""
        ref = Reference(sample.key, sample.label, sample.image, _thumbnail(sample.image))
        self._receive_references([ref], select=True)

    # -- Colour tab: hand fill ----------------------------------------------------------------------
    def _choose_fill_colour(self) -> None:
        c = QColorDialog.getColor(QColor(*self.fill_rgb), self, "Fill colour")
        if c.isValid():
            self._set_fill_colour((c.red(), c.green(), c.blue()))

    def _set_fill_colour(self, rgb: tuple[int, int, int]) -> None:
        self.fill_rgb = tuple(int(v) for v in rgb)  # type: ignore[assignment]
        self.colour_button.setStyleSheet(_swatch_style(self.fill_rgb))

    def _on_result_clicked(self, x: float, y: float, ctrl: bool) -> None:
        res = self.colour_result
        if res is None:
            return
        xi, yi = int(x), int(y)
        h, w = res.image.shape[:2]
        if not (0 <= xi < w and 0 <= yi < h):
            return
        if ctrl:
            self._set_fill_colour(tuple(int(v) for v in res.image[yi, xi]))  # type: ignore[arg-type]
            self.message.emit(f"Fill colour picked: rgb{self.fill_rgb}")
        elif self.fill_check.isChecked():
            self.fill_region(xi, yi, self.fill_rgb)
        else:
            self.message.emit("Turn on the fill tool (F) to repaint a region; Ctrl+click picks its colour")

    def fill_region(self, x: int, y: int, rgb: tuple[int, int, int]) -> None:
        """Repaint the region of the result under sketch pixel ``(x, y)`` (one undo step)."""
        res = self.colour_result
        if res is not None and not res.face_mask[y, x]:
            self.message.emit("Opera: that point is outside the face: nothing to fill")
            return
        fills = tuple(self.doc.param(COLOUR, "fills")) + ((int(x), int(y), *(int(v) for v in rgb)),)
        self.undo.push(SetParamCommand(self.doc, COLOUR, "fills", fills, label="Fill region"))

    def reset_fills(self) -> None:
        """Drop every hand fill (one undo step)."""
        if self.doc.param(COLOUR, "fills"):
            self.undo.push(SetParamCommand(self.doc, COLOUR, "fills", (), label="Remove hand fills"))

    def _on_colour_param(self, key: str, value: Any) -> None:
        if key == "reference":
            self._select_gallery_item(value)
        elif key == "backend":
            self.engine_box.set_current(value)
            self._show_backend_note()
        self.recolour()

    # -- worker plumbing ----------------------------------------------------------------------------
    def _on_colour_channel(self, channel: str, gen: int, value: object) -> bool:
        """Handle a result of a Colour-tab channel; False if ``channel`` is not one of them."""
        if channel == COLOUR:
            if gen == self.worker.latest_generation(COLOUR):
                assert isinstance(value, ColourOutcome)
                self._receive_colour(value)
        elif channel == GALLERY + ".files":
            refs, errors = value  # type: ignore[misc]
            self._receive_references(refs, select=True)
            if errors:
                self.message.emit("Opera: could not add " + "; ".join(errors))
        elif channel == GALLERY + ".generate":
            assert isinstance(value, Reference)
            self._receive_references([value], select=True)
        elif channel in (GALLERY + ".init", GALLERY + ".doc"):
            self._receive_references(list(value), select=False)  # type: ignore[arg-type]
        elif channel == SKETCH_IO:
            pixels, label = value  # type: ignore[misc]
            self.sketch.set_line_art(pixels, label)
        elif channel == BACKENDS:
            assert isinstance(value, BackendState)
            self._receive_backends(value)
        else:
            return False
        return True

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


# ------------------------------------------------------------------------------------------------
# Colour tab: sketch canvas, reference gallery, colouring, hand fill, classification
# ------------------------------------------------------------------------------------------------

COLOUR_DEFAULTS: dict[str, Any] = {"reference": "", "fills": (), "backend": "auto"}
"""Document parameters of the Colour tab: the gallery key of the reference, the hand fills as a
tuple of ``(x, y, r, g, b)`` (sketch pixel of the region, paint), applied in order, and the
requested colouring engine (``auto`` / ``classical`` / ``neural``)."""

CANVAS_SIDES = (256, 512, 1024, 2048)


@dataclass(frozen=True)
class Reference:
    """One gallery entry.

    Args:
        key: unique id (``gen:<seed>:<colour>``, ``file:<path>``, ``doc:<path>``).
        label: text under the thumbnail.
        image: ``uint8`` RGB ``[H, W, 3]`` reference lianpu.
        thumb: ``uint8`` RGB thumbnail (at most :data:`THUMB` pixels a side).
        seed: procedural seed (``None`` for pictures).
        colour: forced main colour of a procedural design (``None`` = drawn from the seed).
    """

    key: str
    label: str
    image: np.ndarray
    thumb: np.ndarray
    seed: Optional[int] = None
    colour: Optional[str] = None


@dataclass(frozen=True)
class ColourOutcome:
    """What a colouring job returns to the GUI.

    Args:
        result: the coloured sketch with the hand fills applied.
        colour_class: main-colour class of the result (``None`` when no paint was found).
        reference: gallery key of the reference used.
        fills_applied: hand fills that landed inside the face.
        elapsed_ms: time spent in the job.
    """

    result: ColorizeResult
    colour_class: Optional[ColourClass]
    reference: str
    fills_applied: int
    elapsed_ms: float
    requested: str = "classical"
    backend: str = "classical"
    method: str = "region-correspondence"
    note: str = ""


ENGINE_NAMES = {"classical": "classical", "neural": "learned (CoCosNet)"}
"""How the info lines name the engine backends."""


_NOTE_PREFIXES = ("classical region correspondence; 'auto' does not use CoCosNet: ",
                  "classical region correspondence; ", "learned CoCosNet-style network: ",
                  "the learned colouring network (CoCosNet) is ")


def _short_note(note: str) -> str:
    """The engine's reason without the words the info line already says (which engine it is)."""
    for prefix in _NOTE_PREFIXES:
        if note.startswith(prefix):
            note = note[len(prefix):]
            break
    return note.removesuffix("; use backend 'classical'")


def engine_line(out: ColourOutcome) -> str:
    """What ran and why, e.g. ``Engine: auto → classical (region-correspondence): <card reason>``."""
    name = f"{ENGINE_NAMES.get(out.backend, out.backend)} ({out.method})"
    if out.requested == "auto":
        return f"Engine: auto → {name}: {_short_note(out.note)}" if out.note else f"Engine: auto → {name}"
    return f"Engine: {name}"


@dataclass(frozen=True)
class BackendState:
    """Which colouring engines can run (from the checkpoint cards; see :func:`probe_backends`).

    Args:
        neural_available: a trained CoCosNet checkpoint is there.
        neural_reason: why (not) — the card's measured comparison or what is missing.
        auto_backend: what ``auto`` runs (``"classical"`` / ``"neural"``).
        auto_reason: why.
    """

    neural_available: bool
    neural_reason: str
    auto_backend: str
    auto_reason: str


def probe_backends() -> BackendState:
    """Ask the engine which colouring backends are usable (reads checkpoint cards: call it in the worker)."""
    from engine.studios.opera.learned import resolve_colorize_backend

    try:
        _, why = resolve_colorize_backend("neural")
        ok = True
    except ValueError as exc:
        ok, why = False, str(exc)
    auto, auto_why = resolve_colorize_backend("auto")
    return BackendState(ok, why, auto, auto_why)


def colour_sketch(sketch: np.ndarray, reference: np.ndarray, backend: str) -> tuple[ColorizeResult, dict[str, str]]:
    """Colour ``sketch`` from ``reference`` with ``backend`` (engine work: call it in the worker).

    Returns the :class:`ColorizeResult` the panel works with (for the learned engine: its image and
    warped exemplar, with the sketch's closed regions so the fill tool works the same way) and
    ``{"backend", "method", "note"}`` — which engine ran and why.

    Raises:
        ValueError: ``backend="neural"`` without a trained checkpoint, or bad images.
    """
    from engine.studios.opera.editor import ColorizeEditor, ColorizeParams

    editor = ColorizeEditor(backend)
    editor.set_image(sketch)
    editor.set_reference(reference)
    er = editor.edit(ColorizeParams())
    info = {"backend": str(er.info.get("backend", "classical")), "method": str(er.info.get("method", "")),
            "note": str(er.info.get("note", ""))}
    return er.info["colorize"], info


def _thumbnail(image: np.ndarray) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    s = THUMB / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def generated_reference(seed: int, colour: Optional[str], size: int = 512) -> Reference:
    """A procedural design as a gallery entry (engine work: call it in the worker)."""
    from engine.procedural.lianpu import generate_lianpu

    d = generate_lianpu(seed, colour, size)
    return Reference(f"gen:{seed}:{colour or 'any'}", f"#{seed} {d.colour}", d.image, _thumbnail(d.image),
                     seed, colour)


def picture_reference(path: Path, key_prefix: str = "file") -> Reference:
    """A picture file as a gallery entry (engine work: call it in the worker)."""
    from engine.imageio import load_image

    image = load_image(path)
    return Reference(f"{key_prefix}:{Path(path).resolve()}", Path(path).name, image, _thumbnail(image))


class ReferenceGallery(QListWidget):
    """Thumbnails of the reference lianpu; accepts image files dropped on it.

    Signals:
        files_dropped(list): local file paths dropped onto the gallery.
    """

    files_dropped = Signal(list)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 14, THUMB + 30))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setWrapping(True)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setMinimumHeight(2 * (THUMB + 30) + 8)
        self.setToolTip("Reference masks: click one to colour the sketch from it; drop pictures here to add them")

    def add_reference(self, ref: Reference) -> QListWidgetItem:
        """Add (or refresh) the entry of ``ref`` and return its item."""
        item = self.item_for(ref.key)
        if item is None:
            item = QListWidgetItem(self)
            item.setData(Qt.ItemDataRole.UserRole, ref.key)
        item.setText(ref.label)
        item.setToolTip(ref.key)
        item.setIcon(QIcon(QPixmap.fromImage(to_qimage(ref.thumb))))
        return item

    def item_for(self, key: str) -> Optional[QListWidgetItem]:
        """The item of gallery key ``key``, or ``None``."""
        for i in range(self.count()):
            it = self.item(i)
            if it.data(Qt.ItemDataRole.UserRole) == key:
                return it
        return None

    def keys(self) -> list[str]:
        """Gallery keys in display order."""
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    @staticmethod
    def _local_files(event: QDropEvent | QDragEnterEvent | QDragMoveEvent) -> list[str]:
        return [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if self._local_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt API
        if self._local_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        files = self._local_files(event)
        if files:
            self.files_dropped.emit(files)
            event.acceptProposedAction()
        else:
            event.ignore()


class ResultCanvas(ImageCanvas):
    """The coloured result; a left click (not a pan or split drag) reports its document pixel.

    Signals:
        clicked(x, y, ctrl): document coordinates of a left click, and whether Ctrl was held.
    """

    clicked = Signal(float, float, bool)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        pos = event.position()
        if (event.button() == Qt.MouseButton.LeftButton and not self._space and not self._near_split(pos)
                and not self.document_size.isEmpty()):
            p = self.map_to_document(pos)
            ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
            self.clicked.emit(p.x(), p.y(), ctrl)
            event.accept()
            return
        super().mousePressEvent(event)


def _swatch_style(rgb: tuple[int, int, int]) -> str:
    r, g, b = rgb
    fg = "#000" if (0.299 * r + 0.587 * g + 0.114 * b) > 140 else "#fff"
    return f"background: rgb({r},{g},{b}); color: {fg}; border: 1px solid #333; padding: 4px;"
