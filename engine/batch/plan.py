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
    * ``<stem>`` is the input stem; when two inputs share a stem (``face.jpg`` and ``face.png``,
      compared case-insensitively) those inputs use their full file name instead
      (``face.jpg.png``, ``face.png.png``); ``a.jpg.png`` beside ``a.jpg`` then uses its full name
      too (``a.jpg.png.png``), and names that still clash get ``~<8 hex>`` appended (see
      :func:`_output_stems`). A plan in which two
      tasks would still write the same file is refused (:func:`check_unique_outputs`): an output
      is never silently overwritten by another task of the job.

Procedural jobs (ops with ``source == "procedural"``, see :mod:`engine.batch.ops`)
    Tasks are seeds ``seed_start .. seed_start + count - 1`` × grid combinations instead of input
    files; the "input name" of a task is ``seed<NNNNNN>`` (ids as above). A task writes several
    files ``seed<NNNNNN>[__<tag>]_<name><ext>``, one per name of the op's ``output_names``.
    ``count`` and ``seed_start`` are not part of the job identity: running again with a larger
    ``count`` extends the dataset, and shards split seeds exactly like files.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.batch.ops import BatchOp
from engine.errors import ImageLoadError, MasqueradeError
from engine.imageio import LOAD_EXTENSIONS, list_images

ENGINES: tuple[str, ...] = ("local", "ray")
"""Where a job's tasks can run (:attr:`JobSpec.engine`)."""

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
class DatasetOptions:
    """What the driver writes about the whole set (not part of the job identity: changing it on a
    resumed run rewrites the set-level files only).

    Args:
        licence: the licence of the set, as the user words it (``""``: not stated); copied into
            ``dataset.json`` and the COCO ``info`` / ``licenses``.
        val_fraction: share of the *input files* put in the validation split, in ``[0, 1)``; every
            output of one input lands in the same split (chosen by a hash of the input name, so
            shards and resumed runs agree). 0: no split.
        description: one line about the set for the card (``""``: the op's summary).
    """

    licence: str = ""                                                  # e.g. "CC BY 4.0"; "" = not stated
    val_fraction: float = 0.0                                          # inputs in the val split; 0 = none
    description: str = ""                                              # card description

    def __post_init__(self) -> None:
        if not (isinstance(self.val_fraction, (int, float)) and 0.0 <= float(self.val_fraction) < 1.0):
            raise ValueError(f"val fraction must be in [0, 1), got {self.val_fraction!r}")


@dataclass(frozen=True)
class JobSpec:
    """What a batch job does. Paths may be relative; they are resolved when the job runs.

    Args:
        op: registered op name (see :func:`engine.batch.ops.available_ops`).
        input_dir: folder whose images (not recursive, hidden files skipped) are processed;
            ``None`` for procedural ops.
        output_dir: folder for outputs, ``manifest.jsonl`` and ``job.json``; created if missing.
        grid: parameter name → list of values; the job runs the Cartesian product of the lists on
            every input. Empty = one combination (the base ``params``).
        params: base parameters shared by all combinations; grid values override them.
        workers: worker processes (``spawn``); 1 runs in the calling process. With
            ``engine="ray"``: Ray actors, 0 = one per CPU of the cluster.
        shard: ``(i, n)``: run only shard ``i`` of ``n`` (see the module docstring).
        force: replace the job of a different op/parameters/input in ``output_dir`` (its manifest
            is kept as ``manifest.jsonl.old``), or overwrite files in a folder that holds no job.
        count: procedural ops: number of seeds (tasks per grid combination).
        seed_start: procedural ops: first seed (>= 0).
        engine: where the tasks run: ``"local"`` (this process or a ``spawn`` pool of ``workers``
            processes) or ``"ray"`` (``workers`` actors on a Ray cluster, see
            :mod:`engine.batch.cluster`). Not part of the job identity: a job started on one engine
            resumes on the other.
        address: ``engine="ray"``: the cluster to join (``"auto"``, ``"HOST:PORT"``); ``None``
            joins the cluster started on this machine by ``ray start --head`` (or ``RAY_ADDRESS``),
            else starts a private one for the run.
        dataset: what the driver writes beside the outputs at the end of every run (the
            ``dataset.json`` card, ``annotations.json``, the train/val split; see
            :mod:`engine.batch.dataset`); ``None``: the defaults (a card with no licence, no split).
    """

    op: str                                                             # op name, e.g. "lineart"
    input_dir: Path | None                                           # folder of input images; None = procedural
    output_dir: Path                                                    # outputs + manifest.jsonl + job.json
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)     # name -> values (product = combos)
    params: Mapping[str, Any] = field(default_factory=dict)             # base params, overridden by grid
    workers: int = 1                                                    # processes; 1 = in-process
    shard: tuple[int, int] = (0, 1)                                     # (i, n): this run's share of the tasks
    force: bool = False                                                 # replace a different job's folder
    count: int | None = None                                         # procedural: number of seeds
    seed_start: int = 0                                                 # procedural: first seed
    engine: str = "local"                                               # "local" | "ray"
    address: str | None = None                                          # ray: cluster address
    dataset: DatasetOptions | None = None                               # card licence, val split

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.input_dir is not None:
            object.__setattr__(self, "input_dir", Path(self.input_dir))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        least = 0 if self.engine == "ray" else 1  # ray: 0 = one actor per CPU of the cluster
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < least:
            raise ValueError(f"workers must be an integer >= {least}, got {self.workers!r}")
        i, n = self.shard
        if not (isinstance(i, int) and isinstance(n, int) and n >= 1 and 0 <= i < n):
            raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int)
                                       or self.count < 1):
            raise ValueError(f"count must be an integer >= 1, got {self.count!r}")
        if isinstance(self.seed_start, bool) or not isinstance(self.seed_start, int) or self.seed_start < 0:
            raise ValueError(f"seed_start must be an integer >= 0, got {self.seed_start!r}")


@dataclass(frozen=True)
class Task:
    """One unit of work: one input image (or one seed) with one complete parameter set.

    Args:
        id: stable id (see the module docstring).
        input_path: absolute path of the input image; ``None`` for a procedural task.
        params: complete, normalised parameters.
        output: output path relative to the output folder (POSIX separators); the first of
            ``outputs`` for a multi-output task.
        seed: the seed of a procedural task (``None`` for file tasks).
        outputs: every file a multi-output (procedural, or file op with ``output_names``) task
            writes, ``(name, relative path)`` pairs in the op's ``output_names`` order; empty for
            single-output tasks (they write ``output`` only).
    """

    id: str                                         # "<input name>@<hash>"
    input_path: Path | None                      # absolute input file; None = procedural
    params: dict[str, Any]                          # normalised parameters
    output: str                                     # relative output path (the first one)
    seed: int | None = None                      # procedural: the seed
    outputs: tuple[tuple[str, str], ...] = ()       # multi-output: (name, relative path) per file

    @property
    def input_name(self) -> str:
        """Input file name (relative to the input folder), or ``seed<NNNNNN>``."""
        if self.input_path is None:
            return seed_name(int(self.seed or 0))
        return self.input_path.name

    @property
    def output_paths(self) -> tuple[str, ...]:
        """Every relative path this task writes."""
        return tuple(p for _, p in self.outputs) if self.outputs else (self.output,)


def seed_name(seed: int) -> str:
    """The input name of a procedural task: ``seed`` zero-padded to six digits."""
    return f"seed{seed:06d}"


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


def readable_json(doc: Any) -> str:
    """JSON with sorted keys for files people open: a dict's entries one per line and a list
    value's items one per line, everything inside them compact. Every piece is encoded by the C
    encoder (``json.dumps`` with ``indent`` runs in Python: a mask-wear record with its 2 × 478
    landmarks took ~20 ms that way, a large share of a dataset image's time); a list whose items
    are all flat lists (landmarks, polygons) is encoded in one call and split between its items,
    not item by item (~1000 encoder calls a mask-wear record, ~5 ms); whether they are flat is read
    from the encoded text (checking each number's type cost ~0.25 ms a record).

    Example:
        >>> print(readable_json({"b": [1, [2, 3]], "a": {"y": 1, "x": None}, "c": [[1.5, -2], [], [3]]}))
        {
         "a": {"x": null, "y": 1},
         "b": [
          1,
          [2, 3]
         ],
         "c": [
          [1.5, -2],
          [],
          [3]
         ]
        }
    """
    if not isinstance(doc, dict) or not doc:
        return _ENCODE(doc)
    rows = []
    for key in sorted(doc):
        value = doc[key]
        if isinstance(value, list) and value:
            rows.append(f" {_ENCODE(key)}: [\n  {_list_items(value)}\n ]")
        else:
            rows.append(f" {_ENCODE(key)}: {_ENCODE(value)}")
    return "{\n" + ",\n".join(rows) + "\n}"


_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode
"""``json.dumps(value, sort_keys=True, ensure_ascii=False)`` without building an encoder per call."""


def _list_items(value: list[Any]) -> str:
    """A non-empty list's items encoded and joined by ``",\\n  "`` (:func:`readable_json`)."""
    if all(type(v) is list for v in value):
        text = _ENCODE(value)
        if text.count("[") == len(value) + 1:
            # each item opens one bracket and nothing else does (no nested list, no string holding
            # one): "], [" occurs only between two of the items
            return text[1:-1].replace("], [", "],\n  [")
    return ",\n  ".join(_ENCODE(v) for v in value)


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
    """Input name → output stem, distinct for every input even on a case-insensitive disk.

    The stem is the input's stem (``face`` for ``face.png``); inputs whose stems clash (compared
    case-insensitively: ``face.jpg`` and ``face.png``, or ``a.jpg``'s full name and ``a.jpg.png``'s
    stem) move up one level: from the stem to the full file name, then to the full name with
    ``~<8 hex>`` (a hash of the file name) appended; in a clash between levels only the lower ones
    move. Inputs that clash with nothing keep their plain stem.
    """
    names = [p.name for p in inputs]
    stem_of = {p.name: p.stem for p in inputs}
    level = dict.fromkeys(names, 0)  # 0: stem, 1: full name, 2: full name + hash

    def candidate(name: str) -> str:
        if level[name] == 0:
            return stem_of[name]
        return name if level[name] == 1 else f"{name}~{_sha(name)[:8]}"

    while True:  # every pass moves at least one name up a level, so this ends
        groups: dict[str, list[str]] = {}
        for name in names:
            groups.setdefault(candidate(name).casefold(), []).append(name)
        raise_: list[str] = []  # in each clashing group, the names at the group's lowest level move up
        for group in groups.values():
            if len(group) > 1:
                low = min(level[n] for n in group)
                raise_.extend(n for n in group if level[n] == low and low < 2)
        if not raise_:
            return {name: candidate(name) for name in names}
        for name in raise_:
            level[name] += 1


RESERVED_NAMES = frozenset({"job.json", "manifest.jsonl", "manifest.jsonl.old", "dataset.json",
                            "annotations.json", "annotations_train.json", "annotations_val.json"})
"""Bookkeeping files of an output folder (see :mod:`engine.batch.manifest`): no task may write them."""


def check_unique_outputs(tasks: Sequence[Task]) -> None:
    """Refuse a plan in which two tasks would write the same file (compared case-insensitively).

    Args:
        tasks: every task of the job (all shards).

    Raises:
        BatchError: two tasks share an output path, or a task would write a bookkeeping file.
    """
    owner: dict[str, Task] = {}
    for t in tasks:
        for path in t.output_paths:
            key = path.casefold()
            if key in RESERVED_NAMES or key.startswith("manifest.jsonl"):
                raise BatchError(f"task {t.id} would overwrite the job's own {path}")
            other = owner.setdefault(key, t)
            if other is not t:
                raise BatchError(f"tasks {other.id} and {t.id} would both write {path}; "
                                 "rename one of the inputs")


def list_inputs(input_dir: Path) -> list[Path]:
    """Sorted images of the input folder (by extension; broken links to images included).

    Raises:
        BatchError: the folder is missing, not a folder, or holds no images.
    """
    if not input_dir.is_dir():
        raise BatchError(f"input folder {input_dir} does not exist or is not a folder")
    try:
        inputs = list_images(input_dir)
        # a link to a file that is gone is listed too, so that it gets an error line in the
        # manifest instead of being skipped without a word
        inputs = sorted(inputs + [p for p in input_dir.iterdir()
                                  if p.is_symlink() and not p.exists() and not p.name.startswith(".")
                                  and p.suffix.lower() in LOAD_EXTENSIONS])
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
    base = op.normalize(dict(spec.params))
    grid = normalize_grid(op, spec.params, spec.grid)
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    tags = combo_tags(grid, combos)
    if op.source == "procedural":
        return _plan_procedural(spec, op, base, grid, combos, tags)
    if spec.input_dir is None:
        raise BatchError(f"op {op.name} needs an input folder")
    if spec.count is not None:
        raise ValueError(f"op {op.name} processes an input folder; count is for procedural ops")
    input_dir = spec.input_dir.resolve()
    inputs = list_inputs(input_dir)
    stems = _output_stems(inputs)
    tasks: list[Task] = []
    for path in inputs:
        for combo, tag in zip(combos, tags, strict=True):
            params = op.normalize({**spec.params, **combo})
            prefix = stems[path.name] + (f"__{tag}" if tag else "")
            if op.output_names is None:
                tasks.append(Task(task_id(op.name, path.name, params), path, params, prefix + op.extension))
                continue
            outputs = _named_outputs(op, params, prefix)
            tasks.append(Task(task_id(op.name, path.name, params), path, params, outputs[0][1], None, outputs))
    fixed = {k: v for k, v in base.items() if k not in grid}  # grid axes override the base values
    identity = {"op": op.name, "params": fixed, "grid": grid, "input_dir": str(input_dir)}
    check_unique_outputs(tasks)
    return _shard_plan(spec, identity, tasks)


def _named_outputs(op: BatchOp, params: dict[str, Any], prefix: str) -> tuple[tuple[str, str], ...]:
    """``(name, relative path)`` of every file a multi-output task writes.

    Names ending in ``.json`` are JSON records (the runner returns a dict for them); the others are
    images saved with the op's extension.
    """
    assert op.output_names is not None
    names = list(op.output_names(params))
    if not names or len(set(names)) != len(names) or not all(_SAFE_TAG.match(n) for n in names):
        raise ValueError(f"op {op.name} gave invalid output names {names!r}")
    return tuple((name, f"{prefix}_{name}" if name.endswith(".json") else f"{prefix}_{name}{op.extension}")
                 for name in names)


def _shard_plan(spec: JobSpec, identity: dict[str, Any], tasks: list[Task]) -> JobPlan:
    i, n = spec.shard
    mine = [t for t in tasks if shard_of(t.id, n) == i]
    return JobPlan(identity=identity, tasks=mine, total_all_shards=len(tasks))


def _plan_procedural(spec: JobSpec, op: BatchOp, base: dict[str, Any], grid: dict[str, list[Any]],
                     combos: list[dict[str, Any]], tags: list[str]) -> JobPlan:
    """Tasks of a procedural op: seeds × grid combinations, several output files each."""
    if spec.input_dir is not None:
        raise ValueError(f"op {op.name} generates its inputs from seeds: give a count, not an input folder")
    if spec.count is None:
        raise ValueError(f"op {op.name} needs a count (number of seeds to generate)")
    assert op.output_names is not None  # BatchOp checks this for procedural ops
    tasks: list[Task] = []
    for seed in range(spec.seed_start, spec.seed_start + spec.count):
        stem = seed_name(seed)
        for combo, tag in zip(combos, tags, strict=True):
            params = op.normalize({**spec.params, **combo})
            outputs = _named_outputs(op, params, stem + (f"__{tag}" if tag else ""))
            tasks.append(Task(task_id(op.name, stem, params), None, params, outputs[0][1], seed, outputs))
    fixed = {k: v for k, v in base.items() if k not in grid}
    identity = {"op": op.name, "params": fixed, "grid": grid, "input_dir": None}
    check_unique_outputs(tasks)
    return _shard_plan(spec, identity, tasks)
