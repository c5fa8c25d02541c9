"""Batch op ``regenerate``: apply label edits to every face's parsing and regenerate it (classical).

``masquerade batch regenerate --input DIR --output DIR --grid edits="dilate:hair:12","scale:l_eye+r_eye:1.3"
[--grid reference=REF.png --grid regions=hair+skin --grid blend=0.5,1]`` runs every image × edit
chain (see :func:`engine.studios.regenerate.edits.parse_edits`; chains use ``;`` between steps and
``+`` between labels, never commas). Regions are ``+``-joined label names. An image without a face
fails its task with ``no face found`` (recorded in the manifest).

Each task writes the (image, edited mask, result) triple of a segmentation-augmentation dataset:
``<stem>_image.png``, ``<stem>_mask.png`` (labels, official order) and ``<stem>_result.png``.

This module imports nothing heavy at import time: the op registry imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.studios.clitools import BatchEngine, classical_batch_engine
from engine.studios.registry import BatchOp

if TYPE_CHECKING:
    pass

KEYS = ("edits", "reference", "regions", "blend")


def regenerate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and complete batch parameters.

    Args:
        params: partial mapping with ``edits`` (chain string), ``reference`` (image path or ``""``),
            ``regions`` (``"hair+skin"``), ``blend`` (0–1).

    Returns:
        The complete, JSON-serialisable dict (edits re-written in canonical form).

    Raises:
        ValueError: unknown key, bad edit chain, unknown region, blend out of range, regions
            without a reference.
    """
    from engine.labels import CELEBAMASK_HQ
    from engine.studios.regenerate.edits import parse_edits
    from engine.studios.regenerate.params import RANGES

    unknown = set(params) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown regenerate parameter(s) {sorted(unknown)}; use {', '.join(KEYS)}")
    edits = ";".join(str(e) for e in parse_edits(str(params.get("edits", ""))))
    regions = [n for n in str(params.get("regions", "")).split("+") if n]
    for n in regions:
        if n not in CELEBAMASK_HQ.classes:
            raise ValueError(f"unknown region {n!r}; use label names joined by '+'")
    reference = str(params.get("reference", "") or "")
    if regions and not reference:
        raise ValueError("regions need a reference image")
    blend = RANGES["blend"].check("blend", params.get("blend", 1.0))
    return {"edits": edits, "reference": reference, "regions": "+".join(regions), "blend": blend}


class RegenerateBatchRunner:
    """Per-process function: one editor (face analyzer) per worker; references cached by path."""

    def __init__(self) -> None:
        from engine.studios.regenerate.editor import RegenerateEditor

        self.editor = RegenerateEditor("classical")
        self._reference = ""
        self._first = True

    def __call__(self, image: np.ndarray, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Regenerate ``image`` (``uint8`` RGB) after the label edits.

        Returns:
            ``{"image": input, "mask": edited label map (official order), "result": regenerated}``
            — the (image, edited mask, result) triple of a segmentation-augmentation dataset.

        Raises:
            NoFaceError: no face in the image or the reference.
        """
        from engine.faces.cli import quiet_native_stderr
        from engine.imageio import load_image
        from engine.studios.regenerate.edits import apply_edits
        from engine.studios.regenerate.params import RegenerateParams

        def analyse() -> None:
            self.editor.set_image(image)
            if params["reference"] != self._reference:
                self.editor.set_reference(load_image(params["reference"]) if params["reference"] else None)
                self._reference = params["reference"]

        if self._first:  # MediaPipe prints its start-up log lines on the native stderr
            self._first = False
            with quiet_native_stderr():
                analyse()
        else:
            analyse()
        edited = apply_edits(self.editor.source_labels, params["edits"])
        regions = tuple(n for n in params["regions"].split("+") if n)
        result = self.editor.edit(RegenerateParams(edited, reference_regions=regions, blend=params["blend"])).image
        return {"image": image, "mask": edited.astype(np.uint8), "result": result}


def regenerate_outputs(params: Mapping[str, Any]) -> tuple[str, ...]:
    """Files each task writes: ``<stem>_image.png``, ``<stem>_mask.png`` (labels), ``<stem>_result.png``.

    Args:
        params: normalised parameters (the names do not depend on them).

    Returns:
        The output names, in order.
    """
    return ("image", "mask", "result")


def regenerate_runner() -> RegenerateBatchRunner:
    """Batch op ``runner`` factory (called once per worker process).

    Returns:
        A new :class:`RegenerateBatchRunner`.
    """
    return RegenerateBatchRunner()


BATCH_OPS: tuple[BatchOp, ...] = (
    BatchOp("regenerate", regenerate_runner, regenerate_params, ".png",
            "edit each face's 19-label parsing and regenerate it (Regenerate, classical); "
            'grid: edits="dilate:hair:12","scale:l_eye+r_eye:1.3","add:glasses" regions=hair+skin',
            output_names=regenerate_outputs),
)
"""The Regenerate studio's batch ops (read by :mod:`engine.batch.ops`)."""

BATCH_ENGINES: dict[str, BatchEngine] = {"regenerate": classical_batch_engine("engine.studios.regenerate.learned:BACKEND", "regenerate")}
"""The ``engine:`` line of ``batch regenerate`` (read by :mod:`engine.batch.cli`)."""
