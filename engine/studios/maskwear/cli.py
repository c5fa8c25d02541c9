"""``masquerade wear-mask IMAGE --out FILE [--template NAME|FILE.png] [--color HEX]
[--method keypoint|learned] [--faces all|largest] [--alpha-out FILE]``.

``--alpha-out`` writes the mask's coverage as a mode-L PNG the size of the input. No face → exit
code 3 with ``no face found in IMAGE``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from engine.errors import NoFaceError
from engine.faces.cli import NO_FACE_EXIT, quiet_native_stderr
from engine.imageio import (
    atomic_write_files,
    check_not_input,
    check_output_file,
    encode_for_path,
    load_image,
)
from engine.procedural.mask_templates import load_user_template, template_names
from engine.studios.clitools import add_overwrite_argument, engine_line


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``wear-mask`` sub-command.

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``wear-mask`` parser.
    """
    p = subparsers.add_parser("wear-mask", help="put a surgical / KN95 / N95 / cloth mask on every face",
                              description=__doc__)
    p.add_argument("image")
    p.add_argument("--out", required=True, help="output image")
    p.add_argument("--template", default="surgical-blue",
                   help=f"built-in template ({', '.join(template_names())}) or an RGBA PNG with a JSON anchor file")
    p.add_argument("--color", default=None, help="main colour #RRGGBB (built-in templates)")
    p.add_argument("--method", default="auto", choices=("auto", "keypoint", "learned"),
                   help="auto: the learned refiner only when it measured better (default)")
    p.add_argument("--faces", default="all", choices=("all", "largest"))
    p.add_argument("--lighting", type=float, default=0.8, help="shading adaptation strength 0-1 (default 0.8)")
    p.add_argument("--no-ear-loops", dest="ear_loops", action="store_false",
                   help="leave the drawn surgical masks' ear loops out")
    p.add_argument("--alpha-out", default=None, metavar="FILE", help="write the mask coverage (mode L PNG)")
    add_overwrite_argument(p)
    p.set_defaults(func=cmd_wear_mask)
    return p


def cmd_wear_mask(args: argparse.Namespace) -> int:
    """``wear-mask``: put a mask on the faces of one photo.

    Args:
        args: parsed ``wear-mask`` options.

    Returns:
        0, or ``NO_FACE_EXIT`` (3) when no face is found (other failures raise and are printed as one line by
        :func:`engine.cli.run`).
    """
    from engine.faces import FaceAnalyzer
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.learned import MASK_REFINER, method_resolution
    from engine.studios.maskwear.params import MaskWearParams

    check_output_file(args.out)
    if args.alpha_out:
        check_output_file(args.alpha_out)
    template = args.template if args.template.lower().endswith(".png") else None
    overwrite = getattr(args, "overwrite", False)
    check_not_input(args.out, args.image, template, overwrite=overwrite)
    check_not_input(args.alpha_out, args.image, template, overwrite=overwrite, option="--alpha-out")
    image = load_image(args.image)
    user = load_user_template(args.template) if args.template.lower().endswith(".png") else None
    params = MaskWearParams(template=args.template if user is None else "surgical-blue", color=args.color,
                            method=args.method, faces=args.faces, lighting=args.lighting,
                            user_template=user, ear_loops=args.ear_loops).validate()
    with quiet_native_stderr():
        faces = FaceAnalyzer().analyze(image, parse=False).faces
    try:
        result, alpha, targets = put_mask(image, faces, params)
    except NoFaceError:
        print(f"no face found in {args.image}", file=sys.stderr)
        return NO_FACE_EXIT
    files = {args.out: encode_for_path(args.out, result)}
    if args.alpha_out:
        files[args.alpha_out] = encode_for_path(args.alpha_out, np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8))
    atomic_write_files(files)  # all or none
    print(f"masked {len(targets)} face(s) → {Path(args.out)}")
    # The model is cached and a load failure remembered, so this says what put_mask really ran.
    _model, ran = MASK_REFINER.load_or_fallback(method_resolution(params.method))
    print(engine_line(ran.backend, ran.reason))
    return 0


def add_template_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``mask-template`` sub-command (a template made from a photo of a masked face).

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``mask-template`` parser.
    """
    p = subparsers.add_parser(
        "mask-template", help="make a reusable mask template from a photo of a person wearing a mask",
        description="masquerade mask-template PHOTO --out TEMPLATE.png: the mask on the largest face "
                    "(its colour differs from the forehead's skin) is unwarped to template space and saved "
                    "as TEMPLATE.png + TEMPLATE.json (anchors), usable with wear-mask --template TEMPLATE.png. "
                    "No face → exit 3; no mask on the face → one line, exit 1.")
    p.add_argument("image")
    p.add_argument("--out", required=True, help="template PNG (its anchors are written beside it as .json)")
    p.add_argument("--flatten", type=float, default=0.8, help="0-1: how much of the photo's shading is removed")
    add_overwrite_argument(p)
    p.set_defaults(func=cmd_mask_template)
    return p


def cmd_mask_template(args: argparse.Namespace) -> int:
    """``mask-template``: save the mask worn in a photo as a template.

    Args:
        args: parsed ``mask-template`` options.

    Returns:
        0, or ``NO_FACE_EXIT`` (3) when no face is found; a face without a mask raises a
        one-line :class:`ValueError`.
    """
    from engine.faces import FaceAnalyzer
    from engine.studios.maskwear.from_photo import save_template, template_from_photo

    if not args.out.lower().endswith(".png"):
        raise ValueError(f"{args.out}: a mask template is saved as a .png (its anchors go beside it as .json)")
    if not 0.0 <= args.flatten <= 1.0:
        raise ValueError(f"--flatten must be in [0, 1], got {args.flatten}")
    check_output_file(args.out)
    js = str(Path(args.out).with_suffix(".json"))
    check_output_file(js, image=False)
    overwrite = getattr(args, "overwrite", False)
    check_not_input(args.out, args.image, overwrite=overwrite)
    check_not_input(js, args.image, overwrite=overwrite)
    image = load_image(args.image)
    with quiet_native_stderr():
        faces = [f for f in FaceAnalyzer().analyze(image, parse=False).faces if f.landmarks is not None]
    if not faces:
        print(f"no face found in {args.image}", file=sys.stderr)
        return NO_FACE_EXIT
    try:
        template = template_from_photo(image, faces[0], name=Path(args.out).stem, flatten=args.flatten)
    except NoFaceError as exc:
        raise ValueError(f"{args.image}: {exc}") from None
    png, anchors = save_template(template, args.out)
    print(f"mask template → {png} (+ {anchors.name})")
    return 0


CLI_COMMANDS = (add_parser, add_template_parser)
"""The Mask-wear studio's command-line hooks (read by :mod:`engine.cli`)."""
