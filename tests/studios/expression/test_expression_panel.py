"""Expression panel (offscreen): sliders → rig result, undo, views, random face, export."""

from __future__ import annotations

import os

import numpy as np
import pytest

from engine.imageio import load_image, save_image
from engine.procedural.anime_faces import generate_anime_face


@pytest.fixture
def win(make_window):
    return make_window((1100, 720), "expression", persist=False)


def _wait(qtbot, win, panel):
    qtbot.waitUntil(lambda: win.is_idle() and panel.is_idle() and panel.has_result(), timeout=15000)


def _open_face(qtbot, win, tmp_path):
    """Open a procedural anime face in the window and wait for the Expression panel's first result."""
    src = tmp_path / "face.png"
    save_image(src, generate_anime_face(11, 256).image)
    win.open_path(src)
    panel = win.panels["expression"]
    qtbot.waitUntil(lambda: win.doc.has_image, timeout=10000)
    _wait(qtbot, win, panel)
    return panel


def test_sliders_render_undo_and_views(qtbot, win, tmp_path):
    panel = _open_face(qtbot, win, tmp_path)
    assert np.array_equal(panel.result.image, win.doc.image)
    panel.sliders["smile"].spin.setValue(1.0)
    qtbot.waitUntil(lambda: panel.is_idle() and panel.result is not None
                    and panel.result.info["params"]["smile"] == 1.0, timeout=15000)
    res = panel.result
    changed = np.any(res.image != win.doc.image, axis=-1)
    assert changed.any() and not np.any(changed & ~res.masks["regions"])
    assert "classical" in panel.info_label.text()
    for i in range(4):
        panel.set_view(i)
    panel.set_view(2)
    if os.environ.get("MASQUERADE_SHOTS"):
        win.grab().save(os.path.join(os.environ["MASQUERADE_SHOTS"], "expression_warp.png"))
    panel.set_view(0)
    win.undo.undo()
    assert win.doc.param("expression", "smile") == 0.0
    panel.sliders["angry"].spin.setValue(0.5)
    panel.findChild(type(panel.export_button), "reset_button").click()
    assert win.doc.param("expression", "angry") == 0.0
    out = tmp_path / "out.png"
    _wait(qtbot, win, panel)
    panel.export_result(str(out))
    qtbot.waitUntil(lambda: out.exists() and panel.is_idle(), timeout=10000)
    assert load_image(out).shape == (256, 256, 3)


def test_random_face_and_no_face_message(qtbot, win, tmp_path):
    panel = win.panels["expression"]
    panel.random_button.click()
    qtbot.waitUntil(lambda: win.doc.has_image and panel.is_idle() and panel.has_result(), timeout=15000)
    assert win.doc.image.shape == (512, 512, 3)
    assert panel.result.info["parts_found"]["mouth"] is True  # ground-truth parts of the drawn face
    panel.sliders["surprised"].spin.setValue(1.0)
    qtbot.waitUntil(lambda: panel.is_idle() and panel.result.info["params"]["surprised"] == 1.0, timeout=15000)
    assert panel.result.masks["regions"].any()
    if os.environ.get("MASQUERADE_SHOTS"):
        win.grab().save(os.path.join(os.environ["MASQUERADE_SHOTS"], "expression_random.png"))
    flat = tmp_path / "flat.png"
    save_image(flat, np.full((64, 64, 3), 100, np.uint8))
    win.open_path(flat)
    qtbot.waitUntil(lambda: "no anime face" in panel.info_label.text(), timeout=15000)


def test_assume_face_on_a_picture_without_detection_marks_estimated_parts(qtbot, win, tmp_path):
    panel = win.panels["expression"]
    flat = tmp_path / "flat.png"
    save_image(flat, np.full((96, 96, 3), 180, np.uint8))
    win.open_path(flat)
    qtbot.waitUntil(lambda: "no anime face" in panel.info_label.text(), timeout=15000)
    panel.assume_face.setChecked(True)
    qtbot.waitUntil(lambda: panel.is_idle() and panel.has_result(), timeout=15000)
    assert panel.result.info["parts_estimated"] == ["left_eye", "right_eye", "left_brow", "right_brow", "mouth"]
    assert "estimated" in panel.info_label.text()
    panel.set_view(3)  # regions + part boxes (orange: estimated)
    from app.studios.expression import draw_part_boxes
    boxed = draw_part_boxes(panel.result.image, panel.result.info)
    orange = np.all(boxed == np.array([255, 140, 0], np.uint8), axis=-1)
    assert orange.sum() > 50
    panel.assume_face.setChecked(False)
    qtbot.waitUntil(lambda: "no anime face" in panel.info_label.text(), timeout=15000)


def test_fine_sliders_presets_and_copy(qtbot, win, tmp_path):
    panel = _open_face(qtbot, win, tmp_path)
    # the low-level sliders go from −1 to 1 and render
    s = panel.sliders["blink_left"]
    assert (s.lo, s.hi) == (-1.0, 1.0)
    s.spin.setValue(1.0)
    qtbot.waitUntil(lambda: panel.is_idle() and panel.result is not None
                    and panel.result.info["params"]["blink_left"] == 1.0, timeout=15000)
    assert np.any(panel.result.image != win.doc.image)
    # a built-in preset sets every slider as one undo step
    i = panel.preset_combo.findText("shout")
    panel.preset_combo.activated.emit(i)
    assert win.doc.param("expression", "aaa") == 1.0 and win.doc.param("expression", "blink_left") == 0.0
    assert panel.preset_combo.currentIndex() == 0
    win.undo.undo()
    assert win.doc.param("expression", "aaa") == 0.0 and win.doc.param("expression", "blink_left") == 1.0
    # save / load round trip through a file
    path = tmp_path / "mine.json"
    panel.save_preset(str(path))
    panel.push_params({"blink_left": 0.0}, "clear")
    panel.apply_preset(str(path))
    assert win.doc.param("expression", "blink_left") == 1.0
    (tmp_path / "bad.json").write_text("{")
    panel.apply_preset(str(tmp_path / "bad.json"))  # one-line error, sliders kept
    assert win.doc.param("expression", "blink_left") == 1.0
    # copy the expression of a surprised face (open mouth, raised brows)
    other = tmp_path / "surprised.png"
    save_image(other, generate_anime_face(11, 256, {"surprised": 1.0}).image)
    panel.copy_expression_from(str(other))
    qtbot.waitUntil(lambda: win.doc.param("expression", "mouth_open") > 0.1, timeout=15000)
    if os.environ.get("MASQUERADE_SHOTS"):
        _wait(qtbot, win, panel)
        win.grab().save(os.path.join(os.environ["MASQUERADE_SHOTS"], "expression_fine.png"))
