"""Dataset export: a folder of inputs × a parameter grid → a folder of outputs with a manifest.

GUI-free (never imports Qt). Resumable, shardable (``shard=(i, n)``), cancellable, with progress.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from engine.batch import JobSpec, run_batch
    >>> from engine.imageio import save_image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "faces").mkdir()
    >>> _ = save_image(root / "faces" / "a.png", np.full((48, 48, 3), 200, np.uint8))
    >>> spec = JobSpec("lineart", root / "faces", root / "out", grid={"sigma": [0.6, 1.2]}, workers=1)
    >>> summary = run_batch(spec)
    >>> summary.done, summary.failed, summary.manifest_path.name
    (2, 0, 'manifest.jsonl')

Modules: :mod:`~engine.batch.ops` (op registry), :mod:`~engine.batch.plan` (job spec, task ids,
output names, shards), :mod:`~engine.batch.manifest` (``job.json``, ``manifest.jsonl``, resume),
:mod:`~engine.batch.core` (:func:`run_batch`), :mod:`~engine.batch.cli` (``masquerade batch``).
"""

from engine.batch.core import (
    BatchCancelled,
    BatchProgress,
    BatchSummary,
    ProgressCallback,
    run_batch,
)
from engine.batch.manifest import JOB_NAME, MANIFEST_NAME, read_manifest
from engine.batch.ops import BatchOp, Runner, available_ops, get_op, register_op
from engine.batch.plan import (
    BatchError,
    JobPlan,
    JobSpec,
    Task,
    plan_job,
    shard_of,
    task_id,
)

__all__ = [
    "BatchCancelled",
    "BatchError",
    "BatchOp",
    "BatchProgress",
    "BatchSummary",
    "JOB_NAME",
    "JobPlan",
    "JobSpec",
    "MANIFEST_NAME",
    "ProgressCallback",
    "Runner",
    "Task",
    "available_ops",
    "get_op",
    "plan_job",
    "read_manifest",
    "register_op",
    "run_batch",
    "shard_of",
    "task_id",
]
