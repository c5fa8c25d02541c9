"""Mask painter: paint commands on a bare QUndoStack, pure label tools, the widget's keys and strokes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QUndoStack

from app.model.raster import PatchCommand, RasterLayer, ReplaceCommand, changed_box
from app.widgets.mask_painter import MaskPainter, fill_polygon, flood_fill, paint_line
from engine.labels import CELEBAMASK_HQ

HAIR = CELEBAMASK_HQ.index("hair")
SKIN = CELEBAMASK_HQ.index("skin")


def base_map() -> np.ndarray:
    m = np.zeros((64, 80), np.uint8)
    m[10:50, 20:60] = SKIN
    return m


def test_paint_undo_redo_stores_only_the_box() -> None:
    model = RasterLayer(base_map())
    stack = QUndoStack()
    seen = []
    model.changed.connect(lambda *box: seen.append(box))
    before = model.pixels.copy()
    after = before.copy()
    paint_line(after, (30, 20), (40, 22), 3, HAIR)
    cmd = PatchCommand.from_maps(model, before, after, "Paint hair")
    assert cmd is not None and cmd.nbytes < before.nbytes // 10  # a box, not the whole map
    stack.push(cmd)
    assert np.array_equal(model.pixels, after) and seen
    stack.undo()
    assert np.array_equal(model.pixels, before)
    stack.redo()
    assert np.array_equal(model.pixels, after)
    assert PatchCommand.from_maps(model, after, after.copy(), "nothing") is None


def test_live_stroke_command_does_not_repaint_twice() -> None:
    model = RasterLayer(base_map())
    stack = QUndoStack()
    before = model.pixels.copy()
    paint_line(model.pixels, (5, 5), (15, 5), 2, HAIR)  # painted live during the drag
    live = model.pixels.copy()
    stack.push(PatchCommand.from_maps(model, before, live, "Paint hair", applied=True))
    assert np.array_equal(model.pixels, live)
    stack.undo()
    assert np.array_equal(model.pixels, before)


def test_fill_rect_lasso_and_pick() -> None:
    m = base_map()
    flood_fill(m, 30, 30, HAIR)
    assert (m == HAIR).sum() == 40 * 40 and m[0, 0] == 0
    flood_fill(m, 200, 200, SKIN)  # outside: no-op, no crash
    fill_polygon(m, np.array([[0, 0], [9, 0], [9, 9], [0, 9]]), SKIN)
    assert (m[:10, :10] == SKIN).all()
    model = RasterLayer(m)
    stack = QUndoStack()
    stack.push(ReplaceCommand(model, np.zeros_like(m), "Load mask"))
    assert not model.pixels.any()
    stack.undo()
    assert np.array_equal(model.pixels, m)
    assert changed_box(m, m) is None
    with pytest.raises(ValueError):
        PatchCommand(model, 0, 0, np.zeros((2, 2), np.uint8), np.zeros((3, 2), np.uint8), "Paint hair")


def test_painter_widget_keys_and_stroke(qtbot) -> None:
    stack = QUndoStack()
    p = MaskPainter(stack)
    qtbot.addWidget(p)
    p.resize(400, 500)
    p.show()
    model = RasterLayer(base_map())
    p.view.set_model(model)
    p.view.set_photo(np.full((64, 80, 3), 128, np.uint8))
    v = p.view
    v.handle_key("=")
    assert v.label == HAIR + 1 and p.palette_list.currentRow() == HAIR + 1
    v.handle_key("-")
    r0 = v.brush
    v.handle_key("]")
    assert v.brush > r0 and p.size_spin.value() == v.brush
    v.handle_key("F")
    assert v.tool == "fill" and p.tool_buttons["fill"].isChecked()
    v.handle_key("B")
    rect = v.image_rect()

    def at(x: float, y: float) -> QPointF:
        return QPointF(rect.x() + (x + 0.5) * rect.width() / 80, rect.y() + (y + 0.5) * rect.height() / 64)

    with qtbot.waitSignal(p.stroke_finished):
        qtbot.mousePress(v, Qt.MouseButton.LeftButton, pos=at(30, 30).toPoint())
        qtbot.mouseMove(v, at(40, 30).toPoint())
        qtbot.mouseRelease(v, Qt.MouseButton.LeftButton, pos=at(40, 30).toPoint())
    assert stack.count() == 1 and model.pixels[30, 35] == HAIR
    # Ctrl+click picks the label under the cursor
    qtbot.mouseClick(v, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, at(5, 5).toPoint())
    assert v.label == 0
    v.handle_key("E")
    qtbot.mouseClick(v, Qt.MouseButton.LeftButton, pos=at(35, 30).toPoint())
    assert model.pixels[30, 35] == 0 and stack.count() == 2
    stack.undo()
    stack.undo()
    assert np.array_equal(model.pixels, base_map())
    p.palette_list.set_visible(SKIN, False)
    assert SKIN in v.hidden
    p.opacity.setValue(20)
    assert v.opacity == pytest.approx(0.2)


def test_strokes_footprint_follows_undo(qtbot) -> None:
    stack = QUndoStack()
    p = MaskPainter(stack)
    qtbot.addWidget(p)
    model = RasterLayer(base_map())
    trace = RasterLayer(np.zeros((64, 80), np.uint8))
    v = p.view
    v.set_model(model)
    v.set_footprint(trace)
    p.set_label(SKIN)
    p.set_tool("brush")
    v.begin(10, 30, radius=3)                      # skin over background (changes) and over skin
    v.extend(30, 30)
    v.finish()
    assert stack.count() == 1                      # one undo step for labels and footprint
    assert trace.pixels[30, 10] == 1 and trace.pixels[30, 28] == 1   # skin painted over skin counts
    assert trace.pixels[5, 5] == 0
    v.begin(40, 40, radius=2)                      # skin over skin only: no step, no footprint
    v.finish()
    assert stack.count() == 1 and trace.pixels[40, 40] == 0
    stack.undo()
    assert not trace.pixels.any() and np.array_equal(model.pixels, base_map())
    stack.redo()
    assert trace.pixels[30, 28] == 1
