"""Opera studio, "Colour" tab: draw a lianpu and colour it from a reference — the colouring session.

A sketch canvas (mirror symmetry, per-stroke undo) and the coloured result with the warped exemplar
beside it take the main canvas's place (the :attr:`ColourTab.workspace`); the tab's page holds the
reference gallery (procedural designs, the opened image, user pictures, drag-and-drop), a
procedural generator (seed + main colour), the colouring engine (Auto / Classical / Learned
CoCosNet, bound to its :class:`~engine.studios.base.Resolution` from the card — *Learned* is offered
only when a usable checkpoint exists, *Auto* picks it only when its card says it measured better), a
strip of designs from the trained StyleGAN2 generator (clicking one makes it the reference), a fill
tool that recolours a region by hand, the main-colour class with its traditional meaning and the
export as PNG transparent outside the face.

The session's parameters live in the document namespace :data:`COLOUR`: the gallery key of the
reference, the hand fills and the requested engine; every edit (stroke, clear, import, reference,
engine, fill) is a step on the Opera undo stack. Engine work (colouring, generating, loading, XDoG
import, export) runs in the worker, each request with its own result callback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.model.sketch import fit_side_range, line_art_from_picture
from app.qt_image import to_qimage
from app.studios.base import StudioPanel, engine_resolution
from app.studios.opera.lineart import EXTRACTOR_CHOICES, STUDIO
from app.widgets.canvas import ClickCanvas
from app.widgets.engine_box import EngineBox
from app.widgets.generation_strip import GenerationStrip, Sample
from app.widgets.reference_gallery import ReferenceGallery, thumbnail
from app.widgets.sketch_canvas import SketchCanvas
from app.widgets.swatch_button import SwatchButton
from engine.cancel import CancelToken
from engine.labels import OPERA_COLOUR_RGB, OPERA_COLOURS
from engine.procedural.lianpu import ROLE_TYPES
from engine.studios.base import CLASSICAL, LEARNED, Resolution
from engine.studios.opera.classical import ColorizeResult, ColourClass
from engine.studios.opera.editor import ColorizeEditor
from engine.studios.opera.matching import Pin
from engine.studios.opera.params import ColorizeParams

COLOUR = "opera.colour"
"""Document namespace of the Colour tab (and the colouring channel)."""
GALLERY = "opera.gallery"        # generating / loading gallery references
SKETCH_IO = "opera.sketch_io"    # importing pictures / loading line art into the sketch
SAVE_SKETCH = "opera.save_sketch"
EXPORT = "opera.export"

COLOUR_DEFAULTS: dict[str, Any] = {"reference": "", "fills": (), "backend": "auto", "pins": (), "strength": 1.0}
"""Document parameters of the Colour tab: the gallery key of the reference, the hand fills as a
tuple of ``(x, y, r, g, b)`` (sketch pixel of the region, paint), applied in order, the requested
colouring engine (``auto`` / ``classical`` / ``neural``), the click-to-match pins as a tuple of
``(ref_x, ref_y, sketch_x, sketch_y)`` fractions of each image, and the reference strength (0–1:
the reference's paint blended with the sketch's own fills)."""

STRENGTH_MERGE = 0x0C51
"""Undo merge id of the reference-strength slider (one drag = one step)."""

WORKSPACE_PANE_MIN = 140
"""Narrowest a Colour-tab pane (sketch / colour / warped) may get, px: with three side by side the
window still fits 1000 px (the canvases' own 200 px minimum forced ~1110 px)."""
BACKEND_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto", "Auto — the better one by its card"),
    (CLASSICAL, "Classical — region correspondence"),
    (LEARNED, "Learned — CoCosNet network"),
)
"""Colouring engines of the selector: (requested backend, label)."""
ENGINE_NAMES = {CLASSICAL: "classical", LEARNED: "learned (CoCosNet)"}
"""How the info lines name the engine backends."""
GALLERY_SEEDS = (3, 8, 11, 21, 5, 14)
"""Procedural designs the gallery starts with (a varied set of shapes and main colours)."""
CANVAS_SIDES = (256, 512, 1024, 2048)


@dataclass(frozen=True)
class Reference:
    """One gallery entry.

    Args:
        key: unique id (``gen:<seed>:<colour>``, ``file:<path>``, ``doc:<path>``, ``gan:…``).
        label: text under the thumbnail.
        image: ``uint8`` RGB ``[H, W, 3]`` reference lianpu.
        thumb: ``uint8`` RGB thumbnail.
        seed: procedural seed (``None`` for pictures).
        colour: forced main colour of a procedural design (``None`` = drawn from the seed).
        role: role type of a procedural design (``None`` = the classic template).
    """

    key: str
    label: str
    image: np.ndarray
    thumb: np.ndarray
    seed: int | None = None
    colour: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class ColourOutcome:
    """What a colouring job returns to the GUI.

    Args:
        result: the coloured sketch with the hand fills applied.
        colour_class: main-colour class of the result (``None`` when no paint was found).
        reference: gallery key of the reference used.
        fills_applied: hand fills that landed inside the face.
        elapsed_ms: time spent in the job.
        requested: the engine asked for (``auto`` / ``classical`` / ``neural``).
        backend: the engine that ran.
        method: how it ran (e.g. ``"region-correspondence"``).
        note: why that engine ran (the engine's reason, shown as text).
        device: the torch device that ran it.
    """

    result: ColorizeResult
    colour_class: ColourClass | None
    reference: str
    fills_applied: int
    elapsed_ms: float
    requested: str = "auto"
    backend: str = CLASSICAL
    method: str = "region-correspondence"
    note: str = ""
    device: str = "cpu"


def engine_line(out: ColourOutcome) -> str:
    """What ran, e.g. ``Engine: auto → classical (region-correspondence)``."""
    name = f"{ENGINE_NAMES.get(out.backend, out.backend)} ({out.method})"
    return f"Engine: auto → {name}" if out.requested == "auto" else f"Engine: {name}"


def colour_params(pins: Any = (), strength: float = 1.0, extractor: str = "xdog") -> ColorizeParams:
    """The colouring parameters of the tab's document values.

    Args:
        pins: ``(ref_x, ref_y, sketch_x, sketch_y)`` fraction tuples.
        strength: reference strength, 0–1.
        extractor: the line extractor chosen for the line art (the studio's ``extractor``
            parameter, shared with the Line art tab): the sketch's imports use it and the colouring
            finds the reference's strokes with it.

    Returns:
        Validated :class:`ColorizeParams`.
    """
    return ColorizeParams(pins=tuple(Pin(*(float(v) for v in pin)) for pin in pins),
                          reference_strength=float(strength), extractor=str(extractor)).validate()


def colour_sketch(sketch: np.ndarray, reference: np.ndarray, backend: str,
                  params: ColorizeParams | None = None) -> tuple[ColorizeResult, dict[str, str]]:
    """Colour ``sketch`` from ``reference`` with ``backend`` (engine work: call it in the worker).

    The classical engine honours pins and strength itself; on a learned colouring each pin
    repaints its region with the reference paint under the pin afterwards.

    Returns:
        The :class:`ColorizeResult` the tab works with (for the learned engine: its image and warped
        exemplar, with the sketch's closed regions so the fill tool works the same way) and
        ``{"backend", "method", "note", "device"}`` — which engine ran, where and why.

    Raises:
        ValueError: ``backend="neural"`` without a usable checkpoint, or bad images.
    """
    from engine.studios.opera.classical import as_rgb, pin_paint, recolour_region, reference_lines

    p = ColorizeParams() if params is None else params
    editor = ColorizeEditor(backend)
    editor.set_image(sketch)
    editor.set_reference(reference)
    res = editor.edit(p)
    info = {key: str(res.info.get(key, default)) for key, default in
            (("backend", CLASSICAL), ("method", ""), ("note", ""), ("device", "cpu"))}
    out: ColorizeResult = res.info["colorize"]
    if info["backend"] != CLASSICAL and p.pins:
        ref = as_rgb(reference, "reference")
        ink = reference_lines(ref)
        rh, rw = ref.shape[:2]
        h, w = out.regions.shape
        for pin in p.pins:
            x, y = min(w - 1, int(pin.sketch_x * w)), min(h - 1, int(pin.sketch_y * h))
            if out.face_mask[y, x]:
                paint = pin_paint(ref, ink, min(rw - 1, int(pin.ref_x * rw)), min(rh - 1, int(pin.ref_y * rh)))
                out = recolour_region(out, sketch, x, y, (int(paint[0]), int(paint[1]), int(paint[2])))
    return out, info


def generated_reference(seed: int, colour: str | None, size: int = 512, role: str | None = None) -> Reference:
    """A procedural design as a gallery entry (engine work: call it in the worker).

    Args:
        seed: design seed.
        colour: main colour to force (``None``: the role's or the seed's).
        size: side in pixels.
        role: a role type (:data:`engine.procedural.lianpu.ROLE_TYPES`), ``"any"``, or ``None``
            for the classic template.
    """
    from engine.procedural.lianpu import ROLE_TYPES, generate_lianpu

    d = generate_lianpu(seed, colour, size, role=role)
    if role is None:
        return Reference(f"gen:{seed}:{colour or 'any'}", f"#{seed} {d.colour}", d.image, thumbnail(d.image),
                         seed, colour)
    return Reference(f"gen:{seed}:{colour or 'any'}:{role}", f"#{seed} {ROLE_TYPES[d.role].title} {d.colour}",
                     d.image, thumbnail(d.image), seed, colour, role)


def picture_reference(path: Path, key_prefix: str = "file") -> Reference:
    """A picture file as a gallery entry (engine work: call it in the worker).

    Raises:
        ImageLoadError: the file is not a readable image.
    """
    from engine.imageio import load_image

    image = load_image(path)
    return Reference(f"{key_prefix}:{Path(path).resolve()}", Path(path).name, image, thumbnail(image))


class ColourTab(QWidget):
    """The Colour tab's page (in a scroll area) and workspace, and the colouring session.

    Args:
        host: the Opera panel (document, undo stack, worker jobs, messages, export request).
    """

    def __init__(self, host: StudioPanel) -> None:
        super().__init__()
        self.host = host
        self.references: dict[str, Reference] = {}
        self.colour_result: ColorizeResult | None = None
        self.colour_class: ColourClass | None = None
        self.resolution: Resolution = engine_resolution(ColorizeEditor.learned, "auto")
        """What the requested colouring engine resolves to (from the card; what the engine box shows)."""
        self.started = False
        """The gallery was filled (the tab was shown once)."""
        self._sketch_version = 0
        self._colour_cache: dict[str, Any] = {}  # last colouring, used inside worker jobs only
        self._build_workspace()
        self._build_page()
        self.sketch.edited.connect(self._on_sketch_edited)
        self.result_view.clicked.connect(self._on_result_clicked)
        self.warped_view.clicked.connect(self._on_reference_clicked)
        self._pin_pending: tuple[float, float] | None = None
        """A reference point clicked in match mode, waiting for its sketch point (fractions)."""
        self._warped_title = "Warped exemplar"
        """Caption of the right pane while it shows the warped exemplar (names the engine that ran)."""

    @property
    def doc(self) -> Any:
        return self.host.doc

    # -- layout -----------------------------------------------------------------------------------
    def _build_workspace(self) -> None:
        self.sketch = SketchCanvas(self.host.undo, 512)
        self.sketch.setObjectName("opera_sketch")
        self.result_view = ClickCanvas()
        self.result_view.setObjectName("opera_result")
        self.result_view.placeholder = "Draw a face (mirror symmetry is on) or trace a design, then pick a reference"
        self.warped_view = ClickCanvas()
        self.warped_view.setObjectName("opera_warped")
        self.warped_view.placeholder = "The reference as the correspondence placed it on the sketch"
        self.workspace = QSplitter(Qt.Orientation.Horizontal)
        self.workspace.setObjectName("opera_workspace")
        captions: list[QLabel] = []
        panes: list[QWidget] = []
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
            panes.append(box)
        self.warped_caption = captions[2]
        self.warped_caption.setToolTip("The paper's warped exemplar r_{y→x}: where each reference colour landed on "
                                       "the sketch before the regions were painted")
        self.warped_pane = panes[2]
        self.workspace.setChildrenCollapsible(False)
        for i, stretch in enumerate((3, 3, 2)):
            self.workspace.setStretchFactor(i, stretch)
        self.workspace.setSizes([1000, 1000, 700])
        self.workspace.hide()
        fill_key = QShortcut(QKeySequence("F"), self.workspace)
        fill_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        fill_key.activated.connect(lambda: self.fill_check.toggle())
        pin_key = QShortcut(QKeySequence("P"), self.workspace)
        pin_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        pin_key.activated.connect(lambda: self.pin_check.toggle())

    def _build_page(self) -> None:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self._sketch_group())
        lay.addWidget(self._reference_group())

        self.engine_box = EngineBox("Colouring engine", BACKEND_CHOICES, ENGINE_NAMES, combo_name="opera_backend",
                                    note_name="opera_backend_info")
        self.backend_combo, self.backend_info = self.engine_box.combo, self.engine_box.note
        self.engine_box.set_tip(CLASSICAL, "Closed regions of the sketch painted with the dominant colour of the "
                                           "aligned reference")
        self.engine_box.chosen.connect(self._backend_chosen)
        self.warped_check = QCheckBox("Warped exemplar beside the result")
        self.warped_check.setToolTip("Show the reference as the engine's correspondence placed it on the sketch")
        self.warped_check.setChecked(False)  # the sketch and the result get the room; pins / reference show it
        self.warped_pane.setVisible(False)
        self.warped_check.toggled.connect(self._warped_toggled)
        self.engine_box.add_widget(self.warped_check)
        lay.addWidget(self.engine_box)
        self.refresh_engines()

        self.generation = GenerationStrip(self.host.submit)
        self.generation.chosen.connect(self.use_generated)
        lay.addWidget(self.generation)
        lay.addWidget(self._paint_group())

        self.class_label = QLabel("Main colour: —")
        self.class_label.setObjectName("opera_class")
        self.class_label.setWordWrap(True)
        self.class_label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.class_label)
        self.export_colour_button = QPushButton("Export coloured PNG…")
        self.export_colour_button.setToolTip("PNG transparent outside the face")
        self.export_colour_button.setEnabled(False)
        self.export_colour_button.clicked.connect(self.host.export_requested)
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
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _sketch_group(self) -> QGroupBox:
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
        # the fill tool sits beside the brush: it repaints a region of the colour result
        self.fill_check = QToolButton()
        self.fill_check.setText("Fill (F)")
        self.fill_check.setObjectName("opera_fill_tool")
        self.fill_check.setCheckable(True)
        self.fill_check.setToolTip("Fill tool: click a region of the coloured result to repaint it (undoable)")
        self.colour_button = SwatchButton("Fill colour…", OPERA_COLOUR_RGB["red"])
        self.colour_button.setToolTip("Choose the paint of the fill tool (Ctrl+click the result picks one)")
        self.colour_button.clicked.connect(self._choose_fill_colour)
        g.addWidget(self.brush_button, 0, 0)
        g.addWidget(self.eraser_button, 0, 1)
        g.addWidget(self.fill_check, 0, 2)
        g.addWidget(self.colour_button, 0, 3)
        g.addWidget(self.size_spin, 5, 0, 1, 2)
        g.addWidget(self.mirror_check, 5, 2, 1, 2)
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
        self.side_combo.setToolTip("Size of a new blank canvas (press New)")
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Start a blank canvas of the chosen size (undoable)")
        self.new_button.clicked.connect(lambda: self.sketch.new_canvas(int(self.side_combo.currentData())))
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Erase the whole sketch (undoable)")
        self.clear_button.clicked.connect(self.sketch.clear)
        g.addWidget(self.side_combo, 2, 0, 1, 2)
        g.addWidget(self.new_button, 2, 2)
        g.addWidget(self.clear_button, 2, 3)
        self.import_button = QPushButton("Import picture…")
        self.import_button.setToolTip("A picture as line art (with the line extractor below), fitted into the canvas")
        self.import_button.clicked.connect(self._import_picture_dialog)
        self.use_doc_button = QPushButton("Opened image")
        self.use_doc_button.setToolTip("The image opened in the window as line art (with the line extractor below)")
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
        # the studio's one extractor choice (the Line art tab shows the same): imports draw with it
        # and the colouring finds the reference's strokes with it
        self.extractor_combo = QComboBox()
        self.extractor_combo.setObjectName("opera_colour_extractor")
        for key, label in EXTRACTOR_CHOICES:
            self.extractor_combo.addItem(label.split(" — ")[0], key)
        self.extractor_combo.setToolTip("Line extractor of the sketch (the Line art tab's choice): pictures are "
                                        "imported and traced with it, and the colouring reads the reference's "
                                        "strokes with the same one")
        self.extractor_combo.setCurrentIndex(self.extractor_combo.findData(self.extractor))
        self.extractor_combo.activated.connect(
            lambda i: self.host.push_param("extractor", self.extractor_combo.itemData(i), studio=STUDIO))
        g.addWidget(QLabel("Lines"), 6, 0)
        g.addWidget(self.extractor_combo, 6, 1, 1, 3)
        return sk

    @property
    def extractor(self) -> str:
        """The line extractor chosen for the line art (``"xdog"`` / ``"hed"``, the studio's parameter)."""
        return str(self.doc.param(STUDIO, "extractor"))

    def show_extractor(self, extractor: str) -> None:
        """The extractor choice changed (either tab, undo or redo): show it and colour again."""
        self.extractor_combo.blockSignals(True)
        self.extractor_combo.setCurrentIndex(self.extractor_combo.findData(extractor))
        self.extractor_combo.blockSignals(False)
        self.recolour()

    def _reference_group(self) -> QGroupBox:
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
        self.colour_combo.currentIndexChanged.connect(lambda _i: self._show_meaning())
        self.role_combo = QComboBox()
        self.role_combo.setObjectName("opera_role")
        self.role_combo.addItem("classic template", None)
        self.role_combo.addItem("any role type", "any")
        for key, rt in ROLE_TYPES.items():
            self.role_combo.addItem(rt.title, key)  # the Chinese name in the tooltip: not every font has it
            self.role_combo.setItemData(self.role_combo.count() - 1, f"{rt.name}: {rt.description}",
                                        Qt.ItemDataRole.ToolTipRole)
        self.role_combo.setCurrentIndex(self.role_combo.findData("any"))
        self.role_combo.setToolTip("Role type: the composition of the face (整脸 whole face, 三块瓦 three tiles, "
                                   "十字门 cross door …)")
        self.role_combo.currentIndexChanged.connect(lambda _i: self._show_meaning())
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Add a procedural lianpu of this type, seed and main colour and use it")
        self.generate_button.clicked.connect(lambda: self.generate_reference(
            self.seed_spin.value(), self.colour_combo.currentData(), self.role_combo.currentData()))
        row.addWidget(self.role_combo, 1)
        rl.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.seed_spin)
        row.addWidget(self.colour_combo)
        row.addWidget(self.generate_button)
        rl.addLayout(row)
        self.meaning_label = QLabel("")
        self.meaning_label.setObjectName("opera_role_meaning")
        self.meaning_label.setWordWrap(True)
        self.meaning_label.setStyleSheet("color: #666;")
        rl.addWidget(self.meaning_label)
        self.show_reference_check = QCheckBox("Show the reference large (right pane)")
        self.show_reference_check.setObjectName("opera_show_reference")
        self.show_reference_check.setToolTip("The right pane shows the reference itself instead of the warped exemplar")
        self.show_reference_check.toggled.connect(self._show_reference_toggled)
        rl.addWidget(self.show_reference_check)
        self._show_meaning()
        return rf

    def _warped_toggled(self, on: bool) -> None:
        self.warped_pane.setVisible(on or self.pin_check.isChecked() or self.show_reference_check.isChecked())

    def _show_reference_toggled(self, on: bool) -> None:
        if not on and not self.pin_check.isChecked():
            self.warped_pane.setVisible(self.warped_check.isChecked())
        self._show_right_pane()
        self._show_pins()

    def _show_meaning(self) -> None:
        """What the chosen role type and main colour mean."""
        from engine.studios.opera.classical import OPERA_COLOUR_MEANINGS

        role, colour = self.role_combo.currentData(), self.colour_combo.currentData()
        parts = []
        if role in ROLE_TYPES:
            parts.append(f"{ROLE_TYPES[role].title}: {ROLE_TYPES[role].description}.")
            self.meaning_label.setToolTip(ROLE_TYPES[role].name)
        if colour is not None:
            parts.append(f"{colour}: {OPERA_COLOUR_MEANINGS[colour]}.")
        self.meaning_label.setText(" ".join(parts))

    def _paint_group(self) -> QGroupBox:
        pt = QGroupBox("Paint")
        pl = QGridLayout(pt)
        self.reset_fills_button = QPushButton("Remove hand fills")
        self.reset_fills_button.setToolTip("Undo every region repainted with the fill tool (one undoable step)")
        self.reset_fills_button.clicked.connect(self.reset_fills)
        self.view_ref_check = QCheckBox("Show the aligned reference")
        self.view_ref_check.setToolTip("Show the reference warped onto the sketch (the paper's warped exemplar)")
        self.view_ref_check.toggled.connect(lambda _on: self._show_colour_result())
        pl.addWidget(self.reset_fills_button, 1, 0)
        pl.addWidget(self.view_ref_check, 1, 1)
        self.pin_check = QCheckBox("Match points (P)")
        self.pin_check.setObjectName("opera_pin_mode")
        self.pin_check.setToolTip("Click a point on the reference (right pane), then the point of the coloured sketch "
                                  "that should take its paint: a numbered pin, honoured before the automatic match "
                                  "(Ctrl+Z removes it)")
        self.pin_check.toggled.connect(self._pin_mode_toggled)
        self.clear_pins_button = QPushButton("Remove pins")
        self.clear_pins_button.setToolTip("Remove every click-to-match pin (one undoable step)")
        self.clear_pins_button.clicked.connect(self.clear_pins)
        pl.addWidget(self.pin_check, 2, 0)
        pl.addWidget(self.clear_pins_button, 2, 1)
        pl.addWidget(QLabel("Reference strength"), 3, 0)
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setObjectName("opera_strength")
        self.strength_slider.setRange(0, 100)
        self.strength_slider.setValue(100)
        self.strength_slider.setToolTip("100 %: the reference's paint; 0 %: the sketch's own fills; between: a blend")
        self.strength_slider.valueChanged.connect(
            lambda v: self.host.push_param("strength", v / 100.0, merge_key=STRENGTH_MERGE, studio=COLOUR,
                                           text="Reference strength"))
        pl.addWidget(self.strength_slider, 3, 1)
        return pt

    def _show_brush_size(self, size: int) -> None:
        self.size_spin.blockSignals(True)
        self.size_spin.setValue(size)
        self.size_spin.blockSignals(False)

    def _show_mirror(self, on: bool) -> None:
        self.mirror_check.blockSignals(True)
        self.mirror_check.setChecked(on)
        self.mirror_check.blockSignals(False)

    # -- session ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Fill the gallery with the starter designs and the opened image, and look for the
        trained generator (once, in the worker)."""
        if self.started:
            return
        self.started = True

        def job(token: CancelToken) -> list[Reference]:
            out = []
            for seed in GALLERY_SEEDS:
                token.raise_if_cancelled()
                out.append(generated_reference(seed, None))
            return out

        self.host.submit(GALLERY + ".init", job, lambda refs: self._receive_references(refs, select=False))
        if self.doc.image is not None:
            self.add_document_reference()
        self.generation.load()

    def on_param_changed(self, key: str, value: Any) -> None:
        """A Colour-tab parameter changed (edit, undo or redo): show it and colour again."""
        if key == "reference":
            self.gallery.select_key(value)
            self._pin_pending = None
        elif key == "backend":
            self.refresh_engines()
        elif key == "strength":
            self.strength_slider.blockSignals(True)
            self.strength_slider.setValue(round(float(value) * 100))
            self.strength_slider.blockSignals(False)
        self._show_pins()
        self.recolour()

    # -- gallery ----------------------------------------------------------------------------------
    def add_document_reference(self) -> None:
        """The opened image joins the gallery (in the worker, with its thumbnail)."""
        image, path = self.doc.image, self.doc.path
        name = path.name if path is not None else "opened image"

        def job(token: CancelToken) -> list[Reference]:
            return [Reference(f"doc:{path}", name, image, thumbnail(image))]

        self.host.submit(GALLERY + ".doc", job, lambda refs: self._receive_references(refs, select=False))

    def add_reference_files(self, paths: list[str]) -> None:
        """Load pictures into the gallery (in the worker); the first one becomes the reference."""
        files = [Path(p) for p in paths]

        def job(token: CancelToken) -> tuple[list[Reference], list[str]]:
            refs, errors = [], []
            for p in files:
                token.raise_if_cancelled()
                try:
                    refs.append(picture_reference(p))
                except Exception as exc:  # one bad file must not lose the others
                    errors.append(f"{p.name}: {exc}")
            return refs, errors

        self.host.submit(GALLERY + ".files", job, self._files_added)

    def _files_added(self, value: object) -> None:
        assert isinstance(value, tuple)
        refs, errors = value
        self._receive_references(refs, select=True)
        if errors:
            self.host.report_error("could not add " + "; ".join(errors))

    def _add_reference_dialog(self) -> None:
        from engine.imageio import LOAD_EXTENSIONS

        exts = " ".join(f"*{e}" for e in LOAD_EXTENSIONS)
        paths, _ = QFileDialog.getOpenFileNames(self, "Add reference pictures", "", f"Images ({exts})")
        if paths:
            self.add_reference_files(paths)

    def generate_reference(self, seed: int, colour: str | None, role: str | None = None) -> None:
        """Generate a procedural design (in the worker), add it, make it the reference and show it
        large in the right pane.

        Args:
            seed: design seed.
            colour: main colour to force, or ``None``.
            role: role type key, ``"any"``, or ``None`` for the classic template.

        Raises:
            ValueError: unknown main colour or role type.
        """
        if colour is not None and colour not in OPERA_COLOURS:
            raise ValueError(f"unknown main colour {colour!r}; known: {', '.join(OPERA_COLOURS)}")
        if role is not None and role != "any" and role not in ROLE_TYPES:
            raise ValueError(f"unknown role type {role!r}; known: any, {', '.join(ROLE_TYPES)}")

        def job(token: CancelToken) -> list[Reference]:
            return [generated_reference(int(seed), colour, role=role)]

        def done(refs: object) -> None:
            self._receive_references(refs, select=True)
            self.show_reference_check.setChecked(True)
            self._show_right_pane()
            self.workspace.setSizes([1000, 1000, 1000])  # the new design as large as the sketch

        self.host.submit(GALLERY + ".generate", job, done)

    def use_generated(self, sample: Sample) -> None:
        """A design from the generation strip joins the gallery and becomes the colour reference
        (one undo step, like choosing any gallery entry)."""
        ref = Reference(sample.key, sample.label, sample.image, thumbnail(sample.image))
        self._receive_references([ref], select=True)

    def _receive_references(self, refs: Any, select: bool) -> None:
        refs = list(refs)
        for ref in refs:
            self.references[ref.key] = ref
            self.gallery.add_entry(ref.key, ref.label, ref.thumb)
        if not refs:
            return
        current = self.doc.param(COLOUR, "reference")
        if select and refs[0].key != current:
            self.set_reference(refs[0].key)
        elif current not in self.references:
            self.doc.set_param(COLOUR, "reference", refs[0].key)  # first default, not an edit
        self.gallery.select_key(self.doc.param(COLOUR, "reference"))

    def _gallery_clicked(self, item: QListWidgetItem) -> None:
        self.set_reference(item.data(Qt.ItemDataRole.UserRole))

    def set_reference(self, key: str) -> None:
        """Colour from gallery entry ``key`` (one undo step).

        Raises:
            KeyError: no such gallery entry.
        """
        if key not in self.references:
            raise KeyError(f"no gallery reference {key!r}")
        if key != self.doc.param(COLOUR, "reference"):
            self.host.push_param("reference", key, studio=COLOUR, text="Choose reference")

    def current_reference(self) -> Reference | None:
        """The gallery entry colours come from, if any."""
        return self.references.get(self.doc.param(COLOUR, "reference"))

    # -- sketch input / output ----------------------------------------------------------------------
    def _sketch_side(self) -> int:
        return int(max(self.sketch.layer.shape))

    def _sketch_job(self, job: Any) -> None:
        """Run ``job`` (``-> (line art, undo text)``) in the worker; its line art replaces the sketch."""
        self.host.submit(SKETCH_IO, job, self._receive_line_art)

    def _receive_line_art(self, value: object) -> None:
        assert isinstance(value, tuple)
        pixels, text = value
        self.sketch.set_line_art(pixels, text)

    def _import_picture_dialog(self) -> None:
        from engine.imageio import LOAD_EXTENSIONS

        exts = " ".join(f"*{e}" for e in LOAD_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Import a picture as line art", "", f"Images ({exts})")
        if path:
            self.import_picture(path)

    def import_picture(self, path: str | Path) -> None:
        """Load a picture and turn it into line art (the chosen extractor) in the worker; one undo step."""
        side, extractor = self._sketch_side(), self.extractor
        p = Path(path)

        def job(token: CancelToken) -> tuple[np.ndarray, str]:
            from engine.imageio import load_image

            return line_art_from_picture(load_image(p), side, extractor=extractor), f"Import {p.name}"

        self._sketch_job(job)

    def import_document_image(self) -> None:
        """The opened image as line art (the chosen extractor, in the worker); one undo step."""
        image = self.doc.image
        if image is None:
            self.host.report_error("open an image first (Ctrl+O)")
            return
        side, extractor = self._sketch_side(), self.extractor

        def job(token: CancelToken) -> tuple[np.ndarray, str]:
            return line_art_from_picture(image, side, extractor=extractor), "Import opened image"

        self._sketch_job(job)

    def trace_reference(self) -> None:
        """Replace the sketch by the current reference's line art (its own for procedural designs,
        the chosen extractor's for pictures); in the worker, one undo step."""
        ref = self.current_reference()
        if ref is None:
            self.host.report_error("choose a reference first")
            return
        side, extractor = self._sketch_side(), self.extractor

        def job(token: CancelToken) -> tuple[np.ndarray, str]:
            if ref.seed is not None:
                from engine.procedural.lianpu import generate_lianpu

                return generate_lianpu(ref.seed, ref.colour, side, role=ref.role).line_art, f"Trace {ref.label}"
            return line_art_from_picture(ref.image, side, extractor=extractor), f"Trace {ref.label}"

        self._sketch_job(job)

    def _load_sketch_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load line art", "",
                                              "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)")
        if path:
            self.load_sketch(path)

    def load_sketch(self, path: str | Path) -> None:
        """Load a line-art picture into the sketch (in the worker); one undo step."""
        p = Path(path)

        def job(token: CancelToken) -> tuple[np.ndarray, str]:
            from engine.imageio import load_grey

            return fit_side_range(load_grey(p)), f"Load {p.name}"

        self._sketch_job(job)

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

        # its own channel: a following export must not replace it
        self.host.submit(SAVE_SKETCH, job, lambda written: self.host.message.emit(f"Saved sketch {written}"))

    # -- colouring --------------------------------------------------------------------------------
    def _on_sketch_edited(self) -> None:
        self._sketch_version += 1
        self.recolour()

    def recolour(self) -> None:
        """Colour the sketch from the reference in the worker (newest request wins)."""
        if not self.started:
            return
        ref = self.current_reference()
        if ref is None:
            self.colour_info.setText("Pick a reference in the gallery")
            return
        if self.sketch.layer.is_uniform(255):
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
        pins = tuple(tuple(pin) for pin in self.doc.param(COLOUR, "pins"))
        strength = float(self.doc.param(COLOUR, "strength"))
        extractor = self.extractor
        cache = self._colour_cache  # touched by worker jobs only (one at a time)

        def job(token: CancelToken) -> ColourOutcome:
            from engine.studios.opera.classical import classify_main_colour, recolour_region

            t0 = time.perf_counter()
            key = (version, ref.key, sketch.shape, requested, pins, strength, extractor)
            if cache.get("key") != key:
                cache["base"], cache["info"] = colour_sketch(sketch, ref.image, requested,
                                                             colour_params(pins, strength, extractor))
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
                cls: ColourClass | None = classify_main_colour(res.image, res.face_mask)
            except ValueError:
                cls = None
            return ColourOutcome(res, cls, ref.key, applied, (time.perf_counter() - t0) * 1e3,
                                 requested=requested, backend=info["backend"], method=info["method"],
                                 note=info["note"], device=info["device"])

        self.host.submit(COLOUR, job, self._receive_colour)

    def _receive_colour(self, value: object) -> None:
        assert isinstance(value, ColourOutcome)
        out = value
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
                f"{len(self.doc.param(COLOUR, 'fills'))} hand fills · {len(self.doc.param(COLOUR, 'pins'))} pins · "
                f"{out.elapsed_ms:.0f} ms")
        self.colour_info.setText(f"{text}\nWhy: {out.note}" if out.note else text)
        self.host.engine_status.emit(text)
        self.host.device_used.emit(out.device)
        self._warped_title = f"Warped exemplar — {ENGINE_NAMES.get(out.backend, out.backend)}"
        self._show_right_pane()

    def _show_colour_result(self) -> None:
        res = self.colour_result
        if res is None:
            return
        h, w = res.image.shape[:2]
        self.result_view.set_document_size(QSize(w, h))
        self.result_view.set_after(to_qimage(res.warped_reference if self.view_ref_check.isChecked() else res.image))
        self._show_right_pane()
        self._show_pins()

    def _show_right_pane(self) -> None:
        """The right pane: the reference itself in match mode (clicks pick pin points), otherwise the
        warped exemplar."""
        ref = self.current_reference()
        if (self.pin_check.isChecked() or self.show_reference_check.isChecked()) and ref is not None:
            h, w = ref.image.shape[:2]
            self.warped_pane.setVisible(True)
            self.warped_caption.setText("Reference — click a point, then its place on the colour result"
                                        if self.pin_check.isChecked() else f"Reference — {ref.label}")
            self.warped_view.set_document_size(QSize(w, h))
            self.warped_view.set_after(to_qimage(ref.image))
            return
        self.warped_caption.setText(self._warped_title)
        res = self.colour_result
        if res is None:
            return
        h, w = res.image.shape[:2]
        self.warped_view.set_document_size(QSize(w, h))
        self.warped_view.set_after(to_qimage(res.warped_reference))

    def export(self, path: str) -> None:
        """Save the coloured mask (PNG/WebP: transparent outside the face) atomically in the worker."""
        res = self.colour_result
        if res is None:
            self.host.report_error("nothing coloured yet")
            return

        def job(token: CancelToken) -> str:
            from engine.imageio import save_image

            rgba = str(path).lower().endswith((".png", ".webp"))
            return str(save_image(path, res.rgba() if rgba else res.image))

        self.host.submit(EXPORT, job, lambda written: self.host.message.emit(f"Exported {written}"))

    # -- engine choice ------------------------------------------------------------------------------
    def refresh_engines(self) -> None:
        """Bind the engine box to the requested engine's resolution (from the card; nothing loads)."""
        requested = str(self.doc.param(COLOUR, "backend"))
        self.resolution = self.host.rebind_engine(self.engine_box, ColorizeEditor.learned, requested)
        if self.resolution.requested != requested:  # the learned checkpoint went away: auto (not an edit)
            self.doc.set_param(COLOUR, "backend", self.resolution.requested)

    def backend_enabled(self, backend: str) -> bool:
        """Whether ``backend`` can be chosen in the selector."""
        return self.engine_box.is_enabled(backend)

    def _backend_chosen(self, backend: str) -> None:
        try:
            self.set_backend(backend)
        except ValueError as exc:
            self.host.report_error(str(exc))

    def set_backend(self, backend: str) -> None:
        """Colour with ``"auto"``, ``"classical"`` or ``"neural"`` (one undo step).

        Raises:
            ValueError: unknown name, or ``"neural"`` while no usable checkpoint exists (the
                previous choice stays).
        """
        if backend not in dict(BACKEND_CHOICES):
            raise ValueError(f"backend must be one of {', '.join(dict(BACKEND_CHOICES))}, got {backend!r}")
        try:
            engine_resolution(ColorizeEditor.learned, backend)
        except ValueError as exc:
            self.engine_box.refuse(str(exc))
            raise
        if backend != self.doc.param(COLOUR, "backend"):
            self.host.push_param("backend", backend, studio=COLOUR, text="Colouring engine")

    # -- hand fill ----------------------------------------------------------------------------------
    @property
    def fill_rgb(self) -> tuple[int, int, int]:
        """The paint of the fill tool."""
        return self.colour_button.rgb

    def set_fill_colour(self, rgb: tuple[int, int, int]) -> None:
        """Make ``rgb`` the paint of the fill tool."""
        self.colour_button.set_rgb(rgb)

    def _choose_fill_colour(self) -> None:
        c = QColorDialog.getColor(QColor(*self.fill_rgb), self, "Fill colour")
        if c.isValid():
            self.set_fill_colour((c.red(), c.green(), c.blue()))

    def _on_result_clicked(self, x: float, y: float, ctrl: bool) -> None:
        res = self.colour_result
        if res is None:
            return
        xi, yi = int(x), int(y)
        h, w = res.image.shape[:2]
        if not (0 <= xi < w and 0 <= yi < h):
            return
        if ctrl:
            r, g, b = (int(v) for v in res.image[yi, xi])
            self.set_fill_colour((r, g, b))
            self.host.message.emit(f"Fill colour picked: rgb{self.fill_rgb}")
        elif self.pin_check.isChecked():
            if self._pin_pending is None:
                self.host.message.emit("Click the point on the reference (right pane) first")
            elif not res.face_mask[yi, xi]:
                self.host.report_error("that point is outside the face: nothing to match")
            else:
                self.add_pin(self._pin_pending, (x / w, y / h))
        elif self.fill_check.isChecked():
            self.fill_region(xi, yi, self.fill_rgb)
        else:
            self.host.message.emit("Turn on the fill tool (F) to repaint a region; Ctrl+click picks its colour")

    def fill_region(self, x: int, y: int, rgb: tuple[int, int, int]) -> None:
        """Repaint the region of the result under sketch pixel ``(x, y)`` (one undo step)."""
        res = self.colour_result
        if res is not None and not res.face_mask[y, x]:
            self.host.report_error("that point is outside the face: nothing to fill")
            return
        fills = tuple(self.doc.param(COLOUR, "fills")) + ((int(x), int(y), *(int(v) for v in rgb)),)
        self.host.push_param("fills", fills, studio=COLOUR, text="Fill region")

    def reset_fills(self) -> None:
        """Drop every hand fill (one undo step)."""
        if self.doc.param(COLOUR, "fills"):
            self.host.push_param("fills", (), studio=COLOUR, text="Remove hand fills")

    # -- click-to-match pins ------------------------------------------------------------------------
    def _pin_mode_toggled(self, on: bool) -> None:
        self._pin_pending = None
        if on:
            self.warped_pane.setVisible(True)
            self.host.message.emit("Match points: click a point on the reference, then where it belongs on the colour")
        else:
            self.warped_pane.setVisible(self.warped_check.isChecked() or self.show_reference_check.isChecked())
        self._show_right_pane()
        self._show_pins()

    def _on_reference_clicked(self, x: float, y: float, ctrl: bool) -> None:
        ref = self.current_reference()
        if not self.pin_check.isChecked() or ref is None:
            return
        h, w = ref.image.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            return
        self.pick_reference_point(x / w, y / h)

    def pick_reference_point(self, fx: float, fy: float) -> None:
        """The reference half of a pin (fractions of the reference); the next click on the colour
        result completes it."""
        self._pin_pending = (min(max(fx, 0.0), 1.0), min(max(fy, 0.0), 1.0))
        n = len(self.doc.param(COLOUR, "pins")) + 1
        self.host.message.emit(f"Pin {n}: now click where this paint belongs on the colour result")
        self._show_pins()

    def add_pin(self, ref_xy: tuple[float, float], sketch_xy: tuple[float, float]) -> None:
        """Pin reference point ``ref_xy`` to sketch point ``sketch_xy`` (fractions; one undo step).

        Raises:
            ValueError: a coordinate outside [0, 1].
        """
        pin = Pin(ref_xy[0], ref_xy[1], sketch_xy[0], sketch_xy[1]).validate()
        pins = tuple(self.doc.param(COLOUR, "pins")) + ((pin.ref_x, pin.ref_y, pin.sketch_x, pin.sketch_y),)
        self._pin_pending = None
        self.host.push_param("pins", pins, studio=COLOUR, text=f"Pin colour match {len(pins)}")

    def clear_pins(self) -> None:
        """Drop every pin (one undo step)."""
        self._pin_pending = None
        if self.doc.param(COLOUR, "pins"):
            self.host.push_param("pins", (), studio=COLOUR, text="Remove pins")
        self._show_pins()

    def _show_pins(self) -> None:
        """Numbered markers: on the colour result always, on the reference in match mode."""
        pins = list(self.doc.param(COLOUR, "pins"))
        res = self.colour_result
        if res is not None and pins:
            h, w = res.image.shape[:2]
            self.result_view.set_handles(np.array([(p[2] * w, p[3] * h) for p in pins], np.float32),
                                         [str(i + 1) for i in range(len(pins))])
        else:
            self.result_view.set_handles(None)
        ref = self.current_reference()
        if (self.pin_check.isChecked() or self.show_reference_check.isChecked()) and ref is not None:
            h, w = ref.image.shape[:2]
            pts = [(p[0] * w, p[1] * h) for p in pins]
            labels = [str(i + 1) for i in range(len(pins))]
            if self._pin_pending is not None:
                pts.append((self._pin_pending[0] * w, self._pin_pending[1] * h))
                labels.append(f"{len(pins) + 1}?")
            self.warped_view.set_handles(np.array(pts, np.float32) if pts else None, labels)
        else:
            self.warped_view.set_handles(None)
