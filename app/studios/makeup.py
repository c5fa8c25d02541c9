"""Makeup studio panel: region toggles with a style and an intensity each, a global style shortcut,
global intensity, region-mask overlay, before/after (canvas split / hold ``\\``), export, batch.

Intensities follow one model, the engine's and the command line's: what a region is painted with
is its own intensity × the global intensity (:meth:`MakeupParams.strength`, ``--intensity``). The
global slider ("All enabled regions → Intensity") is the master: it scales every region and keeps
the balance between them (lips stronger than blush stays so). Each region's slider shows the
*effective* strength, the number that is painted, so moving the master visibly moves them all; a
region can be set up to the master's value (raise the master for more), and with the master at 0
the region sliders rest at 0 and are disabled. The batch button hands the batch job those effective
strengths with a global intensity of 1, so its parameters read like the panel.

Makeup from a photo: each region that can be measured (lips, eyeshadow, cheek, base, eyeliner) has
a "Photo…" button beside its row; click it to pick a photo, or drop an image file on it. The
photo is analysed in the worker, its makeup measured relative to its own skin
(:mod:`engine.studios.makeup.reference`), and the row switches to the new style ``photo: <file>``
(one undo step), showing the photo's thumbnail; the style is offered to every region, so one photo
can serve all of them ("From photo…" under *All enabled regions* does that at once) or each region its
own. "Save style…" stores the photos' regions as a named style in the user style folder. The
``makeup-removal`` style takes the makeup off a region (its slider is the removal strength).

Every change is a document parameter set through the studio's undo stack; renders go through the
worker (latest wins). The engine (:class:`~engine.studios.makeup.editor.MakeupEditor`, its face
analyzer and — when its card says it measured better — the makeup GAN) is made and run only inside
worker jobs; the info line says what runs from the GAN's card alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PySide6.QtGui import QColor, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.model.document import Document
from app.qt_image import to_qimage
from app.studios.base import StudioPanel, WorkerEditor, edit_summary, engine_resolution
from app.widgets.canvas import ImageCanvas
from app.widgets.engine_box import runs_line
from app.widgets.param_slider import ParamSlider
from app.widgets.reference_gallery import thumbnail
from app.widgets.region_row import REFERENCE_THUMB, RegionRow
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.studios.base import EditResult
from engine.studios.makeup.editor import MakeupEditor
from engine.studios.makeup.params import (
    REFERENCE_REGIONS,
    REGIONS,
    REMOVAL_STYLE,
    MakeupParams,
    MakeupStyle,
    load_styles,
)
from engine.studios.makeup.removal import removal_style

STUDIO = "makeup"
RENDER = "makeup.render"
REFERENCE = "makeup.reference"
PHOTO_PREFIX = "photo: "
"""Reference styles are named ``photo: <file name>`` in the panel's style pickers."""

REGION_TITLES: dict[str, str] = {"lips": "Lips", "eyeshadow": "Eyeshadow", "eyeliner": "Eyeliner",
                                 "cheek": "Cheek / blush", "base": "Base", "brows": "Brows"}
REGION_WORDS: dict[str, str] = {"lips": "lip", "eyeshadow": "eyeshadow", "eyeliner": "eyeliner",
                                "cheek": "blush", "base": "base", "brows": "brow"}
"""How undo texts name a region's settings: "Change lip style", "Change blush intensity"."""
PANEL_ORDER: tuple[str, ...] = ("lips", "eyeshadow", "cheek", "base", "eyeliner", "brows")
"""Rows of the region table, most used first."""
ENGINE_NAMES = {"classical": "the classical renderer", "neural": "the makeup GAN"}

OVERLAY_COLOURS: dict[str, tuple[int, int, int]] = {
    "base": (240, 200, 60), "cheek": (255, 90, 160), "eyeshadow": (150, 70, 230),
    "eyeliner": (20, 20, 20), "brows": (140, 80, 30), "lips": (230, 20, 40),
}
"""Colour of each region in the mask overlay."""

OVERLAY_ALPHA = 150
"""Overlay opacity (0–255) at full mask strength."""


def default_params(styles: Mapping[str, MakeupStyle]) -> dict[str, Any]:
    """The panel's document parameters: ``<region>_on``, ``<region>_style``, ``<region>_intensity``
    per region and the global ``intensity`` (lips, eyeshadow and cheek on, style ``korean`` when
    it exists).

    Args:
        styles: the style table.

    Returns:
        ``{parameter: default}``.
    """
    first = "korean" if "korean" in styles else next(iter(styles))
    out: dict[str, Any] = {"intensity": 0.8}
    for r in REGIONS:
        have = [n for n, s in styles.items() if r in s.regions]
        out[f"{r}_on"] = r in ("lips", "eyeshadow", "cheek")
        out[f"{r}_style"] = first if first in have else (have[0] if have else "")
        out[f"{r}_intensity"] = 1.0
    return out


def params_from_doc(d: Mapping[str, Any], styles: Mapping[str, MakeupStyle]) -> MakeupParams:
    """Document parameters → validated :class:`MakeupParams`.

    Raises:
        ValueError: an unknown style or an intensity out of range.
    """
    regions = {r: (d[f"{r}_style"] or None) if d[f"{r}_on"] else None for r in REGIONS}
    p = MakeupParams(regions, {r: float(d[f"{r}_intensity"]) for r in REGIONS}, float(d["intensity"]))
    return p.validate(styles)


RELATION_TEXT = "Region sliders show the strength painted: each region's own setting × this master intensity."
"""The line under the master slider that says how the sliders relate."""


def effective_intensity(d: Mapping[str, Any], region: str) -> float:
    """The strength ``region`` is painted with: its own intensity × the global one (document values).

    Args:
        d: the panel's document parameters.
        region: the region.

    Returns:
        The effective intensity 0–1 (what the region slider shows).
    """
    return float(d[f"{region}_intensity"]) * float(d["intensity"])


def overlay_rgba(masks: Mapping[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """RGBA ``uint8`` ``[H, W, 4]``: each region's mask in its :data:`OVERLAY_COLOURS` colour."""
    rgba = np.zeros(shape + (4,), np.uint8)
    for r in REGIONS:
        m = masks.get(r)
        if m is None:
            continue
        a = (m.astype(np.uint16) * OVERLAY_ALPHA // 255).astype(np.uint8)
        top = a > rgba[..., 3]
        rgba[top, :3] = OVERLAY_COLOURS[r]
        rgba[top, 3] = a[top]
    return rgba


class MakeupPanel(StudioPanel):
    """Region toggles + style per region + intensities, bound to the document; renders via the worker."""

    name = STUDIO
    title = "Makeup"
    icon = "mdi6.lipstick"
    export_suffix = "makeup"
    view_channels = (RENDER,)
    settings_group = "makeup"
    batch_op = "makeup"
    param_texts = {"intensity": "makeup intensity",
                   **{f"{r}_style": f"{w} style" for r, w in REGION_WORDS.items()},
                   **{f"{r}_intensity": f"{w} intensity" for r, w in REGION_WORDS.items()}}

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: QWidget | None = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.styles = load_styles()
        self.styles[REMOVAL_STYLE] = removal_style()
        self.editor: WorkerEditor[None, MakeupEditor] = WorkerEditor(lambda _key: MakeupEditor("auto", styles=self.styles))
        self.reference_photos: dict[str, tuple[str, np.ndarray]] = {}  # style name -> (path, thumbnail)
        self.result: EditResult | None = None
        self.show_masks = False
        self.defaults = default_params(self.styles)
        doc.declare(STUDIO, self.restore_params(self.defaults, lambda d: params_from_doc(d, self.styles)))
        self._build()
        self.sync_widgets()

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()  # the controls scroll on short windows instead of growing them
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        scroll.setWidget(body)
        outer.addWidget(scroll)
        lay = QVBoxLayout(body)
        box = QGroupBox("Regions")
        grid = QGridLayout(box)
        grid.setVerticalSpacing(2)
        self.rows: dict[str, RegionRow] = {}
        for i, r in enumerate(PANEL_ORDER):
            row = RegionRow(r, REGION_TITLES[r], [n for n, s in self.styles.items() if r in s.regions], grid, 2 * i)
            row.check.toggled.connect(lambda on, r=r: self.push_param(f"{r}_on", bool(on)))
            row.combo.currentTextChanged.connect(lambda text, r=r: self.push_param(f"{r}_style", text))
            row.slider.edited.connect(lambda v, mk, r=r: self.set_effective_intensity(r, float(v), mk))
            if r in REFERENCE_REGIONS:
                ref = row.add_reference_target(f"{REGION_TITLES[r]} from a photo: click to choose one, or drop an "
                                               "image file here (its makeup is measured relative to its skin)")
                ref.clicked.connect(lambda _=False, r=r: self.choose_reference([r]))
                ref.file_dropped.connect(lambda path, r=r: self.use_reference(path, [r]))
            self.rows[r] = row
        lay.addWidget(box)

        glob = QGroupBox("All enabled regions")
        gl = QVBoxLayout(glob)
        h = QHBoxLayout()
        self.style_all = QComboBox()
        self.style_all.setObjectName("style_all")
        for n, s in self.styles.items():
            self.style_all.addItem(n)
            self.style_all.setItemData(self.style_all.count() - 1, s.description, 3)  # tooltip role
        self.apply_all = QPushButton("Apply style")
        self.apply_all.setObjectName("apply_all")
        self.apply_all.setToolTip("Give every enabled region that this style defines its look (one undo step)")
        self.apply_all.clicked.connect(lambda: self.apply_style_to_enabled(self.style_all.currentText()))
        h.addWidget(self.style_all, 1)
        h.addWidget(self.apply_all)
        gl.addLayout(h)
        h2 = QHBoxLayout()
        self.photo_all = QPushButton("From photo…")
        self.photo_all.setObjectName("photo_all")
        self.photo_all.setToolTip("Take the makeup of every enabled region from one photo (one undo step)")
        self.photo_all.clicked.connect(lambda: self.choose_reference(None))
        self.save_style_button = QPushButton("Save style…")
        self.save_style_button.setObjectName("save_style")
        self.save_style_button.setToolTip("Save the regions painted from photos as a named style (user style folder)")
        self.save_style_button.clicked.connect(self.ask_save_style)
        h2.addWidget(self.photo_all)
        h2.addWidget(self.save_style_button)
        gl.addLayout(h2)
        self.intensity = ParamSlider("Intensity", 0.0, 1.0, decimals=2,
                                     tooltip="Master intensity: scales every region (0 = no makeup); the region "
                                             "sliders above show the strength each region is painted with")
        self.intensity.setObjectName("slider_intensity")
        self.intensity.edited.connect(lambda v, mk: self.push_param("intensity", float(v), mk))
        gl.addWidget(self.intensity)
        self.relation_label = QLabel(RELATION_TEXT)
        self.relation_label.setObjectName("intensity_relation")
        self.relation_label.setWordWrap(True)
        gl.addWidget(self.relation_label)
        reset = QPushButton("Reset")
        reset.setToolTip("All regions, styles and intensities back to the defaults (undoable)")
        reset.clicked.connect(lambda: self.push_params(self.defaults, "Reset makeup"))
        gl.addWidget(reset)
        lay.addWidget(glob)

        vl = self.add_show_group(lay, "Makeup")
        self.masks_check = QCheckBox("Region masks")
        self.masks_check.setObjectName("check_masks")
        self.masks_check.setToolTip("Overlay each region's mask in its own colour (legend on the canvas)")
        self.masks_check.toggled.connect(self.set_show_masks)
        vl.addWidget(self.masks_check)

        self.add_export_and_info(lay, "Export result…", batch_text="Batch makeup…")
        self.refresh_engines()
        lay.addStretch(1)

    def refresh_engines(self) -> None:
        """Say which engine ``auto`` runs, from the makeup GAN's card (nothing is loaded)."""
        res = engine_resolution(MakeupEditor.learned, "auto")
        self.info_label.setText(f"{runs_line(res, ENGINE_NAMES)}\nWhy: {res.reason}")

    # -- document binding -------------------------------------------------------------------------
    def undo_text(self, key: str, value: Any) -> str:
        """"Turn on lips" / "Turn off blush" for the region switches, else "Change <words>"."""
        region, _, field = key.partition("_")
        if field == "on":
            return f"Turn {'on' if value else 'off'} {REGION_TITLES[region].lower()}"
        return super().undo_text(key, value)

    def apply_style_to_enabled(self, style: str) -> None:
        """Global shortcut: ``style`` on every enabled region that the style defines (one undo step)."""
        d = self.doc.params(STUDIO)
        values = {f"{r}_style": style for r in REGIONS if d[f"{r}_on"] and r in self.styles[style].regions}
        if values:
            self.push_params(values, f"Apply the {style} style")

    def set_effective_intensity(self, region: str, value: float, merge_key: int | None = None) -> None:
        """A region slider moved to ``value``, the strength to paint ``region`` with: store the
        region's own intensity ``value / global`` (at most 1: a region is never painted stronger
        than the master allows) through the undo stack, and show what is really painted.

        Args:
            region: the region.
            value: effective strength 0–1.
            merge_key: same for every value of one slider drag (one undo step).
        """
        g = float(self.doc.param(STUDIO, "intensity"))
        if g > 0:
            self.push_param(f"{region}_intensity", min(1.0, max(0.0, value) / g), merge_key)
        self.sync_widgets()  # a capped or refused value snaps back to what is painted

    def sync_widgets(self) -> None:
        d = self.doc.params(STUDIO)
        g = float(d["intensity"])
        for r, row in self.rows.items():
            row.show_values(d[f"{r}_on"], d[f"{r}_style"], effective_intensity(d, r))
            if row.reference is not None:
                photo = self.reference_photos.get(d[f"{r}_style"]) if d[f"{r}_on"] else None
                row.reference.set_thumbnail(None if photo is None else photo[1],
                                            "" if photo is None else d[f"{r}_style"][len(PHOTO_PREFIX):])
            row.slider.setEnabled(bool(d[f"{r}_on"]) and g > 0)
            row.slider.setToolTip(f"{REGION_TITLES[r]}: painted at {effective_intensity(d, r):.2f} = its own "
                                  f"{float(d[f'{r}_intensity']):.2f} × the master intensity {g:.2f}")
        self.intensity.set_value(g)

    # -- reference photos ---------------------------------------------------------------------------
    def choose_reference(self, regions: list[str] | None) -> None:
        """Ask for a photo and use it for ``regions`` (``None``: every enabled measurable region)."""
        path, _ = QFileDialog.getOpenFileName(self, "Makeup from a photo", "",
                                              "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp)")
        if path:
            self.use_reference(path, regions)

    def use_reference(self, path: str, regions: list[str] | None) -> None:
        """Measure the makeup of the photo ``path`` in the worker, then paint ``regions`` with it.

        Args:
            path: an image file.
            regions: regions to switch to the photo's style; ``None``: every enabled region that
                can be measured (all measurable ones when none is enabled).
        """
        from pathlib import Path

        from engine.errors import ImageLoadError
        from engine.imageio import load_image

        try:
            photo = load_image(path)
        except ImageLoadError as exc:  # one line for the user, nothing changes
            self.report_error(f"reference photo {exc}")
            return
        name = PHOTO_PREFIX + Path(path).name
        d = self.doc.params(STUDIO)
        wanted = regions or [r for r in REFERENCE_REGIONS if d[f"{r}_on"]] or list(REFERENCE_REGIONS)

        def job(token: CancelToken) -> MakeupStyle:
            token.raise_if_cancelled()
            return self.editor.get().add_reference(photo, name)

        self.submit(REFERENCE, job, lambda style: self._reference_ready(style, path, photo, wanted),
                    lambda message: self.report_error(f"{Path(path).name}: {message}"))

    def _reference_ready(self, style: object, path: str, photo: np.ndarray, regions: list[str]) -> None:
        from pathlib import Path

        assert isinstance(style, MakeupStyle)
        self.styles[style.name] = style
        thumb = thumbnail(photo, REFERENCE_THUMB)
        self.reference_photos[style.name] = (path, thumb)
        for r in style.regions:
            self.rows[r].add_style(style.name)
        if self.style_all.findText(style.name) < 0:
            self.style_all.addItem(style.name)
        values: dict[str, Any] = {}
        for r in regions:
            if r in style.regions:
                values[f"{r}_style"] = style.name
                values[f"{r}_on"] = True
        words = " and ".join(REGION_WORDS[r] for r in regions if r in style.regions)
        self.push_params(values, f"Take the {words} makeup from {Path(path).name}")
        self.sync_widgets()

    def ask_save_style(self) -> None:
        """Ask for a name and save the photo regions as a style (see :meth:`save_photo_style`)."""
        name, ok = QInputDialog.getText(self, "Save style", "Style name (letters, digits, - or _):")
        if ok and name:
            self.save_photo_style(name)

    def save_photo_style(self, name: str, path: str | None = None) -> str | None:
        """Save the enabled regions painted from photos as the style ``name``.

        Args:
            name: the style's name.
            path: style file (default ``reference_styles.json`` in the user style folder).

        Returns:
            The file written, or ``None`` when nothing could be saved (the reason is reported).
        """
        from engine.studios.makeup.params import save_styles, user_styles_dir
        from engine.studios.makeup.reference import merge_styles

        d = self.doc.params(STUDIO)
        parts = [(self.styles[d[f"{r}_style"]], [r]) for r in REFERENCE_REGIONS
                 if d[f"{r}_on"] and str(d[f"{r}_style"]).startswith(PHOTO_PREFIX) and d[f"{r}_style"] in self.styles]
        if not parts:
            self.report_error("no region is painted from a photo: nothing to save")
            return None
        try:
            style = merge_styles(name, parts)
            out = save_styles(path or user_styles_dir() / "reference_styles.json", [style])
        except (OSError, ValueError) as exc:
            self.report_error(str(exc))
            return None
        self.styles[name] = style
        for r in style.regions:
            self.rows[r].add_style(name)
        if self.style_all.findText(name) < 0:
            self.style_all.addItem(name)
        self.info_label.setText(f"Saved style {name} ({', '.join(style.regions)}) in {out}")
        return str(out)

    # -- engine -----------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Send the image + parameters to the worker (newest request wins)."""
        image = self.doc.image
        if image is None or not self.isVisible():
            return
        try:
            params = params_from_doc(self.doc.params(STUDIO), self.styles)
        except ValueError as exc:
            self.report_error(str(exc))
            return
        styles = dict(self.styles)  # a snapshot: the worker never reads the GUI thread's table

        def editor() -> MakeupEditor:
            ed = self.editor.get()
            ed.styles.update(styles)
            return ed

        self.submit_edit(RENDER, editor, image, params, self._show_result, self._render_failed)

    def _show_result(self, value: object) -> None:
        assert isinstance(value, EditResult)
        if not self.take_result(value):  # switched away meanwhile: the canvas is another studio's now
            return
        if not self.show_original:
            self.canvas.set_after(to_qimage(value.image))
        self._update_overlay(value)
        text = edit_summary(value, f"{value.info.get('faces', 0)} face(s)")
        self.report_engine(value, text)
        self.info_label.setText(text + f"\n{value.info.get('backend_reason', '')}")

    def _render_failed(self, message: str) -> None:
        self.forget_result()
        self.info_label.setText(f"Makeup: {message}")
        self.report_error(message)

    def _update_overlay(self, res: EditResult | None) -> None:
        if not self.show_masks or res is None:
            self.canvas.set_overlay(None)
            return
        rgba = overlay_rgba(res.masks, res.image.shape[:2])
        legend = [(REGION_TITLES[r], QColor(*OVERLAY_COLOURS[r])) for r in PANEL_ORDER if r in res.masks]
        self.canvas.set_overlay(to_qimage(rgba), None, legend)

    # -- view -------------------------------------------------------------------------------------
    def set_show_masks(self, on: bool) -> None:
        """Overlay the region masks (each in its colour, with a legend) on the canvas."""
        self.show_masks = bool(on)
        if self.masks_check.isChecked() != self.show_masks:
            self.masks_check.setChecked(self.show_masks)
        self._update_overlay(self.result)

    def activate(self) -> None:
        self.show_document(after=self.doc.image)
        self.request_render()
        self._update_overlay(self.result)

    # -- export -----------------------------------------------------------------------------------
    def batch_params(self) -> dict[str, Any]:
        """The current settings in the batch op's flat form.

        Raises:
            ValueError: the current settings are not valid.
        """
        from engine.studios.makeup.params import normalize_flat

        p = params_from_doc(self.doc.params(STUDIO), self.styles)
        on = p.enabled()
        # exactly what the panel paints and shows: the enabled regions' styles (no "regions" list,
        # which only says where a global "style" goes), each at its effective strength, master 1
        flat: dict[str, Any] = {"style": None, "regions": None}
        flat.update({r: p.regions.get(r) for r in REGIONS})
        flat.update({f"{r}_intensity": p.strength(r) if r in on else 1.0 for r in REGIONS})
        flat["intensity"] = 1.0
        for r in on:  # a region painted from a photo: the batch job measures the same file
            photo = self.reference_photos.get(str(p.regions.get(r)))
            if photo is not None and r in REFERENCE_REGIONS:
                flat[r] = None
                flat[f"{r}_reference"] = photo[0]
        return normalize_flat(flat)
