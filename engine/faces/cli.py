"""``masquerade analyze IMAGE --out DIR [--anime]``: faces, landmarks and parsing to files.

Writes ``DIR/landmarks.json`` (``{"faces": [{"box", "score", "landmarks"}], ...}``),
``DIR/parsing.png`` (mode L, official CelebAMask-HQ order, input size) and
``DIR/parsing_color.png`` (palette view); with ``--anime`` ``DIR/anime.json`` and
``DIR/anime_parts.png``. No face → exit code 3, ``no face found in IMAGE``. An output file that is
the input image is refused before any work unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from engine.imageio import (
    atomic_write_files,
    check_not_input,
    check_output_folder,
    encode_for_path,
    load_image,
)

PHOTO_OUTPUTS: tuple[str, ...] = ("landmarks.json", "parsing.png", "parsing_color.png")
"""The files ``analyze`` writes into ``--out`` for photos."""

ANIME_OUTPUTS: tuple[str, ...] = ("anime.json", "anime_parts.png")
"""The files ``analyze --anime`` writes into ``--out``."""

NO_FACE_EXIT = 3
"""Exit code of every command that finds no face in its input (``analyze``, ``makeup``, ``express`` ...)."""


_QUIET_LOCK = threading.Lock()
_QUIET = {"depth": 0, "saved": -1}
"""How many :func:`quiet_native_stderr` blocks are open, and the real stderr's saved descriptor."""


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native libraries (TFLite / MediaPipe logs) print on file descriptor 2.

    For command-line use only: it redirects the whole process's stderr while active. Threads may
    nest it (a batch's worker threads): the first one in redirects, the last one out restores.

    Returns:
        A context manager; the file descriptor is restored when it exits.
    """
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            saved = os.dup(2)
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(null, 2)
                finally:
                    os.close(null)
            except OSError:
                os.close(saved)
                raise
            _QUIET["saved"] = saved
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.flush()
                os.dup2(_QUIET["saved"], 2)
                os.close(_QUIET["saved"])


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``analyze`` sub-command.

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``analyze`` parser.
    """
    p = subparsers.add_parser("analyze", help="detect faces, 478 landmarks and 19-class parsing",
                              description=__doc__)
    p.add_argument("image", help="input image")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--anime", action="store_true", help="analyse anime faces instead of photos")
    p.add_argument("--detector", default="auto", choices=("auto", "mediapipe", "retinaface", "yunet"),
                   help="auto: MediaPipe (or RetinaFace when its weights are present) + YuNet, boxes merged")
    p.add_argument("--parser", default="auto", choices=("auto", "geometric", "learned", "parsenet", "bisenet"),
                   help="auto: ParseNet / BiSeNet when their weights are present, else the learned parser when its "
                        "card says it measured better than the geometric one, else geometric")
    p.add_argument("--overwrite", action="store_true",
                   help="allow an output file to replace the input image (refused otherwise)")
    p.set_defaults(func=cmd_analyze)
    return p


def cmd_analyze(args: argparse.Namespace) -> int:
    """``analyze``: write the faces, landmarks and parsing of one image (or its anime faces).

    Args:
        args: parsed ``analyze`` options.

    Returns:
        0, or :data:`NO_FACE_EXIT` (3) when no face is found (other failures raise and are printed
        as one line by :func:`engine.cli.run`).
    """
    check_output_folder(args.out)
    for name in ANIME_OUTPUTS if args.anime else PHOTO_OUTPUTS:
        check_not_input(Path(args.out) / name, args.image, overwrite=args.overwrite)
    image = load_image(args.image)
    out = Path(args.out)  # created only when there is something to write
    if args.anime:
        from engine.faces.anime_cli import analyze_anime

        if not analyze_anime(image, args.image, out):
            print(f"no face found in {args.image}", file=sys.stderr)
            return NO_FACE_EXIT
        return 0
    from engine.faces.analyzer import FaceAnalyzer
    from engine.labels import colorize_labels

    with quiet_native_stderr():
        res = FaceAnalyzer(detector=args.detector, parser=args.parser).analyze(image)
    parsing = res.parsing
    if not res.faces or parsing is None:  # analyze() parses whenever it finds a face
        print(f"no face found in {args.image}", file=sys.stderr)
        return NO_FACE_EXIT
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "image": str(args.image),
        "size": [int(image.shape[1]), int(image.shape[0])],
        "label_scheme": "celebamask_hq",
        "backends": {k: v for k, v in res.info.items() if k in ("detector", "parser", "geometric_faces")},
        "faces": [f.to_json() for f in res.faces],
    }
    atomic_write_files({out / "landmarks.json": json.dumps(doc, indent=1).encode(),  # all three or none
                        out / "parsing.png": encode_for_path(out / "parsing.png", parsing),
                        out / "parsing_color.png": encode_for_path(out / "parsing_color.png",
                                                                   colorize_labels(parsing))})
    with_lm = sum(f.landmarks is not None for f in res.faces)
    print(f"{len(res.faces)} face(s), {with_lm} with landmarks → {out}")
    return 0
