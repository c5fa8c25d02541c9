"""Expression studio, classical engine: parts redrawn where a warp cannot make the shape.

* **Eyelids** (:func:`redraw_eyelids`): an eye closes by drawing its lids over it — the skin above the
  moving upper lid and below the rising lower lid is painted with the skin around the eye continued
  over it (:func:`skin_field`: its tone and shading, not one flat colour), and a new lash line is
  drawn along the upper lid. A blink closes onto a line curved down
  (a relaxed closed eye), a smile onto an arc curved up (the happy "^" eye); angry / sad slant the lid.
* **Mouth** (:func:`redraw_mouth`): the old mouth is painted over with the skin colour around it and a
  new one drawn from a :class:`MouthShape`: a closed mouth is a curve (smile: corners up, an upturned
  curve; frown: corners down), an open mouth an outlined oval / "D" whose inside is filled the way
  anime mouths are drawn (dark interior, lighter tongue; ``eee`` shows a strip of upper teeth).

Everything is drawn on a 4× supersampled patch and area-downsampled (smooth, sharp edges: no
resampling blur); line colour and thickness are measured from the picture's own strokes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_SS = 4  # supersampling of the drawn patches
_LID_MAX_WIDTH = 0.2
"""Widest lid line, as a fraction of the eye box height (a measured line that wide is a box gone wrong)."""
_LID_TAPER = 0.3
"""A redrawn lid line's width at the eye corners, as a fraction of its width in the middle."""
_MOUTH_MAX_WIDTH = 0.35
"""Widest redrawn mouth line, as a fraction of the mouth's half width."""
_SHADE_LINE = 0.45
"""Where no line art stands out near a part, its redrawn line is the skin colour times this."""
_SKIN_TINT_MIN = 8.0
"""Pixels whose tint (colour minus grey) is farther than this, or than half the skin's own tint, from
the skin's tint are no skin for :func:`skin_field`."""


def _patch(box: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int]:
    h, w = shape
    x0 = int(max(0, np.floor(box[0] - pad)))
    y0 = int(max(0, np.floor(box[1] - pad)))
    x1 = int(min(w, np.ceil(box[2] + pad)))
    y1 = int(min(h, np.ceil(box[3] + pad)))
    return x0, y0, x1, y1


def skin_colour(image: np.ndarray, box: np.ndarray, below: bool = True) -> np.ndarray:
    """Skin colour next to a part: the median of the brighter half of a band under (or around) its box.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        box: the part's ``[x0, y0, x1, y1]``.
        below: sample a band under the box (eyes); else a ring around it (mouth).

    Returns:
        ``float32`` ``[3]``.
    """
    h, w = image.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    if below:
        band = _patch(np.array([box[0], box[3] + 0.15 * bh, box[2], box[3] + 0.15 * bh + max(3.0, 0.35 * bh)]),
                      (h, w), 0)
        px = image[band[1]:band[3], band[0]:band[2]].reshape(-1, 3)
    else:
        x0, y0, x1, y1 = _patch(box, (h, w), max(3.0, 0.35 * bw))
        sub = image[y0:y1, x0:x1].reshape(-1, 3)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = ((xx >= box[0] - 1) & (xx <= box[2] + 1) & (yy >= box[1] - 1) & (yy <= box[3] + 1)).ravel()
        px = sub[~inside]
    if len(px) < 4:
        px = image.reshape(-1, 3)
    lum = px.astype(np.float32).mean(1)
    keep = px[lum >= np.median(lum)]
    return np.median(keep, 0).astype(np.float32)


def line_colour(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Colour of a part's strokes: the median of its darkest 8 % of pixels (``float32`` ``[3]``)."""
    x0, y0, x1, y1 = _patch(box, image.shape[:2], 0)
    px = image[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
    if len(px) == 0:
        return np.zeros(3, np.float32)
    lum = px.mean(1)
    return np.asarray(np.median(px[lum <= np.percentile(lum, 8)], 0), np.float32)


def line_style(ref: np.ndarray, box: np.ndarray, skin: np.ndarray, size: float,
               fallback_width: float) -> tuple[float, np.ndarray]:
    """Width and colour of the picture's own line art inside ``box`` (the top stroke of a part).

    Stroke pixels are those darker than halfway between the skin and the box's darkest tone (2nd
    percentile; a half-tone threshold measures an anti-aliased line at its true width). In each
    column the first stroke from the top — an eye's upper lash line, a closed mouth's line, an open
    mouth's upper lip — is a run of stroke pixels (ending where it turns lighter than its darkest
    pixel by over a third of the contrast: a grey iris under the lash line); runs longer than ``0.35 × size`` (the lash line
    joined to a dark iris or to hair) are left out; each run times the cosine of the line's slope
    there (from the runs' middles in neighbouring columns) is the line's width across it, and the
    median of these is the width. The
    colour is the median of the darker 30 % of the runs' darkest pixels (their cores: a line's
    tapering ends are fainter), so a thin grey pencil line gives
    a thin grey redrawn line, a bold black one a bold black line.

    Args:
        ref: the unedited ``uint8`` RGB picture ``[H, W, 3]``.
        box: ``[x0, y0, x1, y1]`` to measure in (pixels of ``ref``).
        skin: the skin colour around the part (``[3]``).
        size: the part's size in pixels (an eye's height, a mouth's width).
        fallback_width: the width returned where no line stands out (under 25 grey levels darker
            than the skin, or a measured stroke in fewer than a third of the columns); the colour
            is then that of the box's darkest pixels, or the skin shaded down where those are
            not 25 levels darker than the skin (an estimated part on bare skin).

    Returns:
        ``(width in pixels ≥ 1, colour float32 [3])``.
    """
    x0, y0, x1, y1 = _patch(box, ref.shape[:2], 0)

    def fallback() -> tuple[float, np.ndarray]:
        darkest = line_colour(ref, box)
        if float(np.mean(skin)) - float(np.mean(darkest)) < 25.0:
            darkest = np.asarray(skin, np.float32) * _SHADE_LINE  # nothing dark here: shaded skin
        return max(1.0, float(fallback_width)), darkest
    if x1 - x0 < 3 or y1 - y0 < 3:
        return fallback()
    sub = ref[y0:y1, x0:x1].astype(np.float32)
    grey = sub.mean(-1)
    sg, dark = float(np.mean(skin)), float(np.percentile(grey, 2))
    if sg - dark < 25.0:
        return fallback()
    stroke = grey < (sg + dark) / 2
    rise = 0.35 * (sg - dark)
    has = stroke.any(0)
    top = np.where(has, stroke.argmax(0), stroke.shape[0])
    # each column's first run from the top, ending where it turns lighter than its darkest pixel by
    # more than ``rise`` (the lash line giving way to a grey iris): grown row by row for all columns
    run = np.zeros_like(stroke)
    active = has.copy()
    low = np.full(stroke.shape[1], np.inf, np.float32)
    for y in range(stroke.shape[0]):
        started = active & (top <= y)
        ok = started & stroke[y] & (grey[y] <= low + rise)
        active &= ~started | ok
        run[y] = ok
        low = np.where(ok, np.minimum(low, grey[y]), low)
    lengths_all = run.sum(0)
    keep = has & (lengths_all > 0) & (lengths_all <= 0.35 * size)
    if int(keep.sum()) < max(3, stroke.shape[1] // 3):
        return fallback()
    cols = np.flatnonzero(keep)
    lengths = lengths_all[cols].astype(np.float64)
    middles = top[cols] + (lengths - 1) / 2
    # a column cuts a sloping line longer than the line is thick: the run × cos(slope) is its width
    slope = np.gradient(middles, cols.astype(np.float64))
    widths = lengths / np.sqrt(1.0 + np.clip(slope, -3, 3) ** 2)
    # the line's colour: each column's darkest run pixel (its core; an anti-aliased thin line's
    # other pixels are blends with the skin)
    core_rows = np.where(run, grey, np.inf).argmin(0)[cols]
    cores = sub[core_rows, cols]
    core_grey = cores.mean(-1)
    colour = np.median(cores[core_grey <= np.percentile(core_grey, 30)], 0)  # the line's darker part
    return max(1.0, float(np.median(widths))), np.asarray(colour, np.float32)


def _composite(out: np.ndarray, region: tuple[int, int, int, int], layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Draw supersampled ``(mask, colour)`` layers over ``out[region]`` in order; returns the coverage.

    A colour is ``[3]`` (flat) or ``[h, w, 3]`` in pixels of the region (a shaded fill)."""
    x0, y0, x1, y1 = region
    base: np.ndarray = out[y0:y1, x0:x1].astype(np.float64)
    cover = np.zeros(base.shape[:2], np.float32)
    for mask, colour in layers:
        a = cv2.resize(mask.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        col = colour if colour.ndim == 3 else colour[None, None, :]
        base = base * (1 - a[:, :, None]) + col * a[:, :, None]
        cover = np.maximum(cover, a)
    out[y0:y1, x0:x1] = np.clip(base + 0.5, 0, 255).astype(np.uint8)
    return cover


def skin_field(ref: np.ndarray, region: tuple[int, int, int, int], hole: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """The skin's own tone and shading continued over a part (``float32`` ``[h, w, 3]`` of ``region``).

    The part (``hole``: a mask of the region, any resolution) and every pixel of the region more than
    40 grey levels from the skin or of another tint (:data:`_SKIN_TINT_MIN`: lash lines, hair tips,
    eye whites) are filled in from the surrounding skin by inpainting, so a
    lid drawn with it carries the local shading of shaded or greyscale art instead of one flat colour.
    Where nothing around is skin the flat ``skin`` colour is used.
    """
    x0, y0, x1, y1 = region
    sub = np.ascontiguousarray(ref[y0:y1, x0:x1])
    h, w = sub.shape[:2]
    m = cv2.resize(hole.astype(np.uint8), (w, h), interpolation=cv2.INTER_AREA) > 0
    lum = sub.astype(np.float32).mean(-1)
    m |= np.abs(lum - float(np.mean(skin))) > 40.0  # strokes, hair and eye whites are no skin to copy
    # in colour art the white of an eye is as light as skin but has none of its tint (pale lids
    # otherwise): compare the tint (colour minus its grey), which shading scales but keeps
    tint = sub.astype(np.float32) - lum[..., None]
    skin_tint = np.asarray(skin, np.float32) - float(np.mean(skin))
    m |= np.linalg.norm(tint - skin_tint, axis=-1) > max(_SKIN_TINT_MIN, 0.5 * float(np.linalg.norm(skin_tint)))
    m = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if m.all() or not m.any():
        return np.broadcast_to(np.asarray(skin, np.float32), (h, w, 3)).copy() if m.all() else sub.astype(np.float32)
    # shading is smooth: fill a copy at most 32 pixels on its long side, then scale it back up
    f = min(1.0, 32.0 / max(h, w))
    sw, sh = max(2, round(w * f)), max(2, round(h * f))
    small = cv2.resize(sub, (sw, sh), interpolation=cv2.INTER_AREA)
    ms = cv2.resize(m.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST)
    ms = np.maximum(ms, cv2.resize(m.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) > 0.25).astype(np.uint8)
    if ms.all():
        return np.broadcast_to(np.asarray(skin, np.float32), (h, w, 3)).copy()
    filled = cv2.inpaint(small, ms, 3.0, cv2.INPAINT_TELEA)
    return np.asarray(cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def _poly_mask(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    return m


def _stroke_mask(shape: tuple[int, int], pts: np.ndarray, width: float) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.polylines(m, [np.round(pts).astype(np.int32)], False, 1, max(1, int(round(width))), cv2.LINE_8)
    return m


def _ribbon_mask(shape: tuple[int, int], pts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """A stroke along ``pts`` ``[N, 2]`` whose width varies along it (``widths`` ``[N]``), as a mask."""
    d = np.gradient(pts.astype(np.float64), axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], 1) / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    half = (np.asarray(widths, np.float64) / 2)[:, None]
    poly = np.concatenate([pts + n * half, (pts - n * half)[::-1]])
    return _poly_mask(shape, poly)


def eye_line_style(ref: np.ndarray, box: np.ndarray, skin: np.ndarray) -> tuple[float, np.ndarray]:
    """The width and colour of an eye's own lash line (:func:`line_style` on a band around the top
    of its box ``[x0, y0, x1, y1]``), the width kept within 1 … :data:`_LID_MAX_WIDTH` eye heights."""
    ew, eh = box[2] - box[0], box[3] - box[1]
    band = np.array([box[0] + 0.05 * ew, box[1] - 0.2 * eh, box[2] - 0.05 * ew, box[1] + 0.5 * eh])
    width, colour = line_style(ref, band, skin, eh, max(1.5, 0.09 * eh))
    return float(np.clip(width, 1.0, max(1.0, _LID_MAX_WIDTH * eh))), colour


def redraw_eyelids(out: np.ndarray, ref: np.ndarray, box: np.ndarray, closure: float, happy: float,
                   slant: float, inner_sign: float, skin: np.ndarray | None = None,
                   line: tuple[float, np.ndarray] | None = None) -> np.ndarray:
    """Close an eye by drawing its lids over it (in place).

    Args:
        out: ``uint8`` RGB ``[H, W, 3]`` to draw on.
        ref: the unedited picture (colours are measured on it).
        box: the eye's ``[x0, y0, x1, y1]`` in pixels of ``out``.
        closure: 0 open … 1 closed.
        happy: 0 … 1: how much the closed line arcs up (smile) instead of curving down (blink).
        slant: > 0 lowers the lid's inner end (angry), < 0 its outer end (sad); in eye heights.
        inner_sign: +1 when the eye's inner corner is on its right (the left eye in the image), −1 else.
        skin: the lid colour (default: measured under the eye with :func:`skin_colour`).
        line: ``(width, colour)`` of the lid line (default: this eye's own lash line,
            :func:`eye_line_style`).

    Returns:
        ``float32`` ``[H, W]`` coverage of the drawn lids (0 where nothing changed).
    """
    h, w = out.shape[:2]
    cover = np.zeros((h, w), np.float32)
    closure = float(np.clip(closure, 0.0, 1.0))
    if closure <= 0.01 and abs(slant) < 0.01:
        return cover
    ew, eh = box[2] - box[0], box[3] - box[1]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    region = _patch(box, (h, w), max(2.0, 0.3 * max(eh, 0.5 * ew)))
    x0, y0, x1, y1 = region
    if x1 - x0 < 3 or y1 - y0 < 3:
        return cover
    skin = skin_colour(ref, box) if skin is None else np.asarray(skin, np.float32)
    # the picture's own lash line: its width and colour at the eye box's top (not a fixed black)
    line_w, lash = eye_line_style(ref, box, skin) if line is None else (float(line[0]), np.asarray(line[1], np.float32))
    n = 48
    t = np.linspace(-1.0, 1.0, n)
    xs = cx + t * ew * 0.56
    bulge = np.sqrt(np.clip(1 - t ** 2, 0, 1))
    top = cy - 0.5 * eh * bulge + 0.04 * eh           # the open upper lid (the lash line's middle)
    bottom = cy + 0.5 * eh * bulge                      # the open lower lid
    closed_y = cy + 0.12 * eh + (0.16 * eh * (1 - happy) - 0.32 * eh * happy) * (1 - t ** 2)
    tilt = slant * 0.35 * eh * (t * inner_sign)         # + lowers the inner end
    lid = (1 - closure) * top + closure * closed_y + tilt * min(1.0, 3 * closure + 0.3)
    low = (1 - closure) * bottom + closure * (closed_y + 0.02 * eh)
    low = np.maximum(low, lid)
    ss = _SS
    shape = ((y1 - y0) * ss, (x1 - x0) * ss)

    def P(xv: np.ndarray, yv: np.ndarray) -> np.ndarray:
        return np.stack([(xv - x0) * ss, (yv - y0) * ss], 1)
    # skin over the eye above the lid and below the lower lid, inside the eye's (grown) outline
    outline_top = cy - 0.68 * eh * bulge - 0.08 * eh
    outline_bot = cy + 0.62 * eh * bulge + 0.04 * eh
    above = np.concatenate([P(xs, outline_top), P(xs[::-1], lid[::-1])])
    below = np.concatenate([P(xs, low), P(xs[::-1], outline_bot[::-1])])
    skin_mask = np.maximum(_poly_mask(shape, above), _poly_mask(shape, below) if closure > 0.02 else 0)
    # the lid line keeps the lash line's width in its middle and tapers towards the corners
    lash_w = line_w * ss * (_LID_TAPER + (1 - _LID_TAPER) * bulge)
    lash_mask = _ribbon_mask(shape, P(xs, lid), lash_w)
    eye_mask = _poly_mask(shape, np.concatenate([P(xs, outline_top), P(xs[::-1], outline_bot[::-1])]))
    fill = skin_field(ref, region, eye_mask, skin)
    layers = [(skin_mask, fill), (lash_mask, lash)]
    c = _composite(out, region, layers)
    cover[y0:y1, x0:x1] = c
    return cover


@dataclass(frozen=True)
class MouthShape:
    """A mouth to draw, in pixels.

    Args:
        centre: ``(x, y)`` of the mouth line's middle.
        half_width: corner-to-centre distance.
        lift: corner height above the centre (> 0 smile / upturned, < 0 frown).
        opening: height of the open mouth (0 = closed, a curve).
        roundness: 0 a "D" (flat upper lip) … 1 an oval (``ooo``, surprised).
        teeth: 0 … 1 share of the opening shown as upper teeth (``eee``).
    """

    centre: tuple[float, float]
    half_width: float
    lift: float
    opening: float
    roundness: float = 0.0
    teeth: float = 0.0


def _bez(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 32) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def mouth_outline(m: MouthShape) -> tuple[np.ndarray, np.ndarray | None]:
    """Curves of a mouth: ``(line, None)`` when closed, ``(closed outline, None)``... see below.

    Returns:
        ``(upper, lower)``: for a closed mouth ``upper`` is the mouth line ``[N, 2]`` and ``lower``
        None; for an open one the upper and lower lip curves (left → right and right → left), which
        together close the mouth's outline.
    """
    cx, cy = m.centre
    hw, lift, o = m.half_width, m.lift, m.opening
    left, right = np.array([cx - hw, cy - lift]), np.array([cx + hw, cy - lift])
    if o < 0.6:
        ctrl = np.array([cx, cy + lift * 1.0])
        return _bez(left, ctrl, right), None
    r = float(np.clip(m.roundness, 0, 1))
    up_ctrl = np.array([cx, cy - lift * 0.6 - o * (0.15 + 0.9 * r)])
    low_ctrl = np.array([cx, cy + o * (1.6 - 0.5 * r) - lift * 0.2])
    return _bez(left, up_ctrl, right), _bez(right, low_ctrl, left)


def redraw_mouth(out: np.ndarray, ref: np.ndarray, box: np.ndarray, shape: MouthShape, alpha: float = 1.0) -> np.ndarray:
    """Paint over the mouth in ``box`` with skin and draw ``shape`` (in place).

    Args:
        out: ``uint8`` RGB ``[H, W, 3]`` to draw on.
        ref: the unedited picture (colours and line width are measured on it).
        box: the old mouth's ``[x0, y0, x1, y1]`` in pixels of ``out``.
        shape: the new mouth.
        alpha: 0 … 1 blend of the redrawn mouth over the old one (small slider values fade in).

    Returns:
        ``float32`` ``[H, W]`` coverage (0 where nothing changed).
    """
    h, w = out.shape[:2]
    cover = np.zeros((h, w), np.float32)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    if alpha <= 0.0:
        return cover
    cx, cy = shape.centre
    hw = shape.half_width
    reach = np.array([min(box[0], cx - hw), min(box[1], cy - abs(shape.lift) - shape.opening),
                      max(box[2], cx + hw), max(box[3], cy + abs(shape.lift) + 1.7 * shape.opening)])
    region = _patch(reach, (h, w), max(3.0, 0.3 * hw))
    x0, y0, x1, y1 = region
    if x1 - x0 < 3 or y1 - y0 < 3:
        return cover
    skin = skin_colour(ref, box, below=False)
    # the picture's own mouth line: width and colour of the stroke at the top of the mouth box
    bw, bh = box[2] - box[0], box[3] - box[1]
    grown = np.array([box[0], box[1] - 2 - 0.1 * bh, box[2], box[3] + 2 + 0.1 * bh])
    fallback_w = float(np.clip(0.45 * bh, 1.2, max(1.2, 0.12 * hw)))
    thick, line = line_style(ref, grown, skin, bw, fallback_w)
    thick = float(np.clip(thick, 1.2, max(1.2, _MOUTH_MAX_WIDTH * hw)))  # (a 1 px line redrawn fainter)
    grey = bool(np.ptp(ref[int(box[1]):int(box[3]) + 1, int(box[0]):int(box[2]) + 1].reshape(-1, 3).astype(np.int16), axis=1).max(initial=0) < 6)
    inside_c = np.full(3, 70.0, np.float32) if grey else np.array([120, 36, 48], np.float32)
    tongue_c = np.full(3, 150.0, np.float32) if grey else np.array([228, 116, 126], np.float32)
    teeth_c = np.full(3, 250.0, np.float32)
    ss = _SS
    sh = ((y1 - y0) * ss, (x1 - x0) * ss)

    def P(pts: np.ndarray) -> np.ndarray:
        return (pts - (x0, y0)) * ss
    # erase the old mouth: an ellipse a little larger than its box, feathered by the downsampling
    ebox = np.array([box[0], box[1], box[2], box[3]])
    erase = np.zeros(sh, np.uint8)
    ec = (((ebox[0] + ebox[2]) / 2 - x0) * ss, ((ebox[1] + ebox[3]) / 2 - y0) * ss)
    ax = ((ebox[2] - ebox[0]) / 2 + max(1.5, 0.12 * hw)) * ss
    ay = ((ebox[3] - ebox[1]) / 2 + max(1.5, 0.12 * hw)) * ss
    cv2.ellipse(erase, (int(ec[0]), int(ec[1])), (int(ax), int(ay)), 0, 0, 360, 1, -1)
    layers: list[tuple[np.ndarray, np.ndarray]] = [(erase, skin)]
    upper, lower = mouth_outline(shape)
    if lower is None:
        widths = thick * ss
        layers.append((_stroke_mask(sh, P(upper), widths), line))
    else:
        outline = np.concatenate([upper, lower[1:-1]])
        inside = _poly_mask(sh, P(outline))
        layers.append((inside, inside_c))
        tongue = np.zeros(sh, np.uint8)
        tc = (int((shape.centre[0] - x0) * ss), int((shape.centre[1] + shape.opening * 1.0 - y0) * ss))
        cv2.ellipse(tongue, tc, (int(hw * 0.55 * ss), int(max(1.0, shape.opening * 0.45) * ss)), 0, 0, 360, 1, -1)
        layers.append((tongue & inside, tongue_c))
        if shape.teeth > 0.02:
            teeth = np.zeros(sh, np.uint8)
            ty = int((shape.centre[1] - shape.lift * 0.5 - y0 + shape.opening * 0.55 * shape.teeth) * ss)
            teeth[:max(0, ty)] = 1
            layers.append((teeth & inside, teeth_c))
        closed = np.concatenate([outline, outline[:1]])
        layers.append((_stroke_mask(sh, P(closed), thick * ss * 0.85), line))
    before = out[y0:y1, x0:x1].copy()
    c = _composite(out, region, layers)
    if alpha < 1.0:
        out[y0:y1, x0:x1] = np.clip(before * (1 - alpha) + out[y0:y1, x0:x1] * alpha + 0.5, 0, 255).astype(np.uint8)
    cover[y0:y1, x0:x1] = c * alpha
    return cover
