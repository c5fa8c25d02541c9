"""Mask-wear studio engine: put surgical / KN95 / N95 / cloth masks on faces.

Classical (key-point) method: the six template anchors (:mod:`engine.procedural.mask_templates`)
are mapped to six face-mesh points — cheek contours at nose height (``a``/``c``), the nose bridge
just under the eyes (``b``), the jaw below the mouth corners (``d``/``f``) and a point under the
chin (``e``). Each half of the template (``a b e d`` and ``b c f e``) gets its own homography, so on a
turned head the far half shrinks with the far cheek instead of being oversized. The mask is then
shaded like the face under it (lighting adaptation), the eye regions are kept clear whatever the
fit, and it is composited with its alpha. The learned refiner (:mod:`engine.models.maskwear_stn`,
a residual on this fit, trained by :mod:`engine.training.maskwear`) moves the six targets when it
is selected; ``method="auto"`` selects it only when its card records that it measured better.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Optional

import cv2
import numpy as np

from engine.cancel import CancelToken
from engine.errors import NoFaceError
from engine.faces import topology as T
from engine.faces.types import Face
from engine.procedural.mask_templates import (
    ANCHORS,
    MaskTemplate,
    get_template,
    parse_color,
)
from engine.studios.base import Editor, EditResult

FACE_ANCHORS: dict[str, int] = {"a": 93, "b": 197, "c": 323, "d": 136, "e": 152, "f": 365}
"""Template anchor → MediaPipe mesh index (``e`` is moved below the chin, see :func:`face_targets`)."""

CHIN_DROP = 0.10
"""``e`` sits below the chin by ``2 × CHIN_DROP`` × the nose-tip-to-chin distance (the mask wraps under it)."""

METHODS = ("auto", "keypoint", "learned")


@dataclass(frozen=True)
class MaskWearParams:
    """What to put on which faces.

    Args:
        template: built-in template name (:func:`~engine.procedural.mask_templates.template_names`).
        color: ``#RRGGBB`` main colour, or ``None`` for the template's own.
        method: ``"keypoint"`` (classical), ``"learned"`` (the trained refiner; an error when there is
            none) or ``"auto"`` (the refiner only when its card says it measured better than the
            key-point fit, else key-point).
        faces: ``"all"`` or ``"largest"``.
        lighting: 0–1, how strongly the mask takes the face's shading and brightness.
        offsets: manual nudges ``((anchor, dx, dy), ...)`` in image pixels, applied to the largest face.
        user_template: a loaded user template; overrides ``template`` when set.
    """

    template: str = "surgical-blue"
    color: Optional[str] = None
    method: str = "auto"
    faces: str = "all"
    lighting: float = 0.8
    offsets: tuple[tuple[str, float, float], ...] = ()
    user_template: Optional[MaskTemplate] = field(default=None, compare=False, repr=False)

    def validate(self) -> "MaskWearParams":
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.faces not in ("all", "largest"):
            raise ValueError(f"faces must be 'all' or 'largest', got {self.faces!r}")
        if not 0.0 <= self.lighting <= 1.0:
            raise ValueError(f"lighting must be in [0, 1], got {self.lighting}")
        if self.color is not None:
            parse_color(self.color)
        for name, _, _ in self.offsets:
            if name not in ANCHORS:
                raise ValueError(f"unknown anchor {name!r} in offsets (use {', '.join(ANCHORS)})")
        return self

    def resolve_template(self) -> MaskTemplate:
        if self.user_template is not None:
            return self.user_template
        return get_template(self.template, parse_color(self.color) if self.color else None)


def face_targets(face: Face) -> np.ndarray:
    """``[6, 2]`` image points for anchors ``a``–``f`` of one face (needs landmarks)."""
    if face.landmarks is None:
        raise NoFaceError("no face landmarks: the face is too small, turned or occluded to fit a mask")
    lm = face.landmarks.astype(np.float64)
    pts = np.array([lm[FACE_ANCHORS[k]] for k in ANCHORS])
    down = lm[T.CHIN] - lm[T.NOSE_TIP]
    pts[ANCHORS.index("e")] = lm[T.CHIN] + down * 2 * CHIN_DROP
    return pts.astype(np.float32)


def _half_homographies(template: MaskTemplate, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    src = template.anchor_array()
    idx = {k: i for i, k in enumerate(ANCHORS)}
    halves = []
    for quad in (("a", "b", "e", "d"), ("b", "c", "f", "e")):
        ii = [idx[k] for k in quad]
        halves.append(cv2.getPerspectiveTransform(src[ii].astype(np.float32), targets[ii].astype(np.float32)))
    return halves[0], halves[1]


_PREMULTIPLIED: "OrderedDict[int, tuple[np.ndarray, tuple[np.ndarray, np.ndarray, int]]]" = OrderedDict()
"""id(template.rgba) → (that array, its premultiplied float halves); the entry keeps the array
alive, so its id cannot be reused while cached. Built-in templates are cached objects, so a batch
premultiplies each once."""


def _premultiplied_halves(template: MaskTemplate) -> tuple[np.ndarray, np.ndarray, int]:
    """Premultiplied float32 RGBA of the template's left part (columns ≤ anchor b) and right part
    (columns ≥ anchor b, starting at the returned column), as :func:`warp_template` warps them."""
    key = id(template.rgba)
    hit = _PREMULTIPLIED.get(key)
    split = template.anchors["b"][0]
    if hit is not None and hit[0] is template.rgba and hit[1][3] == split:
        _PREMULTIPLIED.move_to_end(key)
        return hit[1][:3]
    rgba = template.rgba.astype(np.float32)
    rgba[:, :, :3] *= rgba[:, :, 3:4] / 255.0  # premultiply so edges do not darken
    tw = rgba.shape[1]
    cols = np.arange(tw)
    last_left = int(cols[cols <= split + 0.5].max(initial=-1))
    first_right = int(cols[cols >= split - 0.5].min(initial=tw))
    halves = (np.ascontiguousarray(rgba[:, :last_left + 1]), np.ascontiguousarray(rgba[:, first_right:]),
              first_right, split)
    _PREMULTIPLIED[key] = (template.rgba, halves)
    while len(_PREMULTIPLIED) > 16:
        _PREMULTIPLIED.popitem(last=False)
    return halves[:3]


def warp_template(template: MaskTemplate, targets: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp a template onto an image of ``size = (H, W)``: returns RGB float32 and alpha ``[0, 1]``."""
    h, w = size
    hl, hr = _half_homographies(template, targets)
    left, right, x_right = _premultiplied_halves(template)
    # the right half starts at column x_right of the template: shift it there before its homography
    shift = np.array([[1, 0, x_right], [0, 1, 0], [0, 0, 1]], np.float64)
    out = None
    for hmat, half in ((hl, left), (hr @ shift, right)):
        if half.shape[1] == 0:
            continue
        warped = cv2.warpPerspective(half, hmat, (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out = warped if out is None else np.maximum(out, warped)
    if out is None:
        return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
    alpha = np.clip(out[:, :, 3] / 255.0, 0, 1)
    rgb = np.where(alpha[:, :, None] > 1e-4, out[:, :, :3] / np.maximum(alpha[:, :, None], 1e-4), 0)
    return rgb, alpha


def eye_guard(shape: tuple[int, int], face: Face) -> np.ndarray:
    """``float32`` ``[H, W]``: 0 over the eyes (with a margin), 1 elsewhere, soft edges."""
    lm = face.landmarks
    g = np.zeros(shape, np.uint8)
    for loop in (T.LEFT_EYE, T.RIGHT_EYE):
        pts = lm[list(loop)]
        c = pts.mean(0)
        grown = c + (pts - c) * 1.7  # margin around the lids
        cv2.fillPoly(g, [np.round(grown * 4).astype(np.int32)], 1, cv2.LINE_AA, 4)
    size = max(3, int(round(np.hypot(*(lm[T.LEFT_EYE[0]] - lm[T.RIGHT_EYE[0]])) * 0.05)) | 1)
    soft = cv2.GaussianBlur(g.astype(np.float32), (size, size), 0)
    return 1.0 - np.clip(soft, 0, 1)


LIGHTING_SIGMA_PX = 8.0
"""The mask's shading is measured with a blur of at most this many pixels on a shrunk copy
(:func:`adapt_lighting`)."""


def adapt_lighting(image: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, strength: float) -> np.ndarray:
    """Shade the mask like the face under it: local luminance ratio plus global brightness."""
    if strength <= 0 or alpha.max() <= 0:
        return rgb
    ys, xs = np.nonzero(alpha > 0.5)
    if len(ys) < 10:
        return rgb
    span = max(xs.max() - xs.min(), ys.max() - ys.min())
    sigma = max(2.0, span * 0.12)
    # the local luminance only matters where the mask is: blur the mask's box plus the kernel's
    # reach, on a copy shrunk so the blur is at most LIGHTING_SIGMA_PX wide (a 6000² photo blurred
    # at full size took minutes)
    h, w = alpha.shape
    pad = int(np.ceil(3 * sigma))
    y0, y1 = max(0, int(ys.min()) - pad), min(h, int(ys.max()) + pad + 1)
    x0, x1 = max(0, int(xs.min()) - pad), min(w, int(xs.max()) + pad + 1)
    luma = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    f = min(1.0, LIGHTING_SIGMA_PX / sigma)
    if f < 1.0:
        small = cv2.resize(luma, (max(1, round(luma.shape[1] * f)), max(1, round(luma.shape[0] * f))),
                           interpolation=cv2.INTER_AREA)
        crop = cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma * f), (luma.shape[1], luma.shape[0]),
                          interpolation=cv2.INTER_LINEAR)
    else:
        crop = cv2.GaussianBlur(luma, (0, 0), sigma)
    ref = float(np.median(crop[ys - y0, xs - x0]))
    ratio = np.ones((h, w), np.float32)
    ratio[y0:y1, x0:x1] = np.clip(crop / max(ref, 1.0), 0.55, 1.3) ** strength
    brightness = float(np.clip(ref / 150.0, 0.6, 1.15)) ** strength
    return np.clip(rgb * ratio[:, :, None] * brightness, 0, 255)


_REFINER: dict[str, object] = {}


def _refiner_card() -> tuple[Optional[object], str]:
    """``(card path or None, reason)`` of the trained mask refiner, without loading it."""
    if "card" not in _REFINER:
        from engine.errors import CheckpointError
        from engine.weights.card import read_card
        from engine.weights.store import find_checkpoint

        path = find_checkpoint("maskwear_stn_g")
        if path is None:
            _REFINER["card"] = (None, "no trained mask refiner checkpoint")
        else:
            try:
                better = bool(read_card(path).extra.get("better_than_keypoint", False))
                _REFINER["better"] = better
                _REFINER["card"] = (path, "measured better than key-point" if better else
                                    "trained, but not measured better than key-point")
            except (CheckpointError, OSError, ValueError) as exc:
                _REFINER["card"] = (None, f"mask refiner unusable: {exc}")
    return _REFINER["card"]  # type: ignore[return-value]


def learned_refiner_status() -> tuple[Optional[object], str]:
    """``(refiner or None, reason)`` for the trained mask refiner (loaded once, then cached)."""
    if "status" not in _REFINER:
        path, reason = _refiner_card()
        if path is None:
            _REFINER["status"] = (None, reason)
        else:
            from engine.errors import CheckpointError
            from engine.training.maskwear import LearnedRefiner

            try:
                _REFINER["status"] = (LearnedRefiner.from_checkpoint(path), reason)
            except (CheckpointError, OSError, ValueError) as exc:
                _REFINER["status"] = (None, f"mask refiner unusable: {exc}")
    return _REFINER["status"]  # type: ignore[return-value]


def resolve_method(method: str) -> tuple[str, str]:
    """The fitting method that will run for ``method`` and why (``auto`` reads only the card)."""
    if method == "keypoint":
        return "keypoint", "key-point fit requested"
    if method == "learned":
        refiner, reason = learned_refiner_status()
        if refiner is None:
            raise ValueError(f"the learned mask refiner is not available ({reason}); use method 'keypoint'")
        return "learned", reason
    path, reason = _refiner_card()
    if path is not None and _REFINER.get("better"):
        refiner, reason = learned_refiner_status()
        if refiner is not None:
            return "learned", reason
    return "keypoint", reason


def _roi(template: MaskTemplate, targets: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Bounding box ``(x0, y0, x1, y1)`` of the warped template (both halves), clipped to the image."""
    th, tw = template.rgba.shape[:2]
    corners = np.array([[0, 0], [tw, 0], [tw, th], [0, th], [tw / 2, 0], [tw / 2, th]], np.float32)
    pts = [cv2.perspectiveTransform(corners[None], hm)[0] for hm in _half_homographies(template, targets)]
    allp = np.concatenate(pts + [targets])
    h, w = shape
    pad = 4
    x0, y0 = np.floor(allp.min(0)).astype(int) - pad
    x1, y1 = np.ceil(allp.max(0)).astype(int) + pad
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def put_mask(image: np.ndarray, faces: list[Face], params: MaskWearParams,
             refiner: Optional[object] = None) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Composite the mask on ``faces`` of ``image``.

    Work is done in the bounding box of each warped mask only.

    Args:
        image: ``uint8`` RGB.
        faces: analysed faces (those without landmarks are skipped).
        params: what to put on.
        refiner: a specific learned refiner to use (evaluation); overrides ``params.method``.

    Returns:
        (result ``uint8`` ``[H, W, 3]``, coverage alpha ``float32`` ``[H, W]``, per-face targets).

    Raises:
        NoFaceError: no face with landmarks.
        ValueError: bad parameters, or ``method="learned"`` without a trained refiner.
    """
    p = params.validate()
    if refiner is None:
        method, _ = resolve_method(p.method)
        refiner = learned_refiner_status()[0] if method == "learned" else None
    usable = [f for f in faces if f.landmarks is not None]
    if not usable:
        raise NoFaceError("no face found")
    if p.faces == "largest":
        usable = usable[:1]
    template = p.resolve_template()
    h, w = image.shape[:2]
    result = image.copy()
    total = np.zeros((h, w), np.float32)
    all_targets = []
    for i, face in enumerate(usable):
        targets = face_targets(face)
        if refiner is not None:
            targets = refiner.refine(image, face, template, targets)  # type: ignore[attr-defined]
        if i == 0 and p.offsets:
            for name, dx, dy in p.offsets:
                targets[ANCHORS.index(name)] += (dx, dy)
        all_targets.append(targets)
        x0, y0, x1, y1 = _roi(template, targets, (h, w))
        if x1 <= x0 or y1 <= y0:
            continue
        off = np.array([x0, y0], np.float32)
        local = replace(face, landmarks=face.landmarks - off)
        rgb, alpha = warp_template(template, targets - off, (y1 - y0, x1 - x0))
        alpha *= eye_guard((y1 - y0, x1 - x0), local)
        patch = result[y0:y1, x0:x1]
        rgb = adapt_lighting(image[y0:y1, x0:x1], rgb, alpha, p.lighting)
        blended = patch.astype(np.float32) * (1 - alpha[:, :, None]) + rgb * alpha[:, :, None]
        touched = alpha > 0
        patch[touched] = np.clip(np.rint(blended[touched]), 0, 255).astype(np.uint8)
        total[y0:y1, x0:x1] = np.maximum(total[y0:y1, x0:x1], alpha)
    return result, total, all_targets


class MaskWearEditor(Editor[MaskWearParams]):
    """Put masks on every face of an image (``set_image`` finds the faces once).

    Args:
        backend: ``"classical"`` or ``"auto"`` (classical: no trained refiner exists yet).
        analyzer: a :class:`~engine.faces.FaceAnalyzer` to share (one is made when ``None``).
    """

    backends = ("classical",)
    preview_sides = (384,)

    def __init__(self, backend: str = "auto", analyzer=None) -> None:
        super().__init__(backend)
        self._analyzer = analyzer
        self.faces: list[Face] = []

    def _prepare(self, image: np.ndarray) -> None:
        if self._analyzer is None:
            from engine.faces import FaceAnalyzer

            self._analyzer = FaceAnalyzer()
        self.faces = self._analyzer.analyze(image, parse=False).faces

    def _run(self, image: np.ndarray, params: MaskWearParams, scale: float,
             cancel: Optional[CancelToken]) -> EditResult:
        faces = self.faces if scale == 1.0 else [
            replace(f, box=f.box * scale, keypoints=f.keypoints * scale,
                    landmarks=None if f.landmarks is None else f.landmarks * scale) for f in self.faces]
        if scale != 1.0 and params.offsets:
            params = replace(params, offsets=tuple((k, dx * scale, dy * scale) for k, dx, dy in params.offsets))
        result, alpha, targets = put_mask(image, faces, params)
        method, why = resolve_method(params.method)
        return EditResult(image=result, masks={"mask": np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)},
                          info={"backend": "neural" if method == "learned" else "classical", "method": method,
                                "method_reason": why, "device": "cpu",
                                "faces": len(targets), "anchors": [t.tolist() for t in targets],
                                "offsets": [list(o) for o in params.offsets]})
