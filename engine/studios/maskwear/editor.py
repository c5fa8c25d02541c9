"""Mask-wear studio editor: put surgical / KN95 / N95 / cloth masks on every face of an image.

Two fitting methods behind one :class:`MaskWearEditor` and :func:`put_mask`: the key-point fit
(:mod:`engine.studios.maskwear.classical`, the classical twin) and the learned refiner
(:mod:`engine.studios.maskwear.learned`), chosen by
:data:`~engine.studios.maskwear.learned.MASK_REFINER` from its card. The refiner is loaded lazily by
the first fit that needs it (in the worker), on :func:`engine.device.select_device`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from engine.cancel import CancelToken
from engine.device import CLASSICAL_DEVICE, module_device_name
from engine.faces.types import Face
from engine.studios.base import LEARNED, Editor, EditResult, Resolution
from engine.studios.maskwear.classical import TargetRefiner, composite_masks, usable_faces
from engine.studios.maskwear.learned import MASK_REFINER, method_resolution
from engine.studios.maskwear.params import MaskWearParams

if TYPE_CHECKING:
    from engine.faces import FaceAnalyzer


def put_mask(image: np.ndarray, faces: list[Face], params: MaskWearParams,
             refiner: TargetRefiner | None = None, exposure: float | None = None
             ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Composite the mask on ``faces`` of ``image`` with the fitting ``params.method`` resolves to.

    The learned refiner is loaded here (hash-verified, cached) when ``method`` resolves to it; on
    ``auto`` a refiner that cannot be loaded falls back to the key-point fit.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        faces: analysed faces (those without landmarks are skipped).
        params: what to put on.
        refiner: a specific refiner to use (evaluation); overrides ``params.method``.
        exposure: the brightness factor of the photo ``image`` was cropped from
            (:func:`~engine.studios.maskwear.classical.scene_exposure`); ``None``: measured on ``image``.

    Returns:
        (result ``uint8`` ``[H, W, 3]``, coverage alpha ``float32`` ``[H, W]``, per-face targets ``[6, 2]``).

    Raises:
        NoFaceError: no face with landmarks.
        ValueError: bad parameters.
        LearnedBackendError: ``method="learned"`` without a usable refiner (one line; a ``ValueError``).
    """
    if refiner is None:
        return fit_masks(image, faces, params, exposure)[:3]
    return composite_masks(image, faces, params.validate(), refiner, exposure)


def fit_masks(image: np.ndarray, faces: list[Face], params: MaskWearParams, exposure: float | None = None
              ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], Resolution]:
    """:func:`put_mask` with the fitting ``params.method`` resolves to, and that resolution as it
    really ran (``auto`` falls back to the key-point fit when the refiner cannot be loaded): what a
    dataset records as the fit that placed each mask.

    Raises:
        NoFaceError: no face with landmarks.
        ValueError: bad parameters.
        LearnedBackendError: ``method="learned"`` without a usable refiner (one line; a ``ValueError``).
    """
    p = params.validate()
    resolution = method_resolution(p.method)
    usable_faces(faces, p)  # no face: fail before loading anything
    refiner, ran = MASK_REFINER.load_or_fallback(resolution)
    return (*composite_masks(image, faces, p, refiner, exposure), ran)


class MaskWearEditor(Editor[MaskWearParams]):
    """Put masks on every face of an image (``set_image`` finds the faces once).

    Args:
        backend: ``"auto"``, ``"classical"`` (the key-point fit) or ``"neural"`` (the learned
            refiner) — what runs for parameters whose ``method`` is ``"auto"``; ``method="keypoint"``
            / ``"learned"`` in the parameters choose for themselves.
        analyzer: a :class:`~engine.faces.FaceAnalyzer` to share (one is made by the first
            ``set_image`` when ``None``).

    :attr:`resolution` reports what runs for the latest edit's method (before any edit: for
    ``method="auto"``), from the cards only. ``info`` of a result holds ``backend`` (``"neural"`` when
    the refiner ran), ``method`` (``"learned"`` or ``"keypoint"``), ``method_reason`` (why),
    ``device`` (where it ran), ``faces``, ``anchors`` (per face ``[6, 2]``) and ``offsets``;
    ``masks["mask"]`` is the coverage as ``uint8``.
    """

    backends = ("classical", LEARNED)
    learned = MASK_REFINER
    preview_sides = (384,)

    def __init__(self, backend: str = "auto", analyzer: FaceAnalyzer | None = None) -> None:
        super().__init__(backend)
        self._analyzer = analyzer
        self._method = "auto"
        self.faces: list[Face] = []

    def resolution_for(self, method: str) -> Resolution:
        """Which fitting runs for parameters with ``method`` and why (cards only).

        Args:
            method: ``"auto"`` (the editor's ``backend`` decides), ``"keypoint"`` or ``"learned"``.

        Raises:
            ValueError: unknown method.
            LearnedBackendError: the refiner was requested explicitly and is unavailable.
        """
        if method == "auto":
            return MASK_REFINER.resolve(self.requested_backend)
        return method_resolution(method)

    @property
    def resolution(self) -> Resolution:
        """What runs for the latest edit's method (``"neural"``: the learned refiner, ``"classical"``:
        the key-point fit) and why; reads cards only."""
        return self.resolution_for(self._method)

    def _prepare(self, image: np.ndarray) -> None:
        if self._analyzer is None:
            from engine.faces import FaceAnalyzer

            self._analyzer = FaceAnalyzer()
        self.faces = self._analyzer.analyze(image, parse=False).faces

    def _run(self, image: np.ndarray, params: MaskWearParams, scale: float,
             cancel: CancelToken | None) -> EditResult:
        p = params.validate()
        faces = self.faces if scale == 1.0 else [
            replace(f, box=f.box * scale, keypoints=f.keypoints * scale,
                    landmarks=None if f.landmarks is None else f.landmarks * scale) for f in self.faces]
        if scale != 1.0 and p.offsets:
            p = replace(p, offsets=tuple((k, dx * scale, dy * scale) for k, dx, dy in p.offsets))
        self._method = p.method
        resolution = self.resolution
        usable_faces(faces, p)  # no face: fail before loading anything
        refiner, ran = MASK_REFINER.load_or_fallback(resolution)
        result, alpha, targets = composite_masks(image, faces, p, refiner)
        device = module_device_name(refiner) if refiner is not None else CLASSICAL_DEVICE
        return EditResult(image=result, masks={"mask": np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)},
                          info={"backend": ran.backend, "method": "learned" if ran.learned else "keypoint",
                                "method_reason": ran.reason, "backend_reason": ran.reason, "device": device,
                                "faces": len(targets), "anchors": [t.tolist() for t in targets],
                                "offsets": [list(o) for o in p.offsets]})
