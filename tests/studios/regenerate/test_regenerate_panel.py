"""Regenerate panel: parses on open, strokes regenerate through undo, reference per region, mask I/O, export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from skimage import data

from app.model.raster import PatchCommand
from engine.imageio import load_image, save_image
from engine.labels import CELEBAMASK_HQ
from engine.studios.regenerate.edits import apply_edits, load_label_map, save_label_map

HAIR = CELEBAMASK_HQ.index("hair")


@pytest.fixture
def win(qtbot, make_window, tmp_path):
    w = make_window((1200, 900), "regenerate")
    w.open_path(save_image(tmp_path / "astro.png", data.astronaut()[:320, 64:384]))
    panel = w.panels["regenerate"]
    qtbot.waitUntil(lambda: w.is_idle() and panel.has_result(), timeout=30000)
    return w


def edit_model(panel, edited: np.ndarray) -> None:
    cmd = PatchCommand.from_maps(panel.model, panel.model.pixels.copy(), edited, "test edit")
    panel.undo.push(cmd)


def test_opens_with_parsing_and_identity(win) -> None:
    panel = win.panels["regenerate"]
    assert panel.model is not None and (panel.model.pixels == HAIR).any()
    assert np.array_equal(panel.result.image, win.doc.image)  # unchanged mask → source
    assert "Why: Auto:" in panel.info_label.text()
    # auto runs classical (no learned generator, or one whose card did not measure better) and says why
    assert panel.engine_note.text().startswith("Auto runs classical region warping") and "Why: " in panel.engine_note.text()
    # the mask is painted on the main canvas in this studio only; the overlay can be hidden
    assert win.canvas.paint_tool is panel.canvas_tool
    panel.overlay_check.setChecked(False)
    assert not panel.canvas_tool.show_overlay
    assert "region warping" in win.engine_label.toolTip()
    win.set_studio("makeup")
    assert win.canvas.paint_tool is None
    assert "region warping" not in win.engine_label.toolTip()  # the status bar names no other studio's engine
    win.set_studio("regenerate")
    assert win.canvas.paint_tool is panel.canvas_tool


def test_edit_regenerates_and_undo_restores(qtbot, win) -> None:
    panel = win.panels["regenerate"]
    edit_model(panel, apply_edits(panel.model.pixels, "dilate:hair:8"))
    qtbot.waitUntil(lambda: win.is_idle() and "hair" in panel.result.info["regions"], timeout=20000)
    assert not np.array_equal(panel.result.image, win.doc.image)
    win.undo_action.trigger()
    qtbot.waitUntil(lambda: win.is_idle() and panel.result.info["regions"] == {}, timeout=20000)
    assert np.array_equal(panel.result.image, win.doc.image)
    # a stroke's footprint goes to the engine as the painted mask, and is undone with the stroke
    assert panel.params().painted is None
    panel.painter.set_label(HAIR)
    panel.painter.set_tool("brush")
    view = panel.painter.view
    view.begin(140, 150, radius=8)
    view.extend(170, 150)
    view.finish()
    painted = panel.params().painted
    assert painted is not None and painted[150, 155] and not painted[10, 10]
    win.undo_action.trigger()
    assert panel.params().painted is None


def test_reference_regions_and_blend(qtbot, win, tmp_path) -> None:
    panel = win.panels["regenerate"]
    ref = np.clip(win.doc.image * np.array([1.0, 0.85, 0.5]), 0, 255).astype(np.uint8)
    panel.push_param("reference", str(save_image(tmp_path / "ref.png", ref)))
    qtbot.waitUntil(lambda: win.is_idle() and panel.result.info.get("reference"), timeout=30000)
    assert "hair" in panel.result.info["regions"]  # hair is ticked by default
    assert "ref.png" in panel.ref_label.text()
    skin = [i for i in range(panel.regions.count()) if panel.regions.item(i).text() == "skin"][0]
    panel.regions.item(skin).setCheckState(Qt.CheckState.Checked)
    assert win.doc.param("regenerate", "regions") == ("skin", "hair") or \
        set(win.doc.param("regenerate", "regions")) == {"skin", "hair"}
    qtbot.waitUntil(lambda: win.is_idle() and "skin" in panel.result.info["regions"], timeout=20000)
    panel.push_param("blend", 0.0)
    qtbot.waitUntil(lambda: win.is_idle() and panel.result.info["regions"] == {}, timeout=20000)
    win.undo_action.trigger()
    assert win.doc.param("regenerate", "blend") == 1.0
    assert not panel.ref_thumb.pixmap().isNull()  # shown as a picture
    # a newly opened photo does not inherit the reference (it belonged to the previous document)
    win.open_path(save_image(tmp_path / "other.png", data.astronaut()[:300, 100:400]))
    qtbot.waitUntil(lambda: win.is_idle() and panel.has_result(), timeout=30000)
    assert win.doc.param("regenerate", "reference") == ""
    assert panel.editor.get().reference is None
    assert not panel.result.info.get("reference")
    assert panel.ref_thumb.pixmap().isNull()


def test_mask_files_and_export(qtbot, win, tmp_path) -> None:
    panel = win.panels["regenerate"]
    edited = apply_edits(panel.model.pixels, "scale:l_eye+r_eye:1.4")
    save_label_map(tmp_path / "m.png", edited, order="bisenet")
    panel.load_mask(str(tmp_path / "m.png"), "bisenet")
    assert np.array_equal(panel.model.pixels, edited)
    qtbot.waitUntil(lambda: win.is_idle() and "l_eye" in panel.result.info["regions"], timeout=20000)
    panel.save_mask(str(tmp_path / "out_mask.png"))
    panel.export_result(str(tmp_path / "out.png"))
    qtbot.waitUntil(lambda: win.is_idle() and (tmp_path / "out.png").exists() and (tmp_path / "out_mask.png").exists(),
                    timeout=20000)
    assert np.array_equal(load_label_map(tmp_path / "out_mask.png"), edited)
    assert np.array_equal(load_image(tmp_path / "out.png"), panel.result.image)
    save_image(tmp_path / "bad.png", np.full((10, 90), 3, np.uint8))
    panel.load_mask(str(tmp_path / "bad.png"))
    assert np.array_equal(panel.model.pixels, edited)  # a wrong-shape mask changes nothing
    win.undo_action.trigger()
    assert not np.array_equal(panel.model.pixels, edited)


def test_hidden_panel_does_not_render(qtbot, win) -> None:
    panel = win.panels["regenerate"]
    win.set_studio("opera")
    gen = win.worker.latest_generation("regenerate.render")
    edit_model(panel, apply_edits(panel.model.pixels, "dilate:hair:4"))
    assert win.worker.latest_generation("regenerate.render") == gen


def test_slow_render_shows_progress_and_cancel_stops_it(qtbot, win, monkeypatch) -> None:
    import time

    import engine.studios.regenerate.editor as editor_module
    from engine.errors import Cancelled

    panel = win.panels["regenerate"]
    shown = panel.result.image
    seen = {"stopped": False}

    def slow(image, labels, edited, *, cancel=None, progress=None, **_kw):
        try:
            for i in range(600):  # 30 s unless cancelled
                if progress is not None and i == 2:
                    progress(0.25)
                if cancel is not None:
                    cancel.raise_if_cancelled()
                time.sleep(0.05)
        except Cancelled:
            seen["stopped"] = True
            raise
        return image.copy(), {}, {"regions": {}}

    monkeypatch.setattr(editor_module, "regenerate", slow)
    assert not panel.render_row.isVisible()
    edit_model(panel, apply_edits(panel.model.pixels, "dilate:hair:4"))
    qtbot.waitUntil(lambda: panel.render_row.isVisible(), timeout=5000)  # after ~0.5 s
    assert "preview" in panel.render_bar.format().lower()
    # the engine's share done is shown as a percentage
    qtbot.waitUntil(lambda: panel.render_bar.maximum() == 100 and panel.render_bar.value() == 25, timeout=3000)
    assert panel.render_bar.text().endswith("25%")
    # at the top of the panel, above the mask navigator: seen without scrolling
    assert panel.render_row.mapTo(panel, QPoint(0, 0)).y() < panel.painter.mapTo(panel, QPoint(0, 0)).y()
    qtbot.mouseClick(panel.render_cancel, Qt.MouseButton.LeftButton)
    assert not panel.render_row.isVisible() and "cancelled" in panel.info_label.text()
    qtbot.waitUntil(lambda: seen["stopped"], timeout=3000)  # the worker really stopped
    assert win.is_idle() and panel.result.image is shown  # nothing replaced the last result
