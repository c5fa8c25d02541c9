"""Registry of batch operations: what a job can do to each input image.

An op is a :class:`~engine.studios.registry.BatchOp`: a name, a function that validates and
completes a parameter dict, a factory that builds the per-image function once per worker process
(so a neural op loads its model once, not once per image), the output file extension, and its own
command-line options. The ops come from the studio packages: each one's ``batch.BATCH_OPS``
(see :mod:`engine.studios.registry`), read the first time the registry is used. Adding an op is
adding it to its studio's ``BATCH_OPS``; nothing here names a studio. :func:`register_op` adds
others (tests, plug-ins).

Ops have one of two *sources*:

* ``"files"`` (default): one task per input image × grid combination; the runner is a
  :data:`Runner` ``(image, params) -> image`` and each task writes one file.
* ``"procedural"``: one task per seed (``JobSpec.count`` seeds from ``JobSpec.seed_start``) × grid
  combination, no input folder; the runner is a :data:`ProceduralRunner`
  ``(seed, params) -> {name: image}`` and each task writes the files named by ``output_names``
  (e.g. a design's colour image, line art and region map). Generators (lianpu, anime faces) use it.

Every callable stored in a :class:`BatchOp` must be a module-level function: the op is pickled by
reference into the ``spawn`` worker processes.
"""

from __future__ import annotations

import threading

from engine.studios.registry import SOURCES, BatchOp, ProceduralRunner, Runner, studio_batch_ops

__all__ = ["SOURCES", "BatchOp", "ProceduralRunner", "Runner", "available_ops", "get_op", "register_op"]

_OPS: dict[str, BatchOp] = {}
_studios_loaded = False
_LOCK = threading.RLock()


def _registry() -> dict[str, BatchOp]:
    """The registry, with every studio's ``BATCH_OPS`` read in on first use."""
    global _studios_loaded
    with _LOCK:
        if not _studios_loaded:
            _OPS.update({op.name: op for op in studio_batch_ops()})
            _studios_loaded = True
    return _OPS


def register_op(op: BatchOp) -> BatchOp:
    """Add ``op`` to the registry (replacing an op of the same name, a studio's included).

    Args:
        op: the operation to register.

    Returns:
        ``op`` unchanged, so the call can be used inline.
    """
    _registry()[op.name] = op
    return op


def get_op(name: str) -> BatchOp:
    """Look up a registered op.

    Args:
        name: op name, e.g. ``"lineart"``.

    Returns:
        The registered :class:`BatchOp`.

    Raises:
        KeyError: no op of that name; the message lists the known ones.
    """
    try:
        return _registry()[name]
    except KeyError:
        raise KeyError(f"unknown batch op {name!r}; known: {', '.join(available_ops()) or 'none'}") from None


def available_ops() -> list[str]:
    """Names of the registered ops, sorted.

    Returns:
        The names.
    """
    return sorted(_registry())
