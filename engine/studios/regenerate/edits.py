"""Label-map editing for the Regenerate studio: file I/O in both orders, and edit operations.

Label maps are ``uint8`` ``[H, W]`` in the official CelebAMask-HQ order (:data:`engine.labels.CELEBAMASK_HQ`).
Files are mode-L PNGs holding the label values (official order unless told otherwise); a colour PNG
painted with :data:`~engine.labels.CELEBAMASK_HQ_PALETTE` is read back through the palette.

Edit operations (used by ``masquerade parse-edit`` and ``masquerade batch regenerate``) are written
as a chain ``op:arg:arg;op:arg`` — see :func:`parse_edits`:

=========================== =====================================================================
``dilate:LABELS:PX``        grow the labels by ``PX`` pixels over background/skin/hair/neck/cloth/hat
``erode:LABELS:PX``         shrink the labels by ``PX`` pixels; freed pixels take the nearest other label
``scale:LABELS:F``          scale each label's region by ``F`` about its centroid (``1.3`` = bigger eyes)
``smile:PX``                bend the lips (and mouth) so the corners rise by ``PX`` pixels
``swap:A:B``                exchange two labels
``relabel:A:B``             every ``A`` pixel becomes ``B``
``add:glasses[:STYLE][:A]`` add ``eye_g`` spectacles (lenses + frames + bridge, CelebAMask-HQ
                            style); ``STYLE`` ``rect`` (default) / ``round`` / ``aviator``, ``A``
                            ``arms`` (default) / ``noarms`` for the temple arms
=========================== =====================================================================

``LABELS`` is one label name or several joined by ``+`` (``l_eye+r_eye``). Numbers are checked
against :data:`EDIT_RANGES` when the chain is parsed: ``PX`` of ``dilate`` / ``erode`` in [1, 1024],
``F`` of ``scale`` in [0.2, 5], ``PX`` of ``smile`` in [-256, 256]. Radii over
:data:`DISK_KERNEL_MAX` pixels grow or shrink through a Euclidean distance transform, so the time
does not depend on the radius.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.errors import ImageLoadError
from engine.imageio import atomic_write_bytes
from engine.labels import BISENET, CELEBAMASK_HQ, convert_labels
from engine.studios.ranges import Range

PathLike = str | Path

ORDERS = ("official", "bisenet")
"""Label orders a mask file can be in: official CelebAMask-HQ or face-parsing.PyTorch (BiSeNet)."""

FACE_PARTS: tuple[str, ...] = (
    "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth", "u_lip", "l_lip", "ear_r",
)
"""Compact face components (warped as a whole by the regenerator; never overwritten by ``dilate``)."""

GROWABLE: tuple[str, ...] = ("background", "hair", "neck", "cloth", "hat")
"""Labels that ``dilate`` may paint over by default (face parts may also grow over ``skin``)."""

EDIT_RANGES: dict[str, Range] = {
    "dilate": Range(1, 1024, integer=True, unit="px"),
    "erode": Range(1, 1024, integer=True, unit="px"),
    "scale": Range(0.2, 5.0),
    "smile": Range(-256.0, 256.0, unit="px"),
}
"""Valid range of the number of each edit operation (``dilate:hair:PX`` ...), checked by
:func:`parse_edits` and by the operations themselves."""

DISK_KERNEL_MAX = 32
"""Largest radius (px) grown or shrunk with an elliptical structuring element (cost ∝ radius²);
larger radii use a distance transform (cost independent of the radius, the same Euclidean disk up to
rounding on its rim)."""


# --- file I/O ----------------------------------------------------------------------------------

def load_label_map(path: PathLike, order: str = "official") -> np.ndarray:
    """Read a label-map image and return it in the official order.

    Args:
        path: a PNG (mode L/P: label values; RGB: CelebAMask-HQ palette colours).
        order: ``"official"`` or ``"bisenet"``: the order of the values in a grey file (colour files
            are always read through the official palette).

    Returns:
        ``uint8`` ``[H, W]`` official-order label map.

    Raises:
        ImageLoadError: unreadable file, or values ≥ 19.
        ValueError: unknown ``order``.
    """
    from engine.imageio import open_image

    if order not in ORDERS:
        raise ValueError(f"mask order must be one of {ORDERS}, got {order!r}")
    p = Path(path)
    im = open_image(p)  # missing / folder / not an image / oversized: one clear ImageLoadError
    try:
        with im:
            im.load()
            if im.mode in ("L", "P", "I", "I;16"):
                arr = np.asarray(im)  # mode P: the palette indices are the label values
                colour = False
            else:
                arr = np.asarray(im.convert("RGB"))
                colour = True
    except (OSError, ValueError) as exc:
        raise ImageLoadError(f"{p}: cannot read label map ({exc})") from None
    if colour:
        if np.all(arr[:, :, 0] == arr[:, :, 1]) and np.all(arr[:, :, 1] == arr[:, :, 2]):
            arr = arr[:, :, 0]  # an RGB file holding grey label values
        else:
            return _labels_from_colour_file(arr, p)
    arr = np.asarray(arr)
    if arr.size and int(arr.max()) >= len(CELEBAMASK_HQ):
        raise ImageLoadError(f"{p}: label values must be 0..18, found {int(arr.max())} "
                             "(is this a label map, or a colour view saved as grey?)")
    arr = arr.astype(np.uint8)
    return arr if order == "official" else convert_labels(arr, BISENET, CELEBAMASK_HQ)


LABEL_MAP_EXTENSIONS: tuple[str, ...] = (".png", ".bmp", ".tif", ".tiff")
"""Lossless formats a label map may be written in (JPEG/WebP would blur the label values)."""


def check_label_map_path(path: PathLike) -> Path:
    """Check before any work that a label map can be written to ``path`` (lossless extension,
    existing writable folder).

    Raises:
        ImageSaveError: a lossy or unknown extension, or a folder problem (see
            :func:`engine.imageio.check_output_file`).
    """
    from engine.errors import ImageSaveError
    from engine.imageio import check_output_file

    p = Path(path)
    if p.suffix.lower() not in LABEL_MAP_EXTENSIONS:
        raise ImageSaveError(f"{p}: a label map needs a lossless format ({', '.join(LABEL_MAP_EXTENSIONS)}), "
                             f"not {p.suffix or 'no extension'!r}")
    return check_output_file(p)


COLOUR_TOLERANCE = 40.0
"""Largest RGB distance from a palette colour at which a colour label-map pixel still counts as that
label (JPEG noise, soft edges); farther pixels are not label colours."""

MAX_OFF_PALETTE = 0.25
"""Share of non-label-colour pixels above which a colour file is refused as a label map (a JPEG of a
small colour view measured ~8% along its region edges, the astronaut photo 75%)."""


def _labels_from_colour_file(rgb: np.ndarray, path: Path) -> np.ndarray:
    """Labels of a colour label-map file (nearest CelebAMask-HQ palette colour per pixel).

    Raises:
        ImageLoadError: more than :data:`MAX_OFF_PALETTE` of the pixels are farther than
            :data:`COLOUR_TOLERANCE` from every palette colour (a photo or another picture given as
            a mask).
    """
    from engine.labels import CELEBAMASK_HQ_PALETTE

    flat = rgb.reshape(-1, 3).astype(np.int32)
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    colours, inverse = np.unique(packed, return_inverse=True)  # a mask has few colours: work per colour
    cols = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], 1)
    d2 = ((cols[:, None, :] - CELEBAMASK_HQ_PALETTE.astype(np.int32)[None]) ** 2).sum(-1)
    nearest = d2.argmin(1).astype(np.uint8)
    off = np.sqrt(d2.min(1)) > COLOUR_TOLERANCE
    share = float(np.bincount(inverse.ravel(), minlength=len(colours))[off].sum()) / max(1, len(packed))
    if share > MAX_OFF_PALETTE:
        raise ImageLoadError(f"{path}: not a label map: {100 * share:.0f}% of its pixels are not label colours "
                             "(use a parse-edit mask or its --color-out view)")
    return nearest[inverse.ravel()].reshape(rgb.shape[:2])


def save_label_map(path: PathLike, labels: np.ndarray, order: str = "official") -> Path:
    """Write a label map as a mode-L PNG (atomically).

    Args:
        path: target ``.png``.
        labels: ``uint8`` ``[H, W]`` official-order map.
        order: order of the values written (``"official"`` or ``"bisenet"``).

    Returns:
        The written path.

    Raises:
        ImageSaveError: a lossy or unknown extension (see :func:`check_label_map_path`) or a write
            failure.
    """
    return atomic_write_bytes(path, encode_label_map(path, labels, order))


def encode_label_map(path: PathLike, labels: np.ndarray, order: str = "official") -> bytes:
    """The bytes :func:`save_label_map` writes to ``path`` (for writing several files as one set).

    Raises:
        ImageSaveError: a lossy or unknown extension.
        ValueError: unknown ``order`` or labels that are not a valid map.
    """
    from engine.imageio import encode_for_path

    if order not in ORDERS:
        raise ValueError(f"mask order must be one of {ORDERS}, got {order!r}")
    if Path(path).suffix.lower() not in LABEL_MAP_EXTENSIONS:
        check_label_map_path(path)  # raises the lossy-format error
    arr = check_labels(labels)
    if order == "bisenet":
        arr = convert_labels(arr, CELEBAMASK_HQ, BISENET)
    return encode_for_path(path, arr)


def check_labels(labels: np.ndarray, name: str = "label map") -> np.ndarray:
    """Validate an official-order label map: 2-D integers in 0..18; returns it as ``uint8``."""
    arr = np.asarray(labels)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a 2-D integer array, got {arr.dtype} {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= len(CELEBAMASK_HQ)):
        raise ValueError(f"{name} values must be 0..18 (official CelebAMask-HQ order)")
    return np.ascontiguousarray(arr, dtype=np.uint8)


# --- edit operations ---------------------------------------------------------------------------

def _ids(names: Sequence[str]) -> list[int]:
    return [CELEBAMASK_HQ.index(n) for n in names]


def _disk(px: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` (``uint8`` 0/1) dilated by a disk of radius ``px``, as bool; a distance transform
    above :data:`DISK_KERNEL_MAX` so that huge radii cost no more than small ones."""
    if px <= DISK_KERNEL_MAX:
        return cv2.dilate(mask, _disk(px)).astype(bool)
    if not mask.any():
        return np.zeros(mask.shape, bool)
    dist = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist <= px


def _shrink(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` (``uint8`` 0/1) eroded by a disk of radius ``px`` (outside the image counts as set,
    like :func:`cv2.erode`), as bool; a distance transform above :data:`DISK_KERNEL_MAX`."""
    if px <= DISK_KERNEL_MAX:
        return cv2.erode(mask, _disk(px)).astype(bool)
    if not (mask == 0).any():
        return mask.astype(bool)
    dist = cv2.distanceTransform((mask != 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist > px


def fill_nearest(labels: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Give every ``holes`` pixel the label of the nearest non-hole pixel.

    Args:
        labels: ``uint8`` ``[H, W]``.
        holes: bool ``[H, W]``.

    Returns:
        New label map.
    """
    out = labels.copy()
    if not holes.any() or holes.all():
        return out
    _, idx = cv2.distanceTransformWithLabels(holes.astype(np.uint8), cv2.DIST_L2, 5,
                                             labelType=cv2.DIST_LABEL_PIXEL)
    keep = labels[~holes]  # raster order == label order of DIST_LABEL_PIXEL
    out[holes] = keep[idx[holes] - 1]
    return out


def main_body(mask: np.ndarray, keep: float = 0.05) -> np.ndarray:
    """The solid part of a region: opened (3×3), components smaller than ``keep`` × the largest dropped.

    Parsers leave speckles (stray hair pixels on a dark collar); growing those would paint blobs.
    Falls back to ``mask`` itself when opening removes everything (thin or tiny regions).
    """
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, comp, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if n <= 1:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = np.flatnonzero(areas >= keep * areas.max()) + 1
    return np.isin(comp, big)


def dilate(labels: np.ndarray, names: Sequence[str], px: int, into: Sequence[str] | None = None) -> np.ndarray:
    """Grow the regions of ``names`` by ``px`` pixels over the labels in ``into``.

    Args:
        labels: official-order map.
        names: labels to grow.
        px: radius in pixels, in ``EDIT_RANGES["dilate"]`` ([1, 1024]).
        into: labels that may be painted over; default :data:`GROWABLE`, plus ``skin`` for face parts.

    Returns:
        New label map.

    Raises:
        ValueError: ``px`` out of range, or a bad label map.
    """
    EDIT_RANGES["dilate"].check("dilate radius", px)
    out = check_labels(labels).copy()
    for n in names:
        i = CELEBAMASK_HQ.index(n)
        over = into if into is not None else GROWABLE + (("skin",) if n in FACE_PARTS else ())
        allowed = np.isin(out, _ids(over))
        grown = _grow(main_body(out == i).astype(np.uint8), px)
        out[grown & allowed & (out != i)] = i
    return out


def erode(labels: np.ndarray, names: Sequence[str], px: int) -> np.ndarray:
    """Shrink the regions of ``names`` by ``px`` pixels (``EDIT_RANGES["erode"]``, [1, 1024]); freed
    pixels take the nearest other label.

    Raises:
        ValueError: ``px`` out of range, or a bad label map.
    """
    EDIT_RANGES["erode"].check("erode radius", px)
    out = check_labels(labels).copy()
    for n in names:
        m = out == CELEBAMASK_HQ.index(n)
        solid = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_CLOSE, _disk(3))  # ignore parsing speckle holes
        kept = _shrink(solid, px) & m
        out = fill_nearest(out, m)  # freed pixels take the nearest *other* label
        out[kept] = CELEBAMASK_HQ.index(n)
    return out


def scale(labels: np.ndarray, names: Sequence[str], factor: float) -> np.ndarray:
    """Scale each named region about its own centroid (``factor`` > 1 enlarges).

    The scaled shape is painted over whatever lies under it; pixels a region no longer covers take
    the nearest other label.
    """
    EDIT_RANGES["scale"].check("scale factor", factor)
    out = check_labels(labels).copy()
    for n in names:
        i = CELEBAMASK_HQ.index(n)
        m = (out == i).astype(np.uint8)
        if not m.any():
            continue
        ys, xs = np.nonzero(m)
        cx, cy = xs.mean(), ys.mean()
        mat = np.array([[factor, 0, cx * (1 - factor)], [0, factor, cy * (1 - factor)]], np.float32)
        new = cv2.warpAffine(m, mat, (m.shape[1], m.shape[0]), flags=cv2.INTER_NEAREST).astype(bool)
        out = fill_nearest(out, m.astype(bool))  # freed pixels take the nearest *other* label
        out[new] = i
    return out


def smile(labels: np.ndarray, px: float, names: Sequence[str] = ("u_lip", "l_lip", "mouth")) -> np.ndarray:
    """Bend the lips so that their corners rise by ``px`` pixels (negative: a frown).

    Each column of the lip region moves up by ``px · ((x - cx) / half_width)²``; ``px`` in
    ``EDIT_RANGES["smile"]`` ([-256, 256]).

    Raises:
        ValueError: ``px`` out of range, or a map without lips.
    """
    EDIT_RANGES["smile"].check("smile", px)
    out = check_labels(labels).copy()
    ids = _ids(names)
    m = np.isin(out, ids)
    if not m.any():
        raise ValueError("the label map has no lips to bend")
    ys, xs = np.nonzero(m)
    cx, hw = (xs.min() + xs.max()) / 2.0, max(1.0, (xs.max() - xs.min()) / 2.0)
    shift = np.rint(px * ((xs - cx) / hw) ** 2).astype(int)
    vals = out[ys, xs]
    out = fill_nearest(out, m)
    ny = np.clip(ys - shift, 0, out.shape[0] - 1)
    out[ny, xs] = vals
    # close the one-pixel gaps a column shift can leave
    closed = np.zeros_like(out)
    for i in ids:
        r = cv2.morphologyEx((out == i).astype(np.uint8), cv2.MORPH_CLOSE, _disk(1))
        closed[(r > 0) & (closed == 0)] = i
    region = closed > 0
    out[region & np.isin(out, _ids(GROWABLE))] = closed[region & np.isin(out, _ids(GROWABLE))]
    return out


def swap(labels: np.ndarray, a: str, b: str) -> np.ndarray:
    """Exchange labels ``a`` and ``b``."""
    out = check_labels(labels).copy()
    ia, ib = CELEBAMASK_HQ.index(a), CELEBAMASK_HQ.index(b)
    out[labels == ia], out[labels == ib] = ib, ia
    return out


def relabel(labels: np.ndarray, a: str, b: str) -> np.ndarray:
    """Every pixel of label ``a`` becomes ``b``."""
    out = check_labels(labels).copy()
    out[out == CELEBAMASK_HQ.index(a)] = CELEBAMASK_HQ.index(b)
    return out


GLASSES_STYLES: tuple[str, ...] = ("round", "rect", "aviator")
"""Frame shapes :func:`add_glasses` can draw (``add:glasses:STYLE``)."""

GLASSES_PAINTS_OVER: tuple[str, ...] = ("skin", "nose", "background", "eye_g")
"""Labels the lenses may cover. CelebAMask-HQ composes its label maps with ``eye_g`` painted after
skin and nose and *before* the eyes, brows, ears, mouth, lips, hair, hat, ..., so those stay on top."""

# lens outline per style, in units of the eye distance d: half-width a, half-heights above / below
# the lens centre, superellipse exponents (top, bottom), and the bottom's extra depth at the nose side
_LENS: dict[str, tuple[float, float, float, float, float, float]] = {
    "round": (0.36, 0.33, 0.33, 2.0, 2.0, 0.0),
    "rect": (0.40, 0.24, 0.25, 4.0, 4.0, 0.0),
    "aviator": (0.42, 0.25, 0.38, 3.5, 2.2, 0.3),
}


def _lens_outline(style: str, centre: np.ndarray, ax: np.ndarray, down: np.ndarray, out_sign: float,
                  d: float, n: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outline of one lens (frame included) around ``centre``: ``[n, 2]`` (x, y) points, and their
    local coordinates in units of ``d`` (``u``: outward along the eye axis, ``v``: down)."""
    a, bt, bb, nt, nb, droop = _LENS[style]
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    bottom = s > 0
    ex = np.where(bottom, nb, nt)
    u = np.sign(c) * np.abs(c) ** (2.0 / ex)                  # -1..1 along the eye axis (outward +)
    v = np.sign(s) * np.abs(s) ** (2.0 / ex)                  # -1..1 downward
    hv = np.where(bottom, bb * (1.0 + droop * np.clip(-u, 0, 1) - 0.5 * droop * np.clip(u, 0, 1)), bt)
    uu, vv = u * a * d, v * hv * d
    return centre + out_sign * uu[:, None] * ax + vv[:, None] * down, uu / d, vv / d


def _edge_point(outline: tuple[np.ndarray, np.ndarray, np.ndarray], v: float, side: int) -> np.ndarray:
    """The point of a lens outline on its nose (``side`` -1) or ear (+1) side nearest to height ``v``
    (units of d, down +)."""
    pts, u, vv = outline
    cand = np.flatnonzero(u * side > 0)
    return pts[cand[np.argmin(np.abs(vv[cand] - v))]]


def add_glasses(labels: np.ndarray, style: str = "rect", arms: bool = True) -> np.ndarray:
    """Add ``eye_g`` in the CelebAMask-HQ convention: the *whole* spectacles, frames and lenses.

    CelebAMask-HQ labels glasses as one region — two lens shapes including their frame, the bridge
    over the nose and the visible temple arms — and paints the eyes, brows (and hair, ears, ...) on
    top of it; the face seen through the lenses is ``eye_g`` too. This draws that region from the
    eyes' positions (size and tilt from the eye distance ``d``; lens centres a little below the
    pupils), a bridge across the nose and, with ``arms``, a temple arm from each lens's upper outer
    corner toward the ear, kept only over skin connected to the lens. The lenses cover only
    :data:`GLASSES_PAINTS_OVER` labels, so eyes, brows, hair, ears and lips keep their labels on top.

    Args:
        labels: official-order map with ``l_eye`` and ``r_eye``.
        style: frame shape, one of :data:`GLASSES_STYLES`.
        arms: draw the temple arms.

    Returns:
        New label map.

    Raises:
        ValueError: the map has no eyes to put glasses on, or an unknown style.
    """
    if style not in GLASSES_STYLES:
        raise ValueError(f"unknown glasses style {style!r}; use one of {', '.join(GLASSES_STYLES)}")
    out = check_labels(labels).copy()
    centres = []
    for n in ("r_eye", "l_eye"):
        ys, xs = np.nonzero(out == CELEBAMASK_HQ.index(n))
        if len(xs) == 0:
            raise ValueError("add:glasses needs both eyes (l_eye and r_eye) in the label map")
        centres.append(np.array([xs.mean(), ys.mean()]))
    p0, p1 = sorted(centres, key=lambda c: c[0])                # image left, image right
    axis = p1 - p0
    d = float(np.hypot(*axis))
    if d < 4:
        raise ValueError("add:glasses: the eyes are too close together to fit glasses")
    ax = axis / d
    down = np.array([-ax[1], ax[0]])
    th = max(2, int(round(0.045 * d)))                          # frame / bridge / arm thickness (px)
    h, w = out.shape
    lens = np.zeros((h, w), np.uint8)
    outlines = []
    for eye, sign in ((p0, -1.0), (p1, 1.0)):
        centre = eye + down * (0.06 * d) + ax * (sign * 0.02 * d)
        outline = _lens_outline(style, centre, ax, down, sign, d)
        outlines.append((centre, sign, outline))
        cv2.fillPoly(lens, [np.rint(outline[0] * 4).astype(np.int32)], 1, cv2.LINE_8, shift=2)
    # bridge: from the nose side of one lens to the other, a little above the lens centres (aviators
    # add a straight brow bar near the top)
    bt = _LENS[style][1]
    bars = [-0.35 * bt] if style != "aviator" else [-0.2 * bt, -0.85 * bt]
    for j, v in enumerate(bars):
        q0, q1 = _edge_point(outlines[0][2], v, -1), _edge_point(outlines[1][2], v, -1)
        mid = (q0 + q1) / 2 - down * (0.04 * d if j == 0 else 0.0)  # the nose bridge arches
        pts = np.rint(np.stack([q0, mid, q1]) * 4).astype(np.int32)
        cv2.polylines(lens, [pts], False, 1, th, cv2.LINE_8, shift=2)
    paint = lens.astype(bool) & np.isin(out, _ids(GLASSES_PAINTS_OVER))
    if arms:
        arm = np.zeros((h, w), np.uint8)
        for _centre, sign, outline in outlines:
            start = _edge_point(outline, -0.45 * bt, 1) - sign * ax * th  # from the upper outer corner
            end = start + sign * ax * (0.75 * d) + down * (0.05 * d)
            cv2.line(arm, tuple(int(v) for v in np.rint(start * 4)), tuple(int(v) for v in np.rint(end * 4)),
                     1, th, cv2.LINE_8, shift=2)
        arm_ok = (arm > 0) & (out == CELEBAMASK_HQ.index("skin")) & ~lens.astype(bool)
        _, comp = cv2.connectedComponents((arm_ok | paint).astype(np.uint8), connectivity=8)
        touching = np.unique(comp[paint])
        paint |= arm_ok & np.isin(comp, touching[touching > 0])
    out[paint] = CELEBAMASK_HQ.index("eye_g")
    return out


# --- edit chains -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabelEdit:
    """One parsed edit operation.

    Args:
        op: operation name (``dilate erode scale smile swap relabel add``).
        args: its arguments as strings, as written.
    """

    op: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return ":".join((self.op,) + self.args)

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """Apply this edit to an official-order label map; returns a new map."""
        return _OPS[self.op][1](labels, *self.args)


def _names(arg: str) -> list[str]:
    names = [n.strip() for n in arg.split("+") if n.strip()]
    if not names:
        raise ValueError("empty label list")
    for n in names:
        CELEBAMASK_HQ.index(n)
    return names


def _num(arg: str, kind: type = float) -> float:
    try:
        return kind(arg)
    except ValueError:
        raise ValueError(f"{arg!r} is not a {'whole ' if kind is int else ''}number") from None


def _glasses_args(args: Sequence[str]) -> tuple[str, bool]:
    """``(style, arms)`` from the optional arguments of ``add:glasses[:STYLE][:arms|noarms]``."""
    style, arms = "rect", True
    for a in args:
        if a in GLASSES_STYLES:
            style = a
        elif a in ("arms", "noarms"):
            arms = a == "arms"
        else:
            raise ValueError(f"add:glasses: {a!r} is neither a style ({', '.join(GLASSES_STYLES)}) "
                             "nor arms/noarms")
    return style, arms


def _add(labels: np.ndarray, what: str, *opts: str) -> np.ndarray:
    if what != "glasses":
        raise ValueError(f"add: only 'glasses' can be added, got {what!r}")
    style, arms = _glasses_args(opts)
    return add_glasses(labels, style, arms)


_OPS: dict[str, tuple[int, Callable[..., np.ndarray]]] = {
    "dilate": (2, lambda m, a, b: dilate(m, _names(a), int(_num(b, int)))),
    "erode": (2, lambda m, a, b: erode(m, _names(a), int(_num(b, int)))),
    "scale": (2, lambda m, a, b: scale(m, _names(a), _num(b))),
    "smile": (1, lambda m, a: smile(m, _num(a))),
    "swap": (2, lambda m, a, b: swap(m, _names(a)[0], _names(b)[0])),
    "relabel": (2, lambda m, a, b: relabel(m, _names(a)[0], _names(b)[0])),
    "add": (1, _add),
}
_MAX_ARGS: dict[str, int] = {"add": 3}
"""Operations that take optional arguments after the required ones (``add:glasses:STYLE:arms``)."""


def parse_edits(spec: str) -> list[LabelEdit]:
    """Parse ``op:arg[:arg];op:arg...`` (see the module doc) and validate names and numbers.

    Args:
        spec: the chain; ``""`` or ``"none"`` means no edit.

    Returns:
        The edits in order.

    Raises:
        ValueError: unknown operation or label, wrong argument count, a bad number or one outside
            :data:`EDIT_RANGES`.
    """
    out: list[LabelEdit] = []
    if spec.strip().lower() in ("", "none"):
        return out
    for part in spec.split(";"):
        part = part.strip()
        if not part:
            continue
        op, *args = [s.strip() for s in part.split(":")]
        if op not in _OPS:
            raise ValueError(f"unknown label edit {op!r}; use one of {', '.join(_OPS)}")
        lo = _OPS[op][0]
        hi = _MAX_ARGS.get(op, lo)
        if not lo <= len(args) <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi}"
            raise ValueError(f"{op} takes {want} argument(s) ({part!r})")
        e = LabelEdit(op, tuple(args))
        try:  # validate names / numbers now, not on the first image
            if op in ("swap", "relabel"):
                _names(args[0]), _names(args[1])
            elif op in ("dilate", "erode", "scale"):
                _names(args[0])
                v = _num(args[1], int if op != "scale" else float)
                EDIT_RANGES[op].check(f"{op} {'factor' if op == 'scale' else 'radius'}", v)
            elif op == "smile":
                EDIT_RANGES[op].check("smile", _num(args[0]))
            elif op == "add":
                if args[0] != "glasses":
                    raise ValueError(f"add: only 'glasses' can be added, got {args[0]!r}")
                _glasses_args(args[1:])
        except KeyError as exc:
            raise ValueError(str(exc).strip('"')) from None
        out.append(e)
    return out


def apply_edits(labels: np.ndarray, edits: Sequence[LabelEdit] | str) -> np.ndarray:
    """Apply a chain of edits (parsed or as a spec string) to an official-order map."""
    chain = parse_edits(edits) if isinstance(edits, str) else list(edits)
    out = check_labels(labels).copy()
    for e in chain:
        out = e.apply(out)
    return out
