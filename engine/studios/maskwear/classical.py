"""Mask-wear studio, classical engine: the key-point fit of a mask template onto the face mesh.

This is what ``method="auto"`` runs unless the learned refiner's card says it measured better (see
:mod:`engine.studios.maskwear.learned`; the editor is :class:`~engine.studios.maskwear.editor.MaskWearEditor`).

The six template anchors (:mod:`engine.procedural.mask_templates`) are mapped to six face-mesh
points — cheek contours at nose height (``a``/``c``), the nose bridge just under the eyes (``b``),
the jaw below the mouth corners (``d``/``f``) and a point under the chin (``e``). Each half of the
template (``a b e d`` and ``b c f e``) gets its own homography, so on a turned head the far half
shrinks with the far cheek instead of being oversized. The mask is then shaded like the face under
it (lighting adaptation), the eye regions are kept clear whatever the fit, and it is composited
with its alpha. A :class:`TargetRefiner` (the learned refiner) may move the six targets before the
warp; :func:`composite_masks` takes it as an argument and never loads one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Protocol

import cv2
import numpy as np

from engine.errors import NoFaceError
from engine.faces import topology as T
from engine.faces.types import Face
from engine.procedural.mask_templates import ANCHORS, MaskTemplate
from engine.studios.maskwear.params import MaskWearParams

FACE_ANCHORS: dict[str, int] = {"a": 93, "b": 197, "c": 323, "d": 136, "e": 152, "f": 365}
"""Template anchor → MediaPipe mesh index (``e`` is moved below the chin, see :func:`face_targets`)."""

CHIN_DROP = 0.10
"""``e`` sits below the chin by ``2 × CHIN_DROP`` × the nose-tip-to-chin distance (the mask wraps under it)."""


def _landmarks(face: Face) -> np.ndarray:
    """The face's mesh ``[478, 2]``; raises :class:`NoFaceError` when it has none."""
    if face.landmarks is None:
        raise NoFaceError("no face landmarks: the face is too small, turned or occluded to fit a mask")
    return face.landmarks


def face_targets(face: Face) -> np.ndarray:
    """The key-point targets of one face.

    Args:
        face: an analysed face with its 478-point mesh.

    Returns:
        ``float32`` ``[6, 2]`` image points for anchors ``a``–``f``.

    Raises:
        NoFaceError: the face has no landmarks.
    """
    lm = _landmarks(face).astype(np.float64)
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


_PREMULTIPLIED: OrderedDict[int, tuple[np.ndarray, tuple[np.ndarray, np.ndarray, int, float]]] = OrderedDict()
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
    """Warp a template onto its targets, each half with its own homography.

    Args:
        template: the mask template.
        targets: ``[6, 2]`` image points of anchors ``a``–``f``.
        size: ``(H, W)`` of the output.

    Returns:
        ``(rgb, alpha)``: ``float32`` ``[H, W, 3]`` (0–255, un-premultiplied) and ``float32``
        ``[H, W]`` coverage in [0, 1].
    """
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
    """Where a mask may cover: nothing over the eyes, whatever the fit.

    Args:
        shape: ``(H, W)`` of the image the face's landmarks are in.
        face: a face with landmarks.

    Returns:
        ``float32`` ``[H, W]``: 0 over the eyes (with a margin), 1 elsewhere, soft edges.

    Raises:
        NoFaceError: the face has no landmarks.
    """
    lm = _landmarks(face)
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
    """Shade the mask like the face under it: local luminance ratio plus global brightness.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` under the mask.
        rgb: the warped mask colours ``float32`` ``[H, W, 3]`` (0–255).
        alpha: its coverage ``float32`` ``[H, W]``.
        strength: 0 (flat colours) to 1 (full shading).

    Returns:
        The shaded colours, ``float32`` ``[H, W, 3]`` in 0–255 (``rgb`` itself when nothing changes).
    """
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




class TargetRefiner(Protocol):
    """Moves the key-point targets of one face (the learned refiner,
    :class:`~engine.studios.maskwear.learned.LearnedRefiner`, is one)."""

    def refine(self, image: np.ndarray, face: Face, template: MaskTemplate, targets: np.ndarray) -> np.ndarray:
        """Refined ``[6, 2]`` image-space targets for ``face``, starting from ``targets``."""
        ...


def usable_faces(faces: list[Face], params: MaskWearParams) -> list[Face]:
    """The faces a mask is put on: those with landmarks (only the first for ``faces="largest"``).

    Args:
        faces: analysed faces, largest first.
        params: the studio parameters (``faces`` is read).

    Returns:
        The faces to mask, in order.

    Raises:
        NoFaceError: no face has landmarks.
    """
    usable = [f for f in faces if f.landmarks is not None]
    if not usable:
        raise NoFaceError("no face found")
    return usable[:1] if params.faces == "largest" else usable


def composite_masks(image: np.ndarray, faces: list[Face], params: MaskWearParams,
                    refiner: TargetRefiner | None = None) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Fit and composite the mask on ``faces`` of ``image``: the key-point fit, moved by ``refiner``
    when one is given (``params.method`` is not read here).

    Work is done in the bounding box of each warped mask only.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        faces: analysed faces (those without landmarks are skipped).
        params: what to put on.
        refiner: moves each face's key-point targets before the warp; ``None``: the key-point fit.

    Returns:
        (result ``uint8`` ``[H, W, 3]``, coverage alpha ``float32`` ``[H, W]``, per-face targets ``[6, 2]``).

    Raises:
        NoFaceError: no face with landmarks.
        ValueError: bad parameters.
    """
    p = params.validate()
    usable = usable_faces(faces, p)
    template = p.resolve_template()
    h, w = image.shape[:2]
    result = image.copy()
    total = np.zeros((h, w), np.float32)
    all_targets = []
    for i, face in enumerate(usable):
        targets = face_targets(face)
        if refiner is not None:
            targets = refiner.refine(image, face, template, targets)
        if i == 0 and p.offsets:
            for name, dx, dy in p.offsets:
                targets[ANCHORS.index(name)] += (dx, dy)
        all_targets.append(targets)
        x0, y0, x1, y1 = _roi(template, targets, (h, w))
        if x1 <= x0 or y1 <= y0:
            continue
        off = np.array([x0, y0], np.float32)
        local = replace(face, landmarks=_landmarks(face) - off)
        rgb, alpha = warp_template(template, targets - off, (y1 - y0, x1 - x0))
        alpha *= eye_guard((y1 - y0, x1 - x0), local)
        patch = result[y0:y1, x0:x1]
        rgb = adapt_lighting(image[y0:y1, x0:x1], rgb, alpha, p.lighting)
        blended = patch.astype(np.float32) * (1 - alpha[:, :, None]) + rgb * alpha[:, :, None]
        touched = alpha > 0
        patch[touched] = np.clip(np.rint(blended[touched]), 0, 255).astype(np.uint8)
        total[y0:y1, x0:x1] = np.maximum(total[y0:y1, x0:x1], alpha)
    return result, total, all_targets
