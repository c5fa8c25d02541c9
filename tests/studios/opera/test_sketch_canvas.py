"""Sketch canvas (offscreen): mirrored strokes, per-stroke undo with bbox patches, tools, I/O."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QUndoStack

from app.model.raster import PatchCommand, ReplaceCommand
from app.model.sketch import INK, PAPER, fit_side_range, line_art_from_picture, sketch_layer
from app.widgets.sketch_canvas import SketchCanvas
from engine.errors import ImageLoadError
from engine.imageio import load_image, save_image


@pytest.fixture
def canvas(qtbot):
    undo = QUndoStack()
    c = SketchCanvas(undo, 256)
    c.undo_stack_ref = undo  # keep the stack alive with the widget
    qtbot.addWidget(c)
    c.resize(300, 300)
    return c


def draw(c: SketchCanvas, pts) -> None:
    c.begin_stroke(*pts[0])
    for p in pts[1:]:
        c.stroke_to(*p)
    c.end_stroke()


def test_stroke_is_mirrored_about_the_vertical_axis_by_default(canvas) -> None:
    assert canvas.mirror
    draw(canvas, [(40, 50), (60, 80), (80, 120)])
    ink = canvas.line_art() < 128
    assert ink[:, :128].any() and ink[:, 128:].any()
    assert (ink == ink[:, ::-1]).mean() > 0.995  # symmetric up to anti-aliasing
    canvas.set_mirror(False)
    canvas.clear()
    draw(canvas, [(40, 50), (60, 80)])
    ink = canvas.line_art() < 128
    assert ink[:, :100].any() and not ink[:, 128:].any()


def test_each_stroke_is_one_undo_step_storing_only_its_box(canvas) -> None:
    undo = canvas.undo
    blank = canvas.line_art()
    draw(canvas, [(30, 30), (40, 35), (50, 40), (60, 45)])
    first = canvas.line_art()
    draw(canvas, [(100, 200), (110, 210)])
    assert undo.count() == 2
    cmd = undo.command(0)
    assert isinstance(cmd, PatchCommand)
    assert cmd.old.size < blank.size / 4  # a bounding box, not the whole canvas
    assert (cmd.new < 128).any() and not (cmd.old < 128).any()
    undo.undo()
    assert np.array_equal(canvas.line_art(), first)
    undo.undo()
    assert np.array_equal(canvas.line_art(), blank)
    undo.redo()
    assert np.array_equal(canvas.line_art(), first)


def test_commands_work_on_a_bare_stack_without_a_widget(qapp) -> None:
    layer = sketch_layer(256)
    stack = QUndoStack()
    old = layer.pixels[10:20, 10:30].copy()
    new = np.zeros_like(old)
    layer.write(10, 10, new)
    stack.push(PatchCommand(layer, 10, 10, old, new, "Stroke", applied=True))
    assert (layer.pixels[10:20, 10:30] == 0).all()  # push did not re-apply or revert
    stack.undo()
    assert (layer.pixels == PAPER).all()
    stack.redo()
    assert (layer.pixels[10:20, 10:30] == 0).all()
    stack.push(ReplaceCommand(layer, np.zeros((300, 512), np.uint8), "load"))
    assert layer.shape == (300, 512)
    stack.undo()
    assert layer.shape == (256, 256)
    with pytest.raises(ValueError, match="256"):
        ReplaceCommand(layer, np.zeros((100, 100), np.uint8), "too small")


def test_eraser_clear_and_brush_size_keys(qtbot, canvas) -> None:
    canvas.set_brush_size(12)
    draw(canvas, [(50, 50), (90, 50)])
    assert (canvas.line_art()[50, 55:85] < 64).all()
    canvas.set_tool("eraser")
    draw(canvas, [(50, 50), (90, 50)])
    assert (canvas.line_art()[50, 55:85] > 200).all()
    canvas.set_tool("brush")
    draw(canvas, [(60, 100), (70, 100)])
    n = canvas.undo.count()
    canvas.clear()
    assert (canvas.line_art() == PAPER).all() and canvas.undo.count() == n + 1
    canvas.undo.undo()
    assert (canvas.line_art() < 128).any()
    canvas.clear()
    canvas.clear()  # nothing to clear: no empty step
    assert canvas.undo.count() == n + 1
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size == 16
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size == 10
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert canvas.tool == "eraser"
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert not canvas.mirror
    for _ in range(30):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size == 1


def test_smoothing_lags_then_catches_up_at_the_end(canvas) -> None:
    canvas.set_mirror(False)
    canvas.set_smoothing(0.8)
    canvas.set_brush_size(2)
    canvas.begin_stroke(20, 20)
    canvas.stroke_to(200, 20)
    mid = canvas.line_art()
    assert (mid[20, 20:40] < 128).any() and not (mid[20, 100:200] < 128).any()  # lazy brush lags
    canvas.end_stroke()
    assert (canvas.line_art()[20, 190:200] < 160).any()  # release draws up to the pen


def test_mouse_drag_draws_one_step(qtbot, canvas) -> None:
    r = canvas.image_rect()
    a = QPoint(int(r.left() + 30), int(r.top() + 40))
    b = QPoint(int(r.left() + 90), int(r.top() + 120))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=a)
    for t in np.linspace(0, 1, 8):
        qtbot.mouseMove(canvas, QPoint(int(a.x() + t * (b.x() - a.x())), int(a.y() + t * (b.y() - a.y()))))
    with qtbot.waitSignal(canvas.edited, timeout=1000):
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=b)
    assert canvas.undo.count() == 1 and (canvas.line_art() < 128).any()
    img = canvas.grab().toImage()
    cx = int(r.left() + r.width() / 2)
    axis = img.pixelColor(cx, int(r.top() + r.height() * 0.9))  # the dashed axis is drawn (blue-ish)
    assert axis.blue() > axis.red() or axis.blue() > 200


def test_new_canvas_sizes_save_load_and_import(canvas, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="256–2048"):
        canvas.new_canvas(128)
    with pytest.raises(ValueError, match="256–2048"):
        canvas.new_canvas(4096)
    canvas.new_canvas(512)
    assert canvas.line_art().shape == (512, 512)
    canvas.undo.undo()
    assert canvas.line_art().shape == (256, 256)
    draw(canvas, [(60, 60), (100, 90)])
    out = canvas.save(tmp_path / "sketch.png")
    assert np.array_equal(load_image(out)[:, :, 0], canvas.line_art())
    canvas.clear()
    canvas.load(out)
    assert np.array_equal(canvas.line_art(), load_image(out)[:, :, 0])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    before = canvas.line_art()
    with pytest.raises(ImageLoadError):
        canvas.load(bad)
    assert np.array_equal(canvas.line_art(), before)  # nothing lost
    small = save_image(tmp_path / "small.png", np.full((100, 60, 3), 255, np.uint8))
    canvas.load(small)
    h, w = canvas.line_art().shape
    assert min(h, w) >= 256 and max(h, w) <= 2048


def test_line_art_from_picture_and_fit_side_range(shapes) -> None:
    line = line_art_from_picture(shapes, 256)
    assert line.shape == (256, 256) and set(np.unique(line)) <= {0, 255}
    assert (line == INK).any() and line[0, 0] == PAPER  # letterbox paper stays white
    assert fit_side_range(np.zeros((3000, 1000), np.uint8)).shape == (2048, 683)
    assert fit_side_range(np.zeros((100, 200), np.uint8)).shape == (256, 512)


def test_zoom_and_pan_keep_strokes_where_the_pen_is(qtbot, canvas) -> None:
    from PySide6.QtCore import QPointF

    canvas.show()
    qtbot.waitExposed(canvas)
    fitted = canvas.image_rect()
    anchor = QPointF(100.0, 120.0)
    under = canvas.map_to_canvas(anchor)
    canvas.zoom_by(2.0, anchor)
    assert canvas.view_zoom == 2.0 and canvas.image_rect().width() == pytest.approx(2 * fitted.width())
    after = canvas.map_to_canvas(anchor)
    assert after[0] == pytest.approx(under[0], abs=0.01) and after[1] == pytest.approx(under[1], abs=0.01)
    # Ctrl+= / Ctrl+- / Ctrl+0 (the window's View keys) zoom the focused sketch
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert canvas.view_zoom == pytest.approx(2.5)
    qtbot.keyClick(canvas, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert canvas.view_zoom == pytest.approx(2.0)
    # middle-drag pans; a stroke drawn after the pan lands under the pen
    before = canvas.image_rect()
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(150, 150))
    qtbot.mouseMove(canvas, QPoint(170, 140))
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(170, 140))
    moved = canvas.image_rect()
    assert moved.left() - before.left() == pytest.approx(20) and moved.top() - before.top() == pytest.approx(-10)
    assert (canvas.line_art() == 255).all()  # panning drew nothing
    canvas.set_mirror(False)
    x, y = canvas.map_to_canvas(QPointF(150.0, 150.0))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(150, 150))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(150, 150))
    ys, xs = np.nonzero(canvas.line_art() < 128)
    assert abs(xs.mean() - x) < 2 and abs(ys.mean() - y) < 2
    # Space + left drag pans too; Ctrl+0 fits again
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(90, 100))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(90, 100))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.image_rect().left() == pytest.approx(moved.left() - 10)
    assert canvas.undo.count() == 1  # only the dot was a stroke
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.view_zoom == 1.0 and canvas.image_rect() == fitted
