"""The GUI and the learned engines: nothing is loaded on the GUI thread, the engine box words a
Resolution's fields, the status bar names the device that ran, the Model manager makes the learned
backends forget."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from skimage import data

import engine.weights.store as store
from app.studios.base import device_text, engine_resolution
from app.widgets.engine_box import ENGINE_CHOICES, EngineBox, runs_line
from engine.imageio import save_image
from engine.studios.base import LearnedBackend, Resolution, forget_learned
from engine.weights.card import ModelCard, Verdict


def _card(better: bool | None) -> ModelCard:
    verdict = None if better is None else Verdict("classical", "held-out test", better)
    return ModelCard(model="m", weights="m.safetensors", sha256="0" * 64, verdict=verdict)


NAMES = {"classical": "the rules", "neural": "the network"}


@pytest.mark.parametrize(("res", "line"), [
    (Resolution("classical", "r", None, "auto", False), "Auto runs the rules: no usable learned model."),
    (Resolution("classical", "r", _card(False), "auto", True), "Auto runs the rules: the learned model did not"),
    (Resolution("neural", "r", _card(True), "auto", True), "Auto runs the network: its card says it measured better."),
    (Resolution("classical", "r", None, "classical"), "Runs the rules (chosen)."),
    (Resolution("neural", "r", _card(False), "neural", True), "Runs the network (chosen; its card does not say"),
    (Resolution("neural", "r", _card(True), "neural", True), "Runs the network (chosen)."),
])
def test_runs_line_words_the_resolution_fields(res, line) -> None:
    assert runs_line(res, NAMES).startswith(line)


def test_engine_box_binds_to_a_resolution(qtbot) -> None:
    box = EngineBox("Engine", ENGINE_CHOICES, NAMES)
    qtbot.addWidget(box)
    picked: list[str] = []
    box.chosen.connect(picked.append)
    off = Resolution("classical", "the rules: no trained m checkpoint", None, "auto", False)
    box.bind(off)
    assert box.current() == "auto" and not box.is_enabled("neural") and picked == []
    assert box.note.text().endswith("Why: the rules: no trained m checkpoint")  # the reason, as text
    assert box.tip("neural") == off.reason
    on = Resolution("classical", "the rules: m did not measure better", _card(False), "auto", True)
    box.set_tip("neural", "measured numbers")
    box.bind(Resolution("classical", "the rules requested", requested="classical"), offer=on)
    assert box.current() == "classical" and box.is_enabled("neural") and box.tip("neural") == "measured numbers"
    box.refuse("not available: gone")
    assert box.current() == "classical" and box.note.text() == "not available: gone" and picked == []


def test_engine_resolution_of_a_classical_only_studio() -> None:
    assert engine_resolution(None).backend == "classical"
    with pytest.raises(ValueError, match="only the classical"):
        engine_resolution(None, "neural")
    assert device_text("cpu") == "CPU" and device_text("cuda:1") == "CUDA 1" and device_text("mps") == "MPS"


def test_no_model_is_loaded_on_the_gui_thread(qtbot, make_window, monkeypatch, tmp_path) -> None:
    """Every panel constructs, every studio is shown (the Opera Colour tab included) and a photo is
    rendered: any model load happens in the worker thread, none on the GUI thread."""
    gui = threading.main_thread()
    loads: list[tuple[str, bool]] = []

    def watch(what: str, real):
        def wrapper(*args, **kwargs):
            on_gui = threading.current_thread() is gui
            loads.append((what, on_gui))
            if on_gui:
                raise AssertionError(f"{what} called on the GUI thread")
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(store, "load_checkpoint", watch("load_checkpoint", store.load_checkpoint))
    monkeypatch.setattr(LearnedBackend, "load", watch("LearnedBackend.load", LearnedBackend.load))
    forget_learned()  # nothing cached by earlier tests
    try:
        win = make_window((1100, 760), persist=False)
        for name in win.panels:
            win.set_studio(name)
        win.set_studio("opera")
        win.panels["opera"].set_mode("colour")  # the gallery fills, the generation strip looks for its model
        qtbot.waitUntil(lambda: win.is_idle() and win.panels["opera"].is_idle(), timeout=30000)
        win.panels["opera"].set_mode("lineart")
        win.set_studio("maskwear")  # the shipped refiner's card says it measured better: auto loads it
        win.open_path(save_image(tmp_path / "astro.png", data.astronaut()[::2, ::2].copy()))
        panel = win.panels["maskwear"]
        qtbot.waitUntil(lambda: win.is_idle() and panel.has_result(), timeout=60000)
        assert not [w for w, on_gui in loads if on_gui]
        if panel.result.info.get("backend") == "neural":
            assert ("LearnedBackend.load", False) in loads  # loaded, in the worker
        # the status bar names the device that really ran the result
        assert win.device_widget.text() == f"Device: {device_text(panel.result.info['device'])}"
    finally:
        forget_learned()


def test_model_manager_import_makes_the_backends_forget(qtbot, make_window, monkeypatch) -> None:
    from types import SimpleNamespace

    import engine.studios.base as studio_base
    import engine.weights.catalog as catalog

    win = make_window(persist=False)
    refreshed: list[str] = []
    forgot: list[bool] = []
    monkeypatch.setattr(studio_base, "forget_learned", lambda: forgot.append(True))
    monkeypatch.setattr(catalog, "list_models", lambda verify=False: [])
    for panel in win.panels.values():
        monkeypatch.setattr(panel, "refresh_engines", lambda name=panel.name: refreshed.append(name))
    dlg = win.open_model_manager()
    qtbot.waitUntil(dlg.is_idle, timeout=30000)
    def refuse(path: str) -> None:
        raise ValueError(f"{path}: refused")

    monkeypatch.setattr(catalog, "import_weights", refuse)
    dlg.import_path("/nowhere/bad.pth")
    qtbot.waitUntil(dlg.is_idle, timeout=30000)
    assert dlg.last_error and forgot == [] and refreshed == []  # a refused file changes nothing
    monkeypatch.setattr(catalog, "import_weights", lambda path: SimpleNamespace(message="imported good.pth"))
    dlg.import_path("/nowhere/good.pth")
    qtbot.waitUntil(dlg.is_idle, timeout=30000)
    assert dlg.status.text() == "Imported good.pth"
    assert forgot == [True] and sorted(refreshed) == sorted(win.panels)
    dlg.close()


def test_param_texts_cover_every_parameter(make_window) -> None:
    """Undo texts are in words (never a parameter name) for every parameter of every studio."""
    words = {"smile"}  # parameter names that are the user's word already
    win = make_window(persist=False)
    for panel in win.panels.values():
        for key, value in win.doc.params(panel.name).items():
            text = panel.undo_text(key, value)
            assert text and "_" not in text, (panel.name, key, text)
            assert key in words or text != f"Change {key}", (panel.name, key, text)
    assert np.all([s.undoLimit() > 0 for s in win.undo_group.stacks()])
