"""Opera studio panel: the shell around its two tabs.

* "Line art" (:mod:`app.studios.opera.lineart`): XDoG sliders, live preview on the main canvas,
  export and batch.
* "Colour" (:mod:`app.studios.opera.colour`): draw a lianpu and colour it from a reference; its
  sketch / result / warped-exemplar workspace takes the main canvas's place while the tab is shown.

The shell owns what the window talks to (mode, export, view toggle, settings, engine refresh),
dispatches document changes to the tab they belong to and places the Colour workspace. Both tabs
share the Opera undo stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PySide6.QtGui import QHideEvent, QShowEvent, QUndoStack
from PySide6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from app.model.document import Document
from app.studios.base import StudioPanel
from app.studios.opera.colour import COLOUR, COLOUR_DEFAULTS, ColourTab
from app.studios.opera.lineart import DEFAULTS, STUDIO, LineArtTab, params_from_dict, undo_text
from app.widgets.canvas import ImageCanvas
from app.worker import EngineWorker

RENDER = "opera.lineart"
MODES = ("lineart", "colour")
SKETCH_LAYER = "opera.sketch"
"""Name of the Colour tab's sketch in a session (:class:`~app.model.recovery.Session` layers)."""


class OperaPanel(StudioPanel):
    """Line art (XDoG) and colouring (sketch + reference) of Peking-opera masks."""

    name = STUDIO
    title = "Opera"
    icon = "mdi6.drama-masks"
    view_channels = (RENDER,)
    settings_group = "opera"
    batch_op = "lineart"

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: QWidget | None = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        doc.declare(STUDIO, self.restore_params(DEFAULTS, params_from_dict))
        doc.declare(COLOUR, COLOUR_DEFAULTS)
        self.mode = "lineart"
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("opera_tabs")
        outer.addWidget(self.tabs)
        self.lineart = LineArtTab(self)
        self.colour = ColourTab(self)
        self.tabs.addTab(self.lineart, "Line art")
        self.tabs.addTab(self.colour, "Colour")
        self.tabs.currentChanged.connect(lambda i: self.set_mode(MODES[i]))

    @property
    def workspace(self) -> QSplitter:
        """The Colour tab's sketch / result / warped-exemplar panes."""
        return self.colour.workspace

    # -- document binding -------------------------------------------------------------------------
    @property
    def param_namespaces(self) -> tuple[str, ...]:
        return (STUDIO, COLOUR)

    def undo_text(self, key: str, value: Any) -> str:
        return undo_text(key, value)

    def on_param_changed(self, studio: str, key: str, value: Any) -> None:
        if studio == COLOUR:
            self.colour.on_param_changed(key, value)
            return
        self.lineart.show_param(key, value)
        if key == "extractor":
            self.colour.show_extractor(str(value))  # one choice for both tabs: it reaches the colouring
        self.request_render()

    def on_image_changed(self) -> None:
        self.forget_result()
        if self.isVisible():  # a hidden studio draws nothing on the shared canvas; activate() catches up
            self.show_document()
            self.request_render()
        if self.colour.started and self.doc.image is not None:
            self.colour.add_document_reference()

    def request_render(self) -> None:
        """Render the line art of the opened image (newest request wins)."""
        self.lineart.request_render()

    def refresh_engines(self) -> None:
        self.colour.refresh_engines()

    # -- unsaved work and recovery ----------------------------------------------------------------
    def recovery_state(self) -> dict[str, np.ndarray]:
        """The Colour tab's sketch (line art, 255 paper / 0 ink)."""
        return {SKETCH_LAYER: self.colour.sketch.line_art()}

    def restore_state(self, layers: Mapping[str, np.ndarray]) -> None:
        """Put a session's sketch back as the undoable step "Recover sketch".

        Raises:
            ValueError: the sketch's shape or size is not one the canvas takes (the sketch stays).
        """
        sketch = layers.get(SKETCH_LAYER)
        if sketch is None:
            return
        try:
            self.colour.sketch.set_line_art(sketch, "Recover sketch")
        except ValueError as exc:
            raise ValueError(f"sketch not recovered: {exc}") from None

    # -- mode and placement -------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """``"lineart"`` (XDoG of the opened image on the main canvas) or ``"colour"`` (sketch +
        coloured result side by side in place of the main canvas).

        Raises:
            ValueError: unknown mode.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be 'lineart' or 'colour', got {mode!r}")
        self.mode = mode
        self.batch_op = "colorize" if mode == "colour" else "lineart"  # the tab's batch (the dialog offers the others)
        index = MODES.index(mode)
        if self.tabs.currentIndex() != index:
            self.tabs.setCurrentIndex(index)  # calls set_mode again through currentChanged
            return
        self._place_workspace(self.isVisible())
        if mode == "colour":
            self.colour.start()
            self.colour.refresh_engines()  # the cards may have changed since (cheap: nothing loads)
            self.colour.recolour()
        elif self.result is not None:
            self.lineart.show_result(self.result)

    def _place_workspace(self, visible: bool) -> None:
        """Show the sketch/result workspace in the main canvas's place (colour mode), or the canvas."""
        split = self.canvas.parentWidget()
        workspace = self.workspace
        colour = visible and self.mode == "colour" and isinstance(split, QSplitter)
        if colour and isinstance(split, QSplitter) and workspace.parentWidget() is not split:
            split.insertWidget(split.indexOf(self.canvas), workspace)
            split.setCollapsible(split.indexOf(workspace), False)
        if colour and isinstance(split, QSplitter) and not workspace.isVisible():
            sizes = split.sizes()
            i, j = split.indexOf(workspace), split.indexOf(self.canvas)
            sizes[i], sizes[j] = max(sizes[i], sizes[j]), 0
            self.canvas.hide()
            workspace.show()
            split.setSizes(sizes)
        elif not colour:
            workspace.hide()
            self.canvas.show()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._place_workspace(True)

    def hideEvent(self, event: QHideEvent) -> None:
        # another studio took over: give the main canvas back
        if not self.window().isHidden():
            self._place_workspace(False)
        super().hideEvent(event)

    # -- view -------------------------------------------------------------------------------------
    def toggle_view(self) -> None:
        """Line art ↔ original (Line art tab), or result ↔ aligned reference (Colour tab)."""
        if self.mode == "colour":
            self.colour.view_ref_check.toggle()
        else:
            self.set_show_original(not self.show_original)

    def activate(self) -> None:
        self.on_image_changed()
        self.set_mode(self.mode)

    # -- export -----------------------------------------------------------------------------------
    def has_result(self) -> bool:
        if self.mode == "colour":
            return self.colour.colour_result is not None
        return self.result is not None

    def export_filter(self) -> str:
        if self.mode == "colour":
            return "PNG image, transparent outside the face (*.png);;JPEG image (*.jpg *.jpeg)"
        return super().export_filter()

    def export_result(self, path: str) -> None:
        """Save the full-resolution result atomically (in the worker): the line art, or in the
        Colour tab the coloured mask (PNG/WebP: transparent outside the face)."""
        if self.mode == "colour":
            self.colour.export(path)
            return
        super().export_result(path)

    def suggested_export_name(self) -> str:
        if self.mode == "colour":
            return "lianpu_colour.png"
        stem = self.doc.path.stem if self.doc.path is not None else "lineart"
        return f"{stem}_lineart.png"

    def batch_params(self) -> dict[str, Any]:
        """The shown tab's parameters in its batch op's form: the line-art settings, or (colour tab)
        the reference lianpu file the sketches are coloured from (empty for a generated design:
        the dialog asks for a file; it also offers the procedural dataset) and the chosen line
        extractor.

        Raises:
            ValueError: the current parameters are not valid.
        """
        if self.mode == "colour":
            ref = self.colour.current_reference()
            kind, _, path = ref.key.partition(":") if ref is not None else ("", "", "")
            return {"reference": path if kind in ("file", "doc") else "", "gap": None,
                    "extractor": self.colour.extractor}
        return self.lineart.params().to_dict()
