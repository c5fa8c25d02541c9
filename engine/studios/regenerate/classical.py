"""Regenerate studio, classical engine: re-render a face so that it follows an edited 19-label map.

This is what ``backend="auto"`` runs unless the learned generator's card says it measured better
(see :mod:`engine.studios.regenerate.learned`; the editor is
:class:`~engine.studios.regenerate.editor.RegenerateEditor`).

Method, label by label (official CelebAMask-HQ order, :mod:`engine.labels`):

* **Large regions** (background, skin, hair, hat, neck, necklace, cloth) stay where they are: pixels
  that keep their label keep their value exactly; pixels that newly carry the label (longer hair,
  a wider neck, skin where an eye used to be) are filled by *reflecting* the nearest pixels of the
  same label across the region's border, which continues its texture (strands, shading).
* **Face parts** (eyes, brows, nose, lips, mouth, ears, glasses, earrings) whose shape changed are
  *warped as a whole* onto the new shape: a thin-plate spline, fitted on matched samples of the
  two regions' outlines (farthest point per angular bin around the centroid, in bounding-box
  normalised coordinates) plus the centroids, maps each pixel of the edited region back into the
  style region; its affine part does the bounding-box/moment alignment, its bending part follows the
  outline (bigger eyes, a smiling lip line).
* A label that the style source lacks is taken from the other image (reference/source), then
  from the mirrored twin (``l_eye`` ↔ ``r_eye``, ``u_lip`` ↔ ``l_lip`` ...), and only then from a
  built-in material (spectacles, a drawn eye, hair/hat/cloth textures) — a region is never left empty.
* **Glasses** follow CelebAMask-HQ: ``eye_g`` is the whole spectacles (frames + lenses + bridge +
  arms) with eyes and brows labelled on top. Added glasses (:func:`render_glasses`) keep the face
  seen through the lenses (light tint, a reflection) and draw a shaded frame along the outline of
  the glasses (:func:`glasses_geometry`), also for any blob painted by hand.
* **Reference per region**: for labels listed in ``reference_regions``, parts are warped from the
  reference face's own parsing; large regions keep the source's geometry and take the reference
  region's colour statistics (mean/std in CIE Lab) — the classical counterpart of SEAN's
  per-region style codes. ``blend`` mixes the reference-styled render with the source's.
* **Seams**: a narrow band along the edited label boundaries, only where pixels were regenerated,
  is smoothed (Gaussian, ``feather`` px).

An unchanged label map (and no reference region) returns the source exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from engine.cancel import CancelToken
from engine.geometry import fit_tps
from engine.imageio import validate_rgb
from engine.studios.regenerate.edits import check_labels
from engine.studios.regenerate.params import CLASSES
from engine.studios.regenerate.synthesis import poisson_blend, settle_drift, soften_edges, synthesize

LARGE_REGIONS: tuple[str, ...] = ("background", "skin", "hair", "hat", "neck_l", "neck", "cloth")
"""Labels continued in place (reflection fill) rather than warped as a whole."""

MIRROR: dict[str, tuple[str, int]] = {
    "l_eye": ("r_eye", 1), "r_eye": ("l_eye", 1), "l_brow": ("r_brow", 1), "r_brow": ("l_brow", 1),
    "l_ear": ("r_ear", 1), "r_ear": ("l_ear", 1), "u_lip": ("l_lip", 0), "l_lip": ("u_lip", 0),
}
"""Twin of a part and the flip axis (1: left-right, 0: up-down) used when a part is missing."""

DRAWN_LAST: tuple[str, ...] = ("eye_g", "hat", "ear_r", "neck_l")
"""Accessories rendered after everything else (spectacle lenses show what lies beneath)."""

DEFAULT_MATERIALS: dict[str, tuple[int, int, int]] = {
    "background": (128, 128, 128), "skin": (222, 174, 146), "nose": (214, 162, 134),
    "eye_g": (28, 26, 30), "l_eye": (235, 230, 225), "r_eye": (235, 230, 225),
    "l_brow": (70, 52, 40), "r_brow": (70, 52, 40), "l_ear": (214, 162, 134), "r_ear": (214, 162, 134),
    "mouth": (96, 36, 40), "u_lip": (176, 92, 96), "l_lip": (186, 100, 104), "hair": (62, 44, 32),
    "hat": (70, 74, 96), "ear_r": (212, 175, 55), "neck_l": (205, 170, 70), "neck": (206, 158, 130),
    "cloth": (84, 96, 120),
}
"""Built-in material colour per label (RGB), used only when no image has the label."""

MIN_PIXELS = 12
"""A label with fewer pixels than this counts as absent from an image."""

TPS_BINS = 24
"""Angular bins for outline samples (control points of the part warp)."""

TPS_REGULARISATION = 0.05
"""Thin-plate smoothing in normalised units: larger = closer to the affine (bounding-box) map."""



# --- geometry ----------------------------------------------------------------------------------

def outline_samples(mask: np.ndarray, bins: int = TPS_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Farthest pixel of ``mask`` in each angular bin around its centroid (bbox-normalised angles).

    Args:
        mask: bool ``[H, W]`` with at least one pixel.
        bins: number of angular bins.

    Returns:
        (``[bins, 2]`` float ``(x, y)`` points with NaN rows for empty bins, ``[2]`` centroid).
    """
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean(), ys.mean()
    hw = max(1.0, (xs.max() - xs.min() + 1) / 2.0)
    hh = max(1.0, (ys.max() - ys.min() + 1) / 2.0)
    nx, ny = (xs - cx) / hw, (ys - cy) / hh
    b = (((np.arctan2(ny, nx) + np.pi) / (2 * np.pi)) * bins).astype(np.intp) % bins
    order = np.argsort(nx * nx + ny * ny)
    pick = np.full(bins, -1, np.intp)
    pick[b[order]] = order  # later (farther) points overwrite nearer ones
    pts = np.full((bins, 2), np.nan)
    ok = pick >= 0
    pts[ok] = np.stack([xs[pick[ok]], ys[pick[ok]]], 1)
    return pts, np.array([cx, cy])


def nearest_fill_index(have: np.ndarray) -> np.ndarray:
    """For every pixel, the flat index of the nearest ``have`` pixel.

    Args:
        have: bool ``[H, W]`` with at least one pixel set.

    Returns:
        ``int64`` ``[H, W]`` flat indices into ``have`` (``have`` pixels map to themselves).
    """
    _, lab = cv2.distanceTransformWithLabels((~have).astype(np.uint8), cv2.DIST_L2, 5,
                                             labelType=cv2.DIST_LABEL_PIXEL)
    flat = np.flatnonzero(have)  # raster order == DIST_LABEL_PIXEL numbering
    return flat[lab.astype(np.int64) - 1]


_REMAP_WIDTH = 4096
"""Points per row of the maps given to ``cv2.remap`` (it refuses maps 32767 or more wide/high)."""


def _sample(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` (float32 ``[H, W, 3]``) at float ``(x, y)`` points ``[N, 2]``."""
    n = len(xy)
    if n == 0:
        return np.zeros((0,) + img.shape[2:], np.float32)
    width = min(n, _REMAP_WIDTH)  # a region of more than 32766 pixels goes in rows of this width
    rows = -(-n // width)
    pad = rows * width - n
    mx = np.pad(np.asarray(xy[:, 0], np.float32), (0, pad)).reshape(rows, width)
    my = np.pad(np.asarray(xy[:, 1], np.float32), (0, pad)).reshape(rows, width)
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape((rows * width,) + img.shape[2:])[:n]


# --- region renderers ---------------------------------------------------------------------------

STRAY_REACH = 0.08
"""Stray pixels lie within this fraction of the image side of the replaced label (a parser's border error)."""
STRAY_SIDE = 192
"""Longest side (px) of the window in which :func:`stray_pixels` segments (a parsing-scale decision)."""
STRAY_ITERATIONS = 2
"""GrabCut iterations of :func:`stray_pixels`."""
STRAY_BRIDGE = 6.0
"""Non-region pixels within this many px of the new ones connect them to stray pixels (the redone old border)."""


def stray_pixels(img: np.ndarray, have: np.ndarray, new: np.ndarray, old: np.ndarray | None) -> np.ndarray:
    """Pixels of ``have`` that go with the ``new`` ones: they look like what the edit replaces.

    A parser's border is rarely exact: painting skin back over a fringe leaves the part of the
    fringe the parser called skin, growing hair keeps the background it called hair. This is a
    region-consistency step: near the edit (the window around ``new`` grown by 2 × the reach),
    the region's pixels within :data:`STRAY_REACH` × the side of the replaced label are split by
    GrabCut (colour mixture models + an edge-aware smoothness term, on a copy of at most
    :data:`STRAY_SIDE` px) into "like the replaced pixels" (seeds: the ``new`` pixels themselves
    — the colours the edit removes — and the ``old`` label's pixels near them) and "like the
    region" (seeds: its pixels beyond the reach). The pixels of the first kind connected to the
    new ones (through the old border next to them, :data:`STRAY_BRIDGE` px) are returned, small
    gaps closed. So when the user turns hair into skin, hair-coloured pixels touching that edit
    become skin too; a hair-coloured spot elsewhere on the face stays. Nothing is redone without
    new pixels, so an unchanged map still returns the photo.

    Args:
        img: float32 ``[H, W, 3]`` the image (0–255).
        have: bool ``[H, W]`` the region's pixels (before its old border is taken off).
        new: bool ``[H, W]`` pixels the region newly covers.
        old: bool ``[H, W]`` pixels of the label(s) the new pixels had; None = no test.

    Returns:
        bool ``[H, W]`` the stray pixels (a subset of ``have``).
    """
    out = np.zeros_like(have)
    if old is None or new.sum() < MIN_PIXELS or have.sum() < 4 * MIN_PIXELS:
        return out
    reach = STRAY_REACH * max(have.shape)
    ys, xs = np.nonzero(new)
    pad = int(2 * reach) + 2
    y0, y1 = max(0, ys.min() - pad), min(have.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(have.shape[1], xs.max() + pad + 1)
    win = (slice(y0, y1), slice(x0, x1))
    hv, nw = have[win], new[win]
    od = old[win] & ~nw & ~hv
    d_old = cv2.distanceTransform((~(od | nw)).astype(np.uint8), cv2.DIST_L2, 3)
    zone = hv & (d_old <= reach)
    if (hv & ~zone).sum() < 4 * MIN_PIXELS or not zone.any():
        return out
    s = min(1.0, STRAY_SIDE / max(hv.shape))
    size = (max(1, int(round(hv.shape[1] * s))), max(1, int(round(hv.shape[0] * s))))

    def small(m: np.ndarray) -> np.ndarray:
        return cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)

    grab = np.full(size[::-1], cv2.GC_BGD, np.uint8)  # other labels and the region beyond the reach
    grab[small(zone)] = cv2.GC_PR_BGD
    grab[small(od | nw)] = cv2.GC_FGD  # the replaced label near the edit and the pixels it replaces
    if not (grab == cv2.GC_BGD).any() or not (grab == cv2.GC_PR_BGD).any():
        return out
    pic = cv2.resize(np.clip(img[win], 0, 255).astype(np.uint8), size, interpolation=cv2.INTER_AREA)
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(pic), grab, (0, 0, 1, 1), np.zeros((1, 65), np.float64),
                np.zeros((1, 65), np.float64), STRAY_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    like = cv2.resize((grab == cv2.GC_PR_FGD).astype(np.uint8), (hv.shape[1], hv.shape[0]),
                      interpolation=cv2.INTER_NEAREST).astype(bool) & zone
    bridge = (cv2.distanceTransform((~nw).astype(np.uint8), cv2.DIST_L2, 3) <= STRAY_BRIDGE) & ~hv
    n, comp = cv2.connectedComponents((like | nw | bridge).astype(np.uint8), connectivity=8)
    hit = np.zeros(n, bool)
    hit[np.unique(comp[nw])] = True
    hit[0] = False
    grown = hit[comp] & like
    r = max(1, int(round(max(have.shape) / PARSE_SIDE)))
    grown = cv2.morphologyEx((grown | nw).astype(np.uint8), cv2.MORPH_CLOSE, _disk(r)).astype(bool) & zone
    out[win] = grown
    return out


def repainted_pixels(have: np.ndarray, target: np.ndarray, painted: np.ndarray) -> np.ndarray:
    """Kept pixels of a region that the user's painting asks to redo.

    The user paints skin over a fringe; the parser may have called part of that fringe skin
    already, so those pixels keep their label and would keep their hair. What the user expects is
    skin wherever they painted it. So each connected piece of the painted area (``painted &
    target``) that changed labels — it holds at least :data:`MIN_PIXELS` pixels that newly carry
    the label — is synthesised anew as a whole. A piece painted only over pixels that already
    carry the label changes nothing (painting skin over skin keeps the photo, and so does a mask
    reset to the parsing while the strokes are still known).

    Args:
        have: bool ``[H, W]`` the label's pixels in the image.
        target: bool ``[H, W]`` the label's pixels in the edited map.
        painted: bool ``[H, W]`` the pixels the user painted (any label).

    Returns:
        bool ``[H, W]`` the ``have`` pixels to redo.
    """
    mine = painted & target
    out = np.zeros_like(have)
    if not (mine & have).any():
        return out
    changed = mine & ~have
    if changed.sum() < MIN_PIXELS:
        return out
    _, comp = cv2.connectedComponents(mine.astype(np.uint8), connectivity=8)
    hit = np.bincount(comp[changed], minlength=int(comp.max()) + 1) >= MIN_PIXELS
    hit[0] = False
    return hit[comp] & have


SOFT_EDGE = 0.25
"""Width of a synthesised region's soft edge against hair, as a fraction of the region's thickness."""
SOFT_EDGE_MAX = 8.0
"""At most this many pixels of soft edge on a photo of :data:`PARSE_SIDE` px (proportionally more on bigger ones)."""


def continue_region(img: np.ndarray, have: np.ndarray, target: np.ndarray, rim: int = 2,
                    old: np.ndarray | None = None, soft: np.ndarray | None = None,
                    painted: np.ndarray | None = None, own_colour: bool = False,
                    firm: np.ndarray | None = None, avoid: np.ndarray | None = None, drape: bool = False,
                    cancel: CancelToken | None = None,
                    progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Values for ``target`` pixels: kept where ``have``, else synthesised from ``have``'s texture.

    New pixels get texture from the region's own pixels by :func:`~engine.studios.regenerate.synthesis.synthesize`
    (coarse-to-fine patch search on colour, label layout and orientation, then a gradient-domain
    blend that meets the kept pixels of the region along its border).

    The ``rim`` px of the old border next to new pixels are redone too: parsed borders carry a
    halo of the neighbouring colour that would otherwise stay as a line inside the grown region.

    Args:
        img: float32 ``[H, W, 3]`` style image (same frame as ``target``).
        have: bool ``[H, W]``: pixels of the label in ``img`` (non-empty).
        target: bool ``[H, W]``: pixels to fill.
        rim: old-border width redone next to new pixels (0 = keep all ``have`` pixels).
        old: bool ``[H, W]`` pixels of the labels the new pixels had (for :func:`stray_pixels`, used
            when no strokes are known: with ``painted`` the strokes say what to redo); None = only
            the ``rim`` is redone.
        soft: bool ``[H, W]`` neighbouring pixels the new pixels' edge blends toward
            (:func:`~engine.studios.regenerate.synthesis.soften_edges`: hair edges); None = hard edges.
        painted: bool ``[H, W]`` pixels the user painted; ``have`` pixels of a stroke that changed
            something are redone too (:func:`repainted_pixels`). None = no such test.
        own_colour: give the synthesised pixels the colour of the region's pixels around them
            (:func:`_own_colour`: hair keeps its own colour and lightness).
        firm: bool ``[H, W]`` neighbouring pixels the new pixels' edge blends toward over a
            narrow :data:`FIRM_EDGE` px only (new hair over the face: strands end, they do not glow).
        avoid: bool ``[H, W]`` pixels whose neighbourhood (:data:`AVOID_REACH` × the old-border
            width) is not copied from (hair next to the face holds skin between its strands).
        drape: new pixels below the region (a fringe over the forehead) copy the region's
            pixels straight above them as one piece (:func:`drape_field`), blended in the
            gradient domain, instead of a patch search (whose votes smear wide hair).
        cancel: checked between search iterations.
        progress: told the share of the synthesis done (0–1), see :func:`~engine.studios.regenerate.synthesis.synthesize`.

    Returns:
        (float32 ``[N, 3]`` values, bool ``[N]`` which were re-rendered), in ``np.nonzero(target)`` order.
    """
    inside = have
    if painted is not None and painted.any():
        have = have & ~repainted_pixels(have, target, painted)
    new = target & ~have
    whole = have
    if rim > 0 and new.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1, 2 * rim + 1))
        core = cv2.erode(have.astype(np.uint8), k).astype(bool)
        near_new = cv2.dilate(new.astype(np.uint8), k, iterations=2).astype(bool)
        if core.sum() >= MIN_PIXELS:
            have = have & ~(near_new & ~core)
        if painted is None or not painted.any():
            have = have & ~stray_pixels(img, whole, new, old)
    ys, xs = np.nonzero(target)
    vals = img[ys, xs].copy()
    new = ~have[ys, xs]
    if not new.any():
        return vals, new
    reach = AVOID_REACH * max(1, rim)
    if avoid is not None and avoid.any():
        # the sparse edge of the region next to the face, where new pixels join it, is redone too
        # (a fringe is dense where the hairline showed skin between strands)
        zone = cv2.distanceTransform((~avoid).astype(np.uint8), cv2.DIST_L2, 3) <= reach
        zone &= cv2.distanceTransform((have | ~target).astype(np.uint8), cv2.DIST_L2, 3) <= 2.0 * reach
        if (have & ~zone).sum() >= MIN_PIXELS:
            have = have & ~zone
            new = ~have[ys, xs]
    clean = cv2.morphologyEx(have.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    if avoid is not None and avoid.any():
        far = cv2.distanceTransform((~avoid).astype(np.uint8), cv2.DIST_L2, 3) > reach
        if (clean & far).sum() >= max(MIN_PIXELS, int(0.25 * clean.sum())):
            clean &= far
    exemplar = clean if clean.sum() >= MIN_PIXELS else have  # copy solid parts of the region, not parsing speckles
    hole = target & ~have
    field = drape_field(hole, exemplar) if drape else None
    synth = None
    if field is not None:
        thick = 2.0 * float(cv2.distanceTransform(np.pad(hole, 1).astype(np.uint8), cv2.DIST_L2, 3).max())
        synth = settle_drift(poisson_blend(img, hole, target & have & ~hole, field, img),
                             img.reshape(-1, 3)[field], hole, max(2.0, DRAPE_DRIFT * thick))
    if synth is None:
        synth = synthesize(img, hole, exemplar, inside_src=inside, inside_dst=target, anchor=target & have,
                           cancel=cancel, progress=progress)
    if own_colour:
        synth = _own_colour(synth, img, hole, exemplar)
    if soft is not None and soft.any():
        thick = 2.0 * float(cv2.distanceTransform(np.pad(hole, 1).astype(np.uint8), cv2.DIST_L2, 3).max())
        most = SOFT_EDGE_MAX * max(1.0, max(hole.shape) / PARSE_SIDE)
        synth = soften_edges(img, hole, synth, soft & ~target, float(np.clip(SOFT_EDGE * thick, 1.0, most)))
    if firm is not None and firm.any():
        synth = soften_edges(img, hole, synth, firm & ~target, FIRM_EDGE * max(1.0, max(hole.shape) / PARSE_SIDE),
                             strands=STRAND_TIPS)
    vals[new] = synth
    return vals, new


DRAPE_DRIFT = 0.25
"""A draped fringe keeps its blend's difference from the hung strands only finer than this × its thickness."""
DRAPE_MIN_SHARE = 0.8
"""Share of the new pixels that must find an exemplar pixel straight above them for :func:`drape_field`."""


def drape_field(hole: np.ndarray, exemplar: np.ndarray) -> np.ndarray | None:
    """Match field that lets the region above ``hole`` hang down into it: hair falls.

    Each hole pixel copies the pixel one hole-column-height above it (its column's run of hole
    pixels, plus the same again when that pixel is no exemplar), so a fringe is made of the strands
    right above it, whole, in their own flow; pixels with no exemplar straight above take the
    nearest one. None when fewer than :data:`DRAPE_MIN_SHARE` of the pixels find one above them
    (the region does not lie above the hole).

    Args:
        hole: bool ``[H, W]`` the new pixels (non-empty).
        exemplar: bool ``[H, W]`` pixels that may be copied.

    Returns:
        flat indices ``[N]`` (``np.nonzero(hole)`` order) into the image, or None.
    """
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    top = np.full(w, h, np.intp)
    bottom = np.full(w, -1, np.intp)
    np.minimum.at(top, xs, ys)
    np.maximum.at(bottom, xs, ys)
    run = (bottom - top + 1)[xs]
    found = np.zeros(len(ys), bool)
    q = np.zeros(len(ys), np.intp)
    for k in (1, 2, 3):  # one, two or three run heights up
        sy = ys - k * run
        ok = ~found & (sy >= 0)
        ok[ok] = exemplar[sy[ok], xs[ok]]
        q[ok] = sy[ok] * w + xs[ok]
        found |= ok
    if found.mean() < DRAPE_MIN_SHARE:
        return None
    near = nearest_fill_index(exemplar)
    q[~found] = near[ys[~found], xs[~found]]
    return q


FIRM_EDGE = 4.0
"""Width (px at :data:`PARSE_SIDE`) of a new region's edge against a ``firm`` neighbour (new hair over the face)."""
STRAND_TIPS = 0.35
"""How far (× the edge width per standard deviation of the hair's fine texture) strands reach over
the face at a firm edge (:func:`~engine.studios.regenerate.synthesis.soften_edges`)."""
AVOID_REACH = 3.0
"""Exemplar pixels nearer than this many old-border widths to an ``avoid`` pixel are not copied."""

OWN_COLOUR_REACH = 2.0
"""Exemplar pixels within this many hole thicknesses of the hole set the colour of what is synthesised there."""


def _own_colour(vals: np.ndarray, img: np.ndarray, hole: np.ndarray, exemplar: np.ndarray) -> np.ndarray:
    """``vals`` (the ``hole`` pixels, ``np.nonzero`` order) shifted to the CIE Lab mean of the
    ``exemplar`` pixels near the hole (within :data:`OWN_COLOUR_REACH` × its thickness).

    A wide hole's gradient-domain blend drifts: a fringe came out brown on a grey-haired face. The
    region's own pixels next to it say what colour and lightness it has. (Tried: their spread too —
    more contrast, but the grow-hair test's SSIM fell from 0.46 to 0.43.)"""
    thick = 2.0 * float(cv2.distanceTransform(np.pad(hole, 1).astype(np.uint8), cv2.DIST_L2, 3).max())
    near = exemplar & (cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
                       <= max(4.0, OWN_COLOUR_REACH * thick))
    pool = img[near] if near.sum() >= 4 * MIN_PIXELS else img[exemplar]
    lab, mu, _ = _lab_stats(vals)
    _, rmu, _ = _lab_stats(pool)
    rgb = cv2.cvtColor((lab - mu + rmu).astype(np.float32)[:, None], cv2.COLOR_Lab2RGB)[:, 0]
    return np.clip(rgb * 255.0, 0, 255).astype(np.float32)


def _part_map(have: np.ndarray, target: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Thin-plate map from the edited region's frame into the style region's (target → have)."""
    sp, sc = outline_samples(have)
    dp, dc = outline_samples(target)
    ok = ~(np.isnan(sp).any(1) | np.isnan(dp).any(1))
    return fit_tps(np.vstack([dp[ok], dc]), np.vstack([sp[ok], sc]), TPS_REGULARISATION)


def warp_region(img: np.ndarray, have: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Warp the ``have`` region of ``img`` onto the ``target`` region (affine + thin-plate spline).

    Only the region's own pixels are used (its surroundings are filled with its nearest pixels
    before sampling), so this suits parts taken from another image or a mirrored twin; a part
    reshaped in its own image is better served by :func:`warp_part_in_context`.

    Args:
        img: float32 ``[H, W, 3]`` style image (any frame: only the region shapes matter).
        have: bool mask of the style region in ``img``.
        target: bool mask of the region to fill (edited frame).

    Returns:
        float32 ``[N, 3]`` values for ``np.nonzero(target)`` order.
    """
    f = _part_map(have, target)
    ys, xs = np.nonzero(target)
    src_xy = f(np.stack([xs, ys], 1).astype(np.float64))
    # sample an image whose surroundings of the region are filled with the region's own pixels
    hy, hx = np.nonzero(have)
    m = 4
    y0, y1 = max(0, hy.min() - m), min(have.shape[0], hy.max() + m + 1)
    x0, x1 = max(0, hx.min() - m), min(have.shape[1], hx.max() + m + 1)
    roi_have = have[y0:y1, x0:x1]
    roi = img[y0:y1, x0:x1]
    ext = roi.reshape(-1, 3)[nearest_fill_index(roi_have)].reshape(roi.shape)
    return _sample(np.ascontiguousarray(ext), src_xy - (x0, y0))


CONTEXT_REACH = 0.5
"""Context band of a reshaped part, as a fraction of the smaller side of its bounding box."""


def warp_part_in_context(img: np.ndarray, have: np.ndarray, target: np.ndarray, band_ok: np.ndarray,
                         reach: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reshape a part *with its surroundings*: the part's warp fades out over a band around it.

    A bigger eye is more than a stretched eye interior: the lid line, lashes and crease that a
    parser's eye region leaves just outside must move with it, or the enlarged eye shows sclera
    against bare skin with the old lashes cut off. Inside ``target`` this is the thin-plate map of
    :func:`warp_region` (sampling the real image, so the lid and lashes next to the region come
    along); in the band (``band_ok`` pixels within ``reach`` px of ``target``) the displacement is
    scaled by a weight falling smoothly from 1 at the region to 0 at the band's outer edge and next
    to pixels outside ``band_ok`` (other parts, hair), so the result is continuous everywhere.

    Args:
        img: float32 ``[H, W, 3]`` the part's own image (``have`` and ``target`` in its frame).
        have: bool ``[H, W]`` the part in ``img``.
        target: bool ``[H, W]`` the part in the edited map.
        band_ok: bool ``[H, W]`` pixels the band may re-render (skin in both maps, freed part pixels).
        reach: band width in px; default :data:`CONTEXT_REACH` × the smaller bounding-box side of
            ``have ∪ target`` (at least 3 px).

    Returns:
        (``ys``, ``xs``, float32 ``[N, 3]`` values) of the re-rendered pixels (``target`` ∪ band).
    """
    f = _part_map(have, target)
    both = have | target
    by, bx = np.nonzero(both)
    if reach is None:
        reach = CONTEXT_REACH * min(by.max() - by.min() + 1, bx.max() - bx.min() + 1)
    r = max(3.0, float(reach))
    h, w = target.shape
    pad = int(np.ceil(r)) + 2
    y0, y1 = max(0, by.min() - pad), min(h, by.max() + pad + 1)
    x0, x1 = max(0, bx.min() - pad), min(w, bx.max() + pad + 1)
    t = target[y0:y1, x0:x1]
    ok = band_ok[y0:y1, x0:x1] & ~t
    d_t = cv2.distanceTransform((~t).astype(np.uint8), cv2.DIST_L2, 5)
    d_x = cv2.distanceTransform((ok | t).astype(np.uint8), cv2.DIST_L2, 5)  # to pixels the band must not touch
    u = np.clip(1.0 - d_t / r, 0.0, 1.0) * np.clip(d_x / (0.5 * r), 0.0, 1.0)
    wgt = u * u * (3.0 - 2.0 * u)  # smoothstep
    wgt[t] = 1.0
    sel = t | (ok & (wgt > 1e-3))
    ys, xs = np.nonzero(sel)
    pts = np.stack([xs + x0, ys + y0], 1).astype(np.float64)
    src = pts + wgt[ys, xs, None] * (f(pts) - pts)
    return ys + y0, xs + x0, _sample(img, src)


def _noise(shape: tuple[int, int], seed: int, streaks: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = shape
    coarse = cv2.resize(rng.random((max(2, h // 16), max(2, w // 16))).astype(np.float32), (w, h),
                        interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), sigmaX=0.8,
                            sigmaY=6.0 if streaks else 0.8)
    n = 0.6 * (coarse - 0.5) + 1.6 * (fine - fine.mean())
    return np.clip(n, -0.5, 0.5)


GLASSES_ON_TOP: tuple[str, ...] = ("l_eye", "r_eye", "l_brow", "r_brow")
"""Labels CelebAMask-HQ paints over ``eye_g``: seen through (eyes) or crossed by (brows) the spectacles."""

FRAME_COLOUR = DEFAULT_MATERIALS["eye_g"]
LENS_TINT: tuple[int, int, int] = (150, 170, 190)
LENS_TINT_ALPHA = 0.10
"""Share of :data:`LENS_TINT` mixed into what is seen through a lens (0 = clear glass)."""
FRAME_SHADOW = 0.3
"""Darkening (0–1) of the face where the frame's shadow falls (offset down, blurred)."""


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def glasses_geometry(region: np.ndarray, on_top: np.ndarray,
                     behind: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The spectacles an ``eye_g`` region stands for: (whole glasses, frame band, frame thickness px).

    ``eye_g`` follows CelebAMask-HQ: frames + lenses (+ bridge, arms), with eyes and brows labelled
    on top. The lenses are the solid parts of the region (an opening removes the bridge and arms);
    pieces of a lens that an eye cuts apart (``behind`` pixels joining them) count as one lens, and
    each lens's convex hull takes back the ``on_top`` pixels it covers, so the glasses are whole
    again (the brows cross the frame, the eyes lie behind the lens). Any other shape — a blob painted
    by hand — is taken as it is. The frame is the outer band of the glasses, ``thickness`` ≈ 0.12 ×
    the largest inscribed radius of the glasses (at least 2 px); parts too thin to hold a disc of
    0.2 × that radius (bridge, temple arms) are all frame.

    Args:
        region: bool ``[H, W]`` ``eye_g`` pixels of the edited map (non-empty).
        on_top: bool ``[H, W]`` pixels of :data:`GLASSES_ON_TOP` labels.
        behind: bool ``[H, W]`` pixels seen through a lens (the eyes) that join lens pieces; None = ``on_top``
            is not used for joining.

    Returns:
        (bool ``[H, W]`` glasses, bool ``[H, W]`` frame band, thickness in px).
    """
    reg = region.astype(np.uint8)
    r0 = float(cv2.distanceTransform(np.pad(reg, 1), cv2.DIST_L2, 5).max())
    solid = cv2.morphologyEx(reg, cv2.MORPH_OPEN, _disk(max(1, int(round(0.3 * r0)))))
    n, comp, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    whole = region.copy()
    if n > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        lens = np.isin(comp, np.flatnonzero(areas >= 0.1 * areas.max()) + 1)
        link = lens if behind is None else lens | behind
        _, group = cv2.connectedComponents(link.astype(np.uint8), connectivity=8)
        hulls = np.zeros_like(reg)
        for i in np.unique(group[lens]):
            pts = cv2.findNonZero((lens & (group == i)).astype(np.uint8))
            cv2.fillConvexPoly(hulls, cv2.convexHull(pts), 1)
        whole |= hulls.astype(bool) & on_top
    inner_r = float(cv2.distanceTransform(np.pad(whole.astype(np.uint8), 1), cv2.DIST_L2, 5).max())
    th = max(2, int(round(0.12 * inner_r)))
    w8 = whole.astype(np.uint8)
    inside = cv2.erode(w8, _disk(th), borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    broad = cv2.morphologyEx(w8, cv2.MORPH_OPEN, _disk(max(th + 1, int(round(0.2 * inner_r))))).astype(bool)
    return whole, whole & ~(inside & broad), th  # thin parts (bridge, arms) are all frame


def render_glasses(under: np.ndarray, region: np.ndarray, on_top: np.ndarray,
                   shadow_ok: np.ndarray | None = None,
                   behind: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw spectacles for an ``eye_g`` region over ``under``, keeping the face behind the lenses.

    Geometry from :func:`glasses_geometry`. The **frame** is a rounded dark rod: darker at its
    edges, lighter along its middle, with a thin highlight along the upper edge of each stroke
    (light from above), anti-aliased against what surrounds it. The **lenses** show ``under``
    (skin, eyes, brows: nothing is replaced) with a :data:`LENS_TINT_ALPHA` tint and a soft diagonal
    reflection. The frame casts a soft shadow (:data:`FRAME_SHADOW`) a little below it onto the face
    seen through the lenses and onto ``shadow_ok`` pixels just outside.

    Args:
        under: float32 ``[H, W, 3]`` the face as rendered so far.
        region: bool ``[H, W]`` the ``eye_g`` pixels (non-empty).
        on_top: bool ``[H, W]`` pixels of :data:`GLASSES_ON_TOP` labels.
        shadow_ok: bool ``[H, W]`` pixels outside the glasses the shadow may darken (skin); None = none.
        behind: bool ``[H, W]`` eye pixels (see :func:`glasses_geometry`); None = none.

    Returns:
        (``ys``, ``xs``, float32 ``[N, 3]`` values) of the re-rendered pixels.
    """
    if not region.any():
        raise ValueError("render_glasses: empty eye_g region")
    h, w = region.shape
    ys, xs = np.nonzero(region)  # the glasses lie inside the region's bounding box
    pad = int(0.3 * min(ys.max() - ys.min(), xs.max() - xs.min())) + 8  # > 3 × the frame thickness
    y0, y1, x0, x1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1), max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    whole, frame, th = glasses_geometry(region[y0:y1, x0:x1], on_top[y0:y1, x0:x1],
                                        None if behind is None else behind[y0:y1, x0:x1])
    base = under[y0:y1, x0:x1].astype(np.float32)
    lens = whole & ~frame
    # lenses: tint + a soft diagonal reflection per lens (upper outer side brighter)
    out = base * (1.0 - LENS_TINT_ALPHA) + np.array(LENS_TINT, np.float32) * LENS_TINT_ALPHA
    n, comp, stats, cents = cv2.connectedComponentsWithStats(lens.astype(np.uint8), connectivity=8)
    refl = np.zeros(lens.shape, np.float32)
    yy, xx = np.mgrid[0:lens.shape[0], 0:lens.shape[1]].astype(np.float32)
    for i in range(1, n):
        bw, bh = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
        if bw * bh < 16:
            continue
        cx, cy = cents[i]
        s = ((xx - cx) / bw + (yy - cy) / bh)  # diagonal coordinate, ~-1 (upper left) .. 1
        band = 0.7 * np.exp(-(((s + 0.45) / 0.16) ** 2)) + 0.35 * np.exp(-(((s + 0.12) / 0.05) ** 2))
        refl[comp == i] = band[comp == i]
    refl = cv2.GaussianBlur(refl, (0, 0), max(0.8, 0.4 * th)) * lens
    out += (255.0 - out) * (0.22 * refl)[:, :, None]
    # shadow of the frame on the face behind it
    fa = frame.astype(np.float32)
    sh_shift = np.array([[1, 0, 0.3 * th], [0, 1, 0.9 * th]], np.float32)
    shadow = cv2.GaussianBlur(cv2.warpAffine(fa, sh_shift, (fa.shape[1], fa.shape[0])), (0, 0), 0.8 * th)
    shadow = shadow * (1.0 - fa)
    out *= (1.0 - FRAME_SHADOW * shadow)[:, :, None]
    # frame: a rounded rod, shaded across its width, with a highlight along each stroke's upper edge
    d = cv2.distanceTransform(np.pad(frame, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    v = np.clip(d / max(1.0, 0.5 * th), 0.0, 1.0)
    k = max(1, int(round(0.6 * th)))
    above = np.zeros_like(frame)
    above[k:] = frame[:-k]
    top = cv2.GaussianBlur((frame & ~above).astype(np.float32), (0, 0), 0.6) * frame
    fcol = np.array(FRAME_COLOUR, np.float32)[None, None] * (0.85 + 0.3 * v)[:, :, None]
    fcol += (40.0 * top * v)[:, :, None]
    fcol = np.where(frame[:, :, None], fcol, cv2.dilate(fcol, np.ones((5, 5), np.uint8)))
    # anti-aliased coverage: the band between the smoothed outer and inner outlines of the frame
    # (sub-pixel smooth edges instead of the label map's staircase)
    a_out = np.clip((cv2.GaussianBlur(whole.astype(np.float32), (0, 0), 0.9) - 0.5) * 2.2 + 0.5, 0.0, 1.0)
    a_in = np.clip((cv2.GaussianBlur(lens.astype(np.float32), (0, 0), 0.9) - 0.5) * 2.2 + 0.5, 0.0, 1.0)
    alpha = np.clip(a_out - a_in, 0.0, 1.0)
    out = out * (1.0 - alpha[:, :, None]) + fcol * alpha[:, :, None]
    # what changed: the glasses, the frame's soft outer edge, and its shadow on allowed skin
    ok_out = np.zeros_like(whole) if shadow_ok is None else shadow_ok[y0:y1, x0:x1]
    outside = ~whole & ok_out
    res = np.where(whole[:, :, None], out, base)
    edge = outside & (alpha > 0.02)
    res[edge] = (base * (1.0 - alpha[:, :, None]) + fcol * alpha[:, :, None])[edge]
    dark = outside & ~edge & (shadow > 0.02)
    res[dark] = (base * (1.0 - FRAME_SHADOW * shadow)[:, :, None])[dark]
    sel = whole | edge | dark
    ry, rx = np.nonzero(sel)
    return ry + y0, rx + x0, res[ry, rx]


def material(name: str, target: np.ndarray, under: np.ndarray) -> np.ndarray:
    """Built-in rendering of label ``name`` over ``target`` when no image has the label.

    Args:
        name: label name.
        target: bool ``[H, W]``.
        under: float32 ``[H, W, 3]``: what is currently there (seen through spectacle lenses).

    Returns:
        float32 ``[N, 3]`` for ``np.nonzero(target)`` order.
    """
    ys, xs = np.nonzero(target)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    roi = target[y0:y1, x0:x1]
    base = np.array(DEFAULT_MATERIALS[name], np.float32)
    if name == "eye_g":  # spectacles over what is there (the same drawing as in regenerate())
        gy, gx, gv = render_glasses(under, target, np.zeros_like(target))
        vals = under[ys, xs].astype(np.float32)
        hit = np.zeros(target.shape, np.int64)
        hit[gy, gx] = np.arange(1, len(gy) + 1)
        idx = hit[ys, xs]
        vals[idx > 0] = gv[idx[idx > 0] - 1]
        return vals
    if name in ("l_eye", "r_eye"):
        out = np.broadcast_to(base, roi.shape + (3,)).copy()
        ry, rx = np.nonzero(roi)
        cy, cx = ry.mean(), rx.mean()
        ri = max(1.0, 0.55 * (ry.max() - ry.min() + 1))
        d2 = (np.arange(roi.shape[0])[:, None] - cy) ** 2 + (np.arange(roi.shape[1])[None] - cx) ** 2
        out[d2 < ri * ri] = (78, 56, 40)
        out[d2 < (0.45 * ri) ** 2] = (14, 12, 12)
        return out[roi]
    n = _noise(roi.shape, CLASSES.index(name), streaks=name in ("hair", "l_brow", "r_brow"))
    amp = 0.5 if name in ("hair", "l_brow", "r_brow", "cloth", "hat") else 0.12
    textured = base[None, None] * (1.0 + amp * n[:, :, None])
    if name in LARGE_REGIONS:  # a new object in the scene: rounded, and lit like the photo around it
        textured = textured * lighting(under, target)[y0:y1, x0:x1, None]
    return textured[roi]


def lighting(under: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Shading ``[H, W]`` (mean ≈ 1 over ``target``) for a new material filling ``target``.

    Two factors: the photo's own low-frequency light around the region (luma blurred over a
    quarter of the region's size, extended into the region from outside by normalised
    convolution, divided by its mean), so a hat is brighter on the side the face is lit from; and
    the shading of a rounded object: the region as a dome (height rising from its outline), lit by
    Lambert's law from above-front and from the side the light around it is brighter on, with
    :data:`SHADE_AMBIENT` of ambient light, so it reads as a solid thing rather than a flat patch.
    """
    t = target.astype(np.float32)
    luma = under @ np.array([0.299, 0.587, 0.114], np.float32)
    ys, xs = np.nonzero(target)
    size = max(8.0, 0.25 * max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1))
    outside = 1.0 - t
    num = cv2.GaussianBlur(luma * outside, (0, 0), size)
    den = cv2.GaussianBlur(outside, (0, 0), size)
    light = num / np.maximum(den, 1e-3)
    light = light / max(1e-3, float(light[target].mean()))
    light = 1.0 + 0.6 * (np.clip(light, 0.5, 1.5) - 1.0)  # light direction, softened
    # a rounded object: a dome over the region (height from the distance to its outline, smoothed),
    # Lambert-lit from the side the photo is brighter on (slope of the light around it) and above
    d = cv2.distanceTransform(np.pad(target, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    dmax = max(2.0, float(d.max()))
    u = np.clip(d / dmax, 0.0, 1.0)
    height = cv2.GaussianBlur((np.sqrt(1.0 - (1.0 - u) ** 2) * dmax).astype(np.float32), (0, 0), max(1.0, 0.05 * dmax))
    gy, gx = np.gradient(height)
    normal = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    ly, lx = np.gradient(cv2.GaussianBlur(light, (0, 0), size))
    side = float(np.clip(lx[target].mean() * size * 4.0, -0.8, 0.8))
    ldir = np.array([side, -LIGHT_ELEVATION, 1.0], np.float32)
    ldir /= np.linalg.norm(ldir)
    lambert = np.clip(normal @ ldir, 0.0, 1.0)
    rounded = SHADE_AMBIENT + (1.0 - SHADE_AMBIENT) * lambert
    shade = light * rounded
    return (shade / max(1e-3, float(shade[target].mean()))).astype(np.float32)


SHADE_AMBIENT = 0.45
"""Share of a new object's light that reaches it from everywhere (the rest is directional, Lambert)."""
LIGHT_ELEVATION = 0.5
"""Upward component of the assumed light direction (portraits are lit from above-front)."""


def _lab_stats(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(np.clip(vals, 0, 255).astype(np.float32)[:, None] / 255.0, cv2.COLOR_RGB2Lab)[:, 0]
    return lab, lab.mean(0), lab.std(0) + 1e-3


def transfer_colour(vals: np.ndarray, ref_vals: np.ndarray) -> np.ndarray:
    """Give ``vals`` the CIE Lab mean and standard deviation of ``ref_vals``.

    Args:
        vals: float ``[N, 3]`` RGB 0–255 values to restyle.
        ref_vals: float ``[M, 3]`` RGB 0–255 values whose statistics they take (std ratio clipped to [0.5, 2]).

    Returns:
        float ``[N, 3]`` RGB in [0, 255].
    """
    lab, mu, sd = _lab_stats(vals)
    _, rmu, rsd = _lab_stats(ref_vals)
    out = (lab - mu) * np.clip(rsd / sd, 0.5, 2.0) + rmu
    rgb = cv2.cvtColor(out.astype(np.float32)[:, None], cv2.COLOR_Lab2RGB)[:, 0]
    return np.clip(rgb * 255.0, 0, 255)


@dataclass
class _Style:
    """An image with its parsing (float32 pixels), and a lazily built mirror image."""

    name: str
    img: np.ndarray
    labels: np.ndarray
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counts = np.bincount(self.labels.ravel(), minlength=len(CLASSES))

    def has(self, name: str) -> bool:
        return bool(self.counts[CLASSES.index(name)] >= MIN_PIXELS)

    def mask(self, name: str) -> np.ndarray:
        return self.labels == CLASSES.index(name)


FACE_LABELS: tuple[str, ...] = ("skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
                                "mouth", "u_lip", "l_lip", "neck")
"""The face and neck: new hair's edge over them is firm, and hair next to them is not copied (it shows skin)."""


def _mostly(values: np.ndarray, names: Sequence[str]) -> bool:
    """Whether more than half of the label ``values`` are among ``names`` (False when there are none)."""
    return bool(values.size) and float(np.isin(values, [CLASSES.index(n) for n in names]).mean()) > 0.5


def _from_image(style: _Style, name: str, target: np.ndarray, in_place: bool,
                cancel: CancelToken | None = None, soft: np.ndarray | None = None,
                painted: np.ndarray | None = None, firm: np.ndarray | None = None,
                progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, str, np.ndarray | None] | None:
    """Render ``name`` from one image: in place / warped, or from its mirrored twin; None if absent.

    ``painted``, ``soft``, ``firm``, ``progress``: see :func:`continue_region`.

    Returns (values ``[N, 3]``, how, which values are new — ``None`` = all).
    """
    if style.has(name):
        if in_place and name in LARGE_REGIONS:
            new = target & ~style.mask(name)
            # parser borders between large regions (hair / skin / background ...) are what strays
            # come from; a part the edit replaced (lips under a smile) has a border of its own
            large = [i for i in np.unique(style.labels[new]) if CLASSES[int(i)] in LARGE_REGIONS]
            replaced = np.isin(style.labels, large) if large else None
            rim = max(2, int(round(2 * max(target.shape) / PARSE_SIDE)))  # parser borders scale with the photo
            face = np.isin(style.labels, [CLASSES.index(n) for n in FACE_LABELS])
            hair = name == "hair"
            over_face = hair and _mostly(style.labels[new], FACE_LABELS)  # a fringe, not longer hair
            vals, fresh = continue_region(style.img, style.mask(name), target, rim=rim, old=replaced, soft=soft,
                                          painted=painted, own_colour=hair, firm=firm,
                                          avoid=face if over_face else None, drape=over_face, cancel=cancel,
                                          progress=progress)
            return vals, f"continued from {style.name}", fresh
        return warp_region(style.img, style.mask(name), target), f"warped from {style.name}", None
    if name in MIRROR and style.has(MIRROR[name][0]):
        twin, axis = MIRROR[name]
        flip_img = np.ascontiguousarray(np.flip(style.img, axis=axis))
        flip_mask = np.ascontiguousarray(np.flip(style.mask(twin), axis=axis))
        return warp_region(flip_img, flip_mask, target), f"mirrored {twin} of {style.name}", None
    return None


CONTEXT_PARTS: tuple[str, ...] = ("l_eye", "r_eye", "l_brow", "r_brow")
"""Parts reshaped in place together with a fading band of the skin around them (:func:`warp_part_in_context`).

Single-label parts only: the lips and the mouth are three labels warped by three separate maps,
whose bands would disagree at the mouth corners (tried: jagged corners, lower parse agreement)."""

OCCLUDERS: tuple[str, ...] = ("eye_g", "hat", "hair", "ear_r", "neck_l")
"""Labels that cover a part without reshaping it (a part only covered by these keeps its pixels)."""


def _occluded_only(target: np.ndarray, same: np.ndarray, edited: np.ndarray) -> bool:
    """True when a region only lost pixels, all of them to occluders (glasses over a brow)."""
    if (target & ~same).any():
        return False
    lost = edited[same & ~target]
    return bool(np.isin(lost, [CLASSES.index(n) for n in OCCLUDERS]).all())


CLEAR_LENS = 0.6
"""A removed lens whose interior is at least this bright relative to the skin around the glasses
counts as clear (the face behind it is kept); darker lenses (sunglasses) are regenerated as skin."""


def _remove_glasses(src: _Style, edited: np.ndarray, out: np.ndarray, regen: np.ndarray,
                    smooth: np.ndarray) -> bool:
    """Glasses removed in the edit: keep the face seen through clear lenses, inpaint only the frame.

    ``eye_g`` is the whole spectacles, so re-rendering all of it as new skin (reflection fill) would
    throw away the face behind clear lenses. Where source ``eye_g`` pixels became skin or nose, the
    lens interior keeps the source pixels (colour-matched to the skin around the glasses) and the
    frame band of :func:`glasses_geometry` (grown by 2 px, for its soft edge and shadow) is
    inpainted. Dark lenses (:data:`CLEAR_LENS`) are left to the skin fill. Updates ``out``,
    ``regen`` and ``smooth`` in place; returns whether it did anything.
    """
    gi = CLASSES.index("eye_g")
    face = np.isin(edited, [CLASSES.index("skin"), CLASSES.index("nose")])
    removed = src.mask("eye_g") & face
    if removed.sum() < MIN_PIXELS:
        return False
    on_top = np.isin(src.labels, [CLASSES.index(n) for n in GLASSES_ON_TOP])
    eyes = np.isin(src.labels, [CLASSES.index("l_eye"), CLASSES.index("r_eye")])
    whole, frame, th = glasses_geometry(src.labels == gi, on_top, eyes)
    # the frame, its soft edge and its shadow (also on skin just outside the glasses)
    brows = np.isin(edited, [CLASSES.index("l_brow"), CLASSES.index("r_brow")]) & on_top
    frame_px = cv2.dilate(frame.astype(np.uint8), _disk(max(2, th))).astype(bool) & (face | brows)
    frame_px &= removed | ~whole | brows
    lens = removed & ~frame_px
    ring = cv2.dilate(whole.astype(np.uint8), _disk(2 * th + 3)).astype(bool) & ~cv2.dilate(
        whole.astype(np.uint8), _disk(th + 2)).astype(bool) & (src.labels == CLASSES.index("skin"))
    if lens.sum() < MIN_PIXELS or ring.sum() < MIN_PIXELS:
        return False
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    skin_mean = src.img[ring].mean(0)
    if float(src.img[lens].mean(0) @ luma) < CLEAR_LENS * float(skin_mean @ luma):
        return False
    # lens: the face behind it, its tint undone by matching the median colour of a band inside the
    # lens (beyond the frame's shadow) to the skin just outside the glasses
    f8 = frame.astype(np.uint8)
    zone = lens & cv2.dilate(f8, _disk(6 * th + 6)).astype(bool) & ~cv2.dilate(f8, _disk(3 * th + 3)).astype(bool)
    zone = zone if zone.sum() >= MIN_PIXELS else lens
    gain = np.clip(np.median(src.img[ring], 0) / np.maximum(np.median(src.img[zone], 0), 1.0), 0.9, 1.12)
    seen = whole & ~frame_px & np.isin(edited, [CLASSES.index(n) for n in ("skin", "nose") + GLASSES_ON_TOP])
    out[seen] = src.img[seen] * gain  # eyes and brows behind the lens lose the tint too
    # frame: inpainted from the pixels around it
    ys, xs = np.nonzero(frame_px)
    pad = 4 * th + 6
    y0, y1 = max(0, ys.min() - pad), min(out.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(out.shape[1], xs.max() + pad + 1)
    roi = np.clip(np.rint(out[y0:y1, x0:x1]), 0, 255).astype(np.uint8)
    filled = cv2.inpaint(roi, frame_px[y0:y1, x0:x1].astype(np.uint8), max(3, th + 1), cv2.INPAINT_TELEA)
    sub = frame_px[y0:y1, x0:x1]
    out[y0:y1, x0:x1][sub] = filled[sub]
    regen |= removed | seen | frame_px
    smooth |= seen
    return True


PARSE_SIDE = 512
"""Side at which label maps are about pixel-exact (the parser's working size): the old border
redone next to new pixels is 2 px at this size and proportionally wider on bigger photos."""

STAND_INS: dict[str, tuple[str, ...]] = {"hat": ("cloth", "hair")}
"""A new object no image has, made of the texture of another region of the photo (a hat of the
sitter's own fabric, or else of felted hair-like fibres), before falling back to a built-in material."""


def _main_colour(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ``mask`` pixels of its main colour: the larger of two k-means clusters in CIE Lab when
    they are far apart (a dark jacket over a white shirt gives a hat of jacket, not of both)."""
    if mask.sum() < 4 * MIN_PIXELS:
        return mask
    lab = cv2.cvtColor(np.clip(img[mask], 0, 255).astype(np.float32)[:, None] / 255.0, cv2.COLOR_RGB2Lab)[:, 0]
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    best = np.zeros((len(lab), 1), np.int32)
    _, idx, centres = cv2.kmeans(np.ascontiguousarray(lab, np.float32), 2, best, crit, 2, cv2.KMEANS_PP_CENTERS)
    if float(np.linalg.norm(centres[0] - centres[1])) < MAIN_COLOUR_SPLIT:
        return mask
    idx = idx.ravel()
    keep = idx == int(np.argmax(np.bincount(idx, minlength=2)))
    out = np.zeros_like(mask)
    ys, xs = np.nonzero(mask)
    out[ys[keep], xs[keep]] = True
    return out


MAIN_COLOUR_SPLIT = 25.0
"""CIE ΔE between two colour clusters of a stand-in region beyond which only the larger is used."""


def _from_stand_in(src: _Style, name: str, target: np.ndarray, under: np.ndarray,
                   cancel: CancelToken | None,
                   progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, str, np.ndarray | None] | None:
    """Synthesise ``name`` from the photo's texture of a stand-in region (:data:`STAND_INS`), lit by
    :func:`lighting`; None when the photo has none of them."""
    for other in STAND_INS.get(name, ()):
        if not src.has(other):
            continue
        ex = _main_colour(src.img, src.mask(other) & ~target)
        if ex.sum() < MIN_PIXELS:
            continue
        ys, xs = np.nonzero(target)
        none = np.zeros_like(target)
        vals = synthesize(src.img, target, ex, inside_src=src.mask(other), inside_dst=target, anchor=none,
                          reach=max(24.0, float(np.ptp(ys)), float(np.ptp(xs))), cancel=cancel,
                          progress=progress)
        shade = lighting(under, target) * fabric(target, photo_grain(src.img), CLASSES.index(name))
        return vals * shade[ys, xs, None], f"synthesised from the photo's {other}, of fabric lit like the photo", None
    return None


BRIM_SHADOW = 0.35
"""Darkening (0–1) of the head just under a new hat (its shadow, light from above)."""


def _brim_shadow(out: np.ndarray, regen: np.ndarray, smooth: np.ndarray, how: dict[str, str],
                 labels: np.ndarray, edited: np.ndarray) -> None:
    """A hat made anew (``how`` says it was synthesised) casts a soft shadow on the head and face
    just below it (light from above, as :func:`lighting` assumes): its new pixels shifted down by
    6 % of their height and blurred as much, darkening by up to :data:`BRIM_SHADOW` the face and
    hair pixels it falls on. Updates ``out``, ``regen`` and ``smooth`` in place."""
    if not how.get("hat", "").startswith("synthesised"):
        return
    hat = (edited == CLASSES.index("hat")) & (labels != CLASSES.index("hat"))
    ys, xs = np.nonzero(hat)
    if len(ys) < MIN_PIXELS:
        return
    shift = max(1.5, 0.06 * float(np.ptp(ys) + 1))
    pad = int(4 * shift) + 2
    y0, y1 = max(0, ys.min() - pad), min(hat.shape[0], ys.max() + 2 * pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(hat.shape[1], xs.max() + pad + 1)
    h8 = hat[y0:y1, x0:x1].astype(np.float32)
    moved = cv2.warpAffine(h8, np.array([[1, 0, 0], [0, 1, shift]], np.float32), (h8.shape[1], h8.shape[0]))
    shadow = cv2.GaussianBlur(moved, (0, 0), shift) * (1.0 - h8)
    head = np.isin(edited[y0:y1, x0:x1], [CLASSES.index(n) for n in FACE_LABELS + ("hair",)])
    dark = head & (shadow > 0.02)
    if not dark.any():
        return
    sub = out[y0:y1, x0:x1]
    sub[dark] *= (1.0 - BRIM_SHADOW * shadow[dark])[:, None]
    regen[y0:y1, x0:x1] |= dark
    smooth[y0:y1, x0:x1] |= dark  # a smooth shadow: no seam to blur


GRAIN_FLOOR = 0.02
"""Least relative fine-grain amplitude of a new fabric (a very clean photo still shows felt)."""
FIBRE_AMPLITUDE = 0.03
"""Relative amplitude of a fabric's fibres and nap (2–3 px blotches)."""
FOLD_AMPLITUDE = 0.06
"""Relative amplitude of a fabric's folds (creases across the region, running away from its outline)."""


def photo_grain(img: np.ndarray) -> float:
    """The photo's fine grain: the median over 16-px tiles of the std of its luma minus a 1-px blur,
    relative to the tile's mean luma (sensor noise, JPEG texture and skin pores all count)."""
    luma = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    fine = luma - cv2.GaussianBlur(luma, (0, 0), 1.0)
    h, w = luma.shape
    t = 16
    hh, ww = h // t * t, w // t * t
    if hh == 0 or ww == 0:
        return GRAIN_FLOOR
    sd = fine[:hh, :ww].reshape(hh // t, t, ww // t, t).std(axis=(1, 3))
    mean = luma[:hh, :ww].reshape(hh // t, t, ww // t, t).mean(axis=(1, 3))
    ok = mean > 20.0
    return float(np.median(sd[ok] / mean[ok])) if ok.any() else GRAIN_FLOOR


def fabric(target: np.ndarray, grain: float, seed: int) -> np.ndarray:
    """Multiplicative texture ``[H, W]`` (≈ 1) of a new cloth object (a hat) over ``target``.

    Three scales, so it reads as felt or cloth rather than a smooth CG surface: the photo's own
    fine grain (``grain``, at least :data:`GRAIN_FLOOR`: a new object must not be cleaner than the
    photo around it), fibres and nap (:data:`FIBRE_AMPLITUDE`), and soft folds
    (:data:`FOLD_AMPLITUDE`): noise stretched along the direction away from the region's outline
    (the gradient of its smoothed distance map), so creases run up a crown and along a brim.
    Deterministic for a ``seed``.
    """
    out = np.ones(target.shape, np.float32)
    ys, xs = np.nonzero(target)
    if len(ys) == 0:
        return out
    pad = 4
    y0, y1 = max(0, ys.min() - pad), min(target.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(target.shape[1], xs.max() + pad + 1)
    roi = target[y0:y1, x0:x1]
    h, w = roi.shape
    size = float(max(h, w))
    rng = np.random.default_rng(seed)

    def unit(a: np.ndarray) -> np.ndarray:
        return (a - a.mean()) / max(1e-6, float(a.std()))

    fine = unit(cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.6))
    fibre = unit(cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), max(1.0, 0.006 * size)))
    # folds: noise long along one axis, narrow across it, mixed by the outline's direction
    long_, narrow = max(2.0, 0.2 * size), max(1.0, 0.015 * size)
    base = rng.standard_normal((h, w)).astype(np.float32)
    along_y = unit(cv2.GaussianBlur(base, (0, 0), sigmaX=narrow, sigmaY=long_))
    along_x = unit(cv2.GaussianBlur(base.T.copy(), (0, 0), sigmaX=narrow, sigmaY=long_).T)
    d = cv2.GaussianBlur(cv2.distanceTransform(np.pad(roi, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1],
                         (0, 0), max(1.0, 0.05 * size))
    gy, gx = np.gradient(d)
    wy = gy * gy / np.maximum(gx * gx + gy * gy, 1e-6)
    folds = wy * along_y + (1.0 - wy) * along_x
    amp = max(GRAIN_FLOOR, grain)
    tex = 1.0 + amp * fine + FIBRE_AMPLITUDE * fibre + FOLD_AMPLITUDE * folds
    out[y0:y1, x0:x1] = np.clip(tex, 0.6, 1.4)
    return out


def _without_exemplar(src: _Style, name: str, target: np.ndarray, under: np.ndarray,
                      cancel: CancelToken | None,
                      progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, str, np.ndarray | None]:
    """A label no image has: synthesised from a stand-in region of the photo, else a built-in material."""
    got = _from_stand_in(src, name, target, under, cancel, progress)
    return got if got is not None else (material(name, target, under), "built-in material", None)


def _soft_against(edited: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels a new region of label ``c`` blends its edge toward, widely and narrowly: hair edges
    are soft, whichever side is new (new hair against the background or clothes, anything new
    against hair); new hair over the face ends firmly (strands end on skin, they do not glow)."""
    hair = CLASSES.index("hair")
    if c != hair:
        return edited == hair, None
    face = np.isin(edited, [CLASSES.index(n) for n in FACE_LABELS])
    return (edited != c) & ~face, face


def _reference_style(reference: np.ndarray | None, reference_labels: np.ndarray | None) -> _Style | None:
    """The checked style reference (``None`` without one).

    Raises:
        ValueError: a reference without its label map, or labels of another size.
    """
    if reference is None:
        return None
    if reference_labels is None:
        raise ValueError("a reference needs its label map")
    rimg = validate_rgb(reference, "reference")
    rlab = check_labels(reference_labels, "reference labels")
    if rlab.shape != rimg.shape[:2]:
        raise ValueError("reference labels must match the reference image")
    return _Style("reference", rimg.astype(np.float32), rlab)


def _restyle(vals: np.ndarray, how: str, ref: _Style, name: str, target: np.ndarray,
             blend: float) -> tuple[np.ndarray, str]:
    """Mix the reference's style of label ``name`` into ``vals`` (``[N, 3]`` for ``target``) by ``blend``.

    Large regions take the reference region's Lab statistics, parts are warped from the reference;
    returns the new values and the updated description.
    """
    if name in LARGE_REGIONS and ref.has(name):
        rv = transfer_colour(vals, ref.img[ref.mask(name)])
        rhow = "colour of reference"
    else:
        r = _from_image(ref, name, target, in_place=False)
        rv, rhow = (r[0], r[1]) if r is not None else (vals, "reference lacks it: source kept")
    return vals * (1.0 - blend) + rv * blend, f"{how}; {rhow} ×{blend:.2f}"


def _smooth_seams(out: np.ndarray, edited: np.ndarray, regen: np.ndarray, smooth: np.ndarray,
                  feather: float, synthesized: np.ndarray | None = None) -> None:
    """Blur (σ = ``feather`` px) the 2-px band across the edited label borders, where pixels were
    regenerated and not by a continuous warp nor synthesised (those were blended in the gradient
    domain and have soft hair edges: a blur there only flattens their texture); updates ``out`` and
    ``regen`` in place."""
    k = np.ones((3, 3), np.uint8)
    edges = cv2.morphologyEx(edited, cv2.MORPH_GRADIENT, k) > 0  # 2-px band across label borders
    band = edges & cv2.dilate(regen.astype(np.uint8), k).astype(bool)
    band &= ~cv2.erode(smooth.astype(np.uint8), k).astype(bool)
    if synthesized is not None:
        band &= ~cv2.dilate(synthesized.astype(np.uint8), k).astype(bool)
    if band.any():
        blurred = cv2.GaussianBlur(out, (0, 0), feather)
        out[band] = blurred[band]
        regen |= band


def _checked_inputs(image: np.ndarray, labels: np.ndarray,
                    edited: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image, labels, edited)`` checked: RGB ``uint8`` and two label maps of the image's size.

    Raises:
        ValueError: shapes or values do not match.
    """
    image = validate_rgb(image)
    labels = check_labels(labels, "source labels")
    edited = check_labels(edited, "edited mask")
    if labels.shape != image.shape[:2] or edited.shape != image.shape[:2]:
        raise ValueError(f"label maps {labels.shape} / {edited.shape} must match the image {image.shape[:2]}")
    return image, labels, edited


def _checked_painted(painted: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The painted mask as bool of the image's ``shape``; None when absent or empty.

    Raises:
        ValueError: another shape.
    """
    if painted is None:
        return None
    out = np.asarray(painted, bool)
    if out.shape != shape:
        raise ValueError(f"painted mask {out.shape} must match the image {shape}")
    return out if out.any() else None


class RenderMeter:
    """Tells a ``progress`` callback the share of a render done, label by label.

    Each step weighs its ``weights`` entry plus 1 % of the total (so a step that changes nothing
    still moves the bar a little); :meth:`start` reports the steps before it as done and returns a
    callback that maps the step's own 0–1 progress into its share. Reports never decrease.

    Args:
        progress: the callback (None: nothing is reported).
        weights: work per step (changed pixels).

    Example:
        >>> seen = []
        >>> m = RenderMeter(seen.append, [0, 300, 100])
        >>> inner = m.start(1); inner(0.5); _ = m.start(2); m.finish()
        >>> [round(v, 2) for v in seen]
        [0.01, 0.38, 0.75, 1.0]
    """

    def __init__(self, progress: Callable[[float], None] | None, weights: Sequence[int]) -> None:
        self.progress = progress
        pad = 0.01 * max(1.0, float(sum(weights)))
        self.weights = [float(w) + pad for w in weights]
        self.total = sum(self.weights) or 1.0
        self.done = 0.0

    def _tell(self, value: float) -> None:
        if self.progress is not None and value >= self.done:
            self.done = value
            self.progress(min(1.0, value))

    def start(self, step: int) -> Callable[[float], None] | None:
        """Report the steps before ``step`` done; the callback for the step's own progress (None without one)."""
        if self.progress is None:
            return None
        base = sum(self.weights[:step]) / self.total
        share = self.weights[step] / self.total
        self._tell(base)
        return lambda f: self._tell(base + share * float(np.clip(f, 0.0, 1.0)))

    def finish(self) -> None:
        """Report the render done."""
        self._tell(1.0)


def regenerate(image: np.ndarray, labels: np.ndarray, edited: np.ndarray, *,
               reference: np.ndarray | None = None, reference_labels: np.ndarray | None = None,
               reference_regions: Sequence[str] = (), blend: float = 1.0, feather: float = 1.0,
               painted: np.ndarray | None = None, cancel: CancelToken | None = None,
               progress: Callable[[float], None] | None = None,
               ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Classical regeneration of ``image`` so that it follows the ``edited`` label map.

    Args:
        image: ``uint8`` ``[H, W, 3]`` source.
        labels: ``uint8`` ``[H, W]`` official-order parsing of ``image``.
        edited: ``uint8`` ``[H, W]`` edited label map (official order).
        reference: optional ``uint8`` ``[h, w, 3]`` style reference (any size).
        reference_labels: its parsing (required with ``reference``).
        reference_regions: label names styled from the reference.
        blend: 0–1 weight of the reference style in those regions.
        feather: seam smoothing sigma in pixels (0 = none).
        painted: optional bool ``[H, W]``: the pixels the user painted (brush, fill, shapes). A
            large region's pixels inside a painted piece that changed labels are redone even where
            they had the label already (:func:`repainted_pixels`: a fringe the parser called skin,
            painted skin, becomes skin); None = only pixels whose label changed are redone.
        cancel: checked between labels.
        progress: told the share of the render done (0–1, never decreasing; 1 at the end): each
            label weighs the pixels it newly covers (:class:`RenderMeter`), its synthesis reports within it.

    Returns:
        (result ``uint8`` ``[H, W, 3]``, masks ``{"changed": labels differ, "regenerated": pixels
        rendered}``, info ``{"regions": {label: how it was rendered}}``).

    Raises:
        ValueError: shapes or values do not match.
    """
    image, labels, edited = _checked_inputs(image, labels, edited)
    ref = _reference_style(reference, reference_labels) if reference_regions and blend > 0 else None
    changed = edited != labels
    painted = _checked_painted(painted, labels.shape)
    masks = {"changed": changed, "regenerated": np.zeros(labels.shape, bool)}
    if not changed.any() and ref is None and painted is None:
        return image.copy(), masks, {"regions": {}}
    src = _Style("source", image.astype(np.float32), labels)
    out = src.img.copy()
    regen = masks["regenerated"]
    how: dict[str, str] = {}
    present = [int(c) for c in np.flatnonzero(np.bincount(edited.ravel(), minlength=len(CLASSES)))]
    skin = CLASSES.index("skin")
    taken = np.zeros(labels.shape, bool)   # pixels a face part (or its band) rendered
    smooth = np.zeros(labels.shape, bool)  # pixels rendered by a continuous warp (no seam to smooth)
    synthesized = np.zeros(labels.shape, bool)  # pixels synthesised in place (continue_region)
    order = sorted(present, key=lambda i: (CLASSES[i] in DRAWN_LAST, i))
    gained = np.bincount(edited[changed], minlength=len(CLASSES))  # a label's work: the pixels it newly covers
    meter = RenderMeter(progress, [int(gained[c]) for c in order])
    for step, c in enumerate(order):
        if cancel is not None:
            cancel.raise_if_cancelled()
        within = meter.start(step)
        name = CLASSES[c]
        target = edited == c
        styled = ref is not None and name in reference_regions
        same = labels == c
        repaint = painted is not None and name in LARGE_REGIONS and bool((painted & target).any())
        if not styled and not repaint and (np.array_equal(target, same) or _occluded_only(target, same, edited)):
            continue
        if not styled and name in CONTEXT_PARTS and src.has(name) and (target & same).any():
            # the part is reshaped in place: move its surroundings (lids, lashes, lip line) with it
            band_ok = (edited == skin) & ((labels == skin) | same) & ~taken
            ys, xs, vals = warp_part_in_context(src.img, same, target, band_ok)
            out[ys, xs] = vals
            regen[ys, xs] = taken[ys, xs] = smooth[ys, xs] = True
            how[name] = "warped from source with its surroundings"
            continue
        ys, xs = np.nonzero(target)
        soft, firm = _soft_against(edited, c)
        got = _from_image(src, name, target, in_place=True, cancel=cancel, soft=soft, firm=firm,
                          painted=painted, progress=within)
        if got is None and ref is not None:
            got = _from_image(ref, name, target, in_place=False)
        if got is None and name == "eye_g" and not styled:
            # spectacles where no image has any: frame + see-through lenses over the face as rendered
            on_top = np.isin(edited, [CLASSES.index(n) for n in GLASSES_ON_TOP])
            gy, gx, gv = render_glasses(out, target, on_top, shadow_ok=np.isin(edited, [skin, CLASSES.index("nose")]),
                                        behind=np.isin(edited, [CLASSES.index("l_eye"), CLASSES.index("r_eye")]))
            out[gy, gx] = gv
            regen[gy, gx] = smooth[gy, gx] = True
            how[name] = "built-in material (spectacles: frame, see-through lenses)"
            continue
        if got is None:
            got = _without_exemplar(src, name, target, out, cancel, within)
        vals, how_c, fresh = got
        if fresh is None:
            fresh = np.ones(len(ys), bool)
        if styled and ref is not None:
            vals, how_c = _restyle(vals, how_c, ref, name, target, blend)
            fresh = np.ones(len(ys), bool)
        if not fresh.any():
            continue
        how[name] = how_c
        out[ys[fresh], xs[fresh]] = vals[fresh]
        regen[ys[fresh], xs[fresh]] = True
        synthesized[ys[fresh], xs[fresh]] = how_c.startswith("continued")  # one label per pixel
    _brim_shadow(out, regen, smooth, how, labels, edited)
    if "eye_g" not in reference_regions or ref is None:
        if _remove_glasses(src, edited, out, regen, smooth):
            how["skin"] = how.get("skin", "continued from source") + "; glasses removed: lenses kept, frame inpainted"
    if feather > 0 and regen.any():
        _smooth_seams(out, edited, regen, smooth, feather, synthesized)
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    result[~regen] = image[~regen]
    meter.finish()
    return result, masks, {"regions": how}


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map.

    Args:
        labels: ``uint8`` ``[h, w]`` label map.
        shape: ``(H, W)`` wanted.

    Returns:
        ``uint8`` ``[H, W]`` (``labels`` itself when it already has that shape).
    """
    if labels.shape == tuple(shape):
        return labels
    return cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
