"""What the studios' command lines share: the ``engine:`` line and the ``--overwrite`` option.

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
