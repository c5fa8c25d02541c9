"""Face overlay in the main window: landmarks + parsing drawn over the canvas, with a legend."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from engine.imageio import save_image


@pytest.fixture
def win(make_window):
    return make_window((1000, 700))


def test_overlay_shows_landmarks_parsing_and_legend(qtbot, win, tmp_path) -> None:
    p = save_image(tmp_path / "astro.png", data.astronaut())
    win.open_path(p)
    qtbot.waitUntil(lambda: win.doc.has_image and win.is_idle(), timeout=20000)
    assert not win.canvas.has_overlay
    win.overlay_action.trigger()
    qtbot.waitUntil(lambda: win.canvas.has_overlay and win.is_idle(), timeout=30000)
    names = [n for n, _ in win.canvas._legend]
    for cls in ("skin", "nose", "l_eye", "r_eye", "u_lip", "l_lip"):
        assert cls in names
    assert win.canvas._overlay_points.shape == (478, 2)
    assert "Faces: 1" in win.faces_status
    shot = win.grab().toImage()
    assert not shot.isNull()
    win.overlay_action.trigger()
    assert not win.canvas.has_overlay


def test_overlay_follows_the_opened_image(qtbot, win, tmp_path) -> None:
    win.overlay_action.trigger()  # on before any image: nothing to do, no error
    wall = save_image(tmp_path / "wall.png", np.full((90, 120, 3), 100, np.uint8))
    win.open_path(wall)
    qtbot.waitUntil(lambda: win.doc.has_image and win.is_idle(), timeout=20000)
    assert win.faces_status == "No face found"
    assert win.canvas._legend == []
