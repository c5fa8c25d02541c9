"""Makeup studio, classical engine: landmark regions + CIELAB rendering of style presets.

This is what ``backend="auto"`` runs unless the makeup GAN's card says it measured better (see
:mod:`engine.studios.makeup.learned`; the editor is :class:`~engine.studios.makeup.editor.MakeupEditor`,
styles and parameters are in :mod:`engine.studios.makeup.params`).

Regions (built per face from the 478-point mesh; the parsing only *excludes* pixels)
    ``lips``       outer lip contour (scaled by the style's ``area``), inner mouth cut out when open.
    ``eyeshadow``  skin from the upper lid towards the brow: ``area`` = fraction of the lid→brow
                   distance, ``wing`` = outward extension at the outer corner (× eye width);
                   a ``t`` map (0 at the lid, 1 at the top edge) drives colour gradients and ``fade``.
    ``eyeliner``   band along the upper lash line; ``area`` scales its thickness, ``wing`` its flick.
    ``cheek``      ellipse on the cheekbone, swept towards the temple; ``area`` scales it, ``lift``
                   moves it up towards the eye (negative: down).
    ``base``       face skin: the face oval minus eyes, brows, lips and mouth.
    ``brows``      the brow polygons.
Every mask is soft: the filled shape is blurred with σ = ``feather`` × face width. Afterwards the
eyes and the open inner mouth (landmarks) and the parsing's invariant classes (teeth ``mouth``,
glasses ``eye_g``, hair, hat; for base/cheek also background, ears, neck, cloth) are cut out hard,
so they never change.

Rendering (CIELAB, per face crop, regions in the order base, cheek, eyeshadow, eyeliner, brows, lips)
    With ``A`` = mask × opacity × region intensity × global intensity, ``(L̄, ā, b̄)`` the region's
    A-weighted mean and ``T`` the target colour (``t``-interpolated for two colours)::

        L += A · lightness · (T_L − L̄)        a += A · (T_a − ā)        b += A · (T_b − b̄)

    i.e. the region's mean colour moves to the target while every pixel keeps its offset from the
    mean: shading and skin/lip texture survive (no flat paint). Then the finish, with ``D`` the
    fine luminance detail ``L − G_σ(L)``: ``matte`` L −= A·0.5·max(D, 0) (less shine), ``gloss``
    L += A·1.2·max(D, 0) (stronger highlights), ``satin`` nothing; ``smooth`` s (base) L −= A·s·D
    and evens the chroma blotches. The result is applied as an RGB *difference* to the input, and
    only where ``A`` of some region exceeds 1/512; every other pixel is returned bit-identical.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.faces import topology as T
from engine.labels import CELEBAMASK_HQ
from engine.studios.makeup.params import REGIONS, MakeupParams, MakeupStyle, RegionStyle

MASK_WIDTH: float = 160.0
"""Faces wider than this (pixels) get their soft region shapes built on a proportionally shrunk grid
and upsampled (the shapes are feathered by several pixels anyway); exclusions stay full-resolution."""

CHANGE_THRESHOLD: float = 1.0 / 512.0
"""Pixels whose strongest region weight is at or below this are returned unchanged."""

_INVARIANT_ALL = ("mouth", "eye_g", "hair", "hat")
_INVARIANT_SKIN = _INVARIANT_ALL + ("background", "l_ear", "r_ear", "ear_r", "neck", "neck_l", "cloth")
_EXCLUDE: dict[str, tuple[int, ...]] = {
    "lips": tuple(CELEBAMASK_HQ.index(c) for c in ("mouth",)),
    "eyeshadow": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_ALL),
    "eyeliner": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_ALL),
    "brows": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_ALL),
    "cheek": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_SKIN),
    "base": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_SKIN),
}
"""Parsing classes cut out of each region (hard): the makeup paper's invariant region."""


# --- geometry -----------------------------------------------------------------------------------

_UPPER_LID = {  # inner corner -> outer corner
    "right": (133, 173, 157, 158, 159, 160, 161, 246, 33),
    "left": (362, 398, 384, 385, 386, 387, 388, 466, 263),
}
_BROW_LOWER = {  # inward -> outward
    "right": (55, 65, 52, 53, 46),
    "left": (285, 295, 282, 283, 276),
}
_CHEEK_APPLE = {"right": 50, "left": 280}
_CHEEK_EAR = {"right": T.JAW_RIGHT, "left": T.JAW_LEFT}


def _resample(pts: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along the polyline ``pts`` ``[K, 2]``."""
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return np.repeat(pts[:1], n, 0)
    u = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(u, s, pts[:, 0]), np.interp(u, s, pts[:, 1])], 1)


def _fill(shape: tuple[int, int], polys: Sequence[np.ndarray], aa: bool = True) -> np.ndarray:
    """float32 ``[H, W]`` in [0, 1]: the polygons filled (anti-aliased with ``aa``)."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(p) * 4).astype(np.int32) for p in polys], 255,
                 lineType=cv2.LINE_AA if aa else cv2.LINE_8, shift=2)
    return m.astype(np.float32) * np.float32(1 / 255)


def _blur(m: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (zero outside); wide kernels run on a shrunk copy (≤ 4×), which is smooth enough."""
    if sigma < 0.3:
        return m
    f = int(min(4, sigma // 3))
    if f < 2 or min(m.shape[:2]) < 8 * f:
        return cv2.GaussianBlur(m, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)
    h, w = m.shape[:2]
    small = cv2.resize(m, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / f, borderType=cv2.BORDER_CONSTANT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass
class FaceGeometry:
    """One face at one scale, in crop coordinates (built by :func:`face_geometry`; region masks are
    cached in it per style shape)."""

    box: tuple[int, int, int, int]      # crop x0, y0, x1, y1 in image pixels
    lm: np.ndarray                      # [478, 2] landmarks, crop coordinates
    width: float                        # face width (jaw point to jaw point), pixels
    labels: np.ndarray                  # uint8 parsing of the crop
    eyes: np.ndarray                    # bool, eye openings (never painted)
    mouth: np.ndarray                   # bool, open inner mouth (never painted)
    skin_lab: np.ndarray                # [3] median Lab of the face's skin
    lab: np.ndarray                     # float32 [h, w, 3] CIELAB of the source crop
    detail: np.ndarray                  # float32 [h, w] fine luminance detail L - G(L)
    ab_low: np.ndarray                  # float32 [h, w, 2] chroma blurred at 4 % of the face width
    masks: OrderedDict[tuple, tuple[np.ndarray, np.ndarray | None, tuple[slice, slice]]] = field(
        default_factory=OrderedDict)
    keep: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)  # paintable pixels per exclusion set
    skin_shine: float = 1.0             # mean positive fine detail max(D, 0) on the skin (L units)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape[:2]


def _rgb_to_lab(rgb_u8: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb_u8.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * np.float32(255)


def _colour_lab(rgb: Sequence[float]) -> np.ndarray:
    return _rgb_to_lab(np.array([[rgb]], np.float32).clip(0, 255).astype(np.uint8))[0, 0]


def colour_lab(rgb: Sequence[float] | np.ndarray) -> np.ndarray:
    """CIELAB ``[3]`` float32 of one sRGB colour 0–255 (floats kept: no rounding to 8 bits).

    Example:
        >>> [round(float(v), 1) for v in colour_lab((255, 255, 255))]
        [100.0, 0.0, 0.0]
    """
    c = np.array([[rgb]], np.float32).clip(0, 255) * np.float32(1 / 255)
    return cv2.cvtColor(c, cv2.COLOR_RGB2Lab)[0, 0]


def lab_colour(lab: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """sRGB 0–255 floats of one CIELAB colour, clipped to the sRGB cube (inverse of :func:`colour_lab`).

    Example:
        >>> [round(v) for v in lab_colour(colour_lab((200, 40, 60)))]
        [200, 40, 60]
    """
    rgb = cv2.cvtColor(np.array([[lab]], np.float32), cv2.COLOR_Lab2RGB)[0, 0] * 255
    r, g, b = (float(v) for v in np.clip(rgb, 0, 255))
    return r, g, b


def face_geometry(image: np.ndarray, labels: np.ndarray, landmarks: np.ndarray) -> FaceGeometry:
    """Crop, exclusions and skin tone of one face.

    Args:
        image: ``uint8`` ``[H, W, 3]`` RGB.
        labels: its ``uint8`` ``[H, W]`` official-order parsing.
        landmarks: ``[478, 2]`` face-mesh points in the pixel frame of ``image``.

    Returns:
        The face's :class:`FaceGeometry` (crop box, landmarks and maps in crop coordinates).
    """
    h, w = image.shape[:2]
    lm = np.asarray(landmarks, np.float32)
    width = float(np.hypot(*(lm[T.JAW_LEFT] - lm[T.JAW_RIGHT])))
    width = max(width, float(np.ptp(lm[:, 0])), 4.0)
    pad = 0.4 * width
    x0, y0 = (int(max(0, math.floor(v - pad))) for v in lm.min(0))
    x1 = int(min(w, math.ceil(lm[:, 0].max() + pad)))
    y1 = int(min(h, math.ceil(lm[:, 1].max() + pad)))
    lmc = lm - np.array([x0, y0], np.float32)
    crop_labels = labels[y0:y1, x0:x1]
    shape = crop_labels.shape[:2]
    eyes = _fill(shape, [lmc[list(T.RIGHT_EYE)], lmc[list(T.LEFT_EYE)]], aa=False) > 0
    mouth = crop_labels == CELEBAMASK_HQ.index("mouth")  # the parser's open mouth (teeth, tongue): never painted
    lab = _rgb_to_lab(image[y0:y1, x0:x1])
    oval = _fill(shape, [lmc[list(T.FACE_OVAL)]], aa=False) > 0
    feats = _fill(shape, [lmc[list(T.RIGHT_BROW)], lmc[list(T.LEFT_BROW)],
                          lmc[list(T.LIPS_OUTER_UPPER) + list(T.LIPS_OUTER_LOWER)[::-1][1:-1]]], aa=False) > 0
    skin = oval & ~feats & ~eyes & ~mouth & (crop_labels == CELEBAMASK_HQ.index("skin"))
    if skin.sum() < 16:
        skin = oval & ~feats & ~eyes & ~mouth
    skin_lab = np.median(lab[skin], axis=0) if skin.any() else np.median(lab.reshape(-1, 3), axis=0)
    L = np.ascontiguousarray(lab[..., 0])
    detail = L - cv2.GaussianBlur(L, (0, 0), sigmaX=max(0.6, 0.012 * width))
    ab_low = _blur(np.ascontiguousarray(lab[..., 1:]), max(1.0, 0.04 * width))
    shine = float(np.maximum(detail[skin], 0).mean()) if skin.any() else 1.0
    return FaceGeometry((x0, y0, x1, y1), lmc, width, crop_labels, eyes, mouth, skin_lab.astype(np.float32),
                         lab, detail, ab_low, skin_shine=max(shine, 1e-3))


def _soft_mask(lm: np.ndarray, shape: tuple[int, int], W: float, region: str,
               spec: RegionStyle) -> tuple[np.ndarray, np.ndarray | None]:
    """The feathered shape of ``region`` (before exclusions) and its ``t`` map, on a ``shape`` grid
    whose pixels the landmarks ``lm`` and the face width ``W`` are given in."""
    t_map: np.ndarray | None = None
    sigma = spec.feather * W
    if region == "lips":
        outer = np.concatenate([lm[list(T.LIPS_OUTER_UPPER)], lm[list(T.LIPS_OUTER_LOWER)][::-1][1:-1]])
        c = outer.mean(0)
        m = _blur(_fill(shape, [c + (outer - c) * spec.area]), sigma)
    elif region == "brows":
        m = _blur(_fill(shape, [lm[list(T.RIGHT_BROW)], lm[list(T.LEFT_BROW)]]), sigma)
    elif region in ("eyeshadow", "eyeliner"):
        m = np.zeros(shape, np.float32)
        t_acc = np.zeros(shape, np.float32)
        for side in ("right", "left"):
            lid = _resample(lm[list(_UPPER_LID[side])], 24)
            eye_w = float(np.hypot(*(lid[-1] - lid[0])))
            out_dir = (lid[-1] - lid[0]) / max(eye_w, 1e-3)
            brow = _resample(lm[list(_BROW_LOWER[side])], 24)
            if region == "eyeliner":
                up = brow.mean(0) - lid.mean(0)
                up /= max(float(np.hypot(*up)), 1e-3)
                line = lid[int(0.25 * len(lid)):]
                if spec.wing > 0:
                    tip = lid[-1] + (out_dir + 0.6 * up) * spec.wing * eye_w
                    line = np.concatenate([line, tip[None]])
                band = np.zeros(shape, np.uint8)
                cv2.polylines(band, [np.round(line * 4).astype(np.int32)], False, 255,
                              thickness=max(1, int(round(0.07 * eye_w * spec.area))), lineType=cv2.LINE_AA, shift=2)
                m = np.maximum(m, band.astype(np.float32) * np.float32(1 / 255))
                continue
            top = lid + (brow - lid) * min(spec.area, 1.0)
            if spec.wing > 0:
                tip = lid[-1] + out_dir * spec.wing * eye_w + (top[-1] - lid[-1]) * 0.6
                lid = np.concatenate([lid, tip[None]])
                top = np.concatenate([top, tip[None]])
            poly = np.concatenate([lid, top[::-1]])
            shade = _fill(shape, [poly])
            # t: 0 on the lid line, 1 on the top line (relative distance)
            x0, y0 = np.floor(poly.min(0) - 2).astype(int).clip(0)
            x1, y1 = np.ceil(poly.max(0) + 3).astype(int)
            x1, y1 = min(x1, shape[1]), min(y1, shape[0])
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            sub = (slice(y0, y1), slice(x0, x1))
            dl = _dist_to_line(lid - (x0, y0), (y1 - y0, x1 - x0))
            dt = _dist_to_line(top - (x0, y0), (y1 - y0, x1 - x0))
            t = dl / np.maximum(dl + dt, 1e-3)
            m[sub] = np.maximum(m[sub], shade[sub])
            t_acc[sub] = np.where(shade[sub] > 0, t, t_acc[sub])
        if region == "eyeshadow":
            m = _blur(m * (1.0 - spec.fade * t_acc), sigma)
            t_map = _blur(t_acc, max(1.0, sigma * 0.5))
        else:
            m = _blur(m, sigma)
    elif region == "cheek":
        m = np.zeros(shape, np.float32)
        eye_c = {"right": lm[list(T.RIGHT_EYE)].mean(0), "left": lm[list(T.LEFT_EYE)].mean(0)}
        for side in ("right", "left"):
            apple, ear = lm[_CHEEK_APPLE[side]], lm[_CHEEK_EAR[side]]
            centre = apple + 0.3 * (ear - apple) + spec.lift * 0.35 * (eye_c[side] - apple)
            d = ear - apple
            angle = math.degrees(math.atan2(d[1], d[0]))
            axes = (max(1, int(round(0.17 * W * spec.area * 4))), max(1, int(round(0.105 * W * spec.area * 4))))
            e = np.zeros(shape, np.uint8)
            cv2.ellipse(e, (int(round(centre[0] * 4)), int(round(centre[1] * 4))), axes, angle, 0, 360, 255,
                        -1, cv2.LINE_AA, 2)
            m = np.maximum(m, e.astype(np.float32) * np.float32(1 / 255))
        m = _blur(m, sigma)
        m *= _blur(_fill(shape, [lm[list(T.FACE_OVAL)]]), 0.02 * W)
    elif region == "base":
        oval = _fill(shape, [lm[list(T.FACE_OVAL)]])
        feats = _fill(shape, [lm[list(T.RIGHT_BROW)], lm[list(T.LEFT_BROW)], lm[list(T.RIGHT_EYE)],
                              lm[list(T.LEFT_EYE)],
                              lm[list(T.LIPS_OUTER_UPPER) + list(T.LIPS_OUTER_LOWER)[::-1][1:-1]]])
        k = max(1, int(round(0.02 * W)))
        ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        m = cv2.erode(oval, ker) * (1.0 - cv2.dilate(feats, ker))
        m = _blur(m, sigma)
    else:
        raise ValueError(f"unknown makeup region {region!r}; known: {', '.join(REGIONS)}")
    return m, t_map


def region_mask(geo: FaceGeometry, region: str,
                spec: RegionStyle) -> tuple[np.ndarray, np.ndarray | None, tuple[slice, slice]]:
    """Soft mask of ``region`` for one face (crop coordinates), its ``t`` map and its bounding box.

    Args:
        geo: the face (from :func:`face_geometry`).
        region: one of :data:`REGIONS`.
        spec: the style's entry for the region (uses ``area``, ``feather``, ``wing``, ``lift``).

    Returns:
        ``(mask, t, box)``: float32 ``[h, w]`` masks in [0, 1] (``t`` is ``None`` except for
        eyeshadow) and the ``(rows, cols)`` slices holding every non-zero mask pixel.
    """
    key = (region, spec.area, spec.feather, spec.wing, spec.lift)
    if key in geo.masks:
        geo.masks.move_to_end(key)
        return geo.masks[key]
    f = min(1.0, MASK_WIDTH / geo.width)  # soft shapes are built on a shrunk grid for big faces
    if f < 0.8:
        h, w = geo.shape
        small = (max(1, round(h * f)), max(1, round(w * f)))
        m, t_map = _soft_mask(geo.lm * np.float32(f), small, geo.width * f, region, spec)
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        t_map = None if t_map is None else cv2.resize(t_map, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        m, t_map = _soft_mask(geo.lm, geo.shape, geo.width, region, spec)
    excl = _EXCLUDE[region]
    if excl not in geo.keep:
        geo.keep[excl] = ~np.isin(geo.labels, excl) & ~geo.eyes & ~geo.mouth
    keep = geo.keep[excl]
    m = np.where(keep, np.clip(m, 0.0, 1.0), np.float32(0)).astype(np.float32)
    ys, xs = np.nonzero(m.max(1) > 0)[0], np.nonzero(m.max(0) > 0)[0]
    box = (slice(int(ys[0]), int(ys[-1]) + 1), slice(int(xs[0]), int(xs[-1]) + 1)) if len(ys) else (slice(0, 0), slice(0, 0))
    geo.masks[key] = (m, t_map, box)
    while len(geo.masks) > 24:
        geo.masks.popitem(last=False)
    return m, t_map, box


def _dist_to_line(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 distance of every pixel of a ``shape`` grid to the polyline ``pts``."""
    img = np.full(shape, 255, np.uint8)
    cv2.polylines(img, [np.round(pts).astype(np.int32)], False, 0, 1, cv2.LINE_8)
    return cv2.distanceTransform(img, cv2.DIST_L2, 3)


# --- rendering ----------------------------------------------------------------------------------

def _apply_region(lab: np.ndarray, a_map: np.ndarray, t_map: np.ndarray | None, spec: RegionStyle,
                  skin_lab: np.ndarray, detail: np.ndarray, ab_low: np.ndarray, skin_shine: float = 1.0,
                  lip_mask: np.ndarray | None = None) -> None:
    """Paint one region into ``lab`` (see the module docstring for the formulas).

    Args:
        lab: float32 ``[h, w, 3]`` CIELAB, modified in place.
        a_map: float32 ``[h, w]`` weight (mask × opacity × intensity).
        t_map: float32 ``[h, w]`` gradient position (0 lid, 1 top) or ``None``.
        spec: the region's style.
        skin_lab: ``[3]`` the face's skin tone (for ``"skin"`` colours).
        detail: float32 ``[h, w]`` fine luminance detail of the source.
        ab_low: float32 ``[h, w, 2]`` blurred source chroma (for ``smooth``).
        skin_shine: the face's skin highlight level (:attr:`FaceGeometry.skin_shine`, for ``shine``).
        lip_mask: the raw lips mask when ``region`` is the lips (measured styles gate its rim).
    """
    L, A_, B_ = lab[..., 0], lab[..., 1], lab[..., 2]
    wsum = float(a_map.sum())
    if wsum <= 0:
        return
    if spec.relative:
        _apply_relative(lab, a_map, t_map, spec, skin_lab, detail, ab_low, skin_shine, lip_mask)
        return
    mean = np.array([float((a_map * ch).sum()) / wsum for ch in (L, A_, B_)], np.float32)
    if spec.color_mode == "skin":
        target: np.ndarray = skin_lab
    elif spec.color_mode == "own":
        target = mean
    elif len(spec.colors) == 2 and t_map is not None:
        c0, c1 = _colour_lab(spec.colors[0]), _colour_lab(spec.colors[1])
        target = c0[None, None, :] + (c1 - c0)[None, None, :] * t_map[..., None]  # [h, w, 3]
    else:
        target = _colour_lab(spec.colors[0])
    target = np.asarray(target, np.float32)
    L += a_map * np.float32(spec.lightness) * (target[..., 0] - mean[0])
    A_ += a_map * (target[..., 1] - mean[1])
    B_ += a_map * (target[..., 2] - mean[2])
    if spec.finish == "matte":
        L -= a_map * np.float32(0.5) * np.maximum(detail, 0)
    elif spec.finish == "gloss":
        L += a_map * np.float32(1.2) * np.maximum(detail, 0)
    if spec.smooth > 0:
        sm = a_map * np.float32(spec.smooth)
        L -= sm * detail
        A_ += sm * (ab_low[..., 0] - A_)
        B_ += sm * (ab_low[..., 1] - B_)
    np.clip(L, 0, 100, out=L)


GRADIENT_T: tuple[float, float] = (0.25, 0.75)
"""Where on the lid (0) → top (1) profile a measured two-colour style's colours sit: inside the
region, so a steep profile never asks for colours beyond sRGB; the renderer extends the line."""

SHINE_GAIN: tuple[float, float] = (-0.6, 1.5)
"""Limits of the highlight gain a measured ``shine`` may ask for (−0.6 = most highlights taken away)."""

SPREAD_MIN: float = 0.35
"""A measured ``spread`` scales a region's contrast by at least this factor and at most its inverse."""

DARK_KEEP: float = 20.0
"""L units: a measured style lightens a pixel this much darker than its region's own colour not at
all (lashes), half as much at half of it."""


def core_mask(m: np.ndarray) -> np.ndarray:
    """A soft region mask rescaled so its core is at full strength: ``min(m / q, 1)`` with ``q`` the
    core-weighted mean of ``m`` (weights ``m ** 4``).

    A thin region (the lid, the lash line) blurred by its feather never reaches 1; a measured style
    is painted with this mask, so the region's core moves all the way to the measured colour, and
    measured with it (the same weights on the reference and on the face painted).

    Args:
        m: float32 ``[h, w]`` mask in [0, 1].

    Returns:
        float32 ``[h, w]`` in [0, 1] (zero where ``m`` is zero).

    Example:
        >>> float(core_mask(np.array([[0.0, 0.3, 0.6]], np.float32)).max())
        1.0
    """
    w = np.square(np.square(m))
    ws = float(w.sum())
    if ws <= 0:
        return m
    q = float((w * m).sum()) / ws
    return np.minimum(m * np.float32(1.0 / max(q, 1e-6)), np.float32(1.0)).astype(np.float32)


def region_stats(lab: np.ndarray, detail: np.ndarray, a_map: np.ndarray, t_map: np.ndarray | None,
                 skin_shine: float) -> dict[str, np.ndarray | float]:
    """What a measured style records of a region, weighted towards the mask's core (see
    :func:`_apply_relative`).

    The weights are ``a_map ** 4``: the feathered rim, where a painted colour is only partly
    applied, counts little, so a style measured on a photo and the region painted with it are
    compared where both are fully made up.

    Args:
        lab: float32 ``[h, w, 3]`` CIELAB.
        detail: float32 ``[h, w]`` fine luminance detail.
        a_map: float32 ``[h, w]`` the region mask.
        t_map: float32 ``[h, w]`` gradient position or ``None``.
        skin_shine: the face's skin highlight level.

    Returns:
        ``mean`` ``[3]``; ``lid`` and ``top`` ``[3]`` (the weighted linear fit of the colour over ``t``
        at :data:`GRADIENT_T`; both equal ``mean`` without ``t_map``); ``shine`` (mean
        ``max(D, 0)`` / the skin's), ``texture`` (mean ``|D|``) and ``spread`` (the standard
        deviation of L around the mean / the linear profile: the region's contrast).

    Raises:
        ValueError: the region is empty.
    """
    w_full = np.square(np.square(a_map))
    sel = w_full > 1e-4
    w = w_full[sel].astype(np.float64)
    ws = float(w.sum())
    if ws <= 0:
        raise ValueError("the region is empty on this face")
    pix = lab[sel].astype(np.float64)
    mean = (w[:, None] * pix).sum(0) / ws
    lid = top = mean
    fit_l = np.full(len(w), mean[0])
    if t_map is not None:
        t = t_map[sel].astype(np.float64)
        tm = float((w * t).sum() / ws)
        var = float((w * (t - tm) ** 2).sum() / ws)
        if var > 1e-6:
            slope = ((w * (t - tm))[:, None] * (pix - mean)).sum(0) / ws / var
            lid, top = mean + slope * (GRADIENT_T[0] - tm), mean + slope * (GRADIENT_T[1] - tm)
            fit_l = mean[0] + slope[0] * (t - tm)
    spread = float(np.sqrt((w * (pix[:, 0] - fit_l) ** 2).sum() / ws))
    d = detail[sel].astype(np.float64)
    return {"mean": mean.astype(np.float32), "lid": np.asarray(lid, np.float32), "top": np.asarray(top, np.float32),
            "shine": float((w * np.maximum(d, 0)).sum() / ws) / max(skin_shine, 1e-3),
            "texture": float((w * np.abs(d)).sum() / ws), "spread": spread}


def _apply_relative(lab: np.ndarray, a_map: np.ndarray, t_map: np.ndarray | None, spec: RegionStyle,
                    skin_lab: np.ndarray, detail: np.ndarray, ab_low: np.ndarray, skin_shine: float,
                    lip_mask: np.ndarray | None = None) -> None:
    """Paint a measured (skin-relative) region style into ``lab`` in place.

    With ``S`` the face's skin, ``S_ref`` the reference's (``reference_skin``) and ``C`` the
    style's colour: the region's core-weighted mean (:func:`region_stats`) moves to ``C − S_ref + S``
    (a two-colour style: the region's own lid→top linear profile moves to the style's, whose
    colours sit at :data:`GRADIENT_T`, so a gradient is not added on top of the face's own
    shading); every pixel keeps its offset from that mean / profile, the rim is shifted by its mask
    weight. Two guards keep a large shift (a removal, a pale reference on dark lips) from drawing
    shapes: outside the lips a lightening shift (L and colour) is faded out on pixels more than
    :data:`DARK_KEEP` darker than the region (lashes stay dark), and on the lips
    (``lip_mask``, the raw lips mask) the feathered rim is weighted by how lip-like each pixel's
    colour is (between the skin and the lips' mean), so the skin around the mouth gets no halo.
    ``spread`` scales the region's L contrast towards the style's (a heavy smoky lid under a removal
    is flattened, a smooth lid under a smoky reference gains depth), by a factor within
    [:data:`SPREAD_MIN`, 1 / :data:`SPREAD_MIN`], sparing pixels far darker than the region (lashes). ``shine`` scales the
    highlights so that their level relative to the skin's becomes the reference's (gain limited to
    :data:`SHINE_GAIN`); ``texture`` smooths a region whose fine detail exceeds the reference's.
    Measured on the face itself (the reference is the input), every term is zero: the input comes back.
    """
    L, A_, B_ = lab[..., 0], lab[..., 1], lab[..., 2]
    assert spec.reference_skin is not None
    shift = skin_lab.astype(np.float32) - colour_lab(spec.reference_skin)
    stats = region_stats(lab, detail, a_map, t_map if len(spec.colors) == 2 else None, skin_shine)
    if len(spec.colors) == 2 and t_map is not None:
        c0, c1 = colour_lab(spec.colors[0]) + shift, colour_lab(spec.colors[1]) + shift
        o0, o1 = np.asarray(stats["lid"]), np.asarray(stats["top"])
        d0, d1 = c0 - o0, c1 - o1
        u = (t_map - np.float32(GRADIENT_T[0])) * np.float32(1 / (GRADIENT_T[1] - GRADIENT_T[0]))
        delta = d0[None, None, :] + (d1 - d0)[None, None, :] * u[..., None]  # [h, w, 3]
        own_l = o0[0] + (o1[0] - o0[0]) * u  # the region's own L profile
    else:
        target = colour_lab(spec.colors[0]) + shift
        own_c = np.asarray(stats["mean"])
        delta = np.broadcast_to((target - own_c).astype(np.float32), lab.shape)
        own_l = np.float32(own_c[0])
    if lip_mask is not None:  # the rim outside the lips: only pixels that look like lip, not skin
        d_skin = np.linalg.norm(lab - skin_lab.astype(np.float32), axis=-1)
        d_lip = np.linalg.norm(lab - np.asarray(stats["mean"], np.float32), axis=-1)
        sep = max(float(np.linalg.norm(np.asarray(stats["mean"]) - skin_lab)), 1.0)
        lipness = np.clip(0.5 + (d_skin - d_lip) / (2 * sep), 0, 1)
        inner = np.clip((lip_mask - 0.45) / 0.1, 0, 1)  # inside the lip contour (mask ≥ 0.5): all of it
        a_map = (a_map * np.maximum(lipness, inner)).astype(np.float32)
    # lightening spares what is much darker than the region (lashes, the lash line's own shadow):
    # lifted with the rest they turn into grey specks (with their chroma: dark and coloured is metallic)
    dev = L - own_l
    dl = delta[..., 0] * np.float32(spec.lightness)
    keep = np.where((dl > 0) & (lip_mask is None), np.clip(1.0 + dev / DARK_KEEP, 0.0, 1.0), 1.0).astype(np.float32)
    if spec.spread is not None:  # the region's contrast towards the style's
        f = float(np.clip(spec.spread / max(float(stats["spread"]), 1e-3), SPREAD_MIN, 1.0 / SPREAD_MIN))
        if abs(f - 1.0) > 1e-3:
            spare = np.clip(1.0 + dev / (2 * DARK_KEEP), 0.0, 1.0)  # lashes far below keep their depth
            L -= a_map * np.float32(1.0 - f) * spare * dev
    L += a_map * keep * dl
    A_ += a_map * keep * delta[..., 1]  # a spared dark pixel gets no colour either: dark + chroma reads as metal
    B_ += a_map * keep * delta[..., 2]
    if spec.shine is not None:
        own = float(stats["shine"])
        gain = float(np.clip(spec.shine / max(own, 1e-3) - 1.0, *SHINE_GAIN))
        if abs(gain) > 1e-3:
            L += a_map * np.float32(gain) * np.maximum(detail, 0)
    if spec.texture is not None:
        own_tex = float(stats["texture"])
        s = float(np.clip(1.0 - spec.texture / max(own_tex, 1e-3), 0.0, 1.0))
        if s > 1e-3:
            sm = a_map * np.float32(s)
            L -= sm * detail
            A_ += sm * (ab_low[..., 0] - A_)
            B_ += sm * (ab_low[..., 1] - B_)
    np.clip(L, 0, 100, out=L)


def render_face(image: np.ndarray, geo: FaceGeometry, params: MakeupParams,
                styles: Mapping[str, MakeupStyle], out: np.ndarray,
                masks: dict[str, np.ndarray], changed: np.ndarray) -> None:
    """Paint the enabled regions of one face into ``out`` (``uint8`` image, modified in place).

    Args:
        image: the source pixels ``out`` started from (read only).
        geo: the face (from :func:`face_geometry` on ``image``).
        params: validated parameters.
        styles: the style table the parameters refer to.
        out: ``uint8`` ``[H, W, 3]`` result being built (other faces may already be painted).
        masks: region name → full-size ``uint8`` mask (0–255) to record the region masks into.
        changed: full-size bool map of the pixels that may differ from ``image`` (updated).
    """
    x0, y0, x1, y1 = geo.box
    dst = out[y0:y1, x0:x1]
    fresh = not changed[y0:y1, x0:x1].any()  # no other face painted inside this crop yet
    base_lab = geo.lab if fresh else _rgb_to_lab(dst)
    lab = base_lab.copy()
    union = np.zeros(geo.shape, np.float32)
    for region in params.enabled():
        spec = styles[str(params.regions[region])].regions[region]  # enabled: a style name
        m, t, (ry, rx) = region_mask(geo, region, spec)
        full = masks[region][y0:y1, x0:x1]
        mm = m[ry, rx]
        if spec.relative and mm.size:  # painted (and recorded) with its core at full strength
            mm = core_mask(mm)
            np.maximum(full[ry, rx], np.ceil(mm * 255).astype(np.uint8), out=full[ry, rx])
        else:
            np.maximum(full, (m * 255 + 0.5).astype(np.uint8), out=full)
        a_map = mm * np.float32(spec.opacity * params.strength(region))
        if a_map.size == 0 or float(a_map.max()) <= CHANGE_THRESHOLD:
            continue
        _apply_region(lab[ry, rx], a_map, None if t is None else t[ry, rx], spec, geo.skin_lab,
                      geo.detail[ry, rx], geo.ab_low[ry, rx], geo.skin_shine,
                      m[ry, rx] if region == "lips" else None)
        np.maximum(union[ry, rx], a_map, out=union[ry, rx])
    sel = union > CHANGE_THRESHOLD
    if not sel.any():
        return
    ys, xs = np.nonzero(sel.any(1))[0], np.nonzero(sel.any(0))[0]
    sub = (slice(int(ys[0]), int(ys[-1]) + 1), slice(int(xs[0]), int(xs[-1]) + 1))
    # the edit as an RGB difference: exactly 0 wherever the Lab values did not move
    delta = _lab_to_rgb(lab[sub]) - _lab_to_rgb(base_lab[sub])
    src = dst[sub]
    res = np.clip(src.astype(np.float32) + delta + np.float32(0.5), 0, 255).astype(np.uint8)
    s = sel[sub]
    src[s] = res[s]
    changed[y0:y1, x0:x1] |= sel
