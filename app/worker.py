"""The one bridge between the GUI thread and the engine.

:class:`EngineWorker` lives in its own ``QThread``. The GUI calls :meth:`EngineWorker.submit` (thread
safe, returns at once) with a *channel* name and a job. Per channel only the **newest** request
runs: a burst of submissions while a job runs collapses to the last one, and a running job whose
channel got a newer request is cancelled at its next check. Jobs may be generators that yield
previews (low resolution first); every yielded value comes back through :attr:`result`. Exceptions
come back through :attr:`error` as a one-line message. The GUI thread never runs engine code.

A job is a callable ``job(token: CancelToken) -> value | Iterator[value]``.
"""

from __future__ import annotations

import inspect
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.cancel import CancelToken
from engine.errors import Cancelled, MasqueradeError

Job = Callable[[CancelToken], Any]


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
        except Exception as exc:  # noqa: BLE001 - report any failure to the GUI, never crash it
            traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0]
            self.error.emit(req.channel, req.generation, f"{type(exc).__name__}: {first}".rstrip(": "))
        finally:
            self.busy.emit(False)



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
