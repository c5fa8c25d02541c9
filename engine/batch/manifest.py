"""The output folder's bookkeeping: ``job.json``, ``manifest.jsonl`` and stale temporary files.

``manifest.jsonl`` holds one JSON object per finished task, appended (and ``fsync``-ed) by the main
process only after the task's output file was renamed into place::

    {"id": "face.png@3fa2c1d90b7e", "input": "face.png", "params": {...}, "output": "face.png",
     "status": "done", "error": null, "elapsed_ms": 41.2, "finished_at": "2025-01-31T10:12:03.114+00:00"}

``status`` is ``"done"`` or ``"error"`` (then ``error`` is a one-line reason and no output is
promised). A multi-output task records ``"outputs"`` (``{name: relative path}`` of every file it
wrote) and a procedural one (see :mod:`engine.batch.plan`) also ``"seed"``; ``"input"`` is then
``seed<NNNNNN>``. When an id has several lines the last one counts. Lines that do not parse (a line torn
by a killed process) are ignored, and the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional

from engine.batch.plan import BatchError, Task, canonical_json
from engine.errors import ImageSaveError
from engine.imageio import atomic_write_bytes

MANIFEST_NAME = "manifest.jsonl"
JOB_NAME = "job.json"
JOB_FORMAT = 1
"""Version of the ``job.json`` layout."""

_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp$")


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
    error: Optional[str] = None
    elapsed_ms: float = 0.0
    disk_full: bool = False


def prepare_output_dir(output_dir: Path, identity: dict[str, Any], planned: Iterable[Task], force: bool) -> None:
    """Create the output folder, check it belongs to this job, and write ``job.json``.

    Args:
        output_dir: absolute output folder.
        identity: the job identity (op, params, grid, input folder).
        planned: this run's tasks (to detect files a fresh job would overwrite).
        force: replace a different job (its manifest becomes ``manifest.jsonl.old``) or overwrite
            files in a folder that has no ``job.json``.

    Raises:
        BatchError: the folder cannot be created or written, holds a different job, or holds
            files this job would overwrite, and ``force`` is false.
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
        if not force:
            raise BatchError(
                f"output folder {output_dir} holds a different job ({_describe(job_path)}); "
                "use another folder or force (--force) to replace it"
            )
        manifest = output_dir / MANIFEST_NAME
        if manifest.exists():
            os.replace(manifest, output_dir / (MANIFEST_NAME + ".old"))
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


def _read_identity(job_path: Path) -> Optional[dict[str, Any]]:
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


def is_finished(task: Task, record: Optional[dict[str, Any]], output_dir: Path) -> bool:
    """True when ``task`` needs no work: recorded done, at the same output(s), and every file exists."""
    return (
        record is not None
        and record.get("status") == "done"
        and record.get("output") == task.output
        and (not task.outputs or record.get("outputs") == dict(task.outputs))
        and all((output_dir / o).is_file() for o in task.output_paths)
    )


def now_iso() -> str:
    """Current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ManifestWriter:
    """Appends records to ``manifest.jsonl``: one ``write`` per line, flushed and ``fsync``-ed.

    Opening it makes sure the file ends with a newline, so a line torn by a killed run stays a
    separate, ignored line.

    Args:
        path: the manifest file (created if missing).

    Raises:
        BatchError: the manifest cannot be opened or repaired.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BatchError(f"cannot open {path} ({exc.strerror or exc})") from None
        try:
            if _ends_without_newline(path):
                self._write(b"\n")
        except BatchError:
            os.close(self._fd)
            raise

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
        rec = {
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
        if task.outputs:
            rec["outputs"] = dict(task.outputs)
        self._write((canonical_json(rec) + "\n").encode("utf-8"))
        return rec

    def _write(self, data: bytes) -> None:
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"short write ({written} of {len(data)} bytes)")
            os.fsync(self._fd)
        except OSError as exc:
            raise BatchError(f"cannot append to {self.path} ({getattr(exc, 'strerror', None) or exc})") from None

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "ManifestWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_without_newline(path: Path) -> bool:
    """True when ``path`` is non-empty and its last byte is not ``\\n``."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"
