"""``masquerade express`` and ``masquerade anime generate``.

``masquerade express IMAGE --out FILE [--angry x] [--sad x] [--smile x] [--surprised x]
[--intensity x] [--blink-left x ... --head-roll x] [--preset FILE] [--copy-from IMAGE]
[--save-preset FILE] [--attention-out FILE] [--assume-crop]`` applies the classical expression rig
to the largest anime face. The low-level sliders are each −1…1 (0 = unchanged); ``--preset`` starts
from a preset (a JSON file or a built-in name: ``smile_1.0``, ``wink``, ``shout``, ``pout`` ...) and
the sliders given on the command line replace its values; ``--copy-from`` gives the face the
expression of another analysed picture (slider values read back from both pictures' part shapes);
``--save-preset`` also writes the expression that ran as a preset. ``--attention-out`` writes the
region weight (white = the rig may change the pixel, the classical counterpart of the learned model's
attention mask). Tight crops are recognised automatically (a face-like layout of eyes, brows and
mouth); ``--assume-crop`` takes the whole picture as the face even without one. No anime face → exit
code 3 and ``no face found in IMAGE``.

``masquerade anime generate --seed N [--angry x ...] [--size S] [--hair STYLE] --out FILE
[--parts-out JSON]`` draws a procedural anime face (and its ground-truth part boxes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.faces.cli import NO_FACE_EXIT
from engine.labels import EXPRESSION_LABELS
from engine.procedural.anime_faces import HAIR_STYLES
from engine.studios.clitools import add_overwrite_argument, engine_line
from engine.studios.expression.params import LOW_LEVEL


def _unit(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {v}")
    return v


def _add_labels(p: argparse.ArgumentParser, default: float | None = 0.0) -> None:
    for name in EXPRESSION_LABELS:
        p.add_argument(f"--{name}", type=_unit, default=default, metavar="X", help=f"{name} intensity 0–1 (default 0)")


def _signed(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1], got {text!r}") from None
    if not -1.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [-1, 1], got {v}")
    return v


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``express`` and ``anime`` sub-commands.

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``express`` parser.
    """
    ex = subparsers.add_parser("express", help="change the expression of an anime face (label sliders)",
                               description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("image", help="input image with an anime face")
    ex.add_argument("--out", required=True, metavar="FILE", help="output image")
    _add_labels(ex, None)
    ex.add_argument("--intensity", type=float, default=None, metavar="X", help="overall multiplier 0–2 (default 1)")
    for name in LOW_LEVEL:
        ex.add_argument(f"--{name.replace('_', '-')}", dest=name, type=_signed, default=None, metavar="X",
                        help=f"{name.replace('_', ' ')} −1…1 (default 0)")
    ex.add_argument("--preset", metavar="FILE", help="start from a preset (JSON file or built-in name)")
    ex.add_argument("--copy-from", metavar="IMAGE", help="copy the expression of another anime picture")
    ex.add_argument("--save-preset", metavar="FILE", help="also write the expression that ran as a preset")
    ex.add_argument("--attention-out", metavar="FILE", help="also write the edit-region weight (grey PNG)")
    ex.add_argument("--backend", choices=("auto", "classical", "neural"), default="auto",
                    help="auto: the learned GAN only when its card measured it better than the rig (default)")
    ex.add_argument("--assume-crop", action="store_true",
                    help="if no face is detected, treat the whole picture as the face (tight crops)")
    add_overwrite_argument(ex)
    ex.set_defaults(func=cmd_express)

    an = subparsers.add_parser("anime", help="procedural anime faces")
    sub = an.add_subparsers(dest="anime_command", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="draw a seeded anime face with an expression")
    gen.add_argument("--seed", type=int, required=True, help="identity seed")
    gen.add_argument("--size", type=int, default=512, help="side in pixels (default 512)")
    gen.add_argument("--hair", choices=HAIR_STYLES, default=None, help="hair style (default: from the seed)")
    _add_labels(gen)
    gen.add_argument("--out", required=True, metavar="FILE", help="output image")
    gen.add_argument("--parts-out", metavar="JSON", help="also write the ground-truth part boxes and key points")
    gen.set_defaults(func=cmd_anime_generate)
    return ex


def cmd_express(args: argparse.Namespace) -> int:
    """Run ``masquerade express``.

    Args:
        args: parsed ``express`` options.

    Returns:
        0, or :data:`NO_FACE_EXIT` (3) when no face is found (other failures raise and are printed as one line by
        :func:`engine.cli.run`).
    """
    from engine.imageio import (
        atomic_write_files,
        check_not_input,
        check_output_file,
        encode_for_path,
        load_image,
    )
    from engine.studios.expression.editor import ExpressionEditor
    from engine.studios.expression.params import ExpressionParams
    from engine.studios.expression.presets import copy_expression, load_preset, save_preset

    values = load_preset(args.preset)[1].to_dict() if args.preset else ExpressionParams().to_dict()
    for name in (*EXPRESSION_LABELS, "intensity", *LOW_LEVEL):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    check_output_file(args.out)
    if args.save_preset:
        check_output_file(args.save_preset, image=False)
    if args.attention_out:
        check_output_file(args.attention_out)
    overwrite = getattr(args, "overwrite", False)
    check_not_input(args.out, args.image, overwrite=overwrite)
    check_not_input(args.attention_out, args.image, overwrite=overwrite, option="--attention-out")
    img = load_image(args.image)
    ed = ExpressionEditor(backend=args.backend, assume_crop=args.assume_crop)
    ed.set_image(img)
    if not ed.faces:
        print(f"no face found in {args.image}", file=sys.stderr)
        return NO_FACE_EXIT
    if args.copy_from:
        src = ExpressionEditor("classical", assume_crop=args.assume_crop)
        src.set_image(load_image(args.copy_from))
        if not src.faces:
            print(f"no face found in {args.copy_from}", file=sys.stderr)
            return NO_FACE_EXIT
        values.update(copy_expression(src.face, ed.face).low_level())
    params = ExpressionParams.from_dict(values)
    res = ed.edit(params)
    files = {args.out: encode_for_path(args.out, res.image)}
    if args.attention_out:
        files[args.attention_out] = encode_for_path(args.attention_out, res.masks["weight"])
    out = atomic_write_files(files)[0]  # all or none
    if args.save_preset:
        save_preset(args.save_preset, params, Path(args.save_preset).stem)
    found = ", ".join(k for k, v in res.info["parts_found"].items() if v) or "none"
    estimated = ", ".join(res.info.get("parts_estimated", [])) or "none"
    engine = "learned GAN" if res.info.get("backend") == "neural" else "classical rig"
    print(f"wrote {out} ({img.shape[1]}x{img.shape[0]}, {engine}, {res.info['elapsed_ms']:.0f} ms; "
          f"parts found: {found}; estimated: {estimated})")
    print(engine_line(str(res.info.get("backend", "classical")), str(res.info.get("backend_reason", ""))))
    return 0


def cmd_anime_generate(args: argparse.Namespace) -> int:
    """Run ``masquerade anime generate``.

    Args:
        args: parsed ``anime generate`` options.

    Returns:
        0 (failures raise and are printed as one line by :func:`engine.cli.run`).
    """
    from engine.imageio import atomic_write_files, check_output_file, encode_for_path
    from engine.procedural.anime_faces import generate_anime_face

    check_output_file(args.out)
    if args.parts_out:
        check_output_file(args.parts_out, image=False)

    face = generate_anime_face(args.seed, args.size, {n: getattr(args, n) for n in EXPRESSION_LABELS},
                               hair_style=args.hair)
    files = {args.out: encode_for_path(args.out, face.image)}
    if args.parts_out:
        doc = {"seed": face.seed, "size": args.size, "expression": face.expression.to_dict(), "style": face.style,
               "boxes": {k: [round(float(v), 2) for v in b] for k, b in face.boxes.items()},
               "keypoints": {k: [[round(float(x), 2) for x in p] for p in v] for k, v in face.keypoints.items()}}
        files[args.parts_out] = json.dumps(doc, indent=1).encode()
    out = atomic_write_files(files)[0]  # all or none
    print(f"wrote {out} (seed {face.seed}, {face.style['hair_style']} hair)")
    return 0


CLI_COMMANDS = (add_parser,)
"""The Expression studio's command-line hooks (read by :mod:`engine.cli`)."""
