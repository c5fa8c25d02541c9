"""Mask-wear studio, learned engine: the refiner of :mod:`engine.models.maskwear_stn`.

The refiner predicts a homography residual on the key-point fit
(:mod:`engine.studios.maskwear.classical`) from an aligned 144² face crop with the key-point-fitted
template drawn on it; the correction it makes is applied to the six key-point targets themselves,
so an untrained (zero) residual leaves them exactly where they were. It is trained by
:mod:`engine.training.maskwear`, which imports the helpers below.

:data:`MASK_REFINER` is the studio's :class:`~engine.studios.base.LearnedBackend` (checkpoint
``maskwear_stn_g``, whose verdict compares it with the ``keypoint`` fit): ``method="auto"`` runs the
refiner only when its card's verdict says it measured better; otherwise, without a checkpoint, or
when it cannot be loaded, the key-point fit runs and the resolution's reason says why.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from engine.device import module_device
from engine.errors import CheckpointError
from engine.faces.align import align_face
from engine.faces.types import Face
from engine.procedural.mask_templates import MaskTemplate
from engine.studios.base import LearnedBackend, Resolution
from engine.studios.maskwear.params import METHOD_BACKENDS, METHODS
from engine.weights.card import ModelCard

if TYPE_CHECKING:  # torch and the model are imported where a refiner runs: a key-point worker never does
    import torch

    from engine.models.maskwear_stn import MaskWearGenerator

REFINER_MODEL = "maskwear_stn_g"
"""Registry name of the refiner's checkpoint."""
CROP = 144
"""Side of the aligned face crop the refiner sees."""
TEMPLATE_SIZE = (128, 100)
"""Templates are resized to this (width, height) for the network (built-ins are 512 × 400)."""


def to_normalised(points: np.ndarray, w: float, h: float) -> np.ndarray:
    """Pixel points ``[N, 2]`` of a ``w × h`` picture → normalised [-1, 1] coordinates
    (``align_corners=True`` convention)."""
    return np.stack([points[:, 0] / (w - 1) * 2 - 1, points[:, 1] / (h - 1) * 2 - 1], 1)


def from_normalised(points: np.ndarray, w: float, h: float) -> np.ndarray:
    """Normalised [-1, 1] points ``[N, 2]`` → pixels of a ``w × h`` picture (inverse of
    :func:`to_normalised`)."""
    return np.stack([(points[:, 0] + 1) / 2 * (w - 1), (points[:, 1] + 1) / 2 * (h - 1)], 1)


def keypoint_homography(template: MaskTemplate, targets_crop: np.ndarray, size: int = CROP) -> np.ndarray:
    """Least-squares homography (normalised coordinates) from the template's anchors to crop points.

    Args:
        template: the (network-sized) template.
        targets_crop: ``[6, 2]`` anchor targets in pixels of the ``size × size`` crop.
        size: side of the crop.

    Returns:
        ``float64`` ``[3, 3]`` with ``h[2, 2] == 1``.

    Raises:
        ValueError: the anchors are degenerate (no homography).
    """
    th, tw = template.rgba.shape[:2]
    src = to_normalised(template.anchor_array(), tw, th).astype(np.float64)
    dst = to_normalised(np.asarray(targets_crop, np.float64), size, size)
    h, _ = cv2.findHomography(src, dst, 0)
    if h is None:
        raise ValueError("degenerate anchors: no homography")
    return h / h[2, 2]


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points ``[N, 2]`` through the homography ``h`` ``[3, 3]``; returns ``[N, 2]``."""
    p = np.c_[points, np.ones(len(points))] @ h.T
    return p[:, :2] / p[:, 2:3]


_SMALL: OrderedDict[tuple[Any, ...], tuple[np.ndarray, MaskTemplate]] = OrderedDict()
"""(id(template.rgba), name, kind, anchors) → (that array, its :func:`small_template`); the entry
keeps the array alive so its id cannot be reused while cached (built-in templates are cached
objects: a batch resizes each once)."""


def small_template(t: MaskTemplate) -> MaskTemplate:
    """``t`` resized to :data:`TEMPLATE_SIZE`, anchors scaled with it (cached per template)."""
    key = (id(t.rgba), t.name, t.kind, tuple(sorted(t.anchors.items())))
    hit = _SMALL.get(key)
    if hit is not None and hit[0] is t.rgba:
        _SMALL.move_to_end(key)
        return hit[1]
    small = _small_template(t)
    _SMALL[key] = (t.rgba, small)
    while len(_SMALL) > 16:
        _SMALL.popitem(last=False)
    return small


def _small_template(t: MaskTemplate) -> MaskTemplate:
    th, tw = t.rgba.shape[:2]
    sx, sy = TEMPLATE_SIZE[0] / tw, TEMPLATE_SIZE[1] / th
    small = cv2.resize(np.asarray(t.rgba), TEMPLATE_SIZE, interpolation=cv2.INTER_AREA)
    return MaskTemplate(t.name, small, {k: (x * sx, y * sy) for k, (x, y) in t.anchors.items()}, t.kind)


def faces_to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """``uint8`` ``[N, H, W, 3]`` → ``float32`` ``[N, 3, H, W]`` in [0, 1] on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0).to(device)  # [NCHW]


class LearnedRefiner:
    """Refine the key-point targets of a face with a trained generator (on the generator's device).

    Args:
        model: a :class:`~engine.models.maskwear_stn.MaskWearGenerator` (put in eval mode).
    """

    def __init__(self, model: MaskWearGenerator) -> None:
        self.model = model.eval()

    @property
    def device(self) -> torch.device:
        """Where the generator's parameters live (inputs are moved there)."""
        return module_device(self.model)

    def refine(self, image: np.ndarray, face: Face, template: MaskTemplate, targets: np.ndarray) -> np.ndarray:
        """Refined image-space targets for ``face``.

        Args:
            image: ``uint8`` RGB ``[H, W, 3]``.
            face: the analysed face (its eye / mouth key points align the crop).
            template: the template being fitted.
            targets: ``[6, 2]`` key-point targets (the start).

        Returns:
            ``float32`` ``[6, 2]`` refined targets in image pixels.
        """
        import torch

        from engine.models.maskwear_stn import matrix_to_params, params_to_matrix, warp_rgba

        device = self.device
        crop = align_face(image, face.keypoints, CROP)
        tsmall = small_template(template)
        hk = keypoint_homography(tsmall, crop.to_crop(targets))
        tmpl = torch.from_numpy(np.ascontiguousarray(tsmall.rgba)).permute(2, 0, 1).float().div(255.0)[None].to(device)
        h_in = torch.tensor(hk, dtype=torch.float32)[None].to(device)
        warped = warp_rgba(tmpl, h_in, CROP)
        face_t = faces_to_tensor(crop.image[None], device)
        with torch.no_grad():
            delta = self.model(torch.cat([face_t, warped[:, :3], warped[:, 3:4]], 1))
            h = params_to_matrix(matrix_to_params(h_in) + delta)[0].cpu().numpy().astype(np.float64)
        # the correction the network made, applied to the key-point targets themselves: a zero
        # residual leaves them exactly where they were
        correction = h @ np.linalg.inv(hk)
        crop_pts = from_normalised(
            apply_homography(correction, to_normalised(crop.to_crop(targets).astype(np.float64), CROP, CROP)),
            CROP, CROP)
        return crop.to_image(crop_pts.astype(np.float32))


def _load_refiner(path: Path, device: Any) -> LearnedRefiner:
    """The :class:`LearnedRefiner` of the checkpoint at ``path``, on ``device`` (hash-verified)."""
    from engine.models.maskwear_stn import MaskWearGenerator
    from engine.weights.store import load_checkpoint

    model, _ = load_checkpoint(path, device=device, verify_hash=True)
    if not isinstance(model, MaskWearGenerator):
        raise CheckpointError(f"{Path(path).name} does not hold a MaskWearGenerator")
    return LearnedRefiner(model)


def _card_summary(card: ModelCard) -> str:
    """The card's nose coverage against the key-point fit's, in words."""
    m = card.metrics
    nose, kp = m.get("coverage_nose"), m.get("keypoint_coverage_nose")
    if not isinstance(nose, (int, float)) or not isinstance(kp, (int, float)):
        return ""
    return f"nose coverage {nose:.3f} vs key-point {kp:.3f}"


MASK_REFINER = LearnedBackend(
    REFINER_MODEL,
    title="the learned mask refiner",
    classical="the key-point fit",
    train_hint="masquerade train maskwear-stn",
    describe=_card_summary,
    load=_load_refiner,
)
"""The mask-wear studio's learned engine (cards read by ``resolve``; loaded in the worker)."""


def method_resolution(method: str) -> Resolution:
    """Which fitting runs for ``method`` and why; reads cards only (cheap, safe on the GUI thread).

    Args:
        method: ``"auto"``, ``"keypoint"`` (the classical twin) or ``"learned"``.

    Returns:
        The :class:`~engine.studios.base.Resolution`: ``backend`` ``"neural"`` = the learned
        refiner, ``"classical"`` = the key-point fit.

    Raises:
        ValueError: unknown method.
        LearnedBackendError: ``"learned"`` requested without a usable checkpoint (one line).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return MASK_REFINER.resolve(METHOD_BACKENDS[method])
