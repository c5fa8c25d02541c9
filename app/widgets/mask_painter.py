"""Semantic-mask painter: 19-label palette, brush / eraser / fill / rectangle / lasso, per-stroke undo.

Keys (when the view has focus): ``-``/``=`` previous/next label, ``[``/``]`` brush size, ``B`` brush,
``E`` eraser (paints background), ``F`` fill, ``R`` rectangle, ``L`` lasso, ``I`` picks the label
under the cursor (Ctrl+click too). The label map is a :class:`~app.model.raster.RasterLayer`; every
gesture is one :class:`~app.model.raster.PatchCommand` on the undo stack, storing only the changed box.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QIcon,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.model.raster import PatchCommand, RasterLayer

if TYPE_CHECKING:
    from app.widgets.canvas import ImageCanvas as ImageCanvasLike
from app.qt_image import to_qimage
from engine.labels import CELEBAMASK_HQ, CELEBAMASK_HQ_PALETTE

TOOLS: tuple[tuple[str, str, str], ...] = (
    ("brush", "B", "Brush (B)"), ("eraser", "E", "Eraser = background (E)"), ("fill", "F", "Fill (F)"),
    ("rect", "R", "Rectangle fill (R)"), ("lasso", "L", "Lasso fill (L)"),
)
"""Tool name, key, tooltip."""

MAX_BRUSH = 200


# --- pure label operations (numpy) ------------------------------------------------------------

def paint_line(labels: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: int, value: int) -> None:
    """Paint a round-capped line of ``value`` from ``p0`` to ``p1`` (``(x, y)``) in place."""
    a = (int(round(p0[0])), int(round(p0[1])))
    b = (int(round(p1[0])), int(round(p1[1])))
    if radius <= 1:
        cv2.line(labels, a, b, int(value), 1)
    else:
        cv2.line(labels, a, b, int(value), 2 * radius - 1)
        cv2.circle(labels, a, radius - 1, int(value), -1)
        cv2.circle(labels, b, radius - 1, int(value), -1)


def flood_fill(labels: np.ndarray, x: int, y: int, value: int) -> None:
    """Fill the 4-connected region of equal labels around ``(x, y)`` with ``value`` in place."""
    h, w = labels.shape
    if not (0 <= x < w and 0 <= y < h) or labels[y, x] == value:
        return
    mask = np.zeros((h + 2, w + 2), np.uint8)
    cv2.floodFill(labels, mask, (int(x), int(y)), int(value), 0, 0, 4)


def fill_polygon(labels: np.ndarray, points: np.ndarray, value: int) -> None:
    """Fill the polygon ``points`` (``[N, 2]`` ``(x, y)``; a rectangle is 4 points) in place."""
    pts = np.round(np.asarray(points, np.float64)).astype(np.int32)
    if len(pts) >= 3:
        cv2.fillPoly(labels, [pts], int(value))


def label_icon(index: int, side: int = 14) -> QIcon:
    pix = QPixmap(side, side)
    pix.fill(QColor(*[int(v) for v in CELEBAMASK_HQ_PALETTE[index]]))
    return QIcon(pix)


class LabelPalette(QListWidget):
    """The 19 official labels with their colours; the check box shows/hides a label's overlay.

    Signals:
        label_selected(int): the current label changed.
        visibility_changed(): a label was shown or hidden.
    """

    label_selected = Signal(int)
    visibility_changed = Signal()

    COLUMNS = 3
    """Labels per row: all 19 show at once (7 rows), no scrolling."""
    CELL = QSize(104, 20)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("label_palette")
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setGridSize(self.CELL)
        self.setUniformItemSizes(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        rows = -(-len(CELEBAMASK_HQ.classes) // self.COLUMNS)
        self.setFixedHeight(rows * self.CELL.height() + 2 * self.frameWidth() + 4)
        self.setMinimumWidth(self.COLUMNS * self.CELL.width() + 2 * self.frameWidth() + 4)
        for i, name in enumerate(CELEBAMASK_HQ.classes):
            it = QListWidgetItem(label_icon(i), f"{i} {name}")
            it.setSizeHint(self.CELL)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked)
            it.setToolTip("check box: show/hide this label's overlay")
            self.addItem(it)
        self.currentRowChanged.connect(self.label_selected.emit)
        self.itemChanged.connect(lambda _: self.visibility_changed.emit())

    def hidden(self) -> set[int]:
        """Labels whose overlay is hidden."""
        return {i for i in range(self.count()) if self.item(i).checkState() != Qt.CheckState.Checked}

    def set_visible(self, index: int, visible: bool) -> None:
        self.item(index).setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)


class MaskPaintView(QWidget):
    """Shows the photo with the label overlay and paints labels with the mouse.

    Args:
        undo: the stack paint commands go to.

    Signals:
        label_picked(int): ``I``/Ctrl+click or ``-``/``=`` chose a label.
        brush_changed(int): ``[``/``]`` changed the brush radius.
        tool_changed(str): a tool key was pressed.
        stroke_finished(): a gesture was committed to the undo stack.
    """

    label_picked = Signal(int)
    brush_changed = Signal(int)
    tool_changed = Signal(str)
    stroke_finished = Signal()
    overlay_changed = Signal()

    def __init__(self, undo: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mask_paint_view")
        self.undo = undo
        self.model: RasterLayer | None = None
        self.footprint: RasterLayer | None = None  # where strokes went (1), undone with them
        self.photo: QImage | None = None
        self.label = CELEBAMASK_HQ.index("hair")
        self.brush = 6
        self.tool = "brush"
        self.opacity = 0.4
        self.hidden: set[int] = set()
        self._overlay: QImage | None = None
        self._before: np.ndarray | None = None
        self._stroke: np.ndarray | None = None  # the gesture's footprint (1 where it painted)
        self._last: tuple[float, float] | None = None
        self._shape: list[tuple[float, float]] = []
        self._cursor: QPointF | None = None
        self._radius = self.brush  # of the gesture under way (image px)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 200)

    def sizeHint(self) -> QSize:
        return QSize(320, 320)

    # -- state ------------------------------------------------------------------------------------
    def set_photo(self, rgb: np.ndarray | None) -> None:
        self.photo = None if rgb is None else to_qimage(rgb)
        self.update()

    def set_model(self, model: RasterLayer | None) -> None:
        """Paint on ``model`` (a label-map layer; ``None``: nothing to paint) and follow its changes."""
        if self.model is not None:
            self.model.changed.disconnect(self._on_model_changed)
        self.model = model
        if model is not None:
            model.changed.connect(self._on_model_changed)
        self.refresh_overlay()

    def set_footprint(self, layer: RasterLayer | None) -> None:
        """Record where each gesture that changed labels painted in ``layer`` (``uint8``, 1 =
        painted; the label map's size), in the same undo step as the labels; ``None``: not recorded."""
        self.footprint = layer

    def _on_model_changed(self, _x: int, _y: int, _w: int, _h: int) -> None:
        self.refresh_overlay()

    def refresh_overlay(self) -> None:
        """Rebuild the RGBA overlay from the label map, the hidden labels and the opacity."""
        if self.model is None:
            self._overlay = None
        else:
            lut = np.zeros((256, 4), np.uint8)
            lut[: len(CELEBAMASK_HQ_PALETTE), :3] = CELEBAMASK_HQ_PALETTE
            lut[: len(CELEBAMASK_HQ_PALETTE), 3] = int(round(self.opacity * 255))
            lut[list(self.hidden), 3] = 0
            self._overlay = to_qimage(lut[self.model.pixels])
        self.update()
        self.overlay_changed.emit()

    def set_opacity(self, value: float) -> None:
        self.opacity = float(np.clip(value, 0.0, 1.0))
        self.refresh_overlay()

    def set_hidden(self, hidden: set[int]) -> None:
        self.hidden = set(hidden)
        self.refresh_overlay()

    def set_brush(self, radius: int) -> None:
        self.brush = int(np.clip(radius, 1, MAX_BRUSH))
        self.update()

    # -- geometry ----------------------------------------------------------------------------------
    def image_rect(self) -> QRectF:
        if self.model is None:
            return QRectF()
        h, w = self.model.pixels.shape
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def to_image(self, pos: QPointF) -> tuple[float, float]:
        r = self.image_rect()
        assert self.model is not None
        h, w = self.model.pixels.shape
        return ((pos.x() - r.x()) * w / max(r.width(), 1e-6) - 0.5, (pos.y() - r.y()) * h / max(r.height(), 1e-6) - 0.5)

    def label_at(self, x: float, y: float) -> int | None:
        if self.model is None:
            return None
        h, w = self.model.pixels.shape
        xi, yi = int(round(x)), int(round(y))
        return int(self.model.pixels[yi, xi]) if 0 <= xi < w and 0 <= yi < h else None

    # -- painting ----------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 44))
        r = self.image_rect()
        if self.model is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "Analysing the face…" if self.photo is not None else "Open a face photo to paint its labels")
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        if self.photo is not None:
            p.drawImage(r, self.photo)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        if self._overlay is not None:
            p.drawImage(r, self._overlay)
        scale = r.width() / self.model.pixels.shape[1]
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(255, 255, 255, 220), 1.2, Qt.PenStyle.DashLine))
        if self._shape and self.tool in ("rect", "lasso"):
            pts = [QPointF(r.x() + (x + 0.5) * scale, r.y() + (y + 0.5) * scale) for x, y in self._shape]
            if self.tool == "rect" and len(pts) == 2:
                p.drawRect(QRectF(pts[0], pts[1]).normalized())
            else:
                p.drawPolygon(QPolygonF(pts))
        if self._cursor is not None and self.tool in ("brush", "eraser"):
            p.setPen(QPen(QColor(255, 255, 255, 230), 1.0))
            p.drawEllipse(self._cursor, self.brush * scale, self.brush * scale)

    def _value(self) -> int:
        return 0 if self.tool == "eraser" else self.label

    def _commit(self, text: str) -> None:
        assert self.model is not None and self._before is not None
        cmd = PatchCommand.from_maps(self.model, self._before, self.model.pixels, text, applied=True)
        stroke, self._stroke = self._stroke, None
        if stroke is None:  # a fill: it painted what it changed
            stroke = (self._before != self.model.pixels).astype(np.uint8)
        self._before = None
        if cmd is not None:
            self.model.touch(*cmd.box)  # fills and shapes were drawn in place without a word
            fp = self.footprint
            trace = None
            if fp is not None and fp.shape == self.model.shape:
                trace = PatchCommand.from_maps(fp, fp.pixels, np.maximum(fp.pixels, stroke), text)
            if trace is None:
                self.undo.push(cmd)
            else:
                self.undo.beginMacro(text)
                self.undo.push(cmd)
                self.undo.push(trace)
                self.undo.endMacro()
            self.stroke_finished.emit()

    def pick(self, x: float, y: float) -> None:
        v = self.label_at(x, y)
        if v is not None:
            self.label = v
            self.label_picked.emit(v)

    def begin(self, x: float, y: float, radius: int | None = None) -> bool:
        """Start a gesture at image point ``(x, y)`` with brush ``radius`` (image px; default
        :attr:`brush`); returns False without a label map."""
        if self.model is None:
            return False
        self._radius = self.brush if radius is None else max(1, int(radius))
        self._before = self.model.pixels.copy()
        name = CELEBAMASK_HQ.classes[self._value()]
        if self.tool == "fill":
            flood_fill(self.model.pixels, int(round(x)), int(round(y)), self._value())
            self._commit(f"Fill {name}")
        elif self.tool in ("brush", "eraser"):
            paint_line(self.model.pixels, (x, y), (x, y), self._radius, self._value())
            self._stroke = np.zeros_like(self.model.pixels)
            paint_line(self._stroke, (x, y), (x, y), self._radius, 1)
            self._last = (x, y)
            self.model.touch()
        else:
            self._shape = [(x, y)] if self.tool == "lasso" else [(x, y), (x, y)]
        self.update()
        return True

    def extend(self, x: float, y: float) -> None:
        """Continue the gesture to image point ``(x, y)``."""
        if self.model is None or self._before is None:
            return
        if self.tool in ("brush", "eraser") and self._last is not None:
            paint_line(self.model.pixels, self._last, (x, y), self._radius, self._value())
            if self._stroke is not None:
                paint_line(self._stroke, self._last, (x, y), self._radius, 1)
            self._last = (x, y)
            self.model.touch()
        elif self.tool == "rect" and self._shape:
            self._shape[1] = (x, y)
        elif self.tool == "lasso":
            self._shape.append((x, y))
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.model is None or event.button() != Qt.MouseButton.LeftButton:
            return
        x, y = self.to_image(event.position())
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.pick(x, y)
            return
        self.begin(x, y)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._cursor = event.position()
        if self.model is None or self._before is None:
            self.update()
            return
        self.extend(*self.to_image(event.position()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.finish()

    def finish(self) -> None:
        """End the gesture: shapes are filled, the change goes to the undo stack as one step."""
        if self.model is None or self._before is None:
            return
        name = CELEBAMASK_HQ.classes[self._value()]
        if self.tool in ("rect", "lasso") and self._shape:
            pts = self._shape
            if self.tool == "rect":
                (x0, y0), (x1, y1) = pts
                pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            fill_polygon(self.model.pixels, np.array(pts), self._value())
            self._stroke = np.zeros_like(self.model.pixels)
            fill_polygon(self._stroke, np.array(pts), 1)
            self._shape = []
        self._last = None
        verb = {"brush": "Paint", "eraser": "Erase", "rect": "Rectangle", "lasso": "Lasso"}[self.tool]
        self._commit(f"{verb} {name}" if self.tool != "eraser" else "Erase")
        self.update()

    def leaveEvent(self, event: QEvent) -> None:
        self._cursor = None
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.handle_key(event.text()):
            super().keyPressEvent(event)

    def handle_key(self, text: str) -> bool:
        """Apply a painter key (see the module doc); returns False if it is not one."""
        n = len(CELEBAMASK_HQ)
        if text in ("-", "=", "+"):
            self.label = (self.label + (1 if text in "=+" else -1)) % n
            self.label_picked.emit(self.label)
        elif text in ("[", "]"):
            self.set_brush(self.brush + (1 if text == "]" else -1) * max(1, self.brush // 5))
            self.brush_changed.emit(self.brush)
        elif text.lower() == "i" and self._cursor is not None and self.model is not None:
            self.pick(*self.to_image(self._cursor))
        elif text.upper() in {k for _, k, _ in TOOLS}:
            self.tool = next(t for t, k, _ in TOOLS if k == text.upper())
            self.tool_changed.emit(self.tool)
            self.update()
        else:
            return False
        return True


class MaskPainter(QWidget):
    """Tool bar + paint view + label palette, kept in sync both ways.

    Args:
        undo: the stack paint commands go to.

    Signals:
        stroke_finished(): a gesture was committed (regenerate now).
    """

    stroke_finished = Signal()

    def __init__(self, undo: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = MaskPaintView(undo)
        self.palette_list = LabelPalette()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for name, key, tip in TOOLS:
            b = QToolButton()
            b.setText(key)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.setObjectName(f"tool_{name}")
            self.tool_group.addButton(b)
            self.tool_buttons[name] = b
            b.clicked.connect(lambda _=False, n=name: self.set_tool(n))
            bar.addWidget(b)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, MAX_BRUSH)
        self.size_spin.setPrefix("r ")
        self.size_spin.setToolTip("brush radius in pixels ([ / ])")
        self.size_spin.setValue(self.view.brush)
        bar.addWidget(self.size_spin)
        bar.addStretch(1)
        lay.addLayout(bar)
        bar2 = QHBoxLayout()
        bar2.addWidget(QLabel("Overlay"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self.view.opacity * 100))
        self.opacity.setToolTip("label overlay opacity")
        bar2.addWidget(self.opacity, 1)
        lay.addLayout(bar2)
        lay.addWidget(self.view, 3)
        self.current = QLabel()
        lay.addWidget(self.current)
        lay.addWidget(self.palette_list)
        self.size_spin.valueChanged.connect(self.view.set_brush)
        self.opacity.valueChanged.connect(lambda v: self.view.set_opacity(v / 100.0))
        self.view.brush_changed.connect(self._sync_brush)
        self.view.label_picked.connect(self.set_label)
        self.view.tool_changed.connect(self.set_tool)
        self.view.stroke_finished.connect(self.stroke_finished.emit)
        self.palette_list.label_selected.connect(self._palette_selected)
        self.palette_list.visibility_changed.connect(lambda: self.view.set_hidden(self.palette_list.hidden()))
        self.set_label(self.view.label)
        self.set_tool("brush")

    def use_canvas_brush(self, tool: CanvasMaskTool) -> None:
        """The size box sets ``tool``'s brush radius in screen pixels (painting happens on the main
        canvas; this view is a navigator) and follows ``[``/``]`` pressed there."""
        self.size_spin.valueChanged.disconnect(self.view.set_brush)
        self.size_spin.setRange(*SCREEN_BRUSH)
        self.size_spin.setPrefix("brush ")
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("brush radius in screen pixels on the canvas ([ / ]): the same size at any zoom")
        self._sync_brush(tool.screen_brush)
        self.size_spin.valueChanged.connect(tool.set_screen_brush)
        tool.on_brush = self._sync_brush

    def _sync_brush(self, r: int) -> None:
        self.size_spin.blockSignals(True)
        self.size_spin.setValue(r)
        self.size_spin.blockSignals(False)

    def _palette_selected(self, row: int) -> None:
        if row >= 0 and row != self.view.label:
            self.set_label(row)

    def set_label(self, index: int) -> None:
        """Make ``index`` the painting label (palette and view follow)."""
        self.view.label = int(index)
        self.palette_list.blockSignals(True)
        self.palette_list.setCurrentRow(int(index))
        self.palette_list.blockSignals(False)
        self.current.setText(f"label: {CELEBAMASK_HQ.classes[index]}  ·  tool: {self.view.tool}")

    def set_tool(self, name: str) -> None:
        self.view.tool = name
        self.tool_buttons[name].setChecked(True)
        self.current.setText(f"label: {CELEBAMASK_HQ.classes[self.view.label]}  ·  tool: {name}")
        self.view.update()


SCREEN_BRUSH = (2, 400)
"""Range of the main-canvas brush radius in screen pixels."""


class CanvasMaskTool:
    """Paints a :class:`MaskPaintView`'s label map on the main :class:`~app.widgets.canvas.ImageCanvas`.

    The label overlay is drawn semi-transparently over the photo (or the result) with the canvas'
    zoom and pan; the brush radius is in *screen* pixels (``[``/``]``), so it covers fewer image
    pixels as you zoom in; the outline of the brush follows the cursor. Tools, label, opacity,
    hidden labels and undo are the view's (one state, two places to paint): Ctrl+click or ``I``
    picks the label under the cursor, ``B E F R L`` choose the tool, each gesture is one undo step.

    Args:
        view: the painter whose model, label, tool and undo stack are used.
        screen_brush: brush radius in screen pixels.
    """

    def __init__(self, view: MaskPaintView, screen_brush: int = 16) -> None:
        self.view = view
        self.screen_brush = int(np.clip(screen_brush, *SCREEN_BRUSH))
        self.show_overlay = True
        self.on_brush: Callable[[int], None] | None = None  # told when [ / ] change the brush
        self._cursor: QPointF | None = None

    def set_screen_brush(self, radius: int) -> None:
        """Set the brush radius in screen pixels (clipped to :data:`SCREEN_BRUSH`)."""
        self.screen_brush = int(np.clip(radius, *SCREEN_BRUSH))

    @staticmethod
    def to_image(canvas: ImageCanvasLike, pos: QPointF) -> tuple[float, float]:
        """Image pixel coordinates (pixel centres at integers) of widget point ``pos``."""
        d = canvas.map_to_document(pos)
        return d.x() - 0.5, d.y() - 0.5

    def image_radius(self, zoom: float) -> int:
        """The brush radius in image pixels at ``zoom`` (screen px per image px), at least 1."""
        return max(1, int(round(self.screen_brush / max(zoom, 1e-6))))

    def press(self, canvas: ImageCanvasLike, event: QMouseEvent) -> bool:
        if self.view.model is None:
            return False
        x, y = self.to_image(canvas, event.position())
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.view.pick(x, y)
            return True
        started = self.view.begin(x, y, self.image_radius(canvas.zoom))
        canvas.update()
        return started

    def move(self, canvas: ImageCanvasLike, event: QMouseEvent) -> None:
        self._cursor = event.position()
        self.view.extend(*self.to_image(canvas, event.position()))
        canvas.update()

    def release(self, canvas: ImageCanvasLike, event: QMouseEvent) -> None:
        self.view.finish()
        canvas.update()

    def hover(self, canvas: ImageCanvasLike, pos: QPointF | None) -> None:
        self._cursor = pos
        canvas.update()

    def key(self, canvas: ImageCanvasLike, text: str) -> bool:
        if text in ("[", "]"):
            step = max(1, self.screen_brush // 5)
            self.set_screen_brush(self.screen_brush + (step if text == "]" else -step))
            if self.on_brush is not None:
                self.on_brush(self.screen_brush)
            return True
        if text.lower() == "i":
            if self._cursor is not None:
                self.view.pick(*self.to_image(canvas, self._cursor))
            return True
        return self.view.handle_key(text) if text not in ("[", "]") else False

    def draw(self, p: QPainter, canvas: ImageCanvasLike) -> None:
        view = self.view
        r = canvas.image_rect()
        if view.model is None:
            if view.photo is not None:  # the photo is being analysed: say so where the user looks
                p.save()
                p.setPen(QColor(255, 255, 255))
                box = QRectF(r.x() + 8, r.y() + 8, 230, 26)
                p.fillRect(box, QColor(0, 0, 0, 160))
                p.drawText(box, Qt.AlignmentFlag.AlignCenter, "Analysing the face…")
                p.restore()
            return
        if self.show_overlay and view._overlay is not None:
            p.save()
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(r, view._overlay)
            p.restore()
        zoom = canvas.zoom
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if view._shape and view.tool in ("rect", "lasso"):
            p.setPen(QPen(QColor(255, 255, 255, 220), 1.2, Qt.PenStyle.DashLine))
            pts = [QPointF(r.x() + (x + 0.5) * zoom, r.y() + (y + 0.5) * zoom) for x, y in view._shape]
            if view.tool == "rect" and len(pts) == 2:
                p.drawRect(QRectF(pts[0], pts[1]).normalized())
            else:
                p.drawPolygon(QPolygonF(pts))
        if self._cursor is not None and view.tool in ("brush", "eraser"):
            rad = self.image_radius(zoom) * zoom  # what a dab covers, drawn in screen pixels
            p.setPen(QPen(QColor(0, 0, 0, 200), 2.5))
            p.drawEllipse(self._cursor, rad, rad)
            p.setPen(QPen(QColor(255, 255, 255, 235), 1.2))
            p.drawEllipse(self._cursor, rad, rad)
        p.restore()
