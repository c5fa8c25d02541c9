"""Issue 21, items 10–12: unsaved work (modified title, Save / Discard / Cancel, sessions, autosave and
recovery after a kill -9), failures of user actions in a persistent notice, and a status bar that
describes the shown studio only."""

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

from app.model.recovery import (
    RecoverySlot,
    Session,
    SessionError,
    autosave_interval_s,
    orphaned_sessions,
    read_session,
    recovery_dir,
    write_session,
)
from engine.imageio import save_image

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def win(make_window):
    w = make_window((1000, 700), studio="maskwear", persist=False)
    yield w
    w.guard_unsaved = False  # teardown closes without asking


@pytest.fixture
def photo(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    return save_image(tmp_path / "photo.png", (rng.random((48, 40, 3)) * 255).astype(np.uint8))


def wait_loaded(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win._pending_load is None, timeout=20000)


def answer(monkeypatch, button: QMessageBox.StandardButton) -> list[str]:
    """Make every Save / Discard / Cancel box answer ``button``; returns the questions asked."""
    asked: list[str] = []

    def exec_(box: QMessageBox) -> int:
        asked.append(box.text())
        return int(button.value)

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


# -- session files --------------------------------------------------------------------------------
def test_session_file_round_trip_keeps_types_and_arrays(tmp_path) -> None:
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    s = Session("maskwear", Path("/x/face.png"), img,
                {"maskwear": {"offsets": (("a", 1.5, -2.0),), "lighting": 0.8, "color": ""}},
                {"opera.sketch": np.full((4, 5), 255, np.uint8)})
    back = read_session(write_session(tmp_path / "a.masq", s))
    assert back.studio == "maskwear" and back.path == Path("/x/face.png")
    assert back.params["maskwear"]["offsets"] == (("a", 1.5, -2.0),)  # tuples stay tuples
    assert np.array_equal(back.image, img) and np.array_equal(back.layers["opera.sketch"], s.layers["opera.sketch"])


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04broken"])
def test_damaged_session_file_is_one_line_error(tmp_path, content) -> None:
    p = tmp_path / "bad.masq"
    p.write_bytes(content)
    with pytest.raises(SessionError) as e:
        read_session(p)
    assert "\n" not in str(e.value) and "bad.masq" in str(e.value)


def test_session_write_into_missing_folder_fails_cleanly(tmp_path) -> None:
    with pytest.raises(SessionError, match="does not exist"):
        write_session(tmp_path / "missing" / "a.masq", Session("opera"))


def test_recovery_settings_from_environment(tmp_path) -> None:
    assert recovery_dir({"MASQUERADE_RECOVERY_DIR": str(tmp_path)}) == tmp_path
    assert recovery_dir({}).parts[-2:] == (".masquerade", "recovery")
    assert autosave_interval_s({}) == 60.0 and autosave_interval_s({"MASQUERADE_AUTOSAVE_S": "0.5"}) == 0.5
    for bad in ("x", "0", "1e9"):
        with pytest.raises(SessionError):
            autosave_interval_s({"MASQUERADE_AUTOSAVE_S": bad})


def test_a_live_slot_is_not_an_orphan_and_a_clean_close_leaves_nothing(tmp_path) -> None:
    slot = RecoverySlot(tmp_path)
    slot.save(Session("opera"))
    assert slot.path.exists() and orphaned_sessions(tmp_path) == []  # its window is alive (lock held)
    slot.close()
    assert list(tmp_path.iterdir()) == []


# -- modified flag and the close / open prompt ----------------------------------------------------
def test_an_edit_marks_the_title_modified_and_undo_clears_it(win) -> None:
    assert not win.isWindowModified() and "[*]" in win.windowTitle()
    win.panels["maskwear"].push_param("lighting", 0.3)
    assert win.doc.modified and win.isWindowModified()
    win.undo.undo()
    assert not win.doc.modified and not win.isWindowModified()


def test_painting_the_opera_sketch_marks_modified(win) -> None:
    win.set_studio("opera")
    sketch = win.panels["opera"].colour.sketch
    px = sketch.line_art()
    px[10:20, 10:20] = 0
    sketch.set_line_art(px, "Draw")
    assert win.isWindowModified()


def test_close_with_unsaved_work_asks_and_cancel_keeps_the_window(win, monkeypatch) -> None:
    win.guard_unsaved = True
    win.panels["maskwear"].push_param("lighting", 0.3)
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert not win.close()
    assert asked and "closing" in asked[0] and win.isVisible() and win.doc.modified


def test_close_with_unsaved_work_discard_closes(win, monkeypatch) -> None:
    win.guard_unsaved = True
    win.panels["maskwear"].push_param("lighting", 0.3)
    asked = answer(monkeypatch, QMessageBox.StandardButton.Discard)
    assert win.close() and asked and not win.isVisible()


def test_close_save_writes_a_session_that_restores_the_work(win, monkeypatch, tmp_path, qtbot, photo) -> None:
    win.open_path(photo)
    wait_loaded(qtbot, win)
    win.guard_unsaved = True
    win.panels["maskwear"].push_param("offsets", (("a", 3.0, -1.0),), text="Move mask anchor")
    target = tmp_path / "work.masq"
    answer(monkeypatch, QMessageBox.StandardButton.Save)
    monkeypatch.setattr("app.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    assert win.close() and target.is_file()
    restored = read_session(target)
    assert restored.params["maskwear"]["offsets"] == (("a", 3.0, -1.0),)
    assert restored.path == photo and restored.image.shape == (48, 40, 3)


def test_nothing_unsaved_closes_without_asking(win, monkeypatch) -> None:
    win.guard_unsaved = True
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert win.close() and not asked


def test_opening_another_image_over_unsaved_work_asks(win, monkeypatch, photo) -> None:
    win.guard_unsaved = True
    win.panels["maskwear"].push_param("lighting", 0.3)
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert win.open_user_path(photo) is None and asked and "opening" in asked[0]
    assert win._pending_load is None and win.doc.modified


def test_random_anime_face_over_unsaved_work_asks(win, monkeypatch) -> None:
    win.guard_unsaved = True
    win.panels["maskwear"].push_param("lighting", 0.3)
    image = win.doc.image
    asked = answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    win.panels["expression"].random_face()
    assert asked and "random anime face" in asked[0]
    assert win.panels["expression"].is_idle() and win.doc.image is image and win.doc.modified


def test_session_restore_is_undoable_and_leaves_the_document_modified(win, qtbot, photo, tmp_path) -> None:
    win.open_path(photo)
    wait_loaded(qtbot, win)
    win.panels["maskwear"].push_param("lighting", 0.25)
    sketch = win.panels["opera"].colour.sketch
    px = sketch.line_art()
    px[100:140, 100:140] = 0
    sketch.set_line_art(px, "Draw")
    assert win.save_session(tmp_path / "s.masq") and not win.doc.modified
    saved = read_session(tmp_path / "s.masq")
    win.panels["maskwear"].push_param("lighting", 0.9)
    sketch.set_line_art(np.full_like(px, 255), "Clear")
    win.restore_session(saved)
    assert win.doc.param("maskwear", "lighting") == 0.25
    assert np.array_equal(sketch.line_art(), px) and win.doc.modified


# -- kill -9 and recovery -------------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from app.gui import make_app, start_recovery
    from app.main_window import MainWindow

    app = make_app()
    win = MainWindow()
    win.persist_settings = False
    win.show()
    start_recovery(win)
    win.open_path(sys.argv[1])
    deadline = time.monotonic() + 60
    while win._pending_load is not None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    win.panels["maskwear"].push_param("offsets", (("c", 4.0, 2.0),), text="Move mask anchor")
    sketch = win.panels["opera"].colour.sketch
    px = sketch.line_art()
    px[50:90, 60:70] = 0
    sketch.set_line_art(px, "Draw")
    print("edited", flush=True)
    app.exec()
""")


def test_killed_app_offers_recovery_and_restores_the_work(make_window, tmp_path, photo, qtbot, monkeypatch) -> None:
    folder = tmp_path / "recovery"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MASQUERADE_RECOVERY_DIR=str(folder),
               MASQUERADE_AUTOSAVE_S="0.2", PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(photo)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            masq = list(folder.glob("*.masq"))
            if masq and "opera.sketch" in read_session(masq[0]).layers:
                try:
                    if read_session(masq[0]).params["maskwear"]["offsets"]:
                        break
                except SessionError:
                    pass
            time.sleep(0.2)
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        time.sleep(0.5)  # a later autosave holds the same state
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert orphaned_sessions(folder), "the killed window's autosave is offered"

    win = make_window((1000, 700), persist=False)
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    assert win.offer_recovery(folder)
    assert asked and "Recover" in asked[0]
    assert win.doc.param("maskwear", "offsets") == (("c", 4.0, 2.0),)
    assert win.doc.path == photo and win.doc.image is not None and win.doc.image.shape == (48, 40, 3)
    sketch = win.panels["opera"].colour.sketch.line_art()
    assert (sketch[50:90, 60:70] == 0).all() and win.isWindowModified()
    assert orphaned_sessions(folder) == []  # offered once


# -- errors the user sees -------------------------------------------------------------------------
def test_dropped_non_image_gets_a_persistent_notice(win, qtbot, tmp_path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    win.open_user_path(bad)
    wait_loaded(qtbot, win)
    assert "notes.txt" in win.notice.text and not win.notice.isHidden()
    win.show_message("something else")  # the status bar moves on; the notice stays
    assert "notes.txt" in win.notice.text
    win.notice.dismiss()
    assert win.notice.text == ""


def test_export_into_a_missing_folder_gets_a_notice(win, qtbot, tmp_path) -> None:
    win.set_studio("opera")
    win.open_path(save_image(tmp_path / "g.png", np.full((40, 30, 3), 128, np.uint8)))
    wait_loaded(qtbot, win)
    panel = win.panels["opera"]
    qtbot.waitUntil(panel.has_result, timeout=20000)
    panel.export_result(str(tmp_path / "missing" / "out.png"))
    qtbot.waitUntil(lambda: "does not exist" in win.notice.text, timeout=20000)


def test_batch_that_cannot_start_gets_a_notice(win, monkeypatch) -> None:
    monkeypatch.setattr(win.current_panel(), "batch_op", None)  # a studio without batch ops
    win.open_batch()
    assert "no batch export" in win.notice.text
    win.set_studio("opera")
    panel = win.current_panel()

    def refuse() -> dict:
        raise ValueError("colour #zz is not a colour")

    monkeypatch.setattr(panel, "batch_params", refuse)
    win.open_batch()
    assert "cannot start a batch" in win.notice.text and "#zz" in win.notice.text


# -- the status bar describes the shown studio ----------------------------------------------------
def test_switching_studio_shows_that_studios_engine_and_device(win) -> None:
    win.panels["maskwear"].engine_status.emit("Engine: learned (stn) · 1 face(s)")
    win.panels["maskwear"].device_used.emit("cuda:0")
    assert "learned" in win.engine_label.text() and "CUDA 0" in win.device_widget.text()
    win.set_studio("makeup")
    assert win.engine_label.text() == "Engine: idle" and "CUDA" not in win.device_widget.text()
    win.panels["maskwear"].engine_status.emit("Engine: classical (keypoint)")  # a hidden studio's late line
    assert win.engine_label.text() == "Engine: idle"
    win.set_studio("maskwear")
    assert "keypoint" in win.engine_label.text()


def test_a_failed_render_drops_the_previous_results_engine_line(win) -> None:
    win.set_studio("makeup")
    win.panels["makeup"].engine_status.emit("Engine: classical (lab) · 1 face(s)")
    win.worker.error.emit("makeup.render", 1, "no face found")
    win.set_studio("makeup")
    assert "face(s)" not in win.engine_label.text()


def test_a_new_image_resets_every_studios_status(win, qtbot, photo) -> None:
    win.panels["maskwear"].engine_status.emit("Engine: classical (keypoint) · 1 face(s)")
    win.doc.set_image(np.zeros((20, 20, 3), np.uint8))
    assert "face(s)" not in win.engine_label.text()
