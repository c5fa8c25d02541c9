"""Headless command line: ``masquerade <command> ...``.

The console script ``masquerade`` (``app.launcher:main``) sends every sub-command here and opens
the GUI when no command is given. This module never imports Qt and names no studio: the studio
packages bring their own commands (:mod:`engine.studios.registry`).

Exit codes: 0 ok, 1 the operation failed (unreadable input, write error ...), 2 bad usage,
130 cancelled. Errors print one line on stderr: ``masquerade: error: <reason>``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from engine.errors import Cancelled, MasqueradeError
from engine.studios.registry import AddParser, studio_cli_commands


def command_hooks() -> tuple[AddParser, ...]:
    """Every sub-command hook, in the order of ``masquerade --help``.

    The studio packages' hooks come first (:func:`engine.studios.registry.studio_cli_commands`),
    then the tools': ``batch``, ``analyze``, ``weights``, ``train``, ``metrics``.

    Returns:
        The hooks; each ``add_parser(subparsers)`` creates its sub-parser(s) and sets
        ``func=<callable(args) -> int>`` with ``set_defaults``.
    """
    from engine.batch import cli as batch_cli
    from engine.faces import cli as faces_cli
    from engine.metrics import cli as metrics_cli
    from engine.training import cli as training_cli
    from engine.weights import cli as weights_cli

    tools: tuple[AddParser, ...] = (batch_cli.add_parser, faces_cli.add_parser, weights_cli.add_parser,
                                    training_cli.add_parser, metrics_cli.add_parser)
    return studio_cli_commands() + tools


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full ``masquerade`` argument parser (GUI options + headless sub-commands).

    Args:
        command: ``"batch"``: only the ``batch`` sub-command is added (a batch run does not import
            every studio's and tool's command modules — the training and metrics tools import
            torch — before its workers can start); anything else: all of them.

    Returns:
        The parser; a parsed command carries its ``func``.
    """
    p = argparse.ArgumentParser(
        prog="masquerade",
        description="Masquerade face studio. Without a command it opens the GUI.",
    )
    p.add_argument("--open", metavar="IMAGE", help="GUI: open this image at start")
    p.add_argument("--studio", default=None, help="GUI: studio to show (e.g. opera)")
    p.add_argument("--screenshot", metavar="FILE",
                   help="GUI: render the main window to FILE (PNG) and exit")
    p.add_argument("--size", default="1280x800", help="GUI: window size WxH for --screenshot (default 1280x800)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    if command == "batch":
        from engine.batch import cli as batch_cli

        hooks: tuple[AddParser, ...] = (batch_cli.add_parser,)
    else:
        hooks = command_hooks()
    for add_parser in hooks:
        add_parser(sub)
    return p


def run(args: argparse.Namespace) -> int:
    """Run a parsed headless command, printing failures as one line on stderr.

    Args:
        args: a namespace from :func:`build_parser` with a command.

    Returns:
        The exit code: the command's own, 1 when it failed, 2 without a command, 130 when cancelled.
    """
    func = getattr(args, "func", None)
    if func is None:
        print(f"masquerade: error: unknown command {args.command!r}", file=sys.stderr)
        return 2
    try:
        return int(func(args))
    except Cancelled:
        print("masquerade: cancelled", file=sys.stderr)
        return 130
    except (MasqueradeError, ValueError) as exc:
        print(f"masquerade: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file or folder the command touched directly (mkdir, open ...)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"masquerade: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except MemoryError:
        print("masquerade: error: out of memory (try a smaller image)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("masquerade: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Headless entry point (``python -m engine``): sub-commands only, no GUI.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code (see :func:`run`; 2 without a command).
    """
    given = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(given[0] if given else None).parse_args(given)
    if args.command is None:
        print("masquerade: error: no command given (the GUI starts from `masquerade`/`python -m app`)", file=sys.stderr)
        return 2
    return run(args)
