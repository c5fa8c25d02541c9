"""Mask-wear panel: renders on open, template/colour/faces through undo, anchor drag, export."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from engine.imageio import load_image, save_image


@pytest.fixture
def win(qtbot, make_window, tmp_path):
    w = make_window((1100, 720), "maskwear")
    w.open_path(save_image(tmp_path / "astro.png", data.astronaut()))
    qtbot.waitUntil(lambda: w.doc.has_image and w.is_idle() and w.panels["maskwear"].has_result(), timeout=30000)
    return w


def test_renders_with_handles(win) -> None:
    panel = win.panels["maskwear"]
    assert panel.result.info["faces"] == 1
    assert win.canvas.handles is not None and win.canvas.handles.shape == (6, 2)
    changed = np.any(panel.result.image != win.doc.image, axis=2)
    assert 0.01 < changed.mean() < 0.2


def test_template_and_colour_go_through_undo(qtbot, win) -> None:
    panel = win.panels["maskwear"]
    first = panel.result.image.copy()
    kn95 = [i for i in range(panel.gallery.count()) if panel.gallery.item(i).text() == "kn95"][0]
    panel.gallery.setCurrentRow(kn95)
    assert win.doc.param("maskwear", "template") == "kn95"
    panel.push_param("color", "#cc2222")
    qtbot.waitUntil(lambda: win.is_idle(), timeout=20000)
    qtbot.waitUntil(lambda: not np.array_equal(panel.result.image, first), timeout=20000)
    alpha = panel.result.masks["mask"] > 250
    r, g, b = panel.result.image[alpha].mean(0)
    assert r > 1.5 * g
    win.undo_action.trigger()
    win.undo_action.trigger()
    assert win.doc.param("maskwear", "template") == "surgical-blue" and win.doc.param("maskwear", "color") == ""


def test_dragging_an_anchor_moves_the_mask_in_one_undo_step(qtbot, win) -> None:
    panel = win.panels["maskwear"]
    handles = win.canvas.handles
    bx, by = handles[1]  # "b": nose bridge
    count = win.undo.count()
    for dy in (-2, -4, -6, -8):
        win.canvas.handle_dragged.emit(1, float(bx), float(by + dy))
    win.canvas.handle_released.emit(1, float(bx), float(by - 8))
    assert win.undo.count() == count + 1
    offsets = dict((k, (dx, dy)) for k, dx, dy in win.doc.param("maskwear", "offsets"))
    assert offsets["b"] == (0.0, -8.0)
    qtbot.waitUntil(lambda: win.is_idle(), timeout=20000)
    qtbot.waitUntil(lambda: abs(panel.result.info["anchors"][0][1][1] - (by - 8)) < 0.5, timeout=20000)
    panel.reset_anchors.click()
    assert win.doc.param("maskwear", "offsets") == ()


def test_export_and_switching_studio_clears_handles(qtbot, win, tmp_path) -> None:
    panel = win.panels["maskwear"]
    out = tmp_path / "masked.png"
    panel.export_result(str(out))
    qtbot.waitUntil(lambda: out.exists() and win.is_idle(), timeout=20000)
    assert np.array_equal(load_image(out), panel.result.image)
    win.set_studio("opera")
    assert win.canvas.handles is None


def test_no_face_is_reported(qtbot, win, tmp_path) -> None:
    win.open_path(save_image(tmp_path / "wall.png", np.full((80, 80, 3), 90, np.uint8)))
    qtbot.waitUntil(lambda: win.doc.path.name == "wall.png" and win.is_idle(), timeout=20000)
    panel = win.panels["maskwear"]
    assert panel.result is None and "no face" in panel.info_label.text()


def test_tab_toggles_result_and_original(win) -> None:
    from PySide6.QtGui import QAction

    panel = win.panels["maskwear"]
    action = win.findChild(QAction, "action_toggle_view")
    action.trigger()
    assert panel.show_original
    action.trigger()
    assert not panel.show_original


def test_template_from_photo_button(qtbot, win, tmp_path) -> None:
    """The panel's "Template from photo…" makes a template in the worker, saves it and chooses it."""
    panel = win.panels["maskwear"]
    assert panel.photo_button.text().startswith("Template from photo")
    masked = save_image(tmp_path / "masked.png", panel.result.image)
    out = tmp_path / "mine.png"
    panel.make_template_from_photo(str(masked), str(out))
    qtbot.waitUntil(lambda: win.doc.param("maskwear", "user_template") == str(out), timeout=30000)
    assert out.is_file() and out.with_suffix(".json").is_file()
    qtbot.waitUntil(lambda: win.is_idle(), timeout=20000)
    win.undo_action.trigger()
    assert win.doc.param("maskwear", "user_template") == ""
