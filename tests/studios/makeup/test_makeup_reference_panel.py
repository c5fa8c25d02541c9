"""Makeup panel (offscreen): a photo dropped on a region row paints that region from it (thumbnail
shown, one undo step), "From photo…" for every enabled region, saving the photo regions as a style."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from skimage import data

from app.studios.makeup import STUDIO
from engine.imageio import save_image
from engine.studios.makeup.params import load_style_file


@pytest.fixture
def win(make_window):
    return make_window((1100, 760), "makeup")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from engine.studios.makeup.editor import MakeupEditor
    from engine.studios.makeup.params import MakeupParams, load_styles

    d = tmp_path_factory.mktemp("mkpref")
    face = data.astronaut()[::2, ::2].copy()
    ed = MakeupEditor("classical", styles=load_styles(include_user_dir=False))
    ed.set_image(face)
    save_image(d / "face.png", face)
    save_image(d / "red.png", ed.edit(MakeupParams({"lips": "retro", "eyeshadow": "smoky"})).image)
    return d


def _drop(widget, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    ev = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(ev)


def _settled(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: panel.is_idle() and panel.has_result(), timeout=20000)


def test_drop_a_photo_on_a_region_row(qtbot, win, files, tmp_path, monkeypatch):
    monkeypatch.setenv("MASQUERADE_MAKEUP_STYLES_DIR", str(tmp_path / "styles"))
    win.open_path(files / "face.png")
    qtbot.waitUntil(lambda: win.is_idle() and win.doc.has_image, timeout=20000)
    panel = win.panels[STUDIO]
    _settled(qtbot, panel)
    before = panel.result.image.copy()
    drop = panel.rows["lips"].reference
    assert drop is not None and not drop.has_thumbnail
    assert panel.rows["brows"].reference is None  # brows are not measured from photos
    undo_before = win.undo.count()
    _drop(drop, files / "red.png")
    qtbot.waitUntil(lambda: win.doc.param(STUDIO, "lips_style") == "photo: red.png", timeout=20000)
    _settled(qtbot, panel)
    qtbot.waitUntil(lambda: not np.array_equal(panel.result.image, before), timeout=20000)
    assert win.undo.count() == undo_before + 1
    assert drop.has_thumbnail and drop.text() == "red.png"
    assert not panel.rows["eyeshadow"].reference.has_thumbnail  # only the row it was dropped on
    assert panel.rows["eyeshadow"].combo.findText("photo: red.png") >= 0  # offered to the others
    assert win.doc.param(STUDIO, "eyeshadow_style") != "photo: red.png"
    lips = panel.result.masks["lips"] > 128
    assert panel.result.image[lips].astype(float).mean(0)[1] < before[lips].astype(float).mean(0)[1] - 5  # redder

    flat = panel.batch_params()  # the batch job gets the photo, not the panel's name for it
    assert flat["lips_reference"] == str(files / "red.png") and flat["lips"] is None

    out = panel.save_photo_style("red_lips", str(tmp_path / "mine.json"))
    assert out is not None
    saved = load_style_file(out)["red_lips"]
    assert list(saved.regions) == ["lips"]

    win.undo.undo()
    assert win.doc.param(STUDIO, "lips_style") != "photo: red.png"
    assert not drop.has_thumbnail


def test_photo_for_every_enabled_region_and_bad_files(qtbot, win, files, tmp_path):
    win.open_path(files / "face.png")
    qtbot.waitUntil(lambda: win.is_idle() and win.doc.has_image, timeout=20000)
    panel = win.panels[STUDIO]
    _settled(qtbot, panel)
    panel.use_reference(str(files / "red.png"), None)
    qtbot.waitUntil(lambda: win.doc.param(STUDIO, "cheek_style") == "photo: red.png", timeout=20000)
    for r in ("lips", "eyeshadow", "cheek"):  # the regions enabled by default
        assert win.doc.param(STUDIO, f"{r}_style") == "photo: red.png"
    assert win.doc.param(STUDIO, "base_on") is False
    errors = []
    panel.report_error = errors.append
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    panel.use_reference(str(bad), ["lips"])
    assert errors and "reference photo" in errors[-1]
    flat = tmp_path / "flat.png"
    save_image(flat, np.full((64, 64, 3), 120, np.uint8))
    panel.use_reference(str(flat), ["lips"])
    qtbot.waitUntil(lambda: len(errors) >= 2, timeout=20000)
    assert "no face found" in errors[-1] and "flat.png" in errors[-1]
    assert win.doc.param(STUDIO, "lips_style") == "photo: red.png"
