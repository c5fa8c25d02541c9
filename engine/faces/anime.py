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

**Parts.** Inside a face box (resampled to a 128 × 128 working square) each part is searched in a
window around its prior position (mean position of the part in cascade boxes of procedural faces):

* eyes — the dark mask (grey below the skin level measured on the cheeks, minus a margin) is
  closed and split into connected components; the component with the largest
  ``area · exp(−d²/2σ²)`` (``d`` = distance to the prior) is the iris + upper lash line. Its box,
  extended down to an eye shape (height ≥ 0.6 × width), is the eye;
* brows — the widest elongated dark component in a band above each eye, else a fixed offset
  above the eye;
* mouth — the nearest dark component in the lower middle of the face, else the prior box.

Every found part is then checked against the face-box geometry of the procedural ground truth
(size, rows, symmetry of the eyes about the box's centre line, eye spacing, brow above eye, mouth
on the eyes' midline; see :func:`_check_parts`); a missing or implausible part is **estimated** —
mirrored from its partner or placed from the prior — and every part says whether it was ``found``
(``True``) or estimated (``False``).

Limits
------
* The cascade is frontal: profiles, strong roll (> ~20°) and faces below ~24 px are missed; tight
  crops whose forehead is cut off are often missed (27 of the 61 greyscale emotion crops in
  ``../shared/data/anime/emotions`` are found). ``analyze_anime(..., assume_crop=True)`` treats the
  whole picture as the face box in that case.
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
    """

    box: np.ndarray
    score: float
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    keypoints: dict[str, np.ndarray] = field(default_factory=dict)
    found: dict[str, bool] = field(default_factory=dict)

    @property
    def estimated(self) -> list[str]:
        """Names of the parts that were estimated rather than found, in :data:`PART_NAMES` order."""
        return [k for k in PART_NAMES if not self.found.get(k, True)]

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict (boxes and points as lists)."""
        return {"box": [round(float(v), 2) for v in self.box], "score": float(self.score),
                "parts": {k: [round(float(v), 2) for v in b] for k, b in self.parts.items()},
                "keypoints": {k: np.round(p, 2).tolist() for k, p in self.keypoints.items()},
                "found": dict(self.found)}


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


def locate_parts(image: np.ndarray, box: np.ndarray, score: float = 0.0) -> AnimeFaceParts:
    """Locate eyes, brows and mouth inside a face box (see the module docstring for the method).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` or grey ``[H, W]``.
        box: face box ``[x0, y0, x1, y1]`` in pixels (may extend past the picture).
        score: detection score to carry along.

    Returns:
        :class:`AnimeFaceParts` in pixels of ``image``.

    Raises:
        ValueError: wrong dtype/shape or an empty box.
    """
    g_full = _grey(image)
    box = np.asarray(box, np.float64).reshape(4)
    bw, bh = box[2] - box[0], box[3] - box[1]
    if bw < 4 or bh < 4:
        raise ValueError(f"face box too small: {box.tolist()}")
    # resample the box (replicating the border when it leaves the picture) to the working square
    sx, sy = bw / _W, bh / _W
    mx = (np.arange(_W, dtype=np.float32) + 0.5) * np.float32(sx) + np.float32(box[0] - 0.5)
    my = (np.arange(_W, dtype=np.float32) + 0.5) * np.float32(sy) + np.float32(box[1] - 0.5)
    src = cv2.GaussianBlur(g_full, (0, 0), max(0.5, 0.4 * sx)) if sx > 1.5 else g_full
    g = cv2.remap(src, np.broadcast_to(mx[None, :], (_W, _W)).copy(), np.broadcast_to(my[:, None], (_W, _W)).copy(),
                  cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    g = g.astype(np.float32)
    cheeks = np.concatenate([g[72:84, 24:44].ravel(), g[72:84, 84:104].ravel()])
    skin = float(np.median(cheeks))
    dark_level = min(skin - 45.0, float(np.percentile(g[40:100, 16:112], 12)) + 10.0)

    parts: dict[str, np.ndarray] = {}
    found: dict[str, bool] = {}
    for name, (wx0, wx1) in (("left_eye", (12, 66)), ("right_eye", (62, 116))):
        prior = _prior_box(name)
        comps = _components(_dark_mask(g, (wx0, 30, wx1, 82), dark_level))
        b = _pick(comps, prior, sigma=14.0, min_area=12, thin_penalty=0.5,
                  shape_ok=lambda b: 8 <= b[2] - b[0] <= 48 and b[3] - b[1] <= 40)
        if b is None:
            parts[name], found[name] = prior, False
            continue
        ew = max(b[2] - b[0], 0.14 * _W)
        cx = (b[0] + b[2]) / 2
        y0 = b[1]
        y1 = max(b[3], y0 + 0.6 * ew)
        parts[name], found[name] = np.array([cx - ew / 2, y0, cx + ew / 2, y1]), True
    for name, eye in (("left_brow", "left_eye"), ("right_brow", "right_eye")):
        e = parts[eye]
        ew = e[2] - e[0]
        win = (int(max(0, e[0] - 0.2 * ew)), int(max(0, e[1] - 0.9 * ew)),
               int(min(_W, e[2] + 0.2 * ew)), int(max(1, e[1] - 2)))
        comps = _components(_dark_mask(g, win, dark_level + 15))
        prior = np.array([e[0], e[1] - 0.16 * _W, e[2], e[1] - 0.16 * _W + 0.065 * _W])
        b = _pick(comps, prior, sigma=12.0, min_area=6,
                  shape_ok=lambda b, ew=ew: (b[2] - b[0]) >= 2.0 * (b[3] - b[1]) and (b[2] - b[0]) >= 0.35 * ew)
        if b is None:
            parts[name], found[name] = prior, False
        else:
            parts[name], found[name] = b, True
    eye_bottom = max(parts["left_eye"][3], parts["right_eye"][3])
    eye_cx = (parts["left_eye"][0] + parts["left_eye"][2] + parts["right_eye"][0] + parts["right_eye"][2]) / 4
    prior = _prior_box("mouth")
    prior = prior + np.array([eye_cx - _W / 2, 0, eye_cx - _W / 2, 0])
    win = (int(eye_cx - 0.2 * _W), int(min(_W - 2, eye_bottom + 0.1 * _W)), int(eye_cx + 0.2 * _W), int(0.88 * _W))
    comps = _components(_dark_mask(g, win, dark_level + 25))
    b = _pick(comps, prior, sigma=12.0, min_area=5, shape_ok=lambda b: 4 <= b[2] - b[0] <= 0.3 * _W and b[3] - b[1] <= 0.2 * _W)
    parts["mouth"], found["mouth"] = (prior, False) if b is None else (b, True)

    _check_parts(parts, found)
    scale = np.array([sx, sy, sx, sy])
    origin = np.array([box[0], box[1], box[0], box[1]])
    out_parts = {k: (v * scale + origin).astype(np.float32) for k, v in parts.items()}
    return AnimeFaceParts(box=box.astype(np.float32), score=float(score), parts=out_parts,
                          keypoints=_keypoints(out_parts), found=found)


def _mirror(b: np.ndarray, axis_x: float) -> np.ndarray:
    """Box ``b`` mirrored about the vertical line ``x = axis_x``."""
    return np.array([2 * axis_x - b[2], b[1], 2 * axis_x - b[0], b[3]])


def _centre_of(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def _check_parts(parts: dict[str, np.ndarray], found: dict[str, bool]) -> None:
    """Replace implausible parts by estimates, in place (working-square coordinates).

    A found part is **implausible** when it breaks the face-box geometry of the procedural ground
    truth with a wide margin: an eye narrower than 6 % or wider than 42 % of the box, its centre
    outside rows 18–75 % or on the wrong half; the two eyes more than 14 % of the box apart in
    height, more than 2× apart in width, their midpoint more than 12 % of the box off its centre
    line or their distance outside 20–55 % of the box (procedural faces: 34 %) — then the one
    farther from its prior is dropped; a brow not
    above its eye or outside 0.3–2.2 eye widths; a mouth not below the eyes, more than 12 % of the
    box off the eyes' midline, or wider than the eye distance. An implausible or missing part is
    **estimated**: an eye by mirroring the other eye about the box's vertical centre line (else its
    prior box), a brow from the other brow's offset above its eye (else a fixed offset), the mouth
    from its prior below the eyes' midpoint. Estimated parts have ``found[name] = False``.
    """
    _check_eyes(parts, found)
    _check_brows(parts, found)
    _check_mouth(parts, found)


def _check_eyes(parts: dict[str, np.ndarray], found: dict[str, bool]) -> None:
    """The eye rules of :func:`_check_parts`, in place."""
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
        off_centre = abs((cl + cr) / 2 - _W / 2) > 0.12 * _W
        spacing_bad = not (0.2 * _W <= cr - cl <= 0.55 * _W)
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
        if not (c[1] > max(le[3], re[3]) and abs(c[0] - mid_x) <= 0.12 * _W and m[2] - m[0] <= max(eye_dist, 0.2 * _W)):
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

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA or grey ``[H, W]``.
        assume_crop: when the cascade finds nothing, treat the whole picture as one face box
            (for tight face crops); its ``score`` is 0.
        min_size: smallest face side in pixels.

    Returns:
        Faces, largest first (empty when none and ``assume_crop`` is False).

    Raises:
        ValueError: wrong dtype or shape.
    """
    g = _grey(image)
    faces = detect_anime_faces(g, min_size=min_size)
    if not faces and assume_crop:
        h, w = g.shape
        faces = [(np.array([0, 0, w, h], np.float32), 0.0)]
    return [locate_parts(g, b, s) for b, s in faces]
