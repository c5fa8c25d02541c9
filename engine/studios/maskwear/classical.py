"""Mask-wear studio, classical engine: the key-point fit of a mask template onto the face mesh.

This is what ``method="auto"`` runs unless the learned refiner's card says it measured better (see
:mod:`engine.studios.maskwear.learned`; the editor is :class:`~engine.studios.maskwear.editor.MaskWearEditor`).

The six template anchors (:mod:`engine.procedural.mask_templates`) are mapped to six face-mesh
points — cheek contours at nose height (``a``/``c``), the nose bridge just under the eyes (``b``),
the jaw line below the mouth corners (``d``/``f``) and the chin on the jaw line (``e``) — and the
template's bottom edge is pinned to the jaw line between them; one thin-plate spline through those
points warps the whole template (pleats and patterns stay continuous; a turned head's far cheek
squeezes only its side). Nothing goes below the jaw line (:func:`jaw_guard`) or over the eyes
(:func:`eye_guard`), whatever the fit. The mask is then shaded like the face under it — shading and
the photo's exposure, never the skin's tone — and composited with its alpha. A
:class:`TargetRefiner` (the learned refiner) may move the six targets before the warp (never
below the jaw: :func:`keep_above_jaw`); :func:`composite_masks` takes it as an argument and never
loads one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import cv2
import numpy as np

from engine.errors import NoFaceError
from engine.faces import topology as T
from engine.faces.types import Face
from engine.geometry import fit_tps
from engine.procedural.mask_templates import ANCHORS, MaskTemplate, derived, side_variant
from engine.studios.maskwear.params import MaskWearParams

FACE_ANCHORS: dict[str, int] = {"a": 93, "b": 197, "c": 323, "d": 136, "e": 152, "f": 365}
"""Template anchor → MediaPipe mesh index: cheek contours at nose height (``a``/``c``), the nose
bridge just under the eyes (``b``), the jaw line below the mouth corners (``d``/``f``) and the chin on
the jaw line (``e``: never below it — the neck stays clear)."""

JAW_LEFT_PATH: tuple[int, ...] = (136, 150, 149, 176, 148, 152)
"""Jaw line from anchor ``d`` to the chin (``e``), image left half."""
JAW_RIGHT_PATH: tuple[int, ...] = (152, 377, 400, 378, 379, 365)
"""Jaw line from the chin (``e``) to anchor ``f``, image right half."""
LOWER_OVAL: tuple[int, ...] = (
    234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454)
"""Face outline from ear to ear through the chin: the mask stays above it (:func:`jaw_guard`)."""

JAW_SAMPLES = (0.25, 0.5, 0.75)
"""Fractions along each half of the jaw line (``d``→``e`` and ``e``→``f``) where the template's bottom
edge is pinned to the jaw as well (besides the six anchors)."""

JAW_MARGIN = 0.0
"""The jaw guard sits this many face heights (forehead to chin) outside the mesh's jaw line (0.03
let photographed KN95 masks, whose pointed bottom reaches below their anchor ``e``, cover 12.7 % of
the labelled neck on the dev pairs; 0: 2.5 %)."""

WARP_STEP = 4
"""The warp's map is evaluated every this many pixels and interpolated between (a thin-plate spline
is smooth at that scale)."""


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
    lm = _landmarks(face)
    return np.array([lm[FACE_ANCHORS[k]] for k in ANCHORS], np.float32)


def _polyline_at(points: np.ndarray, fractions: tuple[float, ...]) -> np.ndarray:
    """Points at ``fractions`` of the arc length of the polyline ``points`` ``[N, 2]``."""
    seg = np.hypot(*np.diff(points, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = max(float(cum[-1]), 1e-6)
    return np.array([[np.interp(f * total, cum, points[:, 0]), np.interp(f * total, cum, points[:, 1])]
                     for f in fractions])


def jaw_targets(face: Face) -> np.ndarray:
    """Image points on the jaw line the template's bottom edge is pinned to besides ``d e f``:
    :data:`JAW_SAMPLES` of the way along ``d``→``e``, then along ``e``→``f`` (``[6, 2]`` float64)."""
    lm = _landmarks(face).astype(np.float64)
    return np.concatenate([_polyline_at(lm[list(JAW_LEFT_PATH)], JAW_SAMPLES),
                           _polyline_at(lm[list(JAW_RIGHT_PATH)], JAW_SAMPLES)])


def template_jaw_points(template: MaskTemplate) -> np.ndarray:
    """The template points that go onto :func:`jaw_targets`: on the template's bottom edge (its
    lowest opaque pixel per column), offset like the anchors ``d e f`` are from that edge
    (``[6, 2]`` float64; a template whose anchors sit on its edge gets points on its edge; made
    once per template and anchors)."""
    return derived(template, ("jaw", tuple(template.anchors[k] for k in ANCHORS)), _template_jaw_points)


def _template_jaw_points(template: MaskTemplate) -> np.ndarray:
    alpha = template.rgba[:, :, 3] > 127
    th, tw = alpha.shape
    rows = np.where(alpha.any(0), th - 1 - np.argmax(alpha[::-1], axis=0), -1).astype(np.float64)

    def edge(x: float) -> float:
        c = int(np.clip(round(x), 0, tw - 1))
        return float(rows[c]) if rows[c] >= 0 else float("nan")

    src = template.anchor_array().astype(np.float64)
    d, e, f = src[3], src[4], src[5]
    out = []
    for p, q in ((d, e), (e, f)):
        off_p = p[1] - edge(p[0])
        off_q = q[1] - edge(q[0])
        for t in JAW_SAMPLES:
            x = p[0] + t * (q[0] - p[0])
            y_line = p[1] + t * (q[1] - p[1])
            y = edge(x) + off_p + t * (off_q - off_p)
            out.append((x, y if np.isfinite(y) else y_line))
    return np.array(out)


def control_points(template: MaskTemplate, targets: np.ndarray,
                   jaw: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(template points, image points)`` the warp interpolates: the six anchors, plus the jaw
    pins (:func:`template_jaw_points` → ``jaw``) when ``jaw`` is given."""
    src = template.anchor_array().astype(np.float64)
    dst = np.asarray(targets, np.float64)
    if jaw is None:
        return src, dst
    return np.concatenate([src, template_jaw_points(template)]), np.concatenate([dst, np.asarray(jaw, np.float64)])


MAX_LEVEL = 4
"""Most halvings of a template before it is warped (:func:`template_level`)."""


def template_level(template: MaskTemplate, targets: np.ndarray) -> int:
    """How many times to halve ``template`` before warping it onto ``targets``: a warp that shrinks
    a picture more than twice skips pixels (the grain, pleats and patterns of a 512-px template put
    on a 100-px face alias into noise), so the template is first shrunk with area averaging to
    within 2× of its size on the face (its anchors ``a``–``c`` span against the targets')."""
    src = template.anchor_array().astype(np.float64)
    dst = np.asarray(targets, np.float64)
    scale = float(np.hypot(*(dst[2] - dst[0]))) / max(float(np.hypot(*(src[2] - src[0]))), 1e-6)
    if scale <= 0:
        return 0
    return int(np.clip(np.floor(np.log2(1.0 / scale)), 0, MAX_LEVEL))


def _premultiplied(template: MaskTemplate, level: int = 0) -> np.ndarray:
    """Premultiplied float32 RGBA of the template (so edges do not darken when resampled), halved
    ``level`` times with area averaging (made once per template and level)."""

    def make(t: MaskTemplate) -> np.ndarray:
        rgba = t.rgba.astype(np.float32)
        rgba[:, :, :3] *= rgba[:, :, 3:4] / 255.0
        if level > 0:
            h, w = rgba.shape[:2]
            size = (max(1, round(w / 2 ** level)), max(1, round(h / 2 ** level)))
            rgba = np.asarray(cv2.resize(rgba, size, interpolation=cv2.INTER_AREA), np.float32)
        return rgba

    return derived(template, ("premultiplied", level), make)


def warp_template(template: MaskTemplate, targets: np.ndarray, size: tuple[int, int],
                  jaw: np.ndarray | None = None, origin: tuple[float, float] = (0.0, 0.0)
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Warp a template onto its targets with one smooth thin-plate spline (horizontal structure —
    pleats, patterns — stays continuous across the midline; a far cheek squeezed by a turned head
    squeezes only its side).

    Args:
        template: the mask template.
        targets: ``[6, 2]`` image points of anchors ``a``–``f``.
        size: ``(H, W)`` of the output.
        jaw: optional ``[6, 2]`` jaw-line points (:func:`jaw_targets`) the template's bottom edge is
            pinned to.
        origin: image coordinates of the output's pixel (0, 0) (``targets`` and ``jaw`` are in
            image coordinates).

    Returns:
        ``(rgb, alpha)``: ``float32`` ``[H, W, 3]`` (0–255, un-premultiplied) and ``float32``
        ``[H, W]`` coverage in [0, 1].
    """
    h, w = size
    src, dst = control_points(template, targets, jaw)
    inverse = fit_tps(dst, src)  # image → template
    step = WARP_STEP
    nx, ny = -(-w // step) + 1, -(-h // step) + 1
    # node k sits where cv2.resize (× step, pixel-centre convention) reads source pixel k
    gx = (np.arange(nx) + 0.5) * step - 0.5
    gy = (np.arange(ny) + 0.5) * step - 0.5
    grid = np.stack(np.meshgrid(gx + origin[0], gy + origin[1]), -1).reshape(-1, 2)
    coarse = inverse(grid).reshape(ny, nx, 2).astype(np.float32)
    full = cv2.resize(coarse, (nx * step, ny * step), interpolation=cv2.INTER_LINEAR)[:h, :w]
    level = template_level(template, targets)
    rgba = _premultiplied(template, level)
    if level > 0:  # template pixel centres → those of the shrunk copy
        th, tw = template.rgba.shape[:2]
        full = (full + 0.5) * np.array([rgba.shape[1] / tw, rgba.shape[0] / th], np.float32) - 0.5
    out = cv2.remap(rgba, np.ascontiguousarray(full[:, :, 0]), np.ascontiguousarray(full[:, :, 1]),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = np.clip(out[:, :, 3] / 255.0, 0, 1)
    rgb = np.where(alpha[:, :, None] > 1e-4, out[:, :, :3] / np.maximum(alpha[:, :, None], 1e-4), 0)
    return rgb.astype(np.float32), alpha.astype(np.float32)


EYE_GUARD_SCALE = 1.7
"""The eye guard is each eye's lid outline grown this much around its centre (:func:`eye_guard`)."""


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
        grown = c + (pts - c) * EYE_GUARD_SCALE  # margin around the lids
        cv2.fillPoly(g, [np.round(grown * 16).astype(np.int32)], 1, cv2.LINE_AA, 4)  # 4 fractional bits
    size = max(3, int(round(np.hypot(*(lm[T.LEFT_EYE[0]] - lm[T.RIGHT_EYE[0]])) * 0.05)) | 1)
    soft = cv2.GaussianBlur(g.astype(np.float32), (size, size), 0)
    return 1.0 - np.clip(soft, 0, 1)


def jaw_guard(shape: tuple[int, int], face: Face, origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Where a mask may cover: above the jaw line (the neck stays clear), whatever the fit.

    The face outline from ear to ear through the chin (:data:`LOWER_OVAL`), moved
    :data:`JAW_MARGIN` face heights outwards, is continued sideways and closed over the top of the
    face, in the face's own frame (a tilted or upside-down face is guarded along its own jaw).

    Args:
        shape: ``(H, W)`` of the output.
        face: a face with landmarks (image coordinates).
        origin: image coordinates of the output's pixel (0, 0).

    Returns:
        ``float32`` ``[H, W]``: 1 above the jaw line, 0 below it, a one-pixel soft edge.

    Raises:
        NoFaceError: the face has no landmarks.
    """
    lm = _landmarks(face).astype(np.float64) - np.asarray(origin, np.float64)
    up = lm[T.FOREHEAD] - lm[T.CHIN]
    height = max(float(np.hypot(*up)), 1.0)
    up /= height
    right = np.array([-up[1], up[0]])  # perpendicular to "up"; its sign does not matter below
    centre = lm[list(LOWER_OVAL)].mean(0)
    oval = lm[list(LOWER_OVAL)]
    out = oval - centre
    out /= np.maximum(np.hypot(*out.T), 1e-6)[:, None]
    oval = oval + out * JAW_MARGIN * height
    far = 20.0 * height
    side0 = -right if float(np.dot(oval[0] - centre, right)) < 0 else right
    poly = np.concatenate([[oval[0] + side0 * far + up * far, oval[0] + side0 * far], oval,
                           [oval[-1] - side0 * far, oval[-1] - side0 * far + up * far]])
    g = np.zeros(shape, np.uint8)
    cv2.fillPoly(g, [np.round(poly * 16).astype(np.int64).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return g.astype(np.float32) / 255.0


LIGHTING_SIGMA_PX = 8.0
"""The mask's shading is measured with a blur of at most this many pixels on a shrunk copy
(:func:`adapt_lighting`)."""


EXPOSURE_WHITE = 235.0
"""Luma of the brightest parts (95th percentile) of a normally exposed photo: a photo whose bright
parts are this bright leaves the mask's own colours as they are (:func:`scene_exposure`)."""


def scene_exposure(image: np.ndarray) -> float:
    """How bright the photo's light is, from its brightest parts (not from the skin under the mask,
    so a white mask stays white on dark skin): the 95th luma percentile of a small copy over
    :data:`EXPOSURE_WHITE`, clipped to [0.6, 1.05].

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.

    Returns:
        The brightness factor the mask's colours are multiplied by at full lighting strength.
    """
    h, w = image.shape[:2]
    f = min(1.0, 128.0 / max(h, w))
    small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA) \
        if f < 1.0 else image
    luma = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY)
    return float(np.clip(np.percentile(luma, 95) / EXPOSURE_WHITE, 0.6, 1.05))


def adapt_lighting(image: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, strength: float,
                   exposure: float = 1.0) -> np.ndarray:
    """Shade the mask like the face under it: the local luminance relative to its median under the
    mask (shading only: the skin's own tone cancels out), times the photo's exposure.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` under the mask.
        rgb: the warped mask colours ``float32`` ``[H, W, 3]`` (0–255).
        alpha: its coverage ``float32`` ``[H, W]``.
        strength: 0 (flat colours) to 1 (full shading).
        exposure: the photo's brightness factor (:func:`scene_exposure`).

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
    ratio[y0:y1, x0:x1] = np.clip(crop / max(ref, 1.0), 0.55, 1.25) ** strength
    gain = float(exposure) ** strength
    return np.clip(rgb * ratio[:, :, None] * gain, 0, 255)


def _roi(template: MaskTemplate, targets: np.ndarray, jaw: np.ndarray | None,
         shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Bounding box ``(x0, y0, x1, y1)`` of the warped template, clipped to the image: the outline of
    the template's opaque box mapped by the forward spline."""
    src, dst = control_points(template, targets, jaw)
    forward = fit_tps(src, dst)
    opaque = template.rgba[:, :, 3] > 0
    cols, rows = np.nonzero(opaque.any(0))[0], np.nonzero(opaque.any(1))[0]
    if len(cols) == 0:
        return 0, 0, 0, 0
    bx0, bx1, by0, by1 = float(cols[0]), float(cols[-1] + 1), float(rows[0]), float(rows[-1] + 1)
    t = np.linspace(0, 1, 17)
    border = np.concatenate([np.stack([bx0 + t * (bx1 - bx0), np.full_like(t, by0)], 1),
                             np.stack([bx0 + t * (bx1 - bx0), np.full_like(t, by1)], 1),
                             np.stack([np.full_like(t, bx0), by0 + t * (by1 - by0)], 1),
                             np.stack([np.full_like(t, bx1), by0 + t * (by1 - by0)], 1)])
    allp = np.concatenate([forward(border), dst])
    h, w = shape
    pad = 4
    x0, y0 = np.floor(allp.min(0)).astype(int) - pad
    x1, y1 = np.ceil(allp.max(0)).astype(int) + pad
    return max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))


def keep_above_jaw(targets: np.ndarray, fitted: np.ndarray, face: Face) -> np.ndarray:
    """``targets`` with anchors ``d e f`` moved back up to the jaw line where they went below the
    key-point fit's (``fitted``, on the jaw) along the face's own downward direction: a refiner may
    move the mask, never down the neck."""
    lm = _landmarks(face).astype(np.float64)
    down = lm[T.CHIN] - lm[T.FOREHEAD]
    down /= max(float(np.hypot(*down)), 1e-6)
    out = np.asarray(targets, np.float64).copy()
    for k in ("d", "e", "f"):
        i = ANCHORS.index(k)
        below = float(np.dot(out[i] - fitted[i], down))
        if below > 0:
            out[i] -= below * down
    return out.astype(np.float32)


SIDE_VIEW_YAW = 0.3
"""A face turned at least this much (:func:`face_yaw`) wears a photographed template's side view
(:func:`~engine.procedural.mask_templates.side_variant`) when it has one."""


def face_yaw(face: Face) -> float:
    """How far the head is turned, from the mesh: ``(r - l) / (r + l)`` with ``l`` / ``r`` the
    distances from the nose tip to the image-left / image-right cheek contour (anchors ``a`` /
    ``c``). 0 frontal; positive when the nose moves towards the image's left (that cheek turns away
    and looks narrower); ±1 in full profile.

    Raises:
        NoFaceError: the face has no landmarks.
    """
    lm = _landmarks(face).astype(np.float64)
    left = float(np.hypot(*(lm[T.NOSE_TIP] - lm[FACE_ANCHORS["a"]])))
    right = float(np.hypot(*(lm[T.NOSE_TIP] - lm[FACE_ANCHORS["c"]])))
    return (right - left) / max(right + left, 1e-6)


def template_for_face(template: MaskTemplate, face: Face) -> MaskTemplate:
    """``template``, or its side view when the face is turned by :data:`SIDE_VIEW_YAW` or more and
    the template has one (``left``: the nose towards the image's left)."""
    yaw = face_yaw(face)
    if abs(yaw) < SIDE_VIEW_YAW:
        return template
    side = side_variant(template, "left" if yaw > 0 else "right")
    return template if side is None else side


def moved_jaw(jaw: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The jaw pins moved along with anchors ``d e f`` (a refiner or a manual nudge moved them from
    ``before`` to ``after``, both ``[6, 2]``): each pin by the interpolated move of its two anchors."""
    idx = {k: i for i, k in enumerate(ANCHORS)}
    move = np.asarray(after, np.float64) - np.asarray(before, np.float64)
    out = np.asarray(jaw, np.float64).copy()
    n = len(JAW_SAMPLES)
    for half, (p, q) in enumerate((("d", "e"), ("e", "f"))):
        for j, t in enumerate(JAW_SAMPLES):
            out[half * n + j] += (1 - t) * move[idx[p]] + t * move[idx[q]]
    return out


EAR_LOOP_COLOUR = (235, 235, 235)
"""Colour of the drawn ear loops (the drawn surgical templates' own loop colour)."""

EAR_LOOP_WIDTH = 0.012
"""Ear loop thickness as a fraction of the face width (ear to ear, mesh points 234 / 454)."""

EAR_HIDDEN_SHARE = 0.3
"""An ear is hidden behind the head (its loop is not drawn) when its side's share of the face width
(nose tip to that cheek contour over both) is below this — the head is turned away from it."""


def ear_points(face: Face) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Where the ear loops end, from the mesh: per visible side (``"left"`` = the image's left, anchors
    ``a``/``d``; ``"right"``: ``c``/``f``), the ear's top root and its lobe in image pixels, and that
    side's share of the face width.

    The ears sit just outside the face oval at its widest points (mesh 234 / 454, about the eyes'
    height): the top root a tenth of the face width above and a little outside, the lobe a fifth
    below. A side whose share (nose tip to its cheek contour, :func:`face_yaw`) is below
    :data:`EAR_HIDDEN_SHARE` is turned away and left out.

    Raises:
        NoFaceError: the face has no landmarks.
    """
    lm = _landmarks(face).astype(np.float64)
    up = lm[T.FOREHEAD] - lm[T.CHIN]
    up /= max(float(np.hypot(*up)), 1e-6)
    width = max(float(np.hypot(*(lm[T.JAW_LEFT] - lm[T.JAW_RIGHT]))), 1.0)
    left = float(np.hypot(*(lm[T.NOSE_TIP] - lm[FACE_ANCHORS["a"]])))
    right = float(np.hypot(*(lm[T.NOSE_TIP] - lm[FACE_ANCHORS["c"]])))
    out: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    for side, idx, share in (("left", T.JAW_RIGHT, left), ("right", T.JAW_LEFT, right)):
        frac = share / max(left + right, 1e-6)
        if frac < EAR_HIDDEN_SHARE:
            continue
        outward = lm[idx] - (lm[T.JAW_LEFT] + lm[T.JAW_RIGHT]) / 2
        outward /= max(float(np.hypot(*outward)), 1e-6)
        top = lm[idx] + up * 0.10 * width + outward * 0.03 * width
        lobe = lm[idx] - up * 0.20 * width + outward * 0.04 * width
        out[side] = (top, lobe, frac)
    return out


def draw_ear_loops(result: np.ndarray, coverage: np.ndarray, face: Face, targets: np.ndarray,
                   gain: float = 1.0) -> None:
    """Draw the ear loops of one fitted mask onto ``result`` (in place): from the mask's upper and
    lower corner on each side (anchors ``a``/``d`` and ``c``/``f``) to that ear's top root and lobe
    (:func:`ear_points`), bowed outwards and up (the lower loop rises from the mask's corner on the
    jaw to the lobe: never down the neck), anti-aliased; a side whose ear is hidden has none. The
    loops run beside the face, outside the jaw guard's face outline, as real loops do.
    ``coverage`` (the mask's alpha, ``float32 [H, W]``) takes the loops too.

    Args:
        result: ``uint8`` RGB ``[H, W, 3]``, the image with the mask composited.
        coverage: the mask's coverage so far.
        face: the face (landmarks in ``result``'s pixels).
        targets: the six anchor targets the mask was warped to ``[6, 2]``.
        gain: brightness factor of the loops (the photo's exposure, as for the mask).
    """
    lm = _landmarks(face).astype(np.float64)
    width = max(float(np.hypot(*(lm[T.JAW_LEFT] - lm[T.JAW_RIGHT]))), 1.0)
    thick = max(1, int(round(EAR_LOOP_WIDTH * width)))
    t = np.linspace(0.0, 1.0, 24)[:, None]
    curves = []
    anchor = {k: np.asarray(targets[i], np.float64) for i, k in enumerate(ANCHORS)}
    centre = (lm[T.JAW_LEFT] + lm[T.JAW_RIGHT]) / 2
    up = lm[T.FOREHEAD] - lm[T.CHIN]
    up /= max(float(np.hypot(*up)), 1e-6)
    for side, (top, lobe, _) in ear_points(face).items():
        upper, lower = (anchor["a"], anchor["d"]) if side == "left" else (anchor["c"], anchor["f"])
        for start, end in ((upper, top), (lower, lobe)):
            outward = end - centre
            outward /= max(float(np.hypot(*outward)), 1e-6)
            ctrl = (start + end) / 2 + (outward + up) * 0.04 * width  # bowed out and up, off the jaw
            curves.append((1 - t) ** 2 * start + 2 * (1 - t) * t * ctrl + t ** 2 * end)
    if not curves:
        return
    h, w = coverage.shape
    pts = np.concatenate(curves)
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 2 * thick, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 2 * thick + 1, (w, h))
    if x1 <= x0 or y1 <= y0:
        return
    layer = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for c in curves:
        fixed = np.round((c - (x0, y0)) * 16).astype(np.int32)
        cv2.polylines(layer, [fixed], False, 255, thick, cv2.LINE_AA, 4)
    a = layer.astype(np.float32) / 255.0
    patch = result[y0:y1, x0:x1].astype(np.float32)
    colour = np.clip(np.array(EAR_LOOP_COLOUR, np.float32) * gain, 0, 255)
    result[y0:y1, x0:x1] = np.clip(np.rint(patch * (1 - a[:, :, None]) + colour * a[:, :, None]), 0, 255).astype(np.uint8)
    coverage[y0:y1, x0:x1] = np.maximum(coverage[y0:y1, x0:x1], a)


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
                    refiner: TargetRefiner | None = None, exposure: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Fit and composite the mask on ``faces`` of ``image``: the key-point fit, moved by ``refiner``
    when one is given (``params.method`` is not read here).

    Work is done in the bounding box of each warped mask only.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        faces: analysed faces (those without landmarks are skipped).
        params: what to put on.
        refiner: moves each face's key-point targets before the warp; ``None``: the key-point fit.
        exposure: the photo's brightness factor (:func:`scene_exposure`) when ``image`` is a crop
            of it; ``None``: measured on ``image``.

    Returns:
        (result ``uint8`` ``[H, W, 3]``, coverage alpha ``float32`` ``[H, W]``, per-face targets ``[6, 2]``).

    Raises:
        NoFaceError: no face with landmarks.
        ValueError: bad parameters.
    """
    p = params.validate()
    usable = usable_faces(faces, p)
    template = p.resolve_template()
    # the drawn surgical masks' ear loops follow the ears on the mesh (drawn after the warp), not
    # the template's sideways stubs
    loops = p.ear_loops and p.user_template is None and template.kind == "surgical" \
        and not template.meta.get("photographed")
    if loops:
        template = replace(p, ear_loops=False).resolve_template()
    h, w = image.shape[:2]
    result = image.copy()
    total = np.zeros((h, w), np.float32)
    all_targets = []
    base_template = template
    for i, face in enumerate(usable):
        template = template_for_face(base_template, face)
        fitted = face_targets(face)
        targets = fitted.copy()
        if refiner is not None:
            targets = keep_above_jaw(refiner.refine(image, face, template, targets), fitted, face)
        if i == 0 and p.offsets:
            for name, dx, dy in p.offsets:
                targets[ANCHORS.index(name)] += (dx, dy)
        jaw = moved_jaw(jaw_targets(face), fitted, targets)
        all_targets.append(targets)
        x0, y0, x1, y1 = _roi(template, targets, jaw, (h, w))
        if x1 <= x0 or y1 <= y0:
            continue
        origin = (float(x0), float(y0))
        local = replace(face, landmarks=_landmarks(face) - np.array(origin, np.float32))
        rgb, alpha = warp_template(template, targets, (y1 - y0, x1 - x0), jaw=jaw, origin=origin)
        alpha *= eye_guard((y1 - y0, x1 - x0), local)
        alpha *= jaw_guard((y1 - y0, x1 - x0), face, origin)
        patch = result[y0:y1, x0:x1]
        if exposure is None:
            exposure = scene_exposure(image)
        rgb = adapt_lighting(image[y0:y1, x0:x1], rgb, alpha, p.lighting, exposure)
        blended = patch.astype(np.float32) * (1 - alpha[:, :, None]) + rgb * alpha[:, :, None]
        touched = alpha > 0
        patch[touched] = np.clip(np.rint(blended[touched]), 0, 255).astype(np.uint8)
        total[y0:y1, x0:x1] = np.maximum(total[y0:y1, x0:x1], alpha)
        if loops:
            draw_ear_loops(result, total, face, targets, float(exposure) ** p.lighting)
    return result, total, all_targets
