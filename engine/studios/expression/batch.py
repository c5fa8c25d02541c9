"""Batch op ``express``: the classical expression rig on every image of a folder.

``masquerade batch express --input DIR --output DIR --grid expression=smile,angry
--grid intensity=0.5,1.0`` (or ``--grid smile=0.3,0.6 ...``, ``--preset FILE``). Parameters: the
four label intensities, ``intensity``, the low-level sliders (``blink_left`` … ``head_roll``, see
:data:`~engine.studios.expression.params.LOW_LEVEL`), ``expression`` (a label name; shorthand for
that label at 1.0, the other labels as given) and ``assume_crop`` (treat a picture without a detected
face as a face crop even without a face-like layout). ``--preset FILE`` (a preset file or a built-in
name such as ``wink``) gives the base slider values; ``--grid`` still overrides single sliders. An
image without an anime face fails its task with ``no anime face found``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.labels import EXPRESSION_LABELS
from engine.studios.clitools import BatchEngine, classical_only, ran
from engine.studios.registry import BatchOp

if TYPE_CHECKING:  # the parameters' module is imported when a task runs
    from engine.studios.base import Resolution
    from engine.studios.expression.params import ExpressionParams


def express_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and complete ``express`` parameters (``expression=LABEL`` becomes ``LABEL=1.0``).

    Args:
        params: partial mapping of ``angry sad smile surprised intensity expression assume_crop``.

    Returns:
        ``{angry, sad, smile, surprised, intensity, expression, assume_crop}`` (JSON-serialisable;
        ``expression`` is None or a label whose intensity is 1.0 when the image is edited).

    Raises:
        ValueError: unknown key or label, value out of range, a label given both ways.
    """
    from engine.studios.expression.params import ExpressionParams

    d = dict(params)
    assume_crop = d.pop("assume_crop", False)
    if isinstance(assume_crop, str):
        assume_crop = assume_crop.lower() in ("1", "true", "yes")
    label = d.pop("expression", None)
    if label is not None:
        if label not in EXPRESSION_LABELS:
            raise ValueError(f"unknown expression {label!r}; known: {', '.join(EXPRESSION_LABELS)}")
        if float(d.get(label, 0.0)) not in (0.0, 1.0):
            raise ValueError(f"{label} given both as expression={label} and as {label}={d[label]}")
        d.pop(label, None)
    out: dict[str, Any] = ExpressionParams.from_dict(d).to_dict()
    out["expression"] = label
    out["assume_crop"] = bool(assume_crop)
    return out


def params_for_edit(params: Mapping[str, Any]) -> tuple[ExpressionParams, bool]:
    """What one image's edit takes, from normalised ``express`` parameters.

    Args:
        params: the output of :func:`express_params`.

    Returns:
        ``(ExpressionParams, assume_crop)``; ``expression=LABEL`` becomes ``LABEL=1.0``.
    """
    from engine.studios.expression.params import ExpressionParams

    p = dict(params)
    assume_crop = bool(p.pop("assume_crop", False))
    label = p.pop("expression", None)
    if label is not None:
        p[label] = 1.0
    return ExpressionParams.from_dict(p), assume_crop


class _ExpressRunner:
    """Per-process rig: one editor per ``assume_crop`` setting (the backend is resolved once)."""

    def __init__(self) -> None:
        self._editors: dict[bool, Any] = {}

    def __call__(self, image: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        from engine.studios.expression.editor import ExpressionEditor

        p, assume_crop = params_for_edit(params)
        if assume_crop not in self._editors:
            self._editors[assume_crop] = ExpressionEditor(assume_crop=assume_crop)
        ed = self._editors[assume_crop]
        ed.set_image(image)
        return ed.edit(p).image


def express_runner() -> _ExpressRunner:
    """Runner factory for the batch registry (called once per worker process).

    Returns:
        A new per-process rig (one editor per ``assume_crop`` setting).
    """
    return _ExpressRunner()


# -- procedural source: generated anime faces instead of an input folder ----------------------------

PROCEDURAL_DEFAULTS: dict[str, Any] = {"size": 256}


def express_procedural_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``express-procedural`` parameters: those of ``express`` plus ``size``.

    Args:
        params: partial mapping; ``size`` is the side of the generated faces (64–1024, default 256);
            ``assume_crop`` is dropped (generated faces come with their exact parts).

    Returns:
        The complete, JSON-serialisable parameter dict.

    Raises:
        ValueError: ``size`` out of range, or what :func:`express_params` refuses.
    """
    from engine.studios.expression.params import RANGES

    d = dict(params)
    size = int(RANGES["size"].check("size", d.pop("size", PROCEDURAL_DEFAULTS["size"])))
    d.pop("assume_crop", None)  # generated faces come with their exact parts
    out = express_params(d)
    out["size"] = size
    return out


def express_procedural_outputs(params: Mapping[str, Any]) -> tuple[str, ...]:
    """Each seed writes the neutral face and the edited one.

    Args:
        params: normalised parameters (the names do not depend on them).

    Returns:
        The output names, in order.
    """
    return ("face", "result")


def _express_seed(seed: int, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    from engine.procedural.anime_faces import generate_anime_face
    from engine.studios.expression.editor import ExpressionEditor, parts_from_generated

    face = generate_anime_face(seed, size=int(params["size"]))
    p, _ = params_for_edit({k: v for k, v in params.items() if k != "size"})
    ed = ExpressionEditor("classical")
    ed.set_face(face.image, parts_from_generated(face))
    return {"face": face.image, "result": ed.edit(p).image}


def express_procedural_runner() -> Callable[[int, Mapping[str, Any]], dict[str, np.ndarray]]:
    """Per-seed function of ``batch express --procedural N``.

    Returns:
        ``(seed, params) -> {"face", "result"}``: the generated face and its edit.
    """
    return _express_seed


def express_batch_engine(params: Mapping[str, Any]) -> Resolution:
    """The engine ``batch express`` runs: ``auto`` (the GAN only when its card measured it better
    and it loads; otherwise the classical rig, with the reason).

    Args:
        params: the job's parameters (unused: the op always asks for ``auto``).

    Returns:
        The resolution that runs.
    """
    from engine.studios.expression.learned import EXPRESSION_GAN

    return ran(EXPRESSION_GAN, EXPRESSION_GAN.resolve("auto"))


def express_procedural_engine(params: Mapping[str, Any]) -> Resolution:
    """The engine ``batch express --procedural`` runs: always the classical rig.

    Args:
        params: the job's parameters (unused).

    Returns:
        The classical resolution.
    """
    from engine.studios.expression.learned import EXPRESSION_GAN

    return classical_only(EXPRESSION_GAN, "express --procedural")


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """``--preset FILE`` on ``batch express``.

    Args:
        p: the op's parser.
    """
    p.add_argument("--preset", metavar="FILE", default=None,
                   help="expression preset (JSON file or built-in name: angry_1.0, wink, shout, pout ...) "
                        "giving the base slider values")


def params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The base parameters of ``batch express``: the preset's sliders (none without ``--preset``).

    Args:
        args: parsed options.

    Returns:
        A mapping :func:`express_params` accepts.

    Raises:
        ValueError: the preset cannot be read (one line).
    """
    if not getattr(args, "preset", None):
        return {}
    from engine.studios.expression.presets import load_preset

    _, params = load_preset(args.preset)
    default = type(params)().to_dict()
    return {k: v for k, v in params.to_dict().items() if v != default[k]}


BATCH_OPS: tuple[BatchOp, ...] = (
    BatchOp("express", express_runner, express_params, ".png",
            "change anime-face expressions (Expression, classical rig); grid: expression=smile,angry "
            "intensity=0.5,1 blink_left=1 aaa=0.5 assume_crop=1; --preset FILE",
            procedural_variant="express-procedural", add_arguments=add_batch_arguments,
            params_from_args=params_from_args),
    BatchOp("express-procedural", express_procedural_runner, express_procedural_params, ".png",
            "the expression rig on generated anime faces (also `batch express --procedural N`)",
            source="procedural", output_names=express_procedural_outputs, add_arguments=add_batch_arguments,
            params_from_args=params_from_args),
)
"""The Expression studio's batch ops (read by :mod:`engine.batch.ops`)."""

BATCH_ENGINES: dict[str, BatchEngine] = {"express": BatchEngine(express_batch_engine),
                                         "express-procedural": BatchEngine(express_procedural_engine)}
"""The ``engine:`` line of the Expression batch ops (read by :mod:`engine.batch.cli`)."""
