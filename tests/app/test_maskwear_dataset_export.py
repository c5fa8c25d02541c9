"""Mask-wear's "Export dataset files…": the window writes the files batch wear-mask writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from skimage import data

from engine.batch import JobSpec, run_batch
from engine.imageio import load_grey, save_image


def test_window_exports_the_files_batch_writes(make_window, qtbot, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    save_image(tmp_path / "in" / "astro.png", data.astronaut())
    win = make_window((1100, 760), studio="maskwear", persist=False)
    panel = win.panels["maskwear"]
    win.doc.set_param("maskwear", "template", "kn95")
    win.open_path(tmp_path / "in" / "astro.png")
    qtbot.waitUntil(lambda: win.is_idle() and panel.has_result(), timeout=20000)
    assert panel.dataset_button.isEnabled() and not panel.batch_button.isHidden()
    (tmp_path / "window").mkdir()
    with qtbot.waitSignal(panel.dataset_exported, timeout=20000) as sig:
        panel.export_dataset_files(str(tmp_path / "window"))
    names = sorted(Path(p).name for p in sig.args[0])
    assert names == ["astro_alpha.png", "astro_face.png", "astro_masked.png", "astro_params.json"]
    run_batch(JobSpec("wear-mask", tmp_path / "in", tmp_path / "batch", params=panel.batch_params()))
    for name in names:  # the same faces, template and fit: the same bytes
        assert (tmp_path / "window" / name).read_bytes() == (tmp_path / "batch" / name).read_bytes(), name
    rec = json.loads((tmp_path / "window" / "astro_params.json").read_text())
    assert rec["template"] == "kn95" and len(rec["landmarks_image"]) == 478 and set(rec["head_pose"]) == {
        "yaw", "pitch", "roll"}
    assert (load_grey(tmp_path / "window" / "astro_alpha.png") >= 128).sum() == rec["coco"]["area"] > 0
    # an anchor drag moves the exported anchors by the same amount
    win.doc.set_param("maskwear", "offsets", (("e", 0.0, 12.0),))
    (tmp_path / "moved").mkdir()
    with qtbot.waitSignal(panel.dataset_exported, timeout=20000):
        panel.export_dataset_files(str(tmp_path / "moved"))
    moved = json.loads((tmp_path / "moved" / "astro_params.json").read_text())
    d = np.array(moved["anchors_image"]) - np.array(rec["anchors_image"])
    assert np.allclose(d[4], [0, 12], atol=0.02) and np.allclose(np.delete(d, 4, 0), 0, atol=0.02)


def test_no_photo_is_a_notice(make_window, tmp_path: Path) -> None:
    win = make_window((1000, 700), studio="maskwear", persist=False)
    win.panels["maskwear"].export_dataset_files(str(tmp_path))
    assert "open a photo first" in win.notice.text
