"""``masquerade batch <op> --input DIR --output DIR [--grid NAME=V1,V2 ...] [--workers N] [--shard i/n]``.

Every registered op (:mod:`engine.batch.ops`) gets a sub-command with the common options, plus
the op's own options when it has ``add_arguments`` (for ``lineart``: the XDoG options of
``masquerade lineart``). Its own options give the base parameters (``params_from_args``) and may
add grid axes (``grid_from_args``); each ``--grid`` overrides one parameter with a list of values,
and the job runs every combination on every input. Procedural ops (``opera-dataset``) take
``--count N [--seed-start S]`` instead of ``--input``: every combination runs on every seed; a file
op with a ``procedural_variant`` (``express``) also takes ``--procedural N``.

Ops with a learned twin (``colorize``, ``express``, ``makeup``, ``regenerate``, ``wear-mask``)
print ``engine: <backend> (<reason>)`` once when the job starts (one line per requested engine
when a grid asks for several), from their studio's ``batch.BATCH_ENGINES``: an ``auto`` fall-back
says which engine runs and why; an explicit learned request that cannot run fails in one line
before any task.

Engines: ``--engine local`` (default) runs the tasks in this process or a pool of ``--workers``
processes; ``--engine ray [--address HOST:PORT]`` runs them on ``--workers`` actors of a Ray
cluster (default: one per CPU of the cluster), the driver (this command) still planning, locking
and writing the manifest: the same resume, shard and refusal rules (:mod:`engine.batch.cluster`).

Dataset files: every run ends by writing ``dataset.json`` (the set's card: counts, parameters,
Masquerade version, ``--licence``) and, for ops with per-face records (``wear-mask``), the COCO
``annotations.json`` (with ``--val-fraction F`` also ``annotations_train.json`` /
``annotations_val.json``, split by input file) — see :mod:`engine.batch.dataset`.

Exit codes: 0 every task done, 1 some task failed (or the job could not start / had to stop),
130 cancelled (Ctrl+C or SIGTERM once stops after the running tasks; twice aborts).
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from engine.batch.core import BatchCancelled, BatchProgress, BatchSummary, run_batch
from engine.batch.ops import available_ops, get_op
from engine.batch.plan import ENGINES, BatchError, DatasetOptions, JobSpec
from engine.cancel import CancelToken
from engine.studios.clitools import BatchEngine, engine_line
from engine.studios.registry import STUDIOS, studio_module


def parse_grid_arg(text: str) -> tuple[str, list[Any]]:
    """Parse one ``--grid NAME=V1,V2,...`` value.

    Args:
        text: e.g. ``"sigma=0.6,0.8,1.2"``.

    Returns:
        ``(name, values)``; each value is an int, a float, None (``none``/``null``) or the text.

    Raises:
        argparse.ArgumentTypeError: no ``=``, no name, or an empty value.
    """
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=V1,V2,... got {text!r}")
    items = [v.strip() for v in rest.split(",")]
    if any(not v for v in items):
        raise argparse.ArgumentTypeError(f"empty value in {text!r}")
    return name, [parse_grid_value(v) for v in items]


def parse_grid_value(text: str) -> Any:
    """One value as ``--grid`` reads it: ``none`` / ``null`` → ``None``, then an int, a float, or the text.

    Example:
        >>> [parse_grid_value(t) for t in ("3", "0.5", "null", "kn95")]
        [3, 0.5, None, 'kn95']
    """
    if text.lower() in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_shard_arg(text: str) -> tuple[int, int]:
    """Parse ``--shard i/n`` (``0 <= i < n``).

    Args:
        text: e.g. ``"1/4"``.

    Returns:
        ``(i, n)``.

    Raises:
        argparse.ArgumentTypeError: not two integers ``i/n`` in range.
    """
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"shard {text!r} out of range: need 0 <= i < n")
    return i, n


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``batch`` sub-command (one nested sub-command per registered op).

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``batch`` parser.
    """
    batch = subparsers.add_parser(
        "batch", help="export a dataset: a folder of images × a parameter grid, resumable",
        description="Run an op on every image of a folder for every combination of a parameter grid. "
                    "Re-running the same command resumes; the output folder gets manifest.jsonl and job.json.",
    )
    ops = batch.add_subparsers(dest="op", metavar="OP", required=True)
    for name in available_ops():
        op = get_op(name)
        sp = ops.add_parser(name, help=op.summary, description=op.summary)
        _add_common_arguments(sp, procedural=op.source == "procedural", alternative=op.procedural_variant)
        if op.add_arguments is not None:
            op.add_arguments(sp)
    batch.set_defaults(func=cmd_batch)
    return batch


def _add_common_arguments(p: argparse.ArgumentParser, procedural: bool = False,
                          alternative: str | None = None) -> None:
    if alternative is not None:
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--input", metavar="DIR", help="folder of input images (not recursive)")
        src.add_argument("--procedural", type=_positive_int, metavar="N",
                         help=f"generate N inputs instead of reading a folder (runs {alternative})")
        p.add_argument("--seed-start", type=_non_negative_int, default=0, metavar="S",
                       help="with --procedural: first seed (default 0)")
        p.add_argument("--size", type=_positive_int, default=256, help="with --procedural: face size (default 256)")
    elif procedural:
        p.add_argument("--count", required=True, type=_positive_int, metavar="N",
                       help="number of seeds to generate (running again with a larger N extends the set)")
        p.add_argument("--seed-start", type=_non_negative_int, default=0, metavar="S",
                       help="first seed (default 0): seeds S .. S+N-1")
    else:
        p.add_argument("--input", required=True, metavar="DIR", help="folder of input images (not recursive)")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--grid", action="append", type=parse_grid_arg, default=[], metavar="NAME=V1,V2",
                   help="run every listed value of a parameter (repeatable; the product of all --grid runs)")
    p.add_argument("--workers", type=_non_negative_int, default=None, metavar="N",
                   help="worker processes (default 1: run in this process); with --engine ray: "
                        "actors (default 0: one per CPU of the cluster)")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local (default): this machine's process pool; ray: the Ray cluster "
                        "(ray start --head / --address) — the output folder must be shared")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="with --engine ray: the head node to join (default: this machine's cluster, "
                        "RAY_ADDRESS, else a private one)")
    p.add_argument("--licence", "--license", dest="licence", default="", metavar="TEXT",
                   help="the set's licence, written into dataset.json and the COCO annotations")
    p.add_argument("--val-fraction", type=_fraction, default=0.0, metavar="F",
                   help="put this share of the input files in a validation split (annotations_val.json)")
    p.add_argument("--shard", type=parse_shard_arg, default=(0, 1), metavar="i/n",
                   help="run only shard i of n (0-based); n runs with i = 0..n-1 cover the job once")
    p.add_argument("--force", action="store_true",
                   help="replace a different job in the output folder / overwrite files of a folder with no job.json")
    p.add_argument("--resume", action="store_true",
                   help="accepted for scripts: every run resumes (finished outputs in the manifest are skipped)")


def spec_from_args(args: argparse.Namespace) -> JobSpec:
    """Build the :class:`~engine.batch.plan.JobSpec` of a parsed ``batch`` command.

    Args:
        args: namespace from the parser built by :func:`add_parser`.

    Returns:
        The job: the op's base parameters from its own options, the grid from ``--grid`` and
        the op's grid options; with ``--procedural N`` the op's procedural variant on N seeds.

    Raises:
        ValueError: a ``--grid`` name given twice or also set by the op's options; invalid
            option values.
    """
    grid: dict[str, list[Any]] = {}
    for name, values in args.grid:
        if name in grid:
            raise ValueError(f"--grid {name} given twice; list all its values in one --grid")
        grid[name] = values
    op = get_op(args.op)
    extra = op.grid_from_args(args) if op.grid_from_args is not None else {}
    for name, values in extra.items():
        if name in grid:
            raise ValueError(f"--grid {name} conflicts with the op's own options for {name}")
        grid[name] = values
    base = dict(op.params_from_args(args)) if op.params_from_args is not None else {}
    engine = getattr(args, "engine", "local")
    workers = getattr(args, "workers", None)
    if workers is None:
        workers = 0 if engine == "ray" else 1
    if workers == 0 and engine != "ray":
        raise ValueError("--workers 0 (one per CPU of the cluster) needs --engine ray")
    run = {"workers": workers, "shard": args.shard, "force": args.force, "engine": engine,
           "address": getattr(args, "address", None),
           "dataset": DatasetOptions(licence=getattr(args, "licence", ""),
                                     val_fraction=getattr(args, "val_fraction", 0.0))}
    if getattr(args, "procedural", None):
        assert op.procedural_variant is not None  # --procedural exists only for such ops
        return JobSpec(op.procedural_variant, None, args.output, grid=grid,
                       params={**base, "size": args.size}, count=args.procedural, seed_start=args.seed_start,
                       **run)
    return JobSpec(args.op, getattr(args, "input", None), args.output, grid=grid, params=base,
                   count=getattr(args, "count", None), seed_start=getattr(args, "seed_start", 0), **run)


def cmd_batch(args: argparse.Namespace) -> int:
    """Run a parsed ``masquerade batch`` command with a progress line on stderr.

    Args:
        args: namespace from the parser built by :func:`add_parser`.

    Returns:
        0 when every task is done, 1 when some failed, 130 when cancelled.

    Raises:
        BatchError: the job could not start or had to stop (printed by ``engine.cli.run``).
        ValueError: invalid parameters.
    """
    spec = spec_from_args(args)
    lines = batch_engine_lines(spec)  # before any work: an explicit learned request may be refused
    token = CancelToken()
    printer = ProgressPrinter(sys.stderr)
    with _sigint_cancels(token):
        try:
            summary = run_batch(spec, _first_call_prints(lines, printer), token)
        except BatchCancelled as exc:
            printer.close()
            _print_summary(args.op, exc.summary)
            print("masquerade: cancelled; run the same command again to resume", file=sys.stderr)
            return 130
        except BatchError as exc:  # stopped (disk full, crashed worker): show what was done first
            printer.close()
            if isinstance(exc.summary, BatchSummary):
                _print_summary(args.op, exc.summary)
            raise
    printer.close()
    _print_summary(args.op, summary)
    return 0 if summary.failed == 0 else 1


def batch_engines() -> dict[str, BatchEngine]:
    """Every studio's ``batch.BATCH_ENGINES``: op name → how its engine is chosen.

    Returns:
        The ops that have a learned twin, with their :class:`~engine.studios.clitools.BatchEngine`.
    """
    out: dict[str, BatchEngine] = {}
    for studio in STUDIOS:
        out.update(getattr(studio_module(studio, "batch"), "BATCH_ENGINES", {}))
    return out


def batch_engine_lines(spec: JobSpec) -> list[str]:
    """The ``engine: <backend> (<reason>)`` lines of a job: one per distinct engine request.

    The request comes from the op's parameters (base options, overridden by ``--grid`` values);
    with several requested values each line ends with them, e.g. ``[method=keypoint]``.

    Args:
        spec: the job.

    Returns:
        The lines (empty for an op without a learned twin).

    Raises:
        LearnedBackendError: a learned engine was requested explicitly and cannot run.
        ValueError: an unknown request (e.g. ``--grid method=magic``).
    """
    engine = batch_engines().get(spec.op)
    if engine is None:
        return []
    axes = [list(spec.grid[k]) if k in spec.grid else [spec.params.get(k)] for k in engine.keys]
    several = any(len(values) > 1 for values in axes)
    lines: list[str] = []
    for combo in itertools.product(*axes):
        given = {k: v for k, v in zip(engine.keys, combo, strict=True) if v is not None}
        res = engine.resolve(given)
        tag = " [" + ", ".join(f"{k}={v}" for k, v in given.items()) + "]" if several and given else ""
        line = engine_line(res.backend, res.reason) + tag
        if line not in lines:
            lines.append(line)
    return lines


def _first_call_prints(lines: list[str], progress: Callable[[BatchProgress], None]
                       ) -> Callable[[BatchProgress], None]:
    """``progress`` that prints ``lines`` on stdout at its first call (the job has started)."""
    pending = list(lines)

    def call(p: BatchProgress) -> None:
        while pending:
            print(pending.pop(0), flush=True)
        progress(p)

    return call


class ProgressPrinter:
    """Progress callback writing one status line: rewritten in place on a terminal (≤ 5/s), else
    a new line at most every :attr:`LOG_INTERVAL_S` seconds.

    Args:
        stream: where to write (stderr).
    """

    TTY_INTERVAL_S = 0.2
    LOG_INTERVAL_S = 10.0

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_print = 0.0
        self._last_text = ""
        self._pending = ""

    def __call__(self, p: BatchProgress) -> None:
        text = format_progress(p)
        now = time.monotonic()
        self._pending = text
        interval = self.TTY_INTERVAL_S if self.tty else self.LOG_INTERVAL_S
        if now - self._last_print >= interval or p.completed == p.total:
            self._emit(text)
            self._last_print = now

    def _emit(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self._last_text)))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._last_text = text

    def close(self) -> None:
        """Write the latest state if it was throttled, and end the terminal line."""
        if self._pending and self._pending != self._last_text:
            self._emit(self._pending)
        if self.tty and self._last_text:
            self.stream.write("\n")
            self.stream.flush()


def format_progress(p: BatchProgress) -> str:
    """One status line, e.g. ``batch 120/400 (30%) · 2 failed · 50 skipped · ETA 0:23``.

    Args:
        p: the job's progress.

    Returns:
        The line (no newline).
    """
    parts = [f"batch {p.completed}/{p.total} ({100 * p.fraction:.0f}%)"]
    if p.failed:
        parts.append(f"{p.failed} failed")
    if p.skipped:
        parts.append(f"{p.skipped} skipped")
    if p.eta_s is not None and p.completed < p.total:
        parts.append(f"ETA {_hms(p.eta_s)}")
    return " · ".join(parts)


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60}:{rem % 60:02d}"


def _print_summary(op: str, s: BatchSummary, max_errors: int = 5) -> None:
    print(f"batch {op}: {s.done} done, {s.skipped} skipped, {s.failed} failed of {s.total} "
          f"in {s.elapsed_s:.1f} s -> {s.output_dir} (manifest {s.manifest_path.name})")
    for task_id, reason in s.errors[:max_errors]:
        print(f"  failed {task_id}: {reason}", file=sys.stderr)
    if len(s.errors) > max_errors:
        print(f"  ... and {len(s.errors) - max_errors} more failures (see {s.manifest_path})", file=sys.stderr)


@contextmanager
def _sigint_cancels(token: CancelToken) -> Iterator[None]:
    """While active, the first Ctrl+C (or SIGTERM) cancels ``token``: the job stops after the
    running tasks and can be resumed; a second Ctrl+C raises ``KeyboardInterrupt``, a second
    SIGTERM terminates. (Pool workers take SIGTERM's default action: a SIGTERM sent to the whole
    process group ends their running tasks unrecorded, and the resumed run redoes them.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object | None) -> None:
        token.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        again = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
        print(f"\nmasquerade: stopping after the running tasks ({again} again to abort)", file=sys.stderr)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
