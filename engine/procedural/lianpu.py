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

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.labels import OPERA_COLOUR_RGB, OPERA_COLOURS

LIANPU_PARTS: tuple[str, ...] = (
    "background", "face", "cheek", "forehead", "forehead_inner", "eye_rim", "eye_patch",
    "eye_socket", "pupil", "brow", "nose", "beard", "lips", "chin",
    # the role-type grammars' parts (after the classic template's, whose values stay)
    "upper", "lower", "cross", "motif_a", "motif_b", "motif_c", "wrinkle", "dots", "eye_patch_b",
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
        role: the composition (``"classic"`` or a key of :data:`ROLE_TYPES`).
    """

    image: np.ndarray
    line_art: np.ndarray
    regions: np.ndarray
    colour: str
    seed: int
    colour_seed: int
    role: str = "classic"

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
        role: the composition: ``"classic"`` (the original template family of
            :meth:`from_seed`) or a role type of :data:`ROLE_TYPES` (:meth:`for_role`).
        symmetric: whether the design is mirror-symmetric (all but the crooked face 歪脸).
    """

    face: np.ndarray
    parts: tuple[tuple[int, np.ndarray, bool], ...]
    forehead_kind: str
    role: str = "classic"
    symmetric: bool = True

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


# ---------------------------------------------------------------------------------------------
# Role types: composition grammars of the tradition
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoleType:
    """A lianpu composition type.

    Args:
        name: Chinese name.
        title: English name.
        description: how the face is divided, as the grammar draws it.
        colours: main colours the type is painted with, most usual first (with their meaning,
            :data:`engine.studios.opera.classical.OPERA_COLOUR_MEANINGS`).
    """

    name: str
    title: str
    description: str
    colours: tuple[str, ...]


ROLE_TYPES: dict[str, RoleType] = {
    "zheng": RoleType("整脸", "whole face", "one main colour over the whole face; only brows, eyes, nose and mouth "
                      "are drawn on it, with wrinkle lines on the forehead (Guan Yu, Bao Zheng, Cao Cao)",
                      ("red", "black", "white", "purple", "yellow")),
    "sankuaiwa": RoleType("三块瓦", "three tiles", "large eye patches joined by the brows and the nose divide the "
                          "main colour into three tiles: forehead and two cheeks",
                          ("red", "black", "blue", "green", "purple", "yellow")),
    "shizimen": RoleType("十字门", "cross door", "the main colour as a cross: a stripe from the top of the forehead "
                         "down the nose, crossed by a band through the eyes, on a light face",
                         ("black", "blue", "purple", "green", "red")),
    "liufen": RoleType("六分脸", "six-tenths", "the forehead (four tenths) light under big brows, the lower six "
                       "tenths of the face in the main colour",
                       ("red", "purple", "black")),
    "suihua": RoleType("碎花脸", "broken flowers", "the face broken up by many small motifs in several colours: "
                       "split eye patches, swirls on forehead and cheeks",
                       ("blue", "green", "red", "purple", "black", "yellow")),
    "wai": RoleType("歪脸", "crooked face", "left and right differ: eye patches of different shape and colour, "
                    "a bent nose and a tilted mouth (villains, the disfigured)",
                    ("red", "blue", "green", "black", "yellow")),
    "yuanbao": RoleType("元宝脸", "ingot face", "the upper face in the main colour, the lower face light, their "
                        "border rising at the sides like a silver ingot",
                        ("red", "black", "purple", "blue")),
    "xiangxing": RoleType("象形脸", "pictographic face", "an animal or spirit drawn into the face: the Monkey King's "
                          "peach, a butterfly, tiger stripes",
                          ("yellow", "green", "red", "white")),
    "sengdao": RoleType("僧道脸", "monk face", "a round face with a rosary of dots or a ring on the forehead, "
                        "drooping eye patches and a round red nose",
                        ("red", "yellow", "white")),
}
"""The role types of :func:`generate_lianpu` (``role=``): key → :class:`RoleType`."""

ROLE_KEYS: tuple[str, ...] = tuple(ROLE_TYPES)
"""The role-type keys in display order."""

_EYE = (98.0, -40.0)  # right eye centre in the design frame


def _circle(cx: float, cy: float, rx: float, ry: float | None = None, n: int = 16) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + (rx if ry is None else ry) * np.sin(t)], 1)


def _half_circle(cy: float, r: float, ry: float | None = None, n: int = 9) -> np.ndarray:
    t = np.linspace(-np.pi / 2, np.pi / 2, n)
    return np.stack([r * np.cos(t), cy + (r if ry is None else ry) * np.sin(t)], 1)


def _on_axis(half: np.ndarray) -> np.ndarray:
    half = half.copy()
    half[0, 0] = half[-1, 0] = 0.0
    return half


class _Grammar:
    """Collects the parts of one role design (right-half shapes mirrored, axis shapes symmetric)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.lab = {n: i for i, n in enumerate(LIANPU_PARTS)}
        self.parts: list[tuple[int, np.ndarray, bool]] = []

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def jit(self, pts: Sequence[Sequence[float]] | np.ndarray, amount: float) -> np.ndarray:
        return _jitter(self.rng, list(map(tuple, np.asarray(pts, np.float64))), amount)

    def sym(self, label: str, half: np.ndarray, smooth: int = 3) -> None:
        self.parts.append((self.lab[label], _chaikin(_symmetric(_on_axis(half)), smooth), False))

    def side(self, label: str, poly: np.ndarray, smooth: int = 3) -> None:
        self.parts.append((self.lab[label], _chaikin(np.asarray(poly, np.float64), smooth), True))

    def single(self, label: str, poly: np.ndarray, smooth: int = 3) -> None:
        """A shape drawn once where it is (not mirrored): the crooked face's own sides."""
        self.parts.append((self.lab[label], _chaikin(np.asarray(poly, np.float64), smooth), False))

    # -- the vocabulary -----------------------------------------------------------------------
    def face(self, round_: bool = False) -> np.ndarray:
        w = self.u(0.92, 1.04) * (1.04 if round_ else 1.0)
        jaw = self.u(0.95, 1.08) if round_ else self.u(0.82, 1.0)
        chin = 236 if not round_ else 226
        half = np.array([(0, -236), (95 * w, -228), (165 * w, -192), (196 * w, -122), (200 * w, -40),
                         (190 * w * (0.5 + jaw / 2), 55), (162 * w * jaw, 140), (118 * jaw, 200),
                         (62 * jaw, chin - 4), (0, chin + 6)], np.float64)
        return _chaikin(_symmetric(half))

    def eyes(self, scale: float = 1.0) -> None:
        ex, ey = _EYE
        sw = self.u(0.9, 1.12) * scale
        self.side("eye_socket", np.array([(ex - 36 * sw, ey + 2), (ex - 5, ey - 18 * scale), (ex + 38 * sw, ey - 6),
                                          (ex + 20, ey + 16 * scale), (ex - 8, ey + 18 * scale)], np.float64))
        self.side("pupil", _circle(ex, ey + 1, 8 * scale, n=10))

    def brow(self, kind: str, label: str = "brow", lift: float = 0.0) -> None:
        b = -lift
        shapes = {
            "sword": [(42, -82), (100, -100 + b), (168, -128 + b), (174, -116 + b), (104, -86 + b), (48, -70)],
            "broad": [(38, -80), (88, -112 + b), (160, -116 + b), (178, -92 + b), (122, -84 + b), (58, -62)],
            "curl": [(40, -76), (66, -112 + b), (118, -128 + b), (166, -112 + b), (172, -86 + b), (152, -96 + b),
                     (124, -104 + b), (100, -90 + b), (62, -64)],
            "flame": [(40, -70), (58, -118 + b), (84, -96 + b), (104, -148 + b), (124, -104 + b), (150, -134 + b),
                      (166, -88 + b), (110, -76)],
            "short": [(60, -82), (100, -96 + b), (140, -94 + b), (136, -82 + b), (98, -80), (64, -72)],
        }
        self.side(label, self.jit(shapes[kind], 4))

    def eye_patch(self, kind: str, label: str = "eye_patch", rim: bool = True, scale: float = 1.0,
                  flip: bool = False) -> np.ndarray:
        lift = self.u(0, 60)
        shapes = {
            "upswept": [(20, -28), (30, -78), (70, -120 - lift / 2), (125, -150 - lift), (140, -110 - lift / 3),
                        (184, -72), (178, -25), (145, 12), (95, 24), (48, 12)],
            "droop": [(22, -40), (58, -78), (120, -84), (172, -58), (186, 2), (170, 62), (146, 30), (120, 8),
                      (80, 4), (40, 0)],
            "round": _circle(_EYE[0], _EYE[1] - 6, 62, 46, 12).tolist(),
            "kidney": [(28, -52), (70, -92), (140, -96), (182, -62), (176, -10), (140, 4), (112, -16), (70, 0),
                       (34, -10)],
            "ring": _circle(_EYE[0], _EYE[1], 50, 30, 12).tolist(),
        }
        patch = self.jit(shapes[kind], 5)
        centre = patch.mean(axis=0)
        patch = centre + (patch - centre) * scale
        if flip:
            patch[:, 0] *= -1
        place = self.single if flip else self.side
        if rim:
            r = centre * ([-1, 1] if flip else [1, 1]) + (patch - centre * ([-1, 1] if flip else [1, 1])) * [1.16, 1.2]
            r[:, 0] = np.maximum(r[:, 0], 6) if not flip else np.minimum(r[:, 0], -6)
            place("eye_rim", r)
        place(label, patch)
        return patch

    def nose(self, kind: str, label: str = "nose") -> None:
        nw = self.u(0.8, 1.2)
        if kind == "ridge":
            self.sym(label, np.array([(0, -40), (8 * nw, 10), (18 * nw, 52), (0, 60)], np.float64))
        elif kind == "wide":
            self.sym(label, np.array([(0, -28), (14 * nw, 8), (30 * nw, 48), (22 * nw, 64), (0, 60)], np.float64))
        else:  # round tip
            self.sym(label, _half_circle(44, 24 * nw, 20))

    def mouth(self, kind: str) -> None:
        if kind == "hanging":
            drop = self.u(150, 200)
            bw = self.u(0.85, 1.15)
            self.sym("beard", self.jit([(0, 68), (45 * bw, 70), (85 * bw, 95), (105 * bw, drop - 30), (88 * bw, drop),
                                        (70 * bw, drop - 35), (48 * bw, 128), (0, 124)], 5))
        elif kind == "square":
            self.sym("beard", self.jit([(0, 70), (58, 72), (80, 128), (62, 152), (0, 150)], 4))
        elif kind == "moustache":
            self.sym("beard", self.jit([(0, 72), (40, 70), (92, 96), (60, 96), (0, 90)], 3))
        self.sym("lips", np.array([(0, 96), (22, 97), (40, 107), (22, 116), (0, 114)], np.float64))

    def chin(self, round_: bool = False) -> None:
        if round_:
            self.sym("chin", _half_circle(196, 46, 34))
        else:
            self.sym("chin", self.jit([(0, 152), (40, 156), (58, 190), (40, 222), (0, 236)], 4))

    def forehead(self, kind: str) -> str:
        top = self.u(-232, -205)
        if kind == "flame":
            self.sym("forehead", self.jit([(0, top), (22, top + 45), (36, top + 95), (24, top + 140), (0, -62)], 5))
            self.sym("forehead_inner", np.array([(0, top + 50), (12, top + 85), (10, top + 115), (0, top + 125)]))
        elif kind == "pillar":
            self.sym("forehead", self.jit([(0, top), (40, top + 8), (20, top + 40), (14, -95), (22, -62), (0, -55)], 4))
        elif kind == "disc":
            r, cy = self.u(26, 38), self.u(-170, -145)
            self.sym("forehead", _half_circle(cy, r))
            self.sym("forehead_inner", _half_circle(cy, 0.5 * r))
        elif kind == "gourd":
            self.sym("forehead", self.jit([(0, top + 10), (18, top + 22), (12, top + 46), (34, top + 80), (28, top + 118),
                                           (0, top + 132)], 3))
        elif kind == "crescent":  # Bao Zheng's moon
            cy = self.u(-180, -160)
            self.sym("forehead", np.array([(0, cy - 22), (24, cy - 18), (40, cy - 4), (30, cy + 4), (14, cy - 6),
                                           (0, cy - 8)], np.float64))
        return kind

    def wrinkles(self, n: int) -> None:
        for i in range(n):
            y = -176 + 18 * i + self.u(-3, 3)
            self.side("wrinkle", self.jit([(18, y + 4), (70, y - 8), (128, y - 2), (126, y + 5), (70, y), (20, y + 10)], 1.5), 2)


def _zheng(g: _Grammar) -> str:
    g.brow(str(g.rng.choice(["sword", "broad", "curl"])))
    g.eye_patch("ring", rim=False, scale=g.u(0.75, 0.95))
    g.eyes()
    g.wrinkles(int(g.rng.integers(2, 4)))
    g.nose(str(g.rng.choice(["ridge", "wide"])))
    g.mouth(str(g.rng.choice(["moustache", "hanging"])))
    if g.rng.random() < 0.5:
        g.forehead(str(g.rng.choice(["crescent", "disc"])))
    return "whole"


def _sankuaiwa(g: _Grammar) -> str:
    kind = g.forehead(str(g.rng.choice(["flame", "pillar", "gourd"])))
    g.eye_patch(str(g.rng.choice(["upswept", "kidney"])), scale=g.u(0.85, 1.0))
    g.brow(str(g.rng.choice(["curl", "flame", "broad"])))
    g.eyes()
    g.nose("wide")
    g.mouth("hanging")
    g.chin()
    return kind


def _shizimen(g: _Grammar) -> str:
    w = g.u(18, 30)
    g.sym("cross", g.jit([(0, -238), (w, -238), (w * 1.1, -120), (w * 0.9, -60), (w * 1.3, 40), (0, 66)], 2))
    band_top, band_bot = g.u(-112, -95), g.u(-2, 12)
    g.side("cross", g.jit([(4, band_top + 10), (90, band_top), (176, band_top + 18), (190, -40), (172, band_bot),
                            (96, band_bot + 8), (4, band_bot)], 3))
    g.eye_patch(str(g.rng.choice(["round", "kidney"])), rim=False, scale=g.u(0.7, 0.85))
    g.brow(str(g.rng.choice(["sword", "short"])))
    g.eyes()
    g.mouth(str(g.rng.choice(["hanging", "square"])))
    g.chin()
    return "cross"


def _liufen(g: _Grammar) -> str:
    edge = g.u(-110, -92)
    g.sym("upper", g.jit([(0, -260), (220, -260), (220, edge + 10), (150, edge - 6), (80, edge + 6), (30, edge - 2),
                          (0, edge + 4)], 3))
    g.brow("broad", lift=g.u(0, 12))
    g.eye_patch(str(g.rng.choice(["round", "kidney"])), rim=False, scale=g.u(0.6, 0.75))
    g.eyes()
    g.nose(str(g.rng.choice(["ridge", "wide"])))
    g.mouth(str(g.rng.choice(["hanging", "moustache"])))
    return "light forehead"


def _suihua(g: _Grammar) -> str:
    g.forehead(str(g.rng.choice(["flame", "disc", "gourd"])))
    # split eye patches: an upper crescent over the eye and a drop under it
    g.side("eye_patch", g.jit([(24, -40), (50, -86), (120, -110), (178, -80), (150, -70), (100, -74), (50, -52)], 4))
    g.side("eye_patch", g.jit([(40, -18), (100, -6), (160, -30), (170, 20), (130, 44), (70, 20)], 4))
    g.brow("flame", label="motif_a")
    for _ in range(int(g.rng.integers(4, 8))):  # scattered small motifs on forehead and cheeks
        cx, cy = g.u(30, 165), float(g.rng.choice([g.u(-200, -130), g.u(40, 120)]))
        r = g.u(8, 16)
        label = str(g.rng.choice(["motif_b", "motif_c"]))
        shape = _circle(cx, cy, r, r * g.u(0.5, 1.0), 8) if g.rng.random() < 0.5 else \
            np.array([(cx, cy - r * 1.6), (cx + r, cy), (cx, cy + r * 1.6), (cx - r, cy)], np.float64)
        g.side(label, shape, 2)
    g.eyes()
    g.nose(str(g.rng.choice(["wide", "round"])))
    g.mouth("hanging")
    g.chin()
    return "broken"


def _wai(g: _Grammar) -> str:
    g.single("forehead", g.jit([(-8, -230), (26, -200), (40, -150), (16, -110), (-20, -150)], 5))
    g.eye_patch(str(g.rng.choice(["upswept", "kidney"])))
    g.eye_patch("droop", label="eye_patch_b", flip=True)
    g.brow("curl")
    ex, ey = _EYE
    for sx in (1, -1):  # eyes at slightly different heights
        dy = 0 if sx > 0 else g.u(6, 14)
        g.single("eye_socket", np.array([(sx * (ex - 36), ey + 2 + dy), (sx * (ex - 5), ey - 18 + dy),
                                         (sx * (ex + 38), ey - 6 + dy), (sx * (ex + 20), ey + 16 + dy),
                                         (sx * (ex - 8), ey + 18 + dy)], np.float64))
        g.single("pupil", _circle(sx * ex, ey + 1 + dy, 8, n=10))
    bend = g.u(10, 22)
    g.single("nose", np.array([(-2, -30), (14 + bend * 0.3, 10), (30 + bend, 50), (10 + bend, 64), (-18, 56),
                               (-10, 10)], np.float64))
    tilt = np.deg2rad(g.u(5, 10))
    rot = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    beard = _symmetric(_on_axis(g.jit([(0, 68), (45, 70), (85, 95), (100, 150), (84, 178), (68, 140), (46, 128),
                                         (0, 124)], 5)))
    g.single("beard", (beard - [0, 100]) @ rot.T + [0, 100])
    lips = _symmetric(np.array([(0, 96), (22, 97), (40, 107), (22, 116), (0, 114)], np.float64))
    g.single("lips", (lips - [0, 100]) @ rot.T + [0, 100])
    g.chin()
    return "crooked"


def _yuanbao(g: _Grammar) -> str:
    mid, rise = g.u(-6, 10), g.u(50, 80)
    g.sym("lower", g.jit([(0, mid), (60, mid + 4), (120, mid - rise * 0.4), (176, mid - rise), (220, mid - rise - 10),
                          (220, 280), (0, 280)], 3))
    g.eye_patch(str(g.rng.choice(["upswept", "kidney", "round"])), rim=g.rng.random() < 0.6, scale=g.u(0.75, 0.9))
    g.brow(str(g.rng.choice(["sword", "broad", "curl"])))
    g.eyes()
    g.nose(str(g.rng.choice(["wide", "ridge"])))
    g.mouth(str(g.rng.choice(["moustache", "square"])))
    return "ingot"


def _xiangxing(g: _Grammar) -> str:
    kind = str(g.rng.choice(["peach", "butterfly", "tiger"]))
    if kind == "peach":  # the Monkey King: a peach (heart) around eyes and nose
        g.sym("motif_a", g.jit([(0, -120), (40, -160), (110, -170), (170, -120), (176, -40), (130, 30), (60, 80),
                                (0, 96)], 4))
        g.side("eye_rim", _circle(_EYE[0], _EYE[1], 44, 34, 12))
        g.eyes()
        g.nose("round", label="motif_b")
        g.sym("lips", np.array([(0, 112), (30, 112), (50, 124), (30, 134), (0, 132)], np.float64))
        g.chin(round_=True)
    elif kind == "butterfly":
        g.side("motif_a", g.jit([(6, -150), (60, -215), (150, -200), (170, -120), (120, -70), (180, -20), (140, 30),
                                 (60, 0), (6, -60)], 5))
        g.side("motif_c", g.jit([(50, -170), (110, -185), (130, -140), (80, -120)], 3))
        g.sym("motif_b", np.array([(0, -190), (10, -150), (12, -60), (8, 40), (0, 56)], np.float64))
        g.eyes()
        g.mouth("moustache")
    else:  # tiger: stripes and the 王 mark
        for i in range(3):
            y = -205 + 28 * i
            g.sym("motif_b", np.array([(0, y), (46, y + 2), (46, y + 12), (0, y + 10)], np.float64), 1)
        g.sym("motif_b", np.array([(0, -205), (7, -205), (7, -140), (0, -140)], np.float64), 1)
        for i in range(3):
            y = -120 + 60 * i
            g.side("motif_a", g.jit([(150, y), (200, y - 14), (205, y + 4), (160, y + 16), (120, y + 24)], 3), 2)
        g.eye_patch("upswept", scale=0.8)
        g.eyes()
        g.nose("wide")
        g.mouth("square")
    return kind


def _sengdao(g: _Grammar) -> str:
    if g.rng.random() < 0.6:  # a rosary of dots around the forehead centre
        cy, r, n = g.u(-175, -160), g.u(34, 44), int(g.rng.integers(4, 6))
        for k in range(n):
            a = -np.pi / 2 + np.pi * k / max(n - 1, 1)
            g.side("dots", _circle(max(r * np.cos(a), 12.0), cy + r * np.sin(a), 7.5, n=10), 1)
        kind = "rosary"
    else:
        g.sym("dots", _half_circle(g.u(-175, -160), g.u(16, 22)))
        kind = "ring"
    g.eye_patch("droop", rim=g.rng.random() < 0.5, scale=g.u(0.7, 0.85))
    g.brow("short", lift=-6)
    g.eyes()
    g.nose("round")
    g.mouth("moustache")
    g.chin(round_=True)
    return kind


_GRAMMARS = {"zheng": _zheng, "sankuaiwa": _sankuaiwa, "shizimen": _shizimen, "liufen": _liufen,
             "suihua": _suihua, "wai": _wai, "yuanbao": _yuanbao, "xiangxing": _xiangxing, "sengdao": _sengdao}


def role_design(seed: int, role: str) -> LianpuDesign:
    """The shapes of design ``seed`` of role type ``role`` (its composition grammar).

    Args:
        seed: any int ≥ 0.
        role: a key of :data:`ROLE_TYPES`.

    Returns:
        A :class:`LianpuDesign` with ``role`` set (asymmetric only for ``"wai"``).

    Raises:
        ValueError: unknown role.
    """
    if role not in _GRAMMARS:
        raise ValueError(f"unknown role type {role!r}; known: {', '.join(ROLE_KEYS)}")
    g = _Grammar(np.random.default_rng([int(seed), 0x701E, ROLE_KEYS.index(role)]))
    face = g.face(round_=role == "sengdao")
    motif = _GRAMMARS[role](g)
    return LianpuDesign(face=face, parts=tuple(g.parts), forehead_kind=motif, role=role, symmetric=role != "wai")


def role_palette(seed: int, role: str, colour: str | None = None) -> LianpuPalette:
    """The paints of a role design: the main colour (drawn from the role's usual colours, or
    ``colour``) where the grammar puts it, black patterns, white rims, accents for motifs.

    Args:
        seed: palette seed (≥ 0).
        role: a key of :data:`ROLE_TYPES`.
        colour: main colour to force (one of :data:`engine.labels.OPERA_COLOURS`).

    Returns:
        :class:`LianpuPalette`.

    Raises:
        ValueError: unknown role or colour.
    """
    if role not in ROLE_TYPES:
        raise ValueError(f"unknown role type {role!r}; known: {', '.join(ROLE_KEYS)}")
    if colour is not None and colour not in OPERA_COLOURS:
        raise ValueError(f"unknown opera colour {colour!r}; choose from {', '.join(OPERA_COLOURS)}")
    rng = np.random.default_rng([int(seed), 0xC01F, ROLE_KEYS.index(role)])
    usual = ROLE_TYPES[role].colours
    main = colour or usual[min(int(rng.geometric(0.45)) - 1, len(usual) - 1)]

    def paint(name: str, spread: float = 12.0) -> np.ndarray:
        base = np.asarray(OPERA_COLOUR_RGB[name], np.float64)
        if name in ("black", "white"):
            return np.clip(base + rng.uniform(-spread, spread) * 0.4, 0, 255)
        return np.clip(base + rng.uniform(-spread, spread, 3), 0, 255)

    def accent(*avoid: str) -> np.ndarray:
        choices = [c for c in ("red", "yellow", "blue", "green", "purple", "white") if c not in (main, *avoid)]
        return paint(choices[int(rng.integers(len(choices)))])

    black, white = paint("black", 4), paint("white", 4)
    dark = main == "black"
    pattern = white if dark else black
    light = np.array([238, 226, 214], np.float64) if rng.random() < 0.5 else paint("white", 4) * 0.97
    lab = {n: i for i, n in enumerate(LIANPU_PARTS)}
    rgb = np.zeros((len(LIANPU_PARTS), 3), np.float64)
    rgb[lab["background"]] = PAPER_RGB
    rgb[lab["face"]] = light if role == "shizimen" else paint(main, 8)
    rgb[lab["cross"]] = paint(main, 8)
    rgb[lab["upper"]] = light
    rgb[lab["lower"]] = light if main != "white" else paint("red", 8)
    rgb[lab["cheek"]] = accent()
    rgb[lab["forehead"]] = white if dark else accent()
    rgb[lab["forehead_inner"]] = paint("red") if main == "yellow" else paint("yellow")
    rgb[lab["eye_rim"]] = accent() if main == "white" else white
    rgb[lab["eye_patch"]] = black if role == "liufen" and not dark else pattern
    rgb[lab["eye_patch_b"]] = accent("white")
    rgb[lab["eye_socket"]] = white if main != "white" else paint("white", 2) * 0.96
    rgb[lab["pupil"]] = black
    rgb[lab["brow"]] = (white if rng.random() < 0.6 else accent()) if dark or role == "liufen" else \
        (black if rng.random() < 0.6 else accent())
    rgb[lab["nose"]] = paint("red") if role == "sengdao" else (pattern if rng.random() < 0.5 else accent())
    rgb[lab["beard"]] = pattern
    rgb[lab["lips"]] = paint("red", 8)
    rgb[lab["chin"]] = white if main != "white" else paint("red", 8)
    rgb[lab["motif_a"]] = paint("red") if role == "xiangxing" and main != "red" else accent()
    rgb[lab["motif_b"]] = black if role == "xiangxing" else accent()
    rgb[lab["motif_c"]] = accent()
    rgb[lab["wrinkle"]] = black if not dark else white * 0.9
    rgb[lab["dots"]] = paint("red") if main != "red" else black
    return LianpuPalette(colour=main, rgb=np.round(rgb).astype(np.uint8))


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
    if design.symmetric:  # exact mirror symmetry (integer rounding can differ by one pixel between the halves)
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
                    colour_seed: int | None = None, role: str | None = None) -> Lianpu:
    """A seeded procedural lianpu.

    Args:
        seed: seed of the shapes (int ≥ 0); the same seed always gives the same design.
        colour: main-colour class to force (one of :data:`engine.labels.OPERA_COLOURS`); ``None``
            draws it from the palette seed.
        size: side of the square output in pixels (64–4096).
        colour_seed: seed of the palette; ``None`` = ``seed``. A different value is style mixing:
            the shapes of ``seed`` painted with the colours of ``colour_seed``.
        role: a role type of :data:`ROLE_TYPES` (its composition grammar and usual main colours);
            ``"any"`` draws one from the seed; ``None`` = the classic template family (the
            designs every earlier version drew for these seeds).

    Returns:
        A :class:`Lianpu` (colour image, line art, region map, main colour, role).

    Raises:
        ValueError: negative seed, unknown colour or role, or size out of range.
    """
    if int(seed) < 0 or (colour_seed is not None and int(colour_seed) < 0):
        raise ValueError("lianpu seeds must be ≥ 0")
    cs = int(seed if colour_seed is None else colour_seed)
    if role is None:
        design = LianpuDesign.from_seed(int(seed))
        palette = LianpuPalette.from_seed(cs, colour)
    else:
        if role == "any":
            role = ROLE_KEYS[int(np.random.default_rng([int(seed), 0x7A9E]).integers(len(ROLE_KEYS)))]
        design = role_design(int(seed), role)
        palette = role_palette(cs, role, colour)
    image, line_art, regions = render_lianpu(design, palette, size)
    return Lianpu(image=image, line_art=line_art, regions=regions, colour=palette.colour,
                  seed=int(seed), colour_seed=cs, role=design.role)


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
