"""The Opera studio's batch ops: ``lineart``, ``colorize`` and ``opera-dataset``.

* ``masquerade batch lineart --input DIR --output DIR [XDoG options] [--extractor hed]
  [--grid sigma=0.6,1.2]`` — XDoG (or HED) line art of every picture (grey PNG).
* ``masquerade batch colorize --input SKETCHES --reference mask.png --output DIR [--gap N]
  [--extractor hed]`` — every line-art sketch coloured from one reference lianpu (classical region
  correspondence); ``--extractor`` names the extractor that drew the sketches (the reference's
  strokes are found with the same one).
* ``masquerade batch opera-dataset --count N --output DIR [--size 256] [--mirror] [--recolour K]`` —
  procedural lianpu as (colour, line art, region map) triples
  (:mod:`engine.procedural.lianpu_dataset`).

This module imports nothing heavy at import time: the op registry imports it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.procedural.lianpu_dataset import (
    add_dataset_options,
    dataset_base,
    dataset_output_names,
    dataset_params,
    dataset_runner,
)
from engine.studios.clitools import BatchEngine, classical_batch_engine
from engine.studios.opera.cli import add_xdog_arguments, xdog_params_from_args
from engine.studios.registry import BatchOp

if TYPE_CHECKING:
    pass

# --- lineart: XDoG line art ------------------------------------------------------------------------


def lineart_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validated, complete :class:`~engine.studios.opera.params.XDoGParams` as a dict.

    Args:
        params: any XDoG fields (``sigma k gamma epsilon phi threshold``).

    Returns:
        Every field, defaults filled in.

    Raises:
        ValueError: an unknown field or a value out of range.
    """
    from engine.studios.opera.params import XDoGParams

    return XDoGParams.from_dict(params).to_dict()


def lineart_apply(image: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """Line art of one image (XDoG, or HED with ``extractor="hed"``; HED loads once per process).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        params: normalised parameters (:func:`lineart_params`).

    Returns:
        Grey ``uint8`` ``[H, W]``.
    """
    from engine.studios.opera.hed import extract_line_art
    from engine.studios.opera.params import XDoGParams

    return extract_line_art(image, XDoGParams.from_dict(params))


def lineart_runner() -> Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]:
    """XDoG needs no per-process state: the runner is the plain function.

    Returns:
        :func:`lineart_apply`.
    """
    return lineart_apply


def lineart_base(args: argparse.Namespace) -> dict[str, Any]:
    """Base parameters of ``batch lineart`` from its XDoG options.

    Args:
        args: parsed options (:func:`~engine.studios.opera.cli.add_xdog_arguments`).

    Returns:
        The validated XDoG parameters as a dict.

    Raises:
        ValueError: a value out of range.
    """
    return xdog_params_from_args(args).to_dict()


# --- colorize: classical colouring of sketches from one reference ----------------------------------


def colorize_batch_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``{"reference": path, "gap": int | None, "extractor": name}`` for ``batch colorize``.

    ``extractor`` (the line extractor that drew the sketches, ``xdog`` by default) is kept in the
    parameters only when it is not the default, so a job started before the option existed has the
    same identity and task ids as before and resumes.

    Args:
        params: ``reference`` (required, an existing image file), optional ``gap`` and
            ``extractor`` (one of :data:`~engine.studios.opera.params.EXTRACTORS`).

    Returns:
        ``{"reference": absolute path, "gap": int or None}``, plus ``"extractor"`` when it is not
        ``"xdog"``.

    Raises:
        ValueError: missing/unknown keys, gap out of range, unknown extractor.
        ImageLoadError: the reference is missing, a folder, not an image or too large.

    Example:
        >>> colorize_batch_params({"gap": 2})
        Traceback (most recent call last):
        ValueError: batch colorize needs --reference IMAGE
    """
    from engine.imageio import open_image
    from engine.studios.opera.params import COLORIZE_RANGES, ColorizeParams

    known = ("extractor", "gap", "reference")
    unknown = set(params) - set(known)
    if unknown:
        raise ValueError(f"unknown colorize parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    if not params.get("reference"):
        raise ValueError("batch colorize needs --reference IMAGE")
    extractor = str(params.get("extractor") or "xdog")
    gap = params.get("gap")
    gap = None if gap is None else int(COLORIZE_RANGES["gap"].check("gap", gap))
    ColorizeParams(gap=gap, extractor=extractor).validate()
    ref = Path(str(params["reference"])).expanduser().resolve()
    open_image(ref).close()  # missing, a folder, not an image, oversized: refused before the job starts
    out: dict[str, Any] = {"reference": str(ref), "gap": gap}
    if extractor != "xdog":
        out["extractor"] = extractor
    return out


def colorize_batch_runner() -> Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]:
    """Per-process colouring function; each reference file is read once per process.

    Returns:
        ``apply(sketch, params) -> coloured RGB``.
    """
    from engine.imageio import load_image
    from engine.studios.opera.classical import colorize
    from engine.studios.opera.params import ColorizeParams

    references: dict[str, np.ndarray] = {}

    def apply(image: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        path = params["reference"]
        if path not in references:
            references[path] = load_image(path)
        p = ColorizeParams(gap=params["gap"], extractor=params.get("extractor", "xdog"))
        return colorize(image, references[path], p).image

    return apply


def add_colorize_batch_options(p: argparse.ArgumentParser) -> None:
    """``--reference``, ``--gap`` and ``--extractor`` for ``masquerade batch colorize``.

    Args:
        p: the ``batch colorize`` parser.
    """
    from engine.studios.opera.params import EXTRACTORS

    p.add_argument("--reference", required=True, metavar="IMAGE", help="reference lianpu the sketches take colours from")
    p.add_argument("--gap", type=int, default=None, help="close stroke gaps up to about 2×GAP pixels (default: auto)")
    p.add_argument("--extractor", choices=EXTRACTORS, default="xdog",
                   help="the line extractor that drew the sketches (batch lineart --extractor); the reference's "
                        "strokes are found with the same one (default: xdog)")


def colorize_batch_base(args: argparse.Namespace) -> dict[str, Any]:
    """Base parameters of ``batch colorize`` from its parsed options.

    Args:
        args: parsed options (:func:`add_colorize_batch_options`).

    Returns:
        The validated parameters (:func:`colorize_batch_params`).
    """
    return colorize_batch_params({"reference": args.reference, "gap": args.gap,
                                  "extractor": getattr(args, "extractor", "xdog")})


BATCH_OPS: tuple[BatchOp, ...] = (
    BatchOp("lineart", lineart_runner, lineart_params, ".png", "XDoG line art (Opera), grey PNG",
            add_arguments=add_xdog_arguments, params_from_args=lineart_base),
    BatchOp("colorize", colorize_batch_runner, colorize_batch_params, ".png",
            "colour line-art sketches from a reference lianpu (Opera, classical)",
            add_arguments=add_colorize_batch_options, params_from_args=colorize_batch_base),
    BatchOp("opera-dataset", dataset_runner, dataset_params, ".png",
            "procedural lianpu as (colour, line art, region map) triples, optional mirror/colour-change "
            "augmentation", source="procedural", output_names=dataset_output_names,
            add_arguments=add_dataset_options, params_from_args=dataset_base),
)
"""The Opera studio's batch ops (read by :mod:`engine.batch.ops`)."""

BATCH_ENGINES: dict[str, BatchEngine] = {"colorize": classical_batch_engine("engine.studios.opera.learned:COCOSNET", "colorize")}
"""The ``engine:`` line of the Opera batch ops that have a learned twin (read by :mod:`engine.batch.cli`)."""
