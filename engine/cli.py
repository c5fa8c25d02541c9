"""Headless command line: ``masquerade <command> ...``.

The console script ``masquerade`` (``app.launcher:main``) sends every sub-command here and opens
the GUI when no command is given. This module never imports Qt.

Exit codes: 0 ok, 1 the operation failed (unreadable input, write error ...), 2 bad usage,
130 cancelled. Errors print one line on stderr: ``masquerade: error: <reason>``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from engine.errors import Cancelled, MasqueradeError

COMMAND_MODULES: tuple[str, ...] = ("engine.batch.cli", "engine.faces.cli", "engine.studios.opera.cli",
                                  "engine.studios.expression.cli", "engine.studios.maskwear.cli",
                                  "engine.studios.makeup.cli",
                                  "engine.weights.cli",
                                  "engine.studios.regenerate.cli", "engine.training.cli",
                                  "engine.metrics.cli",)
"""Modules that add sub-commands: each has ``add_parser(subparsers)`` which creates its
sub-parser(s) and sets ``func=<callable(args) -> int>`` with ``set_defaults``. A studio adds its
commands by adding its module here."""


def add_xdog_arguments(p: argparse.ArgumentParser) -> None:
    """Add the XDoG options (``--sigma --k --gamma --epsilon --phi --threshold``) to a parser."""
    from engine.studios.opera.classical import XDoGParams

    d = XDoGParams()
    g = p.add_argument_group("XDoG line art")
    g.add_argument("--sigma", type=float, default=d.sigma, help=f"inner Gaussian σ in pixels (default {d.sigma})")
    g.add_argument("--k", type=float, default=d.k, help=f"outer/inner σ ratio (default {d.k})")
    g.add_argument("--gamma", "--tau", dest="gamma", type=float, default=d.gamma,
                   help=f"outer Gaussian weight γ (τ) (default {d.gamma})")
    g.add_argument("--epsilon", type=float, default=d.epsilon, help=f"white level ε (default {d.epsilon})")
    g.add_argument("--phi", type=float, default=d.phi, help=f"soft-threshold steepness φ (default {d.phi})")
    g.add_argument("--threshold", type=float, default=None, help="binarise at this level in [0, 1] (default: soft lines)")


def xdog_params_from_args(args: argparse.Namespace):
    """:class:`~engine.studios.opera.classical.XDoGParams` from parsed XDoG options (validated)."""
    from engine.studios.opera.classical import XDoGParams

    return XDoGParams(sigma=args.sigma, k=args.k, gamma=args.gamma, epsilon=args.epsilon,
                      phi=args.phi, threshold=args.threshold).validate()


def build_parser() -> argparse.ArgumentParser:
    """The full ``masquerade`` argument parser (GUI options + headless sub-commands)."""
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

    la = sub.add_parser("lineart", help="extract opera line art from one image (XDoG)")
    la.add_argument("image", help="input image")
    la.add_argument("--out", required=True, help="output PNG/JPEG file")
    add_xdog_arguments(la)
    la.set_defaults(func=cmd_lineart)

    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return p


def cmd_lineart(args: argparse.Namespace) -> int:
    from engine.imageio import check_output_file, load_image, save_image
    from engine.studios.opera.classical import xdog

    params = xdog_params_from_args(args)
    check_output_file(args.out)
    img = load_image(args.image)
    out = save_image(args.out, xdog(img, params))
    print(f"wrote {out} ({img.shape[1]}x{img.shape[0]})")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run a parsed headless command; returns the exit code and prints one-line errors."""
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Headless entry point (``python -m engine``): sub-commands only, no GUI."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        print("masquerade: error: no command given (the GUI starts from `masquerade`/`python -m app`)", file=sys.stderr)
        return 2
    return run(args)
