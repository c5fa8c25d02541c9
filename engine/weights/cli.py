"""``masquerade weights list|verify|import``: the model manager on the command line.

Examples::

    masquerade weights list                      # every model: present/missing, size, licence, quality
    masquerade weights verify                    # hash + strict shape check of every present file
    masquerade weights import ~/Downloads/parsing_parsenet.pth
    masquerade weights import vgg.pth --as lpips_vgg --sha256 1a2b3c4d

``verify`` exits 1 when a present file fails (wrong hash or shapes); ``import`` exits 1 with a
one-line reason when it refuses a file, and then writes nothing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from engine.weights.catalog import (
    KNOWN_WEIGHTS,
    ModelEntry,
    format_size,
    import_weights,
    list_models,
)

COLUMNS: tuple[tuple[str, int], ...] = (("MODEL", 26), ("STUDIO", 11), ("BACKEND", 32), ("SIZE", 9),
                                        ("SHA256", 9), ("LICENCE", 44), ("QUALITY", 0))
"""Table columns and their widths (0: the rest of the line)."""


def _sha_text(e: ModelEntry) -> str:
    if not e.present:
        return "–"
    if not e.sha256:
        return "unchecked"
    return {True: "ok", False: "MISMATCH", None: "no ref"}[e.sha256_ok]


def format_table(entries: Sequence[ModelEntry]) -> str:
    """The entries as a fixed-width text table, one model per line plus its status line.

    Args:
        entries: the models, e.g. from :func:`engine.weights.catalog.list_models`.

    Returns:
        The table (no trailing newline).
    """

    def row(cells: Sequence[str]) -> str:
        out = []
        for (_, width), cell in zip(COLUMNS, cells, strict=True):
            out.append(cell if width == 0 else (cell if len(cell) < width else cell[: width - 2] + "…").ljust(width))
        return "".join(out).rstrip()

    lines = [row([name for name, _ in COLUMNS])]
    for e in entries:
        lines.append(row([e.name, e.studio or "–", e.backend, format_size(e.size), _sha_text(e), e.licence or "–",
                          e.quality or "–"]))
        lines.append(f"    {e.state} · {e.status}" + (f" · {e.path}" if e.path else f" · {e.used_for}"))
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    """``weights list`` / ``weights verify``: print every model (``verify`` also hashes and loads them).

    Args:
        args: parsed options (``command_weights`` says which action).

    Returns:
        0, or 1 when ``verify`` found a present file that fails.
    """
    entries = list_models(verify=args.command_weights == "verify")
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
    else:
        print(format_table(entries))
    if args.command_weights == "verify":
        bad = [e for e in entries if e.present and not e.ok]
        checked = sum(1 for e in entries if e.present)
        if not args.json:
            print(f"verified {checked} present file(s): {len(bad)} failed")
        return 1 if bad else 0
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``weights import``: check a weight file and copy it where the app finds it.

    Args:
        args: parsed ``weights import`` options.

    Returns:
        0 (a refused file raises :class:`~engine.errors.CheckpointError`, printed as one line).
    """
    res = import_weights(args.path, args.dest, expected_sha256=args.sha256, as_key=args.as_key,
                         overwrite=args.overwrite)
    print(res.message)
    print(f"sha256 {res.sha256}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``weights`` with its ``list``, ``verify`` and ``import`` sub-commands.

    Args:
        sub: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``weights`` parser.
    """
    w = sub.add_parser("weights", help="list, verify and import model weights (model manager)",
                       description="Every model the app knows: project checkpoints and third-party files.")
    wsub = w.add_subparsers(dest="command_weights", metavar="ACTION", required=True)
    for name, text in (("list", "list every model: present/missing, size, licence, measured quality"),
                       ("verify", "also hash every present file and load it with strict shapes (exit 1 on failure)")):
        p = wsub.add_parser(name, help=text)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.set_defaults(func=cmd_list)
    keys = ", ".join(k.key for k in KNOWN_WEIGHTS)
    imp = wsub.add_parser("import", help="check a downloaded weight file and copy it where the app finds it")
    imp.add_argument("path", help="a third-party .pth/.pt/.bin/.ckpt file, or a project checkpoint (its .json card)")
    imp.add_argument("--dest", default=None, help="destination folder (default: the first folder the app searches)")
    imp.add_argument("--sha256", default=None, help="expected SHA-256 (or its first 8+ hex digits) from the source")
    imp.add_argument("--as", dest="as_key", default=None, metavar="KEY",
                     help=f"which known model the file is (default: by name, hash, then tensor names): {keys}")
    imp.add_argument("--overwrite", action="store_true", help="replace a different file already at the destination")
    imp.set_defaults(func=cmd_import)
    return w
