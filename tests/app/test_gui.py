"""GUI smoke tests (offscreen): open, slider drag = one undo step, undo, export, errors, view."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.main_window import MainWindow
from engine.imageio import load_image, save_image
from engine.procedural.samples import OPERA_SAMPLE


@pytest.fixture
def win(make_window):
    return make_window((1000, 700))


def open_and_wait(qtbot, win, path) -> None:
    win.open_path(path)
    qtbot.waitUntil(lambda: win.is_idle() and win.doc.has_image, timeout=10000)
    qtbot.waitUntil(lambda: win.current_panel().has_result(), timeout=10000)


def drag_slider(qtbot, slider, positions) -> None:
    slider.slider.sliderPressed.emit()
    for p in positions:
        slider.slider.setValue(p)
    slider.slider.sliderReleased.emit()


def test_only_working_studios_are_listed(win) -> None:
    from app.main_window import STUDIO_CLASSES

    names = [win.switcher.item(i).text() for i in range(win.switcher.count())]
    assert names == [cls.title for cls in STUDIO_CLASSES] and names[0] == "Opera"
    assert len(set(names)) == len(names)
    with pytest.raises(KeyError, match="available"):
        win.set_studio("hairdresser")


def test_open_sample_renders_line_art(qtbot, win) -> None:
    open_and_wait(qtbot, win, OPERA_SAMPLE)
    panel = win.panels["opera"]
    assert panel.result.image.shape == win.doc.image.shape[:2]
    assert "classical" in win.engine_label.text()
    qtbot.waitUntil(lambda: "CPU" in win.device_widget.text(), timeout=10000)
    assert win.windowTitle().startswith("opera_sample.png")


def test_slider_drag_is_one_undo_step_and_undo_restores(qtbot, win) -> None:
    open_and_wait(qtbot, win, OPERA_SAMPLE)
    panel = win.panels["opera"]
    first = panel.result.image.copy()
    s = panel.lineart.sliders["sigma"]
    old = win.doc.param("opera", "sigma")
    runs = win.worker.runs
    drag_slider(qtbot, s, list(range(0, 1001)) + [300])  # the whole range in one gesture
    assert win.undo.count() == 1
    new = win.doc.param("opera", "sigma")
    assert new != old and abs(s.value() - new) < 1e-9
    qtbot.waitUntil(lambda: win.is_idle(), timeout=10000)
    qtbot.waitUntil(lambda: not np.array_equal(panel.result.image, first), timeout=10000)
    # latest-wins: renders are bounded by how fast the engine is, not by how many values arrive
    assert win.worker.runs - runs <= 50, win.worker.runs - runs
    thick = (panel.result.image < 128).mean()
    win.undo_action.trigger()
    assert win.doc.param("opera", "sigma") == old
    assert abs(s.value() - old) < 1e-9  # the widget follows the document
    qtbot.waitUntil(lambda: win.is_idle(), timeout=10000)
    qtbot.waitUntil(lambda: np.array_equal(panel.result.image, first), timeout=10000)
    assert thick > (first < 128).mean()  # larger sigma drew thicker lines
    win.redo_action.trigger()
    assert win.doc.param("opera", "sigma") == new


def test_two_drags_are_two_steps_and_spin_edits_are_steps(qtbot, win) -> None:
    open_and_wait(qtbot, win, OPERA_SAMPLE)
    panel = win.panels["opera"]
    drag_slider(qtbot, panel.lineart.sliders["phi"], [100, 200, 300])
    drag_slider(qtbot, panel.lineart.sliders["phi"], [600, 700])
    panel.lineart.sliders["k"].spin.setValue(2.0)
    assert win.undo.count() == 3
    panel.lineart.threshold_check.setChecked(True)
    assert win.doc.param("opera", "threshold_on") is True
    qtbot.waitUntil(lambda: win.is_idle(), timeout=10000)
    qtbot.waitUntil(lambda: set(np.unique(panel.result.image)) <= {0, 255}, timeout=10000)


def test_export_writes_full_resolution_line_art(qtbot, win, tmp_path) -> None:
    open_and_wait(qtbot, win, OPERA_SAMPLE)
    panel = win.panels["opera"]
    out = tmp_path / "line.png"
    panel.export_result(str(out))
    qtbot.waitUntil(lambda: out.exists() and win.is_idle(), timeout=10000)
    saved = load_image(out)[:, :, 0]
    assert np.array_equal(saved, panel.result.image)


def test_unreadable_image_reports_and_keeps_document(qtbot, win, tmp_path) -> None:
    open_and_wait(qtbot, win, OPERA_SAMPLE)
    before = win.doc.image
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    win.open_path(bad)
    qtbot.waitUntil(lambda: win.is_idle(), timeout=10000)
    assert win.last_error and "broken.png" in win.last_error
    assert "Could not open" in win.statusBar().currentMessage()
    assert win.doc.image is before  # nothing lost


def test_drop_opens_image_and_recent_files(qtbot, win, tmp_path) -> None:
    img = np.zeros((40, 60, 3), np.uint8)
    img[10:30, 20:40] = 255
    p = save_image(tmp_path / "dropped.png", img)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                    Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.dropEvent(ev)
    qtbot.waitUntil(lambda: win.doc.path == p and win.is_idle(), timeout=10000)
    assert win.recent_files()[0] == str(p.resolve())
    assert win.recent_menu.actions()[0].text() == str(p.resolve())


def test_view_controls(qtbot, win) -> None:
    open_and_wait(qtbot, win, OPERA_SAMPLE)
    c = win.canvas
    c.actual_size()
    assert c.zoom == pytest.approx(1.0)
    win.findChild(type(win.split_action), "action_zoom_in").trigger()
    assert c.zoom == pytest.approx(1.25)
    c.fit()
    r = c.image_rect()
    assert r.width() <= c.width() and r.height() <= c.height()
    win.split_action.trigger()
    assert c.split_enabled
    qtbot.keyPress(c, Qt.Key.Key_Backslash)
    assert c._hold_before
    qtbot.keyRelease(c, Qt.Key.Key_Backslash)
    assert not c._hold_before
    panel = win.panels["opera"]
    panel.toggle_view()
    assert panel.show_original and panel.radio_original.isChecked()
    panel.toggle_view()
    assert not panel.show_original


def test_ctrl_wheel_zooms_about_cursor(qtbot, win) -> None:
    from PySide6.QtGui import QWheelEvent

    open_and_wait(qtbot, win, OPERA_SAMPLE)
    c = win.canvas
    c.actual_size()
    anchor = QPointF(c.width() / 3, c.height() / 3)
    doc_before = c.map_to_document(anchor)
    ev = QWheelEvent(anchor, c.mapToGlobal(anchor), QPoint(0, 0), QPoint(0, 120),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    c.wheelEvent(ev)
    assert c.zoom > 1.0
    doc_after = c.map_to_document(anchor)
    assert abs(doc_after.x() - doc_before.x()) < 1e-6 and abs(doc_after.y() - doc_before.y()) < 1e-6


def test_settings_remembered_between_runs(qtbot, clean_settings) -> None:
    w1 = MainWindow()
    qtbot.addWidget(w1)
    w1.panels["opera"].lineart.sliders["sigma"].spin.setValue(1.7)
    w1.close()
    assert float(QSettings().value("opera/sigma")) == pytest.approx(1.7)
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.doc.param("opera", "sigma") == pytest.approx(1.7)
    assert w2.panels["opera"].lineart.sliders["sigma"].value() == pytest.approx(1.7)
    w2.close()


def test_shortcuts_follow_conventions(win) -> None:
    from app.shortcuts import SHORTCUTS

    assert SHORTCUTS["undo"][0] == "Ctrl+Z" and SHORTCUTS["redo"][0] == "Ctrl+Shift+Z"
    assert SHORTCUTS["fit"][0] == "Ctrl+0"
    assert win.undo_action.shortcut().toString() == "Ctrl+Z"
    keys = [s[0] for s in SHORTCUTS.values()]
    assert len(keys) == len(set(keys))  # no clashes


def test_panel_buttons_reach_export_and_batch(qtbot, win, monkeypatch, tmp_path) -> None:
    from PySide6.QtWidgets import QFileDialog

    from app.dialogs import batch_dialog

    open_and_wait(qtbot, win, OPERA_SAMPLE)
    panel = win.panels["opera"]
    out = tmp_path / "via_button.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    panel.export_button.click()
    qtbot.waitUntil(lambda: out.exists() and win.is_idle(), timeout=10000)
    opened: list[dict] = []
    monkeypatch.setattr(batch_dialog.BatchDialog, "exec", lambda self: opened.append(self.params) or 0)
    panel.batch_button.click()
    assert opened and opened[0]["sigma"] == win.doc.param("opera", "sigma")
