"""Sketch canvas: draw lianpu line art with a brush and an eraser, mirrored about the vertical axis.

* View: Ctrl+wheel zooms about the cursor, Ctrl+= / Ctrl+- zoom, Ctrl+0 fits the canvas to the
  widget; Space-drag or middle-drag pans (the main canvas's keys).
* Left-drag draws with the current tool (``B`` brush, ``E`` eraser); ``[`` / ``]`` change the
  brush size; strokes are smoothed (a lazy-brush stabiliser) and, with mirror symmetry on (the
  default: lianpu are symmetric), drawn again mirrored about the vertical axis, which is shown as a
  dashed line.
* The pixels are the document's sketch layer (:func:`app.model.sketch.sketch_layer`, a
  :class:`~app.model.raster.RasterLayer`). Every stroke is one undo step
  (:class:`~app.model.raster.PatchCommand`: only the changed box with its old and new pixels);
  clear is one step too; loading, importing a picture through XDoG and starting a new canvas are
  :class:`~app.model.raster.ReplaceCommand` s (the size may change).

Canvas sizes are 256–2048 pixels per side (:data:`app.model.sketch.MIN_SIDE` / ``MAX_SIDE``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.model.raster import PatchCommand, ReplaceCommand
from app.model.sketch import INK, PAPER, check_side, fit_side_range, sketch_layer
from app.qt_image import to_qimage

MIN_BRUSH, MAX_BRUSH = 1, 64
"""Brush diameter range in canvas pixels."""

BRUSH_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64)
"""Sizes ``[`` / ``]`` step through."""

TOOLS = ("brush", "eraser")

MIN_VIEW_ZOOM, MAX_VIEW_ZOOM = 1.0, 16.0
"""View magnification relative to the fitted canvas (1 = the whole canvas fits the widget)."""
ZOOM_STEP = 1.25
"""Factor of one zoom key press or wheel notch."""


class _Stroke:
    """State of the stroke being drawn: pixels before it, dirty box, smoothed pen position."""

    def __init__(self, before: np.ndarray, start: tuple[float, float]) -> None:
        self.before = before
        self.pos = start
        self.raw = start
        self.box = [np.inf, np.inf, -np.inf, -np.inf]  # x0, y0, x1, y1 (inclusive)

    def grow(self, x0: float, y0: float, x1: float, y1: float) -> None:
        b = self.box
        b[0], b[1], b[2], b[3] = min(b[0], x0), min(b[1], y0), max(b[2], x1), max(b[3], y1)


class SketchCanvas(QWidget):
    """Draws on a sketch :class:`~app.model.raster.RasterLayer`; every stroke is one step on ``undo``.

    Args:
        undo: the undo stack strokes are pushed to.
        side: initial canvas side in pixels (256–2048).
        parent: Qt parent.

    Signals:
        edited(): the line art changed (stroke finished, clear, undo/redo, load, import).
        brush_size_changed(int): new brush diameter.
        tool_changed(str): ``"brush"`` or ``"eraser"``.
        mirror_changed(bool): mirror symmetry switched.
    """

    edited = Signal()
    brush_size_changed = Signal(int)
    tool_changed = Signal(str)
    mirror_changed = Signal(bool)

    def __init__(self, undo: QUndoStack, side: int = 512, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo = undo
        self.layer = sketch_layer(side, self)
        self.layer.changed.connect(self._on_layer_changed)
        self.layer.resized.connect(lambda w, h: self.update())
        self._image = to_qimage(self.layer.pixels)
        self.brush_size = 6
        self.tool = "brush"
        self.mirror = True
        self.smoothing = 0.5
        """Stabiliser strength in [0, 0.95): 0 follows the pen exactly, higher = smoother, lazier."""
        self._stroke: _Stroke | None = None
        self._hover: QPointF | None = None
        self.view_zoom = 1.0
        """Magnification over the fitted view (:data:`MIN_VIEW_ZOOM` – :data:`MAX_VIEW_ZOOM`)."""
        self._pan = QPointF(0.0, 0.0)  # widget-pixel offset of the canvas centre from the widget centre
        self._space = False
        self._panning: QPointF | None = None  # last mouse position of a pan drag
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)

    # -- state ------------------------------------------------------------------------------------
    def line_art(self) -> np.ndarray:
        """A copy of the line art, ``uint8`` ``[H, W]`` (255 paper, 0 ink)."""
        return self.layer.pixels.copy()

    def set_tool(self, tool: str) -> None:
        """``"brush"`` or ``"eraser"``."""
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
        if tool != self.tool:
            self.tool = tool
            self.tool_changed.emit(tool)
            self.update()

    def set_brush_size(self, size: int) -> None:
        """Brush diameter in canvas pixels, clamped to 1–64."""
        size = int(min(MAX_BRUSH, max(MIN_BRUSH, int(size))))
        if size != self.brush_size:
            self.brush_size = size
            self.brush_size_changed.emit(size)
            self.update()

    def step_brush_size(self, steps: int) -> None:
        """Move ``steps`` entries along :data:`BRUSH_STEPS` (``[`` = -1, ``]`` = +1)."""
        if steps > 0:
            bigger = [s for s in BRUSH_STEPS if s > self.brush_size]
            target = bigger[min(steps, len(bigger)) - 1] if bigger else self.brush_size
        else:
            smaller = [s for s in BRUSH_STEPS if s < self.brush_size]
            target = smaller[max(len(smaller) + steps, 0)] if smaller and steps < 0 else self.brush_size
        self.set_brush_size(target)

    def set_mirror(self, on: bool) -> None:
        """Mirror symmetry about the vertical axis (shown as a dashed line)."""
        if bool(on) != self.mirror:
            self.mirror = bool(on)
            self.mirror_changed.emit(self.mirror)
            self.update()

    def set_smoothing(self, value: float) -> None:
        """Stroke stabiliser strength in [0, 0.95)."""
        self.smoothing = float(min(0.95, max(0.0, value)))

    # -- undoable edits ---------------------------------------------------------------------------
    def clear(self) -> None:
        """Erase everything (one undo step; nothing is pushed on a blank canvas)."""
        ink = np.nonzero(self.layer.pixels != PAPER)
        if ink[0].size == 0:
            return
        y0, y1, x0, x1 = ink[0].min(), ink[0].max() + 1, ink[1].min(), ink[1].max() + 1
        old = self.layer.pixels[y0:y1, x0:x1].copy()
        new = np.full_like(old, PAPER)
        self.layer.write(y0, x0, new)
        self.undo.push(PatchCommand(self.layer, y0, x0, old, new, "Clear sketch", applied=True))

    def set_line_art(self, pixels: np.ndarray, label: str = "Replace sketch") -> None:
        """Replace the whole line art (one undo step). ``pixels``: ``uint8`` ``[H, W]``, sides 256–2048.

        Raises:
            ValueError: wrong shape or size (the canvas is left as it was).
        """
        self.undo.push(ReplaceCommand(self.layer, pixels, label))

    def new_canvas(self, side: int) -> None:
        """Start a blank ``side``² canvas (one undo step).

        Raises:
            ValueError: ``side`` outside 256–2048.
        """
        self.set_line_art(np.full((check_side(side), check_side(side)), PAPER, np.uint8), f"New {side}² sketch")

    def load(self, path: str | Path) -> None:
        """Load a line-art PNG (any picture: converted to grey, resized into 256–2048). One undo step.

        Raises:
            engine.errors.ImageLoadError: unreadable file (nothing changes).
        """
        from engine.imageio import load_grey

        self.set_line_art(fit_side_range(load_grey(path)), f"Load {Path(path).name}")

    def save(self, path: str | Path) -> Path:
        """Write the line art as a grey PNG atomically; returns the path written."""
        from engine.imageio import save_image

        return save_image(path, self.layer.pixels)

    # -- drawing ----------------------------------------------------------------------------------
    def _mirror_x(self, x: float) -> float:
        return (self.layer.shape[1] - 1) - x

    def begin_stroke(self, x: float, y: float) -> None:
        """Start a stroke at canvas pixel ``(x, y)`` (a dot is drawn at once)."""
        self._stroke = _Stroke(self.layer.pixels.copy(), (x, y))
        self._segment((x, y), (x, y))

    def stroke_to(self, x: float, y: float) -> None:
        """Continue the stroke toward ``(x, y)`` through the stabiliser."""
        s = self._stroke
        if s is None:
            return
        s.raw = (x, y)
        k = 1.0 - self.smoothing
        new = (s.pos[0] + k * (x - s.pos[0]), s.pos[1] + k * (y - s.pos[1]))
        self._segment(s.pos, new)
        s.pos = new

    def end_stroke(self) -> None:
        """Finish the stroke (catch up with the pen) and push it as one undo step."""
        s = self._stroke
        if s is None:
            return
        if s.raw != s.pos:
            self._segment(s.pos, s.raw)
        self._stroke = None
        h, w = self.layer.shape
        x0, y0 = max(0, int(np.floor(s.box[0]))), max(0, int(np.floor(s.box[1])))
        x1, y1 = min(w - 1, int(np.ceil(s.box[2]))), min(h - 1, int(np.ceil(s.box[3])))
        if x1 < x0 or y1 < y0:
            return
        old = s.before[y0:y1 + 1, x0:x1 + 1]
        new = self.layer.pixels[y0:y1 + 1, x0:x1 + 1].copy()
        if np.array_equal(old, new):
            return
        label = "Erase" if self.tool == "eraser" else "Stroke"
        self.undo.push(PatchCommand(self.layer, y0, x0, old, new, label, applied=True))
        self.edited.emit()

    def _segment(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        """Draw one segment (and its mirror image) on the layer; grow the stroke's box."""
        s = self._stroke
        assert s is not None
        value = PAPER if self.tool == "eraser" else INK
        shift = 4  # sub-pixel precision of cv2.line
        r = self.brush_size / 2.0
        segs = [(a, b)]
        if self.mirror:
            segs.append(((self._mirror_x(a[0]), a[1]), (self._mirror_x(b[0]), b[1])))
        pix = self.layer.pixels
        for p, q in segs:
            p_i = (int(round(p[0] * (1 << shift))), int(round(p[1] * (1 << shift))))
            q_i = (int(round(q[0] * (1 << shift))), int(round(q[1] * (1 << shift))))
            cv2.line(pix, p_i, q_i, value, thickness=max(1, self.brush_size), lineType=cv2.LINE_AA, shift=shift)
            s.grow(min(p[0], q[0]) - r - 2, min(p[1], q[1]) - r - 2, max(p[0], q[0]) + r + 2, max(p[1], q[1]) + r + 2)
            h, w = pix.shape
            x0, y0 = max(0, int(min(p[0], q[0]) - r - 2)), max(0, int(min(p[1], q[1]) - r - 2))
            x1, y1 = min(w, int(max(p[0], q[0]) + r + 3)), min(h, int(max(p[1], q[1]) + r + 3))
            if x1 > x0 and y1 > y0:
                self._refresh(x0, y0, x1 - x0, y1 - y0)

    # -- view -------------------------------------------------------------------------------------
    def _on_layer_changed(self, x: int, y: int, w: int, h: int) -> None:
        self._refresh(x, y, w, h)
        if self._stroke is None:
            self.edited.emit()

    def _refresh(self, x: int, y: int, w: int, h: int) -> None:
        """Copy the changed pixels into the displayed image."""
        ph, pw = self.layer.shape
        if (self._image.width(), self._image.height()) != (pw, ph) or (w, h) == (pw, ph):
            self._image = to_qimage(self.layer.pixels)
        else:
            patch = to_qimage(self.layer.pixels[y:y + h, x:x + w])
            p = QPainter(self._image)
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            p.drawImage(x, y, patch)
            p.end()
        self.update()

    def display_image(self) -> QImage:
        """What the canvas shows (kept in step with the layer)."""
        return self._image

    def image_rect(self) -> QRectF:
        """Where the canvas lies in widget coordinates (fitted with an 8 px margin, magnified by
        :attr:`view_zoom`, moved by the pan)."""
        h, w = self.layer.shape
        m = 8
        z = min((self.width() - 2 * m) / w, (self.height() - 2 * m) / h)
        z = max(z, 1e-3) * self.view_zoom
        return QRectF((self.width() - w * z) / 2 + self._pan.x(), (self.height() - h * z) / 2 + self._pan.y(),
                      w * z, h * z)

    # -- zoom and pan -----------------------------------------------------------------------------
    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Magnify by ``factor`` keeping the canvas point under ``anchor`` (widget coordinates;
        default the widget centre) where it is."""
        new = float(np.clip(self.view_zoom * factor, MIN_VIEW_ZOOM, MAX_VIEW_ZOOM))
        if new == self.view_zoom:
            return
        a = QPointF(self.width() / 2, self.height() / 2) if anchor is None else anchor
        before = self.map_to_canvas(a)
        self.view_zoom = new
        if new == MIN_VIEW_ZOOM:
            self._pan = QPointF(0.0, 0.0)
        else:
            after = self.map_to_canvas(a)
            z = self.image_rect().width() / self.layer.shape[1]
            self._pan += QPointF((after[0] - before[0]) * z, (after[1] - before[1]) * z)
        self.update()

    def fit(self) -> None:
        """The whole canvas in the widget (Ctrl+0)."""
        self.view_zoom = 1.0
        self._pan = QPointF(0.0, 0.0)
        self.update()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by ``(dx, dy)`` widget pixels (when magnified)."""
        if self.view_zoom > MIN_VIEW_ZOOM:
            self._pan += QPointF(dx, dy)
            self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120.0
            if steps:
                self.zoom_by(ZOOM_STEP ** steps, event.position())
            event.accept()
            return
        super().wheelEvent(event)

    def map_to_canvas(self, pos: QPointF) -> tuple[float, float]:
        """Widget position → canvas pixel coordinates (may lie outside the canvas)."""
        r = self.image_rect()
        z = r.width() / self.layer.shape[1]
        return (pos.x() - r.left()) / z - 0.5, (pos.y() - r.top()) / z - 0.5

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(48, 48, 52))
        r = self.image_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, r.width() < self.layer.shape[1])
        p.drawImage(r, self._image)
        p.setPen(QPen(QColor(20, 20, 20), 1))
        p.drawRect(r)
        if self.mirror:
            pen = QPen(QColor(0, 170, 220, 200), 1.5, Qt.PenStyle.DashLine)
            p.setPen(pen)
            cx = r.left() + r.width() / 2
            p.drawLine(QPointF(cx, r.top()), QPointF(cx, r.bottom()))
        if self._hover is not None and r.contains(self._hover):
            z = r.width() / self.layer.shape[1]
            rad = max(1.5, self.brush_size * z / 2)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(220, 40, 40) if self.tool == "brush" else QColor(40, 120, 220), 1))
            p.drawEllipse(self._hover, rad, rad)
            if self.mirror:
                cx = r.left() + r.width() / 2
                p.setPen(QPen(QColor(160, 160, 160), 1, Qt.PenStyle.DotLine))
                p.drawEllipse(QPointF(2 * cx - self._hover.x(), self._hover.y()), rad, rad)

    # -- input ------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (event.button() == Qt.MouseButton.LeftButton
                                                            and self._space):
            self._panning = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            x, y = self.map_to_canvas(event.position())
            self.begin_stroke(x, y)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None:
            d = event.position() - self._panning
            self._panning = event.position()
            self.pan_by(d.x(), d.y())
            event.accept()
            return
        self._hover = event.position()
        if self._stroke is not None:
            self.stroke_to(*self.map_to_canvas(event.position()))
        else:
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._panning is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._panning = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.CrossCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self._stroke is not None:
            self.stroke_to(*self.map_to_canvas(event.position()))
            self.end_stroke()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif ctrl and key in (Qt.Key.Key_Equal, Qt.Key.Key_Plus):
            self.zoom_by(ZOOM_STEP)
        elif ctrl and key == Qt.Key.Key_Minus:
            self.zoom_by(1.0 / ZOOM_STEP)
        elif ctrl and key == Qt.Key.Key_0:
            self.fit()
        elif key == Qt.Key.Key_BracketLeft:
            self.step_brush_size(-1)
        elif key == Qt.Key.Key_BracketRight:
            self.step_brush_size(+1)
        elif key == Qt.Key.Key_B:
            self.set_tool("brush")
        elif key == Qt.Key.Key_E:
            self.set_tool("eraser")
        elif key == Qt.Key.Key_M:
            self.set_mirror(not self.mirror)
        else:
            return super().keyPressEvent(event)
        event.accept()

    def event(self, event: QEvent) -> bool:
        # the window's View actions own Ctrl+= / Ctrl+- / Ctrl+0 for the main canvas; while the sketch
        # has the focus they zoom the sketch
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if (event.modifiers() & Qt.KeyboardModifier.ControlModifier
                    and event.key() in (Qt.Key.Key_Equal, Qt.Key.Key_Plus, Qt.Key.Key_Minus, Qt.Key.Key_0)):
                event.accept()
                return True
        return super().event(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            if self._panning is None:
                self.setCursor(Qt.CursorShape.CrossCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)
