"""Seeded procedural Peking-opera facial masks (lianpu): colour image, line art and region map.

A design is two independent seeded draws:

* :class:`LianpuDesign` — the *shapes*: face outline, forehead motif, eye patches with their white
  rims, eye sockets, brows, nose, cheek marks, moustache/mouth area, lips and chin. Every shape is
  drawn on the right half and mirrored, so designs are exactly symmetric about the vertical axis.
* :class:`LianpuPalette` — the *colours*: the main (dominant) colour is one of the opera paper's
  seven classes (:data:`engine.labels.OPERA_COLOURS`), the others are pattern / accent / rim paints.

:func:`render_lianpu` paints a design with a palette; style mixing is simply a design of one seed
painted with the palette of another (:func:`generate_lianpu` with ``colour_seed``). Rendering
works on a label map (one label per part, see :data:`LIANPU_PARTS`) drawn at twice the output
size; the black contours are the label boundaries, so the line art always closes every region.

Example:
    >>> d = generate_lianpu(3, colour="blue", size=128)
    >>> d.image.shape, d.line_art.shape, d.regions.shape, d.colour
    ((128, 128, 3), (128, 128), (128, 128), 'blue')
    >>> bool((d.image == d.image[:, ::-1]).mean() > 0.97)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.labels import OPERA_COLOUR_RGB, OPERA_COLOURS

LIANPU_PARTS: tuple[str, ...] = (
    "background", "face", "cheek", "forehead", "forehead_inner", "eye_rim", "eye_patch",
    "eye_socket", "pupil", "brow", "nose", "beard", "lips", "chin",
)
"""Region-map labels: index = value in :attr:`Lianpu.regions` (left and right share a label)."""

PAPER_RGB: tuple[int, int, int] = (255, 255, 255)
"""Colour outside the face (the reference lianpu are composited on white)."""

LINE_RGB: tuple[int, int, int] = (16, 16, 18)
"""Colour of the contours in the colour image."""

_REF = 512.0  # design coordinates are in a 512-pixel frame, origin on the axis at the face centre
_CY = 262.0   # face centre row in the 512 frame
_FOREHEAD_KINDS = ("flame", "pillar", "disc", "spear", "bat")


@dataclass(frozen=True)
class Lianpu:
    """One rendered lianpu.

    Args:
        image: ``uint8`` ``[H, W, 3]`` RGB colour design on white paper.
        line_art: ``uint8`` ``[H, W]``: 255 paper, 0 contour (anti-aliased).
        regions: ``uint8`` ``[H, W]`` part labels, indices into :data:`LIANPU_PARTS`.
        colour: the main-colour class (one of :data:`engine.labels.OPERA_COLOURS`).
        seed: seed of the shapes.
        colour_seed: seed of the palette (equal to ``seed`` unless styles were mixed).
    """

    image: np.ndarray
    line_art: np.ndarray
    regions: np.ndarray
    colour: str
    seed: int
    colour_seed: int

    @property
    def face_mask(self) -> np.ndarray:
        """``bool`` ``[H, W]``: inside the face outline (for transparent export)."""
        return self.regions > 0


def _chaikin(pts: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Closed Chaikin corner cutting: a smooth curve through the polygon's corners."""
    for _ in range(iterations):
        nxt = np.roll(pts, -1, axis=0)
        pts = np.stack([0.75 * pts + 0.25 * nxt, 0.25 * pts + 0.75 * nxt], axis=1).reshape(-1, 2)
    return pts


def _symmetric(half: np.ndarray) -> np.ndarray:
    """A closed shape from right-half points running from the axis (x=0) back to the axis."""
    mirrored = half[::-1].copy()
    mirrored[:, 0] *= -1
    return np.concatenate([half, mirrored[1:-1]])


def _jitter(rng: np.random.Generator, pts: list[tuple[float, float]], amount: float) -> np.ndarray:
    arr = np.asarray(pts, np.float64)
    return arr + rng.uniform(-amount, amount, arr.shape)


@dataclass(frozen=True)
class LianpuDesign:
    """The shapes of a lianpu, in a 512-pixel design frame (x from the axis, y from the centre).

    Args:
        face: closed face outline (already symmetric), ``[N, 2]``.
        parts: ``(label, polygon, mirrored)`` in painting order; ``mirrored`` polygons are right-half
            shapes painted on both sides, the others are symmetric shapes on the axis.
        forehead_kind: name of the forehead motif (for display and tests).
    """

    face: np.ndarray
    parts: tuple[tuple[int, np.ndarray, bool], ...]
    forehead_kind: str

    @classmethod
    def from_seed(cls, seed: int) -> LianpuDesign:
        """Draw the shapes of design ``seed`` (any int ≥ 0)."""
        rng = np.random.default_rng([int(seed), 0x11A9])
        lab = {n: i for i, n in enumerate(LIANPU_PARTS)}
        w = rng.uniform(0.92, 1.04)
        jaw = rng.uniform(0.85, 1.0)
        face_half = np.array([(0, -238), (95 * w, -230), (165 * w, -195), (196 * w, -125),
                              (200 * w, -40), (188 * w * (0.5 + jaw / 2), 55), (160 * w * jaw, 140),
                              (118 * jaw, 200), (62, 236), (0, 244)], np.float64)
        face = _chaikin(_symmetric(face_half))
        parts: list[tuple[int, np.ndarray, bool]] = []

        def sym(label: str, half: np.ndarray) -> None:
            parts.append((lab[label], _chaikin(_symmetric(half)), False))

        def side(label: str, poly: np.ndarray) -> None:
            parts.append((lab[label], _chaikin(poly), True))

        # cheeks: a sweeping mark under the eye patch, sometimes absent
        if rng.random() < 0.75:
            side("cheek", _jitter(rng, [(70, 20), (130, 0), (182, 30), (170, 95), (125, 120), (85, 80)], 12))
        # forehead motif
        kind = _FOREHEAD_KINDS[int(rng.integers(len(_FOREHEAD_KINDS)))]
        top = rng.uniform(-232, -205)
        if kind == "flame":
            half = _jitter(rng, [(0, top), (22, top + 45), (36, top + 95), (24, top + 140), (0, -62)], 6)
            half[0, 0] = half[-1, 0] = 0
            sym("forehead", half)
            inner = [(0, top + 50), (12, top + 85), (10, top + 115), (0, top + 125)]
            sym("forehead_inner", np.asarray(inner, np.float64))
        elif kind == "pillar":
            half = _jitter(rng, [(0, top), (40, top + 8), (20, top + 40), (14, -95), (22, -62), (0, -55)], 5)
            half[0, 0] = half[-1, 0] = 0
            sym("forehead", half)
        elif kind == "disc":
            r = rng.uniform(28, 40)
            cy = rng.uniform(-165, -140)
            t = np.linspace(-np.pi / 2, np.pi / 2, 9)
            sym("forehead", np.stack([r * np.cos(t), cy + r * np.sin(t)], 1))
            sym("forehead_inner", np.stack([0.5 * r * np.cos(t), cy + 0.5 * r * np.sin(t)], 1))
        elif kind == "spear":
            half = _jitter(rng, [(0, top), (10, top + 60), (30, -120), (12, -80), (0, -58)], 5)
            half[0, 0] = half[-1, 0] = 0
            sym("forehead", half)
        else:  # bat: wide wings over the brows
            half = _jitter(rng, [(0, -150), (40, -185), (105, -200), (80, -160), (120, -150), (40, -120), (0, -110)], 8)
            half[0, 0] = half[-1, 0] = 0
            sym("forehead", half)
        # eye patch with a white rim: shape varies from upswept (sharp temple tip) to drooping
        lift = rng.uniform(0, 70)
        reach = rng.uniform(0.9, 1.1)
        patch = _jitter(rng, [(20, -28), (30, -78), (70 * reach, -120 - lift / 2), (125 * reach, -150 - lift),
                              (140 * reach, -110 - lift / 3), (184, -72), (178, -25), (145, 12), (95, 24),
                              (48, 12)], 7)
        centre = patch.mean(axis=0)
        patch = centre + (patch - centre) * 0.86
        rim = centre + (patch - centre) * np.array([1.18, 1.22])
        rim[:, 0] = np.maximum(rim[:, 0], 6)
        side("eye_rim", rim)
        side("eye_patch", patch)
        # brow: a sweep above the socket, on the patch
        bl = rng.uniform(-10, 20)
        side("brow", _jitter(rng, [(40, -80), (90, -100 - bl), (150, -98 - bl), (165, -84 - bl),
                                  (120, -82), (70, -70)], 5))
        # eye socket (white almond) and pupil
        sw = rng.uniform(0.9, 1.12)
        ex = 98.0
        side("eye_socket", np.array([(ex - 38 * sw, -38), (ex - 5, -58), (ex + 40 * sw, -46),
                                     (ex + 22, -24), (ex - 8, -22)], np.float64))
        tt = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        side("pupil", np.stack([ex + 8 * np.cos(tt), -39 + 8 * np.sin(tt)], 1))
        # nose patch
        nw = rng.uniform(0.8, 1.25)
        sym("nose", np.array([(0, -28), (14 * nw, 8), (30 * nw, 48), (22 * nw, 64), (0, 60)], np.float64))
        # moustache / mouth area: hangs down at the corners
        drop = rng.uniform(150, 200)
        bw = rng.uniform(0.85, 1.15)
        beard = _jitter(rng, [(0, 68), (45 * bw, 70), (85 * bw, 95), (105 * bw, drop - 30), (88 * bw, drop),
                              (70 * bw, drop - 35), (48 * bw, 128), (0, 124)], 6)
        beard[0, 0] = beard[-1, 0] = 0
        sym("beard", beard)
        sym("lips", np.array([(0, 96), (22, 97), (40, 107), (22, 116), (0, 114)], np.float64))
        sym("chin", _jitter(rng, [(0, 150), (40, 154), (58, 188), (40, 222), (0, 236)], 5))
        return cls(face=face, parts=tuple(parts), forehead_kind=kind)


@dataclass(frozen=True)
class LianpuPalette:
    """The paints of a lianpu.

    Args:
        colour: main-colour class, one of :data:`engine.labels.OPERA_COLOURS`.
        rgb: paint per part label, ``[len(LIANPU_PARTS), 3]`` ``uint8``.
    """

    colour: str
    rgb: np.ndarray

    @classmethod
    def from_seed(cls, seed: int, colour: str | None = None) -> LianpuPalette:
        """Draw the paints of palette ``seed``; ``colour`` forces the main class.

        Raises:
            ValueError: ``colour`` is not one of the seven opera classes.
        """
        if colour is not None and colour not in OPERA_COLOURS:
            raise ValueError(f"unknown opera colour {colour!r}; choose from {', '.join(OPERA_COLOURS)}")
        rng = np.random.default_rng([int(seed), 0xC010])
        drawn = OPERA_COLOURS[int(rng.integers(len(OPERA_COLOURS)))]
        main = colour or drawn

        def paint(name: str, spread: float = 14.0) -> np.ndarray:
            base = np.asarray(OPERA_COLOUR_RGB[name], np.float64)
            if name in ("black", "white"):  # neutral paints stay neutral
                return np.clip(base + rng.uniform(-spread, spread) * 0.5, 0, 255)
            return np.clip(base + rng.uniform(-spread, spread, 3), 0, 255)

        black = paint("black", 4)
        white = paint("white", 4)
        base = paint(main, 9.0)
        accents = [c for c in ("red", "yellow", "white", "blue", "green", "purple") if c != main]
        accent = paint(accents[int(rng.integers(len(accents)))])
        pattern = black
        # a black face carries its pattern in white rims and motifs (Bao Zheng style)
        rim = accent if main == "white" else white
        lab = {n: i for i, n in enumerate(LIANPU_PARTS)}
        rgb = np.zeros((len(LIANPU_PARTS), 3), np.float64)
        rgb[lab["background"]] = PAPER_RGB
        rgb[lab["face"]] = base
        rgb[lab["cheek"]] = accent if rng.random() < 0.7 or main == "black" else pattern
        rgb[lab["forehead"]] = white if main == "black" else accent
        rgb[lab["forehead_inner"]] = paint("yellow") if main != "yellow" else paint("red")
        rgb[lab["eye_rim"]] = rim
        rgb[lab["eye_patch"]] = pattern
        rgb[lab["eye_socket"]] = white if main != "white" else paint("white", 2) * 0.97
        rgb[lab["pupil"]] = black
        rgb[lab["brow"]] = white if main != "white" and rng.random() < 0.5 else accent
        rgb[lab["nose"]] = pattern if rng.random() < 0.4 and main != "white" else accent
        rgb[lab["beard"]] = pattern
        rgb[lab["lips"]] = paint("red", 8)
        rgb[lab["chin"]] = white if main != "white" else paint("white", 2) * 0.95
        return cls(colour=main, rgb=np.round(rgb).astype(np.uint8))


def _fill(canvas: np.ndarray, poly: np.ndarray, value: int, scale: float, cx: float, cy: float,
          mirrored: bool) -> None:
    polys = [poly] + ([poly * [-1, 1]] if mirrored else [])
    pts = [np.round(p * scale + [cx, cy]).astype(np.int32) for p in polys]
    cv2.fillPoly(canvas, pts, int(value))


def render_regions(design: LianpuDesign, size: int) -> np.ndarray:
    """Paint the part labels of ``design`` into a ``uint8`` ``[size, size]`` region map."""
    regions = np.zeros((size, size), np.uint8)
    s = size / _REF
    cx, cy = size / 2.0, _CY * s
    face = np.zeros_like(regions)
    _fill(face, design.face, 1, s, cx, cy, False)
    regions[face > 0] = 1
    for label, poly, mirrored in design.parts:
        _fill(regions, poly, label, s, cx, cy, mirrored)
    regions[face == 0] = 0
    # exact mirror symmetry (integer rounding can differ by one pixel between the halves)
    half = size // 2
    regions[:, size - half:] = regions[:, :half][:, ::-1]
    return regions


def render_lianpu(design: LianpuDesign, palette: LianpuPalette, size: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint ``design`` with ``palette``.

    Args:
        design: the shapes.
        palette: the paints.
        size: output side in pixels (64–4096).

    Returns:
        ``(image, line_art, regions)``: RGB ``uint8`` ``[size, size, 3]``, grey ``uint8``
        ``[size, size]`` (255 paper, 0 line), ``uint8`` labels ``[size, size]``.

    Raises:
        ValueError: ``size`` out of range.
    """
    if not 64 <= int(size) <= 4096:
        raise ValueError(f"lianpu size must be in [64, 4096], got {size}")
    size = int(size)
    big = render_regions(design, 2 * size)  # 2× supersampling for anti-aliased edges
    edge = np.zeros(big.shape, bool)
    dx = big[:, 1:] != big[:, :-1]
    dy = big[1:, :] != big[:-1, :]
    edge[:, 1:] |= dx  # both sides of every boundary: symmetric strokes
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    thick = 2 * max(1, int(round(size / 300.0))) + 1  # odd (centred) kernel, 2.5 px at 512
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thick, thick))
    lines = cv2.dilate(edge.astype(np.uint8), kernel)
    # outer contour is bolder, like the reference masks
    face_edge = cv2.dilate(((big > 0) != (cv2.erode((big > 0).astype(np.uint8), kernel) > 0)).astype(np.uint8), kernel)
    lines = np.maximum(lines, face_edge)
    colour = palette.rgb[big]
    colour[lines > 0] = LINE_RGB
    image = cv2.resize(colour, (size, size), interpolation=cv2.INTER_AREA)
    line_art = cv2.resize(np.where(lines > 0, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    regions = render_regions(design, size)
    return image, line_art, regions


def generate_lianpu(seed: int, colour: str | None = None, size: int = 512,
                    colour_seed: int | None = None) -> Lianpu:
    """A seeded procedural lianpu.

    Args:
        seed: seed of the shapes (int ≥ 0); the same seed always gives the same design.
        colour: main-colour class to force (one of :data:`engine.labels.OPERA_COLOURS`); ``None``
            draws it from the palette seed.
        size: side of the square output in pixels (64–4096).
        colour_seed: seed of the palette; ``None`` = ``seed``. A different value is style mixing:
            the shapes of ``seed`` painted with the colours of ``colour_seed``.

    Returns:
        A :class:`Lianpu` (colour image, line art, region map, main colour).

    Raises:
        ValueError: negative seed, unknown colour or size out of range.
    """
    if int(seed) < 0 or (colour_seed is not None and int(colour_seed) < 0):
        raise ValueError("lianpu seeds must be ≥ 0")
    cs = int(seed if colour_seed is None else colour_seed)
    design = LianpuDesign.from_seed(int(seed))
    palette = LianpuPalette.from_seed(cs, colour)
    image, line_art, regions = render_lianpu(design, palette, size)
    return Lianpu(image=image, line_art=line_art, regions=regions, colour=palette.colour,
                  seed=int(seed), colour_seed=cs)


def lianpu_sheet(seeds: list[int], size: int = 192, columns: int = 6, colour: str | None = None) -> np.ndarray:
    """A contact sheet of designs (for looking at the generator's range).

    Args:
        seeds: design seeds, one tile each.
        size: tile side in pixels.
        columns: tiles per row.
        colour: force this main colour on every tile (``None`` = drawn per seed).

    Returns:
        RGB ``uint8`` sheet, white where a row is incomplete.
    """
    tiles = [generate_lianpu(s, colour, size).image for s in seeds]
    while len(tiles) % columns:
        tiles.append(np.full((size, size, 3), 255, np.uint8))
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)
