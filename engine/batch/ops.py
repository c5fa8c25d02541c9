"""Registry of batch operations: what a job can do to each input image.

An op is a :class:`BatchOp`: a name, a function that validates and completes a parameter dict, a
factory that builds the per-image function once per worker process (so a neural op loads its model
once, not once per image), and the output file extension. Adding a studio to batch export is one
line at the bottom of this module, e.g.::

    register_op(BatchOp("makeup", _makeup_runner, _makeup_params, ".png", "makeup transfer"))

Ops have one of two *sources*:

* ``"files"`` (default): one task per input image × grid combination; the runner is a
  :data:`Runner` ``(image, params) -> image`` and each task writes one file.
* ``"procedural"``: one task per seed (``JobSpec.count`` seeds from ``JobSpec.seed_start``) × grid
  combination, no input folder; the runner is a :data:`ProceduralRunner`
  ``(seed, params) -> {name: image}`` and each task writes the files named by ``output_names``
  (e.g. a design's colour image, line art and region map). Generators (lianpu, anime faces) use it.

Every callable stored in a :class:`BatchOp` must be a module-level function: the op is pickled by
reference into the ``spawn`` worker processes. Heavy imports (studios, torch) belong inside those
functions so that importing the registry stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

Runner = Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]
"""Per-image function: ``(rgb uint8 [H, W, 3], normalised params) -> uint8 image`` (grey or RGB)."""

ProceduralRunner = Callable[[int, Mapping[str, Any]], Mapping[str, np.ndarray]]
"""Per-seed function of a procedural op: ``(seed, normalised params) -> {output name: uint8 image}``;
the names are exactly ``output_names(params)``."""

SOURCES = ("files", "procedural")


@dataclass(frozen=True)
class BatchOp:
    """One batch operation.

    Args:
        name: registry key and CLI name (``masquerade batch <name>``).
        runner: called once per worker process; returns the :data:`Runner` applied to each image.
        normalize: validates a (possibly partial) parameter mapping and returns the complete,
            JSON-serialisable parameter dict with defaults filled in. Raises ``ValueError`` with a
            clear message on unknown names or out-of-range values. Two mappings meaning the same
            thing must normalise to equal dicts: task ids are hashed from the result.
        extension: output file extension including the dot (its format follows
            :data:`engine.imageio.SAVE_FORMATS`).
        summary: one-line description for ``--help`` and the GUI.
        source: ``"files"`` (tasks = input images; ``runner`` makes a :data:`Runner`) or
            ``"procedural"`` (tasks = seeds; ``runner`` makes a :data:`ProceduralRunner`).
        output_names: ``params -> names`` of the files each task writes (in order; file
            ``<seed or input stem>[__<tag>]_<name><extension>``); required for procedural ops,
            optional for file ops (then the runner returns ``{name: image}`` instead of one image;
            names ending in ``.json`` are written as JSON records from dicts).
            Must be module-level.
    """

    name: str                                                   # registry key, CLI sub-command
    runner: Callable[[], Any]                                   # per-process factory: Runner | ProceduralRunner
    normalize: Callable[[Mapping[str, Any]], dict[str, Any]]    # validate + fill defaults -> JSON-able dict
    extension: str = ".png"                                     # output extension, with the dot
    summary: str = ""                                           # one-line help text
    source: str = "files"                                       # "files" | "procedural"
    output_names: Optional[Callable[[Mapping[str, Any]], Sequence[str]]] = None  # several files per task

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"op {self.name}: source must be one of {SOURCES}, got {self.source!r}")
        if self.source == "procedural" and self.output_names is None:
            raise ValueError(f"op {self.name}: output_names is required for procedural ops")


_OPS: dict[str, BatchOp] = {}


def register_op(op: BatchOp) -> BatchOp:
    """Add ``op`` to the registry (replacing an op of the same name).

    Args:
        op: the operation to register.

    Returns:
        ``op`` unchanged, so the call can be used inline.
    """
    _OPS[op.name] = op
    return op


def get_op(name: str) -> BatchOp:
    """Look up a registered op.

    Args:
        name: op name, e.g. ``"lineart"``.

    Returns:
        The registered :class:`BatchOp`.

    Raises:
        KeyError: no op of that name; the message lists the known ones.
    """
    try:
        return _OPS[name]
    except KeyError:
        raise KeyError(f"unknown batch op {name!r}; known: {', '.join(available_ops()) or 'none'}") from None


def available_ops() -> list[str]:
    """Names of the registered ops, sorted."""
    return sorted(_OPS)


# --- lineart: XDoG line art (Opera studio) -------------------------------------------------------

def _lineart_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validated, complete :class:`~engine.studios.opera.classical.XDoGParams` as a dict."""
    from engine.studios.opera.classical import XDoGParams

    return XDoGParams.from_dict(params).to_dict()


def _lineart_apply(image: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """XDoG line art of one image: grey ``uint8`` ``[H, W]``."""
    from engine.studios.opera.classical import XDoGParams, xdog

    return xdog(image, XDoGParams.from_dict(params))


def _lineart_runner() -> Runner:
    """XDoG needs no per-process state: the runner is the plain function."""
    return _lineart_apply


register_op(BatchOp("lineart", _lineart_runner, _lineart_params, ".png", "XDoG line art (Opera), grey PNG"))


# --- colorize: classical colouring of sketches from one reference (Opera studio) -----------------
from engine.studios.opera.cli import colorize_batch_params, colorize_batch_runner  # noqa: E402

register_op(BatchOp("colorize", colorize_batch_runner, colorize_batch_params, ".png",
                    "colour line-art sketches from a reference lianpu (Opera, classical)"))

# --- express: classical expression rig on anime faces (Expression studio) ------------------------
from engine.studios.expression.batch import (  # noqa: E402
    express_params,
    express_procedural_outputs,
    express_procedural_params,
    express_procedural_runner,
    express_runner,
)

register_op(BatchOp("express", express_runner, express_params, ".png",
                    "change anime-face expressions (Expression, classical rig); grid: expression=smile,angry intensity=0.5,1 assume_crop=1 (tight crops: no face found = the whole picture)"))
register_op(BatchOp("express-procedural", express_procedural_runner, express_procedural_params, ".png",
                    "the expression rig on generated anime faces (also `batch express --procedural N`)",
                    source="procedural", output_names=express_procedural_outputs))

# --- makeup: classical makeup styles per region (Makeup studio) -------------------------------------
from engine.studios.makeup.batch import makeup_params, makeup_runner  # noqa: E402

register_op(BatchOp("makeup", makeup_runner, makeup_params, ".png",
                    "makeup styles per region (Makeup, classical); grid: style=retro,smoky regions=lips,eyeshadow lips=korean,none"))


# --- opera-dataset: procedural lianpu (colour, line art, region map) triples (Opera studio) ------
from engine.procedural.lianpu_dataset import (  # noqa: E402
    dataset_output_names,
    dataset_params,
    dataset_runner,
)

register_op(BatchOp("opera-dataset", dataset_runner, dataset_params, ".png",
                    "procedural lianpu as (colour, line art, region map) triples, optional mirror/colour-change "
                    "augmentation", source="procedural", output_names=dataset_output_names))

# --- wear-mask: masked-face dataset export (Mask-wear) -------------------------------------------
from engine.studios.maskwear.batch import (  # noqa: E402
    wear_mask_outputs,
    wear_mask_params,
    wear_mask_runner,
)

register_op(BatchOp("wear-mask", wear_mask_runner, wear_mask_params, ".png",
                    "masked-face dataset: aligned face / masked / alpha crops of the largest face per image",
                    output_names=wear_mask_outputs))

# --- regenerate: label edits + classical regeneration of face photos (Regenerate studio) ----------
from engine.studios.regenerate.batch import (  # noqa: E402
    regenerate_outputs,
    regenerate_params,
    regenerate_runner,
)

register_op(BatchOp("regenerate", regenerate_runner, regenerate_params, ".png",
                    "edit each face's 19-label parsing and regenerate it (Regenerate, classical); "
                    'grid: edits="dilate:hair:12","scale:l_eye+r_eye:1.3","add:glasses" regions=hair+skin',
                    output_names=regenerate_outputs))
