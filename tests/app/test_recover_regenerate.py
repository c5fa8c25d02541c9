"""Issue 21, item 10 (window leftovers): the Regenerate label map survives a kill -9 and comes back
— when Regenerate is the studio on screen and when it is not (the recovered map waits for the
photo's parsing, stays unsaved work meanwhile, and is applied when the parsing arrives) —, and
a panel's own "Batch…" button that cannot start a batch gets the window's persistent notice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox
from skimage import data

from app.model.raster import PatchCommand
from app.model.recovery import Session, SessionError, orphaned_sessions, read_session
from engine.imageio import save_image

REPO = Path(__file__).resolve().parents[2]
HAIR, NOSE = 17, 2
"""Official CelebAMask-HQ indices of the labels the tests paint."""
BOX = (slice(20, 60), slice(30, 90))
"""Where the tests paint: rows, columns of the 128² photo."""


@pytest.fixture(scope="module")
def face(tmp_path_factory) -> Path:
    """The astronaut photo (a real face) at 128²."""
    import cv2

    d = tmp_path_factory.mktemp("face")
    return save_image(d / "astro.png", cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA))


def wait_parsed(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: panel.model is not None, timeout=60000)


def paint(panel, value: int = HAIR) -> np.ndarray:
    """Paint ``value`` into :data:`BOX` of the mask as one stroke (the painter's undo step); returns
    the painted map."""
    after = panel.model.pixels.copy()
    after[BOX] = value
    panel.undo.push(PatchCommand.from_maps(panel.model, panel.model.pixels.copy(), after, "Paint hair"))
    return after


# -- kill -9 with a painted mask ------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from app.gui import make_app, start_recovery
    from app.main_window import MainWindow
    from app.model.raster import PatchCommand

    app = make_app()
    win = MainWindow()
    win.persist_settings = False
    win.show()
    start_recovery(win)
    win.set_studio("regenerate")
    win.open_path(sys.argv[1])
    panel = win.panels["regenerate"]
    deadline = time.monotonic() + 90
    while panel.model is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    after = panel.model.pixels.copy()
    after[20:60, 30:90] = 17
    panel.undo.push(PatchCommand.from_maps(panel.model, panel.model.pixels.copy(), after, "Paint hair"))
    np.save(sys.argv[2], after)
    win.set_studio(sys.argv[3])  # the studio on screen when the window is killed
    print("painted", flush=True)
    app.exec()
""")


def kill_after_autosave(folder: Path, face: Path, painted: Path, studio: str) -> None:
    """Run a window that paints the Regenerate mask with ``studio`` on screen, wait for an autosave
    holding the painted map, then kill -9 it."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MASQUERADE_RECOVERY_DIR=str(folder),
               MASQUERADE_AUTOSAVE_S="0.2", PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(face), str(painted), studio], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 150
        saved = False
        while time.monotonic() < deadline and child.poll() is None and not saved:
            time.sleep(0.2)
            if not painted.is_file():
                continue
            for masq in folder.glob("*.masq"):
                try:
                    s = read_session(masq)
                except SessionError:
                    continue  # being replaced
                labels = s.layers.get("regenerate.labels")
                saved = (s.studio == studio and labels is not None
                         and np.array_equal(labels, np.load(painted)))
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert saved, "the painted label map was autosaved"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert orphaned_sessions(folder), "the killed window's autosave is offered"


def recover(make_window, folder: Path, monkeypatch, studio: str = "maskwear"):
    win = make_window((1000, 700), studio=studio, persist=False)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert win.offer_recovery(folder)
    return win


@pytest.mark.parametrize("studio", ["regenerate", "maskwear"])
def test_killed_app_recovers_the_painted_regenerate_mask(make_window, tmp_path, face, qtbot, monkeypatch,
                                                         studio) -> None:
    """Killed with Regenerate on screen (the map is applied when its parsing arrives) or with another
    studio on screen (the map waits, stays unsaved work and is applied once Regenerate is shown)."""
    folder, painted = tmp_path / "recovery", tmp_path / "painted.npy"
    kill_after_autosave(folder, face, painted, studio)
    expected = np.load(painted)

    win = recover(make_window, folder, monkeypatch)
    panel = win.panels["regenerate"]
    assert win.doc.path == face and win.current_panel().name == studio
    assert win.isWindowModified() and "Regenerate" in win.unsaved_studios()
    # before the parsing arrives (or before Regenerate is shown) the map is unsaved work all the
    # same: it is in the session an autosave or Save would write
    assert np.array_equal(win.session().layers["regenerate.labels"], expected)
    if studio != "regenerate":
        qtbot.wait(300)
        assert panel.model is None  # a hidden studio does not parse
        win.set_studio("regenerate")
    wait_parsed(qtbot, panel)
    qtbot.waitUntil(lambda: np.array_equal(panel.model.pixels, expected), timeout=5000)
    assert panel.undo.undoText() == "Recover mask" and win.isWindowModified()
    assert np.array_equal(win.session().layers["regenerate.labels"], expected)
    qtbot.waitUntil(lambda: panel.result is not None and not panel.result.is_preview, timeout=60000)
    panel.undo.undo()  # back to the photo's own parsing
    assert np.array_equal(panel.model.pixels, panel.source_labels)
    assert orphaned_sessions(folder) == []


# -- recovery without a kill: the panel's hooks ---------------------------------------------------
def test_a_pending_mask_survives_a_save_and_does_not_make_the_saved_work_modified(
        make_window, tmp_path, face, qtbot, monkeypatch) -> None:
    win = make_window((1000, 700), studio="regenerate", persist=False)
    panel = win.panels["regenerate"]
    win.open_path(face)
    wait_parsed(qtbot, panel)
    painted = paint(panel)
    saved = win.session()
    win.set_studio("maskwear")
    win.restore_session(Session("maskwear", saved.path, saved.image, saved.params, saved.layers))
    assert panel.model is None and win.isWindowModified()
    assert win.save_session(tmp_path / "s.masq") and not win.isWindowModified()
    assert np.array_equal(read_session(tmp_path / "s.masq").layers["regenerate.labels"], painted)
    win.set_studio("regenerate")
    wait_parsed(qtbot, panel)
    qtbot.waitUntil(lambda: np.array_equal(panel.model.pixels, painted), timeout=5000)
    assert not win.isWindowModified()  # what is shown now is what was saved
    panel.undo.undo()
    assert win.isWindowModified()


def test_a_new_image_drops_a_pending_mask(make_window, tmp_path, face, qtbot) -> None:
    win = make_window((1000, 700), studio="maskwear", persist=False)
    image = np.asarray(data.astronaut()[::4, ::4], dtype=np.uint8).copy()
    labels = np.zeros(image.shape[:2], np.uint8)
    win.restore_session(Session("maskwear", face, image, {}, {"regenerate.labels": labels}))
    assert win.isWindowModified() and "regenerate.labels" in win.session().layers
    win.doc.set_image(np.zeros((40, 40, 3), np.uint8))
    assert not win.isWindowModified() and "regenerate.labels" not in win.session().layers


def test_a_label_map_that_does_not_fit_the_image_is_refused_with_a_notice(make_window, face) -> None:
    win = make_window((1000, 700), studio="maskwear", persist=False)
    image = np.zeros((64, 64, 3), np.uint8)
    win.restore_session(Session("maskwear", face, image, {}, {"regenerate.labels": np.zeros((10, 10), np.uint8)}))
    assert "mask not recovered" in win.notice.text.lower() and not win.isWindowModified()
    assert "regenerate.labels" not in win.session().layers


def test_a_label_map_with_unknown_labels_is_refused_with_a_notice(make_window, face) -> None:
    win = make_window((1000, 700), studio="maskwear", persist=False)
    image = np.zeros((64, 64, 3), np.uint8)
    win.restore_session(Session("maskwear", face, image, {}, {"regenerate.labels": np.full((64, 64), 99, np.uint8)}))
    assert "mask not recovered" in win.notice.text.lower()
    assert "regenerate.labels" not in win.session().layers


# -- a panel's own Batch… button ------------------------------------------------------------------
def dialogs_opened(monkeypatch) -> list:
    """Batch dialogs shown from now on (not run: ``exec`` only records them)."""
    from app.dialogs.batch_dialog import BatchDialog

    opened: list = []
    monkeypatch.setattr(BatchDialog, "exec", lambda self: opened.append(self) or 0)
    return opened


@pytest.mark.parametrize("studio", ["opera", "makeup"])
def test_panel_batch_button_that_cannot_start_gets_the_notice(make_window, monkeypatch, studio) -> None:
    win = make_window((1000, 700), studio=studio, persist=False)
    panel = win.panels[studio]

    def refuse() -> dict:
        raise ValueError("sigma 1e9 is out of range")

    monkeypatch.setattr(panel, "batch_params", refuse)
    opened = dialogs_opened(monkeypatch)
    panel.batch_button.click()
    assert not opened
    assert "cannot start a batch" in win.notice.text and "1e9" in win.notice.text and not win.notice.isHidden()
    win.show_message("something else")
    assert "1e9" in win.notice.text  # persistent, unlike the status bar


def test_panel_batch_button_that_can_start_opens_the_dialog(make_window, monkeypatch) -> None:
    win = make_window((1000, 700), studio="opera", persist=False)
    opened = dialogs_opened(monkeypatch)
    win.panels["opera"].batch_button.click()
    assert len(opened) == 1 and opened[0].op == "lineart" and win.notice.text == ""
