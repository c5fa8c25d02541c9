"""The cluster engine of a batch job: the tasks run on a Ray cluster instead of a local process pool.

``masquerade batch <op> ... --engine ray [--address HOST:PORT]`` (or ``JobSpec(engine="ray")``)
plans, checks and resumes the job exactly like the local engine (:func:`engine.batch.core.run_batch`):
the *driver* (the process that runs the command) holds the folder and shard locks, is the only
writer of ``manifest.jsonl`` and ``job.json``, and records each task as its result comes back.
Only the per-task work moves: ``workers`` Ray actors (one CPU each; ``workers == 0``: one per CPU
of the cluster) each build the op's runner once, as a pool worker does, then load the input, run
the op and write the outputs atomically into the output folder: **the output folder (and the
input folder) must be the same path on every machine of the cluster** (a shared file system).

What the local engine promises holds here too:

* kill the driver (``kill -9``, a lost connection): the actors it owns die with it; a task cut
  short leaves at most a temporary file the next run removes; re-running the command (on either
  engine) skips every recorded task and redoes the rest, writing byte-identical files.
* Ctrl+C / SIGTERM / the cancel token: nothing new is submitted, the tasks already sent finish
  and are recorded, then the job stops (:class:`~engine.batch.core.BatchCancelled`).
* a full disk stops the job after recording the running tasks; an actor that dies (a node lost,
  out of memory) stops it with :class:`~engine.batch.plan.BatchError` and its task is redone by
  the next run.

Connecting
    ``address=None`` joins the cluster this machine belongs to (started with ``ray start --head``
    or ``ray start --address ...``, or named by ``RAY_ADDRESS``) and otherwise starts a private
    single-machine cluster for the run; ``"HOST:PORT"`` joins that head node. A driver that finds
    Ray already initialised in its process (a test, a notebook) uses that connection and leaves it
    open.

Ray is imported only when a job runs on it: importing this module costs nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.batch.manifest import TaskOutcome
from engine.batch.ops import BatchOp, ProceduralRunner, Runner
from engine.batch.plan import BatchError, Task

POLL_S: float = 0.1
"""How often the driver checks the cancel token while results are awaited (seconds)."""

INFLIGHT_PER_ACTOR: int = 2
"""Tasks sent ahead to each actor: one running, one queued, so an actor never waits for the driver."""

DRAIN_TIMEOUT_S: float = 60.0
"""After a second Ctrl+C, how long the driver waits for the tasks already sent before it leaves."""

Record = Callable[[Task, TaskOutcome], None]
"""Records one finished task (the driver's manifest writer and counters)."""


class TaskActor:
    """One worker of the cluster: builds the op's runner once, then runs the tasks it is sent.

    Wrapped with ``ray.remote`` when a job starts (so that this module does not import Ray).

    Args:
        op: the batch op (pickled by reference: its callables are module-level functions).
    """

    def __init__(self, op: BatchOp) -> None:
        from engine.batch.core import limit_worker_threads

        limit_worker_threads()
        self.runner: Runner | ProceduralRunner = op.runner()

    def run(self, task: Task, output_dir: str) -> TaskOutcome:
        """Run one task (see :func:`engine.batch.core.process_task`; never raises for a bad input).

        Args:
            task: the task.
            output_dir: absolute output folder, the same path on every machine.

        Returns:
            What the driver records.
        """
        from engine.batch.core import process_task

        return process_task(self.runner, task, Path(output_dir))

    def ready(self) -> bool:
        """Returns True once the runner is built (the op's models loaded)."""
        return True


def connect(address: str | None) -> bool:
    """Connect this process to a Ray cluster (see the module docstring).

    Args:
        address: ``None``, ``"auto"`` or ``"HOST:PORT"``.

    Returns:
        True when this call connected (the caller disconnects at the end), False when Ray was
        already initialised in this process.

    Raises:
        BatchError: Ray is not installed, or the cluster cannot be reached.
    """
    _use_token_if_present(address)  # before Ray reads its configuration at import
    try:
        import ray
    except ImportError:
        raise BatchError("the ray engine needs Ray installed (make install); or use --engine local") from None
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 configure_logging=True, logging_level=logging.WARNING, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a local cluster"
        raise BatchError(f"cannot join the Ray cluster at {where} ({' '.join(str(exc).split())[:200]})") from None
    return True


def _use_token_if_present(address: str | None) -> None:
    """A cluster started by ``ray start --head`` checks a token (``~/.ray/auth_token``, which every
    machine of the cluster needs). Ray reads it by itself only when it finds the cluster itself
    (no address, ``auto``); for an explicit ``HOST:PORT`` it is switched on here when a token is
    available and the user chose no mode (``RAY_AUTH_MODE``)."""
    if address in (None, "auto") or "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def cluster_cpus() -> int:
    """Whole CPUs of the connected cluster (at least 1)."""
    import ray

    api: Any = ray  # cluster_resources is not annotated
    return max(1, int(api.cluster_resources().get("CPU", 1)))


def execute_on_ray(op: BatchOp, tasks: list[Task], workers: int, output_dir: Path, address: str | None,
                   record: Record, stopping: Callable[[], bool], salvage: Record) -> None:
    """Run ``tasks`` on Ray actors and record each result in this (the driver) process.

    Args:
        op: the job's op.
        tasks: the tasks still to do (the driver planned and filtered them).
        workers: number of actors; 0: one per CPU of the cluster.
        output_dir: absolute output folder (a path every node sees).
        address: the cluster (see :func:`connect`).
        record: called for each finished task, in the order results arrive.
        stopping: polled between results: True stops submitting (cancel, disk full) and waits for
            the tasks already sent.
        salvage: records a task finished while the driver is being interrupted (must not report
            progress).

    Raises:
        BatchError: Ray missing, the cluster unreachable, or an actor died.
        KeyboardInterrupt: re-raised after the results of the tasks already sent were salvaged.
    """
    if not tasks:
        return
    connected = connect(address)
    import ray
    from ray.exceptions import RayActorError, RayError

    try:
        n = min(cluster_cpus() if workers == 0 else workers, len(tasks))
        actor_cls: Any = ray.remote(num_cpus=1)(TaskActor)
        actors = [actor_cls.remote(op) for _ in range(n)]
        load = dict.fromkeys(range(n), 0)
        inflight: dict[Any, tuple[Task, int]] = {}
        pending = iter(tasks)
        exhausted = False
        try:
            while True:
                while not exhausted and not stopping():
                    free = [a for a in range(n) if load[a] < INFLIGHT_PER_ACTOR]
                    if not free:
                        break
                    task = next(pending, None)
                    if task is None:
                        exhausted = True
                        break
                    a = min(free, key=lambda i: load[i])
                    inflight[actors[a].run.remote(task, str(output_dir))] = (task, a)
                    load[a] += 1
                if not inflight:
                    return
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    task, a = inflight.pop(ref)
                    load[a] -= 1
                    record(task, ray.get(ref))
        except (RayActorError, RayError) as exc:
            why = " ".join(str(exc).split())[:300]
            raise BatchError(f"a Ray worker died ({type(exc).__name__}: {why}); run again to resume") from None
        except BaseException:
            _salvage(inflight, salvage)
            raise
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
    finally:
        if connected:
            ray.shutdown()


def _salvage(inflight: dict[Any, tuple[Task, int]], salvage: Record) -> None:
    """After an interrupt: wait (bounded) for the tasks already sent and record those that finish."""
    import ray

    if not inflight:
        return
    try:
        ready, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=DRAIN_TIMEOUT_S)
        for ref in ready:
            salvage(inflight[ref][0], ray.get(ref))
    except BaseException:  # a second interrupt or a dead actor: what was recorded stays recorded
        return
