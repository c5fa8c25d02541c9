"""``masquerade regenerate`` and ``masquerade parse-edit`` (Regenerate studio).

``masquerade regenerate IMAGE --out FILE [--mask EDITED_MASK.png] [--edits SPEC] [--reference REF]
[--regions hair,skin] [--blend 0-1] [--mask-order official|bisenet] [--mask-out FILE]
[--engine auto|classical|learned]``
regenerates IMAGE so that it follows the edited label map: ``--mask`` (a label PNG, see
:func:`engine.studios.regenerate.edits.load_label_map`) and/or ``--edits`` (label operations applied to
the mask, or to the image's own parsing when no mask is given, e.g. ``"dilate:hair:12;add:glasses"``).

``masquerade parse-edit IMAGE --out MASK.png [--edits SPEC] [--mask-order ...] [--color-out FILE]``
writes the image's parsing (optionally edited) as a label PNG to paint on or pass to ``--mask``.

No face in IMAGE (or in REF) → exit code 3 with ``no face found in FILE``.
"""

from __future__ import annotations

import argparse
import sys

from engine.errors import NoFaceError
from engine.faces.cli import NO_FACE_EXIT, quiet_native_stderr
from engine.imageio import (
    atomic_write_files,
    check_not_input,
    check_output_file,
    encode_for_path,
    load_image,
)
from engine.labels import CELEBAMASK_HQ, colorize_labels
from engine.studios.clitools import add_overwrite_argument
from engine.studios.regenerate.edits import (
    ORDERS,
    apply_edits,
    check_label_map_path,
    encode_label_map,
    load_label_map,
    parse_edits,
)


def parse_regions(text: str) -> tuple[str, ...]:
    """``"hair,skin"`` → ``("hair", "skin")`` (validated label names; ``""`` → none).

    Args:
        text: label names separated by commas.

    Returns:
        The names, in order.

    Raises:
        ValueError: an unknown label name.
    """
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for n in names:
        if n not in CELEBAMASK_HQ.classes:
            raise ValueError(f"unknown region {n!r}; use label names: {', '.join(CELEBAMASK_HQ.classes)}")
    return names


ENGINES: dict[str, str] = {"auto": "auto", "classical": "classical", "learned": "neural"}
"""``--engine`` choice → the editor's backend request."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``regenerate`` and ``parse-edit`` sub-commands.

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``regenerate`` parser.
    """
    p = subparsers.add_parser("regenerate", help="regenerate a face from an edited 19-label mask",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image")
    p.add_argument("--out", required=True, help="output image")
    p.add_argument("--mask", default=None, help="edited label map PNG (default: the image's own parsing)")
    p.add_argument("--edits", default="", help='label edits, e.g. "dilate:hair:12;scale:l_eye+r_eye:1.3;add:glasses"')
    p.add_argument("--mask-order", default="official", choices=ORDERS, help="value order of a grey --mask file")
    p.add_argument("--reference", default=None, help="style reference face image")
    p.add_argument("--regions", default="", help="labels styled from the reference, e.g. hair,skin,u_lip,l_lip")
    p.add_argument("--blend", type=float, default=1.0, help="reference style weight 0-1 (default 1)")
    p.add_argument("--mask-out", default=None, metavar="FILE", help="also write the edited mask used (official order)")
    p.add_argument("--engine", default="auto", choices=tuple(ENGINES),
                   help="auto (the learned inpainting network only when its card says it measured better than "
                        "classical), classical, or learned (fails in one line without a usable checkpoint)")
    add_overwrite_argument(p)
    p.set_defaults(func=cmd_regenerate)

    q = subparsers.add_parser("parse-edit", help="write a face's 19-label parsing, optionally edited, as a mask PNG",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("image")
    q.add_argument("--out", required=True, help="label map PNG to write")
    q.add_argument("--edits", default="", help="label edits (see masquerade regenerate --help)")
    q.add_argument("--mask-order", default="official", choices=ORDERS, help="value order to write")
    q.add_argument("--color-out", default=None, metavar="FILE", help="also write a palette view")
    add_overwrite_argument(q)
    q.set_defaults(func=cmd_parse_edit)
    return p


def cmd_regenerate(args: argparse.Namespace) -> int:
    """``regenerate``: regenerate a face photo so that it follows an edited label map.

    Args:
        args: parsed ``regenerate`` options.

    Returns:
        0, or ``NO_FACE_EXIT`` (3) when no face is found (other failures raise and are printed as one line by
        :func:`engine.cli.run`).
    """
    from engine.studios.regenerate.classical import resize_labels
    from engine.studios.regenerate.editor import RegenerateEditor
    from engine.studios.regenerate.params import RegenerateParams

    edits = parse_edits(args.edits)
    regions = parse_regions(args.regions)
    check_output_file(args.out)
    if args.mask_out:
        check_label_map_path(args.mask_out)
    overwrite = getattr(args, "overwrite", False)
    for out, option in ((args.out, "--out"), (args.mask_out, "--mask-out")):
        check_not_input(out, args.image, args.mask, args.reference, overwrite=overwrite, option=option)
    image = load_image(args.image)
    if regions and not args.reference:
        raise ValueError("--regions needs --reference")
    mask = load_label_map(args.mask, args.mask_order) if args.mask else None
    reference = load_image(args.reference) if args.reference else None
    editor = RegenerateEditor(ENGINES[args.engine])
    try:
        with quiet_native_stderr():
            editor.set_image(image)
    except NoFaceError:
        print(f"no face found in {args.image}", file=sys.stderr)
        return NO_FACE_EXIT
    if reference is not None:
        try:
            with quiet_native_stderr():
                editor.set_reference(reference)
        except NoFaceError:
            print(f"no face found in {args.reference}", file=sys.stderr)
            return NO_FACE_EXIT
    base = editor.source_labels if mask is None else resize_labels(mask, image.shape[:2])
    if mask is not None and abs(mask.shape[0] / mask.shape[1] - image.shape[0] / image.shape[1]) > 0.02:
        raise ValueError(f"mask {mask.shape[1]}x{mask.shape[0]} does not match the image's aspect "
                         f"({image.shape[1]}x{image.shape[0]})")
    edited = apply_edits(base, edits)
    res = editor.edit(RegenerateParams(edited, reference_regions=regions, blend=args.blend))
    files = {args.out: encode_for_path(args.out, res.image)}
    if args.mask_out:
        files[args.mask_out] = encode_label_map(args.mask_out, edited)
    atomic_write_files(files)  # all or none
    regs = res.info.get("regions", {})
    print(f"regenerated {len(regs)} region(s) ({res.info['elapsed_ms']:.0f} ms, {res.info['backend']}) → {args.out}")
    for name, how in regs.items():
        print(f"  {name}: {how}")
    return 0


def cmd_parse_edit(args: argparse.Namespace) -> int:
    """``parse-edit``: write a face's 19-label parsing, optionally edited, as a label PNG.

    Args:
        args: parsed ``parse-edit`` options.

    Returns:
        0, or ``NO_FACE_EXIT`` (3) when no face is found (other failures raise and are printed as one line by
        :func:`engine.cli.run`).
    """
    from engine.faces import FaceAnalyzer

    edits = parse_edits(args.edits)
    check_label_map_path(args.out)
    if args.color_out:
        check_output_file(args.color_out)
    overwrite = getattr(args, "overwrite", False)
    check_not_input(args.out, args.image, overwrite=overwrite)
    check_not_input(args.color_out, args.image, overwrite=overwrite, option="--color-out")
    image = load_image(args.image)
    with quiet_native_stderr():
        res = FaceAnalyzer().analyze(image)
    if not res.faces or res.parsing is None:  # analyze() parses whenever it finds a face
        print(f"no face found in {args.image}", file=sys.stderr)
        return NO_FACE_EXIT
    labels = apply_edits(res.parsing, edits)
    files = {args.out: encode_label_map(args.out, labels, args.mask_order)}
    if args.color_out:
        files[args.color_out] = encode_for_path(args.color_out, colorize_labels(labels))
    atomic_write_files(files)  # all or none
    print(f"wrote {args.out} ({args.mask_order} order, {len(edits)} edit(s))")
    return 0


CLI_COMMANDS = (add_parser,)
"""The Regenerate studio's command-line hooks (read by :mod:`engine.cli`)."""
