"""Zoom/pan image canvas with a before/after split.

* Ctrl+wheel zooms about the cursor; the wheel alone scrolls (Shift = sideways).
* Middle-drag, or Space held + left-drag, pans. Space works whenever the cursor is over the
  canvas, whatever widget of the window has the keyboard focus (Krita, Photoshop): a
  :class:`SpacePanFilter` on the application takes that Space press (it does not toggle the check
  box or button that has focus) and its release.
* With the split on, the *before* image shows left of a vertical line that can be dragged;
  holding ``\\`` shows the before image whole.
* ``fit()`` fits the image to the widget (and keeps fitting on resize until the user zooms);
  ``actual_size()`` is 100 %.
* Optional paint mode (only a studio that calls :meth:`ImageCanvas.set_paint_tool` has it): a
  :class:`CanvasTool` receives left-button gestures, keys and hover in widget coordinates (it maps
  them with ``map_to_document``/``zoom``) and draws its overlay and cursor over the picture;
  panning, zooming and the split keep working as before.

The canvas shows images in *document* coordinates: a low-resolution preview is stretched over the
full document size, so previews and final results line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QHideEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QSizePolicy, QWidget

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0


class CanvasTool(Protocol):
    """What :meth:`ImageCanvas.set_paint_tool` accepts (a mask painter on the main canvas)."""

    def press(self, canvas: ImageCanvas, event: QMouseEvent) -> bool:
        """A left press not taken by pan/handles/split; True = the gesture is the tool's."""

    def move(self, canvas: ImageCanvas, event: QMouseEvent) -> None:
        """The mouse moved during the tool's gesture."""

    def release(self, canvas: ImageCanvas, event: QMouseEvent) -> None:
        """The gesture ended."""

    def hover(self, canvas: ImageCanvas, pos: QPointF | None) -> None:
        """The cursor moved without a gesture (``None``: it left the canvas)."""

    def key(self, canvas: ImageCanvas, text: str) -> bool:
        """A key the canvas does not use; True = taken."""

    def draw(self, p: QPainter, canvas: ImageCanvas) -> None:
        """Paint the tool's overlay and cursor (widget coordinates)."""
SPLIT_GRAB_PX = 6
HANDLE_GRAB_PX = 9


class SpacePanFilter(QObject):
    """Application event filter: Space pans the canvas whenever the cursor is over it.

    A Space press (not an auto-repeat) while the cursor lies over the visible canvas, in the canvas's
    own window, is taken from whatever widget has the focus and arms the pan (:meth:`ImageCanvas.set_space`);
    its release disarms it wherever the cursor is then. The canvas's own key handling covers the
    case where it has the focus itself. The filter is a child of the canvas, so it goes with it.

    Args:
        canvas: the canvas to pan.
    """

    def __init__(self, canvas: ImageCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self._armed = False  # this filter took the Space press: it takes the release too

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        assert isinstance(event, QKeyEvent)
        if event.key() != Qt.Key.Key_Space or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        if kind == QEvent.Type.KeyRelease:
            if not self._armed:
                return False
            if not event.isAutoRepeat():
                self._armed = False
                self.canvas.set_space(False)
            return True
        if self._armed:  # auto-repeat of the press we took
            return True
        if event.isAutoRepeat() or not self.wants(watched):
            return False
        self._armed = True
        self.canvas.set_space(True)
        return True

    def release(self) -> None:
        """Let go of a Space press this filter took (the canvas is being hidden)."""
        if self._armed:
            self._armed = False
            self.canvas.set_space(False)

    def wants(self, target: QObject) -> bool:
        """Whether a Space press sent to ``target`` is the canvas's: the cursor is over the visible
        canvas, the key goes to a widget of the canvas's window, and not to the canvas itself."""
        c = self.canvas
        if not isinstance(target, QWidget) or target is c or not c.isVisible():
            return False
        if target.window() is not c.window() or QApplication.activePopupWidget() is not None:
            return False
        return c.rect().contains(c.mapFromGlobal(QCursor.pos()))


class ImageCanvas(QWidget):
    """Shows an *after* image (and optionally the *before* image beside a split line).

    Signals:
        zoom_changed(float): new zoom factor (1.0 = 100 %).
        handle_dragged(index, x, y): a draggable handle moves (document pixels), during the drag.
        handle_released(index, x, y): the drag of a handle ended there.
    """

    zoom_changed = Signal(float)
    handle_dragged = Signal(int, float, float)
    handle_released = Signal(int, float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(200, 150)
        self._after: QPixmap | None = None
        self._before: QPixmap | None = None
        self._doc_size = QSize()
        self._zoom = 1.0
        self._origin = QPointF(0, 0)  # widget position of the document's top-left corner
        self._fit_mode = True
        self.split_enabled = False
        self.split_pos = 0.5  # fraction of the document width
        self._hold_before = False
        self._space = False
        self._drag: str | None = None  # "pan" | "split"
        self._last = QPointF()
        self.placeholder = "Open an image (Ctrl+O) or drop one here"
        self._overlay: QPixmap | None = None
        self._overlay_points: np.ndarray | None = None  # [N, 2] document coordinates
        self._legend: list[tuple[str, QColor]] = []
        self._handles: np.ndarray | None = None  # [N, 2] draggable points, document coordinates
        self._handle_labels: list[str] = []
        self._active_handle = -1
        self.space_filter = SpacePanFilter(self)  # on the application only while the canvas is shown
        self.paint_tool: CanvasTool | None = None  # optional paint mode (set_paint_tool)

    def showEvent(self, event: QShowEvent) -> None:
        """Watch the application's Space presses while shown (a hidden or closed canvas costs nothing)."""
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.space_filter)
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        """Stop watching when hidden (another studio, a closed window); a held Space is let go."""
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.space_filter)
        self.space_filter.release()
        super().hideEvent(event)

    # -- content ----------------------------------------------------------------------------------
    def set_document_size(self, size: QSize) -> None:
        """Size of the document in pixels; resets the view to fit when it changes."""
        if size != self._doc_size:
            self._doc_size = QSize(size)
            self._fit_mode = True
            self._apply_fit()
        self.update()

    def set_before(self, image: QImage | None) -> None:
        """The unedited image (shown left of the split, or whole while ``\\`` is held)."""
        self._before = QPixmap.fromImage(image) if image is not None else None
        if image is not None and self._doc_size.isEmpty():
            self.set_document_size(image.size())
        self.update()

    def set_after(self, image: QImage | None) -> None:
        """The edited image; may be smaller than the document (a preview) and is stretched."""
        self._after = QPixmap.fromImage(image) if image is not None else None
        if image is not None and self._doc_size.isEmpty():
            self.set_document_size(image.size())
        self.update()

    def set_overlay(self, image: QImage | None, points: np.ndarray | None = None,
                    legend: Sequence[tuple[str, QColor]] = ()) -> None:
        """Draw ``image`` (RGBA, stretched over the document), landmark ``points`` ``[N, 2]``
        (document pixels) and a legend of ``(name, colour)`` over the picture; ``None`` clears."""
        self._overlay = QPixmap.fromImage(image) if image is not None else None
        self._overlay_points = None if points is None else np.asarray(points, np.float32)
        self._legend = list(legend) if image is not None or points is not None else []
        self.update()

    def set_handles(self, points: np.ndarray | None, labels: Sequence[str] = ()) -> None:
        """Show draggable handles at ``points`` ``[N, 2]`` (document pixels); ``None`` removes them."""
        self._handles = None if points is None else np.array(points, np.float32).reshape(-1, 2)
        self._handle_labels = list(labels)
        if self._drag != "handle":
            self._active_handle = -1
        self.update()

    @property
    def handles(self) -> np.ndarray | None:
        return None if self._handles is None else self._handles.copy()

    def _handle_at(self, pos: QPointF) -> int:
        if self._handles is None:
            return -1
        widget = self._handles * self._zoom + np.array([self._origin.x(), self._origin.y()], np.float32)
        d = np.hypot(widget[:, 0] - pos.x(), widget[:, 1] - pos.y())
        i = int(d.argmin()) if len(d) else -1
        return i if i >= 0 and d[i] <= HANDLE_GRAB_PX else -1

    def set_paint_tool(self, tool: CanvasTool | None) -> None:
        """Give left-button gestures, spare keys and hover to ``tool`` (``None``: no paint mode)."""
        self.paint_tool = tool
        self.setCursor(Qt.CursorShape.CrossCursor if tool is not None else Qt.CursorShape.ArrowCursor)
        self.update()

    @property
    def has_overlay(self) -> bool:
        return self._overlay is not None or self._overlay_points is not None

    def clear(self) -> None:
        self._overlay = None
        self._overlay_points = None
        self._legend = []
        self._after = self._before = None
        self._doc_size = QSize()
        self.update()

    @property
    def document_size(self) -> QSize:
        return QSize(self._doc_size)

    # -- view -------------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    def fit(self) -> None:
        """Fit the whole document in the widget; keeps fitting on resize until the user zooms."""
        self._fit_mode = True
        self._apply_fit()

    def actual_size(self) -> None:
        """Zoom to 100 % about the widget centre."""
        self.set_zoom(1.0)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self._zoom * factor, anchor)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Set the zoom keeping the document point under ``anchor`` (default: centre) in place."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        a = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        doc_pt = (a - self._origin) / self._zoom
        self._zoom = zoom
        self._origin = a - doc_pt * zoom
        self._fit_mode = False
        self.zoom_changed.emit(self._zoom)
        self.update()

    def _apply_fit(self) -> None:
        if self._doc_size.isEmpty():
            return
        margin = 8
        w = max(1, self.width() - 2 * margin)
        h = max(1, self.height() - 2 * margin)
        z = min(w / self._doc_size.width(), h / self._doc_size.height())
        self._zoom = min(MAX_ZOOM, max(MIN_ZOOM, z))
        self._origin = QPointF((self.width() - self._doc_size.width() * self._zoom) / 2,
                               (self.height() - self._doc_size.height() * self._zoom) / 2)
        self.zoom_changed.emit(self._zoom)
        self.update()

    def image_rect(self) -> QRectF:
        """Where the document lies, in widget coordinates."""
        return QRectF(self._origin.x(), self._origin.y(),
                      self._doc_size.width() * self._zoom, self._doc_size.height() * self._zoom)

    def map_to_document(self, p: QPointF) -> QPointF:
        return (p - self._origin) / self._zoom

    def set_split(self, enabled: bool) -> None:
        self.split_enabled = enabled
        self.update()

    def _split_x(self) -> float:
        r = self.image_rect()
        return r.left() + r.width() * self.split_pos

    # -- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(48, 48, 52))
        if self._doc_size.isEmpty() or (self._after is None and self._before is None):
            p.setPen(QColor(190, 190, 195))
            p.drawText(self.rect().adjusted(12, 12, -12, -12),  # wrapped: narrow panes clipped both ends
                       int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.placeholder)
            return
        smooth = self._zoom < 2.0
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        target = self.image_rect()
        after = self._after if self._after is not None else self._before
        if self._hold_before and self._before is not None:
            p.drawPixmap(target, self._before, QRectF(self._before.rect()))
        elif self.split_enabled and self._before is not None:
            sx = self._split_x()
            p.save()
            p.setClipRect(QRectF(target.left(), target.top(), sx - target.left(), target.height()))
            p.drawPixmap(target, self._before, QRectF(self._before.rect()))
            p.restore()
            p.save()
            p.setClipRect(QRectF(sx, target.top(), target.right() - sx, target.height()))
            p.drawPixmap(target, after, QRectF(after.rect()))
            p.restore()
            pen = QPen(QColor(255, 210, 60), 2)
            p.setPen(pen)
            p.drawLine(QPointF(sx, target.top()), QPointF(sx, target.bottom()))
            self._tag(p, "before", sx - 6, target.top() + 6, right_align=True)
            self._tag(p, "after", sx + 6, target.top() + 6)
        else:
            p.drawPixmap(target, after, QRectF(after.rect()))
        self._paint_overlay(p, target)
        p.setPen(QPen(QColor(20, 20, 20), 1))
        p.drawRect(target)
        if self.paint_tool is not None:
            self.paint_tool.draw(p, self)

    def _paint_overlay(self, p: QPainter, target: QRectF) -> None:
        if self._overlay is not None:
            p.drawPixmap(target, self._overlay, QRectF(self._overlay.rect()))
        if self._overlay_points is not None and len(self._overlay_points):
            p.save()
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(80, 255, 120, 220))
            r = max(1.0, min(3.0, self._zoom * 1.2))
            for x, y in self._overlay_points:
                p.drawEllipse(QPointF(self._origin.x() + x * self._zoom, self._origin.y() + y * self._zoom), r, r)
            p.restore()
        if self._handles is not None:
            p.save()
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            for i, (x, y) in enumerate(self._handles):
                c = QPointF(self._origin.x() + x * self._zoom, self._origin.y() + y * self._zoom)
                p.setPen(QPen(QColor(0, 0, 0), 2))
                p.setBrush(QColor(255, 200, 0) if i == self._active_handle else QColor(255, 255, 255))
                p.drawEllipse(c, 6, 6)
                if i < len(self._handle_labels):
                    p.setPen(QColor(255, 255, 255))
                    p.drawText(c + QPointF(8, -6), self._handle_labels[i])
            p.restore()
        if self._legend:
            fm = p.fontMetrics()
            row = fm.height() + 2
            width = max(fm.horizontalAdvance(n) for n, _ in self._legend) + 30
            box = QRectF(8, 8, width, row * len(self._legend) + 8)
            p.save()
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 160))
            p.drawRoundedRect(box, 5, 5)
            for i, (name, colour) in enumerate(self._legend):
                y = box.top() + 4 + i * row
                p.setBrush(colour)
                p.drawRect(QRectF(box.left() + 6, y + 3, 14, row - 6))
                p.setPen(QColor(255, 255, 255))
                p.drawText(QPointF(box.left() + 26, y + fm.ascent() + 1), name)
                p.setPen(Qt.PenStyle.NoPen)
            p.restore()

    @staticmethod
    def _tag(p: QPainter, text: str, x: float, y: float, right_align: bool = False) -> None:
        """A small white label on a dark pill, readable over any image."""
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 10, fm.height() + 4
        r = QRectF(x - w if right_align else x, y, w, h)
        p.save()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(r, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)
        p.restore()

    # -- input ------------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = delta.y() / 120.0
            self.zoom_by(1.15 ** steps, event.position())
        else:
            dx, dy = (delta.y(), 0) if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else (delta.x(), delta.y())
            self._origin += QPointF(dx, dy) / 2.0
            self._fit_mode = False
            self.update()
        event.accept()

    def _near_split(self, pos: QPointF) -> bool:
        return (self.split_enabled and self._before is not None
                and abs(pos.x() - self._split_x()) <= SPLIT_GRAB_PX
                and self.image_rect().top() <= pos.y() <= self.image_rect().bottom())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space):
            self._drag = "pan"
        elif event.button() == Qt.MouseButton.LeftButton and self._handle_at(pos) >= 0:
            self._drag = "handle"
            self._active_handle = self._handle_at(pos)
        elif event.button() == Qt.MouseButton.LeftButton and self._near_split(pos):
            self._drag = "split"
        elif (event.button() == Qt.MouseButton.LeftButton and self.paint_tool is not None
              and self.paint_tool.press(self, event)):
            self._drag = "tool"
        else:
            return super().mousePressEvent(event)
        self._last = pos
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag == "pan":
            self._origin += pos - self._last
            self._last = pos
            self._fit_mode = False
            self.update()
        elif self._drag == "handle" and self._handles is not None:
            d = self.map_to_document(pos)
            self._handles[self._active_handle] = (d.x(), d.y())
            self.handle_dragged.emit(self._active_handle, d.x(), d.y())
            self.update()
        elif self._drag == "tool" and self.paint_tool is not None:
            self.paint_tool.move(self, event)
        elif self._drag == "split":
            r = self.image_rect()
            if r.width() > 0:
                self.split_pos = min(1.0, max(0.0, (pos.x() - r.left()) / r.width()))
            self.update()
        else:
            plain = Qt.CursorShape.CrossCursor if self.paint_tool is not None else Qt.CursorShape.ArrowCursor
            shape = Qt.CursorShape.SplitHCursor if self._near_split(pos) else (
                Qt.CursorShape.OpenHandCursor if self._space else plain)
            self.setCursor(shape)
            if self.paint_tool is not None:
                self.paint_tool.hover(self, pos)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag == "handle" and self._handles is not None and self._active_handle >= 0:
            x, y = self._handles[self._active_handle]
            self.handle_released.emit(self._active_handle, float(x), float(y))
            self._active_handle = -1
            self.update()
        if self._drag == "tool" and self.paint_tool is not None:
            self.paint_tool.release(self, event)
        self._drag = None
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if self.paint_tool is not None:
            self.paint_tool.hover(self, None)
        super().leaveEvent(event)

    @property
    def space_held(self) -> bool:
        """Space is down: a left-drag pans."""
        return self._space

    def set_space(self, held: bool) -> None:
        """Arm (Space pressed) or disarm (released) panning with the left button; shows the hand cursor."""
        self._space = held
        self.setCursor(Qt.CursorShape.OpenHandCursor if held else Qt.CursorShape.ArrowCursor)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.isAutoRepeat():
            return super().keyPressEvent(event)
        if event.key() == Qt.Key.Key_Space:
            self.set_space(True)
        elif event.key() == Qt.Key.Key_Backslash:
            self._hold_before = True
            self.update()
        elif self.paint_tool is not None and event.text() and self.paint_tool.key(self, event.text()):
            self.update()
        else:
            return super().keyPressEvent(event)
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.isAutoRepeat():
            return super().keyReleaseEvent(event)
        if event.key() == Qt.Key.Key_Space:
            self.set_space(False)
        elif event.key() == Qt.Key.Key_Backslash:
            self._hold_before = False
            self.update()
        else:
            return super().keyReleaseEvent(event)
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._fit_mode:
            self._apply_fit()
        super().resizeEvent(event)


class ClickCanvas(ImageCanvas):
    """An :class:`ImageCanvas` whose left click (not a pan or split drag) reports its document pixel.

    Signals:
        clicked(x, y, ctrl): document coordinates of a left click, and whether Ctrl was held.
    """

    clicked = Signal(float, float, bool)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if (event.button() == Qt.MouseButton.LeftButton and not self._space and not self._near_split(pos)
                and not self.document_size.isEmpty()):
            p = self.map_to_document(pos)
            ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
            self.clicked.emit(p.x(), p.y(), ctrl)
            event.accept()
            return
        super().mousePressEvent(event)
