"""Makeup panel (offscreen): render through the worker, undo, style shortcut, masks overlay, export."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from app.studios.makeup import STUDIO, overlay_rgba
from engine.imageio import load_image, save_image


@pytest.fixture
def win(make_window):
    return make_window((1100, 760), "makeup")


@pytest.fixture(scope="module")
def face_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("mkp") / "astro.png"
    save_image(p, data.astronaut()[::2, ::2].copy())
    return p


def wait_result(qtbot, win):
    qtbot.waitUntil(lambda: win.is_idle() and win.doc.has_image, timeout=20000)
    panel = win.panels[STUDIO]
    qtbot.waitUntil(lambda: panel.is_idle() and panel.has_result(), timeout=20000)
    return panel


def test_makeup_panel_renders_and_undoes(qtbot, win, face_file, tmp_path):
    win.open_path(face_file)
    panel = wait_result(qtbot, win)
    src = win.doc.image
    first = panel.result.image.copy()
    assert first.shape == src.shape and (first != src).any()
    assert "classical" in win.engine_label.text()

    # toggling a region is one undo step; undo restores the image
    panel.rows["lips"].check.setChecked(False)
    qtbot.waitUntil(lambda: panel.is_idle() and panel.has_result() and not np.array_equal(panel.result.image, first),
                    timeout=10000)
    assert win.undo.count() == 1
    win.undo.undo()
    assert win.doc.param(STUDIO, "lips_on") is True and panel.rows["lips"].check.isChecked()
    qtbot.waitUntil(lambda: panel.is_idle() and np.array_equal(panel.result.image, first), timeout=10000)

    # a slider drag is one undo step; global intensity 0 gives the input back
    s = panel.intensity
    s.slider.sliderPressed.emit()
    for pos in (600, 300, 0):
        s.slider.setValue(pos)
    s.slider.sliderReleased.emit()
    assert win.undo.count() == 1 and win.undo.index() == 1  # the whole drag is one step
    qtbot.waitUntil(lambda: panel.is_idle() and panel.result is not None
                    and np.array_equal(panel.result.image, src), timeout=10000)
    win.undo.undo()
    assert win.doc.param(STUDIO, "intensity") == pytest.approx(0.8)

    # global style shortcut: one step, only enabled regions that the style defines
    panel.apply_style_to_enabled("smoky")
    d = win.doc.params(STUDIO)
    assert (d["lips_style"], d["eyeshadow_style"], d["cheek_style"]) == ("smoky",) * 3
    assert d["base_style"] != "smoky" or not d["base_on"]
    qtbot.waitUntil(lambda: panel.is_idle() and panel.has_result(), timeout=10000)

    # masks overlay and export
    panel.set_show_masks(True)
    assert win.canvas.has_overlay
    win.grab().save("/tmp/makeup_panel_masks.png")
    out = tmp_path / "export.png"
    panel.export_result(str(out))
    qtbot.waitUntil(lambda: out.exists() and panel.is_idle(), timeout=10000)
    assert np.array_equal(load_image(out), panel.result.image)


def test_makeup_panel_no_face_reports(qtbot, win, tmp_path):
    p = tmp_path / "flat.png"
    save_image(p, np.full((80, 80, 3), 90, np.uint8))
    messages = []
    win.panels[STUDIO].message.connect(messages.append)
    win.open_path(p)
    qtbot.waitUntil(lambda: any("no face found" in m for m in messages), timeout=20000)
    assert not win.panels[STUDIO].has_result()


def test_overlay_colours_regions():
    masks = {"lips": np.zeros((4, 4), np.uint8), "cheek": np.zeros((4, 4), np.uint8)}
    masks["lips"][0, 0] = 255
    masks["cheek"][1, 1] = 128
    rgba = overlay_rgba(masks, (4, 4))
    assert tuple(rgba[0, 0, :3]) == (230, 20, 40) and rgba[0, 0, 3] > rgba[1, 1, 3] > 0
    assert rgba[3, 3, 3] == 0
