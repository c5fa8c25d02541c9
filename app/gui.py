"""Start the Qt application, optionally open an image, render a screenshot and exit."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QSize
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from app.main_window import MainWindow

ORG, APP = "Masquerade", "Masquerade"


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once) with organisation/app names set for QSettings."""
    QCoreApplication.setOrganizationName(ORG)
    QCoreApplication.setApplicationName(APP)
    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    assert isinstance(app, QApplication)  # a QCoreApplication made elsewhere could not show a window
    return app


def wait_until_idle(window, timeout_s: float = 60.0) -> bool:
    """Process events until the window's engine work is done; False on timeout."""
    app = QApplication.instance()
    assert app is not None, "make_app() first"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if window.is_idle():
            app.processEvents()
            return True
        time.sleep(0.01)
    return False


def parse_size(text: str) -> QSize:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 1280x800, got {text!r}") from None
    if not (200 <= w <= 8000 and 150 <= h <= 8000):
        raise ValueError(f"--size out of range: {text}")
    return QSize(w, h)


def headless_platform(screenshot: bool, env: dict[str, str] | None = None) -> str | None:
    """What to do about a Linux session without a display (no ``DISPLAY`` / ``WAYLAND_DISPLAY`` and
    no ``QT_QPA_PLATFORM``): ``"offscreen"`` for ``--screenshot`` (nothing is shown anyway),
    ``"none"`` for the interactive GUI (Qt would abort), ``None`` when there is a display or a
    platform was chosen, or on other systems."""
    env = dict(os.environ) if env is None else env
    if not sys.platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return "offscreen" if screenshot else "none"


def start_recovery(win: MainWindow) -> None:
    """Interactive window: guard unsaved work, autosave it to the recovery folder
    (``MASQUERADE_RECOVERY_DIR``, default ``~/.masquerade/recovery``; every ``MASQUERADE_AUTOSAVE_S``
    seconds, default 60) and offer what a crashed or killed run left there. A recovery folder that
    cannot be used is said on stderr and in the status bar; the window works on without autosave."""
    from app.model.recovery import SessionError, autosave_interval_s, recovery_dir

    folder = recovery_dir()
    try:
        win.protect_work(folder, autosave_interval_s())
    except SessionError as exc:
        win.guard_unsaved = True
        print(f"masquerade: warning: no autosave: {exc}", file=sys.stderr)
        win.report_failure(f"No autosave: {exc}")
        return
    win.offer_recovery(folder)


def run_gui(args: argparse.Namespace) -> int:
    """Open the main window (``--open``, ``--studio``); with ``--screenshot`` save a PNG and exit."""
    headless = headless_platform(bool(args.screenshot))
    if headless == "offscreen":
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif headless == "none":
        print("masquerade: error: no display to open the window on (DISPLAY / WAYLAND_DISPLAY unset); "
              "a headless run can render with --screenshot FILE", file=sys.stderr)
        return 2
    app = make_app()
    from app.main_window import MainWindow

    win = MainWindow()
    win.persist_settings = not args.screenshot
    try:
        if args.studio:
            win.set_studio(args.studio)
    except KeyError as exc:
        print(f"masquerade: error: {exc.args[0]}", file=sys.stderr)
        win.close()
        return 2
    if args.screenshot:
        try:
            size = parse_size(args.size)
        except ValueError as exc:
            print(f"masquerade: error: {exc}", file=sys.stderr)
            win.close()
            return 2
        win.resize(size)
    win.show()
    if not args.screenshot:
        start_recovery(win)
    if args.open:
        win.open_path(args.open)
    if not args.screenshot:
        return app.exec()

    ok = wait_until_idle(win)
    code = 0
    if getattr(win, "last_error", None):
        print(f"masquerade: error: {win.last_error}", file=sys.stderr)
        code = 1
    elif not ok:
        print("masquerade: error: timed out waiting for the engine", file=sys.stderr)
        code = 1
    else:
        win.canvas.fit()
        app.processEvents()
        from app.qt_image import from_qimage
        from engine.errors import ImageSaveError
        from engine.imageio import save_image

        out = Path(args.screenshot)
        try:
            save_image(out, from_qimage(win.grab().toImage()), fmt="PNG")
            print(f"wrote {out}")
        except ImageSaveError as exc:
            print(f"masquerade: error: {exc}", file=sys.stderr)
            code = 1
    win.close()
    app.processEvents()
    return code
