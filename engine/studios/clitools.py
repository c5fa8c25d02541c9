"""What the studios' command lines share: the ``engine:`` line and the ``--overwrite`` option.

``masquerade batch`` prints the same line once at job start, from each studio batch module's
``BATCH_ENGINES`` (op name → :class:`BatchEngine`), for every learned-engine request of the job.

A command that may run a learned engine prints which engine ran and why, in one line, as the
window's status bar does::

    engine: classical (the key-point fit: the learned mask refiner cannot be loaded: checkpoint unusable: ...)

Example:
    >>> engine_line("classical", "classical paint rules requested")
    'engine: classical (classical paint rules requested)'
    >>> engine_line("neural", "")
    'engine: neural'
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: the batch modules that use these helpers import nothing heavy
    from engine.studios.base import LearnedBackend, Resolution


def engine_line(backend: str, reason: str) -> str:
    """The one line that says which engine ran and why.

    Args:
        backend: the engine that ran (``"classical"``, ``"neural"``, or a model name).
        reason: why it ran (a :class:`~engine.studios.base.Resolution` reason); ``""``: none given.

    Returns:
        ``"engine: <backend> (<reason>)"`` (the reason's first line only).
    """
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    return f"engine: {backend}" + (f" ({first})" if first else "")


def add_overwrite_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--overwrite``: allow an output path that is one of the command's inputs.

    Without it :func:`engine.imageio.check_not_input` refuses such a path before any work.

    Args:
        p: the command's parser.
    """
    p.add_argument("--overwrite", action="store_true",
                   help="allow an output file to replace an input file (refused otherwise)")


@dataclass(frozen=True)
class BatchEngine:
    """Which engine a batch op runs, for the ``engine:`` line printed once at job start.

    Args:
        resolve: ``params → Resolution`` that really runs for the job's parameters (only the
            ``keys`` are passed, and only those given): reads the cards and, for a learned
            resolution, loads the model once, so a checkpoint that cannot be loaded falls back on
            ``auto`` (with the reason) and fails in one line when requested explicitly. Imports
            lazily (batch modules are imported by the op registry).
        keys: the op parameters naming the request (wear-mask: ``("method",)``); ``()``: the op
            always runs the same request.
    """

    resolve: Callable[[Mapping[str, Any]], Resolution]
    keys: tuple[str, ...] = ()


def classical_only(backend: LearnedBackend, op: str) -> Resolution:
    """The resolution of a batch op that runs only the classical twin of ``backend``.

    Args:
        backend: the studio's learned engine (named in the reason).
        op: the batch op's name.

    Returns:
        A classical :class:`~engine.studios.base.Resolution` whose reason says so.
    """
    from dataclasses import replace

    return replace(backend.resolve("classical"),
                   reason=f"{backend.classical}: batch {op} runs the classical engine only")


def classical_batch_engine(backend: str, op: str) -> BatchEngine:
    """The :class:`BatchEngine` of a batch op that runs only the classical twin of a learned engine.

    Args:
        backend: ``"module:attribute"`` of the studio's :class:`~engine.studios.base.LearnedBackend`,
            imported when the line is printed (batch modules stay cheap to import).
        op: the batch op's name.

    Returns:
        A :class:`BatchEngine` whose resolution is :func:`classical_only`.
    """
    module, attr = backend.split(":")

    def resolve(params: Mapping[str, Any]) -> Resolution:
        import importlib

        return classical_only(getattr(importlib.import_module(module), attr), op)

    return BatchEngine(resolve)


def ran(backend: LearnedBackend, resolution: Resolution) -> Resolution:
    """What really runs for ``resolution``: a learned one is loaded once (cached for this process).

    Args:
        backend: the learned engine ``resolution`` came from.
        resolution: from :meth:`~engine.studios.base.LearnedBackend.resolve`.

    Returns:
        ``resolution``, or the classical fall-back when ``auto`` chose a checkpoint that cannot be
        loaded.

    Raises:
        LearnedBackendError: the learned engine was requested explicitly and cannot be loaded.
    """
    return backend.load_or_fallback(resolution)[1]
