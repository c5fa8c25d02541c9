"""The studio packages, and what each one gives the command line and the batch engine.

Every package named in :data:`STUDIOS` (``engine/studios/<name>/``) has two modules the rest of the
engine looks for:

* ``cli`` with ``CLI_COMMANDS``: a tuple of :data:`AddParser` hooks, each adding the package's
  sub-command(s) to the ``masquerade`` parser (:mod:`engine.cli`);
* ``batch`` with ``BATCH_OPS``: a tuple of :class:`BatchOp`, what ``masquerade batch <op>`` and the
  batch dialog can run on a folder (:mod:`engine.batch.ops`).

Adding a studio is adding its package with those two modules and its name to :data:`STUDIOS`; no
table elsewhere names it. The studio modules are imported only when a hook is asked for, and a
``cli`` or ``batch`` module must stay cheap to import (heavy imports inside its functions).

Example:
    >>> from engine.studios.registry import studio_batch_ops
    >>> sorted(op.name for op in studio_batch_ops())[:3]
    ['colorize', 'express', 'express-procedural']
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

STUDIOS: tuple[str, ...] = ("opera", "regenerate", "makeup", "expression", "maskwear")
"""The studio packages under ``engine/studios/``, in the order their commands appear in
``masquerade --help``."""

AddParser = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], Any]
"""A command-line hook: ``add_parser(subparsers)`` creates its sub-parser(s) and sets
``func=<callable(args) -> int>`` on each with ``set_defaults`` (the return value is not used)."""

Runner = Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]
"""Per-image function of a file op: ``(rgb uint8 [H, W, 3], normalised params) -> uint8 image``
(grey or RGB)."""

ProceduralRunner = Callable[[int, Mapping[str, Any]], Mapping[str, np.ndarray]]
"""Per-seed function of a procedural op: ``(seed, normalised params) -> {output name: uint8 image}``;
the names are exactly ``output_names(params)``."""

SOURCES: tuple[str, ...] = ("files", "procedural")
"""Where a batch op's tasks come from: input images, or seeds."""


@dataclass(frozen=True)
class BatchOp:
    """One batch operation: what a job does to each input (or seed), and its command-line options.

    Every callable must be a module-level function (or class): the op is pickled by reference
    into the ``spawn`` worker processes. Heavy imports (editors, torch) belong inside them.

    Args:
        name: registry key and CLI name (``masquerade batch <name>``).
        runner: called once per worker process; returns the :data:`Runner` applied to each image
            (or the :data:`ProceduralRunner` applied to each seed).
        normalize: validates a (possibly partial) parameter mapping and returns the complete,
            JSON-serialisable parameter dict with defaults filled in. Raises ``ValueError`` with a
            clear message on unknown names or out-of-range values. Two mappings meaning the same
            thing must normalise to equal dicts: task ids are hashed from the result.
        extension: output file extension including the dot (its format follows
            :data:`engine.imageio.SAVE_FORMATS`).
        summary: one-line description for ``--help`` and the GUI.
        source: ``"files"`` (tasks = input images) or ``"procedural"`` (tasks = seeds).
        output_names: ``params -> names`` of the files each task writes (in order; file
            ``<seed or input stem>[__<tag>]_<name><extension>``); required for procedural ops,
            optional for file ops (then the runner returns ``{name: image}`` instead of one image;
            names ending in ``.json`` are written as JSON records from dicts).
        add_arguments: adds the op's own options to its ``masquerade batch <name>`` parser
            (besides the common ``--input/--output/--grid ...``); ``None``: no own options.
        params_from_args: the base parameters (a mapping ``normalize`` accepts) from the parsed
            options that ``add_arguments`` added; each ``--grid`` overrides one of them.
        grid_from_args: grid axes ``{name: [values]}`` made from the op's own options (merged
            with ``--grid``; a name given both ways is refused).
        procedural_variant: name of a procedural op that ``masquerade batch <name> --procedural N``
            runs on N generated inputs instead of reading ``--input`` (file ops only).
        threads: a local job's extra workers are threads of the calling process, each with its
            own runner, instead of ``spawn`` processes: for ops whose runners do their work in
            native code that releases the GIL (MediaPipe, OpenCV) and are safe to run side by side,
            a second worker then costs no second start (interpreter, imports, models, caches).

    Raises:
        ValueError: an unknown ``source``, a procedural op without ``output_names``, option
            hooks without ``add_arguments``, or a ``procedural_variant`` on a procedural op.
    """

    name: str                                                       # registry key, CLI sub-command
    runner: Callable[[], Any]                                       # per-process factory: Runner | ProceduralRunner
    normalize: Callable[[Mapping[str, Any]], dict[str, Any]]        # validate + fill defaults -> JSON-able dict
    extension: str = ".png"                                         # output extension, with the dot
    summary: str = ""                                               # one-line help text
    source: str = "files"                                           # "files" | "procedural"
    output_names: Callable[[Mapping[str, Any]], Sequence[str]] | None = None  # several files per task
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None    # the op's own CLI options
    params_from_args: Callable[[argparse.Namespace], Mapping[str, Any]] | None = None  # base params
    grid_from_args: Callable[[argparse.Namespace], dict[str, list[Any]]] | None = None  # extra grid axes
    procedural_variant: str | None = None                        # op run by `--procedural N`
    threads: bool = False                                           # local extra workers are threads

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"op {self.name}: source must be one of {SOURCES}, got {self.source!r}")
        if self.source == "procedural" and self.output_names is None:
            raise ValueError(f"op {self.name}: output_names is required for procedural ops")
        if self.add_arguments is None and (self.params_from_args or self.grid_from_args):
            raise ValueError(f"op {self.name}: params_from_args / grid_from_args need add_arguments")
        if self.source == "procedural" and self.procedural_variant is not None:
            raise ValueError(f"op {self.name}: a procedural op has no procedural_variant")


def studio_module(studio: str, part: str) -> ModuleType:
    """Import one module of a studio package.

    Args:
        studio: a name of :data:`STUDIOS`.
        part: ``"cli"`` or ``"batch"``.

    Returns:
        The module ``engine.studios.<studio>.<part>``.

    Raises:
        ValueError: an unknown studio or part.
    """
    if studio not in STUDIOS:
        raise ValueError(f"unknown studio {studio!r}; known: {', '.join(STUDIOS)}")
    if part not in ("cli", "batch"):
        raise ValueError(f"a studio exports its 'cli' and 'batch' modules, not {part!r}")
    return importlib.import_module(f"{__package__}.{studio}.{part}")


def studio_cli_commands() -> tuple[AddParser, ...]:
    """Every studio's command-line hooks (``cli.CLI_COMMANDS``), in :data:`STUDIOS` order.

    Returns:
        The hooks, each ``add_parser(subparsers)``.
    """
    return tuple(hook for studio in STUDIOS for hook in studio_module(studio, "cli").CLI_COMMANDS)


def studio_batch_ops() -> tuple[BatchOp, ...]:
    """Every studio's batch operations (``batch.BATCH_OPS``), in :data:`STUDIOS` order.

    Returns:
        The ops.

    Raises:
        ValueError: two ops share a name.
    """
    ops: dict[str, tuple[str, BatchOp]] = {}
    for studio in STUDIOS:
        for op in studio_module(studio, "batch").BATCH_OPS:
            if op.name in ops:
                raise ValueError(f"batch op {op.name!r} is exported by both {ops[op.name][0]} and {studio}")
            ops[op.name] = (studio, op)
    return tuple(op for _, op in ops.values())
