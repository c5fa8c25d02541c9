"""Opera studio engine: XDoG line art, main-colour classification, colouring from a reference.

Colouring is classical here; the trained CoCosNet runs through :mod:`engine.studios.opera.learned`.

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

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping, Optional

import cv2
import numpy as np

from engine.cancel import CancelToken
from engine.errors import EditorStateError
from engine.studios.base import Editor, EditResult


@dataclass(frozen=True)
class XDoGParams:
    """Parameters of :func:`xdog` (all in full-resolution pixels / unit-range luminance).

    Args:
        sigma: σ, standard deviation of the inner Gaussian in pixels (> 0). Larger = thicker,
            fewer lines.
        k: ratio of the outer to the inner Gaussian (> 1); 1.6 approximates a Laplacian of Gaussian.
        gamma: γ (the τ of Winnemöller 2011) weight of the outer Gaussian, in (0, 1.2]. Closer to 1
            = fewer responses on smooth shading.
        epsilon: ε, level of D above which a pixel is white paper; raise it for more/darker lines.
        phi: φ, steepness of the soft threshold (> 0); large values give crisp black/white.
        threshold: if set (0–1), binarise the result at this level: pure line art, 0 or 255.
    """

    sigma: float = 0.8
    k: float = 1.6
    gamma: float = 0.98
    epsilon: float = -0.005
    phi: float = 200.0
    threshold: Optional[float] = None

    def validate(self) -> "XDoGParams":
        """Raise ``ValueError`` with a clear message if a parameter is out of range."""
        if not (self.sigma > 0 and np.isfinite(self.sigma)):
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if not (self.k > 1 and np.isfinite(self.k)):
            raise ValueError(f"k must be > 1, got {self.k}")
        if not (0 < self.gamma <= 1.2):
            raise ValueError(f"gamma must be in (0, 1.2], got {self.gamma}")
        if not (self.phi > 0 and np.isfinite(self.phi)):
            raise ValueError(f"phi must be > 0, got {self.phi}")
        if not np.isfinite(self.epsilon):
            raise ValueError(f"epsilon must be finite, got {self.epsilon}")
        if self.threshold is not None and not (0.0 <= self.threshold <= 1.0):
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        return self

    def scaled(self, scale: float) -> "XDoGParams":
        """The same look on an image resized by ``scale`` (σ in pixels follows the size)."""
        return replace(self, sigma=max(0.3, self.sigma * scale))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "XDoGParams":
        """Build from a mapping, rejecting unknown keys (typos in batch grids fail loudly)."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown XDoG parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
        return cls(**{k: (None if v is None else float(v)) for k, v in d.items()}).validate()


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


def xdog(image: np.ndarray, params: XDoGParams = XDoGParams()) -> np.ndarray:
    """Extended difference-of-Gaussians line art.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA (alpha ignored) or grey ``[H, W]``, any size.
        params: see :class:`XDoGParams`.

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
    p = params.validate()
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


class LineArtEditor(Editor[XDoGParams]):
    """Line art from a picture (opera masks, photos) by XDoG; classical, any CPU.

    Example:
        >>> ed = LineArtEditor()
        >>> ed.set_image(np.zeros((64, 64, 3), np.uint8))
        >>> ed.edit(XDoGParams()).image.shape
        (64, 64)
    """

    backends = ("classical",)
    preview_sides = (384,)

    def _run(self, image: np.ndarray, params: XDoGParams, scale: float,
             cancel: Optional[CancelToken]) -> EditResult:
        line = xdog(image, params.scaled(scale))
        return EditResult(image=line, masks={"lines": line < 128},
                          info={"backend": "classical", "device": "cpu", "method": "xdog"})



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
    from engine.studios.base import validate_rgb

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
        backend: which classifier ran (``"classical"``).
    """

    colour: str
    scores: dict[str, float]
    meaning: str
    backend: str = "classical"


def classify_main_colour(image: np.ndarray, mask: Optional[np.ndarray] = None) -> ColourClass:
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

    rgb = _as_rgb(image, "image")
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

def _as_rgb(image: np.ndarray, name: str) -> np.ndarray:
    """RGB(A)/grey ``uint8`` → RGB composited on white paper.

    The alpha channel is not a face mask: published lianpu PNGs leave white paint transparent.
    """
    from engine.studios.base import validate_rgb

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


def face_mask_from_image(image: np.ndarray, paper_level: int = 235, gap: Optional[int] = None) -> np.ndarray:
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
    rgb = _as_rgb(image, "image")
    paper = (rgb >= paper_level).all(axis=2)
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
class ColorizeParams:
    """Parameters of :func:`colorize`.

    Args:
        line_level: line-art grey level below which a pixel is a line (0–255).
        gap: radius in pixels of the stroke gaps that are closed before finding regions; ``None``
            = about 1/256 of the short side (2 px at 512²). 0 disables gap closing.
        quant_bits: bits per channel of the colour histogram that picks each region's colour
            (3–6); fewer bits = more tolerant of shading.
        min_face_fraction: the sketch face must cover at least this share of the image,
            otherwise the whole image is treated as the face.
    """

    line_level: int = 128
    gap: Optional[int] = None
    quant_bits: int = 4
    min_face_fraction: float = 0.02

    def validate(self) -> "ColorizeParams":
        """Raise ``ValueError`` on out-of-range values."""
        if not 1 <= int(self.line_level) <= 254:
            raise ValueError(f"line_level must be in [1, 254], got {self.line_level}")
        if self.gap is not None and not 0 <= int(self.gap) <= 32:
            raise ValueError(f"gap must be in [0, 32] pixels, got {self.gap}")
        if not 3 <= int(self.quant_bits) <= 6:
            raise ValueError(f"quant_bits must be in [3, 6], got {self.quant_bits}")
        if not 0.0 <= self.min_face_fraction < 1.0:
            raise ValueError(f"min_face_fraction must be in [0, 1), got {self.min_face_fraction}")
        return self


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
    """

    image: np.ndarray
    warped_reference: np.ndarray
    regions: np.ndarray
    face_mask: np.ndarray
    affine: np.ndarray
    colours: np.ndarray

    def rgba(self) -> np.ndarray:
        """``uint8`` ``[H, W, 4]``: the colour image, transparent outside the face."""
        return np.dstack([self.image, np.where(self.face_mask, 255, 0).astype(np.uint8)])


def _line_grey(line_art: np.ndarray) -> np.ndarray:
    arr = np.asarray(line_art)
    if arr.dtype != np.uint8:
        raise ValueError(f"line_art must be uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 4:
        a = arr[:, :, 3].astype(np.float32) / 255.0
        grey = cv2.cvtColor(np.ascontiguousarray(arr[:, :, :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return (grey * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)
    if arr.ndim == 2:
        return arr
    raise ValueError(f"line_art must be [H, W] grey or RGB, got shape {arr.shape}")


def sketch_regions(line_art: np.ndarray, params: ColorizeParams = ColorizeParams()) -> tuple[np.ndarray, np.ndarray]:
    """Closed regions of a line drawing, with small stroke gaps closed first.

    Regions are the connected paper areas after the lines are thickened by ``gap`` (so a gap up to
    about ``2·gap`` pixels wide does not let one region leak into the next); they then grow back
    to the original strokes (each stroke pixel joins its nearest region). Thin paper strips that
    the thickening swallowed entirely stay regions of their own. The face is found as in
    :func:`face_mask_from_image` (wider gaps of the outline closed, convex hull for open outlines);
    regions are cut at its edge.

    Args:
        line_art: ``uint8`` grey ``[H, W]`` (or RGB) line drawing, dark lines on light paper.
        params: see :class:`ColorizeParams`.

    Returns:
        ``(regions, face)``: ``int32`` ``[H, W]`` region ids (0 = outside the face, ids ≥ 1 inside,
        every pixel assigned) and ``bool`` ``[H, W]`` face mask.
    """
    p = params.validate()
    grey = _line_grey(line_art)
    if grey.size == 0:
        raise ValueError("line_art is empty")
    h, w = grey.shape
    gap = max(1, round(min(h, w) / 256)) if p.gap is None else int(p.gap)
    lines = (grey < p.line_level).astype(np.uint8)
    if gap > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1, 2 * gap + 1))
        thick = cv2.dilate(lines, k)
    else:
        thick = lines
    n_seed, seeds = cv2.connectedComponents((thick == 0).astype(np.uint8), connectivity=4)
    if n_seed <= 1:  # all lines: one region
        return np.ones((h, w), np.int32), np.ones((h, w), bool)
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
    # the face: paper not reachable from the border once the outline's gaps are closed
    face = face_mask_from_image(np.repeat(grey[:, :, None], 3, axis=2), paper_level=p.line_level)
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
                    reference_face: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
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
    rgb = _as_rgb(reference, "reference")
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


def colorize(line_art: np.ndarray, reference: np.ndarray, params: ColorizeParams = ColorizeParams(),
             reference_face: Optional[np.ndarray] = None) -> ColorizeResult:
    """Colour a lianpu line drawing from a reference lianpu (classical region correspondence).

    Steps: close small stroke gaps and find the closed regions (:func:`sketch_regions`); align the
    reference to the sketch's face (:func:`align_reference`); give each region the dominant
    colour of the aligned reference inside it (:func:`region_colours`); darken by the original
    line art so the strokes stay crisp. Outside the face is white paper.

    Args:
        line_art: ``uint8`` grey ``[H, W]`` (or RGB/RGBA) sketch, dark lines on light paper.
        reference: ``uint8`` RGB ``[h, w, 3]`` or RGBA reference lianpu (any size).
        params: see :class:`ColorizeParams`.
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
    grey = _line_grey(line_art)
    regions, face = sketch_regions(grey, params)
    warped, affine = align_reference(reference, face, reference_face)
    colours = region_colours(regions, warped, params.quant_bits)
    image = compose(grey, regions, colours, face)
    return ColorizeResult(image=image, warped_reference=warped, regions=regions, face_mask=face,
                          affine=affine, colours=colours)


def compose(line_art: np.ndarray, regions: np.ndarray, colours: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Paint regions with flat colours and darken by the line art (strokes stay crisp).

    Args:
        line_art: ``uint8`` grey ``[H, W]``, 255 paper.
        regions: ``int32`` ``[H, W]`` region ids.
        colours: ``uint8`` ``[n, 3]`` colour per id.
        face: ``bool`` ``[H, W]``; white paper outside.

    Returns:
        ``uint8`` RGB ``[H, W, 3]``.
    """
    fill = colours[regions]
    fill[~face] = 255
    ink = line_art.astype(np.float32)[..., None] * np.float32(1.0 / 255.0)  # 1 paper, 0 line
    out = fill.astype(np.float32) * ink + np.float32(LINE_INK) * (1.0 - ink)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


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
    ink = _line_grey(line_art)[mask].astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
    image = result.image.copy()
    image[mask] = np.clip(paint.astype(np.float32)[None] * ink + np.float32(LINE_INK) * (1.0 - ink) + 0.5,
                          0, 255).astype(np.uint8)
    return replace(result, image=image, colours=colours)


def resolve_colorize_backend(requested: str) -> tuple[str, str]:
    """The colouring backend that runs for ``requested`` (``classical`` / ``neural`` / ``auto``) and why.

    ``auto`` picks the trained CoCosNet only when its card says it measured better than the classical
    engine (see :func:`engine.studios.opera.learned.resolve_colorize_backend`).

    Raises:
        ValueError: unknown backend, or ``"neural"`` without a trained checkpoint.
    """
    if requested == "classical":  # no checkpoint look-up needed
        return "classical", "classical region correspondence requested"
    from engine.studios.opera.learned import resolve_colorize_backend as resolve

    return resolve(requested)


class ColorizeEditor(Editor[ColorizeParams]):
    """Colour a line drawing (the image) from a reference lianpu: classical region correspondence or
    the trained CoCosNet-style network.

    ``set_image`` takes the sketch (grey line art expanded to RGB is fine), ``set_reference`` the
    exemplar; ``edit`` returns the coloured sketch, with the warped exemplar in
    ``info["warped_reference"]`` (for ``neural``: the network's ``r_{y→x}`` at the image size),
    ``info["backend"]``, ``info["method"]``, ``info["note"]`` (why that backend runs) and, for the
    classical engine, the :class:`ColorizeResult` in ``info["colorize"]``.

    Args:
        backend: ``"classical"``, ``"neural"`` (``ValueError`` at edit time without a trained
            checkpoint) or ``"auto"`` (neural only when its card says it measured better).

    Example:
        >>> from engine.procedural.lianpu import generate_lianpu
        >>> d = generate_lianpu(2, size=96)
        >>> ed = ColorizeEditor(); ed.set_image(d.line_art); ed.set_reference(d.image)
        >>> ed.edit(ColorizeParams()).image.shape
        (96, 96, 3)
    """

    backends = ("classical", "neural")
    preview_sides = (256,)

    def __init__(self, backend: str = "auto") -> None:
        super().__init__(backend)
        self._reference: Optional[np.ndarray] = None

    @property
    def backend(self) -> str:
        """The backend that runs now (``auto`` resolved from the CoCosNet card)."""
        try:
            return resolve_colorize_backend(self.requested_backend)[0]
        except ValueError:
            return "neural"

    @property
    def backend_note(self) -> str:
        """Which backend runs and why (or why ``neural`` cannot run), for info lines."""
        try:
            return resolve_colorize_backend(self.requested_backend)[1]
        except ValueError as exc:
            return str(exc)

    def set_reference(self, reference: np.ndarray) -> None:
        """The exemplar to take colours from: ``uint8`` RGB or RGBA, any size."""
        self._reference = _as_rgb(reference, "reference")

    @property
    def reference(self) -> np.ndarray:
        """The current exemplar."""
        if self._reference is None:
            raise EditorStateError(f"{type(self).__name__}: call set_reference() before editing")
        return self._reference

    def _run(self, image: np.ndarray, params: ColorizeParams, scale: float,
             cancel: Optional[CancelToken]) -> EditResult:
        backend, why = resolve_colorize_backend(self.requested_backend)
        if backend == "neural":
            from engine.studios.opera.learned import (
                colorize_neural,
                load_cocosnet,
                model_side,
            )

            model, card = load_cocosnet()
            side = model_side(card)
            p = params if params.gap is None else replace(params, gap=max(0, round(params.gap * scale)))
            out, warped = colorize_neural(_line_grey(image), self.reference, model, side)
            regions, face = sketch_regions(image, p)  # the sketch's closed regions: the fill tool works the same
            res = ColorizeResult(image=out, warped_reference=warped, regions=regions, face_mask=face,
                                 affine=np.eye(2, 3), colours=region_colours(regions, out))
            return EditResult(image=out, masks={"face": face},
                              info={"backend": "neural", "device": "cpu", "method": f"cocosnet ({side}² network)",
                                    "warped_reference": warped, "colorize": res, "note": why})
        p = params if params.gap is None else replace(params, gap=max(0, round(params.gap * scale)))
        res = colorize(image, self.reference, p)
        return EditResult(image=res.image, masks={"face": res.face_mask},
                          info={"backend": "classical", "device": "cpu", "method": "region-correspondence",
                                "regions": int(res.regions.max()), "warped_reference": res.warped_reference,
                                "colorize": res, "note": why})
