"""Run a batch job: plan, resume, execute in worker processes, record, report progress.

:func:`run_batch` is the public entry. The calling process is the only writer of
``manifest.jsonl``; workers (``spawn`` processes, never ``fork``: the GUI calls this from a Qt
thread) load the input, run the op and write the output atomically, then report back. In a pool
job, the tasks computed in the calling process (its own and, for a thread op, its worker threads')
are written by one writer thread, which appends each task's manifest line once its files are on
disk, while the workers compute the next ones (:class:`_WriteBehind`).

Failure policy
    * An input that cannot be read or processed is recorded with ``status: "error"`` and the job
      goes on; the next run retries it.
    * A write that fails because the disk is full (``ENOSPC``) or the quota is exceeded is recorded
      as an error, then the job stops cleanly: nothing new is submitted, running tasks finish and
      are recorded (the writer thread does not try the writes queued behind it), and
      :class:`BatchError` is raised with the summary. Free space and run again.
    * A worker process that dies (crash, out-of-memory kill) stops the job with :class:`BatchError`;
      its task is not recorded, so the next run redoes it. When the job was already cancelled (a
      SIGTERM sent to the whole process group ends the workers too) it is a cancellation instead.
    * Cancellation (token, or ``KeyboardInterrupt``) stops submitting, drops queued tasks, lets
      running ones finish and records them (their outputs are real), then raises
      :class:`BatchCancelled` (or re-raises ``KeyboardInterrupt``).
"""

from __future__ import annotations

import errno
import functools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.batch.manifest import (
    MANIFEST_NAME,
    ManifestWriter,
    TaskOutcome,
    claim_shard,
    folder_lock,
    is_finished,
    prepare_output_dir,
    read_manifest,
    remove_stale_temps,
)
from engine.batch.ops import BatchOp, ProceduralRunner, Runner, get_op
from engine.batch.plan import BatchError, JobPlan, JobSpec, Task, plan_job, readable_json
from engine.cancel import CancelToken
from engine.errors import Cancelled, MasqueradeError
from engine.imageio import (
    PathLike,
    atomic_write_files,
    encode_for_path,
    load_image,
    save_image,
)

POLL_S: float = 0.1
"""How often the pool loop checks the cancel token while tasks run (seconds)."""

INFLIGHT_PER_WORKER: int = 2
"""Tasks submitted ahead per worker: enough to keep workers busy, few enough to cancel quickly."""


@dataclass(frozen=True)
class BatchProgress:
    """Progress of a running job, passed to the progress callback in the calling process.

    Args:
        done: tasks finished successfully in this run.
        failed: tasks recorded as errors in this run.
        skipped: tasks already done by an earlier run (not redone).
        total: tasks of this shard.
        elapsed_s: seconds since the run started (planning included).
        eta_s: estimated seconds left, from this run's rate since its first processed task (so
            the start-up — planning, worker processes or cluster actors starting, models loading —
            does not count; skipped tasks do not either); None until two tasks are processed.
        last_item: id of the task just recorded (None for the initial call).
        last_error: error of that task, if it failed.
    """

    done: int
    failed: int
    skipped: int
    total: int
    elapsed_s: float
    eta_s: float | None = None
    last_item: str | None = None
    last_error: str | None = None

    @property
    def completed(self) -> int:
        """Tasks accounted for: skipped + done + failed (the progress bar value)."""
        return self.skipped + self.done + self.failed

    @property
    def fraction(self) -> float:
        """``completed / total`` in [0, 1] (1 for an empty shard)."""
        return self.completed / self.total if self.total else 1.0


@dataclass(frozen=True)
class BatchSummary:
    """What a run did.

    Args:
        total: tasks of this shard.
        done: tasks finished successfully in this run.
        skipped: tasks already done before this run.
        failed: tasks recorded as errors in this run.
        output_dir: absolute output folder.
        manifest_path: the ``manifest.jsonl``.
        elapsed_s: wall time of the run in seconds.
        errors: ``(task id, reason)`` of this run's failures, in the order they happened.
        cancelled: the run was stopped before all tasks were processed.
    """

    total: int
    done: int
    skipped: int
    failed: int
    output_dir: Path
    manifest_path: Path
    elapsed_s: float
    errors: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def remaining(self) -> int:
        """Tasks neither done, skipped nor failed (left by a cancel or a stop)."""
        return self.total - self.done - self.skipped - self.failed


class BatchCancelled(Cancelled):
    """The job was cancelled; :attr:`summary` says what was finished before it stopped."""

    def __init__(self, summary: BatchSummary) -> None:
        super().__init__("cancelled")
        self.summary = summary


ProgressCallback = Callable[[BatchProgress], None]


def run_batch(
    spec: JobSpec,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> BatchSummary:
    """Run (or resume) a batch job.

    Args:
        spec: the job.
        progress: called in this process once after planning and after every recorded task.
            An exception it raises stops the job and propagates.
        cancel: checked between tasks; when set the job stops as described in the module docstring.

    Returns:
        The :class:`BatchSummary` of a run that processed every task of its shard (some may have
        failed: see ``failed`` / ``errors``).

    Raises:
        BatchError: unknown op, missing/empty input folder, unwritable output folder, a different
            job in the output folder, disk full, or a crashed worker.
        ValueError: invalid parameters or grid.
        BatchCancelled: ``cancel`` was set (a :class:`~engine.errors.Cancelled`).
        KeyboardInterrupt: re-raised after the running tasks were recorded.

    Example:
        >>> spec = JobSpec("lineart", "faces/", "out/", grid={"sigma": [0.6, 1.2]})  # doctest: +SKIP
        >>> run_batch(spec).done  # doctest: +SKIP
        24
    """
    try:
        op = get_op(spec.op)
    except KeyError as exc:
        raise BatchError(str(exc.args[0])) from None
    output_dir = spec.output_dir.resolve()
    if spec.input_dir is not None and output_dir == spec.input_dir.resolve():
        raise BatchError(f"output folder must differ from the input folder ({output_dir})")
    plan = plan_job(spec, op)
    with ExitStack() as stack:
        with folder_lock(output_dir):  # set-up of runs starting together (shards) never interleaves
            claim = claim_shard(output_dir, spec.shard)
            stack.callback(claim.release)
            prepare_output_dir(output_dir, plan.identity, plan.tasks, spec.force, claim.others)
            remove_stale_temps(output_dir, (o for t in plan.tasks for o in t.output_paths))
            records = read_manifest(output_dir / MANIFEST_NAME)
            writer = stack.enter_context(ManifestWriter(output_dir / MANIFEST_NAME))
        todo = [t for t in plan.tasks if not is_finished(t, records.get(t.id), output_dir)]
        run = _Run(writer, len(plan.tasks), len(plan.tasks) - len(todo), output_dir, progress)
        run.report()
        _execute(op, todo, spec, run, cancel or CancelToken())
    try:
        summary = run.finish(cancel)
    except BatchCancelled as exc:
        _write_dataset(spec, op, plan, output_dir, exc.summary)  # what is done so far, marked incomplete
        raise
    _write_dataset(spec, op, plan, output_dir, summary)
    return summary


def _write_dataset(spec: JobSpec, op: BatchOp, plan: JobPlan, output_dir: Path, summary: BatchSummary) -> None:
    """The set-level files (``dataset.json``, ``annotations*.json``) from the manifest, under the
    folder lock (other shards' drivers write them too).

    Raises:
        BatchError: they could not be written (the outputs and the manifest are whole; the next
            run writes them again).
    """
    from engine.batch.dataset import write_dataset_files

    try:
        with folder_lock(output_dir):
            write_dataset_files(output_dir, op, plan, spec.dataset)
    except OSError as exc:
        raise BatchError(f"{exc}; the outputs are recorded: run again to write the dataset files",
                         summary) from None


class _Run:
    """Counters and recording of one run (main process only)."""

    def __init__(self, writer: ManifestWriter, total: int, skipped: int, output_dir: Path,
                 progress: ProgressCallback | None) -> None:
        self.writer = writer
        self.total = total
        self.skipped = skipped
        self.output_dir = output_dir
        self.progress = progress
        self.done = 0
        self.failed = 0
        self.errors: list[tuple[str, str]] = []
        self.disk_full = False
        self.started = time.perf_counter()
        self.first_at: float | None = None  # when the first task of this run was recorded

    def record(self, task: Task, outcome: TaskOutcome) -> None:
        """Append the manifest line for a finished task, update counters, report progress."""
        self.writer.append(task, outcome)
        self.count(task, outcome)

    def count(self, task: Task, outcome: TaskOutcome) -> None:
        """Update counters and report progress for a finished task whose manifest line is written."""
        if self.first_at is None:
            self.first_at = time.perf_counter()
        if outcome.status == "done":
            self.done += 1
        else:
            self.failed += 1
            self.errors.append((task.id, outcome.error or "error"))
            self.disk_full = self.disk_full or outcome.disk_full
        self.report(task.id, outcome.error)

    def salvage(self, task: Task, outcome: TaskOutcome) -> None:
        """Append the manifest line of a task that finished while the run is being interrupted
        (no counters, no progress call)."""
        self.writer.append(task, outcome)

    def report(self, last_item: str | None = None, last_error: str | None = None) -> None:
        """Call the progress callback with the current counts."""
        if self.progress is None:
            return
        now = time.perf_counter()
        elapsed = now - self.started
        processed = self.done + self.failed
        left = self.total - self.skipped - processed
        eta = None
        if self.first_at is not None and processed >= 2:  # the rate after start-up
            eta = (now - self.first_at) / (processed - 1) * left
        self.progress(BatchProgress(self.done, self.failed, self.skipped, self.total,
                                    elapsed, eta, last_item, last_error))

    def summary(self, cancelled: bool) -> BatchSummary:
        """Snapshot of the counts as a :class:`BatchSummary`."""
        return BatchSummary(self.total, self.done, self.skipped, self.failed, self.output_dir,
                            self.writer.path, time.perf_counter() - self.started, list(self.errors),
                            cancelled)

    def finish(self, cancel: CancelToken | None) -> BatchSummary:
        """The final summary, or the error/cancellation that stopped the run."""
        incomplete = self.done + self.failed + self.skipped < self.total
        if self.disk_full:
            raise BatchError(
                f"disk full while writing to {self.output_dir}: stopped after {self.done} done; "
                "free some space and run again to resume", self.summary(cancelled=incomplete))
        if incomplete and cancel is not None and cancel.cancelled:
            raise BatchCancelled(self.summary(cancelled=True))
        return self.summary(cancelled=False)


def _execute(op: BatchOp, tasks: list[Task], spec: JobSpec, run: _Run, cancel: CancelToken) -> None:
    """Process ``tasks`` on the job's engine: in this process (local, ``workers == 1``), this
    process and a spawn pool of ``workers - 1`` (local) or Ray actors (:mod:`engine.batch.cluster`),
    recording each here."""
    workers = spec.workers
    if spec.engine == "ray":
        from engine.batch.cluster import execute_on_ray

        execute_on_ray(op, tasks, workers, run.output_dir, spec.address, run.record,
                       lambda: cancel.cancelled or run.disk_full, run.salvage)
        return
    if workers == 1 or len(tasks) <= 1:
        _execute_in_process(op, tasks, run, cancel)
    else:
        _execute_in_pool(op, tasks, min(workers, len(tasks)), run, cancel)


def _execute_in_process(op: BatchOp, tasks: list[Task], run: _Run, cancel: CancelToken) -> None:
    """Run the tasks one by one here, checking for cancel / disk full before each, with one compute
    thread like a pool worker (:class:`OneComputeThread`). Each task is written before the next
    starts (a pool job writes behind, :class:`_WriteBehind`): a one-worker job stops exactly where
    it is cancelled or finds the disk full."""
    threads = OneComputeThread()
    try:
        runner = op.runner()
        for task in tasks:
            if cancel.cancelled or run.disk_full:
                return
            threads.apply()
            run.record(task, process_task(runner, task, run.output_dir))
    finally:
        threads.restore()


def _nothing() -> None:
    return None


def blas_one_thread() -> Callable[[], None]:
    """Limit the BLAS libraries loaded so far (numpy's OpenBLAS) to one thread; returns what puts
    the previous limits back. Setting ``OPENBLAS_NUM_THREADS`` in a worker comes too late (numpy
    is imported before the initializer runs): on a 2-core machine the mask refiner's matrix
    products then ran on two spinning threads per worker (12.6 CPU s for a 6.9 s one-worker batch
    of 100 photos, ``bench.maskwear`` ``photos512``). Without ``threadpoolctl`` nothing is done."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a requirement; only a partial install lacks it
        return _nothing
    limiter = threadpool_limits(limits=1, user_api="blas")

    def restore() -> None:
        limiter.restore_original_limits()

    return restore


class OneComputeThread:
    """OpenCV and torch (once something has imported it) compute on one thread until
    :meth:`restore` puts the previous settings back. A one-worker job runs its tasks as a pool
    worker does: on a shared 2-core machine a second compute thread mostly waits for a core and
    spins (measured in ``bench.maskwear``'s ``photos512`` section, 1 worker vs 2)."""

    def __init__(self) -> None:
        import cv2

        self._cv2_before = cv2.getNumThreads()
        self._torch_before: int | None = None
        cv2.setNumThreads(1)
        self._restore_blas = blas_one_thread()
        self.apply()

    def apply(self) -> None:
        """One torch thread, if torch has been imported since (cheap to call before every task)."""
        torch = sys.modules.get("torch")
        # (a worker thread may be importing torch right now: a partial module has no such functions yet)
        if torch is not None and self._torch_before is None and hasattr(torch, "get_num_threads"):
            self._torch_before = int(torch.get_num_threads())
            torch.set_num_threads(1)

    def restore(self) -> None:
        """The thread counts from before."""
        import cv2

        cv2.setNumThreads(self._cv2_before)
        self._restore_blas()
        self._restore_blas = _nothing
        torch = sys.modules.get("torch")
        if torch is not None and self._torch_before is not None:
            torch.set_num_threads(self._torch_before)
            self._torch_before = None


def _execute_in_pool(op: BatchOp, tasks: list[Task], workers: int, run: _Run, cancel: CancelToken) -> None:
    """Run the tasks on ``workers`` processes: this one and a ``spawn`` pool of ``workers - 1``
    (threads of this process for an op with :attr:`~engine.studios.registry.BatchOp.threads`), at
    most ``INFLIGHT_PER_WORKER`` tasks submitted ahead to each; results are recorded here as they
    arrive (single manifest writer).

    This process works from the first moment, while the pool's processes import and load their
    models (seconds on a busy machine): a job with N workers is never slower than with one because
    of the others' start-up. Between its own tasks it records the pool's finished ones; with nothing
    left to take it waits for the pool.
    """
    pending = deque(tasks)
    inflight: dict[Future[Any], Task] = {}
    helpers = workers - 1
    pool: Executor
    entry: Callable[[Task, Path], TaskOutcome | StagedOutput]
    if op.threads:  # threads of this process: no second start
        pool = ThreadPoolExecutor(helpers, thread_name_prefix="batch-worker")
        entry = functools.partial(_thread_task, op)
    else:
        pool = ProcessPoolExecutor(helpers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(op,))
        entry = _worker_task
    local = _LocalWorker(op)
    if op.threads:  # the worker threads share this process's compute-thread limits: set them first
        local.threads = OneComputeThread()
    writes = _WriteBehind(run, WRITE_BEHIND_PER_WORKER * workers)
    try:
        while True:
            _submit_ahead(pool, entry, pending, inflight, helpers * INFLIGHT_PER_WORKER, run,
                          cancel.cancelled or run.disk_full)
            for fut in [f for f in inflight if f.done()]:
                writes.take(inflight.pop(fut), fut.result())
            writes.throttle()
            if pending:  # one task here (the pool's queue is full)
                task = pending.popleft()
                writes.take(task, local.process(task, run.output_dir))
                continue
            if not inflight:
                writes.flush()
                return
            finished, _ = wait([*inflight, *writes.writing], timeout=POLL_S, return_when=FIRST_COMPLETED)
            for fut in finished:
                if fut in inflight:
                    writes.take(inflight.pop(fut), fut.result())
            writes.record_written()
    except BrokenProcessPool:
        writes.salvage()
        if cancel.cancelled:  # a stop signal sent to the whole process group also ended workers
            return            # their tasks were not recorded: the resumed run redoes them
        raise BatchError("a worker process died (crash or out of memory); run again to resume",
                         run.summary(cancelled=True)) from None
    except BaseException:
        _drain(inflight, run, writes)
        writes.salvage()
        raise
    finally:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        finally:
            try:
                writes.close()
            finally:
                local.close()  # after the pool: its threads share this process's compute-thread settings


def _submit_ahead(pool: Executor, entry: Callable[[Task, Path], TaskOutcome | StagedOutput], pending: deque[Task],
                  inflight: dict[Future[Any], Task], limit: int, run: _Run, stopping: bool) -> None:
    """Keep up to ``limit`` tasks submitted to the pool; when ``stopping``, cancel the queued ones
    and take no more."""
    while not stopping and pending and len(inflight) < limit:
        task = pending.popleft()
        with _sigint_blocked():  # a submit may start a worker process
            inflight[pool.submit(entry, task, run.output_dir)] = task
    if stopping:
        for fut in list(inflight):
            if fut.cancel():
                del inflight[fut]
        pending.clear()


class _LocalWorker:
    """The calling process as one of a pool job's workers: the op's runner built on its first task,
    one compute thread while the job runs (:class:`OneComputeThread`)."""

    def __init__(self, op: BatchOp) -> None:
        self.op = op
        self.runner: Runner | ProceduralRunner | None = None
        self.threads: OneComputeThread | None = None

    def process(self, task: Task, output_dir: Path) -> TaskOutcome | StagedOutput:
        """Compute one task here (:func:`prepare_task`; its files are written by the caller)."""
        if self.threads is None:
            self.threads = OneComputeThread()
        if self.runner is None:
            self.runner = self.op.runner()
        self.threads.apply()
        return prepare_task(self.runner, task, output_dir)

    def close(self) -> None:
        """Put the thread settings back."""
        if self.threads is not None:
            self.threads.restore()


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while it may start pool workers.

    A Ctrl+C in a terminal goes to the whole process group. A worker that is still starting (the
    interpreter importing its modules) would die of the ``KeyboardInterrupt`` and break the pool
    ("a worker process died") instead of letting the job stop cleanly. Started with SIGINT blocked
    (the mask is inherited through fork and exec) it cannot be interrupted before
    :func:`_init_worker` ignores SIGINT for good. In this process the signal is not lost: another
    thread takes it, or it is delivered when the mask is restored.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not on POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _drain(inflight: dict[Future[Any], Task], run: _Run, writes: _WriteBehind | None = None) -> None:
    """After an interrupt: drop queued tasks, record the running ones that finish (a worker
    thread's computed outputs go to ``writes``, whose :meth:`_WriteBehind.salvage` records them)."""
    for fut in list(inflight):
        if fut.cancel():
            del inflight[fut]
    for fut, task in inflight.items():
        try:
            outcome = fut.result()
        except BaseException:
            continue
        if not isinstance(outcome, TaskOutcome):  # a worker thread's computed outputs: written behind
            if writes is not None:
                writes.take(task, outcome)
            continue
        try:
            run.writer.append(task, outcome)
        except BatchError:
            return


_WORKER_RUNNER: Runner | None = None
"""The op's per-image function in a worker process, built once by :func:`_init_worker`."""


WORKER_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_worker_threads() -> None:
    """One compute thread in a worker (a pool process or a cluster actor): the workers already use
    the cores; nested thread pools (BLAS, OpenMP, OpenCV) only fight over them."""
    for var in WORKER_THREAD_VARS:  # read by torch / BLAS when they are first imported (by the runner)
        os.environ.setdefault(var, "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass
    blas_one_thread()


def _init_worker(op: BatchOp) -> None:
    """Pool initializer: one compute thread per worker process (the pool already uses the cores;
    nested thread pools only fight over them), ignore Ctrl+C (the parent handles it), exit if the
    parent dies, and build the op's runner once."""
    global _WORKER_RUNNER
    limit_worker_threads()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # started with SIGINT blocked (_sigint_blocked): ignored now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), daemon=True,
                         name="batch-parent-watch").start()
    _WORKER_RUNNER = op.runner()


def _exit_with_parent(sentinel: int) -> None:
    """Worker watchdog: a killed parent leaves pool workers blocked forever; end this one instead.

    A task cut short leaves at most a temporary file, which the next run removes.
    """
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


_THREAD_RUNNERS = threading.local()
"""Each worker thread's runners (:data:`~engine.studios.registry.BatchOp.threads` ops), by op name."""


def _thread_task(op: BatchOp, task: Task, output_dir: Path) -> TaskOutcome | StagedOutput:
    """Thread-pool entry: run one task with this thread's runner of ``op`` (built on its first
    task; the process's compute-thread limits are already set by the calling thread): the computed,
    encoded outputs, which the calling process's writer thread writes (:class:`_WriteBehind`), or an error."""
    runners = getattr(_THREAD_RUNNERS, "runners", None)
    if runners is None:
        runners = _THREAD_RUNNERS.runners = {}
    runner = runners.get(op.name)
    if runner is None:
        t0 = time.perf_counter()
        try:
            runner = runners[op.name] = op.runner()
        except Exception as exc:  # as a task's error (a pool process that cannot start breaks the pool)
            return TaskOutcome("error", f"the worker could not start: {_one_line(exc)}", _ms_since(t0))
    return prepare_task(runner, task, output_dir)


def _worker_task(task: Task, output_dir: Path) -> TaskOutcome:
    """Pool entry: run one task with the runner built by :func:`_init_worker`."""
    assert _WORKER_RUNNER is not None, "worker not initialised"
    return process_task(_WORKER_RUNNER, task, output_dir)


def process_task(runner: Runner | ProceduralRunner, task: Task, output_dir: Path) -> TaskOutcome:
    """Load the input, run the op, save the output atomically; never raises for a bad input.

    A procedural task (``task.seed`` set) has no input: the runner makes its images from the seed.
    A multi-output task (``task.outputs`` set) gets ``{name: image}`` from the runner and each image
    is staged and the set is written as one step (:func:`engine.imageio.atomic_write_files`); the
    task is done once all are written. (:func:`prepare_task` then :func:`write_staged`.)

    Args:
        runner: the op's per-image (or per-seed) function.
        task: the task.
        output_dir: absolute output folder.

    Returns:
        ``done``, or ``error`` with a one-line reason (any ``Exception`` from loading, the op or
        saving becomes an error; ``KeyboardInterrupt`` and ``SystemExit`` propagate).
    """
    staged = prepare_task(runner, task, output_dir)
    return staged if isinstance(staged, TaskOutcome) else write_staged(staged)


@dataclass(frozen=True)
class StagedOutput:
    """A task's outputs computed, not yet written (:func:`prepare_task`).

    Args:
        write: writes them atomically (raises as :func:`engine.imageio.save_image` /
            :func:`engine.imageio.atomic_write_files` do); a single image is encoded there, from
            the runner's array (a runner returns a new array per task).
        started: ``time.perf_counter()`` when the task started (its ``elapsed_ms`` counts the write,
            and in a pool job the wait for the writer thread).
    """

    write: Callable[[], object]
    started: float


def prepare_task(runner: Runner | ProceduralRunner, task: Task, output_dir: Path) -> TaskOutcome | StagedOutput:
    """The compute half of :func:`process_task`: load the input, run the op and encode a
    multi-output task's files; nothing is written. Returns what writes them, or an ``error``
    outcome with a one-line reason (never raises for a bad input; ``KeyboardInterrupt`` and
    ``SystemExit`` propagate)."""
    t0 = time.perf_counter()
    try:
        if task.seed is not None:
            out = runner(task.seed, task.params)  # type: ignore[arg-type]
        else:
            assert task.input_path is not None
            out = runner(load_image(task.input_path), task.params)  # type: ignore[arg-type]
        if task.outputs:
            files: dict[PathLike, bytes] = {}
            for name, rel in task.outputs:
                if name not in out:
                    raise ValueError(f"the op produced no {name!r} output")
                files[output_dir / rel] = output_bytes(name, output_dir / rel, out[name])
            # all of a task's files or none (a full disk mid-set)
            return StagedOutput(functools.partial(atomic_write_files, files), t0)
        if not isinstance(out, np.ndarray):
            raise ValueError("the op produced no image")
        return StagedOutput(functools.partial(save_image, output_dir / task.output, out), t0)
    except Exception as exc:
        return TaskOutcome("error", _one_line(exc), _ms_since(t0), _is_disk_full(exc))


def write_staged(staged: StagedOutput) -> TaskOutcome:
    """The write half of :func:`process_task`: ``done``, or ``error`` with a one-line reason (a full
    disk flagged)."""
    try:
        staged.write()
    except Exception as exc:
        return TaskOutcome("error", _one_line(exc), _ms_since(staged.started), _is_disk_full(exc))
    return TaskOutcome("done", None, _ms_since(staged.started))


WRITE_BEHIND_PER_WORKER: int = 2
"""Computed tasks per worker whose files may wait for the writer thread (:class:`_WriteBehind`)
before the workers wait for it."""


class _WriteBehind:
    """The files of the tasks computed in this process (its own and its worker threads') are
    written on one background thread while the workers compute the next tasks; that thread appends
    each task's manifest line after its files, and the calling (main) thread counts it. A worker
    would otherwise wait for the ``fsync`` of each file and manifest line with its core idle: 100
    mask-wear photos with 2 workers took 2.50 s against 2.32 s with the ``fsync`` calls left out
    (``bench.maskwear``'s ``photos512`` inputs). Nothing is recorded before it is on disk, so a run
    killed meanwhile redoes those tasks; after a write that finds the disk full, the queued ones are
    not tried (they stay to do).

    Args:
        run: the run that records the outcomes.
        limit: computed tasks allowed to wait for the writer (:meth:`throttle`).
    """

    def __init__(self, run: _Run, limit: int) -> None:
        self.run = run
        self.limit = max(1, limit)
        self.writing: dict[Future[TaskOutcome | None], Task] = {}
        self._full = False  # set by the writer thread only
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch-writer")

    def _write(self, task: Task, staged: StagedOutput) -> TaskOutcome | None:
        """On the writer thread: the task's files, then its manifest line (``None``: not tried)."""
        if self._full or self.run.disk_full:  # (a worker process may have found it full first)
            return None  # the disk was full a moment ago: not tried, the task stays to do
        outcome = write_staged(staged)
        self._full = outcome.disk_full
        self.run.writer.append(task, outcome)
        return outcome

    def take(self, task: Task, result: TaskOutcome | StagedOutput) -> None:
        """Queue a computed task's files for writing, or record an outcome that has none (an error)."""
        if isinstance(result, StagedOutput):
            self.writing[self._pool.submit(self._write, task, result)] = task
        else:
            self.run.record(task, result)

    def record_written(self, block: bool = False) -> None:
        """Count the tasks whose files and manifest lines are written (with ``block``, first wait
        for one of them); a manifest line that could not be written raises its ``BatchError``."""
        if block and self.writing:
            wait(self.writing, return_when=FIRST_COMPLETED)
        for fut in [f for f in self.writing if f.done()]:
            task, outcome = self.writing.pop(fut), fut.result()
            if outcome is not None:
                self.run.count(task, outcome)

    def throttle(self) -> None:
        """Record what is written; wait while more than ``limit`` tasks wait to be (a slow disk)."""
        self.record_written()
        while len(self.writing) > self.limit:
            self.record_written(block=True)

    def flush(self) -> None:
        """Write and record every queued task."""
        while self.writing:
            self.record_written(block=True)

    def salvage(self) -> None:
        """After an interrupt: let the queued writes finish (each appends its own manifest line) and
        count those written, so the run's summary says what the manifest does."""
        for fut, task in list(self.writing.items()):
            try:
                outcome = fut.result()
            except Exception:  # (its manifest line could not be written: not counted; a second Ctrl+C stops the wait)
                continue
            if outcome is not None:
                self.run.count(task, outcome)
        self.writing.clear()

    def close(self) -> None:
        """Stop the writer thread (after its queued writes)."""
        self._pool.shutdown(wait=True)


DATASET_PNG_LEVEL = 1
"""zlib level of a batch's PNG outputs, which are also written with the "up" filter and run-length
compression (``png_fast`` of :func:`~engine.imageio.encode_image`): on 144² mask-wear crops ~5×
faster than Pillow's default level 6 for files ~7 % larger (a dataset is written once and read by
code)."""


def output_bytes(name: str, path: Path, value: Any) -> bytes:
    """The bytes a batch op's named output is written as: a ``….json`` output as sorted JSON, one
    entry per line (:func:`~engine.batch.plan.readable_json`), any other (an image) encoded in
    ``path``'s format — PNGs at zlib level 1, fast filter (:data:`DATASET_PNG_LEVEL`). The window's exports use
    it too, so they write what a batch run writes.

    Example:
        >>> output_bytes("record.json", Path("x_record.json"), {"b": None, "a": 1}).split()
        [b'{', b'"a":', b'1,', b'"b":', b'null', b'}']
    """
    if name.endswith(".json"):
        return readable_json(value).encode()
    return encode_for_path(path, value, png_level=DATASET_PNG_LEVEL, png_fast=True)


def _ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


def _one_line(exc: BaseException) -> str:
    """``exc`` as one line; the type is named unless it is one of the engine's own errors."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, (MasqueradeError, ValueError)) else f"{type(exc).__name__}: {text}"


def _is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` or an exception it was raised from is ENOSPC / EDQUOT."""
    seen: BaseException | None = exc
    for _ in range(8):  # exception chains are short; bound the walk anyway
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
