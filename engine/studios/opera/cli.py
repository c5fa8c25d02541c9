"""``masquerade lineart`` and ``masquerade opera generate|colorize|classify``: the Opera studio, headless.

Examples::

    masquerade lineart picture.png --out line.png [--sigma 0.8 --k 1.6 --gamma 0.98 --epsilon -0.005 --phi 200]
    masquerade opera generate --seed 7 --color red --out mask.png [--size 512] [--color-seed 9]
        [--lineart line.png] [--regions regions.png]
    masquerade opera colorize sketch.png --reference mask.png --out coloured.png [--warped w.png]
    masquerade opera classify mask.png
    masquerade batch colorize --input SKETCHES --reference mask.png --output DIR

The batch ops (``batch lineart``, ``batch colorize``, ``batch opera-dataset``) are in
:mod:`engine.studios.opera.batch`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import numpy as np

from engine.labels import OPERA_COLOURS
from engine.studios.clitools import add_overwrite_argument, engine_line

if TYPE_CHECKING:  # the parameters' module is imported when a command runs
    from engine.studios.opera.params import XDoGParams


def add_xdog_arguments(p: argparse.ArgumentParser) -> None:
    """Add the XDoG options (``--sigma --k --gamma --epsilon --phi --threshold``) to a parser.

    Used by ``masquerade lineart`` and ``masquerade batch lineart``.

    Args:
        p: the parser to extend.
    """
    from engine.studios.opera.params import XDoGParams

    d = XDoGParams()
    g = p.add_argument_group("XDoG line art")
    g.add_argument("--sigma", type=float, default=d.sigma, help=f"inner Gaussian σ in pixels (default {d.sigma})")
    g.add_argument("--k", type=float, default=d.k, help=f"outer/inner σ ratio (default {d.k})")
    g.add_argument("--gamma", "--tau", dest="gamma", type=float, default=d.gamma,
                   help=f"outer Gaussian weight γ (τ) (default {d.gamma})")
    g.add_argument("--epsilon", type=float, default=d.epsilon, help=f"white level ε (default {d.epsilon})")
    g.add_argument("--phi", type=float, default=d.phi, help=f"soft-threshold steepness φ (default {d.phi})")
    g.add_argument("--threshold", type=float, default=None, help="binarise at this level in [0, 1] (default: soft lines)")
    g.add_argument("--extractor", choices=("xdog", "hed"), default="xdog",
                   help="line extractor: xdog (the options above) or hed (learned edge detector, thinned lines; "
                        "the XDoG options do not apply)")


def xdog_params_from_args(args: argparse.Namespace) -> XDoGParams:
    """The XDoG parameters of parsed :func:`add_xdog_arguments` options.

    Args:
        args: the parsed options.

    Returns:
        Validated :class:`~engine.studios.opera.params.XDoGParams`.

    Raises:
        ValueError: a value out of range.
    """
    from engine.studios.opera.params import XDoGParams

    return XDoGParams(sigma=args.sigma, k=args.k, gamma=args.gamma, epsilon=args.epsilon,
                      phi=args.phi, threshold=args.threshold, extractor=getattr(args, "extractor", "xdog")).validate()


def add_lineart_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``lineart`` command (XDoG line art of one image).

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``lineart`` parser.
    """
    la = subparsers.add_parser("lineart", help="extract opera line art from one image (XDoG or HED)")
    la.add_argument("image", help="input image")
    la.add_argument("--out", required=True, help="output PNG/JPEG file")
    add_xdog_arguments(la)
    add_overwrite_argument(la)
    la.set_defaults(func=cmd_lineart)
    return la


def cmd_lineart(args: argparse.Namespace) -> int:
    """``lineart``: write the XDoG line art of one image.

    Args:
        args: parsed ``lineart`` options.

    Returns:
        0 (failures raise and are printed as one line by :func:`engine.cli.run`).
    """
    from engine.imageio import check_not_input, check_output_file, load_image, save_image
    from engine.studios.opera.hed import extract_line_art

    params = xdog_params_from_args(args)
    check_output_file(args.out)
    check_not_input(args.out, args.image, overwrite=args.overwrite)
    img = load_image(args.image)
    out = save_image(args.out, extract_line_art(img, params))
    print(f"wrote {out} ({img.shape[1]}x{img.shape[0]})")
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``opera`` command with its ``generate``, ``colorize`` and ``classify`` sub-commands.

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``opera`` parser.
    """
    opera = subparsers.add_parser("opera", help="opera masks: generate, colour from a reference, classify",
                                  description="Peking-opera masks (lianpu) with the classical engine.")
    sub = opera.add_subparsers(dest="opera_command", metavar="ACTION", required=True)

    g = sub.add_parser("generate", help="draw a procedural lianpu from a seed")
    g.add_argument("--seed", type=int, required=True, help="seed of the shapes (≥ 0)")
    g.add_argument("--color", "--colour", dest="colour", choices=OPERA_COLOURS, default=None,
                   help="main colour (default: drawn from the seed)")
    g.add_argument("--color-seed", "--colour-seed", dest="colour_seed", type=int, default=None,
                   help="seed of the colours (style mixing: shapes of --seed, colours of this)")
    g.add_argument("--size", type=int, default=None,
                   help="side in pixels (64–4096; default 512, StyleGAN2: the generator's own resolution)")
    g.add_argument("--role", default=None, metavar="TYPE",
                   help="procedural role type: zheng (whole face), sankuaiwa (three tiles), shizimen (cross door), "
                        "liufen (six-tenths), suihua (broken flowers), wai (crooked), yuanbao (ingot), "
                        "xiangxing (pictographic), sengdao (monk), or any (drawn from the seed); "
                        "default: the classic template. With --engine stylegan2: the class of a generator "
                        "trained --by-role (also 'traditional'; default: seed mod the number of classes)")
    g.add_argument("--out", required=True, help="colour image (.png: transparent outside the face)")
    g.add_argument("--lineart", default=None, help="also write the line art here")
    g.add_argument("--regions", default=None, help="also write the region map (part ids) here")
    g.add_argument("--engine", choices=("procedural", "stylegan2"), default="procedural",
                   help="procedural drawing (default) or the trained StyleGAN2 generator (checkpoint stylegan2_lianpu)")
    g.add_argument("--psi", type=float, default=0.7, help="StyleGAN2 truncation ψ in [0, 1.5] (1 = none)")
    g.add_argument("--mix-seed", type=int, default=None,
                   help="StyleGAN2 style mixing: styles from --crossover on come from this seed")
    g.add_argument("--crossover", type=int, default=None, help="StyleGAN2 style mixing: first style input of --mix-seed")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("colorize", help="colour a line drawing from a reference lianpu")
    c.add_argument("sketch", help="line art (dark lines on light paper)")
    c.add_argument("--reference", required=True, help="reference lianpu (colour image)")
    c.add_argument("--out", required=True, help="coloured result (.png: transparent outside the face)")
    c.add_argument("--warped", default=None, help="also write the reference aligned to the sketch here")
    c.add_argument("--gap", type=int, default=None, help="close stroke gaps up to about 2×GAP pixels (default: auto)")
    c.add_argument("--sketch-lines", choices=("xdog", "hed"), default="xdog",
                   help="the extractor that drew the sketch (lineart --extractor); the reference's strokes are "
                        "found with the same one (default xdog: also right for hand-drawn sketches)")
    c.add_argument("--backend", choices=("auto", "classical", "neural"), default="auto",
                   help="classical region correspondence, the trained CoCosNet, or auto (the network only if "
                        "its card says it measured better)")
    add_overwrite_argument(c)
    c.set_defaults(func=cmd_colorize)

    k = sub.add_parser("classify", help="print the main-colour class of a lianpu and its meaning")
    k.add_argument("image", help="lianpu image")
    k.add_argument("--scores", action="store_true", help="also print the share of every class")
    k.add_argument("--backend", choices=("auto", "classical", "learned"), default="auto",
                   help="classical paint rules, the trained ResNet-18, or auto (the network only if its card "
                        "says it measured better)")
    k.set_defaults(func=cmd_classify)
    return opera


def _with_alpha(path: str, rgb, face):
    """RGBA (transparent outside ``face``) when ``path`` is a PNG/WebP, else RGB."""
    import numpy as np

    if str(path).lower().endswith((".png", ".webp")):
        return np.dstack([rgb, np.where(face, 255, 0).astype(np.uint8)])
    return rgb


def _lossless(path: str) -> bool:
    """Whether ``path``'s extension is a lossless image format (label / id maps must be)."""
    return str(path).lower().endswith((".png", ".bmp", ".tif", ".tiff"))


def cmd_generate(args: argparse.Namespace) -> int:
    """``opera generate``: write a procedural lianpu (and optionally its line art / regions).

    Args:
        args: parsed ``opera generate`` options.

    Returns:
        0 (failures raise and are printed as one line by :func:`engine.cli.run`).
    """
    from engine.imageio import atomic_write_files, check_output_file, encode_for_path
    from engine.procedural.lianpu import generate_lianpu

    check_output_file(args.out)
    for extra in (args.lineart, args.regions):
        if extra:
            check_output_file(extra)
    if args.regions and not _lossless(args.regions):
        raise ValueError(f"--regions {args.regions}: part ids need a lossless format (.png, .bmp, .tif)")
    if getattr(args, "engine", "procedural") == "stylegan2":
        return _generate_stylegan2(args)
    if getattr(args, "mix_seed", None) is not None or getattr(args, "crossover", None) is not None:
        raise ValueError("--mix-seed/--crossover need --engine stylegan2 (procedural mixing: --color-seed)")
    d = generate_lianpu(args.seed, args.colour, 512 if args.size is None else args.size, args.colour_seed,
                        role=getattr(args, "role", None))
    files = {args.out: encode_for_path(args.out, _with_alpha(args.out, d.image, d.face_mask))}
    if args.lineart:
        files[args.lineart] = encode_for_path(args.lineart, d.line_art)
    if args.regions:
        files[args.regions] = encode_for_path(args.regions, d.regions)
    out = atomic_write_files(files)[0]  # all or none
    role = "" if d.role == "classic" else f", role type {d.role}"
    print(f"wrote {out} (seed {d.seed}, colours {d.colour_seed}, main colour {d.colour}{role})")
    return 0


def _generate_stylegan2(args: argparse.Namespace) -> int:
    """``opera generate --engine stylegan2``: one sample (or a style mix) of the trained generator."""
    import cv2

    from engine.imageio import save_image
    from engine.studios.opera.generate import load_lianpu_generator

    if args.colour is not None or args.colour_seed is not None or args.lineart or args.regions:
        raise ValueError("--color/--color-seed/--lineart/--regions belong to --engine procedural")
    if (args.mix_seed is None) != (args.crossover is None):
        raise ValueError("style mixing needs both --mix-seed and --crossover")
    gen, why = load_lianpu_generator()
    if gen is None:
        raise ValueError(f"the StyleGAN2 lianpu generator is {why}")
    role = getattr(args, "role", None)
    role = None if role == "any" else role
    if args.mix_seed is None:
        img = gen.generate(args.seed, args.psi, role=role)
    else:
        img = gen.mix(args.seed, args.mix_seed, args.crossover, args.psi, role=role)
    if args.size is not None and args.size != gen.resolution:  # resampled only when asked for
        img = cv2.resize(img, (args.size, args.size), interpolation=cv2.INTER_CUBIC)
    out = save_image(args.out, img)
    print(f"wrote {out} ({img.shape[1]}x{img.shape[0]} from the {gen.resolution}² generator, seed {args.seed}"
          + (f" mixed with {args.mix_seed} from style input {args.crossover}" if args.mix_seed is not None else "")
          + f", psi {args.psi}"
          + (f", role type {role or gen.classes[args.seed % len(gen.classes)]}" if gen.classes else "")
          + f"; {why})")
    return 0


def cmd_colorize(args: argparse.Namespace) -> int:
    """``opera colorize``: colour a sketch from a reference (classical, CoCosNet or auto).

    Args:
        args: parsed ``opera colorize`` options.

    Returns:
        0 (failures raise and are printed as one line by :func:`engine.cli.run`).
    """
    from engine.imageio import (
        atomic_write_files,
        check_not_input,
        check_output_file,
        encode_for_path,
        load_grey,
        load_image,
    )
    from engine.studios.opera.editor import ColorizeEditor, ColorizeParams

    check_output_file(args.out)
    if args.warped:
        check_output_file(args.warped)
    overwrite = getattr(args, "overwrite", False)
    check_not_input(args.out, args.sketch, args.reference, overwrite=overwrite)
    check_not_input(args.warped, args.sketch, args.reference, overwrite=overwrite, option="--warped")
    sketch = load_grey(args.sketch)
    ref = load_image(args.reference)
    ed = ColorizeEditor(getattr(args, "backend", "auto"))
    ed.set_image(np.repeat(sketch[:, :, None], 3, axis=2))
    ed.set_reference(ref)
    res = ed.edit(ColorizeParams(gap=args.gap, extractor=getattr(args, "sketch_lines", "xdog")).validate())
    files = {args.out: encode_for_path(args.out, _with_alpha(args.out, res.image, res.masks["face"]))}
    if args.warped:
        files[args.warped] = encode_for_path(args.warped, res.info["warped_reference"])
    out = atomic_write_files(files)[0]  # all or none
    detail = f"{res.info['regions']} regions" if "regions" in res.info else res.info["method"]
    print(f"wrote {out} ({res.image.shape[1]}x{res.image.shape[0]}, {res.info['backend']}: {detail})")
    print(engine_line(res.info["backend"], str(res.info.get("note", ""))))
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    """``opera classify``: print ``<colour>: <meaning>`` (and the class shares with ``--scores``).

    Args:
        args: parsed ``opera classify`` options.

    Returns:
        0 (failures raise and are printed as one line by :func:`engine.cli.run`).
    """
    from engine.imageio import load_image
    from engine.studios.opera.classify import classify

    res = classify(load_image(args.image), getattr(args, "backend", "auto"))
    print(engine_line(res.backend, res.note))  # first: the class line stays last without --scores
    print(f"{res.colour}: {res.meaning} [{res.backend}]")
    if args.scores:
        for name, share in sorted(res.scores.items(), key=lambda kv: -kv[1]):
            print(f"  {name:7s} {share:.3f}")
    return 0


CLI_COMMANDS = (add_lineart_parser, add_parser)
"""The Opera studio's command-line hooks (read by :mod:`engine.cli`)."""
