"""Anime faces: detection with the LBP cascade and eye / brow / mouth location inside the face box.

Method
------
**Detection.** ``resources/lbpcascade_animeface.xml`` (nagadomi, MIT licence in its header) runs on
the histogram-equalised grey image with a replicated border of 20 % of the long side, because the
cascade was trained on boxes with some margin and misses faces that touch the picture edge. When
nothing is found, further passes use a reflected 40 % border, a reflected 60 % border, and a
half-size copy with a reflected 80 % border (they recover tight face crops whose forehead and chin
are cut off: on the 61 greyscale emotion crops the cascade finds 27 instead of 20 with the first two
passes only; one of the 27 is a false hit in a corner). Boxes whose centre falls outside the picture are dropped, the rest are
clipped to it; faces are returned largest first. Large images are detected on a copy whose long
side is at most :data:`DETECT_SIDE` and the boxes mapped back.

**Tight crops.** When the cascade finds nothing, or its box cannot hold the eye pair of the whole
picture (a false hit on a piece of the face) or has no eyes, the whole picture (about square) is
tried as a tight face crop (:func:`find_tight_eyes`): the largest mirror-alike pair of dark eye
strokes, about level, centred and 40–80 % of the picture apart, must read **upright** (dark lash
line and iris top above, the eyes high, hair at the top: :attr:`TightEyes.upright`) and better than
in the picture turned by 180° — an upside-down face or a picture that is no face gives no face.
``assume_crop=True`` takes the whole picture regardless. Development check (not tuned per image):
56 of the 61 greyscale emotion crops are processed, 0 of 20 procedural faces turned by 180°.

**Parts.** Inside a face box (resampled to a 128 × 128 working square):

* mouth — the small dark stroke nearest its prior in the lower middle of the face;
* eyes — dark strokes at three grey levels (60 below the cheeks' skin level and two darker ones, so
  eyes separate from hair of any darkness; pixels joined to the window's top by a dark vertical run
  are cut off as hair, :func:`_cut_hair`, and a lash line cut by a bang tip is joined again) scored
  **as pairs** (:func:`_eye_pair`): side by side, similar in size, symmetric about the mouth, at
  0.45–1.3 eye distances above it, whole (wide) strokes preferred. Across the levels a pair inside
  too-tall strokes (eyes joined to brows or hair) or under the best pair (closed, smiling eyes under
  brows), found at a darker level, is preferred (:func:`_search_eye_pair`); flat bars over small
  upright dots are brows over dot eyes (:func:`_dot_eyes`, chibi faces). The strokes are grown to
  the whole lash line (:func:`_grow_eye`), the outer flick trimmed, both given one width from their
  inner corners and matching tops (:func:`_pair_tops`); in colour art the box is refitted to the
  white of the eye (:func:`_sclera_fit`). An eye box reaches down over the non-skin pixels under
  the lash line (iris, lower lid);
* brows — thin dark strokes, level or tilted (a vertical black-hat of the grey square with a
  threshold that follows the local tone: a brow drawn over dark hair is found as well as one on
  skin, bang tips and strands are not) chosen **as a symmetric pair** above the eyes
  (:func:`_brow_pair`), their horizontal extents averaged with the partner's mirror; a brow joined
  to a bang line is found from its pixels whose mirror image is a stroke too, or inside its
  partner's mirror box (:func:`_mirror_brow`). Development check: 5/5 parts on 760 of 760
  procedural faces (seeds 0–59, 1000–1011, 2000–2039, 5000–5039 × neutral and the four emotions);
* the face outline — the skin-coloured region around the cheeks (an ellipse when it leaks).

Every part has a shape (:attr:`AnimeFaceParts.shapes`: the contour of its strokes, or an ellipse when
estimated). Found parts are checked against the face-box geometry of the procedural ground truth
(see :func:`_check_parts`); a missing or implausible part is **estimated** — mirrored from its
partner or placed from the prior — and every part says whether it was ``found`` (``True``) or
estimated (``False``).

Limits
------
* The cascade is frontal: profiles, strong roll (> ~20°) and faces below ~24 px are missed; tight
  crops are then found by their eyes, which needs two visible, mirror-alike open eyes (a wink, a
  closed pair or one eye cut off by the edge is no tight crop). ``analyze_anime(...,
  assume_crop=True)`` treats the whole picture as the face box in that case.
* The part search is a dark-blob heuristic: dark bangs over the eyes, closed eyes (thin arcs),
  glasses or very pale line art can make it fall back to the priors or pick hair; brows hidden by
  hair use the prior offset. It is accurate enough to place the expression rig's warp regions (the
  rig uses generous regions), not for pixel-accurate segmentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

CASCADE_PATH = Path(__file__).resolve().parents[2] / "resources" / "lbpcascade_animeface.xml"
"""The shipped OpenCV LBP anime-face cascade (unchanged, MIT licence in its header)."""

DETECT_SIDE = 1024
"""Long side of the copy the cascade runs on (larger images are shrunk first)."""

PART_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "left_brow", "right_brow", "mouth")
"""Parts located in each face; ``left``/``right`` as seen in the image."""

# Prior part boxes (centre x, centre y, width, height) as fractions of the cascade box, measured on
# cascade detections of procedural faces (engine.procedural.anime_faces).
_PRIORS: dict[str, tuple[float, float, float, float]] = {
    "left_eye": (0.33, 0.43, 0.19, 0.13),
    "right_eye": (0.67, 0.43, 0.19, 0.13),
    "left_brow": (0.32, 0.28, 0.17, 0.065),
    "right_brow": (0.68, 0.28, 0.17, 0.065),
    "mouth": (0.50, 0.68, 0.15, 0.05),
}
_W = 128  # working square side
_EYE_WIDTH_IOD = 0.56
"""Smallest eye width as a fraction of the eye distance (a found stroke narrower than this is usually
the iris alone; procedural faces: 0.55–0.65)."""
_EYE_FLICK_FROM, _EYE_FLICK_MAX = 0.6, 0.1
"""An eye stroke wider than ``_EYE_FLICK_FROM`` eye distances loses up to ``_EYE_FLICK_MAX`` eye
distances at its outer end (the lash flick is not part of the eye's box)."""
_UPRIGHT_MARGIN = 0.1
"""Orientation evidence (:attr:`TightEyes.upright`) a tight crop's eye pair needs, and by which it
must beat the pair found in the picture turned by 180°."""
_MIRROR_MIN = 0.12
"""Smallest :func:`_mirror_likeness` of a tight crop's eye pair."""
_HAIR_BRIDGE = 9
"""Gap (working-square pixels) across which a lash line cut by a bang tip is joined again
(:func:`_cut_hair`)."""
_BROW_CONTRAST, _BROW_MIN_LEVEL = 0.3, 6.0
"""A brow stroke (black-hat of the grey square) must be darker than its surroundings by this share of
their grey level (and at least ``_BROW_MIN_LEVEL``) where that is less than the fixed level: a brow
drawn over dark hair (procedural faces: hair ≈ 37, brow black-hat 14–22) is found as well as one on
skin."""
_LOWER_PAIR_MARGIN = 3.0
"""How much less a stroke pair under the best-scoring pair may score and still be taken as the eyes
(:func:`_search_eye_pair`)."""
_BROW_ABOVE_EYE = 0.16
"""Prior height of a brow's centre above the top of its eye box, as a fraction of the eye distance
(procedural faces: 0.14–0.17 for every expression but a full smile)."""


@dataclass
class AnimeFaceParts:
    """One anime face and its parts, in pixels of the analysed image.

    Args:
        box: face box ``float32`` ``[x0, y0, x1, y1]``.
        score: detection strength (number of merged cascade hits; 0 for an assumed box).
        parts: part name → box ``[x0, y0, x1, y1]``.
        keypoints: part name → ``float32`` ``[K, 2]``: eyes (outer, inner, top, bottom), brows
            (outer, middle, inner), mouth (left, right, top, bottom) — same layout as the
            procedural faces' ground truth.
        found: part name → True when the part was located in the pixels, False when it was
            estimated (mirrored from its partner or placed from the prior).
        shapes: part name → ``float32`` ``[N, 2]`` closed contour of the part (the outline of its
            dark strokes when found, an ellipse in its box when estimated), plus ``"outline"``: the
            face outline (the skin region's contour, or an ellipse in the box).
        outline_found: True when ``shapes["outline"]`` was traced in the pixels.
    """

    box: np.ndarray
    score: float
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    keypoints: dict[str, np.ndarray] = field(default_factory=dict)
    found: dict[str, bool] = field(default_factory=dict)
    shapes: dict[str, np.ndarray] = field(default_factory=dict)
    outline_found: bool = False

    @property
    def estimated(self) -> list[str]:
        """Names of the parts that were estimated rather than found, in :data:`PART_NAMES` order."""
        return [k for k in PART_NAMES if not self.found.get(k, True)]

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict (boxes and points as lists)."""
        return {"box": [round(float(v), 2) for v in self.box], "score": float(self.score),
                "parts": {k: [round(float(v), 2) for v in b] for k, b in self.parts.items()},
                "keypoints": {k: np.round(p, 2).tolist() for k, p in self.keypoints.items()},
                "found": dict(self.found),
                "shapes": {k: np.round(p, 1).tolist() for k, p in self.shapes.items()},
                "outline_found": bool(self.outline_found)}


@lru_cache(maxsize=1)
def _cascade(path: str = str(CASCADE_PATH)) -> cv2.CascadeClassifier:
    if not Path(path).is_file():
        raise FileNotFoundError(f"anime face cascade missing: {path}")
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise RuntimeError(f"could not load the anime face cascade {path}")
    return c


def _grey(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"anime analysis expects a uint8 image, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)
    if arr.ndim == 2:
        return arr
    raise ValueError(f"anime analysis expects [H, W] or [H, W, 3] input, got shape {arr.shape}")


def detect_anime_faces(image: np.ndarray, min_size: int = 24) -> list[tuple[np.ndarray, float]]:
    """Find anime faces with the LBP cascade.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA or grey ``[H, W]``.
        min_size: smallest face side in pixels of ``image``.

    Returns:
        ``[(box [x0, y0, x1, y1] float32, score), ...]``, largest first; empty when none.

    Raises:
        ValueError: wrong dtype or shape.
    """
    g = _grey(image)
    h, w = g.shape
    if h < 8 or w < 8:
        return []
    s = min(1.0, DETECT_SIDE / max(h, w))
    if s < 1.0:
        g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ms = max(16, int(round(min_size * s)))
    out: list[tuple[np.ndarray, float]] = []
    # (padding as a fraction of the long side, border, extra shrink of the picture)
    passes = ((0.2, cv2.BORDER_REPLICATE, 1), (0.4, cv2.BORDER_REFLECT, 1), (0.6, cv2.BORDER_REFLECT, 1),
              (0.8, cv2.BORDER_REFLECT, 2))
    for pad_frac, border, shrink in passes:
        gs = g if shrink == 1 else cv2.resize(g, (max(1, g.shape[1] // shrink), max(1, g.shape[0] // shrink)),
                                              interpolation=cv2.INTER_AREA)
        if min(gs.shape) < 16:
            continue
        p = int(round(max(gs.shape) * pad_frac))
        gp = cv2.equalizeHist(cv2.copyMakeBorder(gs, p, p, p, p, border))
        m = max(16, ms // shrink)
        rects, counts = _cascade().detectMultiScale2(gp, scaleFactor=1.05, minNeighbors=3, minSize=(m, m))
        for (x, y, bw, bh), n in zip(np.asarray(rects).reshape(-1, 4), np.asarray(counts).reshape(-1), strict=True):
            box = (np.array([x, y, x + bw, y + bh], np.float64) - p) * shrink / s
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            if not (0 <= cx < w and 0 <= cy < h):
                continue
            out.append((box.astype(np.float32), float(n)))
        if out:
            break
    out.sort(key=lambda b: -float((b[0][2] - b[0][0]) * (b[0][3] - b[0][1])))
    return out


def _components(mask: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """(bbox [x0, y0, x1, y1], area) of the connected components of a uint8 mask."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return [(np.array([st[0], st[1], st[0] + st[2], st[1] + st[3]], np.float64), int(st[4])) for st in stats[1:n]]


def _dark_mask(g: np.ndarray, win: tuple[int, int, int, int], level: float) -> np.ndarray:
    x0, y0, x1, y1 = win
    m = np.zeros(g.shape, np.uint8)
    m[y0:y1, x0:x1] = (g[y0:y1, x0:x1] < level).astype(np.uint8) * 255
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))


def _prior_box(name: str) -> np.ndarray:
    cx, cy, bw, bh = _PRIORS[name]
    return np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]) * _W


def _pick(comps: list[tuple[np.ndarray, int]], prior: np.ndarray, sigma: float,
          min_area: int, shape_ok=lambda b: True, thin_penalty: float = 1.0) -> np.ndarray | None:
    pc = np.array([(prior[0] + prior[2]) / 2, (prior[1] + prior[3]) / 2])
    best, best_score = None, 0.0
    for b, area in comps:
        if area < min_area or not shape_ok(b):
            continue
        c = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
        score = area * float(np.exp(-np.sum((c - pc) ** 2) / (2 * sigma ** 2)))
        if (b[3] - b[1]) < 0.25 * (b[2] - b[0]):
            score *= thin_penalty
        if score > best_score:
            best, best_score = b, score
    return best


def _working_square(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float, float]:
    """The face box resampled to ``_W × _W`` (border replicated): ``(grey, rgb or None, sx, sy)``."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    bw, bh = box[2] - box[0], box[3] - box[1]
    sx, sy = bw / _W, bh / _W
    mx = (np.arange(_W, dtype=np.float32) + 0.5) * np.float32(sx) + np.float32(box[0] - 0.5)
    my = (np.arange(_W, dtype=np.float32) + 0.5) * np.float32(sy) + np.float32(box[1] - 0.5)
    src = cv2.GaussianBlur(arr, (0, 0), max(0.5, 0.4 * sx)) if sx > 1.5 else arr
    gx = np.broadcast_to(mx[None, :], (_W, _W)).copy()
    gy = np.broadcast_to(my[:, None], (_W, _W)).copy()
    sq = cv2.remap(src, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if sq.ndim == 3:
        return cv2.cvtColor(sq, cv2.COLOR_RGB2GRAY).astype(np.float32), sq.astype(np.float32), sx, sy
    return sq.astype(np.float32), None, sx, sy


def _skin_distance(g: np.ndarray, rgb: np.ndarray | None, skin_g: float) -> np.ndarray:
    """Per-pixel difference from the skin (RGB distance for colour, grey difference otherwise)."""
    if rgb is None:
        return np.abs(g - skin_g)
    ref = np.median(np.concatenate([rgb[72:84, 24:44].reshape(-1, 3), rgb[72:84, 84:104].reshape(-1, 3)]), 0)
    return np.asarray(np.linalg.norm(rgb - ref, axis=-1), np.float32)


def _cut_hair(mask: np.ndarray, top: int, bridge: int = 0) -> np.ndarray:
    """``mask`` without the pixels joined to row ``top`` by an unbroken vertical run of mask pixels.

    Dark hair enters the eye window from above; where bangs touch an eye's lash line the two form
    one dark component. Removing every pixel whose column is dark all the way up to the window's
    top row separates them (an eye has skin above its lash line). Where a bang tip touches the lash
    line the cut also takes the lash line (and the iris's dark top) under it; with ``bridge`` > 0
    the cut mask pixels that lie between kept pixels of the same row, less than ``bridge`` pixels
    apart, are put back (the lash line is whole again; the bang above it, with no kept pixels on
    both sides in its rows, stays cut).
    """
    out = mask.copy()
    run = mask[top] > 0
    for y in range(top, mask.shape[0]):
        run = run & (mask[y] > 0)
        if not run.any():
            break
        out[y][run] = 0
    if bridge > 0:
        closed = cv2.morphologyEx(out, cv2.MORPH_CLOSE, np.ones((1, bridge), np.uint8))
        out = np.where((closed > 0) & (mask > 0), np.uint8(255), out).astype(np.uint8)
    return out


def _eye_pair(comps: list[tuple[np.ndarray, int]],
              mouth: np.ndarray | None) -> tuple[tuple[np.ndarray, np.ndarray], float] | None:
    """The two components that look most like a pair of eyes (working-square boxes) and their score, or None.

    Candidates are 6–45 % of the box wide and at most 30 % tall; a pair must be side by side
    (20–62 % of the box apart, heights within 8 % + 20 % of the distance, widths within 1.9×) and
    centred on the mouth (or the box). Among the pairs the score favours big strokes, symmetry and,
    with a mouth, the lowest pair at 0.45–1.3 eye distances above it (bangs above the eyes form
    pairs too); without a mouth the pair nearest the prior eye row.
    """
    cs = [(b, a) for b, a in comps if 0.06 * _W <= b[2] - b[0] <= 0.45 * _W and b[3] - b[1] <= 0.3 * _W and a >= 10]
    axis = _W / 2 if mouth is None else float(mouth[0])
    best, best_score = None, -np.inf
    for i, (bi, ai) in enumerate(cs):
        for bj, aj in cs[i + 1:]:
            (l, al), (r, ar) = ((bi, ai), (bj, aj)) if bi[0] + bi[2] < bj[0] + bj[2] else ((bj, aj), (bi, ai))
            cl, cr = _centre_of(l), _centre_of(r)
            dx, dy = cr[0] - cl[0], abs(cr[1] - cl[1])
            wl, wr = l[2] - l[0], r[2] - r[0]
            if not (0.2 * _W <= dx <= 0.62 * _W and dy <= 0.08 * _W + 0.2 * dx and max(wl, wr) <= 1.9 * min(wl, wr)):
                continue
            mid = (cl + cr) / 2
            off = abs(mid[0] - axis)
            if off > 0.15 * _W or l[2] > r[0]:
                continue
            score = np.log(min(al, ar)) - 3.0 * off / dx - 2.0 * dy / dx
            if mouth is not None:
                h = (mouth[1] - mid[1]) / dx
                if not 0.45 <= h <= 1.3:
                    continue
                score += 2.0 * mid[1] / _W + 3.0 * min(wl, wr) / dx
            else:
                score -= 8.0 * abs(mid[1] / _W - _PRIORS["left_eye"][1])
            if score > best_score:
                best, best_score = (l, r), score
    return None if best is None else (best, float(best_score))


@dataclass
class TightEyes:
    """An eye pair found in a whole picture taken as a tight face crop (:func:`find_tight_eyes`), in
    working-square coordinates of that picture.

    Args:
        left: left eye box ``[x0, y0, x1, y1]``.
        right: right eye box.
        score: pair score (bigger, more alike, level and centred strokes with highlights score higher).
        level: the grey level the pair was found below.
        levels: lighter levels the eye strokes may be grown at.
        upright: orientation evidence, > 0 when the pair reads as upright eyes: :func:`_lash_on_top`
            of both strokes, plus the pair's height above 55 % of the picture, plus half of
            :func:`_picture_upright`.
    """

    left: np.ndarray
    right: np.ndarray
    score: float
    level: float
    levels: list[float]
    upright: float


def _enclosed(comp: np.ndarray) -> np.ndarray:
    """Pixels enclosed by a component mask (its holes: an iris's highlights)."""
    inv = (1 - np.pad(comp.astype(np.uint8), 1)).astype(np.uint8)
    cv2.floodFill(inv, None, (0, 0), 0)
    return inv[1:-1, 1:-1] > 0


def _lash_on_top(sub: np.ndarray) -> float:
    """Orientation of an eye, about −1…1, > 0 when upright (``sub``: grey values of its box).

    The thick upper lash line and the iris's dark top make an upright anime eye darker in its
    upper half than in its lower half (where the iris lightens and the lower lid is a thin line);
    turned by 180° the sign flips.
    """
    h = sub.shape[0] // 2
    if h < 1:
        return 0.0
    a, b = float(255.0 - sub[:h].mean()), float(255.0 - sub[sub.shape[0] - h:].mean())
    return (a - b) / max(a + b, 1e-6)


def _picture_upright(g: np.ndarray) -> float:
    """Orientation of a tight face crop (working square), > 0 when upright: hair fills its top (darker
    and busier with strands and bang outlines than the cheeks at its bottom). Development check: 59
    of the 61 greyscale emotion crops score > 0 upright."""
    q = _W // 4
    dark = float(g[-q:].mean() - g[:q].mean()) / 255.0
    gy, gx = np.gradient(g)
    mag = np.hypot(gx, gy)
    return 3.0 * dark + float(mag[:q].mean() - mag[-q:].mean()) / (float(mag.mean()) + 1e-6)


def _mirror_likeness(g: np.ndarray, lb: np.ndarray, rb: np.ndarray) -> float:
    """Normalised correlation of the left eye's box with the right eye's box mirrored (both grown by
    a fifth and resampled to one size): a face's two eyes are near mirror images of each other."""
    w = int(max(8, round(((lb[2] - lb[0]) + (rb[2] - rb[0])) / 2 * 1.2)))
    h = int(max(8, round(((lb[3] - lb[1]) + (rb[3] - rb[1])) / 2 * 1.2)))

    def patch(b: np.ndarray) -> np.ndarray:
        c = _centre_of(b)
        bw, bh = (b[2] - b[0]) * 0.6, (b[3] - b[1]) * 0.6
        x0, x1 = int(max(0, c[0] - bw)), int(min(_W, c[0] + bw + 1))
        y0, y1 = int(max(0, c[1] - bh)), int(min(_W, c[1] + bh + 1))
        return cv2.resize(g[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_AREA)
    a, b = patch(lb), patch(rb)[:, ::-1]
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-6))


def find_tight_eyes(image: np.ndarray) -> TightEyes | None:
    """Look for a pair of anime eyes in a whole picture taken as a tight face crop.

    Anime eyes are the largest dark blobs of a face: the thick upper lash line joined to a dark iris
    that holds bright highlights. At three grey levels between the picture's darkest pixels and its
    median tone, dark components (hair joined to the top edge by dark vertical runs removed,
    :func:`_cut_hair`) of eye size (8–50 % of the picture wide, 4–36 % tall, centre in rows
    15–75 %) are paired: side by side (40–80 % of the picture apart: a face filling it, level within 6 % + 25 % of
    their distance, widths within 2.2×, each narrower than their distance), centred within 22 % of
    the picture's middle. A pair scores by the smaller stroke's area, the highlights enclosed by both,
    similar areas, level and centred. The chosen strokes are grown to the widest eye-sized stroke at
    a lighter level (:func:`_grow_eye`). No thresholds depend on a particular data set; they are the
    proportions of a face filling the picture.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA or grey ``[H, W]``.

    Returns:
        :class:`TightEyes` (working-square coordinates of the whole picture), or None.

    Raises:
        ValueError: wrong dtype or shape.
    """
    g0 = _grey(image)
    h0, w0 = g0.shape
    if h0 < 16 or w0 < 16:
        return None
    g, _, _, _ = _working_square(image, np.array([0, 0, w0, h0], np.float64))
    lo, hi = float(np.percentile(g, 1)), float(np.percentile(g, 60))
    if hi - lo < 20:
        return None
    levels = [lo + f * (hi - lo) for f in (0.2, 0.35, 0.5)]
    picture = 0.5 * _picture_upright(g)
    best: TightEyes | None = None
    for level in levels:
        d = cv2.morphologyEx(_cut_hair((g < level).astype(np.uint8) * 255, 0), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        n, lab, st, _ = cv2.connectedComponentsWithStats(d, connectivity=8)
        cands: list[tuple[np.ndarray, int, int, float]] = []
        for i in range(1, n):
            x, y, w, h, a = (int(v) for v in st[i])
            if a < 25 or not (0.08 * _W <= w <= 0.5 * _W and 0.04 * _W <= h <= 0.36 * _W):
                continue
            if not 0.15 * _W <= y + h / 2 <= 0.75 * _W:
                continue
            comp = lab[y:y + h, x:x + w] == i
            closed = cv2.morphologyEx(np.pad(comp.astype(np.uint8), 3), cv2.MORPH_CLOSE,
                                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))[3:-3, 3:-3] > 0
            inside = _enclosed(closed) | (closed & ~comp)
            bright = int((inside & (g[y:y + h, x:x + w] > level + 0.6 * (255 - level))).sum())
            if a > 0.85 * w * h:
                continue  # a solid block, not an eye
            cands.append((np.array([x, y, x + w, y + h], np.float64), a, bright, _lash_on_top(g[y:y + h, x:x + w])))
        for i, ci in enumerate(cands):
            for cj in cands[i + 1:]:
                (lb, la, lh, lt), (rb, ra, rh, rt) = (ci, cj) if ci[0][0] < cj[0][0] else (cj, ci)
                cl, cr = _centre_of(lb), _centre_of(rb)
                dx, dy = cr[0] - cl[0], abs(cr[1] - cl[1])
                wl, wr = lb[2] - lb[0], rb[2] - rb[0]
                if lb[2] > rb[0] or not 0.4 * _W <= dx <= 0.8 * _W or dy > 0.06 * _W + 0.25 * dx:
                    continue
                mid = (cl + cr) / 2
                if max(wl, wr) > 2.2 * min(wl, wr) or max(wl, wr) > 0.95 * dx or abs(mid[0] - _W / 2) > 0.22 * _W:
                    continue
                sc = (np.log(min(la, ra)) + 0.6 * np.log1p(min(lh, rh)) - 2.0 * dy / dx
                      - 3.0 * abs(mid[0] - _W / 2) / _W - abs(np.log(la / ra)))
                if best is None or sc > best.score:
                    if _mirror_likeness(g, lb, rb) < _MIRROR_MIN:
                        continue  # the two strokes do not look like mirror images of each other
                    upright = (lt + rt) / 2 + 1.0 * (0.55 - mid[1] / _W) + picture
                    best = TightEyes(lb, rb, float(sc), float(level), [v for v in levels if v > level], float(upright))
    return None if best is None else _dot_eyes(g, best)


def _dot_eyes(g: np.ndarray, eyes: TightEyes) -> TightEyes:
    """A tight crop's eye pair moved down to dot eyes under it when the pair is two flat bars.

    Chibi and gag-style faces draw eyes as small upright dots or ovals under thick, flat brows; the
    dots are too small to be eye candidates and the brows then pass for the eyes. When both strokes
    of the pair are solid bars (at most 0.3 as tall as wide, 68 % of their box darker than the
    lightest level: not the arcs of closed eyes), upright dark blobs (taller than wide, 4–15 % of the picture tall, at most 8 % wide)
    at the pair's levels are looked for under each bar (their
    centre 0.08–0.35 pair distances lower and within the bar's width, the two placed as mirror images
    within 0.1 and their areas within 2×); such a pair replaces the bars (which are then found as the
    brows). Otherwise ``eyes`` is returned unchanged.
    """
    lb, rb = eyes.left, eyes.right
    if any(b[3] - b[1] > 0.3 * (b[2] - b[0]) for b in (lb, rb)):
        return eyes

    def fill(b: np.ndarray) -> float:
        x0, y0, x1, y1 = (int(v) for v in b)
        sub = g[max(0, y0):y1, max(0, x0):x1]
        return float((sub < max(eyes.level, *eyes.levels)).mean()) if sub.size else 0.0
    if min(fill(lb), fill(rb)) < 0.68:
        return eyes  # arcs (closed, smiling eyes), not solid bars
    cl, cr = _centre_of(lb), _centre_of(rb)
    dx = float(cr[0] - cl[0])
    for level in [eyes.level, *eyes.levels]:
        d = cv2.morphologyEx(_cut_hair((g < level).astype(np.uint8) * 255, 0), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        dots = [(b, a) for b, a in _components(d)
                if a >= 12 and b[2] - b[0] <= 0.08 * _W and max(0.04 * _W, 1.2 * (b[2] - b[0])) <= b[3] - b[1] <= 0.15 * _W]

        below = [[(b, a) for b, a in dots if 0.08 * dx <= _centre_of(b)[1] - _centre_of(bar)[1] <= 0.35 * dx
                  and bar[0] <= _centre_of(b)[0] <= bar[2]] for bar in (lb, rb)]
        pairs = [(l_, r_) for l_ in below[0] for r_ in below[1]
                 if abs((_centre_of(l_[0])[0] - cl[0]) + (_centre_of(r_[0])[0] - cr[0])) <= 0.1 * dx
                 and abs(_centre_of(l_[0])[1] - _centre_of(r_[0])[1]) <= 0.1 * dx
                 and max(l_[1], r_[1]) <= 2 * min(l_[1], r_[1])]
        if pairs:
            (dl, _), (dr, _) = max(pairs, key=lambda p: min(p[0][1], p[1][1]))
            return TightEyes(dl, dr, eyes.score, float(level), [v for v in eyes.levels if v > level], eyes.upright)
    return eyes


def _eye_levels(g: np.ndarray, win: tuple[int, int, int, int], skin: float, base: float) -> list[float]:
    """Grey levels below which eye strokes are searched: ``base`` (60 below the skin) and two darker
    ones between the window's darkest pixels (lash lines, pupils) and the skin, so that eyes under
    hair of any darkness separate from it at one of them."""
    x0, y0, x1, y1 = win
    lo = float(np.percentile(g[y0:y1, x0:x1], 2))
    levels = [base] + [lo + f * (skin - lo) for f in (0.5, 0.3, 0.15)]
    return sorted({round(v, 1) for v in levels if lo + 4 < v <= base}, reverse=True)


def _grow_eye(g: np.ndarray, win: tuple[int, int, int, int], levels: list[float], b: np.ndarray, dx: float,
              cand: np.ndarray, dm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An eye stroke found at a dark level grown to the widest stroke holding it at a lighter level.

    Darker levels separate eyes from hair but often keep only part of the lash line (the iris, the
    thick outer end); at lighter levels the whole lash line is one stroke unless it has joined the
    hair. The widest stroke that contains the found one's centre and stays eye-sized (at most 0.75
    eye distances wide and 0.5 tall) is kept. Returns ``(box, stroke mask, dark mask)`` of the level used.
    """
    c = _centre_of(b)
    best = (b, cand, dm)
    for level in levels:
        d = _dark_mask(g, win, level)
        m = cv2.morphologyEx(_cut_hair(d, win[1], _HAIR_BRIDGE), cv2.MORPH_OPEN, np.ones((1, 5), np.uint8))
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        x0, y0, x1, y1 = int(max(0, b[0])), int(max(0, b[1])), int(min(_W, b[2])), int(min(_W, b[3]))
        ids = np.unique(lab[y0:y1, x0:x1])
        ids = ids[ids > 0]
        if ids.size == 0:
            continue
        st = stats[ids]
        k = int(np.argmax(st[:, 4]))
        gx, gy, gw, gh = (float(v) for v in st[k, :4])
        if gw > 0.75 * dx or gh > 0.5 * dx or not (gx <= c[0] <= gx + gw):
            continue
        if gw > best[0][2] - best[0][0]:
            best = (np.array([gx, gy, gx + gw, gy + gh]), m, d)
    return best


def _brow_window(e: np.ndarray, iod: float, ew: float) -> tuple[int, int, int, int]:
    """Where an eye's brow is searched: above the eye box, a little wider than it."""
    return (int(max(0, e[0] - 0.35 * ew)), int(max(0, e[1] - 0.9 * ew)),
            int(min(_W, e[2] + 0.35 * ew)), int(max(1, e[1] - 1 - 0.06 * iod)))


def _brow_candidates(g: np.ndarray, e: np.ndarray, iod: float, ew: float,
                     keep: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Thin horizontal dark strokes above an eye box that could be its brow: ``(box, mask)`` pairs
    (only the stroke pixels inside ``keep`` when given)."""
    win = _brow_window(e, iod, ew)
    out = []
    for level in (14.0, 24.0):
        bm = _brow_mask(g, win, level)
        if keep is not None:
            bm = bm & keep
        for b, area in _components(bm):
            w, h = b[2] - b[0], b[3] - b[1]
            if area >= 6 and w >= 1.5 * h and 0.25 * iod <= w <= 0.8 * iod and h <= 0.36 * iod:
                out.append((b, bm))
    return out


def _brow_pair(g: np.ndarray, parts: dict[str, np.ndarray], iod: float, ew: float,
               axis_x: float | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The brows above a located eye pair, chosen **as a pair**: name → ``(box, mask)``.

    Each brow candidate (:func:`_brow_candidates`) is scored by its width (anime brows are about half
    an eye distance long), how well it is centred over its eye and how far above the eye it sits
    (0.05–0.45 eye distances: lowered by anger, raised by surprise); a pair also by its symmetry about
    the eyes' midline (similar height, mirrored horizontal position and width). A single side is
    kept alone only when its partner has no candidate at all.
    """
    axis = float(_centre_of(parts["left_eye"])[0] + _centre_of(parts["right_eye"])[0]) / 2 if axis_x is None else axis_x

    def single(b: np.ndarray, e: np.ndarray) -> float:
        w = b[2] - b[0]
        gap = (e[1] - _centre_of(b)[1]) / iod
        off = abs(_centre_of(b)[0] - _centre_of(e)[0]) / iod
        return float(-3.0 * abs(w / iod - 0.5) - 4.0 * off - 3.0 * max(0.0, gap - 0.35) - 3.0 * max(0.0, 0.08 - gap)
                     - 1.0 * abs(gap - 0.18))

    cl = _brow_candidates(g, parts["left_eye"], iod, ew)
    cr = _brow_candidates(g, parts["right_eye"], iod, ew)
    if not cl or not cr:
        # a brow joined to a bang line or strand is no brow-shaped component: keep only the stroke
        # pixels whose mirror image about the face axis is a stroke too (brows are symmetric, bangs not)
        ml = _brow_mask(g, _brow_window(parts["left_eye"], iod, ew))
        mr = _brow_mask(g, _brow_window(parts["right_eye"], iod, ew))
        near = np.ones((3, 3), np.uint8)
        cl = cl or _brow_candidates(g, parts["left_eye"], iod, ew, cv2.dilate(_mirror_mask(mr, axis), near))
        cr = cr or _brow_candidates(g, parts["right_eye"], iod, ew, cv2.dilate(_mirror_mask(ml, axis), near))
    best: tuple[float, dict[str, tuple[np.ndarray, np.ndarray]]] | None = None
    for bl, ml in cl:
        sl = single(bl, parts["left_eye"])
        for br, mr in cr:
            dy = abs(_centre_of(bl)[1] - _centre_of(br)[1]) / iod
            mir = abs((axis - _centre_of(bl)[0]) - (_centre_of(br)[0] - axis)) / iod
            dw = abs((bl[2] - bl[0]) - (br[2] - br[0])) / iod
            if dy > 0.2 or mir > 0.25:
                continue
            sc = sl + single(br, parts["right_eye"]) - 6.0 * dy - 4.0 * mir - 2.0 * dw
            if best is None or sc > best[0]:
                best = (sc, {"left_brow": (bl, ml), "right_brow": (br, mr)})
    if best is not None:
        (bl, ml), (br, mr) = best[1]["left_brow"], best[1]["right_brow"]
        # symmetric brows: each side's horizontal extent averaged with its partner's mirror image
        # (a bang tip joined to one brow's inner end, or a thin outer end lost on one side, halves)
        ml_x, mr_x = _mirror(br, axis), _mirror(bl, axis)
        bl = np.array([(bl[0] + ml_x[0]) / 2, bl[1], (bl[2] + ml_x[2]) / 2, bl[3]])
        br = np.array([(br[0] + mr_x[0]) / 2, br[1], (br[2] + mr_x[2]) / 2, br[3]])
        return {"left_brow": (bl, ml), "right_brow": (br, mr)}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, eye, cs in (("left_brow", "left_eye", cl), ("right_brow", "right_eye", cr)):
        if cs:
            scores = [single(c[0], parts[eye]) for c in cs]
            out[name] = cs[int(np.argmax(scores))]
    for name, other, eye in (("left_brow", "right_brow", "left_eye"), ("right_brow", "left_brow", "right_eye")):
        if name not in out and other in out:
            mirrored = _mirror_brow(g, out[other][0], axis, parts[eye], iod)
            if mirrored is not None:
                out[name] = mirrored
    return out


def _mirror_mask(m: np.ndarray, axis_x: float) -> np.ndarray:
    """A mask mirrored about the vertical line ``x = axis_x`` (columns mirrored outside it are empty)."""
    src = np.round(2 * axis_x - np.arange(m.shape[1])).astype(np.int64)
    ok = (src >= 0) & (src < m.shape[1])
    out = np.zeros_like(m)
    out[:, ok] = m[:, src[ok]]
    return out


def _mirror_brow(g: np.ndarray, partner: np.ndarray, axis: float, eye: np.ndarray,
                 iod: float) -> tuple[np.ndarray, np.ndarray] | None:
    """A brow found where its partner's mirror image says it is: ``(box, mask)`` or None.

    When one brow's stroke is joined to a bang line or a strand (its component is no brow-shaped
    candidate), the brow pixels (:func:`_brow_mask`) inside the partner's mirror box, grown by 0.12
    eye distances and ending above the eye, are taken as the brow when they cover 60 % of its
    columns as a thin stroke (at most 0.2 eye distances tall in a column); the box is their extent.
    """
    mb = _mirror(partner, axis)
    grow = 0.12 * iod
    win = (int(max(0, mb[0] - grow)), int(max(0, mb[1] - grow)), int(min(_W, mb[2] + grow + 1)),
           int(min(_W, mb[3] + grow + 1, eye[1] - 0.06 * iod)))
    if win[2] - win[0] < 3 or win[3] - win[1] < 2:
        return None
    m = _brow_mask(g, win, 14.0)
    sub = m[win[1]:win[3], win[0]:win[2]] > 0
    cols = sub.sum(0)
    lo, hi = int(max(0, mb[0] - win[0])), int(min(sub.shape[1], mb[2] - win[0] + 1))
    if hi - lo < 3 or (cols[lo:hi] > 0).mean() < 0.6 or np.median(cols[lo:hi][cols[lo:hi] > 0]) > 0.2 * iod:
        return None
    ys, xs = np.nonzero(sub)
    box = np.array([xs.min() + win[0], ys.min() + win[1], xs.max() + 1 + win[0], ys.max() + 1 + win[1]], np.float64)
    if box[2] - box[0] < 0.25 * iod:
        return None
    return box, m


def _sclera_fit(rgb: np.ndarray, b: np.ndarray, dx: float) -> np.ndarray:
    """An eye box refitted to the eye's white in colour art, else ``b``.

    Coloured anime eyes have a white sclera (and white highlights) under the lash line, the one
    near-white, colourless thing on a face (skin is tinted): the white pixels near the found stroke
    (within 0.45 eye distances of its centre across, 0.3 up and down) span the eye from corner to
    corner and from the lash line to the lower lid. Their box, grown by a tenth of its width at the
    corners (the lash line's ends cover them) and by the lash line above, replaces the stroke's box when
    it is eye-sized (0.3–0.8 eye distances wide); a closed or narrowed eye shows too little white and
    keeps ``b``.
    """
    c = _centre_of(b)
    x0, x1 = int(max(0, c[0] - 0.45 * dx)), int(min(_W, c[0] + 0.45 * dx + 1))
    y0, y1 = int(max(0, c[1] - 0.3 * dx)), int(min(_W, c[1] + 0.3 * dx + 1))
    sub = rgb[y0:y1, x0:x1]
    if sub.size == 0:
        return b
    white = ((sub.min(-1) > 225) & (np.ptp(sub, axis=-1) < 18)).astype(np.uint8)
    n, lab, st, cen = cv2.connectedComponentsWithStats(white, connectivity=8)
    keep = [i for i in range(1, n) if st[i, 4] >= 3]
    if not keep:
        return b
    xs0 = min(st[i, 0] for i in keep) + x0
    xs1 = max(st[i, 0] + st[i, 2] for i in keep) + x0
    ys0 = min(st[i, 1] for i in keep) + y0
    ys1 = max(st[i, 1] + st[i, 3] for i in keep) + y0
    w = xs1 - xs0
    if not 0.3 * dx <= w <= 0.8 * dx or ys1 - ys0 < 0.12 * dx:
        return b
    lash = max(1.0, 0.05 * dx)
    return np.array([xs0 - 0.1 * w, min(b[1], ys0 - lash), xs1 + 0.1 * w, ys1], np.float64)


def _pair_widths(parts: dict[str, np.ndarray]) -> None:
    """Give a found eye pair one width, in place: the narrower of the two (a flick or a lock of hair
    joined to one eye's lash line widens only that eye), kept between 0.5 and 0.62 eye distances (the
    eye's width in anime art); each eye keeps its inner corner (the end nearer the face axis)."""
    le, re = parts["left_eye"], parts["right_eye"]
    dx = float(_centre_of(re)[0] - _centre_of(le)[0])
    w = float(np.clip(min(le[2] - le[0], re[2] - re[0]), 0.5 * dx, 0.62 * dx))
    parts["left_eye"] = np.array([le[2] - w, le[1], le[2], le[3]])
    parts["right_eye"] = np.array([re[0], re[1], re[0] + w, re[3]])


def _pair_tops(parts: dict[str, np.ndarray]) -> None:
    """Give a found eye pair matching tops, in place: when one eye's box reaches more than 0.12 eye
    distances higher above its bottom than the other's (a bang tip or the brow joined to its lash
    line) while their bottoms agree within 0.08, its top is moved down to the partner's height."""
    le, re = parts["left_eye"], parts["right_eye"]
    dx = float(_centre_of(re)[0] - _centre_of(le)[0])
    hl, hr = le[3] - le[1], re[3] - re[1]
    if abs(le[3] - re[3]) > 0.08 * dx or abs(hl - hr) <= 0.12 * dx:
        return
    tall, short = ("left_eye", "right_eye") if hl > hr else ("right_eye", "left_eye")
    b = parts[tall]
    parts[tall] = np.array([b[0], b[3] - (parts[short][3] - parts[short][1]), b[2], b[3]])


def _trim_outer(mask: np.ndarray, b: np.ndarray, left: bool, dx: float) -> np.ndarray:
    """An eye stroke's box without the outer lash flick.

    The upper lash line descends from its middle to the outer corner; a flick (or a lock of hair
    joined to it) rises again beyond it. The outer corner is taken where the stroke's upper edge is
    lowest in the outer part of the stroke (0.4–0.75 eye distances from the inner end); strokes
    narrower than 0.45 eye distances are kept whole.
    """
    x0, y0, x1, y1 = (int(round(v)) for v in b)
    if x1 - x0 < 0.45 * dx:
        return b
    sub = mask[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] > 0
    if sub.size == 0:
        return b
    has = np.asarray(sub.any(axis=0), bool)
    top = np.where(has, sub.argmax(0), -1).astype(np.float64)
    inner = x1 if left else x0
    lo_off, hi_off = int(0.4 * dx), int(min(0.75 * dx, x1 - x0))
    if hi_off <= lo_off:
        return b
    cols = [inner - o - 1 - x0 if left else inner + o - x0 for o in range(lo_off, hi_off)]
    cols = [c for c in cols if 0 <= c < sub.shape[1] and has[c]]
    if not cols:
        return b
    tops = top[cols]
    corner = cols[int(np.flatnonzero(tops == tops.max())[0 if left else -1])]
    out = np.array(b, np.float64)
    if left:
        out[0] = x0 + corner
    else:
        out[2] = x0 + corner + 1
    return out


def _lash_top(dark: np.ndarray, b: np.ndarray) -> float:
    """Top of an eye's lash line: rows above the found stroke that stay dark across most of its
    central columns (where bangs were cut off the stroke, :func:`_cut_hair`)."""
    x0, x1 = int(b[0] + 0.15 * (b[2] - b[0])), int(np.ceil(b[2] - 0.15 * (b[2] - b[0])))
    top = int(b[1])
    limit = max(0, int(b[1] - 0.35 * (b[2] - b[0])))
    while top - 1 >= limit and x1 > x0 and (dark[top - 1, x0:x1] > 0).mean() > 0.6:
        top -= 1
    return float(top)


def _eye_extent(b: np.ndarray, nonskin: np.ndarray) -> np.ndarray:
    """Grow an eye's lash-line component box down to the lower lid (non-skin rows under it)."""
    x0, y0, x1, y1 = (int(round(v)) for v in b)
    ew = max(1, x1 - x0)
    lo = int(min(_W, y0 + 1.05 * ew))
    cols = nonskin[:, max(0, x0 + ew // 6):max(1, x1 - ew // 6)]
    rows = cols[y0:lo].mean(1) if cols.size else np.zeros(0)
    bottom = y1
    gap = 0
    for i in range(max(0, y1 - y0), len(rows)):
        if rows[i] > 0.45:
            bottom, gap = y0 + i + 1, 0
        else:
            gap += 1
            if gap > max(2, ew // 10):
                break
    return np.array([b[0], b[1], b[2], max(float(bottom), b[1] + 0.25 * ew)])


_BROW_RUNS = (np.ones((1, 4), np.uint8), np.array([[1, 1, 0, 0], [0, 0, 1, 1]], np.uint8),
              np.array([[0, 0, 1, 1], [1, 1, 0, 0]], np.uint8))
"""Line elements a brow stroke must hold (:func:`_brow_mask`): level, and rising 1 in 4 either way."""


def _brow_mask(g: np.ndarray, win: tuple[int, int, int, int], level: float = 14.0) -> np.ndarray:
    """Thin dark, roughly horizontal strokes inside ``win`` (black-hat of the grey square)."""
    x0, y0, x1, y1 = win
    k = np.ones((7, 1), np.uint8)  # vertical: horizontal strokes only (not bang tips, strands)
    bh = cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, k)
    m = np.zeros(g.shape, np.uint8)
    # over dark hair a brow is only a little darker than its surroundings: the threshold follows the
    # local tone (the stroke must take away _BROW_CONTRAST of it), down from ``level`` on light skin
    thr = np.clip(_BROW_CONTRAST * (g[y0:y1, x0:x1] + bh[y0:y1, x0:x1]), _BROW_MIN_LEVEL, level)
    m[y0:y1, x0:x1] = (bh[y0:y1, x0:x1] > thr).astype(np.uint8) * 255
    # short horizontal runs, level or tilted up to about 1 : 4 (a sad brow's inner end is raised)
    opened = np.zeros_like(m)
    for kernel in _BROW_RUNS:
        opened = np.maximum(opened, cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel))
    return cv2.morphologyEx(opened, cv2.MORPH_CLOSE, np.ones((2, 3), np.uint8))


def _shape_of(mask: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Outer contour ``[N, 2]`` (working square) of the mask's pixels inside box ``b``."""
    x0, y0, x1, y1 = (int(np.floor(b[0])), int(np.floor(b[1])), int(np.ceil(b[2])) + 1, int(np.ceil(b[3])) + 1)
    x0, y0 = max(0, x0), max(0, y0)
    sub = np.ascontiguousarray(mask[y0:y1, x0:x1])
    if sub.size == 0 or not sub.any():
        return None
    cs, _ = cv2.findContours((sub > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cs:
        return None
    c = max(cs, key=cv2.contourArea).reshape(-1, 2).astype(np.float64) + (x0 + 0.5, y0 + 0.5)
    return c if len(c) >= 3 else None


def _ellipse_shape(b: np.ndarray, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cx, cy, rx, ry = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, (b[2] - b[0]) / 2, (b[3] - b[1]) / 2
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _outline(dist: np.ndarray) -> tuple[np.ndarray, bool]:
    """Face outline in the working square: the skin region around the cheeks (else an ellipse)."""
    skin = cv2.morphologyEx((dist < 28).astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15)))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(skin, connectivity=4)
    seeds = [lab[78, 34], lab[78, 94]]
    ids = [i for i in seeds if i > 0]
    default = _ellipse_shape(np.array([0.1, 0.06, 0.9, 1.0]) * _W, 40)
    if not ids:
        return default, False
    m = np.isin(lab, ids).astype(np.uint8)
    border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]]).mean()
    area = m.mean()
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cs or border > 0.35 or not 0.15 <= area <= 0.85:
        return default, False
    c = max(cs, key=cv2.contourArea).reshape(-1, 2).astype(np.float64) + 0.5
    return c, True


_Scored = tuple[float, tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]
"""An eye pair with its score, the dark mask and the stroke mask it was found in."""


def _search_eye_pair(g: np.ndarray, win: tuple[int, int, int, int], levels: list[float],
                     mouth_c: np.ndarray | None, tight: bool) -> _Scored | None:
    """The best eye pair over the dark levels (:func:`_eye_pair` with the mouth; in a tight box also
    without it, in the upper half and at a penalty).

    Brows (and bang tips) form pairs too, and at a light level where the eyes have joined the side
    hair they may be the only pair, scoring higher than the eyes found at a darker level. So, among
    the best pairs of the levels (each scoring at most :data:`_LOWER_PAIR_MARGIN` less than the best):

    * when the best pair's strokes are taller than half the eye distance (eyes joined to brows or
      hair), a pair inside them found at a darker level is taken instead;
    * then the lowest pair under it (both strokes 0.25–1.0 eye distances lower, each within 0.3 eye
      distances across and at least half as wide, found at the same or a darker level: eyes are
      drawn darker than brows, lower lids lighter than the lash line) is taken: eyes are under the
      brows (closed, smiling eyes are thin arcs with little area).
    """
    found: list[tuple[_Scored, float]] = []
    for level in levels:
        dm = _dark_mask(g, win, level)
        cand = cv2.morphologyEx(_cut_hair(dm, win[1], _HAIR_BRIDGE), cv2.MORPH_OPEN, np.ones((1, 5), np.uint8))
        comps = _components(cand)
        for mc in ((mouth_c, None) if mouth_c is not None and tight else (mouth_c,)):
            scored = _eye_pair(comps, mc)
            if scored is None:
                continue
            pair, sc = scored
            if mc is None and mouth_c is not None:
                if (_centre_of(pair[0])[1] + _centre_of(pair[1])[1]) / 2 > 0.5 * _W:
                    continue  # without a mouth only eyes in the upper half count
                sc -= 2.0  # a pair that ignores the mouth found below it
            found.append(((sc, pair, dm, cand), level))
    if not found:
        return None
    best, best_level = max(found, key=lambda f: f[0][0])
    dx = float(_centre_of(best[1][1])[0] - _centre_of(best[1][0])[0])
    if max(b[3] - b[1] for b in best[1]) > 0.5 * dx:
        # strokes taller than an eye: eyes joined to brows or hair at a light level; a pair inside
        # them at a darker level is the eyes (they are grown back to the lash line by _grow_eye)
        inside = [(f, level) for f, level in found if level < best_level and f[0] >= best[0] - _LOWER_PAIR_MARGIN
                  and all(hi[0] <= _centre_of(lo)[0] <= hi[2] and hi[1] <= _centre_of(lo)[1] <= hi[3]
                          for lo, hi in zip(f[1], best[1], strict=True))]
        if inside:
            best, best_level = max(inside, key=lambda f: f[0][0])
            dx = float(_centre_of(best[1][1])[0] - _centre_of(best[1][0])[0])

    def under(f: _Scored, level: float) -> bool:
        return level <= best_level and f[0] >= best[0] - _LOWER_PAIR_MARGIN and all(
            0.25 * dx <= _centre_of(lo)[1] - _centre_of(hi)[1] <= 1.0 * dx
            and abs(_centre_of(lo)[0] - _centre_of(hi)[0]) <= 0.3 * dx
            and lo[2] - lo[0] >= 0.5 * (hi[2] - hi[0])
            for lo, hi in zip(f[1], best[1], strict=True))
    lower = [f for f, level in found if under(f, level)]
    return max(lower, key=lambda f: f[1][0][1] + f[1][1][1]) if lower else best


def _dots_for_bars(g: np.ndarray, win: tuple[int, int, int, int], levels: list[float], best: _Scored) -> _Scored:
    """An eye pair of flat bars replaced by the dot eyes under them (:func:`_dot_eyes`: chibi faces'
    thick brows over dot eyes), with the masks at the dots' level; else ``best`` unchanged."""
    bars = TightEyes(best[1][0], best[1][1], best[0], min(levels), sorted(levels)[1:], 0.0)
    dots = _dot_eyes(g, bars)
    if dots is bars:
        return best
    dm = _dark_mask(g, win, dots.level)
    cand = cv2.morphologyEx(_cut_hair(dm, win[1], _HAIR_BRIDGE), cv2.MORPH_OPEN, np.ones((1, 3), np.uint8))
    return best[0], (dots.left, dots.right), dm, cand


def _fit_eyes(g: np.ndarray, rgb: np.ndarray | None, nonskin: np.ndarray, win: tuple[int, int, int, int],
              levels: list[float], best: _Scored) -> dict[str, np.ndarray]:
    """Eye boxes from a chosen pair of strokes: grown to the whole lash line, the outer flick trimmed,
    reaching from the lash line's top down over the iris and lower lid, one width for both, and in
    colour art refitted to the white of the eye."""
    _, pair, dm, cand = best
    dx = _centre_of(pair[1])[0] - _centre_of(pair[0])[0]
    parts: dict[str, np.ndarray] = {}
    for name, b in zip(("left_eye", "right_eye"), pair, strict=True):
        b, cand_b, dm_b = _grow_eye(g, win, levels, b, dx, cand, dm)
        b = _trim_outer(cand_b, b, name == "left_eye", dx)
        # a stroke wider than an eye usually carries the outer lash flick: trim its outer end
        excess = min(max(0.0, (b[2] - b[0]) - _EYE_FLICK_FROM * dx), _EYE_FLICK_MAX * dx)
        b = b + (np.array([excess, 0.0, 0.0, 0.0]) if name == "left_eye" else np.array([0.0, 0.0, -excess, 0.0]))
        c, half = (b[0] + b[2]) / 2, max(b[2] - b[0], _EYE_WIDTH_IOD * dx) / 2
        top = _lash_top(dm_b, b)
        parts[name] = _eye_extent(np.array([c - half, top, c + half, b[3]]), nonskin)
    _pair_widths(parts)
    _pair_tops(parts)
    if rgb is not None:
        for name in ("left_eye", "right_eye"):
            parts[name] = _sclera_fit(rgb, parts[name], dx)
    return parts


def locate_parts(image: np.ndarray, box: np.ndarray, score: float = 0.0, tight: bool = False,
                 eyes: TightEyes | None = None) -> AnimeFaceParts:
    """Locate eyes, brows, mouth and the face outline inside a face box (method: module docstring).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` or grey ``[H, W]``.
        box: face box ``[x0, y0, x1, y1]`` in pixels (may extend past the picture).
        score: detection score to carry along.
        tight: the box is a whole picture tried as a tight crop: when no eye pair fits the dark stroke
            taken for the mouth, the pair is searched without it (the mouth is then estimated).
        eyes: an eye pair already found in the box by :func:`find_tight_eyes` (the box must be
            the whole picture it was found in); the eye search is skipped.

    Returns:
        :class:`AnimeFaceParts` in pixels of ``image``.

    Raises:
        ValueError: wrong dtype/shape or an empty box.
    """
    _ = _grey(image)  # checks dtype and shape
    box = np.asarray(box, np.float64).reshape(4)
    bw, bh = box[2] - box[0], box[3] - box[1]
    if bw < 4 or bh < 4:
        raise ValueError(f"face box too small: {box.tolist()}")
    g, rgb, sx, sy = _working_square(image, box)
    cheeks = np.concatenate([g[72:84, 24:44].ravel(), g[72:84, 84:104].ravel()])
    skin = float(np.median(cheeks))
    dark_level = max(skin - 60.0, min(skin - 25.0, 60.0))
    dist = _skin_distance(g, rgb, skin)
    nonskin = (dist > 40).astype(np.uint8)

    parts: dict[str, np.ndarray] = {}
    found: dict[str, bool] = {}
    masks: dict[str, np.ndarray] = {}
    # the mouth first: the small dark stroke nearest its prior in the lower middle of the face
    mm = _dark_mask(g, (int(0.25 * _W), int(0.52 * _W), int(0.75 * _W), int(0.94 * _W)), dark_level + 10)
    def mouth_like(b: np.ndarray) -> bool:
        return bool(4 <= b[2] - b[0] <= 0.3 * _W and b[3] - b[1] <= min(0.2 * _W, 1.8 * (b[2] - b[0]))
                    and b[0] > 0.25 * _W and b[2] < 0.75 * _W)
    mouth = _pick(_components(mm), _prior_box("mouth"), sigma=14.0, min_area=5, shape_ok=mouth_like)
    if mouth is None:
        # an open mouth joined to the chin line and hair by thin strokes: erode them away, keep blobs
        eroded = cv2.erode(mm, np.ones((3, 3), np.uint8))
        blob = _pick(_components(eroded), _prior_box("mouth"), sigma=14.0, min_area=5, shape_ok=mouth_like)
        mouth = None if blob is None else blob + np.array([-1.0, -1.0, 1.0, 1.0])
    # the eyes: the lowest symmetric pair of dark strokes above the mouth, at several dark levels
    win_eye = (4, int(0.18 * _W), _W - 4, int(0.72 * _W))
    mouth_c = None if mouth is None else _centre_of(mouth)
    levels = _eye_levels(g, win_eye, skin, dark_level)
    if eyes is not None:
        win_eye = (0, 0, _W, _W)
        levels = eyes.levels
        dm = _dark_mask(g, win_eye, eyes.level)
        best: _Scored | None = (eyes.score, (eyes.left, eyes.right), dm,
                                cv2.morphologyEx(_cut_hair(dm, 0), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)))
    else:
        best = _search_eye_pair(g, win_eye, levels, mouth_c, tight)
        if best is not None and levels:
            best = _dots_for_bars(g, win_eye, levels, best)
    if best is not None and mouth_c is not None and _eye_pair(_components(best[3]), mouth_c) is None:
        mouth = None  # the chosen eye pair does not fit the stroke taken for the mouth
    if best is None:
        for name in ("left_eye", "right_eye"):
            parts[name], found[name] = _prior_box(name), False
    else:
        parts.update(_fit_eyes(g, rgb, nonskin, win_eye, levels, best))
        for name in ("left_eye", "right_eye"):
            found[name] = True
            masks[name] = np.maximum(best[3], nonskin * 255)
    if eyes is None:
        _check_eyes(parts, found)
    ew = float(np.mean([parts[k][2] - parts[k][0] for k in ("left_eye", "right_eye")]))
    iod = float(abs(_centre_of(parts["right_eye"])[0] - _centre_of(parts["left_eye"])[0]))
    brows = _brow_pair(g, parts, iod, ew, None if mouth is None else float(_centre_of(mouth)[0]))
    for name, eye, sgn in (("left_brow", "left_eye", -1.0), ("right_brow", "right_eye", 1.0)):
        e = parts[eye]
        ec = _centre_of(e)
        pc = np.array([ec[0] + sgn * 0.03 * iod, e[1] - _BROW_ABOVE_EYE * iod])
        prior = np.array([pc[0] - 0.25 * iod, pc[1] - 0.05 * iod, pc[0] + 0.25 * iod, pc[1] + 0.05 * iod])
        brow = brows.get(name)
        if brow is None:
            parts[name], found[name] = prior, False
        else:
            parts[name], found[name] = brow[0], True
            masks[name] = brow[1]
    parts["mouth"], found["mouth"] = (_prior_box("mouth"), False) if mouth is None else (mouth, True)
    if mouth is not None:
        masks["mouth"] = mm
    _check_parts(parts, found, check_eyes=eyes is None)
    outline, outline_found = _outline(dist)
    scale = np.array([sx, sy, sx, sy])
    origin = np.array([box[0], box[1], box[0], box[1]])
    out_parts = {k: (v * scale + origin).astype(np.float32) for k, v in parts.items()}
    shapes: dict[str, np.ndarray] = {}
    for k, v in parts.items():
        s = _shape_of(masks[k], v) if found[k] and k in masks else None
        shapes[k] = s if s is not None else _ellipse_shape(v)
    shapes["outline"] = outline
    out_shapes = {k: (v * (sx, sy) + box[:2]).astype(np.float32) for k, v in shapes.items()}
    return AnimeFaceParts(box=box.astype(np.float32), score=float(score), parts=out_parts,
                          keypoints=_keypoints(out_parts), found=found, shapes=out_shapes,
                          outline_found=outline_found)


def _mirror(b: np.ndarray, axis_x: float) -> np.ndarray:
    """Box ``b`` mirrored about the vertical line ``x = axis_x``."""
    return np.array([2 * axis_x - b[2], b[1], 2 * axis_x - b[0], b[3]])


def _centre_of(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def _check_parts(parts: dict[str, np.ndarray], found: dict[str, bool], check_eyes: bool = True) -> None:
    """Replace implausible parts by estimates, in place (working-square coordinates).

    A found part is **implausible** when it breaks the face-box geometry of the procedural ground
    truth with a wide margin: an eye narrower than 6 % or wider than 42 % of the box, its centre
    outside rows 18–75 % or on the wrong half; the two eyes more than 14 % of the box apart in
    height, more than 2× apart in width, their midpoint more than 12 % of the box off its centre
    line or their distance outside 20–55 % of the box (procedural faces: 34 %) — then the one
    farther from its prior is dropped; a brow not
    above its eye or outside 0.3–2.2 eye widths; a mouth not 10 % of the box to 1.0 eye distances below the eye centres, more than 12 % of the
    box off the eyes' midline, or wider than the eye distance. An implausible or missing part is
    **estimated**: an eye by mirroring the other eye about the box's vertical centre line (else its
    prior box), a brow from the other brow's offset above its eye (else a fixed offset), the mouth
    from its prior below the eyes' midpoint. Estimated parts have ``found[name] = False``.
    """
    if check_eyes:  # (a tight crop's eye pair was checked by its own finder)
        _check_eyes(parts, found)
    _check_brows(parts, found)
    _check_mouth(parts, found)


def _check_eyes(parts: dict[str, np.ndarray], found: dict[str, bool]) -> None:
    """The eye rules of :func:`_check_parts`, in place (the eye pair search already kept the pair
    within these bounds; this also fills in missing eyes)."""
    for name, left_half in (("left_eye", True), ("right_eye", False)):
        if not found[name]:
            continue
        b = parts[name]
        w, (cx, cy) = b[2] - b[0], _centre_of(b)
        side_ok = cx < 0.56 * _W if left_half else cx > 0.44 * _W
        if not (0.06 * _W <= w <= 0.42 * _W and 0.18 * _W <= cy <= 0.75 * _W and side_ok):
            found[name] = False
            parts[name] = _prior_box(name)
    le, re = parts["left_eye"], parts["right_eye"]
    if found["left_eye"] and found["right_eye"]:
        dy = abs(_centre_of(le)[1] - _centre_of(re)[1])
        wl, wr = le[2] - le[0], re[2] - re[0]
        cl, cr = _centre_of(le)[0], _centre_of(re)[0]
        off_centre = abs((cl + cr) / 2 - _W / 2) > 0.15 * _W
        spacing_bad = not (0.2 * _W <= cr - cl <= 0.62 * _W)
        if dy > 0.14 * _W or max(wl, wr) > 2.0 * min(wl, wr) or off_centre or spacing_bad:
            err = {k: float(np.linalg.norm(_centre_of(parts[k]) - _centre_of(_prior_box(k))))
                   for k in ("left_eye", "right_eye")}
            worse = max(err, key=lambda k: err[k])
            found[worse] = False
    if found["left_eye"] != found["right_eye"]:
        good, bad = ("left_eye", "right_eye") if found["left_eye"] else ("right_eye", "left_eye")
        parts[bad] = _mirror(parts[good], _W / 2)
    elif not found["left_eye"]:
        parts["left_eye"], parts["right_eye"] = _prior_box("left_eye"), _prior_box("right_eye")


def _check_brows(parts: dict[str, np.ndarray], found: dict[str, bool]) -> None:
    """The brow rules of :func:`_check_parts` (after the eyes), in place."""
    ew = float(np.mean([parts[k][2] - parts[k][0] for k in ("left_eye", "right_eye")]))
    for side in ("left", "right"):
        name, e = f"{side}_brow", parts[f"{side}_eye"]
        if found[name]:
            b = parts[name]
            w = b[2] - b[0]
            if not (_centre_of(b)[1] < e[1] + 0.1 * ew and 0.3 * ew <= w <= 2.2 * ew):
                found[name] = False
    for side, other in (("left", "right"), ("right", "left")):
        name = f"{side}_brow"
        if found[name]:
            continue
        e = parts[f"{side}_eye"]
        if found[f"{other}_brow"]:
            ob, oe = parts[f"{other}_brow"], parts[f"{other}_eye"]
            off = _centre_of(ob) - _centre_of(oe)
            c = _centre_of(e) + np.array([-off[0], off[1]])
            half = np.array([(ob[2] - ob[0]) / 2, (ob[3] - ob[1]) / 2])
            parts[name] = np.array([c[0] - half[0], c[1] - half[1], c[0] + half[0], c[1] + half[1]])
        else:
            parts[name] = np.array([e[0], e[1] - 0.16 * _W, e[2], e[1] - 0.16 * _W + 0.065 * _W])


def _check_mouth(parts: dict[str, np.ndarray], found: dict[str, bool]) -> None:
    """The mouth rules of :func:`_check_parts` (after the eyes), in place."""
    le, re = parts["left_eye"], parts["right_eye"]
    mid_x = (_centre_of(le)[0] + _centre_of(re)[0]) / 2
    eye_dist = abs(_centre_of(re)[0] - _centre_of(le)[0])
    if found["mouth"]:
        m = parts["mouth"]
        c = _centre_of(m)
        eye_y = max(_centre_of(le)[1], _centre_of(re)[1])
        below = c[1] - eye_y
        if not (0.1 * _W < below <= 1.0 * max(eye_dist, 0.2 * _W) and abs(c[0] - mid_x) <= 0.12 * _W
                and m[2] - m[0] <= max(eye_dist, 0.2 * _W)):
            found["mouth"] = False
    if not found["mouth"]:
        pm = _prior_box("mouth")
        parts["mouth"] = pm + np.array([mid_x - _W / 2, 0, mid_x - _W / 2, 0])


def _keypoints(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    kp: dict[str, np.ndarray] = {}
    for side in ("left", "right"):
        e = parts[f"{side}_eye"]
        cy = (e[1] + e[3]) / 2
        outer_x, inner_x = (e[0], e[2]) if side == "left" else (e[2], e[0])
        kp[f"{side}_eye"] = np.array([[outer_x, cy], [inner_x, cy], [(e[0] + e[2]) / 2, e[1]], [(e[0] + e[2]) / 2, e[3]]])
        b = parts[f"{side}_brow"]
        by = (b[1] + b[3]) / 2
        outer_x, inner_x = (b[0], b[2]) if side == "left" else (b[2], b[0])
        kp[f"{side}_brow"] = np.array([[outer_x, by], [(b[0] + b[2]) / 2, by], [inner_x, by]])
    m = parts["mouth"]
    cy = (m[1] + m[3]) / 2
    kp["mouth"] = np.array([[m[0], cy], [m[2], cy], [(m[0] + m[2]) / 2, m[1]], [(m[0] + m[2]) / 2, m[3]]])
    return {k: v.astype(np.float32) for k, v in kp.items()}


def analyze_anime(image: np.ndarray, assume_crop: bool = False, min_size: int = 24) -> list[AnimeFaceParts]:
    """Detect anime faces and locate their parts.

    The cascade's faces are used unless the largest is small (under 55 % of the picture wide) or has
    no eyes found; then the whole picture is tried as a tight face crop (module docstring: its eye
    pair must read upright, and better than in the picture turned by 180°; a face the wrong way up,
    or a picture that is no face, gives no face). A cascade box that cannot hold the tight crop's eyes
    gives way to it.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA or grey ``[H, W]``.
        assume_crop: when nothing is found, take the whole picture as one face box even without a
            face-like layout (its ``score`` is 0).
        min_size: smallest face side in pixels.

    Returns:
        Faces, largest first (empty when none).

    Raises:
        ValueError: wrong dtype or shape.
    """
    g = _grey(image)
    h, w = g.shape
    faces = [locate_parts(image, b, s) for b, s in detect_anime_faces(g, min_size=min_size)]
    if h < 16 or w < 16:
        return faces
    whole = np.array([0, 0, w, h], np.float32)
    big = bool(faces) and float(faces[0].box[2] - faces[0].box[0]) >= 0.55 * w
    if faces and big and faces[0].found["left_eye"] and faces[0].found["right_eye"]:
        return faces
    crop = _tight_crop(image, whole) if 0.6 <= h / w <= 1.67 else None  # a tight face crop is about square
    if crop is not None and (not faces or not _holds_eyes(faces[0].box, crop)):
        return [crop]  # a cascade box that cannot hold the crop's eyes is a piece of the face
    if faces:
        return faces
    if assume_crop:
        return [locate_parts(image, whole, 0.0, tight=True)]
    return []


def _tight_crop(image: np.ndarray, whole: np.ndarray) -> AnimeFaceParts | None:
    """The whole picture as a tight face crop when :func:`find_tight_eyes` finds an eye pair that reads
    upright, and better than in the picture turned by 180°; else None."""
    eyes = find_tight_eyes(image)
    if eyes is None or eyes.upright <= _UPRIGHT_MARGIN:
        return None
    turned = find_tight_eyes(np.ascontiguousarray(image[::-1, ::-1]))
    if turned is not None and turned.upright >= eyes.upright - _UPRIGHT_MARGIN:
        return None
    return locate_parts(image, whole, 0.0, tight=True, eyes=eyes)


def _holds_eyes(box: np.ndarray, crop: AnimeFaceParts) -> bool:
    """True when a face box contains the centres of both eyes found in a tight crop."""
    return all(box[0] <= c[0] <= box[2] and box[1] <= c[1] <= box[3]
               for c in (_centre_of(crop.parts["left_eye"]), _centre_of(crop.parts["right_eye"])))
