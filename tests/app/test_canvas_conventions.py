"""Canvas conventions (issue 21, item 13): Space+drag pans whenever the cursor is over the canvas,
the wheel over a panel scrolls the panel instead of editing the control under the cursor, and F1
lists every studio's keys grouped by studio."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QCursor, QKeyEvent, QUndoStack
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QCheckBox, QScrollArea, QSpinBox, QVBoxLayout, QWidget

from app.qt_image import to_qimage
from app.widgets.canvas import ImageCanvas
from app.widgets.shortcut_table import ShortcutTable
from app.widgets.wheel_guard import guard_wheel


def _key(kind: QEvent.Type, repeat: bool = False) -> QKeyEvent:
    return QKeyEvent(kind, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " ", repeat)


def _wheel(target: QWidget, dy: int = -120) -> None:
    """A real (spontaneous) wheel turn over the middle of ``target``, through its window."""
    pos = target.mapTo(target.window(), target.rect().center())
    QTest.wheelEvent(target.window().windowHandle(), QPointF(pos), QPoint(0, dy))
    QApplication.processEvents()


@pytest.fixture
def canvas_and_check(qtbot):
    """A window with an image canvas and a check box beside it; the check box has the focus."""
    w = QWidget()
    lay = QVBoxLayout(w)
    canvas = ImageCanvas()
    check = QCheckBox("a control with the focus")
    lay.addWidget(canvas)
    lay.addWidget(check)
    qtbot.addWidget(w)
    w.resize(400, 400)
    w.show()
    qtbot.waitExposed(w)
    canvas.set_after(to_qimage(np.full((64, 64, 3), 120, np.uint8)))
    w.activateWindow()
    check.setFocus()
    return w, canvas, check


def test_space_pans_over_the_canvas_whatever_has_focus(qtbot, canvas_and_check):
    w, canvas, check = canvas_and_check
    QCursor.setPos(canvas.mapToGlobal(canvas.rect().center()))
    if not canvas.rect().contains(canvas.mapFromGlobal(QCursor.pos())):
        pytest.skip("this platform plugin cannot place the cursor")
    QApplication.sendEvent(check, _key(QEvent.Type.KeyPress))
    assert canvas.space_held, "Space over the canvas arms the pan even though a check box has the focus"
    assert not check.isChecked(), "the Space press went to the pan, not to the focused check box"
    QApplication.sendEvent(check, _key(QEvent.Type.KeyPress, repeat=True))  # auto-repeat is taken too
    assert not check.isChecked()
    before = canvas.image_rect().topLeft()
    c = canvas.rect().center()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=c)
    qtbot.mouseMove(canvas, c + QPoint(30, 20))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=c + QPoint(30, 20))
    moved = canvas.image_rect().topLeft() - before
    assert (moved.x(), moved.y()) == pytest.approx((30, 20))
    QApplication.sendEvent(check, _key(QEvent.Type.KeyRelease))
    assert not canvas.space_held

    # with the cursor away from the canvas, Space is the focused control's again
    QCursor.setPos(check.mapToGlobal(check.rect().center()))
    QApplication.sendEvent(check, _key(QEvent.Type.KeyPress))
    QApplication.sendEvent(check, _key(QEvent.Type.KeyRelease))
    assert not canvas.space_held and check.isChecked()


def test_space_on_the_focused_canvas_still_pans(qtbot, canvas_and_check):
    _, canvas, _ = canvas_and_check
    canvas.setFocus()
    QApplication.sendEvent(canvas, _key(QEvent.Type.KeyPress))
    assert canvas.space_held
    QApplication.sendEvent(canvas, _key(QEvent.Type.KeyRelease))
    assert not canvas.space_held


def test_wheel_over_a_panel_scrolls_it_unless_the_control_has_focus(qtbot):
    area = QScrollArea()
    body = QWidget()
    lay = QVBoxLayout(body)
    spins = []
    for _ in range(30):
        s = QSpinBox()
        s.setRange(0, 100)
        s.setValue(50)
        lay.addWidget(s)
        spins.append(s)
    area.setWidget(body)
    area.resize(200, 200)
    qtbot.addWidget(area)
    guard_wheel(area)
    area.show()
    qtbot.waitExposed(area)
    bar = area.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0
    spin = spins[1]
    _wheel(spin)
    assert spin.value() == 50, "an unfocused spin box ignores the wheel"
    assert bar.value() > 0, "the wheel scrolled the panel instead"
    bar.setValue(0)  # the spin box under the cursor again
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    _wheel(spin, dy=120)
    assert spin.value() == 51, "once clicked (focused) the wheel edits the control"


def test_studio_panels_guard_their_controls(make_window):
    win = make_window((1000, 700), "makeup")
    panel = win.panels["makeup"]
    spin = panel.intensity.spin
    slider = panel.rows["lips"].slider.slider
    assert spin.property("wheel_guarded") and slider.property("wheel_guarded")
    assert panel.style_all.property("wheel_guarded")
    value = spin.value()
    _wheel(spin)
    _wheel(slider)
    assert spin.value() == value and win.undo.count() == 0, "scrolling over the panel edited nothing"


def test_f1_table_lists_every_studio_keys_grouped(qtbot):
    from app import shortcuts

    groups = dict(shortcuts.help_groups())
    assert list(groups)[0] == shortcuts.ALL_STUDIOS
    keys = {k for k, _ in groups[shortcuts.ALL_STUDIOS]}
    assert {"Ctrl+O", "Ctrl+Z", "F1", "Space+drag / middle-drag"} <= keys
    opera = dict(groups["Opera — Colour tab (sketch canvas)"])
    assert {"B", "E", "[ / ]", "M", "F"} <= set(opera)
    painter = dict(groups["Regenerate (mask painter)"])
    assert {"B", "E", "F", "R", "L", "[ / ]", "- / =", "I, Ctrl+click"} <= set(painter)
    assert "Mask-wear" in groups and "Makeup" in groups

    table = ShortcutTable()
    for title, rows in shortcuts.help_groups():
        assert table.item(table.group_rows[title], 0).text() == title
        assert table.columnSpan(table.group_rows[title], 0) == 2
        assert table.rows_of(title) == rows


def test_f1_keys_are_the_ones_the_widgets_answer(qtbot):
    """The table is not a wish list: each studio key it names does what it says."""
    from app import shortcuts
    from app.widgets.mask_painter import TOOLS, MaskPaintView
    from app.widgets.sketch_canvas import SketchCanvas

    groups = dict(shortcuts.help_groups())
    painter_keys = {k for k, _ in groups["Regenerate (mask painter)"]}
    assert {k for _, k, _ in TOOLS} <= painter_keys
    view = MaskPaintView(QUndoStack())
    qtbot.addWidget(view)
    for text in ("-", "=", "[", "]", "b", "e", "f", "r", "l"):
        assert view.handle_key(text), text

    sketch = SketchCanvas(QUndoStack(), 256)
    qtbot.addWidget(sketch)
    for key, text in ((Qt.Key.Key_M, "m"), (Qt.Key.Key_E, "e"), (Qt.Key.Key_BracketRight, "]")):
        before = (sketch.mirror, sketch.tool, sketch.brush_size)
        sketch.keyPressEvent(QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier, text))
        assert (sketch.mirror, sketch.tool, sketch.brush_size) != before, text
