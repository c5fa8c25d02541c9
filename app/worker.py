"""The one bridge between the GUI thread and the engine.

:class:`EngineWorker` lives in its own ``QThread``. The GUI calls :meth:`EngineWorker.submit` (thread
safe, returns at once) with a *channel* name and a job. Per channel only the **newest** request
runs: a burst of submissions while a job runs collapses to the last one, and a running job whose
channel got a newer request is cancelled at its next check. Jobs may be generators that yield
previews (low resolution first); every yielded value comes back through :attr:`result`. Exceptions
come back through :attr:`error` as a one-line message. The GUI thread never runs engine code.

A job is a callable ``job(token: CancelToken) -> value | Iterator[value]``.

:class:`Jobs` is what the GUI side holds: it submits with a **per-submit callback** and calls it
(on the GUI thread) with the results of that request only — the newest one of its channel — so no
panel or dialog filters the worker's signals itself; it also knows what is still outstanding.
"""

from __future__ import annotations

import inspect
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.cancel import CancelToken
from engine.errors import Cancelled, MasqueradeError

Job = Callable[[CancelToken], Any]
OnResult = Callable[[Any], None]
"""Called with each value of a job (previews first), on the GUI thread."""
OnError = Callable[[str], None]
"""Called with the one-line message of a failed job, on the GUI thread."""


@dataclass
class _Request:
    channel: str
    generation: int
    job: Job


class EngineWorker(QObject):
    """Runs engine jobs off the GUI thread, newest-request-wins per channel.

    Signals:
        result(channel, generation, value): a value of a job, sent as soon as it is ready
            (previews first for generator jobs).
        finished(channel, generation): the job completed; its last ``result`` was the final one.
        error(channel, generation, message): the job raised; ``message`` is one line.
        cancelled(channel, generation): the job stopped because it was superseded or cancelled.
        busy(bool): True while a job runs.
    """

    result = Signal(str, int, object)
    finished = Signal(str, int)
    error = Signal(str, int, str)
    cancelled = Signal(str, int)
    busy = Signal(bool)
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: dict[str, _Request] = {}
        self._latest: dict[str, int] = {}
        self._cancelled_upto: dict[str, int] = {}
        self._counter = 0
        self.runs = 0
        """Number of jobs actually started (for tests and diagnostics)."""
        self._wake.connect(self._drain)

    # -- called from any thread -------------------------------------------------------------------
    def submit(self, channel: str, job: Job) -> int:
        """Queue ``job`` on ``channel``, replacing any queued one; returns its generation number."""
        with self._lock:
            self._counter += 1
            gen = self._counter
            self._latest[channel] = gen
            self._pending[channel] = _Request(channel, gen, job)
        self._wake.emit()
        return gen

    def cancel(self, channel: str) -> None:
        """Drop the queued request of ``channel`` and stop its running job at its next check."""
        with self._lock:
            self._pending.pop(channel, None)
            self._cancelled_upto[channel] = self._latest.get(channel, 0)

    def latest_generation(self, channel: str) -> int:
        """Generation of the newest request submitted on ``channel`` (0 if none)."""
        with self._lock:
            return self._latest.get(channel, 0)

    def _superseded(self, req: _Request) -> bool:
        with self._lock:
            return (self._latest.get(req.channel, 0) != req.generation
                    or self._cancelled_upto.get(req.channel, 0) >= req.generation)

    # -- worker thread ----------------------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                channel = next(iter(self._pending))
                req = self._pending.pop(channel)
            self._run(req)

    def _run(self, req: _Request) -> None:
        if self._superseded(req):
            self.cancelled.emit(req.channel, req.generation)
            return
        token = CancelToken(parent=lambda: self._superseded(req))
        self.runs += 1
        self.busy.emit(True)
        try:
            out = req.job(token)
            if inspect.isgenerator(out):
                try:
                    for value in out:
                        token.raise_if_cancelled()
                        self.result.emit(req.channel, req.generation, value)
                finally:
                    out.close()
            else:
                token.raise_if_cancelled()
                self.result.emit(req.channel, req.generation, out)
            self.finished.emit(req.channel, req.generation)
        except Cancelled:
            self.cancelled.emit(req.channel, req.generation)
        except MasqueradeError as exc:
            self.error.emit(req.channel, req.generation, str(exc))
        except Exception as exc:  # any failure is reported to the GUI, never crashes it
            traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0]
            self.error.emit(req.channel, req.generation, f"{type(exc).__name__}: {first}".rstrip(": "))
        finally:
            self.busy.emit(False)


@dataclass
class _Outstanding:
    generation: int
    on_result: OnResult | None
    on_error: OnError | None


class Jobs(QObject):
    """The GUI side of an :class:`EngineWorker`: submit with per-submit callbacks, know what is pending.

    A request's callbacks get its own values only, and only while it is the newest request of its
    channel (a superseded request's late values are dropped). Lives in the GUI thread: the worker's
    signals reach its slots queued, so callbacks run on the GUI thread.

    Args:
        worker: the engine worker.
        on_error: what to do with a failure whose request has no ``on_error`` (e.g. show it in the
            status bar); ``None`` drops it.
        parent: Qt parent (the panel or window owning the requests).

    Example:
        >>> jobs = Jobs(worker, parent=panel)                                  # doctest: +SKIP
        >>> jobs.submit("makeup.render", job, on_result=panel.show_result)     # doctest: +SKIP
    """

    def __init__(self, worker: EngineWorker, on_error: OnError | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.default_error = on_error
        self._outstanding: dict[str, _Outstanding] = {}  # channel → newest request not yet answered
        # Bound methods of this GUI-thread object only: PySide calls a lambda connected to a worker
        # signal in the worker thread (a direct call), which raced submit().
        worker.result.connect(self._on_result)
        worker.finished.connect(self._on_done)
        worker.cancelled.connect(self._on_done)
        worker.error.connect(self._on_error)

    def submit(self, channel: str, job: Job, on_result: OnResult | None = None,
               on_error: OnError | None = None) -> int:
        """Send ``job`` on ``channel`` (newest wins) and track it.

        Args:
            channel: the request's channel; a newer request on it replaces this one.
            job: ``job(token) -> value | Iterator[value]`` (runs in the worker thread).
            on_result: called with each value of this request (GUI thread).
            on_error: called with the one-line message if it fails (default: the client's).

        Returns:
            The request's generation number.
        """
        gen = self.worker.submit(channel, job)
        self._outstanding[channel] = _Outstanding(gen, on_result, on_error)
        return gen

    def pending(self, channel: str) -> bool:
        """A request on ``channel`` is queued or running."""
        return channel in self._outstanding

    def is_idle(self) -> bool:
        """Nothing submitted through this client is outstanding."""
        return not self._outstanding

    def cancel(self, channels: Iterable[str]) -> list[str]:
        """Cancel the outstanding requests of ``channels`` (their callbacks will not run); returns
        the channels that had one."""
        cancelled = [ch for ch in channels if ch in self._outstanding]
        for ch in cancelled:
            self.worker.cancel(ch)
            del self._outstanding[ch]  # a queued request is dropped without a signal
        return cancelled

    def _current(self, channel: str, gen: int) -> _Outstanding | None:
        req = self._outstanding.get(channel)
        return req if req is not None and req.generation == gen else None

    def _on_result(self, channel: str, gen: int, value: object) -> None:
        req = self._current(channel, gen)
        if req is not None and req.on_result is not None:
            req.on_result(value)

    def _on_done(self, channel: str, gen: int) -> None:
        if self._current(channel, gen) is not None:
            del self._outstanding[channel]

    def _on_error(self, channel: str, gen: int, message: str) -> None:
        req = self._current(channel, gen)
        if req is None:
            return
        del self._outstanding[channel]
        handler = req.on_error or self.default_error
        if handler is not None:
            handler(message)


class WorkerThread:
    """Owns an :class:`EngineWorker` and the ``QThread`` it lives in; ``stop()`` joins it."""

    def __init__(self) -> None:
        self.thread = QThread()
        self.thread.setObjectName("EngineWorkerThread")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self, timeout_ms: int = 5000) -> None:
        """Cancel everything, end the thread's event loop and wait for it.

        A job stops at its next cancellation check; one that does not check for longer than
        ``timeout_ms`` is waited for anyway (with a note on stderr): destroying a running
        ``QThread`` aborts the whole process.
        """
        for ch in list(self.worker._latest):
            self.worker.cancel(ch)
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            print("masquerade: waiting for the running engine job to finish…", file=sys.stderr, flush=True)
            self.thread.wait()
