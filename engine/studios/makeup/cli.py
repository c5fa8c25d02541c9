"""``masquerade makeup IMAGE --out FILE``: makeup styles on the faces of one photo (classical).

Per-region styles (``--lips retro --eyeshadow smoky ...``) or one ``--style`` on ``--regions``;
``--intensity`` scales everything; ``--masks-out DIR`` writes each region's soft mask as
``DIR/<region>.png`` (grey, 255 = full strength) plus ``DIR/changed.png`` (the pixels that may
differ from the input). ``--list-styles`` prints the styles and exits. No face → exit code 3,
``no face found in IMAGE``.

Makeup from a photo: ``--reference REF`` paints the ``--regions`` with the makeup measured on REF's
face, relative to its skin (``--lips-reference REF2`` ... give one region its own photo);
``--remove 0.8`` takes the makeup off the removable regions nothing else paints (lips, eyeshadow,
eyeliner, cheek); ``--save-style NAME`` stores the measured regions as a named style in
``--styles-out`` (default: ``reference_styles.json`` in the user style folder), readable like the
presets. A reference without a face → exit code 3.
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
    from engine.studios.makeup.params import REFERENCE_REGIONS

    g.add_argument("--reference", default=None, metavar="IMAGE",
                   help="take the makeup of --regions from this photo's face (relative to its skin)")
    for r in REFERENCE_REGIONS:
        g.add_argument(f"--{r}-reference", dest=f"{r}_reference", default=None, metavar="IMAGE",
                       help=f"take the {r} makeup from this photo (overrides --reference and styles there)")
    g.add_argument("--remove", type=float, default=0.0, metavar="K",
                   help="remove makeup (0-1) from lips, eyeshadow, eyeliner and cheek where nothing else paints")


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
    p.add_argument("--save-style", metavar="NAME", default=None,
                   help="save the regions measured on the reference photo(s) as the style NAME")
    p.add_argument("--styles-out", metavar="JSON", default=None,
                   help="style file --save-style adds to (default: reference_styles.json in the user style folder)")
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
    from engine.imageio import atomic_write_files, encode_for_path, load_image
    from engine.studios.makeup.editor import MakeupEditor
    from engine.studios.makeup.params import (
        load_styles,
        normalize_flat,
        params_from_flat,
        region_sources,
        save_styles,
        user_styles_dir,
    )
    from engine.studios.makeup.reference import flat_styles, merge_styles

    styles = load_styles([args.styles_file] if args.styles_file else ())
    if args.list_styles:
        for name, st in styles.items():
            print(f"{name:<10} [{', '.join(st.sets)}] regions: {', '.join(st.regions)} - {st.description}")
        return 0
    if not args.image or not args.out:
        raise ValueError("makeup needs IMAGE and --out FILE (or --list-styles)")
    flat = normalize_flat(flat_params_from_args(args))
    sources = region_sources(flat)
    refs = {r: path for r, (kind, path) in sources.items() if kind == "reference" and path}
    if not any(kind != "off" for kind, _ in sources.values()):
        raise ValueError("no region enabled: give --style, --reference, --remove or a per-region style such as --lips retro")
    if args.save_style and not refs:
        raise ValueError("--save-style needs --reference or a --<region>-reference photo")
    styles_out = Path(args.styles_out) if args.styles_out else user_styles_dir() / "reference_styles.json"
    _check_outputs(args, [r for r, (kind, _) in sources.items() if kind != "off"], list(refs.values()), styles_out)
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
    measured: dict[str, Any] = {}
    try:
        editor.styles = flat_styles(flat, editor.analyzer, measured, base=styles)
    except NoFaceError as exc:
        print(str(exc), file=sys.stderr)
        return NO_FACE_EXIT
    params = params_from_flat(flat, editor.styles)
    res = editor.edit(params)
    files: dict[str | os.PathLike[str], bytes] = {Path(args.out): encode_for_path(args.out, res.image)}
    if args.masks_out:
        folder = Path(args.masks_out)
        for name, m in res.masks.items():  # the files of mask_files()
            files[folder / f"{name}.png"] = encode_for_path(folder / f"{name}.png",
                                                            m.astype("uint8") * (255 if m.dtype == bool else 1))
        folder.mkdir(parents=True, exist_ok=True)
    out = atomic_write_files(files)[0]  # the result and every mask, or none of them
    if args.save_style:
        style = merge_styles(args.save_style, [(measured[path], [r]) for r, path in refs.items()])
        print(f"saved style {style.name} ({', '.join(style.regions)}) in {save_styles(styles_out, [style])}")
    regions = ", ".join(f"{r}={_short(s)}" for r, s in res.info["regions"].items())
    print(f"wrote {out} ({image.shape[1]}x{image.shape[0]}, {res.info['faces']} face(s); {regions}; "
          f"intensity {params.intensity:g})")
    return 0


def _check_outputs(args: argparse.Namespace, enabled: list[str], refs: list[str], styles_out: Path) -> None:
    """Refuse unwritable outputs and outputs that would overwrite an input, before any work.

    Args:
        args: the ``makeup`` options.
        enabled: the regions that will be painted.
        refs: the reference photos.
        styles_out: the style file ``--save-style`` writes.

    Raises:
        ValueError / ImageSaveError: see :func:`engine.imageio.check_not_input` and friends.
    """
    from engine.imageio import check_not_input, check_output_file, check_output_folder

    check_output_file(args.out)
    if args.masks_out:
        check_output_folder(args.masks_out)
    overwrite = getattr(args, "overwrite", False)
    inputs = (args.image, args.styles_file, *refs)
    check_not_input(args.out, *inputs, overwrite=overwrite)
    if args.save_style:
        check_not_input(styles_out, args.image, *refs, overwrite=True, option="--styles-out")
    if args.masks_out:
        for path in mask_files(args.masks_out, params_order(enabled)):
            check_not_input(path, *inputs, overwrite=overwrite, option="--masks-out")


def params_order(regions: list[str]) -> list[str]:
    """``regions`` in rendering order (the order ``--masks-out`` files are listed in).

    Example:
        >>> params_order(["lips", "cheek"])
        ['cheek', 'lips']
    """
    from engine.studios.makeup.params import REGIONS

    return [r for r in REGIONS if r in regions]


def _short(style: str) -> str:
    """A style name for the summary line: a reference photo by its file name."""
    from engine.studios.makeup.params import REFERENCE_PREFIX

    return f"photo {Path(style[len(REFERENCE_PREFIX):]).name}" if style.startswith(REFERENCE_PREFIX) else style


CLI_COMMANDS = (add_parser,)
"""The Makeup studio's command-line hooks (read by :mod:`engine.cli`)."""
