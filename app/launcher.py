"""``masquerade`` console script: headless sub-commands go to :mod:`engine.cli`; none opens the GUI."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from engine.cli import build_parser, run


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line; run a headless command or start the GUI.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code of the command, or of the GUI.
    """
    args = build_parser().parse_args(argv)
    if args.command is not None:
        return run(args)
    from app.gui import run_gui

    return run_gui(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
