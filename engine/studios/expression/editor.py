"""Expression studio editor: emotion and low-level sliders on the largest anime face.

Two engines behind one :class:`ExpressionEditor`: the classical warp rig
(:mod:`engine.studios.expression.classical`, always available) and the learned GAN
(:mod:`engine.studios.expression.learned`), chosen by :data:`~engine.studios.expression.learned.EXPRESSION_GAN`
from its card. The GAN is loaded lazily by the first edit that needs it (in the worker), on
:func:`engine.device.select_device`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from engine.cancel import CancelToken
from engine.device import CLASSICAL_DEVICE, module_device_name
from engine.errors import NoFaceError
from engine.faces.anime import AnimeFaceParts, analyze_anime
from engine.procedural.anime_faces import AnimeFace
from engine.studios.base import LEARNED, Editor, EditResult
from engine.studios.expression.classical import apply_rig
from engine.studios.expression.learned import EXPRESSION_GAN, apply_gan, input_size
from engine.studios.expression.params import LOW_LEVEL, ExpressionParams


def parts_from_generated(face: AnimeFace) -> AnimeFaceParts:
    """Ground-truth parts of a procedural face (for tests, training and the GUI's random face).

    Args:
        face: a face from :func:`~engine.procedural.anime_faces.generate_anime_face`.

    Returns:
        Its :class:`~engine.faces.anime.AnimeFaceParts`, every part marked as found.
    """
    return AnimeFaceParts(box=face.boxes["face"].copy(), score=0.0,
                          parts={k: v.copy() for k, v in face.boxes.items() if k != "face"},
                          keypoints={k: v.copy() for k, v in face.keypoints.items()},
                          found={k: True for k in face.keypoints})


class ExpressionEditor(Editor[ExpressionParams]):
    """Expression sliders (four emotions + the low-level sliders of
    :data:`~engine.studios.expression.params.LOW_LEVEL`) on the largest anime face of a picture.

    Args:
        backend: ``"classical"`` (the rig), ``"neural"`` (the GAN) or ``"auto"`` (the GAN only when
            its card's verdict says it measured better than the rig, else the rig; a GAN that
            cannot be loaded falls back to the rig with the reason).
        assume_crop: when no face is found, take the whole picture as the face box even without a
            face-like layout (tight crops with one are found without it).

    Raises:
        LearnedBackendError: ``"neural"`` was requested and no usable checkpoint exists (one line;
            a ``ValueError``). The constructor reads cards only; nothing is loaded before an edit.

    The learned GAN knows the four emotions only; with it the low-level sliders are applied by the
    rig on the GAN's result.

    ``info`` of a result holds ``backend`` and ``backend_reason`` (the engine that ran and why),
    ``device`` (where it ran), ``method`` (``"tps-rig"`` or ``"expression-gan"``), ``face_box``,
    ``parts_found`` (name → found in the pixels), ``parts_estimated`` (names estimated instead; the
    rig warps them more gently), ``part_boxes`` (name → ``[x0, y0, x1, y1]`` in pixels of the
    result); ``masks`` holds ``regions`` (bool: pixels the edit may change), ``weight`` (``uint8``
    0–255: the rig's region window or the GAN's scaled attention mask) and ``warp`` (rig: flow
    magnitude as grey; GAN: the attention mask). The rig's float flow is in ``info["flow"]``
    (``[H, W, 2]``; zeros for the GAN).

    Example:
        >>> from engine.procedural.anime_faces import generate_anime_face
        >>> f = generate_anime_face(1, 128)
        >>> ed = ExpressionEditor("classical"); ed.set_face(f.image, parts_from_generated(f))
        >>> res = ed.edit(ExpressionParams(smile=1.0))
        >>> bool((res.image[~res.masks["regions"]] == f.image[~res.masks["regions"]]).all())
        True
    """

    backends = ("classical", LEARNED)
    learned = EXPRESSION_GAN
    preview_sides = (256,)

    def __init__(self, backend: str = "auto", assume_crop: bool = False) -> None:
        super().__init__(backend)
        if backend == LEARNED:
            _ = self.resolution  # an explicit GAN request without a usable checkpoint is refused here
        self.assume_crop = assume_crop
        self.faces: list[AnimeFaceParts] = []
        self._given: AnimeFaceParts | None = None

    @property
    def backend_reason(self) -> str:
        """Why :attr:`backend` runs, in words (from the cards; a failed load is remembered)."""
        return self.resolution.reason

    def set_face(self, image: np.ndarray, face: AnimeFaceParts) -> None:
        """Use ``image`` with already-known parts (skips detection).

        Args:
            image: ``uint8`` RGB ``[H, W, 3]``.
            face: its parts, e.g. from :func:`parts_from_generated`.
        """
        self._given = face
        try:
            self.set_image(image)
        finally:
            self._given = None

    def _prepare(self, image: np.ndarray) -> None:
        self.faces = [self._given] if self._given is not None else analyze_anime(image, assume_crop=self.assume_crop)

    @property
    def face(self) -> AnimeFaceParts:
        """The face being edited (the largest).

        Raises:
            EditorStateError: no image was set.
            NoFaceError: the image has no anime face.
        """
        _ = self.image
        if not self.faces:
            raise NoFaceError("no anime face found in the image")
        return self.faces[0]

    def _run(self, image: np.ndarray, params: ExpressionParams, scale: float,
             cancel: CancelToken | None) -> EditResult:
        face = self.face
        p = params.validate()
        model, ran = EXPRESSION_GAN.load_or_fallback(self.resolution)
        info: dict[str, Any] = {"backend": ran.backend, "backend_reason": ran.reason,
                                "device": CLASSICAL_DEVICE, "face_box": [float(v) for v in face.box],
                                "parts_found": dict(face.found), "parts_estimated": face.estimated,
                                "part_boxes": {k: [float(v) * scale for v in b] for k, b in face.parts.items()},
                                "params": p.to_dict()}
        if model is not None and ran.card is not None and ran.path is not None:
            emotions = replace(p, **dict.fromkeys(LOW_LEVEL, 0.0))
            if emotions.is_identity:
                out, att = image.copy(), np.zeros(image.shape[:2], np.uint8)
            else:
                out, att, _ = apply_gan(image, np.asarray(face.box, np.float64) * scale, emotions, model,
                                        input_size(ran.card))
            flow = np.zeros(image.shape[:2] + (2,), np.float32)
            if any(p.low_level().values()):
                # the GAN knows the four emotions only: the low-level sliders run on the rig after it
                low = replace(p, angry=0.0, sad=0.0, smile=0.0, surprised=0.0)
                out, flow, weight = apply_rig(out, face, low, scale)
                att = np.maximum(att, (weight * 255 + 0.5).astype(np.uint8))
            info.update(method="expression-gan", checkpoint=ran.path.name, device=module_device_name(model),
                        flow=flow)
            return EditResult(image=out, masks={"regions": att > 0, "weight": att, "warp": att, "attention": att},
                              info=info)
        out, flow, weight = apply_rig(image, face, p, scale)
        mag = np.hypot(flow[..., 0], flow[..., 1])
        info.update(method="tps-rig", flow=flow)
        return EditResult(
            image=out,
            masks={"regions": weight > 0, "weight": (weight * 255 + 0.5).astype(np.uint8),
                   "warp": np.clip(mag * (255.0 / max(1.0, float(mag.max()))), 0, 255).astype(np.uint8)},
            info=info)
