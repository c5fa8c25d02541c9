"""Opera studio, classical algorithms: XDoG line art, main-colour classification, colouring a
sketch from a reference lianpu (region correspondence). numpy / OpenCV only, any CPU.

Parameters live in :mod:`engine.studios.opera.params`, the editors in
:mod:`engine.studios.opera.editor`; the trained CoCosNet colouring runs through
:mod:`engine.studios.opera.learned`.

XDoG is the extended difference of Gaussians of Winnemöller et al. (2012), "XDoG: An eXtended
difference-of-Gaussians compendium including advanced image stylization"; the opera paper builds
its line drawings with it::

    D(x) = G_σ(I)(x) − γ · G_{kσ}(I)(x)                    (γ is the τ of the 2011 paper)
    E(x) = 1                          if D(x) ≥ ε
           1 + tanh(φ · (D(x) − ε))   otherwise

with ``I`` the luminance in [0, 1]. ``E`` is white paper (1) with dark lines; a ``threshold``
turns it into pure black/white line art.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace

import cv2
import numpy as np

from engine.imageio import validate_rgb
from engine.studios.opera.matching import face_from_lines
from engine.studios.opera.params import ColorizeParams, XDoGParams

__all__ = [
    "LINE_INK", "OPERA_COLOUR_MEANINGS", "UNPAINTED",
    "ColorizeParams", "ColorizeResult", "ColourClass", "XDoGParams",  # the params: what these functions take
    "align_reference", "as_rgb", "classify_main_colour", "colorize", "compose", "face_mask_from_image",
    "ReferenceAnalysis", "analyse_reference", "clear_reference_cache",
    "line_grey", "paint_classes", "pin_paint", "recolour_region", "reference_lines", "region_colours",
    "sketch_regions", "xdog",
]

def _luminance01(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"xdog expects a uint8 image, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim == 3 and arr.shape[2] == 3:
        grey = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)
    elif arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        grey = arr.reshape(arr.shape[0], arr.shape[1])
    else:
        raise ValueError(f"xdog expects [H, W] or [H, W, 3] input, got shape {arr.shape}")
    if grey.size == 0:
        raise ValueError("xdog got an empty image")
    return grey.astype(np.float32) * np.float32(1.0 / 255.0)


def xdog(image: np.ndarray, params: XDoGParams | None = None) -> np.ndarray:
    """Extended difference-of-Gaussians line art.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA (alpha ignored) or grey ``[H, W]``, any size.
        params: see :class:`~engine.studios.opera.params.XDoGParams` (default: its defaults).

    Returns:
        ``uint8`` grey ``[H, W]``: 255 = paper, darker = lines.

    Raises:
        ValueError: wrong dtype/shape or parameters out of range.

    Example:
        >>> img = np.full((32, 32, 3), 255, np.uint8); img[:, 16:] = 0
        >>> out = xdog(img)
        >>> out.shape, out.dtype, int(out[:, :8].min()), int(out[:, 14:18].min()) < 128
        ((32, 32), dtype('uint8'), 255, True)
    """
    p = (XDoGParams() if params is None else params).validate()
    lum = _luminance01(image)
    g1 = cv2.GaussianBlur(lum, (0, 0), sigmaX=p.sigma, borderType=cv2.BORDER_REFLECT)
    g2 = cv2.GaussianBlur(lum, (0, 0), sigmaX=p.sigma * p.k, borderType=cv2.BORDER_REFLECT)
    d = g1 - np.float32(p.gamma) * g2  # [HW]
    d -= np.float32(p.epsilon)
    np.minimum(d, 0, out=d)  # D ≥ ε → 0 → tanh(0) = 0 → E = 1
    d *= np.float32(p.phi)
    e = np.tanh(d, out=d)
    e += np.float32(1.0)
    if p.threshold is not None:
        return np.where(e >= np.float32(p.threshold), np.uint8(255), np.uint8(0))
    e *= np.float32(255.0)
    np.clip(e, 0, 255, out=e)
    return (e + np.float32(0.5)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Main-colour classification (classical: dominant paint colour)
# ---------------------------------------------------------------------------------------------

OPERA_COLOUR_MEANINGS: Mapping[str, str] = {
    "red": "loyalty, courage and integrity (e.g. Guan Yu)",
    "purple": "solemnity, wisdom and steadfast calm (e.g. Zhuan Zhu)",
    "black": "impartiality, bluntness and fearless honesty (e.g. Bao Zheng)",
    "white": "cunning, treachery and suspicion (e.g. Cao Cao)",
    "blue": "valour, fierceness and an untamed temper (e.g. Dou Erdun)",
    "green": "chivalrous outlaws, impulsive and stubborn (e.g. Zhu Wu)",
    "yellow": "ferocity and ambition; gold marks gods, spirits and immortals",
}
"""Traditional meaning of each main colour of a lianpu (shown in the panel and the CLI)."""

UNPAINTED = -1
"""Value of :func:`paint_classes` for pixels that are no paint class (skin tones, grey shading)."""

LINE_INK = 16
"""Grey level of the strokes in a coloured sketch."""

_BLACK_WEIGHT = 0.6
"""Black is the pattern ink of almost every lianpu: its area counts this much toward the main
colour, so a red face with large black eye patches stays red."""

_WHITE_WEIGHT = 0.8
"""White rims, eye sockets and chins appear on every lianpu: white area counts this much."""


def paint_classes(image: np.ndarray) -> np.ndarray:
    """Per-pixel paint class of an RGB image (index into :data:`engine.labels.OPERA_COLOURS`).

    Rules in HSV (OpenCV ranges: H 0–180, S and V 0–255): dark → black; unsaturated and light →
    white; light low-saturation orange (skin tone of lips/chin) and mid greys → :data:`UNPAINTED`;
    otherwise by hue (orange counts as red, gold as yellow).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.

    Returns:
        ``int8`` ``[H, W]`` class indices, :data:`UNPAINTED` where no class applies.
    """
    rgb = validate_rgb(image)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h = hsv[..., 0].astype(np.int16)
    s = hsv[..., 1].astype(np.int16)
    v = hsv[..., 2].astype(np.int16)
    idx = {n: i for i, n in enumerate(("red", "purple", "black", "white", "blue", "green", "yellow"))}
    out = np.full(rgb.shape[:2], UNPAINTED, np.int8)
    chroma = (s >= 60) & (v >= 60)
    out[chroma & ((h < 11) | (h >= 165))] = idx["red"]
    out[chroma & (h >= 11) & (h < 19)] = idx["red"]  # orange-red / vermilion paint
    out[chroma & (h >= 19) & (h < 36)] = idx["yellow"]
    out[chroma & (h >= 36) & (h < 86)] = idx["green"]
    out[chroma & (h >= 86) & (h < 131)] = idx["blue"]
    out[chroma & (h >= 131) & (h < 165)] = idx["purple"]
    skin = (h >= 4) & (h < 24) & (s < 130) & (v >= 150)
    out[skin & (s >= 60)] = UNPAINTED
    out[(v < 70) | ((v < 110) & (s < 60))] = idx["black"]
    out[(s < 45) & (v >= 175)] = idx["white"]
    return out


@dataclass(frozen=True)
class ColourClass:
    """Result of :func:`classify_main_colour`.

    Args:
        colour: the main-colour class (one of :data:`engine.labels.OPERA_COLOURS`).
        scores: weighted share of the face area per class (sums to 1 over the seven classes).
        meaning: traditional meaning of ``colour`` (:data:`OPERA_COLOUR_MEANINGS`).
        backend: which classifier ran (``"classical"``; ``"resnet18"`` for the trained network).
        note: why that classifier ran (empty when the classical rules were called directly).
    """

    colour: str
    scores: dict[str, float]
    meaning: str
    backend: str = "classical"
    note: str = ""


def classify_main_colour(image: np.ndarray, mask: np.ndarray | None = None) -> ColourClass:
    """Classify a lianpu into the seven main-colour classes by its dominant paint.

    Every pixel of the face gets a paint class (:func:`paint_classes`); black strokes thinner than
    about 1/80 of the image (contours) are not paint and are left out; black and white areas are
    down-weighted (they are the pattern and rim paints of every mask); the largest class wins.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` (RGBA is composited on white).
        mask: optional ``bool`` ``[H, W]`` face area; default: :func:`face_mask_from_image`.

    Returns:
        :class:`ColourClass`.

    Raises:
        ValueError: bad image, mask shape mismatch, or no paint inside the mask.

    Example:
        >>> img = np.full((40, 40, 3), 255, np.uint8); img[5:35, 5:35] = (200, 30, 35)
        >>> classify_main_colour(img).colour
        'red'
    """
    from engine.labels import OPERA_COLOURS

    rgb = as_rgb(image, "image")
    if mask is None:
        mask = face_mask_from_image(rgb)
    mask = np.asarray(mask, bool)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {rgb.shape[:2]}")
    cls = paint_classes(rgb)
    # contour strokes are ink, not paint: only black areas wider than a stroke count
    black = (cls == OPERA_COLOURS.index("black")).astype(np.uint8)
    r = max(1, round(min(rgb.shape[:2]) / 160))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    cls[(black > 0) & (cv2.morphologyEx(black, cv2.MORPH_OPEN, k) == 0)] = UNPAINTED
    cls = cls[mask]
    counts = np.bincount(cls[cls >= 0].astype(np.int64), minlength=len(OPERA_COLOURS)).astype(np.float64)
    counts[OPERA_COLOURS.index("black")] *= _BLACK_WEIGHT
    counts[OPERA_COLOURS.index("white")] *= _WHITE_WEIGHT
    total = counts.sum()
    if total <= 0:
        raise ValueError("no paint found inside the face: is this a lianpu on a light background?")
    scores = {c: float(counts[i] / total) for i, c in enumerate(OPERA_COLOURS)}
    best = OPERA_COLOURS[int(np.argmax(counts))]
    return ColourClass(colour=best, scores=scores, meaning=OPERA_COLOUR_MEANINGS[best])


# ---------------------------------------------------------------------------------------------
# Classical colouring from a reference
# ---------------------------------------------------------------------------------------------

def as_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """RGB(A)/grey ``uint8`` → RGB composited on white paper.

    The alpha channel is not a face mask: published lianpu PNGs leave white paint transparent.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA ``[H, W, 4]`` or grey ``[H, W]``.
        name: what the image is called in error messages.

    Returns:
        ``uint8`` RGB ``[H, W, 3]``.

    Raises:
        ValueError: wrong dtype or shape, or an empty image.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 4:
        if arr.dtype != np.uint8:
            raise ValueError(f"{name} must be uint8, got {arr.dtype}")
        a = arr[:, :, 3:4].astype(np.float32) / 255.0
        rgb = (arr[:, :, :3].astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
        return rgb
    return validate_rgb(arr, name)


def _border_connected(free: np.ndarray) -> np.ndarray:
    """``bool`` mask of the ``free`` pixels connected (4-neighbourhood) to the image border."""
    n, lab = cv2.connectedComponents(free.astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    border = border[border > 0]
    return np.isin(lab, border) if border.size else np.zeros(free.shape, bool)


def face_mask_from_image(image: np.ndarray, paper_level: int = 235, gap: int | None = None) -> np.ndarray:
    """Face area of a lianpu drawn on light paper: everything but the paper reachable from the border.

    Gaps in the face outline up to about ``2·gap`` pixels are closed first, so white paint
    inside a broken contour is not taken for paper; the result is the convex hull of what is
    left when that is much larger (a face drawn without a closed outline).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` (RGBA is composited on white).
        paper_level: pixels whose channels are all ≥ this are paper candidates.
        gap: closing radius in pixels; ``None`` = 1/100 of the short side.

    Returns:
        ``bool`` ``[H, W]``.
    """
    rgb = as_rgb(image, "image")
    paper = np.asarray((rgb >= paper_level).all(axis=2))  # [HW] bool
    r = max(1, round(min(paper.shape) / 100)) if gap is None else int(gap)
    if r <= 0:
        return ~_border_connected(paper)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    ink = cv2.dilate((~paper).astype(np.uint8), k)
    outside = _border_connected(ink == 0)
    outside = cv2.dilate(outside.astype(np.uint8), k) > 0  # give back what the closing took
    face = ~(outside & paper)
    if not face.any():
        return face
    # a face drawn without a closed outline: its convex hull (lianpu faces are convex ovals)
    contours, _ = cv2.findContours(face.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(np.concatenate(contours))
    filled = np.zeros(face.shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    return filled > 0 if face.sum() < 0.6 * filled.sum() else face


@dataclass(frozen=True)
class ColorizeResult:
    """Output of :func:`colorize`.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` coloured sketch (lines kept, paper white outside).
        warped_reference: ``uint8`` RGB ``[H, W, 3]`` the reference aligned to the sketch (the
            warped exemplar).
        regions: ``int32`` ``[H, W]`` closed-region id of every pixel (0 = outside the face).
        face_mask: ``bool`` ``[H, W]`` inside the sketch's face outline.
        affine: ``float64`` ``[2, 3]`` map from reference pixels to sketch pixels.
        colours: ``uint8`` ``[n, 3]`` paint of each region id (``image`` = :func:`compose` of it).
        shading: ``float32`` ``[H, W, 3]`` the reference's shading added to the flat paint
            (``None`` = flat).
    """

    image: np.ndarray
    warped_reference: np.ndarray
    regions: np.ndarray
    face_mask: np.ndarray
    affine: np.ndarray
    colours: np.ndarray
    shading: np.ndarray | None = None

    def rgba(self) -> np.ndarray:
        """``uint8`` ``[H, W, 4]``: the colour image, transparent outside the face."""
        return np.dstack([self.image, np.where(self.face_mask, 255, 0).astype(np.uint8)])


def line_grey(line_art: np.ndarray) -> np.ndarray:
    """A sketch as grey line art (RGBA composited on white paper; for colour, the brightest channel).

    Args:
        line_art: ``uint8`` grey ``[H, W]``, RGB ``[H, W, 3]`` or RGBA ``[H, W, 4]``.

    Returns:
        ``uint8`` grey ``[H, W]``, 255 = paper.

    Raises:
        ValueError: wrong dtype or shape.
    """
    arr = np.asarray(line_art)
    if arr.dtype != np.uint8:
        raise ValueError(f"line_art must be uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 4:
        a = arr[:, :, 3].astype(np.float32) / 255.0
        grey = arr[:, :, :3].max(axis=2).astype(np.float32)
        return (grey * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 3:
        # the value (brightest channel): black strokes stay dark, coloured fills of a painted sketch
        # do not read as lines; equal to the grey level for grey line art
        return np.ascontiguousarray(arr.max(axis=2))
    if arr.ndim == 2:
        return arr
    raise ValueError(f"line_art must be [H, W] grey or RGB, got shape {arr.shape}")


_TRAP_FRACTION = 1 / 40
"""Radius of the largest trapped ball, as a share of the sketch's short side (13 px at 512²)."""


def trapped_ball_seeds(free: np.ndarray, gap: int, radius: int) -> tuple[np.ndarray, int]:
    """Seed regions of a line drawing's paper by trapped balls, largest first.

    A ball of radius ``r`` rolled over the paper cannot pass a gap in the strokes narrower than
    ``2·r``: the connected parts of the paper eroded by the ball, grown back by it (an opening), are
    regions whose outlines may be broken by gaps of up to that width. Balls from ``radius`` down to
    ``gap`` (halving) fill what the larger ones left. A piece a smaller ball finds is a region of its
    own only when it is at least as large as a square of the previous ball's diameter: smaller ones
    are the tips and necks of regions already seeded (or slivers), and stay unseeded, for the
    caller to join to the region they open into.

    Args:
        free: ``bool`` ``[H, W]`` paper (not stroke) pixels.
        gap: the smallest ball's radius in pixels (0: plain connected paper).
        radius: the largest ball's radius (≥ ``gap``).

    Returns:
        ``(seeds, n)``: ``int32`` ``[H, W]`` seed ids ``1..n-1`` (0 = unseeded) and ``n``.

    Example:
        >>> free = np.ones((40, 80), bool); free[:, 40] = False; free[18:22, 40] = True  # a 4-px gap
        >>> seeds, n = trapped_ball_seeds(free, 1, 4); n - 1, bool(seeds[20, 10] != seeds[20, 70])
        (2, True)
    """
    h, w = free.shape
    seeds = np.zeros((h, w), np.int32)
    n = 1
    radii: list[int] = []
    r = int(radius)
    while r > gap:
        radii.append(r)
        r //= 2
    radii.append(int(gap))
    for i, r in enumerate(radii):
        avail = free & (seeds == 0)
        if r > 0:
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            core = cv2.erode(avail.astype(np.uint8), k) > 0
        else:
            core = avail
        count, comp = cv2.connectedComponents(core.astype(np.uint8), connectivity=4)
        if count <= 1:
            continue
        if r > 0:
            # the ball grown back: every paper pixel within r of a part takes its label (the larger
            # where two parts reach it — float32 labels are exact below 2²⁴)
            label = np.asarray(cv2.dilate(comp.astype(np.float32), k), np.int32)
            label[~avail] = 0
        else:
            label = np.asarray(comp, np.int32)
        keep = np.ones(count, bool)
        if i > 0:  # pieces smaller than the previous ball's square are tips and necks
            keep = np.bincount(label.ravel(), minlength=count) >= (2 * radii[i - 1]) ** 2
        keep[0] = False
        new_id = np.where(keep, np.cumsum(keep) + (n - 1), 0).astype(np.int32)
        hit = label > 0
        seeds[hit] = new_id[label[hit]]
        n += int(keep.sum())
    return seeds, n


def _trapped_regions(lines: np.ndarray, gap: int, radius: int) -> np.ndarray:
    """Regions of a thin-line drawing whose strokes may be broken (HED's thinned edges).

    Trapped balls seed the regions (:func:`trapped_ball_seeds`); paper no ball seeded that is a
    piece of some size — a thin strip between two strokes, such as the inside of a painted stroke
    whose two edges were drawn — is a region of its own; smaller pieces (a region's corners, tips
    and necks) join the seed they open into, grown along the paper and never across a stroke;
    paper no seed reaches stays its own region; every stroke pixel then joins its nearest region.

    Args:
        lines: ``uint8`` ``[H, W]`` 1 on strokes, 0 on paper (some paper present).
        gap: the smallest ball's radius (≥ 1).
        radius: the largest ball's radius (≥ ``gap``).

    Returns:
        ``int32`` ``[H, W]`` region ids ≥ 1 for every pixel.
    """
    from skimage.segmentation import watershed

    h, w = lines.shape
    free = lines == 0
    seeds, n_seed = trapped_ball_seeds(free, gap, radius)
    n_left, left = cv2.connectedComponents((free & (seeds == 0)).astype(np.uint8), connectivity=4)
    strip = np.bincount(left.ravel(), minlength=n_left) >= 2 * (2 * gap + 1) ** 2
    strip[0] = False
    seeds = np.where(strip[left], left + n_seed, seeds)
    seeds = np.asarray(watershed(np.zeros((h, w), np.uint8), seeds, mask=free), np.int32)
    n_orig, orig = cv2.connectedComponents(free.astype(np.uint8), connectivity=4)
    orphan = np.bincount(orig[seeds > 0].ravel(), minlength=n_orig) == 0
    orphan[0] = False
    if orphan.any():
        on = orphan[orig]
        seeds[on] = orig[on] + n_seed + n_left
    # strokes: nearest region (Voronoi labels of the labelled pixels, raster order)
    _, vor = cv2.distanceTransformWithLabels((seeds == 0).astype(np.uint8), cv2.DIST_L2, 3,
                                             labelType=cv2.DIST_LABEL_PIXEL)
    return seeds[seeds > 0][vor.ravel() - 1].reshape(h, w).astype(np.int32)


def _gap_closed_regions(lines: np.ndarray, gap: int) -> np.ndarray | None:
    """Regions of a drawing with the strokes thickened by ``gap``: connected paper areas, grown
    back to the strokes (each stroke pixel joins its nearest region); paper strips the thickening
    swallowed entirely stay regions of their own.

    Args:
        lines: ``uint8`` ``[H, W]`` 1 on strokes, 0 on paper (some paper present).
        gap: thickening radius in pixels (0: none).

    Returns:
        ``int32`` ``[H, W]`` region ids ≥ 1 for every pixel; ``None`` when the thickened strokes
        cover everything.
    """
    h, w = lines.shape
    if gap > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1))
        thick = cv2.dilate(lines, k)
    else:
        thick = lines
    n_seed, seeds = cv2.connectedComponents((thick == 0).astype(np.uint8), connectivity=4)
    if n_seed <= 1:
        return None
    # every pixel joins its nearest seed region (Voronoi labels of the zero pixels)
    _, vor = cv2.distanceTransformWithLabels(thick, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    seed_of_zero = seeds[thick == 0]  # raster order = order of DIST_LABEL_PIXEL labels
    grown = seed_of_zero[vor.ravel() - 1].reshape(h, w).astype(np.int32)
    # paper strips swallowed by the thickening keep their own id
    n_orig, orig = cv2.connectedComponents((lines == 0).astype(np.uint8), connectivity=4)
    covered = np.bincount(orig[thick == 0].ravel(), minlength=n_orig)
    orphan = covered == 0
    orphan[0] = False
    if orphan.any():
        on = orphan[orig]
        grown[on] = orig[on] + n_seed
    return grown


def sketch_regions(line_art: np.ndarray, params: ColorizeParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Closed regions of a line drawing, with small stroke gaps closed first.

    Regions are the connected paper areas after the lines are thickened by ``gap`` (so a gap up to
    about ``2·gap`` pixels wide does not let one region leak into the next); they then grow back
    to the original strokes (each stroke pixel joins its nearest region). Thin paper strips that
    the thickening swallowed entirely stay regions of their own. HED line art
    (``params.extractor == "hed"``: one-pixel edges, broken at junctions and along faint strokes)
    is split by trapped balls instead (:func:`trapped_ball_seeds`, the largest 1/40 of the short
    side), which keeps features apart across gaps up to 2/40 of the short side: with the
    thickening alone a dev mask's whole face leaked into one region. The face is found as in
    :func:`face_mask_from_image` (wider gaps of the outline closed, convex hull for open outlines);
    regions are cut at its edge.

    Args:
        line_art: ``uint8`` grey ``[H, W]`` (or RGB) line drawing, dark lines on light paper.
        params: see :class:`~engine.studios.opera.params.ColorizeParams` (default: its defaults).

    Returns:
        ``(regions, face)``: ``int32`` ``[H, W]`` region ids (0 = outside the face, ids ≥ 1 inside,
        every pixel assigned) and ``bool`` ``[H, W]`` face mask.
    """
    p = (ColorizeParams() if params is None else params).validate()
    grey = line_grey(line_art)
    if grey.size == 0:
        raise ValueError("line_art is empty")
    h, w = grey.shape
    gap = max(1, round(min(h, w) / 256)) if p.gap is None else int(p.gap)
    lines = (grey < p.line_level).astype(np.uint8)
    if p.extractor == "hed" and gap > 0 and not lines.all():
        # one-pixel edges broken at junctions and along faint strokes: trapped balls close gaps
        # up to 2·radius wide (the thickening closes only 2·gap; wider gaps merged whole features)
        grown: np.ndarray | None = _trapped_regions(lines, gap, max(gap, round(min(h, w) * _TRAP_FRACTION)))
    else:
        grown = _gap_closed_regions(lines, gap)
    if grown is None:  # all lines: one region
        return np.ones((h, w), np.int32), np.ones((h, w), bool)
    # the face: what the outline encloses once its gaps are closed (matching.face_from_lines)
    face = face_from_lines(lines > 0)
    if face.mean() < p.min_face_fraction:
        face = np.ones((h, w), bool)
    ids = np.where(face, grown, 0)
    present = np.zeros(int(ids.max()) + 1, bool)
    present[ids] = True
    present[0] = not face.all()  # id 0 is kept only for the outside
    remap = (np.cumsum(present) - (0 if face.all() else 1)).astype(np.int32)
    regions = remap[ids]
    return regions, face


def align_reference(reference: np.ndarray, target_face: np.ndarray,
                    reference_face: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Warp a reference lianpu onto a sketch: face boxes matched, symmetry axes on each other.

    The reference face box (from its alpha or its paper background) is scaled independently in x and
    y onto the sketch's face box, centred on both face axes (the column centroid of each mask, the
    symmetry axis of a lianpu).

    Args:
        reference: ``uint8`` RGB ``[h, w, 3]`` or RGBA.
        target_face: ``bool`` ``[H, W]`` the sketch's face mask.
        reference_face: optional ``bool`` ``[h, w]`` reference face mask.

    Returns:
        ``(warped, affine)``: ``uint8`` RGB ``[H, W, 3]`` on white, and the ``[2, 3]`` affine from
        reference pixels to sketch pixels.
    """
    rgb = as_rgb(reference, "reference")
    if reference_face is None:
        reference_face = face_mask_from_image(rgb)

    def frame(mask: np.ndarray) -> tuple[float, float, float, float]:
        ys, xs = np.nonzero(mask)
        if xs.size == 0:
            hh, ww = mask.shape
            return ww / 2.0, 0.0, float(ww), float(hh)
        x0, x1 = xs.min(), xs.max() + 1
        half = max(xs.mean() - x0, x1 - xs.mean())  # symmetric box around the axis
        return float(xs.mean()), float(ys.min()), float(2 * half), float(ys.max() + 1 - ys.min())

    rx, ry, rw, rh = frame(reference_face)
    tx, ty, tw, th = frame(target_face)
    sx, sy = tw / max(rw, 1.0), th / max(rh, 1.0)
    affine = np.array([[sx, 0.0, tx - sx * rx], [0.0, sy, ty - sy * ry]], np.float64)
    H, W = target_face.shape
    warped = cv2.warpAffine(rgb, affine, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=(255, 255, 255))
    return warped, affine


def region_colours(regions: np.ndarray, source: np.ndarray, quant_bits: int = 4) -> np.ndarray:
    """The dominant colour of ``source`` inside each region.

    Each region takes the mean colour of its most frequent histogram bin (``quant_bits`` per
    channel), so thin lines and shading in the source do not tint flat paint.

    Args:
        regions: ``int32`` ``[H, W]`` ids ``0..n-1``.
        source: ``uint8`` RGB ``[H, W, 3]``.
        quant_bits: bits per channel of the histogram (3–6).

    Returns:
        ``uint8`` ``[n, 3]`` colour per region id.
    """
    n = int(regions.max()) + 1
    shift = 8 - int(quant_bits)
    q = (source >> shift).astype(np.int64)
    nb = 1 << int(quant_bits)
    key = regions.astype(np.int64).ravel() * (nb ** 3) + ((q[..., 0] * nb + q[..., 1]) * nb + q[..., 2]).ravel()
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    sums = np.stack([np.bincount(inverse, weights=source[..., c].ravel(), minlength=uniq.size)
                     for c in range(3)], axis=1)
    reg_of_bin = uniq // (nb ** 3)
    order = np.lexsort((counts, reg_of_bin))  # by region, then count ascending
    last = np.r_[reg_of_bin[order][1:] != reg_of_bin[order][:-1], True]
    best = order[last]
    out = np.full((n, 3), 255, np.uint8)
    out[reg_of_bin[best]] = np.clip(sums[best] / counts[best, None] + 0.5, 0, 255).astype(np.uint8)
    return out


def reference_lines(reference: np.ndarray, extractor: str = "xdog") -> np.ndarray:
    """The strokes of a colour reference as the sketch's extractor sees them.

    Args:
        reference: ``uint8`` RGB ``[h, w, 3]`` (or RGBA, composited on white).
        extractor: ``"xdog"`` (binarised at 0.5) or ``"hed"`` (:func:`engine.studios.opera.hed.hed_line_art`).

    Returns:
        ``bool`` ``[h, w]`` line pixels.

    Raises:
        ValueError: unknown extractor.
        CheckpointError: HED without its weights.
    """
    rgb = as_rgb(reference, "reference")
    if extractor == "hed":
        from engine.studios.opera.hed import hed_line_art

        return hed_line_art(rgb) < 128
    if extractor != "xdog":
        raise ValueError(f"extractor must be xdog or hed, got {extractor!r}")
    return xdog(rgb, XDoGParams(threshold=0.5)) < 128


@dataclass(frozen=True)
class ReferenceAnalysis:
    """What colouring needs of a reference, whatever the sketch: its RGB, strokes and face.

    Args:
        rgb: ``uint8`` RGB ``[h, w, 3]`` on white.
        ink: ``bool`` ``[h, w]`` strokes (:func:`reference_lines` with the sketch's extractor).
        face: ``bool`` ``[h, w]`` face (enclosed by the strokes, else the non-paper area).
        axis: the symmetry axis of ``ink`` in ``face`` (column).
    """

    rgb: np.ndarray
    ink: np.ndarray
    face: np.ndarray
    axis: float


_MIN_FACE_SHARE = 0.7
"""A reference face found from HED's strokes must cover this share of the one XDoG's strokes enclose."""

_REFERENCE_CACHE: OrderedDict[tuple[str, tuple[int, ...], bytes], ReferenceAnalysis] = OrderedDict()
_REFERENCE_CACHE_SIZE = 4


def clear_reference_cache() -> None:
    """Forget every cached :func:`analyse_reference` (benchmarks time the cold path with it)."""
    _REFERENCE_CACHE.clear()


def analyse_reference(reference: np.ndarray, extractor: str = "xdog") -> ReferenceAnalysis:
    """:class:`ReferenceAnalysis` of a reference, cached by content (the last few references): while
    only the sketch changes — every stroke in the window — the reference is not analysed again.

    Args:
        reference: ``uint8`` RGB or RGBA reference.
        extractor: the sketch's line extractor (:func:`reference_lines`).

    Returns:
        The analysis (shared: do not modify its arrays).
    """
    arr = np.ascontiguousarray(reference)
    key = (extractor, arr.shape, hashlib.blake2b(arr.data, digest_size=16).digest())
    hit = _REFERENCE_CACHE.get(key)
    if hit is not None:
        _REFERENCE_CACHE.move_to_end(key)
        return hit
    rgb = as_rgb(arr, "reference")
    ink = reference_lines(rgb, extractor)
    face = face_from_lines(ink)
    if extractor != "xdog":
        # a guard: where HED's outline of a reference is broken, the part it does enclose (a
        # forehead ring) would stand for the whole face and the warp stretch one small paint over
        # the sketch; a face much smaller than the one XDoG's strokes enclose is taken for such a
        # part (the dev masks' self-colouring is the same with and without it)
        wide = face_from_lines(reference_lines(rgb, "xdog"))
        if face.sum() < _MIN_FACE_SHARE * wide.sum():
            face = wide
    if not face.any():
        face = face_mask_from_image(rgb)
    for a in (rgb, ink, face):
        a.setflags(write=False)
    from engine.studios.opera.matching import symmetry_axis

    out = ReferenceAnalysis(rgb=rgb, ink=ink, face=face, axis=symmetry_axis(ink, face))
    _REFERENCE_CACHE[key] = out
    while len(_REFERENCE_CACHE) > _REFERENCE_CACHE_SIZE:
        _REFERENCE_CACHE.popitem(last=False)
    return out


def pin_paint(reference: np.ndarray, ref_ink: np.ndarray, x: int, y: int) -> np.ndarray:
    """The paint a pin asks for: the median colour of the reference's paint (not its strokes) in a
    small window around ``(x, y)``, widened until some paint is found.

    Args:
        reference: ``uint8`` RGB ``[h, w, 3]``.
        ref_ink: ``bool`` ``[h, w]`` the reference's strokes.
        x: column of the pin on the reference.
        y: row of the pin on the reference.

    Returns:
        ``uint8`` ``[3]``.
    """
    h, w = ref_ink.shape
    for r in (max(1, min(h, w) // 200), max(2, min(h, w) // 80), max(4, min(h, w) // 30)):
        sl = (slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1))
        sel = ~ref_ink[sl]
        if sel.any():
            return np.median(reference[sl][sel], axis=0).astype(np.uint8)
    return reference[y, x].copy()


def colorize(line_art: np.ndarray, reference: np.ndarray, params: ColorizeParams | None = None,
             reference_face: np.ndarray | None = None) -> ColorizeResult:
    """Colour a lianpu line drawing from a reference lianpu (classical, aligned by content).

    Steps: close small stroke gaps and find the closed regions and the face
    (:func:`sketch_regions`); take the reference's strokes with the same extractor
    (``params.extractor``, :func:`reference_lines`; cached per reference,
    :func:`analyse_reference`); align the reference to the sketch by content — face boxes,
    symmetry axes, then feature rows and columns (:func:`engine.studios.opera.matching.content_warp`);
    give each region the mode paint of the aligned reference inside it, a region and its mirror
    voting together, regions without a counterpart taking the nearest paint, pins first
    (:func:`engine.studios.opera.matching.match_colours`); blend with the sketch's own fills by
    ``params.reference_strength``; darken by the original line art so the strokes stay crisp on
    top. Outside the face is white paper.

    Args:
        line_art: ``uint8`` grey ``[H, W]`` (or RGB/RGBA) sketch, dark lines on light paper; an RGB
            sketch's own fills are what ``reference_strength < 1`` blends with.
        reference: ``uint8`` RGB ``[h, w, 3]`` or RGBA reference lianpu (any size).
        params: see :class:`~engine.studios.opera.params.ColorizeParams` (default: its defaults).
        reference_face: optional ``bool`` face mask of the reference.

    Returns:
        :class:`ColorizeResult` (colour image, warped exemplar, regions, face mask, affine).

    Raises:
        ValueError: bad dtype/shape or parameters.

    Example:
        >>> from engine.procedural.lianpu import generate_lianpu
        >>> d = generate_lianpu(5, size=128)
        >>> res = colorize(d.line_art, d.image)
        >>> res.image.shape, bool(np.abs(res.image.astype(int) - d.image).mean() < 20)
        ((128, 128, 3), True)
    """
    from engine.studios.opera.matching import content_warp, match_colours, symmetry_axis

    grey = line_grey(line_art)
    p = (ColorizeParams() if params is None else params).validate()
    regions, face = sketch_regions(grey, p)
    ink = grey < p.line_level
    ref = analyse_reference(reference, p.extractor)
    rgb, ref_ink = ref.rgb, ref.ink
    ref_axis: float | None = ref.axis
    if reference_face is not None:
        reference_face, ref_axis = np.asarray(reference_face, bool), None
    else:
        reference_face = ref.face
    if reference_face.shape != rgb.shape[:2]:
        raise ValueError(f"reference_face shape {reference_face.shape} does not match reference {rgb.shape[:2]}")
    axis = symmetry_axis(ink, face)
    maps = content_warp(ref_ink, reference_face, ink, face, ref_axis=ref_axis, axis=axis)
    warped = maps.apply(rgb, border=(255, 255, 255))
    warped_face = maps.apply(reference_face.astype(np.uint8), nearest=True, border=0) > 0
    warped_ink = maps.apply(ref_ink.astype(np.uint8), nearest=True, border=0) > 0
    h, w = grey.shape
    rh, rw = rgb.shape[:2]
    pin_list = []
    for pin in p.pins:
        pin.validate()
        sx, sy = min(w - 1, int(pin.sketch_x * w)), min(h - 1, int(pin.sketch_y * h))
        rx, ry = min(rw - 1, int(pin.ref_x * rw)), min(rh - 1, int(pin.ref_y * rh))
        pin_list.append((sx, sy, pin_paint(rgb, ref_ink, rx, ry)))
    gap = max(1, round(min(h, w) / 256)) if p.gap is None else int(p.gap)
    regions, colours, shade = match_colours(regions, face, ink, axis, warped, warped_face, warped_ink, pin_list, gap)
    if p.reference_strength < 1.0:
        own = region_colours(regions, _sketch_fill(line_art, ink), p.quant_bits)
        colours = np.clip(p.reference_strength * colours.astype(np.float32)
                          + (1.0 - p.reference_strength) * own.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
        shade *= np.float32(p.reference_strength)
    shading = shade if p.shading else None
    image = compose(_stroke_grey(line_art, grey, p.line_level), regions, colours, face, shading)
    return ColorizeResult(image=image, warped_reference=warped, regions=regions, face_mask=face,
                          affine=maps.affine, colours=colours, shading=shading)


def _stroke_grey(line_art: np.ndarray, grey: np.ndarray, level: int) -> np.ndarray:
    """The strokes to darken the colouring with: ``grey`` itself for line art, and for a sketch
    with painted fills only its strokes (a fill is not ink, however dark its value)."""
    arr = np.asarray(line_art)
    if arr.ndim != 3 or arr.shape[2] < 3:
        return grey
    rgb = arr[:, :, :3]
    chroma = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    if (chroma > 40).mean() < 0.005:
        return grey
    return np.where(grey < level, grey, np.uint8(255))


def _sketch_fill(line_art: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The sketch's own paint (RGB sketches; white paper for grey ones), strokes replaced by the
    nearest paint so they do not vote."""
    arr = np.asarray(line_art)
    if arr.ndim == 2:
        return np.full(arr.shape + (3,), 255, np.uint8)
    rgb = as_rgb(arr, "line_art")
    if ink.all() or not ink.any():
        return rgb
    from scipy import ndimage

    _, idx = ndimage.distance_transform_edt(ink, return_indices=True)
    return rgb[idx[0], idx[1]]


def compose(line_art: np.ndarray, regions: np.ndarray, colours: np.ndarray, face: np.ndarray,
            shading: np.ndarray | None = None) -> np.ndarray:
    """Paint regions with flat colours (plus optional shading) and darken by the line art (strokes
    stay crisp, on top).

    Args:
        line_art: ``uint8`` grey ``[H, W]``, 255 paper.
        regions: ``int32`` ``[H, W]`` region ids.
        colours: ``uint8`` ``[n, 3]`` colour per id.
        face: ``bool`` ``[H, W]``; white paper outside.
        shading: optional ``float32`` ``[H, W, 3]`` added to the fill before the strokes.

    Returns:
        ``uint8`` RGB ``[H, W, 3]``.
    """
    fill = colours[regions].astype(np.float32)
    if shading is not None:
        fill += shading
        np.clip(fill, 0, 255, out=fill)
    fill[~face] = 255
    ink = line_art.astype(np.float32)[..., None] * np.float32(1.0 / 255.0)  # 1 paper, 0 line
    fill -= np.float32(LINE_INK)  # fill·ink + LINE_INK·(1 − ink), in place
    fill *= ink
    fill += np.float32(LINE_INK + 0.5)
    return np.clip(fill, 0, 255).astype(np.uint8)


def recolour_region(result: ColorizeResult, line_art: np.ndarray, x: int, y: int,
                    rgb: tuple[int, int, int]) -> ColorizeResult:
    """Fill the closed region under pixel ``(x, y)`` with ``rgb`` (the panel's hand recolouring).

    Only that region's pixels are repainted (flat ``rgb`` darkened by the strokes, as
    :func:`compose` paints), so it works on any result whose ``regions`` are the sketch's closed
    regions: a classical :func:`colorize` result (where it equals re-composing the whole image) or
    a learned colouring, whose other pixels stay as the network painted them.

    Args:
        result: a colouring of ``line_art`` with its closed regions and face mask.
        line_art: the sketch it was made from.
        x: column of the clicked pixel.
        y: row of the clicked pixel.
        rgb: new paint, three ints in 0–255.

    Returns:
        A new :class:`ColorizeResult`; ``result`` is unchanged.

    Raises:
        ValueError: the point is outside the image or outside the face.
    """
    h, w = result.regions.shape
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"point ({x}, {y}) is outside the {w}×{h} image")
    if not result.face_mask[y, x]:
        raise ValueError("that point is outside the face: nothing to fill")
    rid = result.regions[y, x]
    paint = np.clip(np.asarray(rgb, np.int64), 0, 255).astype(np.uint8)
    colours = result.colours.copy()
    colours[rid] = paint
    mask = (result.regions == rid) & result.face_mask
    ink = line_grey(line_art)[mask].astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
    image = result.image.copy()
    image[mask] = np.clip(paint.astype(np.float32)[None] * ink + np.float32(LINE_INK) * (1.0 - ink) + 0.5,
                          0, 255).astype(np.uint8)
    shading = None
    if result.shading is not None:  # a hand fill is flat paint
        shading = result.shading.copy()
        shading[mask] = 0.0
    return replace(result, image=image, colours=colours, shading=shading)
