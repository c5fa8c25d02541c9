"""Expression studio, classical engine: a thin-plate-spline rig that warps the eyes, brows and mouth.

This is what ``backend="auto"`` runs unless the learned GAN's card says it measured better (see
:mod:`engine.studios.expression.learned`; the editor is
:class:`~engine.studios.expression.editor.ExpressionEditor`).

The face's eyes, brows and mouth are located by :mod:`engine.faces.anime` (or given, e.g. the ground
truth of a procedural face). Each part gets an elliptical **region** around it and a set of key
points that move with the expression:

* smile — mouth corners up and outward, lower lids up and upper lids down (narrowed eyes);
* surprised — brows up, lids apart (eyes open), mouth corners in and lower lip down (open mouth);
* angry — inner brows down and inward, inner upper lids down, mouth corners slightly down;
* sad — inner brows up, upper lids lowered (the outer ends most), mouth corners down and the lip
  centre slightly up: a round frown (its own spline on the mouth region with quarter points on a
  parabola, so the smile/surprised mouth warp is unchanged by it; angry's small frown uses it too).

Robustness on real faces: the key-point moves of a part that was estimated rather than found
(:attr:`AnimeFaceParts.found`) are halved, and each region's warp is scaled down until its local
area ratio ``det(I + ∇flow)`` stays above a floor — 0.05 for every region (no fold / tear), 0.2 for
an eye (never squeezed into a smear), 0.4 for an estimated part — and where overlapping regions
(an eye and its brow) still add up to a fold, the regions there are shrunk until the summed field is
fold-free; so a misplaced region bends the picture gently instead of tearing it. An eye region's
warp is also scaled down until it squeezes no area more than :data:`_EYE_SQUEEZE`×, a found eye box
narrower than the prior eye size of its face (usually the iris only) is grown to it around its centre
(:func:`grown_eye_box`), and an estimated brow's region stops at the top of its eye box (no hair or
lash line stretched over the eye).

Displacements of the label intensities (each 0–1, times the overall ``intensity``) add up. Per
region a thin-plate spline interpolates the backward displacement of the moved key points and of a
ring of fixed anchors on the region's border; it is multiplied by a window that is 1 near the part
and falls smoothly to 0 on the border, and the picture is resampled there. Pixels outside every
region are copied: the result is bit-identical to the input outside ``masks["regions"]``, and the
whole result equals the input when every intensity is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.faces.anime import AnimeFaceParts
from engine.geometry import fit_tps
from engine.studios.expression.params import ExpressionParams

_FROWN_SAD, _QUARTER = 0.24, 0.25
_ESTIMATED_GAIN = 0.5
"""Key-point moves of a part that was estimated (not found in the pixels) are scaled by this."""
_FOLD_FLOOR, _EYE_FLOOR, _ESTIMATED_FLOOR = 0.05, 0.2, 0.4
"""Smallest local area ratio a region's warp may have (see :func:`_fold_safe_scale`): any region
(no fold), an eye (no eye squeezed into a smear), a part that was estimated, not found."""
_EYE_SQUEEZE = 2.4
"""Largest local area ratio an eye region's warp may have: the source area squeezed into one output
pixel (procedural faces with their true eye boxes reach ≈ 2.2 at smile 1.0; an eye box that covers only
the iris reaches ≈ 2.9 and squeezes the eye into a blob)."""
_EYE_MIN_WIDTH, _EYE_MIN_HEIGHT = 0.19, 0.13
"""Prior eye size as fractions of the face-box width (:mod:`engine.faces.anime` priors): a narrower
eye box — usually one that covers only the iris / pupil — is grown to it around its centre."""
_BROW_EYE_GAP = 0.25
"""An estimated brow's region ends at the top of its eye box; when less than this fraction of the eye
height is left between the brow centre and the eye top, the estimated brow does not move."""
_FIELD_STEP = 2  # the spline is evaluated every _FIELD_STEP pixels and resized


# -- the rig -------------------------------------------------------------------------------------

@dataclass
class _Region:
    name: str
    centre: np.ndarray      # (x, y)
    radii: np.ndarray       # (Rx, Ry) of the outer ellipse: the region border
    inner: float            # normalised radius below which the window is 1
    points: np.ndarray      # [K, 2] key points (rest positions)
    moves: np.ndarray       # [K, 2] forward displacement of each point for the current params
    adds_weight: bool = True  # False: an extra spline on a region already counted in the weight
    min_jacobian: float = _FOLD_FLOOR  # the warp is scaled down until its local area ratio stays above this
    max_jacobian: float = float("inf")  # ... and below this (an eye is never squeezed into a blob)


def _box_centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], np.float64)


def rig_regions(face: AnimeFaceParts, params: ExpressionParams, scale: float = 1.0) -> list[_Region]:
    """The warp regions and key-point moves of ``params`` on ``face`` (coordinates × ``scale``).

    Args:
        face: located parts (pixels of the full-resolution image).
        params: slider values.
        scale: the image the warp runs on is the full one resized by ``scale``.

    Returns:
        One region per part (eyes, brows, mouth).
    """
    a, s, m, u = params.weights()
    P = {k: np.asarray(v, np.float64) * scale for k, v in face.parts.items()}
    face_w = float(face.box[2] - face.box[0]) * scale
    for side in ("left", "right"):
        P[f"{side}_eye"] = grown_eye_box(P[f"{side}_eye"], face_w)
    eye_w = float(np.mean([P["left_eye"][2] - P["left_eye"][0], P["right_eye"][2] - P["right_eye"][0]]))
    eye_h = float(np.mean([P["left_eye"][3] - P["left_eye"][1], P["right_eye"][3] - P["right_eye"][1]]))
    eye_h = max(eye_h, 0.35 * eye_w)
    regions: list[_Region] = []

    def gain(part: str) -> float:
        return 1.0 if face.found.get(part, True) else _ESTIMATED_GAIN

    def floor(part: str, base: float = _FOLD_FLOOR) -> float:
        return base if face.found.get(part, True) else max(base, _ESTIMATED_FLOOR)
    for side, sgn in (("left", -1.0), ("right", 1.0)):
        e = P[f"{side}_eye"]
        c = _box_centre(e)
        ew, eh = e[2] - e[0], max(e[3] - e[1], 0.35 * eye_w)
        outer = np.array([c[0] + sgn * ew / 2, c[1]])
        inner = np.array([c[0] - sgn * ew / 2, c[1]])
        top, bottom = np.array([c[0], c[1] - eh / 2]), np.array([c[0], c[1] + eh / 2])
        top_in = np.array([c[0] - sgn * ew * 0.3, c[1] - eh * 0.42])
        top_out = np.array([c[0] + sgn * ew * 0.3, c[1] - eh * 0.42])
        pts = np.stack([outer, inner, top, bottom, top_in, top_out, c])
        dy_top = eh * (0.32 * m - 0.22 * u + 0.08 * a + 0.15 * s)
        dy_bot = eh * (-0.24 * m + 0.1 * u)
        mv = np.zeros_like(pts)
        mv[2, 1] = dy_top
        mv[3, 1] = dy_bot
        mv[4, 1] = dy_top + eh * (0.22 * a)
        mv[5, 1] = dy_top + eh * (0.22 * s)
        mv[6, 1] = 0.5 * (dy_top + dy_bot)
        regions.append(_Region(f"{side}_eye", c, np.array([ew * 0.95, eh * 1.25]), 0.5, pts, mv * gain(f"{side}_eye"),
                               min_jacobian=floor(f"{side}_eye", _EYE_FLOOR), max_jacobian=_EYE_SQUEEZE))

        b = P[f"{side}_brow"]
        bc = _box_centre(b)
        bw = max(b[2] - b[0], 0.6 * eye_w)
        b_out = np.array([bc[0] + sgn * bw / 2, bc[1]])
        b_in = np.array([bc[0] - sgn * bw / 2, bc[1]])
        bpts = np.stack([b_out, bc, b_in])
        bmv = np.zeros_like(bpts)
        bmv[2] = (sgn * 0.08 * eye_w * a, eye_h * (0.32 * a - 0.34 * s - 0.3 * u))
        bmv[1] = (0.0, eye_h * (0.08 * a - 0.1 * s - 0.32 * u))
        bmv[0] = (0.0, eye_h * (-0.12 * a + 0.1 * s - 0.28 * u))
        bry = eye_h * 0.85
        if not face.found.get(f"{side}_brow", True):
            # an estimated brow may sit on hair or the lash line: its region stops at the eye box's
            # top, so its motion never adds to the eye's and stretches hair / lashes over the eye
            room = e[1] - bc[1]
            bry = min(bry, room)
            if room < _BROW_EYE_GAP * eh:
                bmv[:] = 0.0
        regions.append(_Region(f"{side}_brow", bc, np.array([bw * 0.95, max(bry, 1.0)]), 0.45, bpts,
                               bmv * gain(f"{side}_brow"), min_jacobian=floor(f"{side}_brow")))

    mo = P["mouth"]
    mc = _box_centre(mo)
    mw = float(np.clip(mo[2] - mo[0], 0.5 * eye_w, 1.4 * eye_w))
    mh = float(np.clip(mo[3] - mo[1], 0.08 * eye_w, 0.8 * eye_w))
    ml, mr = np.array([mc[0] - mw / 2, mc[1]]), np.array([mc[0] + mw / 2, mc[1]])
    mt, mb = np.array([mc[0], mc[1] - mh / 2]), np.array([mc[0], mc[1] + mh / 2])
    mpts = np.stack([ml, mr, mt, mb])
    radii = np.array([mw * 1.05, max(mw * 0.75, mh * 2.5)])
    # smile / surprised: corners and lip centres; the spline shapes the lips between them
    mmv = np.array([(-mw * (0.1 * m - 0.12 * u), mw * -0.2 * m), (mw * (0.1 * m - 0.12 * u), mw * -0.2 * m),
                    (0.0, mw * (-0.06 * u + 0.02 * m)), (0.0, mw * (0.3 * u + 0.06 * m))])
    # angry / sad: a frown — corners down, centre slightly up, the lip line bent as a parabola (quarter
    # points at 1/4 of the corner drop) rather than kinked at the centre. Its own spline on the same
    # region (flows add), so the smile/surprised warp is unchanged by it.
    frown_dy, lift = mw * (_FROWN_SAD * s + 0.06 * a), mw * -0.03 * s
    q = [(mc[0] + f * mw / 4, y) for f in (-1.0, 1.0) for y in (mt[1], mb[1])]
    fpts = np.concatenate([mpts, np.array(q)])
    fmv = np.array([(0.0, frown_dy), (0.0, frown_dy), (0.0, lift), (0.0, lift)]
                   + [(0.0, _QUARTER * frown_dy + (1 - _QUARTER) * lift)] * 4)
    regions.append(_Region("mouth", mc, radii, 0.4, mpts, mmv * gain("mouth"), min_jacobian=floor("mouth")))
    regions.append(_Region("mouth_frown", mc, radii, 0.4, fpts, fmv * gain("mouth"), adds_weight=False,
                           min_jacobian=floor("mouth")))
    return regions


def grown_eye_box(box: np.ndarray, face_width: float) -> np.ndarray:
    """An eye box grown around its centre to at least the prior eye size of its face.

    A found eye box much narrower than :data:`_EYE_MIN_WIDTH` × the face-box width usually covers
    only the iris or pupil (the lash line was not joined to it); the rig's lids would then squeeze the
    iris instead of closing over it. Such a box is widened to that width and made at least
    :data:`_EYE_MIN_HEIGHT` × the face width tall, keeping its centre; other boxes are returned as is.

    Args:
        box: ``[x0, y0, x1, y1]``.
        face_width: width of the face box in the same pixels.

    Returns:
        The (possibly grown) box, ``float64`` ``[4]``.
    """
    b = np.asarray(box, np.float64)
    w, h = b[2] - b[0], b[3] - b[1]
    min_w, min_h = _EYE_MIN_WIDTH * face_width, _EYE_MIN_HEIGHT * face_width
    if w >= min_w:
        return b
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    h = max(h, min_h)
    return np.array([cx - min_w / 2, cy - h / 2, cx + min_w / 2, cy + h / 2])


def _ring(centre: np.ndarray, radii: np.ndarray, n: int = 16) -> np.ndarray:
    """``n`` fixed anchors on a region's border ellipse ``[n, 2]``."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + radii[0] * np.cos(t), centre[1] + radii[1] * np.sin(t)], 1)


def _window(xx: np.ndarray, yy: np.ndarray, r: _Region) -> np.ndarray:
    rho = np.sqrt(((xx - r.centre[0]) / r.radii[0]) ** 2 + ((yy - r.centre[1]) / r.radii[1]) ** 2)
    t = np.clip((1.0 - rho) / (1.0 - r.inner), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _jacobian_det(f: np.ndarray, step: int = _FIELD_STEP) -> np.ndarray:
    """``det(I + ∇f)`` of a displacement field ``[h, w, 2]`` on every ``step``-th pixel (the field is
    a bilinear upsampling of a spline sampled every :data:`_FIELD_STEP` pixels, so nothing is lost)."""
    g = f[::step, ::step]
    if g.shape[0] < 2 or g.shape[1] < 2:
        return np.ones(g.shape[:2], np.float32)
    dxx, dxy = np.gradient(g[..., 0], step, axis=1), np.gradient(g[..., 0], step, axis=0)
    dyx, dyy = np.gradient(g[..., 1], step, axis=1), np.gradient(g[..., 1], step, axis=0)
    return (1 + dxx) * (1 + dyy) - dxy * dyx


def _min_jacobian(f: np.ndarray, step: int = 1) -> float:
    """Smallest determinant of ``I + ∇f`` over a displacement field ``[h, w, 2]``."""
    return float(np.min(_jacobian_det(f, step)))


def _fold_safe_scale(f: np.ndarray, floor: float = _FOLD_FLOOR, ceiling: float = float("inf")) -> float:
    """Factor in (0, 1] that keeps a region's warp from folding, smearing or squeezing.

    A backward field whose map ``p ↦ p + f(p)`` has a Jacobian determinant near 0 stretches a thin
    band of the picture over a wide area (a smear) and below 0 it folds (a tear); a large determinant
    squeezes a wide area into a small one (an eye pressed into a blob). The field is scaled down
    until the determinant stays within ``[floor, ceiling]`` (bisection, 6 steps).
    """
    if f.shape[0] < 3 or f.shape[1] < 3:
        return 1.0
    f = f[::_FIELD_STEP, ::_FIELD_STEP] * np.float32(1.0 / _FIELD_STEP)  # same ratios, a quarter of the work

    def ok(g: np.ndarray) -> bool:
        d = _jacobian_det(g, 1)
        return float(d.min()) >= floor and float(d.max()) <= ceiling
    if ok(f):
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(6):
        mid = (lo + hi) / 2
        if ok(f * mid):
            lo = mid
        else:
            hi = mid
    return lo


def warp_field(shape: tuple[int, int], regions: list[_Region]) -> tuple[np.ndarray, np.ndarray]:
    """Backward displacement field and region weight of a rig.

    Args:
        shape: ``(H, W)`` of the image.
        regions: from :func:`rig_regions`.

    Returns:
        ``(flow, weight)``: ``flow`` ``float32`` ``[H, W, 2]`` — output pixel ``p`` samples the input
        at ``p + flow[p]``; ``weight`` ``float32`` ``[H, W]`` in [0, 1] — the sum of the region
        windows (0 outside every region, where the flow is exactly 0).
    """
    h, w = shape
    flow = np.zeros((h, w, 2), np.float32)
    weight = np.zeros((h, w), np.float32)
    parts: list[tuple[int, int, int, int, np.ndarray]] = []
    for r in regions:
        x0 = int(max(0, np.floor(r.centre[0] - r.radii[0])))
        x1 = int(min(w, np.ceil(r.centre[0] + r.radii[0]) + 1))
        y0 = int(max(0, np.floor(r.centre[1] - r.radii[1])))
        y1 = int(min(h, np.ceil(r.centre[1] + r.radii[1]) + 1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        win = _window(xx, yy, r)
        if r.adds_weight:
            weight[y0:y1, x0:x1] += win.astype(np.float32)
        if not np.any(r.moves):
            continue
        ring = _ring(r.centre, r.radii)
        dst = np.concatenate([r.points + r.moves, ring])
        back = np.concatenate([-r.moves, np.zeros_like(ring)])
        spline = fit_tps(dst, back)
        # the spline is smooth: sample it every `step` pixels (coarser for big regions, ≥ 32 samples
        # across the radius) and upsample bilinearly
        step = int(np.clip(min(r.radii) // 32, _FIELD_STEP, 4))
        gy = np.arange(y0, y1 + step, step, dtype=np.float64)
        gx = np.arange(x0, x1 + step, step, dtype=np.float64)
        g = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        coarse = spline(g).reshape(len(gy), len(gx), 2).astype(np.float32)
        fine = cv2.resize(coarse, ((len(gx) - 1) * step + 1, (len(gy) - 1) * step + 1),
                          interpolation=cv2.INTER_LINEAR)[: y1 - y0, : x1 - x0]
        local: np.ndarray = fine * win[:, :, None].astype(np.float32)
        local *= np.float32(_fold_safe_scale(local, r.min_jacobian, r.max_jacobian))
        flow[y0:y1, x0:x1] += local
        parts.append((y0, y1, x0, x1, local))
    _unfold_overlaps(flow, parts)
    np.clip(weight, 0.0, 1.0, out=weight)
    return flow, weight


def _unfold_overlaps(flow: np.ndarray, parts: list[tuple[int, int, int, int, np.ndarray]],
                     max_rounds: int = 12) -> None:
    """Where overlapping regions' flows add up to a fold, shrink the regions there (in place).

    Each region is fold-safe on its own, but an eye and its brow pulled in opposite directions can
    still fold where they overlap. While the summed field's smallest ``det(I + ∇flow)`` is below
    :data:`_FOLD_FLOOR`, every region covering the worst pixel is scaled by 0.75.
    """
    if len(parts) < 2:
        return
    y0 = min(p[0] for p in parts)
    y1 = max(p[1] for p in parts)
    x0 = min(p[2] for p in parts)
    x1 = max(p[3] for p in parts)
    scales = [1.0] * len(parts)
    for _ in range(max_rounds):
        f = flow[y0:y1, x0:x1]
        if f.shape[0] < 3 or f.shape[1] < 3:
            return
        det = _jacobian_det(f)
        k = int(np.argmin(det))
        if det.flat[k] >= _FOLD_FLOOR:
            return
        wy, wx = divmod(k, det.shape[1])
        wy, wx = wy * _FIELD_STEP + y0, wx * _FIELD_STEP + x0
        hit = False
        for i, (a0, a1, b0, b1, local) in enumerate(parts):
            if a0 <= wy < a1 and b0 <= wx < b1 and np.any(local[wy - a0, wx - b0]):
                flow[a0:a1, b0:b1] -= local * np.float32(0.25 * scales[i])
                scales[i] *= 0.75
                hit = True
        if not hit:
            return


def apply_rig(image: np.ndarray, face: AnimeFaceParts, params: ExpressionParams,
              scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp ``image`` with the classical expression rig.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` (the analysed picture resized by ``scale``).
        face: parts in full-resolution pixels.
        params: slider values.
        scale: see above.

    Returns:
        ``(result, flow, weight)``: result ``uint8`` ``[H, W, 3]`` (identical to ``image`` where
        ``weight`` is 0), the backward flow ``[H, W, 2]`` and the region weight ``[H, W]``.
    """
    p = params.validate()
    h, w = image.shape[:2]
    regions = rig_regions(face, p, scale)
    flow, weight = warp_field((h, w), regions)
    out = image.copy()
    if p.is_identity:
        return out, flow, weight
    ys, xs = np.nonzero(weight > 0)
    if len(ys) == 0:
        return out, flow, weight
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    mx = gx + flow[y0:y1, x0:x1, 0]
    my = gy + flow[y0:y1, x0:x1, 1]
    warped = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    region = weight[y0:y1, x0:x1] > 0
    out[y0:y1, x0:x1][region] = warped[region]
    return out, flow, weight


def flow_to_rgb(flow: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Colour view of a warp field: hue = direction, brightness = length; regions outlined grey.

    Args:
        flow: ``[H, W, 2]`` displacement.
        weight: optional region weight ``[H, W]``; the regions are tinted grey under the colours.

    Returns:
        ``uint8`` RGB ``[H, W, 3]``.
    """
    mag = np.linalg.norm(flow, axis=-1)
    ang = np.arctan2(flow[..., 1], flow[..., 0])
    hsv = np.zeros(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = ((ang + np.pi) / (2 * np.pi) * 179).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / max(1e-6, float(mag.max())) * 255, 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if weight is not None:
        base = (weight * 70).astype(np.uint8)[:, :, None]
        rgb = np.maximum(rgb, base)
    return rgb
