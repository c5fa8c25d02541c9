"""Opera colouring by content: align a reference lianpu to a sketch by what is drawn, and match
regions by colour votes, symmetry and pins. numpy / OpenCV / SciPy only, any CPU.

The pieces :func:`engine.studios.opera.classical.colorize` joins:

* :func:`face_from_lines` — the face of a line drawing (closed outline, gaps closed at growing
  radii until the face is a solid oval, convex hull as the last resort);
* :func:`symmetry_axis` — the mirror axis of a drawing, the column that best maps its ink onto
  itself;
* :func:`content_warp` — reference → sketch: face boxes and symmetry axes on each other, then the
  feature rows (brows, eyes, nose, mouth, beard) and the feature columns (eye sockets, cheeks)
  aligned by dynamic time warping of the two drawings' ink profiles;
* :func:`match_colours` — each closed region of the sketch takes the mode colour (a smoothed
  histogram mode in CIELAB, so a shaded paint counts as one colour) of the aligned reference's
  paint inside it; a region and its mirror vote together where the reference is symmetric there;
  thin strokes of the reference and what lies outside its face do not vote (the nearest paint does,
  so a region without a counterpart takes the paint nearest to it, never black ink); a region the
  reference paints with several colours whose boundaries follow broken strokes of the sketch is
  split along them;
* pins: ``(reference point, sketch point)`` pairs the user clicked; the sketch region under each
  pin (and its mirror) takes the reference paint under the pin before anything else.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

__all__ = [
    "Pin", "WarpMaps", "content_warp", "face_from_lines", "match_colours", "mirror_partners", "shading",
    "symmetry_axis",
]

_SOLID = 0.9
"""A face mask whose area is at least this share of its convex hull is a closed outline."""

_MODE_SHARE_SPLIT = 0.6
"""A region whose mode colour covers less of it than this is a split candidate."""

_BLACK_VOTE = 0.5
"""Weight of a black reference pixel's vote (black is the pattern ink of almost every lianpu)."""

_WHITE_VOTE = 0.8
"""Weight of a white reference pixel's vote (rims, eye sockets and chins)."""

_SHADE_SHARE = 0.75
"""Only regions whose mode paint covers at least this share of their votes take the reference's
shading (a region matched to one paint of the reference; a region across several paints stays flat,
so no pattern of the reference shows through it)."""

_SPLIT_ON_LINES = 0.55
"""A split is kept only when at least this share of its new boundary lies on the sketch's strokes."""

_VOTE_STEP_PIXELS = 160_000
"""Sketches with at least this many pixels vote on every second row and column (each vote counting
four pixels; a region no sample lands on votes with all its pixels): the colours come from a
quarter of the pixels, the fill and the shading stay at full resolution (about 400² and up)."""


@dataclass(frozen=True)
class Pin:
    """One click-to-match pair, in fractions of each image's width / height (resolution-free).

    Args:
        ref_x: column of the reference point / reference width, in [0, 1].
        ref_y: row of the reference point / reference height, in [0, 1].
        sketch_x: column of the sketch point / sketch width, in [0, 1].
        sketch_y: row of the sketch point / sketch height, in [0, 1].
    """

    ref_x: float
    ref_y: float
    sketch_x: float
    sketch_y: float

    def validate(self) -> Pin:
        """Check every coordinate is in [0, 1].

        Returns:
            ``self``.

        Raises:
            ValueError: a coordinate is outside [0, 1] or not finite.
        """
        for name in ("ref_x", "ref_y", "sketch_x", "sketch_y"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= float(v) <= 1.0):
                raise ValueError(f"pin {name} must be a fraction in [0, 1], got {v!r}")
        return self


@dataclass(frozen=True)
class WarpMaps:
    """A reference → sketch warp.

    Args:
        map_x: ``float32`` ``[H, W]`` reference column sampled at each sketch pixel.
        map_y: ``float32`` ``[H, W]`` reference row sampled at each sketch pixel.
        affine: ``float64`` ``[2, 3]`` the box-and-axis affine from reference to sketch pixels that
            the content alignment refines.
    """

    map_x: np.ndarray
    map_y: np.ndarray
    affine: np.ndarray

    def apply(self, image: np.ndarray, nearest: bool = False, border: int | tuple[int, int, int] = 255) -> np.ndarray:
        """Sample ``image`` (reference pixels) on the sketch grid.

        Args:
            image: ``uint8`` ``[h, w]`` or ``[h, w, 3]``.
            nearest: nearest-neighbour sampling (masks) instead of bilinear.
            border: value outside the reference.

        Returns:
            ``uint8`` ``[H, W(, 3)]``.
        """
        bv = border if isinstance(border, tuple) else (border, border, border)
        return cv2.remap(image, self.map_x, self.map_y, cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=bv)


def _border_connected(free: np.ndarray) -> np.ndarray:
    n, lab = cv2.connectedComponents(free.astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    border = border[border > 0]
    return np.isin(lab, border) if border.size else np.zeros(free.shape, bool)


def _hull(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(mask.shape, np.uint8)
    if contours:
        cv2.fillConvexPoly(filled, cv2.convexHull(np.concatenate(contours)), 1)
    return filled > 0


def face_from_lines(ink: np.ndarray) -> np.ndarray:
    """The face of a line drawing: what the outline encloses.

    The paper reachable from the image border is outside once the strokes are thickened by a radius
    r; r grows (1 %, 2 %, 3.5 % of the short side) until the face is solid (≥ 90 % of its convex
    hull: a closed oval, not a pattern seen through a dashed outline); if none is, the convex hull of
    the ink (a face is a convex oval). Whatever the thickening took from the outside is given back.

    Args:
        ink: ``bool`` ``[H, W]`` stroke pixels.

    Returns:
        ``bool`` ``[H, W]`` face mask (all ``False`` for an empty drawing).

    Example:
        >>> ink = np.zeros((64, 64), bool); _ = cv2.circle(ink.view(np.uint8), (32, 32), 20, 1, 1)
        >>> face = face_from_lines(ink); bool(face[32, 32]), bool(face[2, 2])
        (True, False)
    """
    ink = np.asarray(ink, bool)
    if not ink.any():
        return np.zeros(ink.shape, bool)
    side = min(ink.shape)
    for frac in (0.01, 0.02, 0.035):
        r = max(1, round(side * frac))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        thick = cv2.dilate(ink.astype(np.uint8), k)
        outside = cv2.dilate(_border_connected(thick == 0).astype(np.uint8), k) > 0
        face = ~outside | ink
        if not face.any():
            continue
        hull = _hull(face)
        if face.sum() >= _SOLID * hull.sum() and face.sum() >= 0.3 * _hull(ink).sum():
            return face
    return _hull(ink)


def symmetry_axis(ink: np.ndarray, face: np.ndarray) -> float:
    """The mirror axis of a drawing: the column about which its ink best maps onto itself.

    Searched within ±8 % of the face width around the face's column centroid, on a blurred copy at
    most 160 px wide, to a half pixel of that copy.

    Args:
        ink: ``bool`` ``[H, W]`` stroke pixels (or paint edges).
        face: ``bool`` ``[H, W]`` face mask.

    Returns:
        The axis column in pixels (``x`` maps to ``2·axis − x``).

    Example:
        >>> ink = np.zeros((40, 60), bool); ink[10:30, 20] = ink[10:30, 40] = True
        >>> symmetry_axis(ink, np.ones((40, 60), bool))
        30.0
    """
    h, w = ink.shape
    ys, xs = np.nonzero(face)
    if xs.size == 0:
        return (w - 1) / 2.0
    centre = float(xs.mean())
    fw = float(xs.max() - xs.min() + 1)
    scale = min(1.0, 160.0 / w)
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize((ink & face).astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    sx = sw / w
    best_c, best_s = None, -1.0
    lo = int(np.floor(2 * (centre - 0.08 * fw) * sx))
    hi = int(np.ceil(2 * (centre + 0.08 * fw) * sx))
    cols = np.arange(sw)
    norm = float((small * small).sum()) + 1e-9
    for c2 in range(lo, hi + 1):  # axis at c2/2 in small pixels: x ↦ c2 − x (pixel centres)
        mirror = c2 - cols
        ok = (mirror >= 0) & (mirror < sw)
        s = float((small[:, cols[ok]] * small[:, mirror[ok]]).sum()) / norm
        if s > best_s + 1e-9 or (abs(s - best_s) <= 1e-9 and best_c is not None and abs(c2 / 2 - centre * sx) < abs(best_c / 2 - centre * sx)):
            best_c, best_s = c2, s
    if best_c is None or best_s <= 0.0:
        return centre
    # back to full pixels: small pixel centre u ↔ full (u + 0.5)/sx − 0.5
    return float((best_c / 2 + 0.5) / sx - 0.5)


def _profile(values: np.ndarray, n: int) -> np.ndarray:
    """Resample a 1-D profile to ``n`` samples, z-scored."""
    if values.size < 2:
        return np.zeros(n)
    x = np.linspace(0, values.size - 1, n)
    p = np.interp(x, np.arange(values.size), values)
    sd = p.std()
    return (p - p.mean()) / sd if sd > 1e-9 else np.zeros(n)


def _dtw_map(a: np.ndarray, b: np.ndarray, band: float = 0.12, step_cost: float = 0.15) -> np.ndarray:
    """Monotone map from the samples of ``a`` to positions in ``b`` (dynamic time warping).

    Args:
        a: ``[n]`` profile.
        b: ``[n]`` profile (same length).
        band: the largest shift allowed, as a share of ``n``.
        step_cost: penalty of a horizontal or vertical step (keeps the map near the diagonal).

    Returns:
        ``float64`` ``[n]``: for each sample of ``a`` the (averaged, smoothed) matching index in ``b``.
    """
    n = a.size
    w = max(1, int(round(band * n)))
    cost = (a[:, None] - b[None, :]) ** 2
    inf = np.inf
    d = np.full((n, n), inf)
    move = np.zeros((n, n), np.int8)  # 0 diag, 1 up (i-1), 2 left (j-1)
    d[0, 0] = cost[0, 0]
    for i in range(n):
        j0, j1 = max(0, i - w), min(n, i + w + 1)
        for j in range(j0, j1):
            if i == 0 and j == 0:
                continue
            best, m = inf, 0
            if i > 0 and j > 0 and d[i - 1, j - 1] < best:
                best, m = d[i - 1, j - 1], 0
            if i > 0 and d[i - 1, j] + step_cost < best:
                best, m = d[i - 1, j] + step_cost, 1
            if j > 0 and d[i, j - 1] + step_cost < best:
                best, m = d[i, j - 1] + step_cost, 2
            d[i, j] = cost[i, j] + best
            move[i, j] = m
    i, j = n - 1, n - 1
    acc: list[list[int]] = [[] for _ in range(n)]
    while True:
        acc[i].append(j)
        if i == 0 and j == 0:
            break
        m = move[i, j]
        if m == 0:
            i, j = i - 1, j - 1
        elif m == 1:
            i -= 1
        else:
            j -= 1
    out = np.array([float(np.mean(v)) for v in acc])
    out = ndimage.gaussian_filter1d(out, max(1.0, n / 64))
    out = np.maximum.accumulate(out)
    return np.clip(out, 0, n - 1)


def _ink_rows(ink: np.ndarray, face: np.ndarray, y0: int, y1: int) -> np.ndarray:
    width = np.maximum(face[y0:y1].sum(axis=1), 1)
    return (ink[y0:y1] & face[y0:y1]).sum(axis=1) / width


def _box(face: np.ndarray, axis: float) -> tuple[float, float, float]:
    """``(top, bottom, half_width)`` of a face about its axis."""
    ys, xs = np.nonzero(face)
    if xs.size == 0:
        h, w = face.shape
        return 0.0, float(h), w / 2.0
    half = max(axis - xs.min(), xs.max() + 1 - axis, 1.0)
    return float(ys.min()), float(ys.max() + 1), float(half)


def content_warp(ref_ink: np.ndarray, ref_face: np.ndarray, ink: np.ndarray, face: np.ndarray,
                 profile_samples: int = 96, ref_axis: float | None = None, axis: float | None = None) -> WarpMaps:
    """Align a reference drawing to a sketch by content.

    First the face boxes and symmetry axes are put on each other (an anisotropic scale); then the
    rows of the two faces are matched by dynamic time warping of their ink-per-row profiles (so
    brows, eyes, nose, mouth and beard lines land on each other, whatever the proportions), and the
    distance from the axis likewise with ink-per-column profiles folded about each axis.

    Args:
        ref_ink: ``bool`` ``[h, w]`` strokes of the reference (its line art).
        ref_face: ``bool`` ``[h, w]`` reference face.
        ink: ``bool`` ``[H, W]`` strokes of the sketch.
        face: ``bool`` ``[H, W]`` sketch face.
        profile_samples: samples per profile (the warp's resolution; at most a third of the sketch
            face's height in rows).
        ref_axis: the reference's :func:`symmetry_axis` when already known (``None``: found here).
        axis: the sketch's :func:`symmetry_axis` when already known.

    Returns:
        :class:`WarpMaps` sampling the reference on the sketch grid.
    """
    H, W = ink.shape
    ra = symmetry_axis(ref_ink, ref_face) if ref_axis is None else float(ref_axis)
    sa = symmetry_axis(ink, face) if axis is None else float(axis)
    rt, rb, rhw = _box(ref_face, ra)
    st, sb, shw = _box(face, sa)
    sx, sy = shw / rhw, (sb - st) / max(rb - rt, 1.0)
    affine = np.array([[sx, 0.0, sa - sx * ra], [0.0, sy, st - sy * rt]], np.float64)
    n = int(min(profile_samples, max(16, (sb - st) / 3)))  # a small drawing has few rows to match
    # rows: sketch face rows → reference face rows
    si0, si1 = int(st), int(sb)
    ri0, ri1 = int(rt), int(rb)
    ps = _profile(ndimage.gaussian_filter1d(_ink_rows(ink, face, si0, si1).astype(float), max(1.0, (si1 - si0) / 120)), n)
    pr = _profile(ndimage.gaussian_filter1d(_ink_rows(ref_ink, ref_face, ri0, ri1).astype(float), max(1.0, (ri1 - ri0) / 120)), n)
    ymap_s = _dtw_map(ps, pr) if ps.any() and pr.any() else np.arange(n, dtype=float)
    # columns folded about each axis: distance from the axis in units of the half width
    def folded(ink_: np.ndarray, face_: np.ndarray, axis: float, half: float) -> np.ndarray:
        cols = np.arange(ink_.shape[1])
        d = np.abs(cols - axis) / half
        colsum = (ink_ & face_).sum(axis=0).astype(float)
        hist = np.bincount(np.clip((d * n).astype(int), 0, n - 1), weights=colsum, minlength=n)[:n]
        return _profile(ndimage.gaussian_filter1d(hist, 1.0), n)

    cs, cr = folded(ink, face, sa, shw), folded(ref_ink, ref_face, ra, rhw)
    xmap_s = _dtw_map(cs, cr, band=0.1) if cs.any() and cr.any() else np.arange(n, dtype=float)
    # per sketch row / column → reference row / column
    yy = np.arange(H, dtype=np.float64)
    t = np.clip((yy - st) / max(sb - st, 1.0), 0.0, 1.0) * (n - 1)
    ty = np.interp(t, np.arange(n), ymap_s) / (n - 1)
    ref_y = np.where((yy >= st) & (yy < sb), rt + ty * (rb - rt), (yy - affine[1, 2]) / sy)
    xx = np.arange(W, dtype=np.float64)
    dist = np.abs(xx - sa) / shw
    tx = np.clip(dist, 0.0, 1.0) * (n - 1)
    dref = np.interp(tx, np.arange(n), xmap_s) / (n - 1)
    dref = np.where(dist <= 1.0, dref, dist)  # beyond the face: the plain scale
    ref_x = ra + np.sign(xx - sa) * dref * rhw
    map_x = np.broadcast_to(ref_x[None, :], (H, W)).astype(np.float32)
    map_y = np.broadcast_to(ref_y[:, None], (H, W)).astype(np.float32)
    return WarpMaps(np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), affine)


def mirror_partners(regions: np.ndarray, axis: float, min_iou: float = 0.5) -> np.ndarray:
    """For every region id, the id of its mirror image about ``axis`` (itself when none).

    Args:
        regions: ``int32`` ``[H, W]`` region ids ``0..n-1``.
        axis: mirror column (``x ↦ 2·axis − x``).
        min_iou: the mirrored region must overlap its partner by this intersection-over-union.

    Returns:
        ``int64`` ``[n]`` partner ids.
    """
    h, w = regions.shape
    n = int(regions.max()) + 1
    cols = np.arange(w)
    src = np.rint(2 * axis - cols).astype(np.int64)
    ok = (src >= 0) & (src < w)
    mirrored = np.full_like(regions, -1)
    mirrored[:, ok] = regions[:, src[ok]]
    valid = mirrored >= 0
    a = regions[valid].astype(np.int64)
    b = mirrored[valid].astype(np.int64)
    pair = np.bincount(a * n + b, minlength=n * n).reshape(n, n) if n <= 4096 else None
    area = np.bincount(regions.ravel(), minlength=n).astype(np.float64)
    partner = np.arange(n)
    if pair is None:
        return partner
    best = pair.argmax(axis=1)
    inter = pair[np.arange(n), best].astype(np.float64)
    iou = inter / np.maximum(area + area[best] - inter, 1.0)
    good = iou >= min_iou
    partner[good] = best[good]
    # keep only mutual pairs
    mutual = partner[partner] == np.arange(n)
    partner[~mutual] = np.arange(n)[~mutual]
    return partner


def _lab_bins(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    b = ((lab[..., 0].astype(np.int64) >> 5) * 16 + (lab[..., 1].astype(np.int64) >> 4)) * 16 + (lab[..., 2].astype(np.int64) >> 4)
    return b, lab


_NB = 8 * 16 * 16


def _smooth_modes(hist: np.ndarray) -> np.ndarray:
    """Mode bin of each row of ``[n, 2048]`` Lab histograms after a 3×3×3 box smoothing."""
    cube = hist.reshape(-1, 8, 16, 16).astype(np.float32)  # single precision: twice as fast, same modes
    sm = ndimage.uniform_filter(cube, size=(1, 3, 3, 3), mode="constant")
    return sm.reshape(hist.shape[0], -1).argmax(axis=1)


@functools.lru_cache(maxsize=1)
def _near_table() -> np.ndarray:
    """``bool`` ``[2048, 2048]``: bins within one step of each other along every Lab axis."""
    b = np.arange(_NB)
    l_, a_, b_ = b // 256, (b // 16) % 16, b % 16
    return ((np.abs(l_[:, None] - l_[None]) <= 1) & (np.abs(a_[:, None] - a_[None]) <= 1)
            & (np.abs(b_[:, None] - b_[None]) <= 1))


def _near(bins: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """Whether each bin lies within one step of ``mode`` along every Lab axis (broadcast)."""
    return _near_table()[bins, mode]


def _votes(regions: np.ndarray, bins: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    key = regions.ravel().astype(np.int64) * _NB + bins.ravel()
    return np.bincount(key, weights=weight.ravel(), minlength=n * _NB).reshape(n, _NB)


def _mode_share(hist: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """Per region: the share of its votes within one Lab step of its mode bin."""
    n = hist.shape[0]
    near_hist = np.zeros(n)
    l_, a_, b_ = mode // 256, (mode // 16) % 16, mode % 16
    cube = hist.reshape(n, 8, 16, 16)
    for dl in (-1, 0, 1):
        for da in (-1, 0, 1):
            for db in (-1, 0, 1):
                L, A, B = l_ + dl, a_ + da, b_ + db
                ok = (L >= 0) & (L < 8) & (A >= 0) & (A < 16) & (B >= 0) & (B < 16)
                idx = np.nonzero(ok)[0]
                near_hist[idx] += cube[idx, L[idx], A[idx], B[idx]]
    return near_hist / np.maximum(hist.sum(axis=1), 1e-9)


def _vote_sample(regions: np.ndarray, step: int) -> np.ndarray | None:
    """Flat indices of the voting pixels: every ``step``-th row and column, plus every pixel of the
    regions none of those land on (``None``: every pixel, ``step`` 1)."""
    if step <= 1:
        return None
    grid = np.zeros(regions.shape, bool)
    grid[step // 2::step, step // 2::step] = True
    hit = np.bincount(regions[grid], minlength=int(regions.max()) + 1) > 0
    return np.flatnonzero(grid | ~hit[regions])


def _mode_colours(regions: np.ndarray, hist: np.ndarray, bins: np.ndarray, paint: np.ndarray,
                  weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region: mode bin, the mean paint near it and the share of the votes near it (the arrays
    are per pixel, ``[H, W]`` or the flat voting sample)."""
    n = hist.shape[0]
    mode = _smooth_modes(hist)
    near = _near(bins, mode[regions]) & (weight > 0)
    r = regions.ravel()
    nw = np.where(near, weight, 0.0).ravel()
    tot = np.bincount(r, weights=nw, minlength=n)
    colours = np.full((n, 3), 255.0)
    for c in range(3):
        s = np.bincount(r, weights=nw * paint[..., c].ravel(), minlength=n)
        colours[:, c] = np.where(tot > 0, s / np.maximum(tot, 1e-9), 255.0)
    return mode, np.clip(colours + 0.5, 0, 255).astype(np.uint8), _mode_share(hist, mode)


def _reference_paint(warped: np.ndarray, warped_face: np.ndarray, warped_ink: np.ndarray) -> np.ndarray:
    """The warped reference with its thin strokes and what lies outside its face replaced by the
    nearest paint (so every sketch pixel has a paint to vote for, never the ink of a contour)."""
    valid = warped_face & ~warped_ink
    if not valid.any():
        valid = warped_face if warped_face.any() else np.ones(warped_face.shape, bool)
    if valid.all():
        return warped
    # nearest valid pixel of every pixel (OpenCV's labelled distance transform: labels number the
    # zero pixels in raster order; several times faster than an exact Euclidean transform)
    _, label = cv2.distanceTransformWithLabels((~valid).astype(np.uint8), cv2.DIST_L2, 5,
                                              labelType=cv2.DIST_LABEL_PIXEL)
    src = np.flatnonzero(valid)[label.ravel() - 1]
    return warped.reshape(-1, 3)[src].reshape(warped.shape)


def _split_leaky(regions: np.ndarray, face: np.ndarray, ink: np.ndarray, paint: np.ndarray, bins: np.ndarray,
                 share: np.ndarray, min_area: int, gap: int) -> np.ndarray:
    """Split regions the reference paints with several colours along the sketch's broken strokes."""
    out = regions.copy()
    next_id = int(regions.max()) + 1
    area = np.bincount(regions.ravel(), minlength=share.size)
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * gap + 3, 4 * gap + 3))
    objs = ndimage.find_objects(regions + 1)
    for rid in np.nonzero((share < _MODE_SHARE_SPLIT) & (area >= min_area))[0]:
        if rid == 0 and not face.all():
            continue
        sl = objs[rid] if rid < len(objs) else None
        if sl is None:
            continue
        m = regions[sl] == rid
        b = bins[sl][m]
        counts = np.bincount(b, minlength=_NB).astype(np.float64)[None]
        modes: list[int] = []
        left = counts.copy()
        for _ in range(4):
            mb = int(_smooth_modes(left)[0])
            nearm = _near(np.arange(_NB), np.array([mb]))
            got = left[0, nearm].sum()
            if got < 0.12 * m.sum():
                break
            modes.append(mb)
            left[0, nearm] = 0
        if len(modes) < 2:
            continue
        lab = cv2.cvtColor(paint[sl], cv2.COLOR_RGB2LAB).astype(np.float32)
        centres = []
        for mb in modes:
            sel = m & _near(bins[sl], np.array([mb]))
            centres.append(lab[sel].mean(axis=0))
        cen = np.array(centres)  # [k, 3]
        dist = ((lab[..., None, :] - cen[None, None]) ** 2).sum(-1)  # [h, w, k]
        assign = dist.argmin(-1).astype(np.uint8)
        assign = cv2.medianBlur(assign, 5)
        assign = np.where(m, assign, 255)
        # the new boundary must follow the sketch's strokes (the broken line the region leaked through)
        edge = np.zeros(m.shape, bool)
        edge[:, 1:] |= (assign[:, 1:] != assign[:, :-1]) & (assign[:, 1:] < 255) & (assign[:, :-1] < 255)
        edge[1:] |= (assign[1:] != assign[:-1]) & (assign[1:] < 255) & (assign[:-1] < 255)
        near_ink = cv2.dilate(ink[sl].astype(np.uint8), grow) > 0
        if edge.sum() < 4 * gap + 3 or near_ink[edge].mean() < _SPLIT_ON_LINES:
            continue
        sub = out[sl]
        first = True
        for k in range(len(modes)):
            nlab, comp = cv2.connectedComponents((assign == k).astype(np.uint8), connectivity=4)
            for c in range(1, nlab):
                part = comp == c
                if first:
                    first = False  # the first part keeps the region's id
                    continue
                sub[part] = next_id
                next_id += 1
        out[sl] = sub
    return out


def match_colours(regions: np.ndarray, face: np.ndarray, ink: np.ndarray, axis: float, warped: np.ndarray,
                  warped_face: np.ndarray, warped_ink: np.ndarray, pins: Sequence[tuple[int, int, np.ndarray]] = (),
                  gap: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour the sketch's regions from an aligned reference.

    Votes are counted on a sample of the pixels on large sketches (:data:`_VOTE_STEP_PIXELS`); the
    regions, their splits and the shading are full resolution.

    Args:
        regions: ``int32`` ``[H, W]`` closed regions of the sketch (0 = outside the face unless the
            whole image is the face).
        face: ``bool`` ``[H, W]`` sketch face.
        ink: ``bool`` ``[H, W]`` sketch strokes.
        axis: the sketch's symmetry axis (column).
        warped: ``uint8`` RGB ``[H, W, 3]`` reference on the sketch grid.
        warped_face: ``bool`` ``[H, W]`` reference face on the sketch grid.
        warped_ink: ``bool`` ``[H, W]`` reference strokes on the sketch grid.
        pins: ``(x, y, rgb)``: the sketch pixel of a pin and the reference paint it asks for.
        gap: stroke gap radius the regions were found with (pixels).

    Returns:
        ``(regions, colours, shading)``: the (possibly split) region ids, ``uint8`` ``[n, 3]`` their
        paint and the reference's ``float32`` ``[H, W, 3]`` shading of that paint (:func:`shading`).
    """
    paint = _reference_paint(warped, warped_face, warped_ink)
    bins, lab = _lab_bins(paint)
    # black (and, less so, white) is the pattern and rim paint of almost every lianpu: in a region
    # the reference paints with several colours, the base paint wins over a black of similar area
    chroma = np.hypot(lab[..., 1].astype(np.float32) - 128, lab[..., 2].astype(np.float32) - 128)
    weight = np.ones(regions.shape, np.float64)
    weight[(lab[..., 0] < 64) & (chroma < 24)] = _BLACK_VOTE
    weight[(lab[..., 0] > 220) & (chroma < 16)] = _WHITE_VOTE
    step = 2 if regions.size >= _VOTE_STEP_PIXELS else 1

    def sampled(regions_: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per voting pixel: region, bin, weight (× the pixels it stands for), paint, flat index."""
        sel = _vote_sample(regions_, step)
        if sel is None:
            return regions_.ravel(), bins.ravel(), weight.ravel(), paint.reshape(-1, 3), np.arange(regions_.size)
        grid = ((sel // regions_.shape[1]) % step == step // 2) & ((sel % regions_.shape[1]) % step == step // 2)
        w = weight.ravel()[sel] * np.where(grid, float(step * step), 1.0)
        return regions_.ravel()[sel], bins.ravel()[sel], w, paint.reshape(-1, 3)[sel], sel

    n = int(regions.max()) + 1
    r_s, b_s, w_s, _, _ = sampled(regions)
    hist = _votes(r_s, b_s, w_s, n)
    face_area = int(face.sum())
    share = _mode_share(hist, _smooth_modes(hist))
    regions = _split_leaky(regions, face, ink, paint, bins, share, max(64, face_area // 50), gap)
    n = int(regions.max()) + 1
    r_s, b_s, w_s, p_s, sel = sampled(regions)
    hist = _votes(r_s, b_s, w_s, n)
    # mirror votes: a region and its mirror vote together where the reference agrees with itself
    partner = mirror_partners(regions, axis)
    mode_own, col_own, share_own = _mode_colours(r_s, hist, b_s, p_s, w_s)
    both = hist + hist[partner]
    width = regions.shape[1]
    src = np.clip(np.rint(2 * axis - np.arange(width)).astype(np.int64), 0, width - 1)
    mirror_at = (sel // width) * width + src[sel % width]  # the mirrored pixel of each voting pixel
    mirror_paint = paint.reshape(-1, 3)[mirror_at]
    mode_pair = _smooth_modes(both)
    # pair colour = mean of the paint near the pair mode in the region and in its mirror
    lab_own = cv2.cvtColor(col_own[None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    lab_partner = lab_own[partner]
    confident_apart = ((share_own >= 0.7) & (share_own[partner] >= 0.7)
                       & (np.linalg.norm(lab_own - lab_partner, axis=1) > 30.0))
    use_pair = (partner != np.arange(n)) & ~confident_apart
    colours = col_own.copy()
    if use_pair.any():
        m_bins = bins.ravel()[mirror_at]
        r = r_s.ravel()
        # each voting pixel counts for the pixels it stands for (its weight over its paint's weight)
        per = w_s / np.maximum(weight.ravel()[sel], 1e-9)
        w1 = _near(b_s, mode_pair[r_s]).ravel() * per
        w2 = _near(m_bins, mode_pair[r_s]).ravel() * per
        tot = np.bincount(r, weights=w1 + w2, minlength=n)
        pair_col = np.zeros((n, 3))
        for c in range(3):
            pair_col[:, c] = np.bincount(r, weights=w1 * p_s[:, c] + w2 * mirror_paint[:, c], minlength=n)
        tot_p = tot + tot[partner]
        pair_col = (pair_col + pair_col[partner]) / np.maximum(tot_p, 1e-9)[:, None]
        good = use_pair & (tot_p > 0)
        colours[good] = np.clip(pair_col[good] + 0.5, 0, 255).astype(np.uint8)
    for x, y, rgb in pins:  # pins first: their mirrors, then the pinned regions themselves
        colours[partner[int(regions[y, x])]] = rgb
    for x, y, rgb in pins:
        colours[int(regions[y, x])] = rgb
    shade = shading(regions, colours, paint, paint_lab=lab)
    flat = (share_own < _SHADE_SHARE)
    for x, y, _ in pins:
        flat[int(regions[y, x])] = flat[partner[int(regions[y, x])]] = True
    shade[flat[regions]] = 0.0
    return regions, colours, shade


def shading(regions: np.ndarray, colours: np.ndarray, paint: np.ndarray, max_delta_e: float = 30.0,
            sigma: float = 0.7, paint_lab: np.ndarray | None = None) -> np.ndarray:
    """The reference's shading of each region's own paint: where the aligned reference paint lies
    within ``max_delta_e`` (CIELAB) of the region's colour, its deviation from that colour (a
    gradient, a highlight), slightly blurred; zero elsewhere, so no other paint's shape leaks in.

    Args:
        regions: ``int32`` ``[H, W]`` region ids.
        colours: ``uint8`` ``[n, 3]`` paint per region.
        paint: ``uint8`` RGB ``[H, W, 3]`` the aligned reference's paint.
        max_delta_e: the largest colour distance that still counts as the same paint.
        sigma: blur of the deviation (pixels).
        paint_lab: OpenCV's 8-bit CIELAB of ``paint`` when already converted.

    Returns:
        ``float32`` ``[H, W, 3]`` to add to the flat fill.
    """
    flat = colours[regions]
    lab_f = cv2.cvtColor(np.ascontiguousarray(colours[None]), cv2.COLOR_RGB2LAB)[0].astype(np.float32)[regions]
    lab_p = (cv2.cvtColor(paint, cv2.COLOR_RGB2LAB) if paint_lab is None else paint_lab).astype(np.float32)
    d = lab_f - lab_p
    d[..., 0] *= np.float32(100.0 / 255.0)
    same = ((d * d).sum(-1) <= np.float32(max_delta_e * max_delta_e))[..., None]
    dev = np.where(same, paint.astype(np.float32) - flat.astype(np.float32), np.float32(0.0))
    return cv2.GaussianBlur(dev, (0, 0), sigma) if sigma > 0 else dev
