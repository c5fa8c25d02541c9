"""Seeded, vector-style anime heads with expression parameters and ground-truth part geometry.

``generate_anime_face(seed, size, expression)`` draws a front-facing anime head: face shape,
back hair and bangs in one of several styles and colours, big eyes (sclera, iris with a darker
top, pupil, two highlights, thick upper lash line), brows, a nose hint, a mouth, blush, neck and
collar. Everything is drawn as filled polygons at 4× resolution and area-downsampled, so edges are
smooth at any size.

The four expression intensities (``angry``, ``sad``, ``smile``, ``surprised``, each 0–1, freely
mixed) change the brows (height, tilt), the eyes (openness, lid slant, iris size, smiling lower
lid) and the mouth (corner height, width, opening). With the same seed and a different expression
only those parts change: identity (hair, colours, face shape) is fixed by the seed.

The returned :class:`AnimeFace` carries the part boxes and key points of the drawn face in image
pixels: ground truth for the detector/part locator tests and labelled training data for the
expression models.

Example:
    >>> face = generate_anime_face(3, 128, AnimeExpression(smile=1.0))
    >>> face.image.shape, sorted(face.boxes)[:3]
    ((128, 128, 3), ['face', 'left_brow', 'left_eye'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike

from engine.labels import EXPRESSION_LABELS

HAIR_STYLES: tuple[str, ...] = ("long", "bob", "twintails", "ponytail", "short")
"""Hair styles the generator draws."""

PART_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "left_brow", "right_brow", "mouth")
"""Parts with boxes/key points; ``left``/``right`` are as seen in the image."""

_HAIR_COLOURS: tuple[tuple[int, int, int], ...] = (
    (40, 36, 52), (92, 58, 40), (232, 200, 120), (240, 150, 180), (200, 204, 222),
    (186, 60, 56), (130, 96, 190), (70, 150, 150), (236, 140, 60), (70, 100, 190),
)
_EYE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (60, 110, 210), (50, 150, 90), (190, 50, 60), (140, 70, 190), (130, 80, 40), (210, 150, 40),
    (40, 160, 190),
)
_SKIN: tuple[tuple[int, int, int], ...] = ((255, 232, 216), (252, 224, 204), (255, 238, 226), (244, 214, 190))
_CLOTH: tuple[tuple[int, int, int], ...] = (
    (40, 50, 90), (230, 230, 236), (150, 40, 50), (50, 90, 60), (90, 70, 120), (30, 30, 34),
)
_SS = 4  # supersampling factor


@dataclass(frozen=True)
class AnimeExpression:
    """Expression intensities, each in [0, 1]; they mix (e.g. smile 0.6 + surprised 0.4).

    Args:
        angry: brows lowered and tilted inward, upper lids slanted inward, mouth corners down.
        sad: inner brows raised, outer lids drooping, mouth corners down.
        smile: mouth corners up (opens at high values), eyes narrowed by a rising lower lid.
        surprised: brows raised, eyes wide open with small irises, mouth opened round.
    """

    angry: float = 0.0
    sad: float = 0.0
    smile: float = 0.0
    surprised: float = 0.0

    def validate(self) -> AnimeExpression:
        """Raise ``ValueError`` when an intensity is not a finite number in [0, 1]."""
        for name in EXPRESSION_LABELS:
            v = getattr(self, name)
            if not (np.isfinite(v) and 0.0 <= v <= 1.0):
                raise ValueError(f"expression intensity {name} must be in [0, 1], got {v}")
        return self

    def vector(self) -> np.ndarray:
        """Intensities as ``float32`` ``[4]`` in :data:`EXPRESSION_LABELS` order."""
        return np.array([getattr(self, n) for n in EXPRESSION_LABELS], np.float32)

    def scaled(self, factor: float) -> AnimeExpression:
        """Every intensity multiplied by ``factor`` and clipped to [0, 1]."""
        return AnimeExpression(**{n: float(np.clip(getattr(self, n) * factor, 0.0, 1.0)) for n in EXPRESSION_LABELS})

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any] | None) -> AnimeExpression:
        """Build from a mapping of label → intensity, rejecting unknown labels."""
        d = dict(d or {})
        unknown = set(d) - set(EXPRESSION_LABELS)
        if unknown:
            raise ValueError(f"unknown expression label(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(EXPRESSION_LABELS)}")
        return cls(**{k: float(v) for k, v in d.items()}).validate()


@dataclass
class AnimeFace:
    """One generated face.

    Args:
        image: ``uint8`` RGB ``[size, size, 3]``.
        boxes: part name → ``[x0, y0, x1, y1]`` in pixels (``face`` plus :data:`PART_NAMES`).
        keypoints: part name → ``float32`` ``[K, 2]`` (x, y) points: eyes (outer corner, inner
            corner, top, bottom), brows (outer, middle, inner), mouth (left corner, right corner,
            top, bottom).
        seed: the seed that fixed the identity.
        expression: the expression drawn.
        style: identity facts (hair style and colour, eye colour ...), JSON-serialisable.
    """

    image: np.ndarray
    boxes: dict[str, np.ndarray]
    keypoints: dict[str, np.ndarray]
    seed: int
    expression: AnimeExpression
    style: dict[str, Any] = field(default_factory=dict)


# -- drawing helpers (coordinates in supersampled pixels) -----------------------------------------

class _Canvas:
    """RGB float canvas with polygon fills composited inside the polygon's bounding box."""

    def __init__(self, n: int, bg_top: np.ndarray, bg_bottom: np.ndarray) -> None:
        t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None, None]
        self.img = np.ascontiguousarray(np.broadcast_to(bg_top * (1 - t) + bg_bottom * t, (n, n, 3)))
        self.n = n

    def mask(self, polys: Sequence[np.ndarray]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        pts = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in polys])
        x0 = int(max(0, np.floor(pts[:, 0].min()) - 2))
        y0 = int(max(0, np.floor(pts[:, 1].min()) - 2))
        x1 = int(min(self.n, np.ceil(pts[:, 0].max()) + 3))
        y1 = int(min(self.n, np.ceil(pts[:, 1].max()) + 3))
        if x1 <= x0 or y1 <= y0:
            return np.zeros((0, 0), np.uint8), (0, 0, 0, 0)
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        shifted = [np.round((np.asarray(p, np.float64).reshape(-1, 2) - (x0, y0)) * 4).astype(np.int32) for p in polys]
        cv2.fillPoly(m, shifted, 255, lineType=cv2.LINE_8, shift=2)
        return m, (x0, y0, x1, y1)

    def fill(self, polys: np.ndarray | Sequence[np.ndarray], colour: ArrayLike,
             clip: np.ndarray | None = None, alpha: float = 1.0) -> np.ndarray:
        """Fill polygon(s) (even-odd union) with ``colour``; ``clip`` is a full-canvas mask.

        Returns the full-canvas ``uint8`` mask that was painted (for later clipping).
        """
        if isinstance(polys, np.ndarray):
            polys = [polys]
        m, (x0, y0, x1, y1) = self.mask(polys)
        full = np.zeros((self.n, self.n), np.uint8)
        if m.size == 0:
            return full
        if clip is not None:
            m = np.minimum(m, clip[y0:y1, x0:x1])
        full[y0:y1, x0:x1] = m
        a = (m.astype(np.float32) * np.float32(alpha / 255.0))[:, :, None]
        roi = self.img[y0:y1, x0:x1]
        roi += (np.asarray(colour, np.float32) - roi) * a
        return full

    def stroke(self, pts: np.ndarray, width: float | np.ndarray, colour: ArrayLike,
               clip: np.ndarray | None = None) -> np.ndarray:
        """A tapered stroke along an open polyline (``width`` per point or constant)."""
        return self.fill(_ribbon(pts, width), colour, clip)


def _bezier(p0: ArrayLike, p1: ArrayLike, p2: ArrayLike, n: int = 24) -> np.ndarray:
    """Quadratic Bézier from p0 to p2 with control p1, ``n`` points ``[n, 2]``."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _ribbon(pts: np.ndarray, width: float | np.ndarray) -> np.ndarray:
    """Closed polygon around an open polyline, half of ``width`` on each side."""
    pts = np.asarray(pts, np.float64)
    w = np.broadcast_to(np.asarray(width, np.float64), (len(pts),)) / 2.0
    d = np.gradient(pts, axis=0)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    nrm = np.stack([-d[:, 1], d[:, 0]], 1)
    return np.concatenate([pts + nrm * w[:, None], (pts - nrm * w[:, None])[::-1]])


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], 1)


def _shade(colour: ArrayLike, f: float) -> np.ndarray:
    """Darker (f < 1) or lighter (f > 1, towards white) version of a colour."""
    c = np.asarray(colour, np.float32)
    return c * f if f <= 1 else c + (255 - c) * (f - 1)


# -- the face ------------------------------------------------------------------------------------

MAX_FACE_SIZE: int = 4096
"""Largest side :func:`generate_anime_face` draws (the lianpu generator's limit too): a typo such as
``--size 100000`` is refused instead of allocating tens of GiB."""


def _as_expression(expression: AnimeExpression | Mapping[str, float] | None) -> AnimeExpression:
    """A validated :class:`AnimeExpression` (``None`` = neutral, a mapping label → intensity)."""
    if expression is None:
        return AnimeExpression()
    if isinstance(expression, AnimeExpression):
        return expression.validate()
    return AnimeExpression.from_mapping(expression)


def _back_hair(style: str, cx: float, fy: float, top_y: float) -> np.ndarray:
    """Outline of the hair behind the head, in design units, for one of :data:`HAIR_STYLES`."""
    if style == "long":
        return np.concatenate([_bezier((cx - 78, fy + 130), (cx - 92, top_y - 10), (cx, top_y - 8)),
                               _bezier((cx, top_y - 8), (cx + 92, top_y - 10), (cx + 78, fy + 130))])
    if style == "bob":
        return np.concatenate([_bezier((cx - 76, fy + 70), (cx - 92, top_y - 10), (cx, top_y - 8)),
                               _bezier((cx, top_y - 8), (cx + 92, top_y - 10), (cx + 76, fy + 70))])
    return _ellipse(cx, fy - 24, 80, 96)


def generate_anime_face(seed: int, size: int = 256,
                        expression: AnimeExpression | Mapping[str, float] | None = None,
                        hair_style: str | None = None) -> AnimeFace:
    """Draw one anime head.

    Args:
        seed: identity seed (hair style and colour, eye colour, face shape, proportions, colours).
        size: output side in pixels (≥ 16); the drawing is resolution independent.
        expression: :class:`AnimeExpression` or a mapping label → intensity; ``None`` = neutral.
        hair_style: force one of :data:`HAIR_STYLES` instead of the seeded choice.

    Returns:
        :class:`AnimeFace` with the image and the part geometry in pixels of ``size``.

    Raises:
        ValueError: ``size`` outside [16, :data:`MAX_FACE_SIZE`], unknown hair style or expression label, intensity outside [0, 1].
    """
    if not 16 <= int(size) <= MAX_FACE_SIZE:
        raise ValueError(f"size must be in [16, {MAX_FACE_SIZE}] pixels, got {size}")
    size = int(size)
    ex = _as_expression(expression)
    rng = np.random.default_rng(int(seed))
    style = hair_style if hair_style is not None else HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))]
    if style not in HAIR_STYLES:
        raise ValueError(f"unknown hair style {style!r}; known: {', '.join(HAIR_STYLES)}")
    hair = np.asarray(_HAIR_COLOURS[int(rng.integers(len(_HAIR_COLOURS)))], np.float32)
    hair = np.clip(hair * rng.uniform(0.9, 1.08, 3), 0, 255)
    iris = np.asarray(_EYE_COLOURS[int(rng.integers(len(_EYE_COLOURS)))], np.float32)
    skin = np.asarray(_SKIN[int(rng.integers(len(_SKIN)))], np.float32)
    cloth = np.asarray(_CLOTH[int(rng.integers(len(_CLOTH)))], np.float32)
    hue = rng.uniform(0, 1, 3).astype(np.float32)
    bg_top = 200 + 50 * hue
    bg_bottom = 170 + 60 * hue[::-1]

    # Proportions in design units (a 256-unit canvas).
    scale = rng.uniform(1.1, 1.22)
    cx = 128 + rng.uniform(-5, 5)
    fy = 124 + rng.uniform(-4, 4)             # cheek line
    half_w = 60 * rng.uniform(0.94, 1.06)      # face half width at the cheeks
    chin_y = fy + 80 * rng.uniform(0.94, 1.06)
    eye_dx = 29 * rng.uniform(0.94, 1.06)
    eye_y = fy + 16 * rng.uniform(0.85, 1.15)
    eye_w = 17 * rng.uniform(0.9, 1.1)         # half width
    eye_h = 15 * rng.uniform(0.9, 1.12)        # upper-lid height above the eye line
    mouth_y = eye_y + (chin_y - eye_y) * rng.uniform(0.58, 0.66)
    blush_base = rng.uniform(0.0, 0.5)
    lash_w = rng.uniform(3.2, 4.4)
    n_bangs = int(rng.integers(5, 8))
    bang_jitter = rng.uniform(-6, 6, 12)

    n = size * _SS
    k = n / 256.0 * scale
    off = np.array([(1 - scale) * 128, (1 - scale) * 120]) * n / 256.0

    def P(*xy: Any) -> np.ndarray:
        """Design units → supersampled pixels (accepts (x, y) pairs or an [N, 2] array)."""
        a = np.asarray(xy[0] if len(xy) == 1 else xy, np.float64)
        return a * k + off

    cv = _Canvas(n, bg_top.astype(np.float32), bg_bottom.astype(np.float32))
    hair_dark = _shade(hair, 0.6)
    hair_line = _shade(hair, 0.42)
    line = np.array([70, 40, 40], np.float32)

    # back hair
    top_y = fy - 92
    back = _back_hair(style, cx, fy, top_y)
    if style == "twintails":
        for sgn in (-1, 1):
            tail = np.concatenate([_bezier((cx + sgn * 60, fy - 70), (cx + sgn * 120, fy - 40), (cx + sgn * 100, fy + 120)),
                                   _bezier((cx + sgn * 100, fy + 120), (cx + sgn * 80, fy + 10), (cx + sgn * 55, fy - 50))])
            cv.fill(P(tail), hair_dark)
            cv.fill(P(_ribbon(tail[:20], 3)), hair_line, alpha=0.6)
    if style == "ponytail":
        tail = np.concatenate([_bezier((cx + 40, top_y + 5), (cx + 130, top_y + 20), (cx + 110, fy + 110)),
                               _bezier((cx + 110, fy + 110), (cx + 95, fy + 20), (cx + 50, top_y + 30))])
        cv.fill(P(tail), hair_dark)
    cv.fill(P(back), hair_dark)

    # neck, shoulders, collar
    neck = np.array([(cx - 17, chin_y - 30), (cx + 17, chin_y - 30), (cx + 19, 262), (cx - 19, 262)])
    cv.fill(P(neck), _shade(skin, 0.9))
    cv.fill(P(_bezier((cx - 17, chin_y - 8), (cx, chin_y + 10), (cx + 17, chin_y - 8))), _shade(skin, 0.78))
    body = np.concatenate([_bezier((cx - 110, 262), (cx - 95, chin_y + 22), (cx - 22, chin_y + 20)),
                           np.array([(cx, chin_y + 40)]),
                           _bezier((cx + 22, chin_y + 20), (cx + 95, chin_y + 22), (cx + 110, 262))])
    cv.fill(P(body), cloth)
    cv.fill(P(_ribbon(body[:-1], 2.0)), _shade(cloth, 0.6))
    collar = np.array([(cx - 22, chin_y + 20), (cx, chin_y + 40), (cx + 22, chin_y + 20), (cx + 30, chin_y + 30),
                       (cx, chin_y + 52), (cx - 30, chin_y + 30)])
    cv.fill(P(collar), _shade(cloth, 1.5))

    # face
    face = np.concatenate([
        _bezier((cx - half_w, fy), (cx - half_w, fy - 95), (cx, fy - 95)),
        _bezier((cx, fy - 95), (cx + half_w, fy - 95), (cx + half_w, fy))[1:],
        _bezier((cx + half_w, fy), (cx + half_w * 0.98, fy + 50), (cx + half_w * 0.45, chin_y - 14))[1:],
        _bezier((cx + half_w * 0.45, chin_y - 14), (cx, chin_y + 2), (cx - half_w * 0.45, chin_y - 14))[1:],
        _bezier((cx - half_w * 0.45, chin_y - 14), (cx - half_w * 0.98, fy + 50), (cx - half_w, fy))[1:-1],
    ])
    cv.fill(P(_ribbon(np.concatenate([face, face[:1]]), 2.2)), line)
    face_mask = cv.fill(P(face), skin)
    # ears hinted by the side hair; soft shadow under the bangs
    cv.fill(P(_ellipse(cx, fy - 52, half_w * 0.95, 26)), _shade(skin, 0.93), clip=face_mask)

    a, s, m, u = (float(v) for v in (ex.angry, ex.sad, ex.smile, ex.surprised))
    boxes: dict[str, np.ndarray] = {}
    kps: dict[str, np.ndarray] = {}

    # blush
    blush = min(1.0, blush_base + 0.35 * m + 0.2 * s)
    if blush > 0.02:
        for sgn in (-1, 1):
            cv.fill(P(_ellipse(cx + sgn * (eye_dx + 4), eye_y + 20, 13, 5)), (250, 150, 160),
                    clip=face_mask, alpha=0.55 * blush)

    # eyes
    openness = float(np.clip(1 - 0.72 * m + 0.38 * u - 0.22 * a - 0.12 * s, 0.14, 1.45))
    iris_scale = 1 - 0.32 * u
    for name, sgn in (("left_eye", -1), ("right_eye", 1)):
        ex_c = cx + sgn * eye_dx
        outer = np.array([ex_c + sgn * eye_w, eye_y + 1.0])
        inner = np.array([ex_c - sgn * eye_w * 0.92, eye_y + 2.0])
        top = eye_h * openness
        # lid slant: angry lowers the inner end, sad the outer end
        drop_inner, drop_outer = 6.0 * a, 5.0 * s
        up_ctrl = np.array([ex_c + sgn * 3, eye_y - 1.9 * top])
        lid = _bezier(outer, up_ctrl, inner, 32)
        t = np.linspace(0, 1, 32)[:, None]
        lid = lid + np.concatenate([np.zeros((32, 1)), (1 - t) * drop_outer * (top / eye_h) + t * drop_inner * (top / eye_h)], 1)
        lid[:, 1] = np.minimum(lid[:, 1], eye_y + 1.5)
        bottom_y = eye_y + 12 * (1 - 0.7 * m) + 2 * u
        low_ctrl_y = bottom_y + 6 * (1 - m) - 10 * m
        low = _bezier(inner, (ex_c, low_ctrl_y), outer, 32)
        low[:, 1] = np.maximum(low[:, 1], lid[::-1, 1] + 0.8)
        sclera = np.concatenate([lid, low[1:-1]])
        white = cv.fill(P(sclera), (255, 255, 255))
        ix, iy = ex_c - sgn * 1.0, eye_y - 3 + 2 * m
        rx, ry = 10.5 * iris_scale * eye_w / 17, 13.5 * iris_scale * eye_h / 15
        cv.fill(P(_ellipse(ix, iy, rx, ry)), _shade(iris, 0.55), clip=white)
        cv.fill(P(_ellipse(ix, iy + ry * 0.25, rx * 0.82, ry * 0.72)), iris, clip=white)
        cv.fill(P(_ellipse(ix, iy + ry * 0.5, rx * 0.55, ry * 0.35)), _shade(iris, 1.35), clip=white)
        cv.fill(P(_ellipse(ix, iy, rx * 0.42, ry * 0.45)), _shade(iris, 0.25), clip=white)
        cv.fill(P(_ellipse(ix - 3.5, iy - ry * 0.42, 3.4 * iris_scale + 0.8, 4.2 * iris_scale + 0.8)), (255, 255, 255), clip=white)
        cv.fill(P(_ellipse(ix + 3.5, iy + ry * 0.38, 1.6, 1.6)), (255, 255, 255), clip=white, alpha=0.9)
        cv.fill(P(_bezier(lid[0], lid[16], lid[-1], 16)), _shade(iris, 0.3), clip=white, alpha=0.25)
        # lashes: thick upper line with an outer flick, thin lower line
        wline = lash_w * (0.7 + 0.6 * np.linspace(1, 0, 32) ** 1.5)
        cv.stroke(P(lid), wline * k, (38, 26, 34))
        flick = np.array([outer, outer + (sgn * 5, -4.5)])
        cv.stroke(P(flick), np.array([lash_w, 0.8]) * k, (38, 26, 34))
        mid = len(low) // 2
        cv.stroke(P(low[mid - 8:mid + 12] if sgn > 0 else low[mid - 12:mid + 8]), 1.3 * k, (90, 60, 60))
        allp = np.concatenate([lid, low])
        boxes[name] = np.array([allp[:, 0].min(), lid[:, 1].min() - lash_w / 2, allp[:, 0].max(), low[:, 1].max()])
        kps[name] = np.array([outer, inner, lid[int(np.argmin(lid[:, 1]))], low[mid]])

    # nose
    cv.stroke(P(np.array([(cx + 1, eye_y + 15), (cx + 2.5, eye_y + 19), (cx, eye_y + 20)])), 1.4 * k, _shade(skin, 0.62))

    # mouth
    mw = 11 + 6 * m - 3 * u + 2 * a
    corner_dy = -6 * m + 5 * s + 2.5 * a
    opening = 14 * u + 9 * max(0.0, m - 0.35) / 0.65
    left = np.array([cx - mw, mouth_y + corner_dy])
    right = np.array([cx + mw, mouth_y + corner_dy])
    mouth_line = np.array([70, 30, 36], np.float32)
    if opening > 1.5:
        upper = _bezier(left, (cx, mouth_y - 1.5 - 2 * u + corner_dy * 0.2), right, 24)
        lower = _bezier(right, (cx, mouth_y + opening * 1.6 + corner_dy * 0.3), left, 24)
        shape = np.concatenate([upper, lower[1:-1]])
        inside = cv.fill(P(shape), (150, 40, 52))
        cv.fill(P(_ellipse(cx, mouth_y + opening * 0.95 + corner_dy * 0.3, mw * 0.55, opening * 0.45)),
                (236, 120, 130), clip=inside)
        cv.stroke(P(np.concatenate([shape, shape[:1]])), 1.4 * k, mouth_line)
        pts = np.concatenate([upper, lower])
        kps["mouth"] = np.array([left, right, upper[12], lower[12]])
    else:
        curve = _bezier(left, (cx, mouth_y - corner_dy * 1.2 + 2.0 * a - 0.5), right, 24)
        cv.stroke(P(curve), np.concatenate([np.linspace(1.0, 2.2, 12), np.linspace(2.2, 1.0, 12)]) * k, mouth_line)
        pts = curve
        kps["mouth"] = np.array([left, right, curve[12] - (0, 1), curve[12] + (0, 1)])
    boxes["mouth"] = np.array([pts[:, 0].min() - 1, pts[:, 1].min() - 1.5, pts[:, 0].max() + 1, pts[:, 1].max() + 1.5])

    # front hair: side locks, cap, bangs (pointed locks with gaps down to the eyes)
    side_len = {"long": 100, "bob": 66, "twintails": 76, "ponytail": 60, "short": 44}[style]
    for sgn in (-1, 1):
        x_o = cx + sgn * (half_w + 6)
        tip = (x_o - sgn * 6, fy + side_len - 22)
        lock = np.concatenate([_bezier((x_o + sgn * 2, fy - 70), (x_o + sgn * 6, fy + side_len * 0.4), tip),
                               _bezier(tip, (x_o - sgn * 12, fy + 10), (x_o - sgn * 20, fy - 60))[1:]])
        cv.fill(P(_ribbon(np.concatenate([lock, lock[:1]]), 1.8)), hair_line)
        cv.fill(P(lock), hair)
    hairline = eye_y - eye_h - 20
    xs = np.linspace(cx - half_w - 4, cx + half_w + 4, n_bangs + 1)
    bangs = [(cx - half_w - 14, fy - 20)]
    for i in range(n_bangs):
        x_a, x_b = xs[i], xs[i + 1]
        edge = i in (0, n_bangs - 1)
        tip_x = (x_a + x_b) / 2 + bang_jitter[i] * 0.8 + (-6 if i < n_bangs / 2 else 6)
        tip_y = eye_y - eye_h * 0.9 + bang_jitter[(i + 3) % 12] * 0.6 + (14 if edge else 0)
        gap_y = hairline - 10 + bang_jitter[(i + 5) % 12] * 0.8
        bangs.extend(_bezier((x_a, gap_y), (x_a + (tip_x - x_a) * 0.2, tip_y - 10), (tip_x, tip_y), 12).tolist())
        bangs.extend(_bezier((tip_x, tip_y), (x_b - (x_b - tip_x) * 0.3, tip_y - 16), (x_b, gap_y), 12)[1:].tolist())
    bangs.append((cx + half_w + 14, fy - 20))
    cap = np.concatenate([_bezier((cx + half_w + 14, fy - 20), (cx + half_w + 20, fy - 114), (cx, fy - 114), 30),
                          _bezier((cx, fy - 114), (cx - half_w - 20, fy - 114), (cx - half_w - 14, fy - 20), 30)[1:-1]])
    front = np.concatenate([np.asarray(bangs), cap[1:]])
    cv.fill(P(_ribbon(np.concatenate([front, front[:1]]), 2.0)), hair_line)
    cv.fill(P(front), hair)
    # strands: thin dark lines from the crown into each lock
    for i in range(1, n_bangs):
        x_g = xs[i]
        cv.stroke(P(_bezier((cx + (x_g - cx) * 0.3, hairline - 50), (x_g, hairline - 30), (x_g, hairline - 12), 12)),
                  np.linspace(0.4, 1.4, 12) * k, hair_line)
    # angel-ring highlight
    ring = _bezier((cx - half_w * 0.8, hairline - 40), (cx, hairline - 58), (cx + half_w * 0.8, hairline - 40), 30)
    cv.stroke(P(ring), np.concatenate([np.linspace(1, 5, 15), np.linspace(5, 1, 15)]) * k, _shade(hair, 1.35))

    # brows (drawn over the bangs, as anime art does)
    for name, sgn in (("left_brow", -1), ("right_brow", 1)):
        ex_c = cx + sgn * eye_dx
        by = eye_y - eye_h - 10
        inner = np.array([ex_c - sgn * 13, by + 9 * a - 9 * s - 9 * u - 2 * m])
        outer = np.array([ex_c + sgn * 16, by + 2 - 2 * a + 3 * s - 8 * u - 2 * m])
        mid_pt = (inner + outer) / 2 + (0, -4 - 3 * u + 1.5 * a)
        brow = _bezier(outer, mid_pt * 2 - (inner + outer) / 2, inner, 24)
        cv.stroke(P(brow), np.linspace(1.3, 3.0, 24) * k, hair_line)
        boxes[name] = np.array([brow[:, 0].min(), brow[:, 1].min() - 1.5, brow[:, 0].max(), brow[:, 1].max() + 1.5])
        kps[name] = np.array([outer, brow[12], inner])


    img = cv2.resize(np.clip(cv.img, 0, 255), (size, size), interpolation=cv2.INTER_AREA)
    img = (img + 0.5).astype(np.uint8)
    px = k / _SS
    offp = off / _SS
    out_boxes = {kname: (np.asarray(b, np.float64).reshape(2, 2) * px + offp).reshape(4).astype(np.float32)
                 for kname, b in boxes.items()}
    fpts = face * px + offp
    out_boxes["face"] = np.array([fpts[:, 0].min(), fpts[:, 1].min(), fpts[:, 0].max(), fpts[:, 1].max()], np.float32)
    out_kps = {kname: (np.asarray(v, np.float64) * px + offp).astype(np.float32) for kname, v in kps.items()}
    info = {"hair_style": style, "hair_colour": [int(c) for c in hair], "eye_colour": [int(c) for c in iris],
            "skin": [int(c) for c in skin]}
    return AnimeFace(image=img, boxes=out_boxes, keypoints=out_kps, seed=int(seed), expression=ex, style=info)


def anime_face_sheet(seeds: Sequence[int], size: int = 128,
                     expressions: Sequence[AnimeExpression | Mapping[str, float] | None] = (None,)) -> np.ndarray:
    """A grid of faces: one row per seed, one column per expression.

    Args:
        seeds: identity seeds (rows).
        size: side of each tile in pixels.
        expressions: expressions (columns).

    Returns:
        ``uint8`` RGB ``[len(seeds)·size, len(expressions)·size, 3]``.
    """
    rows = [np.hstack([generate_anime_face(sd, size, e).image for e in expressions]) for sd in seeds]
    return np.vstack(rows)


def _main() -> None:  # pragma: no cover - manual look at a sheet
    import argparse

    from engine.imageio import save_image

    ap = argparse.ArgumentParser(description="Write a sheet of procedural anime faces.")
    ap.add_argument("--out", default="/tmp/anime_sheet.png")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--seeds", type=int, default=6)
    args = ap.parse_args()
    exprs = [None] + [{lab: 1.0} for lab in EXPRESSION_LABELS] + [{"smile": 0.5, "surprised": 0.5}]
    save_image(args.out, anime_face_sheet(range(args.seeds), args.size, exprs))


if __name__ == "__main__":  # pragma: no cover
    _main()
