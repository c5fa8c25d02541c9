"""The output folder's bookkeeping: ``job.json``, ``manifest.jsonl`` and stale temporary files.

``manifest.jsonl`` holds one JSON object per finished task, appended (and ``fsync``-ed) by the main
process only after the task's output file was renamed into place::

    {"id": "face.png@3fa2c1d90b7e", "input": "face.png", "params": {...}, "output": "face.png",
     "status": "done", "error": null, "elapsed_ms": 41.2, "finished_at": "2025-01-31T10:12:03.114+00:00"}

``status`` is ``"done"`` or ``"error"`` (then ``error`` is a one-line reason and no output is
promised). A multi-output task records ``"outputs"`` (``{name: relative path}`` of every file it
wrote) and a procedural one (see :mod:`engine.batch.plan`) also ``"seed"``; ``"input"`` is then
``seed<NNNNNN>``. A file task also records ``"input_stat"`` (``[size, mtime_ns]`` of its input when it
was recorded): an input replaced under the same name is done again on the next run. When an id has
several lines the last one counts. Lines that do not parse (a line torn
by a killed process or a full disk) are ignored, and the next append starts on a fresh line.

Several runs may share an output folder when they are shards of one job with the same count
(``0/4`` and ``1/4`` at the same time: their task sets are disjoint). Each run holds an ``flock`` on
``.batch-shard-<i>-of-<n>.lock`` while it runs (and deletes it when it ends); a run whose tasks
would overlap a live one (the same shard, or a shard of another count) is refused
(:func:`claim_shard`). The set-up steps of
a run (job check, manifest rotation, removal of stale temporaries) hold ``.batch.lock``
(:func:`folder_lock`), so two runs starting together never undo each other's set-up. Lines from
concurrent runs do not interleave: each is one ``O_APPEND`` ``write`` under an ``flock`` on the
manifest (:class:`ManifestWriter`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: runs are not locked against each other
    fcntl = None  # type: ignore[assignment]

from engine.batch.plan import BatchError, Task, canonical_json
from engine.errors import ImageSaveError
from engine.imageio import atomic_write_bytes

MANIFEST_NAME = "manifest.jsonl"
JOB_NAME = "job.json"
JOB_FORMAT = 1
"""Version of the ``job.json`` layout."""

LOCK_NAME = ".batch.lock"
"""Lock file held while a run sets the folder up (job check, manifest rotation, temp clean-up)."""

_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp$")
_SHARD_LOCK = re.compile(r"^\.batch-shard-(?P<i>[0-9]+)-of-(?P<n>[0-9]+)\.lock$")


@dataclass(frozen=True)
class TaskOutcome:
    """What a worker reports for one task.

    Args:
        status: ``"done"`` or ``"error"``.
        error: one-line reason when ``status == "error"``.
        elapsed_ms: time spent on the task (load + op + save) in milliseconds.
        disk_full: the error was "no space left" / "quota exceeded" while writing.
    """

    status: str
    error: str | None = None
    elapsed_ms: float = 0.0
    disk_full: bool = False


def _open_lock(path: Path) -> int:
    """Open (creating) a lock file; BatchError when the folder is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise BatchError(f"output folder {path.parent} is not writable ({exc.strerror or exc})") from None


_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL)
"""``flock`` errors of a file system without locks: runs then go on unlocked."""


def _try_flock(fd: int) -> bool:
    """Take an exclusive ``flock`` on ``fd`` without waiting; False when another holder has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # a file system without locks: do not block the job on it
        if exc.errno in _NO_LOCKS:
            return True
        raise
    return True


def _still_names(path: Path | str, fd: int) -> bool:
    """True when ``path`` is the file open as ``fd`` (a lock file's holder deletes it on release)."""
    try:
        a, b = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def _lock(path: Path, wait: bool) -> int | None:
    """Open (creating) and ``flock`` the lock file ``path``.

    A holder deletes its lock file when it lets go (:func:`_unlock`: no debris is left in the
    output folder), so after the lock is taken the path must still name the locked file; when it
    does not, the new file is locked instead.

    Args:
        path: the lock file.
        wait: wait for another holder to let go; otherwise return None when the lock is held.

    Returns:
        The open, locked descriptor, or None (held by another run and ``wait`` is false).

    Raises:
        BatchError: the folder is not writable or the lock fails for another reason.
    """
    while True:
        fd = _open_lock(path)
        if fcntl is None:  # pragma: no cover - not on POSIX
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as exc:
            if exc.errno in _NO_LOCKS:
                return fd
            os.close(fd)
            raise BatchError(f"cannot lock {path} ({exc.strerror or exc})") from None
        if _still_names(path, fd):
            return fd
        os.close(fd)  # its holder deleted it while we waited: lock the current file


def _unlock(path: Path, fd: int) -> None:
    """Delete the lock file while still holding it, then let go."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.close(fd)


@contextmanager
def folder_lock(output_dir: Path) -> Iterator[None]:
    """Hold the output folder's set-up lock (``.batch.lock``, waits for it); creates the folder.

    Args:
        output_dir: absolute output folder.

    Raises:
        BatchError: the folder cannot be created or written.
    """
    path = output_dir / LOCK_NAME
    fd = _lock(path, wait=True)
    assert fd is not None
    try:
        yield
    finally:
        _unlock(path, fd)


def shard_lock_name(shard: tuple[int, int]) -> str:
    """File name of the lock a run of shard ``(i, n)`` holds while it runs."""
    return f".batch-shard-{shard[0]}-of-{shard[1]}.lock"


@dataclass
class ShardClaim:
    """A run's hold on its shard of an output folder (see :func:`claim_shard`).

    Args:
        path: the lock file.
        fd: its open, locked descriptor.
        others: ``(i, n)`` of the other runs working in the folder now (same ``n``, other ``i``).
    """

    path: Path
    fd: int
    others: list[tuple[int, int]]

    def release(self) -> None:
        """Give the shard back and delete the lock file (idempotent)."""
        if self.fd >= 0:
            _unlock(self.path, self.fd)
            self.fd = -1


def claim_shard(output_dir: Path, shard: tuple[int, int]) -> ShardClaim:
    """Claim shard ``(i, n)`` of the output folder for this run; call under :func:`folder_lock`.

    Runs of shards ``i/n`` and ``j/n`` (``i != j``) have disjoint tasks and may share the folder. Two
    runs of the same shard, or of shards of different counts (``0/2`` and ``1/3`` share tasks),
    would do work twice and write duplicate manifest lines, so the later one is refused. Lock
    files a killed run left behind are deleted.

    Args:
        output_dir: absolute output folder (exists).
        shard: ``(i, n)`` of this run.

    Returns:
        The :class:`ShardClaim`; keep it until the run ends, then :meth:`ShardClaim.release` it.

    Raises:
        BatchError: another live run works on overlapping tasks in this folder.
    """
    path = output_dir / shard_lock_name(shard)
    i, n = shard
    fd = _lock(path, wait=False)
    if fd is None:
        what = "" if n == 1 else f" on shard {i}/{n}"
        raise BatchError(f"another batch run is already working{what} in {output_dir}; "
                         "wait for it to finish (or stop it), then run again")
    claim = ShardClaim(path, fd, [])
    if fcntl is None:  # pragma: no cover - no flock: cannot detect other runs
        return claim
    for entry in os.scandir(output_dir):
        m = _SHARD_LOCK.match(entry.name)
        if m is None or entry.name == path.name:
            continue
        j, k = int(m.group("i")), int(m.group("n"))
        try:
            probe = os.open(entry.path, os.O_RDWR)
        except OSError:  # gone meanwhile, or a lock file we may not open: nothing to probe
            continue
        try:
            busy = not _try_flock(probe)
            if not busy and _still_names(entry.path, probe):  # a killed run's leftover
                os.unlink(entry.path)
        finally:
            os.close(probe)
        if not busy:
            continue
        if k != n:
            claim.release()
            raise BatchError(f"another batch run is working on shard {j}/{k} in {output_dir}; shards of "
                             f"different counts overlap: use /{k} or wait for it to finish")
        claim.others.append((j, k))
    claim.others.sort()
    return claim


def prepare_output_dir(output_dir: Path, identity: dict[str, Any], planned: Iterable[Task], force: bool,
                       running: Iterable[tuple[int, int]] = ()) -> None:
    """Create the output folder, check it belongs to this job, and write ``job.json``.

    Args:
        output_dir: absolute output folder.
        identity: the job identity (op, params, grid, input folder).
        planned: this run's tasks (to detect files a fresh job would overwrite).
        force: replace a different job (its manifest becomes ``manifest.jsonl.old``, or
            ``.old2``, ``.old3`` ... when that exists) or overwrite files in a folder that has no
            ``job.json``.
        running: shards ``(i, n)`` of other runs working in the folder now (from
            :func:`claim_shard`); a job they run is never replaced, even with ``force``.

    Raises:
        BatchError: the folder cannot be created or written, holds a different job (that is
            still running, or ``force`` is false), or holds files this job would overwrite and
            ``force`` is false.
    """
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as exc:
        raise BatchError(f"output folder {output_dir} is not writable ({exc.strerror or exc})") from None
    job_path = output_dir / JOB_NAME
    if job_path.exists():
        if _read_identity(job_path) == identity:
            return
        running = list(running)
        if running:
            i, n = running[0]
            raise BatchError(f"output folder {output_dir} holds a different job that is still running "
                             f"(shard {i}/{n}); wait for it to finish or use another folder")
        if not force:
            raise BatchError(
                f"output folder {output_dir} holds a different job ({_describe(job_path)}); "
                "use another folder or force (--force) to replace it"
            )
        manifest = output_dir / MANIFEST_NAME
        if manifest.exists():
            os.replace(manifest, _free_old_name(output_dir))
    elif not force:
        clashes = [o for t in planned for o in t.output_paths if (output_dir / o).exists()]
        if clashes:
            raise BatchError(
                f"output folder {output_dir} has no {JOB_NAME} but holds {len(clashes)} file(s) this job "
                f"would overwrite (e.g. {clashes[0]}); use another folder or force (--force)"
            )
    doc = {"format": JOB_FORMAT, **identity, "created_at": now_iso()}
    try:
        atomic_write_bytes(job_path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    except ImageSaveError as exc:
        raise BatchError(f"cannot write {job_path} ({exc})") from None


def _free_old_name(output_dir: Path) -> Path:
    """``manifest.jsonl.old``, or ``.old2``, ``.old3`` ...: the first name not taken (earlier
    replaced jobs keep their manifests)."""
    k = 1
    while True:
        path = output_dir / (MANIFEST_NAME + (".old" if k == 1 else f".old{k}"))
        if not path.exists():
            return path
        k += 1


def _read_identity(job_path: Path) -> dict[str, Any] | None:
    """Identity stored in a ``job.json``, or None when it is unreadable."""
    try:
        doc = json.loads(job_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    return {k: doc.get(k) for k in ("op", "params", "grid", "input_dir")}


def _describe(job_path: Path) -> str:
    """Short description of the job stored in ``job_path`` for error messages."""
    ident = _read_identity(job_path)
    if ident is None:
        return f"unreadable {JOB_NAME}"
    return f"op {ident['op']}, grid {canonical_json(ident['grid'])}, input {ident['input_dir']}"


def remove_stale_temps(output_dir: Path, outputs: Iterable[str]) -> int:
    """Delete temporary files a killed run left behind for this run's outputs.

    Only temps named like :func:`engine.imageio.atomic_write_bytes` makes them
    (``.<name>.<random>.tmp``) whose ``<name>`` is one of ``outputs`` or ``job.json`` are removed,
    so other shards writing into the same folder are left alone.

    Args:
        output_dir: the output folder.
        outputs: output names (relative paths) of this run's tasks.

    Returns:
        Number of files removed.
    """
    mine = set(outputs) | {JOB_NAME}
    removed = 0
    for entry in os.scandir(output_dir):
        m = _TEMP_NAME.match(entry.name)
        if m and m.group("name") in mine and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """Last valid record per task id; unparseable or incomplete lines are ignored.

    Args:
        path: the ``manifest.jsonl`` file (may be missing).

    Returns:
        ``{id: record}``.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    records: dict[str, dict[str, Any]] = {}
    for line in raw.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("id"), str) and rec.get("status") in ("done", "error"):
            records[rec["id"]] = rec
    return records


def input_stat(task: Task) -> list[int] | None:
    """``[size, mtime_ns]`` of the task's input file (``None`` for a procedural task or an input
    that cannot be read): recorded with each result, so a re-run notices a replaced input."""
    if task.input_path is None:
        return None
    try:
        st = task.input_path.stat()
    except OSError:
        return None
    return [int(st.st_size), int(st.st_mtime_ns)]


def is_finished(task: Task, record: dict[str, Any] | None, output_dir: Path) -> bool:
    """True when ``task`` needs no work: recorded done, at the same output(s), every file exists and
    the input file is the one that was processed (same size and modification time as recorded;
    records written before that was recorded are trusted)."""
    return (
        record is not None
        and record.get("status") == "done"
        and record.get("output") == task.output
        and (not task.outputs or record.get("outputs") == dict(task.outputs))
        and all((output_dir / o).is_file() for o in task.output_paths)
        and ("input_stat" not in record or record["input_stat"] == input_stat(task))
    )


def now_iso() -> str:
    """Current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ManifestWriter:
    """Appends records to ``manifest.jsonl``: one ``write`` per line, flushed and ``fsync``-ed
    (from any thread of the process).

    Each append holds an ``flock`` on the manifest (runs of other shards append to the same file;
    the lock also keeps appends whole on network file systems where ``O_APPEND`` alone is not
    atomic) and starts with a newline when the file does not end with one, so a line torn by a
    killed run or a full disk, this run's or another's, stays a separate, ignored line.

    Args:
        path: the manifest file (created if missing).

    Raises:
        BatchError: the manifest cannot be opened.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BatchError(f"cannot open {path} ({exc.strerror or exc})") from None

    def append(self, task: Task, outcome: TaskOutcome) -> dict[str, Any]:
        """Record a finished task.

        Args:
            task: the task.
            outcome: what the worker reported.

        Returns:
            The record written.

        Raises:
            BatchError: the line could not be written (e.g. disk full).
        """
        rec: dict[str, Any] = {
            "id": task.id,
            "input": task.input_name,
            "params": task.params,
            "output": task.output,
            "status": outcome.status,
            "error": outcome.error,
            "elapsed_ms": round(outcome.elapsed_ms, 3),
            "finished_at": now_iso(),
        }
        if task.seed is not None:
            rec["seed"] = task.seed
        stat = input_stat(task)
        if stat is not None:
            rec["input_stat"] = stat
        if task.outputs:
            rec["outputs"] = dict(task.outputs)
        self._write((canonical_json(rec) + "\n").encode("utf-8"))
        return rec

    def _write(self, data: bytes) -> None:
        with self._lock:  # the flock does not exclude this process's other threads
            self._write_locked(data)

    def _write_locked(self, data: bytes) -> None:
        locked = False
        try:
            locked = fcntl is not None and _flock_wait(self._fd)
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":  # a torn line: leave it on its own
                data = b"\n" + data
            written = os.write(self._fd, data)
            if written != len(data):  # a regular file writes short only when it is out of space
                raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes written")
            os.fsync(self._fd)
        except OSError as exc:
            raise self._error(exc.errno, exc.strerror or str(exc)) from None
        finally:
            if locked:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _error(self, code: int | None, reason: str) -> BatchError:
        """The one-line error for a failed append (disk full says so and how to go on)."""
        if code in (errno.ENOSPC, errno.EDQUOT):
            return BatchError(f"disk full: cannot append to {self.path} ({reason}); "
                              "free some space and run again to resume")
        return BatchError(f"cannot append to {self.path} ({reason})")

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _flock_wait(fd: int) -> bool:
    """Take an exclusive ``flock`` on ``fd``, waiting for it; False where locks are unsupported."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno in _NO_LOCKS:
            return False
        raise
    return True
