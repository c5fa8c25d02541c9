"""Regenerate panel engine choice: Auto / Classical / Learned, tool tip from the card, refusal without one."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from skimage import data

import engine.weights.store as store
from engine.imageio import save_image
from engine.labels import CELEBAMASK_HQ
from engine.models.regen_inpaint import RegenInpaintNet
from engine.studios.base import forget_learned
from engine.studios.regenerate.edits import apply_edits

TINY = dict(width=8, n_down=2, n_blocks=1, style_dim=8, encoder_width=8, max_width=16, side=16)
HAIR = CELEBAMASK_HQ.index("hair")


def _fabricate(folder) -> None:
    """A tiny (untrained) learned inpainting network whose card records that it measured worse."""
    store.save_checkpoint(RegenInpaintNet(**TINY), folder / "regen_inpaint",
                       metrics={"grow_hair_mae": 31.5, "classical_grow_hair_mae": 27.1, "unfringe_mae": 21.0,
                                "classical_unfringe_mae": 16.2},
                       extra={"better_than_classical": False, "train": {"steps": 7, "side": 16, "faces": 3,
                                                                         "train_s": 1.0}},
                       licence="test weights — research use only")


@pytest.fixture
def win(qtbot, make_window, tmp_path, monkeypatch):
    _fabricate(tmp_path)
    monkeypatch.setattr(store, "checkpoint_roots", lambda: [tmp_path])
    forget_learned()
    w = make_window((1200, 900), "regenerate")
    w.open_path(save_image(tmp_path / "astro.png", data.astronaut()[:320, 64:384]))
    panel = w.panels["regenerate"]
    qtbot.waitUntil(lambda: w.is_idle() and panel.has_result(), timeout=30000)
    yield w
    forget_learned()


def test_engine_entries_and_learned_tooltip(win) -> None:
    panel = win.panels["regenerate"]
    combo = panel.engine_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["auto", "classical", "neural"]
    tip = combo.itemData(2, Qt.ItemDataRole.ToolTipRole)
    assert "MAE 31.5" in tip and "(classical 27.1" in tip and "Not measured better" in tip
    assert "research use only" in tip
    # auto reads the card: measured worse → classical, and the panel says why
    assert panel.result.info["backend"] == "classical"
    assert "Engine: classical region warping" in panel.info_label.text()
    assert "did not measure better" in panel.info_label.text()
    assert panel.engine_note.text().startswith("Auto runs classical region warping: the learned model did not")
    assert "measured worse" in panel.engine_note.text()  # the card's numbers, as the engine words them


def test_learned_choice_runs_the_generator_then_back_to_classical(qtbot, win) -> None:
    panel = win.panels["regenerate"]
    edited = apply_edits(panel.model.pixels, "dilate:hair:8")
    panel.set_engine("neural")
    assert panel.engine == "neural" and "learned SEAN-style inpainter" in panel.engine_note.text()
    from app.model.raster import PatchCommand

    panel.undo.push(PatchCommand.from_maps(panel.model, panel.model.pixels.copy(), edited, "test edit"))
    qtbot.waitUntil(lambda: win.is_idle() and panel.result.info.get("backend") == "neural"
                    and "hair" in panel.result.info["regions"], timeout=30000)
    assert "learned inpainting" in panel.result.info["regions"]["hair"]
    text = panel.info_label.text()
    assert "Engine: learned SEAN-style inpainter" in text and "does not say it measured better" in text
    assert "research" in text
    learned = panel.result.image
    panel.set_engine("classical")
    qtbot.waitUntil(lambda: win.is_idle() and panel.result.info.get("backend") == "classical", timeout=30000)
    assert panel.result.info["regions"]["hair"].startswith("continued")
    assert not np.array_equal(panel.result.image, learned)
    assert "Engine: classical region warping" in panel.info_label.text()


def test_learned_choice_refused_without_checkpoint(qtbot, win, tmp_path, monkeypatch) -> None:
    panel = win.panels["regenerate"]
    panel.set_engine("classical")
    monkeypatch.setattr(store, "checkpoint_roots", lambda: [tmp_path / "nothing"])
    forget_learned()
    with qtbot.waitSignal(panel.message, timeout=2000) as sig:
        panel.set_engine("neural")
    assert "not available" in sig.args[0]
    assert panel.engine == "classical" and panel.engine_combo.currentData() == "classical"
    assert "not available" in panel.engine_note.text()
