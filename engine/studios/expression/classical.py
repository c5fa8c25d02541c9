"""Expression studio, classical engine: parts moved as shapes, redrawn where a warp cannot make the shape.

This is what ``backend="auto"`` runs unless the learned GAN's card says it measured better (see
:mod:`engine.studios.expression.learned`; the editor is
:class:`~engine.studios.expression.editor.ExpressionEditor`).

The face's eyes, brows and mouth are located by :mod:`engine.faces.anime` (or given, e.g. the ground
truth of a procedural face). The sliders — four emotions (× ``intensity``) and the low-level sliders
— are combined into per-part :class:`Controls` (sums of each slider's share, so mixtures are
continuous), which the rig carries out in three steps (:func:`apply_rig`):

1. **Warp** (bicubic resampling, so line art stays sharp): each brow moves *rigidly* — raised,
   lowered, turned about its centre (angry / furrow: inner ends down and together; sad: inner ends
   up) — inside a window that is 1 over the moved brow, smooth above it and falls *linearly* to 0 at
   the top of its eye (the skin between stretches or squeezes evenly; the eye never moves with the
   brow); eyes open wider (surprised, eye openness, a negative blink: lids apart while the iris's
   sides move in) and irises move inside the eye (gaze) with a thin-plate spline on key points
   inside the eye.
2. **Redraw** (:mod:`engine.studios.expression.redraw`): eyelids close over the eye (smile: a happy
   arc; blink: a line curved down; angry / sad slant the lid); the mouth is painted over and drawn
   anew as a curve or an open, filled mouth (smile upturned, sad / angry corners down, surprised an
   open oval, vowels aaa / eee / ooo), fading in over small slider values.
3. **Head roll** turns the whole face rigidly inside a window around its box.

Robustness on real faces: the moves of a part that was estimated rather than found
(:attr:`AnimeFaceParts.found`) are halved, and each warp region is scaled down until its local area
ratio ``det(I + ∇flow)`` stays above a floor — 0.05 for every region (no fold / tear), 0.2 for an
eye, 0.4 for an estimated part — and where overlapping regions still add up to a fold they are
shrunk; eyelids are redrawn only where the eye was found, a mouth also where it was estimated
inside the picture in a detector's face box (not in a tight crop: :func:`_mouth_drawable`); both
eyes' lid lines take the width and colour of their own lash lines; an eye region's warp also
squeezes no area more than :data:`_EYE_SQUEEZE`×, and a found eye
box narrower than the prior eye size of its face (usually the iris only) is grown to it around its
centre (:func:`grown_eye_box`). Pixels outside every region and redrawn part are copied: the result
is bit-identical to the input outside ``masks["regions"]``, and equals the input when every slider
is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.faces.anime import AnimeFaceParts
from engine.geometry import fit_tps
from engine.studios.expression.params import ExpressionParams
from engine.studios.expression.redraw import MouthShape, eye_line_style, redraw_eyelids, redraw_mouth

_MOUTH_FADE = 0.15
"""The redrawn mouth fades in over this much total mouth change (continuous at small slider values)."""
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
    rigid: tuple[float, float, float] | None = None  # (angle rad, tx, ty): the part moves rigidly inside
    ramp: tuple[float, float] | None = None  # (y0, y1): below y0 the window falls linearly to 0 at y1 (a brow's gap to its eye)


def _box_centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], np.float64)


@dataclass(frozen=True)
class Controls:
    """What the sliders ask of each part (emotions and low-level sliders combined, continuous).

    Eye values are per side (``[left, right]`` as seen in the image); heights are in eye heights,
    widths in eye widths, angles in radians.
    """

    closure: np.ndarray       # [2] eyelid closure 0 … 1
    happy: float              # 0 … 1: closed eyes arc up (smile) rather than curve down (blink)
    lid_slant: float          # + inner lid end lower (angry), − outer end lower (sad)
    widen: np.ndarray         # [2] eye opened wider 0 … 1
    gaze: tuple[float, float]  # irises move by (x, y) × the slider
    brow_dy: float            # brows up (−) / down (+), eye heights
    brow_tilt: float          # + inner ends down (angry / furrow), − inner ends up (sad)
    brow_in: float            # inner ends together (+), eye widths
    mouth_open: float         # opening 0 … ~1.2 (× mouth half width)
    mouth_width: float        # half width factor − 1
    mouth_lift: float         # corner lift (+ smile) in mouth half widths
    roundness: float          # 0 … 1
    teeth: float              # 0 … 1
    roll: float               # head roll, radians (+ clockwise)

    @property
    def mouth_changes(self) -> float:
        """How much the mouth is asked to change (0 = keep the picture's mouth)."""
        return float(abs(self.mouth_open) + abs(self.mouth_width) + abs(self.mouth_lift) + self.roundness + self.teeth)


def controls(params: ExpressionParams) -> Controls:
    """Combine the emotion weights (× intensity) and the low-level sliders into part controls.

    Args:
        params: validated slider values.

    Returns:
        The :class:`Controls` the rig and the redrawing follow.
    """
    a, s, m, u = params.weights()
    blink = np.array([params.blink_left, params.blink_right])
    eo = params.eye_open
    close = 1.0 * m + 0.3 * a + 0.2 * s + np.clip(blink, 0, None) + max(0.0, -eo)
    widen = 0.8 * u + np.clip(-blink, 0, None) + max(0.0, eo)
    happy = float(np.clip(m / (m + 0.3 * a + 0.2 * s + 1e-6), 0, 1)) if m > 0 else 0.0
    vowel_open = 1.3 * params.aaa + 0.35 * max(0.0, params.eee) + 0.7 * max(0.0, params.ooo)
    opening = 1.6 * u + 0.45 * max(0.0, m - 0.35) / 0.65 + 0.9 * params.mouth_open + vowel_open
    width = (0.25 * params.mouth_width + 0.18 * m - 0.25 * u + 0.35 * params.eee - 0.4 * params.ooo
             + 0.05 * a)
    return Controls(
        closure=np.clip(close, 0.0, 1.0), happy=happy, lid_slant=float(0.6 * a - 0.6 * s),
        widen=np.clip(widen, 0.0, 1.2), gaze=(float(params.gaze_x), float(params.gaze_y)),
        brow_dy=float(0.3 * a - 0.1 * s - 0.55 * u - 0.5 * params.brow_raise + 0.12 * params.brow_furrow),
        brow_tilt=float(0.32 * a - 0.5 * s + 0.25 * params.brow_furrow),
        brow_in=float(0.07 * a + 0.08 * params.brow_furrow),
        mouth_open=float(opening), mouth_width=float(np.clip(width, -0.6, 0.8)),
        mouth_lift=float(0.42 * m - 0.5 * s - 0.16 * a),
        roundness=float(np.clip(0.8 * u + max(0.0, params.ooo) + max(0.0, params.aaa) * 0.4, 0, 1)),
        teeth=float(np.clip(params.eee, 0, 1)),
        roll=float(np.deg2rad(12.0) * params.head_roll))


def rig_regions(face: AnimeFaceParts, params: ExpressionParams, scale: float = 1.0) -> list[_Region]:
    """The warp regions of ``params`` on ``face`` (coordinates × ``scale``): brows moved rigidly,
    eyes opened wider and irises moved (gaze) by thin-plate splines. Eyelids closing and the mouth
    are redrawn instead (:mod:`engine.studios.expression.redraw`); head roll is a separate rotation.

    Args:
        face: located parts (pixels of the full-resolution image).
        params: slider values.
        scale: the image the warp runs on is the full one resized by ``scale``.

    Returns:
        One region per moving part.
    """
    c = controls(params)
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
    for i, (side, sgn) in enumerate((("left", -1.0), ("right", 1.0))):
        e = P[f"{side}_eye"]
        ctr = _box_centre(e)
        ew, eh = e[2] - e[0], max(e[3] - e[1], 0.35 * eye_w)
        wd = float(c.widen[i])
        gx, gy = c.gaze
        if wd > 0 or gx or gy:
            outer = np.array([ctr[0] + sgn * ew / 2, ctr[1]])
            inner = np.array([ctr[0] - sgn * ew / 2, ctr[1]])
            top, bottom = np.array([ctr[0], ctr[1] - eh / 2]), np.array([ctr[0], ctr[1] + eh / 2])
            # the lids move apart while the iris's sides move in: wide eyes with small irises
            iris_l, iris_r = np.array([ctr[0] - 0.26 * ew, ctr[1]]), np.array([ctr[0] + 0.26 * ew, ctr[1]])
            pts = np.stack([outer, inner, top, bottom, ctr, iris_l, iris_r])
            mv = np.zeros_like(pts)
            mv[2, 1] = -0.22 * eh * wd
            mv[3, 1] = 0.14 * eh * wd
            mv[4] = (0.2 * ew * gx, 0.12 * eh * gy - 0.04 * eh * wd)
            mv[5] = (0.06 * ew * wd + 0.2 * ew * gx, mv[4, 1])
            mv[6] = (-0.06 * ew * wd + 0.2 * ew * gx, mv[4, 1])
            regions.append(_Region(f"{side}_eye", ctr, np.array([ew * 0.8, eh * 1.05]), 0.45, pts,
                                   mv * gain(f"{side}_eye"), min_jacobian=floor(f"{side}_eye", _EYE_FLOOR),
                                   max_jacobian=_EYE_SQUEEZE))
        else:
            regions.append(_Region(f"{side}_eye", ctr, np.array([ew * 0.8, eh * 1.05]), 0.45, np.zeros((0, 2)),
                                   np.zeros((0, 2)), adds_weight=False))

        b = P[f"{side}_brow"]
        bc = _box_centre(b)
        bw = max(b[2] - b[0], 0.6 * eye_w)
        bh = max(b[3] - b[1], 0.12 * eye_h)
        ty = c.brow_dy * eye_h * gain(f"{side}_brow")
        tx = -sgn * c.brow_in * eye_w * gain(f"{side}_brow")
        # + tilt lowers the inner end: the left brow's inner end is on its right (clockwise turn)
        ang = -sgn * c.brow_tilt * 0.45 * gain(f"{side}_brow")
        if not (ty or tx or ang):
            continue
        # under the brow the region ends at the top of its eye: the skin between them stretches or
        # squeezes, the eye and its lashes never move with the brow
        room = e[1] - bc[1]
        if room < _BROW_EYE_GAP * eh:
            continue
        # the brow's lowest point after the move stays above its eye: it may take 60 % of the free gap
        reach = bh / 2 + abs(np.sin(ang)) * bw / 2
        ty = min(ty, 0.6 * (room - reach))
        start = bc[1] + ty + reach  # where the moved brow ends in the output
        if start >= e[1] - 1.0:
            continue
        # above: the window is 1 over the moved brow (inner part) and falls off over the hair / skin above
        ry = (abs(ty) + 2.0 * reach) / 0.62 + 0.5 * bh
        regions.append(_Region(f"{side}_brow", bc, np.array([bw * 0.85 + abs(tx) * 1.5, ry]), 0.62, np.zeros((0, 2)),
                               np.zeros((0, 2)), min_jacobian=floor(f"{side}_brow"), rigid=(ang, tx, ty),
                               ramp=(float(start), float(e[1]))))
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
    if r.ramp is not None:
        # separable: smooth across, smooth above, 1 down to ramp[0] and then linear to 0 at ramp[1]
        # (a linear fall spreads a brow's move evenly over the skin between it and its eye: no fold)
        def smooth(d: np.ndarray) -> np.ndarray:
            t = np.clip((1.0 - d) / (1.0 - r.inner), 0.0, 1.0)
            return t * t * (3.0 - 2.0 * t)
        wx = smooth(np.abs(xx - r.centre[0]) / r.radii[0])
        y0, y1 = r.ramp
        above = smooth(np.clip(y0 - yy, 0.0, None) / r.radii[1])
        below = np.clip((y1 - yy) / max(1e-6, y1 - y0), 0.0, 1.0)
        return np.asarray(wx * np.where(yy <= y0, above, below))
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


def _fold_safe_scale(f: np.ndarray, floor: float = _FOLD_FLOOR, ceiling: float = float("inf"),
                     step: int = _FIELD_STEP) -> float:
    """Factor in (0, 1] that keeps a region's warp from folding, smearing or squeezing.

    A backward field whose map ``p ↦ p + f(p)`` has a Jacobian determinant near 0 stretches a thin
    band of the picture over a wide area (a smear) and below 0 it folds (a tear); a large determinant
    squeezes a wide area into a small one (an eye pressed into a blob). The field is scaled down
    until the determinant stays within ``[floor, ceiling]`` (bisection, 6 steps).
    """
    if f.shape[0] < 3 or f.shape[1] < 3:
        return 1.0
    g = f[::step, ::step] * np.float32(1.0 / step)  # same ratios, a quarter of the work at step 2
    if g.shape[0] < 2 or g.shape[1] < 2:
        return 1.0
    dxx, dxy = np.gradient(g[..., 0], axis=1), np.gradient(g[..., 0], axis=0)
    dyx, dyy = np.gradient(g[..., 1], axis=1), np.gradient(g[..., 1], axis=0)
    # det(I + k∇f) = 1 + k·tr + k²·det(∇f): the gradients are taken once for every scale k
    tr, dt = dxx + dyy, dxx * dyy - dxy * dyx

    def ok(k: float) -> bool:
        d = 1.0 + k * tr + (k * k) * dt
        return float(d.min()) >= floor and float(d.max()) <= ceiling
    if ok(1.0):
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(6):
        mid = (lo + hi) / 2
        if ok(mid):
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
        y1 = int(min(h, np.ceil(r.centre[1] + r.radii[1] if r.ramp is None else r.ramp[1]) + 1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        win = _window(xx, yy, r)
        if r.adds_weight:
            weight[y0:y1, x0:x1] += win.astype(np.float32)
        if r.rigid is not None:
            ang, tx, ty = r.rigid
            ca, sa = np.cos(-ang), np.sin(-ang)
            px, py = xx - r.centre[0] - tx, yy - r.centre[1] - ty
            qx, qy = ca * px - sa * py + r.centre[0], sa * px + ca * py + r.centre[1]
            rig: np.ndarray = (np.stack([qx - xx, qy - yy], -1) * win[:, :, None]).astype(np.float32)
            # a rigid move's window is not a smooth spline: checked on every pixel
            rig *= np.float32(_fold_safe_scale(rig, r.min_jacobian, r.max_jacobian, step=1))
            flow[y0:y1, x0:x1] += rig
            parts.append((y0, y1, x0, x1, rig))
            continue
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


def _remap_region(image: np.ndarray, flow: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``image`` resampled at ``p + flow[p]`` where ``weight > 0`` (bicubic: edges stay sharp), copied elsewhere."""
    out = image.copy()
    ys, xs = np.nonzero(weight > 0)
    if len(ys) == 0:
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    mx = gx + flow[y0:y1, x0:x1, 0]
    my = gy + flow[y0:y1, x0:x1, 1]
    warped = cv2.remap(image, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    region = weight[y0:y1, x0:x1] > 0
    out[y0:y1, x0:x1][region] = warped[region]
    return out


def mouth_shape(face: AnimeFaceParts, c: Controls, scale: float = 1.0) -> MouthShape:
    """The mouth the controls ask for, from the picture's mouth box (pixels × ``scale``).

    Args:
        face: located parts.
        c: from :func:`controls`.
        scale: as in :func:`apply_rig`.

    Returns:
        The :class:`~engine.studios.expression.redraw.MouthShape` to draw.
    """
    mo = np.asarray(face.parts["mouth"], np.float64) * scale
    eye_w = float(np.mean([face.parts[k][2] - face.parts[k][0] for k in ("left_eye", "right_eye")])) * scale
    mc = _box_centre(mo)
    hw0 = float(np.clip((mo[2] - mo[0]) / 2, 0.25 * eye_w, 0.7 * eye_w))
    h0 = float(mo[3] - mo[1])
    open0 = 0.6 * h0 if h0 > 0.7 * hw0 else 0.0
    hw = hw0 * (1.0 + c.mouth_width)
    cy = mc[1] - (0.3 * open0 if open0 else 0.0)
    return MouthShape(centre=(float(mc[0]), float(cy)), half_width=hw, lift=hw * c.mouth_lift,
                      opening=max(0.0, open0 + 0.8 * hw * c.mouth_open), roundness=c.roundness, teeth=c.teeth)


def face_skin_colour(image: np.ndarray, face: AnimeFaceParts, scale: float = 1.0) -> np.ndarray:
    """The face's skin colour: the most common colour between the eyes and under them (blush, lashes
    and bangs are rarer there than skin).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` (the analysed picture resized by ``scale``).
        face: located parts.
        scale: as in :func:`apply_rig`.

    Returns:
        ``float32`` ``[3]``.
    """
    le, re = (np.asarray(face.parts[k], np.float64) * scale for k in ("left_eye", "right_eye"))
    h, w = image.shape[:2]
    eh = max(2.0, float(np.mean([le[3] - le[1], re[3] - re[1]])))
    bands = [(le[2], min(le[1], re[1]) + 0.2 * eh, re[0], max(le[3], re[3])),
             (le[0], max(le[3], re[3]) + 0.1 * eh, re[2], max(le[3], re[3]) + 0.6 * eh)]
    px = []
    for x0, y0, x1, y1 in bands:
        xa, xb = int(np.clip(x0, 0, w)), int(np.clip(x1, 0, w))
        ya, yb = int(np.clip(y0, 0, h)), int(np.clip(y1, 0, h))
        if xb > xa and yb > ya:
            px.append(image[ya:yb, xa:xb].reshape(-1, 3))
    if not px:
        return np.asarray(np.median(image.reshape(-1, 3), 0), np.float32)
    allp = np.concatenate(px).astype(np.int32)
    q = allp // 8
    keys = q[:, 0] * 1024 + q[:, 1] * 32 + q[:, 2]
    vals, counts = np.unique(keys, return_counts=True)
    mode = vals[int(np.argmax(counts))]
    return np.asarray(allp[keys == mode].mean(0), np.float32)


def _roll_region(face: AnimeFaceParts, angle: float, scale: float) -> _Region:
    box = np.asarray(face.box, np.float64) * scale
    ctr = _box_centre(box)
    radii = np.array([box[2] - box[0], box[3] - box[1]]) * 0.72
    return _Region("head", ctr, radii, 0.7, np.zeros((0, 2)), np.zeros((0, 2)), rigid=(angle, 0.0, 0.0))


def apply_rig(image: np.ndarray, face: AnimeFaceParts, params: ExpressionParams,
              scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edit ``image`` with the classical expression rig: warp, then redraw lids and mouth, then roll.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` (the analysed picture resized by ``scale``).
        face: parts in full-resolution pixels.
        params: slider values.
        scale: see above.

    Returns:
        ``(result, flow, weight)``: result ``uint8`` ``[H, W, 3]`` (identical to ``image`` where
        ``weight`` is 0), the backward flow ``[H, W, 2]`` of the warped parts and the region weight
        ``[H, W]`` (warp windows, redrawn lids and mouth, head roll).
    """
    p = params.validate()
    h, w = image.shape[:2]
    if p.is_identity:
        return image.copy(), np.zeros((h, w, 2), np.float32), np.zeros((h, w), np.float32)
    c = controls(p)
    regions = rig_regions(face, p, scale)
    flow, weight = warp_field((h, w), regions)
    out = _remap_region(image, flow, weight)
    face_w = float(face.box[2] - face.box[0]) * scale
    skin = face_skin_colour(image, face, scale)
    lids = [(i, side, inner_sign) for i, (side, inner_sign) in enumerate((("left", 1.0), ("right", -1.0)))
            if (c.closure[i] > 0.01 or abs(c.lid_slant) >= 0.01) and face.found.get(f"{side}_eye", True)]
    # (an estimated eye is not redrawn: lids drawn in the wrong place would be worse)
    boxes = {side: _lid_box(face, side, scale, face_w) for side in ("left", "right") if face.found.get(f"{side}_eye", True)}
    if lids:
        # one pen for both eyes: the mean of their own lash lines (hair or an iris touching one lash
        # line makes its measure thinner or thicker)
        styles = [eye_line_style(image, b, skin) for b in boxes.values()]
        line = (float(np.mean([st[0] for st in styles])), np.mean([st[1] for st in styles], axis=0))
    for i, side, inner_sign in lids:
        e = boxes[side]
        eh = e[3] - e[1]
        wd = float(c.widen[i])
        e = e + np.array([0.0, -0.22 * eh * wd, 0.0, 0.14 * eh * wd])
        cover = redraw_eyelids(out, image, e, float(c.closure[i]), c.happy, c.lid_slant, inner_sign, skin, line)
        np.maximum(weight, cover, out=weight)
    if c.mouth_changes > 0 and _mouth_drawable(face, scale, (h, w)):
        cover = redraw_mouth(out, image, np.asarray(face.parts["mouth"], np.float64) * scale,
                             mouth_shape(face, c, scale), alpha=min(1.0, c.mouth_changes / _MOUTH_FADE))
        np.maximum(weight, cover, out=weight)
    if c.roll:
        rflow, rweight = warp_field((h, w), [_roll_region(face, c.roll, scale)])
        out = _remap_region(out, rflow, rweight)
        flow = flow + rflow
        np.maximum(weight, rweight, out=weight)
    return out, flow, weight


def _lid_box(face: AnimeFaceParts, side: str, scale: float, face_w: float) -> np.ndarray:
    """The box an eye's lids are redrawn in: :func:`grown_eye_box`, its top kept under a found brow
    (a small eye, e.g. a chibi face's dot, grown to the prior eye size would paint over its brow)."""
    eye = np.asarray(face.parts[f"{side}_eye"], np.float64) * scale
    b = grown_eye_box(eye, face_w)
    brow = np.asarray(face.parts[f"{side}_brow"], np.float64) * scale
    if face.found.get(f"{side}_brow", False) and brow[3] < _box_centre(eye)[1]:
        b[1] = max(b[1], float(brow[3]))
    return b


def _mouth_drawable(face: AnimeFaceParts, scale: float, shape: tuple[int, int]) -> bool:
    """A found mouth is always redrawn; an estimated one (not seen in the pixels, e.g. a faint line)
    only in a face box from the detector (``score`` > 0: in a tight crop, whose box is the whole
    picture, the prior places it anywhere between the eyes and the real mouth, and a second mouth
    would be drawn on the cheeks) and where its box and a margin of half its width lie inside the
    picture (a mouth cut off by the edge is not drawn)."""
    if face.found.get("mouth", True):
        return True
    if face.score <= 0:
        return False
    m = np.asarray(face.parts["mouth"], np.float64) * scale
    pad = 0.5 * (m[2] - m[0])
    h, w = shape
    return bool(m[0] - pad >= 0 and m[1] - pad >= 0 and m[2] + pad <= w and m[3] + 2 * pad <= h)


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
