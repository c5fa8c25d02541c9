"""EngineWorker: latest-wins bursts, streaming previews, cancellation, errors, off-GUI-thread."""

from __future__ import annotations

import threading
import time

import pytest

from app.worker import WorkerThread
from engine.errors import ImageLoadError


@pytest.fixture
def wt(qtbot):
    t = WorkerThread()
    yield t
    t.stop()


def collect(worker):
    events: list[tuple] = []
    worker.result.connect(lambda c, g, v: events.append(("result", c, g, v)))
    worker.finished.connect(lambda c, g: events.append(("finished", c, g)))
    worker.cancelled.connect(lambda c, g: events.append(("cancelled", c, g)))
    worker.error.connect(lambda c, g, m: events.append(("error", c, g, m)))
    return events


def test_burst_of_200_runs_only_a_handful(qtbot, wt) -> None:
    w = wt.worker
    events = collect(w)
    gate, started = threading.Event(), threading.Event()

    def slow_first(token):
        started.set()
        gate.wait(5)
        return "first"

    w.submit("slider", slow_first)
    assert started.wait(3)  # the first drag value is running: the burst arrives meanwhile
    for i in range(200):
        w.submit("slider", lambda token, i=i: i)
    last = w.latest_generation("slider")
    gate.set()
    qtbot.waitUntil(lambda: ("finished", "slider", last) in events, timeout=5000)
    assert w.runs <= 3, w.runs  # the running one, maybe one more, and the newest
    finals = [e for e in events if e[0] == "result"]
    assert finals[-1][3] == 199
    assert ("finished", "slider", last) == [e for e in events if e[0] == "finished"][-1]


def test_generator_streams_previews_then_finishes(qtbot, wt) -> None:
    events = collect(wt.worker)

    def job(token):
        yield "preview"
        yield "full"

    gen = wt.worker.submit("render", job)
    qtbot.waitUntil(lambda: ("finished", "render", gen) in events, timeout=3000)
    assert [e[3] for e in events if e[0] == "result"] == ["preview", "full"]


def test_cancel_stops_running_job(qtbot, wt) -> None:
    events = collect(wt.worker)
    started = threading.Event()
    steps: list[int] = []

    def job(token):
        for i in range(500):
            started.set()
            time.sleep(0.005)
            steps.append(i)
            yield i

    gen = wt.worker.submit("long", job)
    assert started.wait(3)
    wt.worker.cancel("long")
    qtbot.waitUntil(lambda: ("cancelled", "long", gen) in events, timeout=3000)
    assert ("finished", "long", gen) not in events
    assert len(steps) < 500


def test_newer_request_supersedes_running_one(qtbot, wt) -> None:
    events = collect(wt.worker)
    started = threading.Event()

    def long_job(token):
        for i in range(1000):
            started.set()
            time.sleep(0.005)
            yield i

    g1 = wt.worker.submit("ch", long_job)
    assert started.wait(3)
    g2 = wt.worker.submit("ch", lambda token: "new")
    qtbot.waitUntil(lambda: ("finished", "ch", g2) in events, timeout=3000)
    assert ("cancelled", "ch", g1) in events
    assert ("finished", "ch", g1) not in events


def test_errors_come_back_as_one_line_and_worker_survives(qtbot, wt) -> None:
    events = collect(wt.worker)

    def bad(token):
        raise ImageLoadError("x.png: not an image or an unsupported format")

    def crash(token):
        raise ZeroDivisionError("division by zero\nsecond line")

    g1 = wt.worker.submit("a", bad)
    g2 = wt.worker.submit("b", crash)
    qtbot.waitUntil(lambda: len([e for e in events if e[0] == "error"]) == 2, timeout=3000)
    errs = {e[2]: e[3] for e in events if e[0] == "error"}
    assert errs[g1] == "x.png: not an image or an unsupported format"
    assert errs[g2] == "ZeroDivisionError: division by zero"
    g3 = wt.worker.submit("a", lambda token: 42)
    qtbot.waitUntil(lambda: ("finished", "a", g3) in events, timeout=3000)


def test_jobs_run_off_the_gui_thread_and_channels_are_independent(qtbot, wt) -> None:
    events = collect(wt.worker)
    main = threading.get_ident()
    ga = wt.worker.submit("a", lambda token: threading.get_ident())
    gb = wt.worker.submit("b", lambda token: threading.get_ident())
    qtbot.waitUntil(lambda: ("finished", "a", ga) in events and ("finished", "b", gb) in events, timeout=3000)
    idents = [e[3] for e in events if e[0] == "result"]
    assert len(idents) == 2 and all(i != main for i in idents)


def test_bool_signals_keep_python_refcounts(qtbot) -> None:
    # PySide6 6.12.0 dropped a reference to True/False on every bool signal, aborting Python 3.11
    # at exit. Guard the pinned version against that regression.
    import sys

    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        flag = Signal(bool)

    e = Emitter()
    got: list[bool] = []
    e.flag.connect(got.append)
    before = sys.getrefcount(True)
    for _ in range(300):
        e.flag.emit(True)
    got.clear()
    assert sys.getrefcount(True) >= before - 5
