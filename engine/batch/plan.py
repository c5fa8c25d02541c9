"""Job specification and task planning: inputs × parameter grid → tasks with stable ids and paths.

Task ids
    ``<input file name>@<12 hex>`` where the hex is the start of the SHA-256 of the op name, the
    input file name and the canonical JSON (sorted keys, compact) of the task's complete, normalised
    parameters. The same image with the same parameters always has the same id, whatever the grid
    order, the shard or the spelling of the values (``"0.6"`` and ``0.6`` normalise alike).

Output names (flat, inside the output folder)
    * ``<stem><ext>`` when the grid has a single combination (``ext`` is the op's, e.g. ``.png``);
    * ``<stem>__<tag><ext>`` otherwise. The tag lists the grid axes that have more than one value,
      sorted by name, as ``<name><value>`` joined by ``_``, e.g. ``face__phi100_sigma0.6.png``.
      Floats are written exactly (``repr``, a trailing ``.0`` dropped), ``None`` as ``none``. When a
      tag would hold characters other than ``A-Z a-z 0-9 . _ + -``, be longer than
      :data:`MAX_TAG_LEN`, or two combinations would get the same tag, every tag of the job is
      ``p<8 hex>`` (a hash of the combination) instead.
    * ``<stem>`` is the input stem; when two inputs share a stem (``face.jpg`` and ``face.png``)
      those inputs use their full file name instead (``face.jpg.png``, ``face.png.png``).

Shards
    Task ``t`` belongs to shard ``int(sha256(t.id)[:8], 16) % n``. The split depends only on the id,
    so machines that list the input folder at different times still agree, and shards ``0..n-1``
    cover every task exactly once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from engine.batch.ops import BatchOp
from engine.errors import ImageLoadError, MasqueradeError
from engine.imageio import list_images

MAX_TAG_LEN: int = 64
"""Longest readable parameter tag in an output name before hashed tags are used."""

_SAFE_TAG = re.compile(r"^[A-Za-z0-9._+-]+$")


class BatchError(MasqueradeError):
    """A batch job cannot start (bad folders, job mismatch) or had to stop (disk full, crashed worker).

    Args:
        message: one-line, user-facing reason.
        summary: counts of what was done before the job stopped, when it got that far.
    """

    def __init__(self, message: str, summary: Any = None) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class JobSpec:
    """What a batch job does. Paths may be relative; they are resolved when the job runs.

    Args:
        op: registered op name (see :func:`engine.batch.ops.available_ops`).
        input_dir: folder whose images (not recursive, hidden files skipped) are processed.
        output_dir: folder for outputs, ``manifest.jsonl`` and ``job.json``; created if missing.
        grid: parameter name → list of values; the job runs the Cartesian product of the lists on
            every input. Empty = one combination (the base ``params``).
        params: base parameters shared by all combinations; grid values override them.
        workers: worker processes (``spawn``); 1 runs in the calling process.
        shard: ``(i, n)``: run only shard ``i`` of ``n`` (see the module docstring).
        force: replace the job of a different op/parameters/input in ``output_dir`` (its manifest
            is kept as ``manifest.jsonl.old``), or overwrite files in a folder that holds no job.
    """

    op: str                                                             # op name, e.g. "lineart"
    input_dir: Path                                                     # folder of input images
    output_dir: Path                                                    # outputs + manifest.jsonl + job.json
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)     # name -> values (product = combos)
    params: Mapping[str, Any] = field(default_factory=dict)             # base params, overridden by grid
    workers: int = 1                                                    # processes; 1 = in-process
    shard: tuple[int, int] = (0, 1)                                     # (i, n): this run's share of the tasks
    force: bool = False                                                 # replace a different job's folder

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_dir", Path(self.input_dir))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {self.workers!r}")
        i, n = self.shard
        if not (isinstance(i, int) and isinstance(n, int) and n >= 1 and 0 <= i < n):
            raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")


@dataclass(frozen=True)
class Task:
    """One unit of work: one input image with one complete parameter set.

    Args:
        id: stable id (see the module docstring).
        input_path: absolute path of the input image.
        params: complete, normalised parameters.
        output: output path relative to the output folder (POSIX separators).
    """

    id: str                     # "<input name>@<hash>"
    input_path: Path            # absolute input file
    params: dict[str, Any]      # normalised parameters
    output: str                 # relative output path

    @property
    def input_name(self) -> str:
        """Input file name (relative to the input folder)."""
        return self.input_path.name


@dataclass(frozen=True)
class JobPlan:
    """A resolved job: the identity written to ``job.json`` and this shard's tasks.

    Args:
        identity: op, fixed params (base params not overridden by the grid), canonical grid and
            input folder; two runs are the same job exactly when their identities are equal.
        tasks: this shard's tasks in input-name order, then grid order.
        total_all_shards: number of tasks of the whole job (all shards).
    """

    identity: dict[str, Any]
    tasks: list[Task]
    total_all_shards: int


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the form ids and job comparisons are computed from."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shard_of(task_id: str, n: int) -> int:
    """Shard index in ``[0, n)`` of a task id.

    Args:
        task_id: a :attr:`Task.id`.
        n: number of shards (>= 1).

    Returns:
        The shard that runs this task.
    """
    return int(_sha(task_id)[:8], 16) % n


def task_id(op: str, input_name: str, params: Mapping[str, Any]) -> str:
    """Stable id of one task.

    Args:
        op: op name.
        input_name: input file name relative to the input folder.
        params: complete, normalised parameters.

    Returns:
        ``"<input_name>@<12 hex>"``.
    """
    digest = _sha("\n".join((op, input_name, canonical_json(params))))
    return f"{input_name}@{digest[:12]}"


def normalize_grid(op: BatchOp, base: Mapping[str, Any], grid: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Canonical grid: axes sorted by name, each value normalised by the op, duplicates refused.

    Args:
        op: the op whose ``normalize`` validates the values.
        base: base parameters the values are combined with for validation.
        grid: parameter name → list of values.

    Returns:
        ``{name: [normalised values]}`` with names sorted.

    Raises:
        ValueError: an empty axis, a duplicate value, an unknown name or an invalid value.
    """
    out: dict[str, list[Any]] = {}
    for name in sorted(grid):
        values = grid[name]
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"grid {name!r} needs a non-empty list of values, got {values!r}")
        axis: list[Any] = []
        for v in values:
            norm = op.normalize({**base, name: v})
            if name not in norm:
                raise ValueError(f"unknown {op.name} parameter {name!r}")
            if any(canonical_json(norm[name]) == canonical_json(a) for a in axis):
                raise ValueError(f"grid {name!r} lists the value {v!r} twice")
            axis.append(norm[name])
        out[name] = axis
    return out


def _format_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def combo_tags(grid: Mapping[str, Sequence[Any]], combos: Sequence[Mapping[str, Any]]) -> list[str]:
    """Output-name tags of the grid combinations (see the module docstring).

    Args:
        grid: canonical grid (from :func:`normalize_grid`).
        combos: one ``{name: value}`` per combination, in grid product order.

    Returns:
        One tag per combination; empty strings when there is a single combination.
    """
    if len(combos) <= 1:
        return [""] * len(combos)
    varying = [name for name in grid if len(grid[name]) > 1]
    tags = ["_".join(f"{name}{_format_value(c[name])}" for name in varying) for c in combos]
    readable = all(len(t) <= MAX_TAG_LEN and _SAFE_TAG.match(t) for t in tags) and len(set(tags)) == len(tags)
    return tags if readable else [f"p{_sha(canonical_json(c))[:8]}" for c in combos]


def _output_stems(inputs: Sequence[Path]) -> dict[str, str]:
    """Input name → output stem: the input stem, or the full name where stems collide."""
    counts: dict[str, int] = {}
    for p in inputs:
        counts[p.stem] = counts.get(p.stem, 0) + 1
    return {p.name: (p.stem if counts[p.stem] == 1 else p.name) for p in inputs}


def list_inputs(input_dir: Path) -> list[Path]:
    """Sorted images of the input folder.

    Raises:
        BatchError: the folder is missing, not a folder, or holds no images.
    """
    if not input_dir.is_dir():
        raise BatchError(f"input folder {input_dir} does not exist or is not a folder")
    try:
        inputs = list_images(input_dir)
    except (ImageLoadError, OSError) as exc:
        raise BatchError(f"cannot list input folder {input_dir} ({exc})") from None
    if not inputs:
        raise BatchError(f"input folder {input_dir} holds no images")
    return inputs


def plan_job(spec: JobSpec, op: BatchOp) -> JobPlan:
    """Resolve a job: validate parameters, list inputs, name outputs, select this shard's tasks.

    Args:
        spec: the job.
        op: the registered op named by ``spec.op``.

    Returns:
        The :class:`JobPlan` (identity + this shard's tasks).

    Raises:
        BatchError: input folder missing or empty.
        ValueError: invalid parameters or grid.
    """
    input_dir = spec.input_dir.resolve()
    base = op.normalize(dict(spec.params))
    grid = normalize_grid(op, spec.params, spec.grid)
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    tags = combo_tags(grid, combos)
    inputs = list_inputs(input_dir)
    stems = _output_stems(inputs)
    tasks: list[Task] = []
    for path in inputs:
        for combo, tag in zip(combos, tags):
            params = op.normalize({**spec.params, **combo})
            name = stems[path.name] + (f"__{tag}" if tag else "") + op.extension
            tasks.append(Task(task_id(op.name, path.name, params), path, params, name))
    fixed = {k: v for k, v in base.items() if k not in grid}  # grid axes override the base values
    identity = {"op": op.name, "params": fixed, "grid": grid, "input_dir": str(input_dir)}
    i, n = spec.shard
    mine = [t for t in tasks if shard_of(t.id, n) == i]
    return JobPlan(identity=identity, tasks=mine, total_all_shards=len(tasks))
