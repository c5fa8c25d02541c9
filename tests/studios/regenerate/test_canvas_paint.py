"""Painting the regenerate mask on the main canvas: right pixels at every zoom, screen-px brush, undo, 4000 px."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QImage, QUndoStack

from app.model.raster import RasterLayer
from app.widgets.canvas import ImageCanvas
from app.widgets.mask_painter import CanvasMaskTool, MaskPaintView
from engine.labels import CELEBAMASK_HQ

HAIR = CELEBAMASK_HQ.index("hair")
SKIN = CELEBAMASK_HQ.index("skin")


def _setup(qtbot, h: int, w: int) -> tuple[ImageCanvas, CanvasMaskTool, RasterLayer, QUndoStack]:
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    img = QImage(w, h, QImage.Format.Format_RGB888)
    img.fill(0x808080)
    canvas.set_document_size(QSize(w, h))
    canvas.set_before(img)
    stack = QUndoStack()
    view = MaskPaintView(stack)
    model = RasterLayer(np.full((h, w), SKIN, np.uint8))
    view.set_model(model)
    view.label = HAIR
    tool = CanvasMaskTool(view, screen_brush=8)
    canvas.set_paint_tool(tool)
    return canvas, tool, model, stack


def _widget_point(canvas: ImageCanvas, x: float, y: float) -> QPoint:
    """Widget position of the centre of image pixel (x, y)."""
    r = canvas.image_rect()
    return QPoint(int(round(r.x() + (x + 0.5) * canvas.zoom)), int(round(r.y() + (y + 0.5) * canvas.zoom)))


@pytest.mark.parametrize("zoom", [0.5, 1.0, 2.0, 4.0])
def test_dab_lands_on_the_pixel_under_the_cursor(qtbot, zoom: float) -> None:
    canvas, tool, model, stack = _setup(qtbot, 120, 160)
    canvas.set_zoom(zoom)
    # pick a pixel that is on screen at this zoom
    r = canvas.image_rect()
    tx = int(np.clip((200 - r.x()) / zoom, 5, 154))
    ty = int(np.clip((150 - r.y()) / zoom, 5, 114))
    pt = _widget_point(canvas, tx, ty)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=pt)
    ys, xs = np.nonzero(model.pixels == HAIR)
    assert len(ys) > 0
    cy, cx = ys.mean(), xs.mean()
    assert abs(cy - ty) <= max(1.0, 1.0 / zoom) and abs(cx - tx) <= max(1.0, 1.0 / zoom)
    # brush radius is in screen pixels: the dab covers ~ (8 / zoom) image pixels of radius
    radius = (xs.max() - xs.min()) / 2.0
    assert abs(radius - tool.image_radius(zoom)) <= 1.0
    assert tool.image_radius(zoom) == max(1, round(8 / zoom))
    assert stack.count() == 1
    stack.undo()
    assert (model.pixels == SKIN).all()


def test_brush_size_keys_and_label_picker(qtbot) -> None:
    canvas, tool, model, stack = _setup(qtbot, 80, 100)
    canvas.set_zoom(2.0)
    before = tool.screen_brush
    canvas.setFocus()
    qtbot.keyClick(canvas, "]")
    assert tool.screen_brush > before
    qtbot.keyClick(canvas, "[")
    qtbot.keyClick(canvas, "[")
    assert tool.screen_brush < before
    model.pixels[40:60, 50:70] = 17  # neck
    model.touch()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=_widget_point(canvas, 55, 45))
    assert tool.view.label == 17 and stack.count() == 0  # picking paints nothing
    qtbot.keyClick(canvas, "e")
    assert tool.view.tool == "eraser"


def test_stroke_drag_is_one_undo_step(qtbot) -> None:
    canvas, tool, model, stack = _setup(qtbot, 100, 140)
    canvas.set_zoom(1.5)
    a, b = _widget_point(canvas, 20, 50), _widget_point(canvas, 100, 50)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=a)
    for t in np.linspace(0, 1, 8):
        qtbot.mouseMove(canvas, QPoint(int(a.x() + t * (b.x() - a.x())), a.y()))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=b)
    row = model.pixels[50, 20:101]
    assert (row == HAIR).mean() > 0.95
    assert stack.count() == 1
    stack.undo()
    assert (model.pixels == SKIN).all()


def test_4000px_photo_paints_and_undoes(qtbot) -> None:
    canvas, tool, model, stack = _setup(qtbot, 3000, 4000)
    canvas.fit()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=_widget_point(canvas, 2000, 1500))
    hit = model.pixels == HAIR
    assert hit.any()
    ys, xs = np.nonzero(hit)
    assert abs(ys.mean() - 1500) < 12 and abs(xs.mean() - 2000) < 12
    # at fit zoom (~0.1) an 8-screen-px brush is ~80 image px: visible, not a hairline
    assert xs.max() - xs.min() > 100
    cmd = stack.command(0)
    assert cmd is not None
    stack.undo()
    assert not (model.pixels == HAIR).any()


def test_canvas_without_tool_ignores_left_drags(qtbot) -> None:
    canvas, tool, model, stack = _setup(qtbot, 60, 60)
    canvas.set_paint_tool(None)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=_widget_point(canvas, 30, 30))
    assert (model.pixels == SKIN).all() and stack.count() == 0


def test_palette_shows_all_labels_and_size_box_drives_the_canvas_brush(qtbot) -> None:
    from app.widgets.mask_painter import MaskPainter

    painter = MaskPainter(QUndoStack())
    qtbot.addWidget(painter)
    painter.resize(360, 700)
    painter.show()
    pal = painter.palette_list
    view = pal.viewport().rect()
    for i in range(pal.count()):
        assert view.contains(pal.visualItemRect(pal.item(i))), CELEBAMASK_HQ.classes[i]  # no scrolling
    tool = CanvasMaskTool(painter.view, screen_brush=10)
    painter.use_canvas_brush(tool)
    assert painter.size_spin.value() == 10
    painter.size_spin.setValue(30)
    assert tool.screen_brush == 30 and painter.view.brush != 30  # the canvas brush, not the navigator's
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    tool.key(canvas, "[")
    assert painter.size_spin.value() == tool.screen_brush < 30


def test_canvas_says_analysing_until_the_mask_arrives(qtbot) -> None:
    canvas, tool, model, stack = _setup(qtbot, 60, 80)
    tool.view.set_model(None)
    tool.view.set_photo(np.full((60, 80, 3), 128, np.uint8))
    img = canvas.grab().toImage()
    r = canvas.image_rect()
    dark = QImage(img).pixelColor(int(r.x()) + 12, int(r.y()) + 12)
    assert dark.value() < 100  # the label's dark box over the grey photo
    assert tool.view.begin(1, 1) is False  # nothing to paint yet
