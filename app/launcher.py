"""``masquerade`` console script: headless sub-commands go to :mod:`engine.cli`; none opens the GUI."""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from engine.cli import build_parser, run


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line; run a headless command or start the GUI. Returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command is not None:
        return run(args)
    from app.gui import run_gui

    return run_gui(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
