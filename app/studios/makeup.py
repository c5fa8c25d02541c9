"""Makeup studio panel: region toggles with a style and an intensity each, a global style shortcut,
global intensity, region-mask overlay, before/after (canvas split / hold ``\\``), export, batch.

Every change is a document parameter set through the undo stack; renders go through the worker
(latest wins). The engine (:class:`~engine.studios.makeup.classical.MakeupEditor`, its face analyzer
included) runs only inside worker jobs.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
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
from engine.studios.base import EditResult
from engine.studios.makeup.editor import MakeupEditor
from engine.studios.makeup.params import REGIONS, MakeupParams, MakeupStyle, load_styles

STUDIO = "makeup"
RENDER = "makeup.render"
EXPORT = "makeup.export"

REGION_TITLES: dict[str, str] = {"lips": "Lips", "eyeshadow": "Eyeshadow", "eyeliner": "Eyeliner",
                                 "cheek": "Cheek / blush", "base": "Base", "brows": "Brows"}
PANEL_ORDER: tuple[str, ...] = ("lips", "eyeshadow", "cheek", "base", "eyeliner", "brows")
"""Rows of the region table, most used first."""

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
    it exists)."""
    first = "korean" if "korean" in styles else next(iter(styles))
    out: dict[str, Any] = {"intensity": 0.8}
    for r in REGIONS:
        have = [n for n, s in styles.items() if r in s.regions]
        out[f"{r}_on"] = r in ("lips", "eyeshadow", "cheek")
        out[f"{r}_style"] = first if first in have else (have[0] if have else "")
        out[f"{r}_intensity"] = 1.0
    return out


def params_from_doc(d: Mapping[str, Any], styles: Mapping[str, MakeupStyle]) -> MakeupParams:
    """Document parameters → validated :class:`MakeupParams`."""
    regions = {r: (d[f"{r}_style"] or None) if d[f"{r}_on"] else None for r in REGIONS}
    p = MakeupParams(regions, {r: float(d[f"{r}_intensity"]) for r in REGIONS}, float(d["intensity"]))
    return p.validate(styles)


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


class RegionRow:
    """One region's controls: on/off check box, style picker, intensity slider.

    Args:
        region: region name.
        styles: style names that define this region.
        grid: layout to add the row to.
        row: its row index.
    """

    def __init__(self, region: str, styles: list[str], grid: QGridLayout, row: int) -> None:
        self.region = region
        self.check = QCheckBox(REGION_TITLES[region])
        self.check.setObjectName(f"check_{region}")
        self.combo = QComboBox()
        self.combo.setObjectName(f"style_{region}")
        self.combo.addItems(styles)
        self.combo.setToolTip(f"Style of the {REGION_TITLES[region].lower()} (from the style files)")
        self.check.setToolTip(f"Paint the {REGION_TITLES[region].lower()}")
        self.slider = ParamSlider("", 0.0, 1.0, decimals=2, tooltip=f"{REGION_TITLES[region]} intensity")
        self.slider.setObjectName(f"slider_{region}")
        grid.addWidget(self.check, row, 0)
        grid.addWidget(self.combo, row, 1)
        grid.addWidget(self.slider, row + 1, 0, 1, 2)

    def show_values(self, on: bool, style: str, intensity: float) -> None:
        """Update the widgets without emitting edits."""
        for w in (self.check, self.combo):
            w.blockSignals(True)
        self.check.setChecked(on)
        self.combo.setCurrentText(style)
        for w in (self.check, self.combo):
            w.blockSignals(False)
        self.slider.set_value(intensity)
        self.combo.setEnabled(on)
        self.slider.setEnabled(on)


class MakeupPanel(StudioPanel):
    """Region toggles + style per region + intensities, bound to the document; renders via the worker."""

    name = STUDIO
    title = "Makeup"
    icon = "mdi6.lipstick"
    export_suffix = "makeup"
    view_channels = (RENDER,)

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.styles = load_styles()
        self.editor = MakeupEditor("auto", styles=self.styles)  # used only inside worker jobs
        self.result: Optional[EditResult] = None
        self.show_masks = False
        self.defaults = default_params(self.styles)
        doc.declare(STUDIO, self._restore_settings())
        self._build()
        self._refresh_widgets()
        doc.param_changed.connect(self._on_param_changed)
        doc.image_changed.connect(self._on_image_changed)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)

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
            row = RegionRow(r, [n for n, s in self.styles.items() if r in s.regions], grid, 2 * i)
            row.check.toggled.connect(lambda on, r=r: self._push(f"{r}_on", bool(on), None))
            row.combo.currentTextChanged.connect(lambda text, r=r: self._push(f"{r}_style", text, None))
            row.slider.edited.connect(lambda v, mk, r=r: self._push(f"{r}_intensity", float(v), mk))
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
        self.intensity = ParamSlider("Intensity", 0.0, 1.0, decimals=2, tooltip="Global intensity (0 = no makeup)")
        self.intensity.setObjectName("slider_intensity")
        self.intensity.edited.connect(lambda v, mk: self._push("intensity", float(v), mk))
        gl.addWidget(self.intensity)
        reset = QPushButton("Reset")
        reset.setToolTip("All regions, styles and intensities back to the defaults (undoable)")
        reset.clicked.connect(lambda: self.undo.push(SetParamsCommand(self.doc, STUDIO, self.defaults, "Reset makeup")))
        gl.addWidget(reset)
        lay.addWidget(glob)

        vl = self._add_show_group(lay, "Makeup")
        self.masks_check = QCheckBox("Region masks")
        self.masks_check.setObjectName("check_masks")
        self.masks_check.setToolTip("Overlay each region's mask in its own colour (legend on the canvas)")
        self.masks_check.toggled.connect(self.set_show_masks)
        vl.addWidget(self.masks_check)

        self._add_export_and_info(lay, "Export result…", f"Engine: {self.editor.backend}: {self.editor.backend_reason}",
                                  batch_text="Batch makeup…")
        lay.addStretch(1)

    # -- document binding -------------------------------------------------------------------------
    def _push(self, key: str, value: Any, merge_key: Optional[int]) -> None:
        self.undo.push(SetParamCommand(self.doc, STUDIO, key, value, merge_key))

    def apply_style_to_enabled(self, style: str) -> None:
        """Global shortcut: ``style`` on every enabled region that the style defines (one undo step)."""
        d = self.doc.params(STUDIO)
        values = {f"{r}_style": style for r in REGIONS if d[f"{r}_on"] and r in self.styles[style].regions}
        if values:
            self.undo.push(SetParamsCommand(self.doc, STUDIO, values, f"Makeup style {style}"))

    def _refresh_widgets(self) -> None:
        d = self.doc.params(STUDIO)
        for r, row in self.rows.items():
            row.show_values(d[f"{r}_on"], d[f"{r}_style"], d[f"{r}_intensity"])
        self.intensity.set_value(d["intensity"])

    def _on_param_changed(self, studio: str, key: str, value: Any) -> None:
        if studio != STUDIO:
            return
        self._refresh_widgets()
        self.render()

    def _on_image_changed(self) -> None:
        self._forget_result()
        if not self.is_current():
            return
        self._show_document(after=self.doc.image)
        self.render()

    # -- engine -----------------------------------------------------------------------------------
    def render(self) -> None:
        """Send the image + parameters to the worker (newest request wins)."""
        image = self.doc.image
        if image is None or not self.is_current():
            return
        try:
            params = params_from_doc(self.doc.params(STUDIO), self.styles)
        except ValueError as exc:
            self.message.emit(f"Makeup: {exc}")
            return
        self._submit_edit(RENDER, self.editor, image, params)

    def _on_result(self, channel: str, gen: int, value: object) -> None:
        if channel != RENDER or gen != self.worker.latest_generation(RENDER):
            return
        assert isinstance(value, EditResult)
        if not value.is_preview:
            self.result = value
            self.export_button.setEnabled(True)
        if not self.is_current():  # switched away meanwhile: the canvas is another studio's now
            return
        if not self.show_original:
            self.canvas.set_after(to_qimage(value.image))
        self._update_overlay(value)
        info = value.info
        size = "preview" if value.is_preview else "full"
        h, w = value.image.shape[:2]
        text = (f"Engine: {info.get('backend')} ({info.get('method', '')}) · {info.get('faces', 0)} face(s) · "
                f"{size} {w}×{h} · {info.get('elapsed_ms', 0):.1f} ms")
        self.engine_status.emit(text)
        self.info_label.setText(text + f"\n{info.get('backend_reason', '')}")

    def _update_overlay(self, res: Optional[EditResult]) -> None:
        if not self.show_masks or res is None:
            self.canvas.set_overlay(None)
            return
        rgba = overlay_rgba(res.masks, res.image.shape[:2])
        legend = [(REGION_TITLES[r], QColor(*OVERLAY_COLOURS[r])) for r in PANEL_ORDER if r in res.masks]
        self.canvas.set_overlay(to_qimage(rgba), None, legend)

    def _on_error(self, channel: str, gen: int, message: str) -> None:
        if channel in (RENDER, EXPORT):
            if channel == RENDER and gen == self.worker.latest_generation(RENDER):
                self.result = None
                self.export_button.setEnabled(False)
                self.info_label.setText(f"Makeup: {message}")
            self.message.emit(f"Makeup: {message}")

    # -- view -------------------------------------------------------------------------------------
    def set_show_masks(self, on: bool) -> None:
        """Overlay the region masks (each in its colour, with a legend) on the canvas."""
        self.show_masks = bool(on)
        if self.masks_check.isChecked() != self.show_masks:
            self.masks_check.setChecked(self.show_masks)
        self._update_overlay(self.result)

    def is_current(self) -> bool:
        """True when this is the shown studio. (The panel sits in a scroll area inside the window's
        studio stack, so asking its parent for the stack's current page always said yes: hidden, it
        rendered every opened image and answered "no face found" in the other studios.)"""
        return self.isVisible()

    def activate(self) -> None:
        self._on_image_changed()
        self._update_overlay(self.result)

    # -- export -----------------------------------------------------------------------------------
    def batch_params(self) -> dict[str, Any]:
        """The current settings in the batch op's flat form."""
        from engine.studios.makeup.params import normalize_flat

        p = params_from_doc(self.doc.params(STUDIO), self.styles)
        flat: dict[str, Any] = {r: p.regions.get(r) for r in REGIONS}
        flat.update({f"{r}_intensity": float(p.region_intensity[r]) for r in REGIONS})
        flat["intensity"] = float(p.intensity)
        return normalize_flat(flat)

    def open_batch_dialog(self) -> None:
        from app.dialogs.batch_dialog import BatchDialog

        try:
            params = self.batch_params()
        except ValueError as exc:
            self.message.emit(f"Makeup: {exc}")
            return
        BatchDialog(op="makeup", params=params, parent=self.window()).exec()

    # -- settings ---------------------------------------------------------------------------------
    def _restore_settings(self) -> dict[str, Any]:
        s = QSettings()
        out = dict(self.defaults)
        for key, default in self.defaults.items():
            v = s.value(f"makeup/{key}", default)
            try:
                if isinstance(default, bool):
                    out[key] = str(v).lower() in ("1", "true")
                elif isinstance(default, float):
                    out[key] = float(v)
                else:
                    out[key] = str(v)
            except (TypeError, ValueError):
                out[key] = default
        try:
            params_from_doc(out, self.styles)
        except (ValueError, KeyError):
            out = dict(self.defaults)
        return out

    def save_settings(self) -> None:
        s = QSettings()
        for key, value in self.doc.params(STUDIO).items():
            s.setValue(f"makeup/{key}", value)
