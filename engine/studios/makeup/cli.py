"""``masquerade makeup IMAGE --out FILE``: makeup styles on the faces of one photo (classical).

Per-region styles (``--lips retro --eyeshadow smoky ...``) or one ``--style`` on ``--regions``;
``--intensity`` scales everything; ``--masks-out DIR`` writes each region's soft mask as
``DIR/<region>.png`` (grey, 255 = full strength) plus ``DIR/changed.png`` (the pixels that may
differ from the input). ``--list-styles`` prints the styles and exits. No face → exit code 3,
``no face found in IMAGE``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from engine.faces.cli import NO_FACE_EXIT, quiet_native_stderr
from engine.studios.clitools import add_overwrite_argument


def add_makeup_arguments(p: argparse.ArgumentParser) -> None:
    """Add the makeup options shared by ``makeup`` and ``batch makeup``.

    Args:
        p: the parser to extend.
    """
    from engine.studios.makeup.params import DEFAULT_STYLE_REGIONS, REGIONS

    g = p.add_argument_group("makeup")
    for r in REGIONS:
        g.add_argument(f"--{r}", metavar="STYLE", default=None, help=f"style for the {r} ('none' = off)")
    g.add_argument("--style", metavar="STYLE", default=None,
                   help="one style for every region in --regions (per-region options override it)")
    g.add_argument("--regions", default="+".join(DEFAULT_STYLE_REGIONS), metavar="R1+R2",
                   help=f"regions --style applies to, joined by + or , (default {'+'.join(DEFAULT_STYLE_REGIONS)})")
    g.add_argument("--intensity", type=float, default=1.0, help="global intensity 0-1 (default 1)")
    for r in REGIONS:
        g.add_argument(f"--{r}-intensity", dest=f"{r}_intensity", type=float, default=1.0,
                       help=argparse.SUPPRESS)
    g.add_argument("--styles-file", default=None, metavar="JSON",
                   help="extra style file (schema: engine/studios/makeup/params.py)")


def flat_params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Validated flat makeup parameters from parsed :func:`add_makeup_arguments` options, as given.

    A region option that was not given is left out (so ``--style`` and ``--regions`` reach it, also
    when a batch grid changes them); ``--lips none`` is kept: the region switched off.

    Args:
        args: the parsed options.

    Returns:
        The given flat parameters (a partial mapping that
        :func:`engine.studios.makeup.params.normalize_flat` completes).

    Raises:
        ValueError: an unknown region or style, an intensity out of range.
    """
    from engine.studios.makeup.params import FLAT_DEFAULTS, REGIONS, normalize_flat

    given = {k: getattr(args, k) for k in FLAT_DEFAULTS if not (k in REGIONS and getattr(args, k) is None)}
    normalize_flat(given)  # refused here, before any work
    return given


def mask_files(folder: str | os.PathLike[str], enabled: list[str]) -> list[Path]:
    """The files ``--masks-out FOLDER`` writes: one per enabled region, then ``changed.png``.

    Args:
        folder: the ``--masks-out`` folder.
        enabled: the enabled regions (:meth:`~engine.studios.makeup.params.MakeupParams.enabled`).

    Returns:
        ``FOLDER/<region>.png`` ... ``FOLDER/changed.png``.

    Example:
        >>> [p.name for p in mask_files("m", ["cheek", "lips"])]
        ['cheek.png', 'lips.png', 'changed.png']
    """
    return [Path(folder) / f"{name}.png" for name in [*enabled, "changed"]]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``makeup`` sub-command.

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``makeup`` parser.
    """
    p = subparsers.add_parser("makeup", help="apply makeup styles per region (lips, eyeshadow, cheek, base ...)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", nargs="?", help="input image")
    p.add_argument("--out", metavar="FILE", help="output PNG/JPEG file")
    p.add_argument("--masks-out", metavar="DIR", default=None, help="write the region masks as PNGs here")
    p.add_argument("--list-styles", action="store_true", help="print the available styles and exit")
    add_overwrite_argument(p)
    add_makeup_arguments(p)
    p.set_defaults(func=cmd_makeup)
    return p


def cmd_makeup(args: argparse.Namespace) -> int:
    """Run ``masquerade makeup``.

    Args:
        args: parsed ``makeup`` options.

    Returns:
        0, or ``NO_FACE_EXIT`` (3) when no face is found (other failures raise and are printed as one line by
        :func:`engine.cli.run`).
    """
    from engine.errors import NoFaceError
    from engine.imageio import (
        atomic_write_files,
        check_not_input,
        check_output_file,
        check_output_folder,
        encode_for_path,
        load_image,
    )
    from engine.studios.makeup.editor import MakeupEditor
    from engine.studios.makeup.params import load_styles, normalize_flat, params_from_flat

    styles = load_styles([args.styles_file] if args.styles_file else ())
    if args.list_styles:
        for name, st in styles.items():
            print(f"{name:<10} [{', '.join(st.sets)}] regions: {', '.join(st.regions)} - {st.description}")
        return 0
    if not args.image or not args.out:
        raise ValueError("makeup needs IMAGE and --out FILE (or --list-styles)")
    flat = normalize_flat(flat_params_from_args(args))
    params = params_from_flat(flat, styles)
    if not params.enabled():
        raise ValueError("no region enabled: give --style or a per-region style such as --lips retro")
    check_output_file(args.out)
    if args.masks_out:
        check_output_folder(args.masks_out)
    overwrite = getattr(args, "overwrite", False)
    check_not_input(args.out, args.image, args.styles_file, overwrite=overwrite)
    if args.masks_out:
        for path in mask_files(args.masks_out, params.enabled()):
            check_not_input(path, args.image, args.styles_file, overwrite=overwrite, option="--masks-out")
    image = load_image(args.image)
    editor = MakeupEditor("classical", styles=styles)
    with quiet_native_stderr():
        try:
            editor.set_image(image)
        except NoFaceError as exc:
            failure = str(exc)
        else:
            failure = ""
    if failure:
        print(f"{failure} in {args.image}", file=sys.stderr)
        return NO_FACE_EXIT
    res = editor.edit(params)
    files: dict[str | os.PathLike[str], bytes] = {Path(args.out): encode_for_path(args.out, res.image)}
    if args.masks_out:
        folder = Path(args.masks_out)
        for name, m in res.masks.items():  # the files of mask_files()
            files[folder / f"{name}.png"] = encode_for_path(folder / f"{name}.png",
                                                            m.astype("uint8") * (255 if m.dtype == bool else 1))
        folder.mkdir(parents=True, exist_ok=True)
    out = atomic_write_files(files)[0]  # the result and every mask, or none of them
    regions = ", ".join(f"{r}={s}" for r, s in res.info["regions"].items())
    print(f"wrote {out} ({image.shape[1]}x{image.shape[0]}, {res.info['faces']} face(s); {regions}; "
          f"intensity {params.intensity:g})")
    return 0


CLI_COMMANDS = (add_parser,)
"""The Makeup studio's command-line hooks (read by :mod:`engine.cli`)."""
