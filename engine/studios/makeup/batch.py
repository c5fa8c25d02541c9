"""Batch op ``makeup``: makeup styles on every face photo of a folder (classical renderer).

``masquerade batch makeup --input DIR --output DIR --grid style=retro,smoky --grid
regions=lips,eyeshadow,cheek,lips+eyeshadow+cheek`` runs every image × style × region combination;
per-region axes work too (``--grid lips=retro,korean,none --grid eyeshadow=smoky,none``).
``--reference REF`` (and ``--lips-reference REF2`` ...) takes the makeup from photos (each measured
once per worker), ``--remove K`` removes makeup; ``--grid reference=a.jpg,b.jpg`` runs several
reference photos. The photo paths are parameters, so the manifest records them and a resumed job
skips what is done as for any other parameter.
Parameters are the flat form of :func:`engine.studios.makeup.params.normalize_flat`. An image without a
face fails its task with the reason ``no face found`` (recorded in the manifest).

This module imports nothing heavy at import time: the op registry imports it.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.studios.clitools import BatchEngine, classical_batch_engine
from engine.studios.makeup.cli import add_makeup_arguments, flat_params_from_args
from engine.studios.registry import BatchOp

if TYPE_CHECKING:
    pass


def makeup_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and complete batch parameters (:func:`engine.studios.makeup.params.normalize_flat`),
    with every region's style as rendered: a region that ``style`` reaches through ``regions`` names
    that style, a region that is not painted names none (``None``; ``"none"`` where it was switched
    off although ``style`` reaches it, so the runner reading these parameters leaves it off). The
    manifest and the batch dialog show these parameters, so they say which regions were painted
    with which style; ``style`` and ``regions`` stay as asked (they are grid axes and name the outputs).

    Args:
        params: partial flat mapping (``style regions lips eyeshadow ... intensity styles_file``); a
            region given as ``None`` / ``"none"`` is off, an absent one takes ``style``.

    Returns:
        The complete, JSON-serialisable parameter dict (normalising it again changes nothing).

    Raises:
        ValueError: unknown key, region or style; intensity out of range.

    Example:
        >>> p = makeup_params({"style": "smoky", "regions": "lips+eyeshadow", "eyeliner": "korean"})
        >>> [(r, p[r]) for r in ("lips", "eyeshadow", "cheek", "eyeliner", "brows")]
        [('lips', 'smoky'), ('eyeshadow', 'smoky'), ('cheek', None), ('eyeliner', 'korean'), ('brows', None)]
        >>> makeup_params({"style": "smoky", "regions": "lips+eyeshadow", "lips": "none"})["lips"]
        'none'
    """
    from engine.studios.makeup.params import normalize_flat

    return normalize_flat(params)


class MakeupBatchRunner:
    """Per-process makeup function: one face analyzer (MediaPipe graphs) per worker process."""

    def __init__(self) -> None:
        from engine.studios.makeup.editor import MakeupEditor

        self.editor = MakeupEditor("classical")
        self._base_styles = dict(self.editor.styles)
        self._measured: dict[str, Any] = {}  # reference photo -> its measured style (per worker)
        self._first = True

    def __call__(self, image: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        """Makeup on ``image`` (``uint8`` RGB) with normalised flat ``params``; returns the RGB result.

        Raises:
            NoFaceError: no face found.
        """
        from engine.studios.makeup.params import load_styles, params_from_flat
        from engine.studios.makeup.reference import flat_styles

        extra = params.get("styles_file")
        base = load_styles([extra]) if extra else self._base_styles
        if self._first:  # MediaPipe prints its start-up log lines on the native stderr
            from engine.faces.cli import quiet_native_stderr

            self._first = False
            with quiet_native_stderr():
                self.editor.set_image(image)
        else:
            self.editor.set_image(image)
        self.editor.styles = flat_styles(params, self.editor.analyzer, self._measured, base=base)
        p = params_from_flat(params, self.editor.styles)
        return self.editor.edit(p).image


def makeup_runner() -> MakeupBatchRunner:
    """Batch op ``runner`` factory (called once per worker process).

    Returns:
        A new :class:`MakeupBatchRunner`.
    """
    return MakeupBatchRunner()


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """The ``batch makeup`` options: those of ``masquerade makeup`` plus ``--styles`` / ``--combinations``.

    Args:
        p: the ``batch makeup`` parser.
    """
    add_makeup_arguments(p)
    g = p.add_argument_group("makeup dataset")
    g.add_argument("--styles", default=None, metavar="S1,S2",
                   help="run every listed style on the regions of --regions (a grid over style)")
    g.add_argument("--combinations", action="store_true",
                   help="with --styles: every non-empty subset of the --regions list instead of all of them together")


def grid_from_args(args: argparse.Namespace) -> dict[str, list[Any]]:
    """``--styles a,b [--regions lips,eyeshadow] [--combinations]`` as grid axes.

    Args:
        args: parsed ``batch makeup`` options.

    Returns:
        ``{"style": [...], "regions": ["lips+eyeshadow", ...]}``, or ``{}`` without ``--styles``.

    Raises:
        ValueError: ``--combinations`` without ``--styles``.
    """
    if not args.styles:
        if args.combinations:
            raise ValueError("--combinations needs --styles")
        return {}
    styles = [x.strip() for x in args.styles.split(",") if x.strip()]
    regions = [r for r in args.regions.replace(",", "+").split("+") if r]
    if args.combinations:
        combos = ["+".join(c) for n in range(1, len(regions) + 1) for c in itertools.combinations(regions, n)]
    else:
        combos = ["+".join(regions)]
    return {"style": styles, "regions": combos}


BATCH_OPS: tuple[BatchOp, ...] = (
    BatchOp("makeup", makeup_runner, makeup_params, ".png",
            "makeup styles per region (Makeup, classical); grid: style=retro,smoky regions=lips,eyeshadow lips=korean,none "
            "reference=a.jpg,b.jpg",
            add_arguments=add_batch_arguments, params_from_args=flat_params_from_args,
            grid_from_args=grid_from_args),
)
"""The Makeup studio's batch ops (read by :mod:`engine.batch.ops`)."""

BATCH_ENGINES: dict[str, BatchEngine] = {"makeup": classical_batch_engine("engine.studios.makeup.learned:BACKEND", "makeup")}
"""The ``engine:`` line of ``batch makeup`` (read by :mod:`engine.batch.cli`)."""
