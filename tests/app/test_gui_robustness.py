"""GUI robustness (offscreen): odd files through ``MainWindow.open_path``, jobs in flight while the
user switches studios / opens another image / closes, export failures, cross-studio undo, status bar.

Images are tiny and generated here; the worker is held with a gate job where the order of events
must be exact, so nothing depends on how fast the engine happens to be.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image
from skimage import data

from app.main_window import ENGINE_LABEL_WIDTH, MainWindow
from app.worker import WorkerThread
from engine.imageio import save_image

PHOTO_STUDIOS = ("expression", "maskwear", "makeup", "regenerate")


@pytest.fixture
def win(make_window):
    return make_window((1000, 700), persist=False)


@pytest.fixture
def events(win):
    """Every (signal, channel) the worker sends, in order."""
    seen: list[tuple[str, str]] = []
    win.worker.result.connect(lambda c, g, v: seen.append(("result", c)))
    win.worker.error.connect(lambda c, g, m: seen.append(("error", c, m)))
    win.worker.finished.connect(lambda c, g: seen.append(("finished", c)))
    return seen


def wait_idle(qtbot, win, timeout: int = 20000) -> None:
    qtbot.waitUntil(lambda: win.is_idle() and all(p.is_idle() for p in win.panels.values()), timeout=timeout)


def open_and_wait(qtbot, win, path) -> None:
    win.open_path(path)
    qtbot.waitUntil(lambda: win._pending_load is None, timeout=20000)
    wait_idle(qtbot, win)


class Gate:
    """A worker job that blocks the (single) worker thread until released."""

    def __init__(self, win) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        win.worker.submit("test.gate", self._job)

    def _job(self, token) -> None:
        self.started.set()
        self.release.wait(10)

    def wait_started(self) -> None:
        assert self.started.wait(10)


# -- odd files ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("odd")
    rng = np.random.default_rng(0)
    rgb = (rng.random((40, 30, 3)) * 255).astype(np.uint8)
    base = Image.fromarray(rgb)
    base.save(d / "good.png")
    (d / "zero.png").write_bytes(b"")
    base.save(d / "full.jpg", quality=90)
    full = (d / "full.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (d / "text.png").write_text("not an image\n")
    Image.fromarray((rng.random((40, 30)) * 65535).astype(np.uint16)).save(d / "grey16.png")
    base.convert("CMYK").save(d / "cmyk.jpg")
    base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(d / "palette.png", transparency=0)
    base.convert("LA").save(d / "la.png")
    base.convert("L").save(d / "grey.png")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(d / "one.png")
    Image.new("RGB", (3, 3000), (10, 200, 10)).save(d / "thin.png")
    Image.new("1", (9000, 9000)).save(d / "huge.png")  # over the 64 MP limit, refused before decoding
    return d


BAD = {"zero.png": "not an image", "truncated.jpg": "truncated", "text.png": "not an image",
       "huge.png": "64 MP limit"}
ODD_BUT_VALID = ("grey16.png", "cmyk.jpg", "palette.png", "la.png", "grey.png", "one.png", "thin.png")


def test_unreadable_files_keep_the_document_and_say_why(qtbot, win, odd_files) -> None:
    win.set_studio("opera")
    open_and_wait(qtbot, win, odd_files / "good.png")
    before, result = win.doc.image, win.panels["opera"].result
    assert result is not None
    for name, why in BAD.items():
        win.open_path(odd_files / name)
        qtbot.waitUntil(lambda: win._pending_load is None, timeout=20000)
        assert win.last_error and why in win.last_error, (name, win.last_error)
        assert name in win.statusBar().currentMessage() and "Could not open" in win.statusBar().currentMessage()
        assert win.doc.image is before and win.doc.path.name == "good.png"
        assert win.panels["opera"].has_result()  # the previous result is still there to export
    wait_idle(qtbot, win)


@pytest.mark.parametrize("studio", ("opera",) + PHOTO_STUDIOS)
def test_odd_but_valid_images_open_in_every_studio(qtbot, win, odd_files, events, studio) -> None:
    win.set_studio(studio)
    panel = win.panels[studio]
    for name in ODD_BUT_VALID:
        win.last_error = None
        open_and_wait(qtbot, win, odd_files / name)
        assert win.last_error is None and win.doc.path.name == name
        img = win.doc.image
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        w, h = Image.open(odd_files / name).size
        assert img.shape[:2] == (h, w)
        if studio == "opera":
            assert panel.has_result() and panel.result.image.shape[:2] == (h, w)
    # the photo studios find no face in these pictures: a plain message, never a Python error
    errors = [e for e in events if e[0] == "error"]
    assert all(e[1].startswith(studio + ".") for e in errors), errors
    assert all("no " in e[2] and "face" in e[2] and "Error" not in e[2] for e in errors), errors
    if studio != "opera":
        assert errors and not panel.has_result() and not panel.export_button.isEnabled()


# -- hidden studios stay quiet ----------------------------------------------------------------------
def test_hidden_studios_do_not_render_an_opened_image(qtbot, win, odd_files, events) -> None:
    win.set_studio("opera")
    open_and_wait(qtbot, win, odd_files / "good.png")
    channels = {e[1] for e in events}
    assert "opera.lineart" in channels
    others = {c for c in channels if c.split(".")[0] in PHOTO_STUDIOS}
    assert not others, others  # the makeup panel used to render (and say "no face found") from opera
    assert not any("Makeup" in m for m in [win.statusBar().currentMessage()])


# -- jobs in flight ---------------------------------------------------------------------------------
def test_switching_studio_cancels_the_queued_render(qtbot, win, odd_files, events) -> None:
    win.set_studio("makeup")
    open_and_wait(qtbot, win, odd_files / "good.png")
    events.clear()
    gate = Gate(win)
    gate.wait_started()
    win.panels["makeup"].intensity.spin.setValue(0.3)  # queues a makeup render behind the gate
    assert not win.panels["makeup"].is_idle()
    win.set_studio("opera")  # opera queues its line art; the makeup render is now useless
    assert win.panels["makeup"].is_idle()
    gate.release.set()
    wait_idle(qtbot, win)
    ran = [e[1] for e in events if e[0] in ("result", "error")]
    assert "makeup.render" not in ran and "opera.lineart" in ran
    assert win.panels["opera"].has_result()
    win.set_studio("makeup")  # coming back renders again
    wait_idle(qtbot, win)
    assert "makeup.render" in [e[1] for e in events]


def test_regenerate_reparses_after_its_parse_was_cancelled(qtbot, win, odd_files) -> None:
    win.set_studio("opera")
    open_and_wait(qtbot, win, odd_files / "good.png")
    gate = Gate(win)
    gate.wait_started()
    win.set_studio("regenerate")  # queues the parse behind the gate
    panel = win.panels["regenerate"]
    assert not panel.is_idle() and not panel.save_button.isEnabled()
    win.set_studio("opera")
    assert panel.is_idle() and panel._parsed_for is None
    gate.release.set()
    wait_idle(qtbot, win)
    win.set_studio("regenerate")
    assert not panel.is_idle()  # parses again
    wait_idle(qtbot, win)


def test_opening_an_image_cancels_the_render_of_the_old_one(qtbot, win, odd_files, events) -> None:
    win.set_studio("opera")
    open_and_wait(qtbot, win, odd_files / "good.png")
    panel = win.panels["opera"]
    events.clear()
    gate = Gate(win)
    gate.wait_started()
    panel.lineart.sliders["sigma"].spin.setValue(1.5)  # render of the old image, queued
    win.open_path(odd_files / "grey.png")
    gate.release.set()
    qtbot.waitUntil(lambda: win._pending_load is None, timeout=20000)
    wait_idle(qtbot, win)
    assert win.doc.path.name == "grey.png" and panel.has_result()
    order = [e[1] for e in events if e[0] == "finished"]
    assert order.index("document.load") < order.index("opera.lineart")
    assert order.count("opera.lineart") == 1  # only the new image was rendered


def test_a_failed_open_redoes_the_render_it_cancelled(qtbot, win, odd_files) -> None:
    win.set_studio("opera")
    open_and_wait(qtbot, win, odd_files / "good.png")
    panel = win.panels["opera"]
    first = panel.result.image.copy()
    gate = Gate(win)
    gate.wait_started()
    panel.lineart.sliders["sigma"].spin.setValue(2.0)
    win.open_path(odd_files / "text.png")
    gate.release.set()
    qtbot.waitUntil(lambda: win._pending_load is None, timeout=20000)
    wait_idle(qtbot, win)
    assert win.doc.path.name == "good.png" and "Could not open" in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: panel.has_result(), timeout=20000)
    assert not np.array_equal(panel.result.image, first)  # sigma 2.0 was rendered after all


def test_closing_waits_for_a_job_that_ignores_cancellation(qtbot) -> None:
    wt = WorkerThread()
    done = threading.Event()

    def stubborn(token) -> int:
        time.sleep(0.6)  # never looks at the token
        done.set()
        return 1

    wt.worker.submit("slow", stubborn)
    qtbot.waitUntil(lambda: wt.worker.runs == 1, timeout=5000)
    wt.stop(timeout_ms=50)  # used to return with the thread running: "QThread: Destroyed while..."
    assert done.is_set() and not wt.thread.isRunning()


def test_closing_the_window_while_a_job_runs(qtbot, clean_settings, odd_files) -> None:
    w = MainWindow()
    w.persist_settings = False
    qtbot.addWidget(w)
    w.show()
    w.set_studio("makeup")
    w.open_path(odd_files / "good.png")
    qtbot.waitUntil(lambda: w.doc.has_image, timeout=20000)
    w.close()  # the makeup render may be running: cancelled, thread joined
    assert not w.worker_thread.thread.isRunning() and not w.isVisible()


# -- export -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("studio", ("opera",) + PHOTO_STUDIOS)
def test_export_with_nothing_open_says_so(win, studio) -> None:
    win.set_studio(studio)
    panel = win.panels[studio]
    assert not panel.export_button.isEnabled()
    win.export_dialog()  # returns before any file dialog
    assert "Nothing to export" in win.statusBar().currentMessage()
    panel.export_result("/nonexistent/x.png")
    assert "nothing" in win.statusBar().currentMessage().lower()


def test_opera_export_to_a_missing_folder_reports_and_keeps_the_result(qtbot, win, odd_files, tmp_path) -> None:
    win.set_studio("opera")
    open_and_wait(qtbot, win, odd_files / "good.png")
    panel = win.panels["opera"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    panel.export_result(str(blocker / "out.png"))  # a file where the folder should be
    wait_idle(qtbot, win)
    assert "Opera:" in win.statusBar().currentMessage() and "out.png" in win.statusBar().currentMessage()
    assert panel.has_result() and panel.export_button.isEnabled()


def test_maskwear_export_failure_keeps_result_and_canvas(qtbot, win, tmp_path) -> None:
    win.set_studio("maskwear")
    open_and_wait(qtbot, win, save_image(tmp_path / "astro.png", data.astronaut()[::2, ::2].copy()))
    panel = win.panels["maskwear"]
    qtbot.waitUntil(panel.has_result, timeout=20000)
    result = panel.result
    panel.export_result(str(tmp_path / "missing" / "masked.png"))
    wait_idle(qtbot, win)
    assert "Mask-wear:" in win.statusBar().currentMessage() and "does not exist" in win.statusBar().currentMessage()
    # it used to blank the canvas and drop the anchor handles, as if the render had failed
    assert panel.result is result and panel.export_button.isEnabled()
    assert win.canvas._after is not None and win.canvas.handles is not None


# -- undo across studios ------------------------------------------------------------------------------
def test_undo_in_one_studio_never_touches_another_studios_state(qtbot, win, odd_files, events) -> None:
    win.set_studio("opera")
    open_and_wait(qtbot, win, odd_files / "good.png")
    opera, makeup = win.panels["opera"], win.panels["makeup"]
    opera.lineart.sliders["sigma"].spin.setValue(2.0)
    wait_idle(qtbot, win)
    thick = opera.result.image.copy()
    assert win.undo is opera.undo and opera.undo.count() == 1
    assert win.undo_action.text().endswith("Change line thickness (σ)")
    win.set_studio("makeup")
    wait_idle(qtbot, win)
    assert win.undo is makeup.undo and makeup.undo.count() == 0
    assert not win.undo_action.isEnabled()  # the Edit menu follows the shown studio's stack
    events.clear()
    win.undo_action.trigger()  # nothing to undo in makeup: the hidden opera edit stays
    makeup.intensity.spin.setValue(0.3)
    assert win.undo_action.text().endswith("Change makeup intensity")
    win.undo_action.trigger()
    wait_idle(qtbot, win)
    assert win.doc.param("makeup", "intensity") == pytest.approx(0.8)
    assert win.doc.param("opera", "sigma") == pytest.approx(2.0) and opera.undo.index() == 1
    assert "opera.lineart" not in [e[1] for e in events]  # opera's state was never touched
    win.redo_action.trigger()
    assert win.doc.param("makeup", "intensity") == pytest.approx(0.3) and opera.undo.index() == 1
    win.set_studio("opera")
    wait_idle(qtbot, win)
    assert np.array_equal(opera.result.image, thick)
    win.undo_action.trigger()  # now it is opera's turn: its edit is undone and rendered
    wait_idle(qtbot, win)
    assert win.doc.param("opera", "sigma") != pytest.approx(2.0) and not np.array_equal(opera.result.image, thick)
    assert win.doc.param("makeup", "intensity") == pytest.approx(0.3) and makeup.undo.index() == 1


def test_ctrl_z_and_ctrl_shift_z_follow_the_shown_studio(qtbot, win) -> None:
    from PySide6.QtCore import Qt

    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    win.set_studio("expression")
    win.panels["expression"].sliders["smile"].spin.setValue(0.5)
    win.set_studio("makeup")
    win.panels["makeup"].intensity.spin.setValue(0.3)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, ctrl)
    assert win.doc.param("makeup", "intensity") == pytest.approx(0.8)
    assert win.doc.param("expression", "smile") == pytest.approx(0.5)  # another studio's edit stays
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, ctrl | shift)
    assert win.doc.param("makeup", "intensity") == pytest.approx(0.3)
    win.set_studio("expression")
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, ctrl)
    assert win.doc.param("expression", "smile") == 0.0 and win.doc.param("makeup", "intensity") == pytest.approx(0.3)


def test_every_studio_stack_has_an_undo_limit_and_a_new_image_clears_them(qtbot, win, odd_files) -> None:
    from app.model.commands import UNDO_LIMIT

    stacks = [p.undo for p in win.panels.values()]
    assert len({id(s) for s in stacks}) == len(stacks) and set(win.undo_group.stacks()) == set(stacks)
    assert all(s.undoLimit() == UNDO_LIMIT for s in stacks)
    win.set_studio("maskwear")
    win.panels["maskwear"].push_param("lighting", 0.5)
    assert win.undo.count() == 1
    open_and_wait(qtbot, win, odd_files / "good.png")  # its steps belonged to the previous image
    assert all(s.count() == 0 for s in stacks)


# -- looks ------------------------------------------------------------------------------------------
def test_long_engine_status_is_elided_with_the_full_text_as_tooltip(win) -> None:
    text = "Engine: classical (tps-rig) · full 512×512 · 9.5 ms · parts located 1/5; estimated " * 3
    win._set_engine_status(text)
    assert win.engine_label.toolTip() == text
    assert win.engine_label.text() != text and win.engine_label.text().startswith("Engine: classical")
    assert win.engine_label.fontMetrics().horizontalAdvance(win.engine_label.text()) <= ENGINE_LABEL_WIDTH
    win._set_engine_status("Engine: idle")
    assert win.engine_label.text() == "Engine: idle"


def test_regenerate_region_names_fit_their_cells(win) -> None:
    win.set_studio("regenerate")
    regions = win.panels["regenerate"].regions
    grid = regions.gridSize()
    for i in range(regions.count()):
        it = regions.item(i)
        assert it.sizeHint().width() <= grid.width() and it.toolTip()


def test_edits_that_change_nothing_leave_no_undo_step(win) -> None:
    win.set_studio("maskwear")
    mw = win.panels["maskwear"]
    mw.reset_anchors.click()  # offsets already ()
    mw.color_reset.click()  # colour already the template's own
    assert win.undo.count() == 0
    win.set_studio("makeup")
    mk = win.panels["makeup"]
    mk.apply_all.click()
    mk.apply_all.click()  # the same style again
    assert win.undo.count() == 1
    win.undo_action.trigger()
    assert win.undo.count() == 1 and win.undo.index() == 0  # one real step, undone


def test_opera_colour_tab_fits_a_1000_px_window(qtbot, win) -> None:
    win.set_studio("opera")
    win.panels["opera"].set_mode("colour")
    qtbot.waitUntil(lambda: win.panels["opera"].workspace.isVisible(), timeout=5000)
    qtbot.wait(300)  # let the layouts settle
    win.resize(1000, 700)
    qtbot.wait(300)
    assert win.width() == 1000  # the three panes' 200 px canvases held the window at ~1110 px
    win.panels["opera"].set_mode("lineart")


def test_a_studio_made_image_renames_the_window_and_drops_the_old_overlay(qtbot, win, odd_files) -> None:
    win.set_studio("expression")
    open_and_wait(qtbot, win, odd_files / "good.png")
    assert win.windowTitle().startswith("good.png (30×40)")
    from app.qt_image import to_qimage

    win.canvas.set_overlay(to_qimage(np.full((40, 30, 4), 200, np.uint8)))  # e.g. the old image's parsing
    assert win.canvas.has_overlay
    win.panels["expression"].random_face()
    qtbot.waitUntil(lambda: win.doc.path is None, timeout=20000)
    wait_idle(qtbot, win)
    assert win.windowTitle().startswith("Untitled (512×512)")  # it kept saying good.png
    assert not win.canvas.has_overlay


def test_headless_sessions_render_offscreen_or_say_why() -> None:
    import sys as _sys

    from app.gui import headless_platform

    if not _sys.platform.startswith("linux"):
        pytest.skip("display detection is for Linux sessions")
    assert headless_platform(True, {}) == "offscreen"  # --screenshot on a server: used to abort in Qt
    assert headless_platform(False, {}) == "none"  # the window: a clear error instead of a Qt abort
    assert headless_platform(False, {"DISPLAY": ":0"}) is None
    assert headless_platform(False, {"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert headless_platform(True, {"QT_QPA_PLATFORM": "xcb"}) is None  # an explicit choice wins


@pytest.mark.parametrize("studio", ("expression", "makeup", "regenerate"))
def test_photo_studio_export_failure_is_reported_and_keeps_the_result(qtbot, win, tmp_path, studio) -> None:
    win.set_studio(studio)
    panel = win.panels[studio]
    if studio == "expression":
        panel.random_face()
        qtbot.waitUntil(lambda: win.doc.has_image, timeout=20000)
    else:
        open_and_wait(qtbot, win, save_image(tmp_path / "astro.png", data.astronaut()[::2, ::2].copy()))
    qtbot.waitUntil(lambda: panel.has_result() and panel.is_idle(), timeout=30000)
    result = panel.result
    panel.export_result(str(tmp_path / "missing" / "out.png"))
    wait_idle(qtbot, win)
    message = win.statusBar().currentMessage()
    assert message.startswith(panel.title) and "does not exist" in message, message
    assert panel.result is result and panel.export_button.isEnabled()


def test_a_recent_file_that_is_gone_is_greyed_out(qtbot, win, tmp_path) -> None:
    path = save_image(tmp_path / "soon_gone.png", np.full((8, 8, 3), 50, np.uint8))
    open_and_wait(qtbot, win, path)
    action = win.recent_menu.actions()[0]
    assert action.isEnabled() and action.text() == str(path.resolve())
    path.unlink()
    win._fill_recent_menu()
    action = win.recent_menu.actions()[0]
    assert not action.isEnabled() and action.text().endswith("(not found)")
