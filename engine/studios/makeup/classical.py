"""Makeup studio engine (classical): landmark regions + CIELAB rendering of style presets.

Regions (built per face from the 478-point mesh; the parsing only *excludes* pixels)
    ``lips``       outer lip contour (scaled by the style's ``area``), inner mouth cut out when open.
    ``eyeshadow``  skin from the upper lid towards the brow: ``area`` = fraction of the lid→brow
                   distance, ``wing`` = outward extension at the outer corner (× eye width);
                   a ``t`` map (0 at the lid, 1 at the top edge) drives colour gradients and ``fade``.
    ``eyeliner``   band along the upper lash line; ``area`` scales its thickness, ``wing`` its flick.
    ``cheek``      ellipse on the cheekbone, swept towards the temple; ``area`` scales it, ``lift``
                   moves it up towards the eye (negative: down).
    ``base``       face skin: the face oval minus eyes, brows, lips and mouth.
    ``brows``      the brow polygons.
Every mask is soft: the filled shape is blurred with σ = ``feather`` × face width. Afterwards the
eyes and the open inner mouth (landmarks) and the parsing's invariant classes (teeth ``mouth``,
glasses ``eye_g``, hair, hat; for base/cheek also background, ears, neck, cloth) are cut out hard,
so they never change.

Rendering (CIELAB, per face crop, regions in the order base, cheek, eyeshadow, eyeliner, brows, lips)
    With ``A`` = mask × opacity × region intensity × global intensity, ``(L̄, ā, b̄)`` the region's
    A-weighted mean and ``T`` the target colour (``t``-interpolated for two colours)::

        L += A · lightness · (T_L − L̄)        a += A · (T_a − ā)        b += A · (T_b − b̄)

    i.e. the region's mean colour moves to the target while every pixel keeps its offset from the
    mean: shading and skin/lip texture survive (no flat paint). Then the finish, with ``D`` the
    fine luminance detail ``L − G_σ(L)``: ``matte`` L −= A·0.5·max(D, 0) (less shine), ``gloss``
    L += A·1.2·max(D, 0) (stronger highlights), ``satin`` nothing; ``smooth`` s (base) L −= A·s·D
    and evens the chroma blotches. The result is applied as an RGB *difference* to the input, and
    only where ``A`` of some region exceeds 1/512; every other pixel is returned bit-identical.

Style files (``resources/makeup_styles.json``; user files in :func:`user_styles_dir` or passed
explicitly, later files replace styles of the same name)::

    {"schema": 1,
     "styles": {
       "<name>": {
         "sets": ["asian", "european"],          # which of the paper's style sets it belongs to
         "description": "one line",
         "regions": {                             # any of lips, eyeshadow, eyeliner, cheek, base, brows
           "<region>": {
             "color": [[R, G, B]] | [[R, G, B], [R, G, B]] | "skin" | null,
                        # sRGB 0-255 target; two colours = gradient lid→top (eyeshadow);
                        # "skin" = the face's own skin tone (bare); null = the region's own mean
             "opacity": 0.5,      # 0-1, strength at intensity 1
             "feather": 0.04,     # 0-0.5, blur σ as a fraction of the face width
             "area": 1.0,         # 0.05-2, size of the region (see above)
             "finish": "matte",   # "matte" | "satin" | "gloss"
             "lightness": 1.0,    # 0-1, how far L follows the target (1 = fully)
             "fade": 0.0,         # 0-1, opacity drop from the lid to the top edge (eyeshadow)
             "wing": 0.0,         # 0-1, outward extension × eye width (eyeshadow, eyeliner)
             "lift": 0.0,         # -1-1, cheek centre moved towards the eye (+) or the jaw (-)
             "smooth": 0.0        # 0-1, skin smoothing / tone evening (base)
           }}}}}

Unknown keys, out-of-range values and unknown regions are refused with the file and style named.

Learned backend (``backend="neural"``; ``"auto"`` picks it only when its card says so)
    The mask-controlled makeup GAN (:mod:`engine.models.makeup_gan`, trained by
    :mod:`engine.training.makeup`) paints an aligned square crop of each face (its card's
    ``input_size``), one pass per style used; regions with different styles are painted in turn.
    The painted crop goes back with :func:`engine.faces.align.paste_back` (delta mode) and is
    weighted by ``min(1, 2 · mask) × intensity`` of the same soft region masks as above, so every
    pixel outside the enabled regions is returned bit-identical here too. It knows only the
    regions lips, eyeshadow, cheek, base and the styles it was trained on (listed on its card).
    ``auto`` reads only the card (:func:`learned_status`): the GAN runs when the card's
    ``extra["better_than_classical"]`` is true and the edit is within what it knows, else the
    classical renderer runs and ``EditResult.info["backend_reason"]`` says why.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import cv2
import numpy as np

from engine.cancel import CancelToken
from engine.errors import MasqueradeError
from engine.faces import topology as T
from engine.labels import CELEBAMASK_HQ
from engine.studios.base import Editor, EditResult

REGIONS: tuple[str, ...] = ("base", "cheek", "eyeshadow", "eyeliner", "brows", "lips")
"""Makeup regions in rendering order (later ones are painted over earlier ones)."""

MAIN_REGIONS: tuple[str, ...] = ("lips", "eyeshadow", "cheek", "base")
"""The regions every built-in style defines (eyeliner and brows are optional)."""

DEFAULT_STYLE_REGIONS: tuple[str, ...] = ("lips", "eyeshadow", "cheek")
"""Regions a global style applies to when no region list is given."""

FINISHES: tuple[str, ...] = ("matte", "satin", "gloss")

BUILTIN_STYLES_FILE: Path = Path(__file__).resolve().parents[3] / "resources" / "makeup_styles.json"
"""The shipped style presets (the paper's Asian and European sets)."""

MASK_WIDTH: float = 160.0
"""Faces wider than this (pixels) get their soft region shapes built on a proportionally shrunk grid
and upsampled (the shapes are feathered by several pixels anyway); exclusions stay full-resolution."""

CHANGE_THRESHOLD: float = 1.0 / 512.0
"""Pixels whose strongest region weight is at or below this are returned unchanged."""

_INVARIANT_ALL = ("mouth", "eye_g", "hair", "hat")
_INVARIANT_SKIN = _INVARIANT_ALL + ("background", "l_ear", "r_ear", "ear_r", "neck", "neck_l", "cloth")
_EXCLUDE: dict[str, tuple[int, ...]] = {
    "lips": tuple(CELEBAMASK_HQ.index(c) for c in ("mouth",)),
    "eyeshadow": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_ALL),
    "eyeliner": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_ALL),
    "brows": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_ALL),
    "cheek": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_SKIN),
    "base": tuple(CELEBAMASK_HQ.index(c) for c in _INVARIANT_SKIN),
}
"""Parsing classes cut out of each region (hard): the makeup paper's invariant region."""


class NoFaceError(MasqueradeError):
    """The image holds no face whose landmarks could be fitted."""


# --- styles ------------------------------------------------------------------------------------

_RANGES: dict[str, tuple[float, float]] = {
    "opacity": (0.0, 1.0), "feather": (0.0, 0.5), "area": (0.05, 2.0), "lightness": (0.0, 1.0),
    "fade": (0.0, 1.0), "wing": (0.0, 1.0), "lift": (-1.0, 1.0), "smooth": (0.0, 1.0),
}


@dataclass(frozen=True)
class RegionStyle:
    """How one style paints one region (see the module docstring for the JSON form).

    Args:
        colors: target sRGB colours ``(R, G, B)`` 0–255: one, or two for a lid→top gradient;
            empty when ``color_mode`` is not ``"rgb"``.
        color_mode: ``"rgb"`` (use ``colors``), ``"skin"`` (the face's own skin tone) or
            ``"own"`` (the region's own mean colour: only the finish / smoothing acts).
        opacity: strength at intensity 1, 0–1.
        feather: blur σ of the mask as a fraction of the face width, 0–0.5.
        area: region size factor, 0.05–2 (meaning per region: see the module docstring).
        finish: ``"matte"``, ``"satin"`` or ``"gloss"``.
        lightness: how far the luminance follows the target, 0–1.
        fade: opacity drop from the lid to the top edge of the eyeshadow, 0–1.
        wing: outward extension at the outer eye corner × eye width, 0–1.
        lift: cheek centre moved towards the eye (+) or the jaw (−), −1–1.
        smooth: skin smoothing and tone evening, 0–1.
    """

    colors: tuple[tuple[float, float, float], ...] = ()   # sRGB 0-255, 1 or 2 colours
    color_mode: str = "rgb"                                # "rgb" | "skin" | "own"
    opacity: float = 0.5                                   # strength at intensity 1
    feather: float = 0.04                                  # blur σ / face width
    area: float = 1.0                                      # region size factor
    finish: str = "satin"                                  # matte | satin | gloss
    lightness: float = 1.0                                 # L follows the target by this much
    fade: float = 0.0                                      # eyeshadow opacity drop lid → top
    wing: float = 0.0                                      # outward extension × eye width
    lift: float = 0.0                                      # cheek centre up (+) / down (-)
    smooth: float = 0.0                                    # smoothing / evening (base)

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str) -> "RegionStyle":
        """Parse and validate one region entry of a style file.

        Args:
            d: the JSON object of the region.
            where: ``"<file>: style <name> region <region>"`` for error messages.

        Returns:
            The validated :class:`RegionStyle`.

        Raises:
            ValueError: unknown keys, bad colours or values out of range.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(d).__name__}")
        known = {"color"} | set(_RANGES) | {"finish"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        raw = d.get("color")
        colors: tuple[tuple[float, float, float], ...] = ()
        if raw is None:
            mode = "own"
        elif raw == "skin":
            mode = "skin"
        else:
            mode = "rgb"
            if isinstance(raw, Sequence) and len(raw) == 3 and all(isinstance(v, (int, float)) for v in raw):
                raw = [raw]
            if not (isinstance(raw, Sequence) and 1 <= len(raw) <= 2):
                raise ValueError(f"{where}: color must be [R, G, B], a list of 1-2 of them, \"skin\" or null")
            for c in raw:
                if not (isinstance(c, Sequence) and len(c) == 3 and all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in c)):
                    raise ValueError(f"{where}: colour {c!r} is not [R, G, B] with values 0-255")
            colors = tuple((float(c[0]), float(c[1]), float(c[2])) for c in raw)
        values: dict[str, Any] = {}
        for key, (lo, hi) in _RANGES.items():
            if key in d:
                v = d[key]
                if not isinstance(v, (int, float)) or not (lo <= float(v) <= hi):
                    raise ValueError(f"{where}: {key} must be a number in [{lo}, {hi}], got {v!r}")
                values[key] = float(v)
        finish = d.get("finish", "satin")
        if finish not in FINISHES:
            raise ValueError(f"{where}: finish must be one of {', '.join(FINISHES)}, got {finish!r}")
        return cls(colors=colors, color_mode=mode, finish=finish, **values)


@dataclass(frozen=True)
class MakeupStyle:
    """A named style: how it paints each region it defines.

    Args:
        name: style name (``retro``, ``korean``, ...).
        regions: region name → :class:`RegionStyle` (regions the style does not define are absent).
        sets: the paper's style sets it belongs to (``asian``, ``european``, or user-defined).
        description: one line for the GUI and ``--help``.
        source: the file it was read from.
    """

    name: str                                  # style name
    regions: Mapping[str, RegionStyle]         # region -> how it is painted
    sets: tuple[str, ...] = ()                 # "asian" / "european" ...
    description: str = ""                      # one-line description
    source: str = ""                           # file it came from


def load_style_file(path: str | Path) -> dict[str, MakeupStyle]:
    """Read one style file (schema in the module docstring).

    Args:
        path: JSON file.

    Returns:
        Style name → :class:`MakeupStyle`, in file order.

    Raises:
        ValueError: unreadable JSON, wrong schema, unknown regions or invalid values (the message
            names the file, the style and the region).
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read style file {p}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("schema") != 1 or not isinstance(doc.get("styles"), dict):
        raise ValueError(f"{p}: expected {{\"schema\": 1, \"styles\": {{...}}}}")
    out: dict[str, MakeupStyle] = {}
    for name, st in doc["styles"].items():
        if not isinstance(name, str) or not name or not all(ch.isalnum() or ch in "-_" for ch in name):
            raise ValueError(f"{p}: style name {name!r} must be letters, digits, '-' or '_'")
        if name.lower() in ("none", "off", "null"):
            raise ValueError(f"{p}: {name!r} is reserved (it means 'region off')")
        if not isinstance(st, dict) or not isinstance(st.get("regions"), dict):
            raise ValueError(f"{p}: style {name}: expected an object with \"regions\"")
        extra = set(st) - {"sets", "description", "regions"}
        if extra:
            raise ValueError(f"{p}: style {name}: unknown key(s) {', '.join(sorted(extra))}")
        regions = {}
        for region, spec in st["regions"].items():
            if region not in REGIONS:
                raise ValueError(f"{p}: style {name}: unknown region {region!r}; known: {', '.join(REGIONS)}")
            regions[region] = RegionStyle.from_json(spec, f"{p.name}: style {name} region {region}")
        if not regions:
            raise ValueError(f"{p}: style {name} defines no region")
        out[name] = MakeupStyle(name, regions, tuple(str(s) for s in st.get("sets", ())),
                                str(st.get("description", "")), str(p))
    return out


def user_styles_dir() -> Path:
    """Folder of the user's extra style files (``*.json``): ``$MASQUERADE_MAKEUP_STYLES_DIR`` or
    ``~/.masquerade/makeup_styles``."""
    env = os.environ.get("MASQUERADE_MAKEUP_STYLES_DIR")
    return Path(env) if env else Path.home() / ".masquerade" / "makeup_styles"


def load_styles(extra_files: Sequence[str | Path] = (), include_user_dir: bool = True) -> dict[str, MakeupStyle]:
    """The built-in styles, then the user folder's files (sorted), then ``extra_files``.

    Args:
        extra_files: more style files (e.g. ``--styles-file``); later files replace styles of the
            same name.
        include_user_dir: also read ``*.json`` in :func:`user_styles_dir` when it exists.

    Returns:
        Style name → :class:`MakeupStyle`.

    Raises:
        ValueError: a style file is invalid (see :func:`load_style_file`).
    """
    styles = load_style_file(BUILTIN_STYLES_FILE)
    files: list[Path] = []
    if include_user_dir and user_styles_dir().is_dir():
        files.extend(sorted(user_styles_dir().glob("*.json")))
    files.extend(Path(f) for f in extra_files)
    for f in files:
        styles.update(load_style_file(f))
    return styles


# --- parameters --------------------------------------------------------------------------------

@dataclass(frozen=True)
class MakeupParams:
    """What to paint.

    Args:
        regions: region name → style name, or ``None`` (region off). Regions not listed are off.
        region_intensity: region name → intensity 0–1 (default 1).
        intensity: global intensity 0–1, multiplied into every region (0 = the input unchanged).

    Example:
        >>> MakeupParams({"lips": "retro", "eyeshadow": "smoky"}, intensity=0.8).enabled()
        ['eyeshadow', 'lips']
    """

    regions: Mapping[str, Optional[str]] = field(default_factory=dict)  # region -> style | None
    region_intensity: Mapping[str, float] = field(default_factory=dict)  # region -> 0..1
    intensity: float = 1.0                                               # global 0..1

    def enabled(self) -> list[str]:
        """Regions with a style, in rendering order."""
        return [r for r in REGIONS if self.regions.get(r)]

    def strength(self, region: str) -> float:
        """Region intensity × global intensity."""
        return float(self.region_intensity.get(region, 1.0)) * float(self.intensity)

    def validate(self, styles: Mapping[str, MakeupStyle]) -> "MakeupParams":
        """Raise ``ValueError`` for unknown regions/styles, styles lacking a region, bad intensities."""
        for r, s in self.regions.items():
            if r not in REGIONS:
                raise ValueError(f"unknown makeup region {r!r}; known: {', '.join(REGIONS)}")
            if s is None:
                continue
            if s not in styles:
                raise ValueError(f"unknown makeup style {s!r}; known: {', '.join(styles)}")
            if r not in styles[s].regions:
                have = ", ".join(styles[s].regions)
                raise ValueError(f"style {s!r} defines no {r} (it defines {have})")
        for r, v in self.region_intensity.items():
            if r not in REGIONS:
                raise ValueError(f"unknown makeup region {r!r}; known: {', '.join(REGIONS)}")
            if not (0.0 <= float(v) <= 1.0):
                raise ValueError(f"{r} intensity must be in [0, 1], got {v}")
        if not (0.0 <= float(self.intensity) <= 1.0):
            raise ValueError(f"intensity must be in [0, 1], got {self.intensity}")
        return self


FLAT_DEFAULTS: dict[str, Any] = {
    "style": None, "regions": "+".join(DEFAULT_STYLE_REGIONS), "intensity": 1.0, "styles_file": None,
    **{r: None for r in REGIONS}, **{f"{r}_intensity": 1.0 for r in REGIONS},
}
"""Flat parameter form (batch grids, CLI): ``style`` applies to the ``regions`` list
(``"lips+eyeshadow"``); a per-region style name overrides it there; ``styles_file`` adds styles."""


def normalize_flat(params: Mapping[str, Any]) -> dict[str, Any]:
    """Complete and validate a flat parameter mapping (see :data:`FLAT_DEFAULTS`).

    Args:
        params: partial mapping; ``"none"``/``"off"`` mean no style.

    Returns:
        The complete, JSON-serialisable dict (regions in canonical order, floats as floats).

    Raises:
        ValueError: unknown keys, regions or styles; intensities outside [0, 1].
    """
    unknown = set(params) - set(FLAT_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown makeup parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(FLAT_DEFAULTS)}")
    out = dict(FLAT_DEFAULTS)
    out.update(params)

    def style_name(v: Any) -> Optional[str]:
        if v is None or (isinstance(v, str) and v.lower() in ("none", "off", "")):
            return None
        return str(v)

    out["style"] = style_name(out["style"])
    for r in REGIONS:
        out[r] = style_name(out[r])
    names = [x.strip() for x in str(out["regions"] or "").replace(",", "+").split("+") if x.strip()]
    bad = [x for x in names if x not in REGIONS]
    if bad:
        raise ValueError(f"unknown makeup region(s) {', '.join(bad)}; known: {', '.join(REGIONS)}")
    out["regions"] = "+".join(r for r in REGIONS[::-1] if r in names) or None
    for key in ["intensity"] + [f"{r}_intensity" for r in REGIONS]:
        try:
            out[key] = float(out[key])
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number, got {out[key]!r}") from None
    out["styles_file"] = None if out["styles_file"] in (None, "") else str(out["styles_file"])
    params_from_flat(out, load_styles([out["styles_file"]] if out["styles_file"] else ()))
    return out


def params_from_flat(flat: Mapping[str, Any], styles: Mapping[str, MakeupStyle]) -> MakeupParams:
    """:class:`MakeupParams` from a normalised flat mapping (validated against ``styles``)."""
    regions: dict[str, Optional[str]] = {}
    listed = str(flat.get("regions") or "").split("+")
    for r in REGIONS:
        regions[r] = flat.get(r) or (flat.get("style") if r in listed else None)
    p = MakeupParams(regions, {r: float(flat.get(f"{r}_intensity", 1.0)) for r in REGIONS},
                     float(flat.get("intensity", 1.0)))
    return p.validate(styles)


# --- geometry -----------------------------------------------------------------------------------

_UPPER_LID = {  # inner corner -> outer corner
    "right": (133, 173, 157, 158, 159, 160, 161, 246, 33),
    "left": (362, 398, 384, 385, 386, 387, 388, 466, 263),
}
_BROW_LOWER = {  # inward -> outward
    "right": (55, 65, 52, 53, 46),
    "left": (285, 295, 282, 283, 276),
}
_CHEEK_APPLE = {"right": 50, "left": 280}
_CHEEK_EAR = {"right": T.JAW_RIGHT, "left": T.JAW_LEFT}


def _resample(pts: np.ndarray, n: int) -> np.ndarray:
    """``n`` points evenly spaced by arc length along the polyline ``pts`` ``[K, 2]``."""
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return np.repeat(pts[:1], n, 0)
    u = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(u, s, pts[:, 0]), np.interp(u, s, pts[:, 1])], 1)


def _fill(shape: tuple[int, int], polys: Sequence[np.ndarray], aa: bool = True) -> np.ndarray:
    """float32 ``[H, W]`` in [0, 1]: the polygons filled (anti-aliased with ``aa``)."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(p) * 4).astype(np.int32) for p in polys], 255,
                 lineType=cv2.LINE_AA if aa else cv2.LINE_8, shift=2)
    return m.astype(np.float32) * np.float32(1 / 255)


def _blur(m: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (zero outside); wide kernels run on a shrunk copy (≤ 4×), which is smooth enough."""
    if sigma < 0.3:
        return m
    f = int(min(4, sigma // 3))
    if f < 2 or min(m.shape[:2]) < 8 * f:
        return cv2.GaussianBlur(m, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)
    h, w = m.shape[:2]
    small = cv2.resize(m, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / f, borderType=cv2.BORDER_CONSTANT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass
class _FaceGeometry:
    """One face at one scale, in crop coordinates."""

    box: tuple[int, int, int, int]      # crop x0, y0, x1, y1 in image pixels
    lm: np.ndarray                      # [478, 2] landmarks, crop coordinates
    width: float                        # face width (jaw point to jaw point), pixels
    labels: np.ndarray                  # uint8 parsing of the crop
    eyes: np.ndarray                    # bool, eye openings (never painted)
    mouth: np.ndarray                   # bool, open inner mouth (never painted)
    skin_lab: np.ndarray                # [3] median Lab of the face's skin
    lab: np.ndarray                     # float32 [h, w, 3] CIELAB of the source crop
    detail: np.ndarray                  # float32 [h, w] fine luminance detail L - G(L)
    ab_low: np.ndarray                  # float32 [h, w, 2] chroma blurred at 4 % of the face width
    masks: "OrderedDict[tuple, tuple[np.ndarray, Optional[np.ndarray], tuple[slice, slice]]]" = field(
        default_factory=OrderedDict)
    keep: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)  # paintable pixels per exclusion set

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape[:2]


def _rgb_to_lab(rgb_u8: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb_u8.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * np.float32(255)


def _colour_lab(rgb: Sequence[float]) -> np.ndarray:
    return _rgb_to_lab(np.array([[rgb]], np.float32).clip(0, 255).astype(np.uint8))[0, 0]


def face_geometry(image: np.ndarray, labels: np.ndarray, landmarks: np.ndarray) -> _FaceGeometry:
    """Crop, exclusions and skin tone of one face (landmarks in the pixel frame of ``image``)."""
    h, w = image.shape[:2]
    lm = np.asarray(landmarks, np.float32)
    width = float(np.hypot(*(lm[T.JAW_LEFT] - lm[T.JAW_RIGHT])))
    width = max(width, float(np.ptp(lm[:, 0])), 4.0)
    pad = 0.4 * width
    x0, y0 = (int(max(0, math.floor(v - pad))) for v in lm.min(0))
    x1 = int(min(w, math.ceil(lm[:, 0].max() + pad)))
    y1 = int(min(h, math.ceil(lm[:, 1].max() + pad)))
    lmc = lm - np.array([x0, y0], np.float32)
    crop_labels = labels[y0:y1, x0:x1]
    shape = crop_labels.shape[:2]
    eyes = _fill(shape, [lmc[list(T.RIGHT_EYE)], lmc[list(T.LEFT_EYE)]], aa=False) > 0
    mouth = crop_labels == CELEBAMASK_HQ.index("mouth")  # the parser's open mouth (teeth, tongue): never painted
    lab = _rgb_to_lab(image[y0:y1, x0:x1])
    oval = _fill(shape, [lmc[list(T.FACE_OVAL)]], aa=False) > 0
    feats = _fill(shape, [lmc[list(T.RIGHT_BROW)], lmc[list(T.LEFT_BROW)],
                          lmc[list(T.LIPS_OUTER_UPPER) + list(T.LIPS_OUTER_LOWER)[::-1][1:-1]]], aa=False) > 0
    skin = oval & ~feats & ~eyes & ~mouth & (crop_labels == CELEBAMASK_HQ.index("skin"))
    if skin.sum() < 16:
        skin = oval & ~feats & ~eyes & ~mouth
    skin_lab = np.median(lab[skin], axis=0) if skin.any() else np.median(lab.reshape(-1, 3), axis=0)
    L = np.ascontiguousarray(lab[..., 0])
    detail = L - cv2.GaussianBlur(L, (0, 0), sigmaX=max(0.6, 0.012 * width))
    ab_low = _blur(np.ascontiguousarray(lab[..., 1:]), max(1.0, 0.04 * width))
    return _FaceGeometry((x0, y0, x1, y1), lmc, width, crop_labels, eyes, mouth, skin_lab.astype(np.float32),
                         lab, detail, ab_low)


def _soft_mask(lm: np.ndarray, shape: tuple[int, int], W: float, region: str,
               spec: RegionStyle) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The feathered shape of ``region`` (before exclusions) and its ``t`` map, on a ``shape`` grid
    whose pixels the landmarks ``lm`` and the face width ``W`` are given in."""
    t_map: Optional[np.ndarray] = None
    sigma = spec.feather * W
    if region == "lips":
        outer = np.concatenate([lm[list(T.LIPS_OUTER_UPPER)], lm[list(T.LIPS_OUTER_LOWER)][::-1][1:-1]])
        c = outer.mean(0)
        m = _blur(_fill(shape, [c + (outer - c) * spec.area]), sigma)
    elif region == "brows":
        m = _blur(_fill(shape, [lm[list(T.RIGHT_BROW)], lm[list(T.LEFT_BROW)]]), sigma)
    elif region in ("eyeshadow", "eyeliner"):
        m = np.zeros(shape, np.float32)
        t_acc = np.zeros(shape, np.float32)
        for side in ("right", "left"):
            lid = _resample(lm[list(_UPPER_LID[side])], 24)
            eye_w = float(np.hypot(*(lid[-1] - lid[0])))
            out_dir = (lid[-1] - lid[0]) / max(eye_w, 1e-3)
            brow = _resample(lm[list(_BROW_LOWER[side])], 24)
            if region == "eyeliner":
                up = brow.mean(0) - lid.mean(0)
                up /= max(float(np.hypot(*up)), 1e-3)
                line = lid[int(0.25 * len(lid)):]
                if spec.wing > 0:
                    tip = lid[-1] + (out_dir + 0.6 * up) * spec.wing * eye_w
                    line = np.concatenate([line, tip[None]])
                band = np.zeros(shape, np.uint8)
                cv2.polylines(band, [np.round(line * 4).astype(np.int32)], False, 255,
                              thickness=max(1, int(round(0.07 * eye_w * spec.area))), lineType=cv2.LINE_AA, shift=2)
                m = np.maximum(m, band.astype(np.float32) * np.float32(1 / 255))
                continue
            top = lid + (brow - lid) * min(spec.area, 1.0)
            if spec.wing > 0:
                tip = lid[-1] + out_dir * spec.wing * eye_w + (top[-1] - lid[-1]) * 0.6
                lid = np.concatenate([lid, tip[None]])
                top = np.concatenate([top, tip[None]])
            poly = np.concatenate([lid, top[::-1]])
            shade = _fill(shape, [poly])
            # t: 0 on the lid line, 1 on the top line (relative distance)
            x0, y0 = np.floor(poly.min(0) - 2).astype(int).clip(0)
            x1, y1 = np.ceil(poly.max(0) + 3).astype(int)
            x1, y1 = min(x1, shape[1]), min(y1, shape[0])
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            sub = (slice(y0, y1), slice(x0, x1))
            dl = _dist_to_line(lid - (x0, y0), (y1 - y0, x1 - x0))
            dt = _dist_to_line(top - (x0, y0), (y1 - y0, x1 - x0))
            t = dl / np.maximum(dl + dt, 1e-3)
            m[sub] = np.maximum(m[sub], shade[sub])
            t_acc[sub] = np.where(shade[sub] > 0, t, t_acc[sub])
        if region == "eyeshadow":
            m = _blur(m * (1.0 - spec.fade * t_acc), sigma)
            t_map = _blur(t_acc, max(1.0, sigma * 0.5))
        else:
            m = _blur(m, sigma)
    elif region == "cheek":
        m = np.zeros(shape, np.float32)
        eye_c = {"right": lm[list(T.RIGHT_EYE)].mean(0), "left": lm[list(T.LEFT_EYE)].mean(0)}
        for side in ("right", "left"):
            apple, ear = lm[_CHEEK_APPLE[side]], lm[_CHEEK_EAR[side]]
            centre = apple + 0.3 * (ear - apple) + spec.lift * 0.35 * (eye_c[side] - apple)
            d = ear - apple
            angle = math.degrees(math.atan2(d[1], d[0]))
            axes = (max(1, int(round(0.17 * W * spec.area * 4))), max(1, int(round(0.105 * W * spec.area * 4))))
            e = np.zeros(shape, np.uint8)
            cv2.ellipse(e, (int(round(centre[0] * 4)), int(round(centre[1] * 4))), axes, angle, 0, 360, 255,
                        -1, cv2.LINE_AA, 2)
            m = np.maximum(m, e.astype(np.float32) * np.float32(1 / 255))
        m = _blur(m, sigma)
        m *= _blur(_fill(shape, [lm[list(T.FACE_OVAL)]]), 0.02 * W)
    elif region == "base":
        oval = _fill(shape, [lm[list(T.FACE_OVAL)]])
        feats = _fill(shape, [lm[list(T.RIGHT_BROW)], lm[list(T.LEFT_BROW)], lm[list(T.RIGHT_EYE)],
                              lm[list(T.LEFT_EYE)],
                              lm[list(T.LIPS_OUTER_UPPER) + list(T.LIPS_OUTER_LOWER)[::-1][1:-1]]])
        k = max(1, int(round(0.02 * W)))
        ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        m = cv2.erode(oval, ker) * (1.0 - cv2.dilate(feats, ker))
        m = _blur(m, sigma)
    else:
        raise ValueError(f"unknown makeup region {region!r}; known: {', '.join(REGIONS)}")
    return m, t_map


def region_mask(geo: _FaceGeometry, region: str,
                spec: RegionStyle) -> tuple[np.ndarray, Optional[np.ndarray], tuple[slice, slice]]:
    """Soft mask of ``region`` for one face (crop coordinates), its ``t`` map and its bounding box.

    Args:
        geo: the face (from :func:`face_geometry`).
        region: one of :data:`REGIONS`.
        spec: the style's entry for the region (uses ``area``, ``feather``, ``wing``, ``lift``).

    Returns:
        ``(mask, t, box)``: float32 ``[h, w]`` masks in [0, 1] (``t`` is ``None`` except for
        eyeshadow) and the ``(rows, cols)`` slices holding every non-zero mask pixel.
    """
    key = (region, spec.area, spec.feather, spec.wing, spec.lift)
    if key in geo.masks:
        geo.masks.move_to_end(key)
        return geo.masks[key]
    f = min(1.0, MASK_WIDTH / geo.width)  # soft shapes are built on a shrunk grid for big faces
    if f < 0.8:
        h, w = geo.shape
        small = (max(1, round(h * f)), max(1, round(w * f)))
        m, t_map = _soft_mask(geo.lm * np.float32(f), small, geo.width * f, region, spec)
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        t_map = None if t_map is None else cv2.resize(t_map, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        m, t_map = _soft_mask(geo.lm, geo.shape, geo.width, region, spec)
    excl = _EXCLUDE[region]
    if excl not in geo.keep:
        geo.keep[excl] = ~np.isin(geo.labels, excl) & ~geo.eyes & ~geo.mouth
    keep = geo.keep[excl]
    m = np.where(keep, np.clip(m, 0.0, 1.0), np.float32(0)).astype(np.float32)
    ys, xs = np.nonzero(m.max(1) > 0)[0], np.nonzero(m.max(0) > 0)[0]
    box = (slice(int(ys[0]), int(ys[-1]) + 1), slice(int(xs[0]), int(xs[-1]) + 1)) if len(ys) else (slice(0, 0), slice(0, 0))
    geo.masks[key] = (m, t_map, box)
    while len(geo.masks) > 24:
        geo.masks.popitem(last=False)
    return m, t_map, box


def _dist_to_line(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 distance of every pixel of a ``shape`` grid to the polyline ``pts``."""
    img = np.full(shape, 255, np.uint8)
    cv2.polylines(img, [np.round(pts).astype(np.int32)], False, 0, 1, cv2.LINE_8)
    return cv2.distanceTransform(img, cv2.DIST_L2, 3)


# --- rendering ----------------------------------------------------------------------------------

def _apply_region(lab: np.ndarray, a_map: np.ndarray, t_map: Optional[np.ndarray], spec: RegionStyle,
                  skin_lab: np.ndarray, detail: np.ndarray, ab_low: np.ndarray) -> None:
    """Paint one region into ``lab`` (see the module docstring for the formulas).

    Args:
        lab: float32 ``[h, w, 3]`` CIELAB, modified in place.
        a_map: float32 ``[h, w]`` weight (mask × opacity × intensity).
        t_map: float32 ``[h, w]`` gradient position (0 lid, 1 top) or ``None``.
        spec: the region's style.
        skin_lab: ``[3]`` the face's skin tone (for ``"skin"`` colours).
        detail: float32 ``[h, w]`` fine luminance detail of the source.
        ab_low: float32 ``[h, w, 2]`` blurred source chroma (for ``smooth``).
    """
    L, A_, B_ = lab[..., 0], lab[..., 1], lab[..., 2]
    wsum = float(a_map.sum())
    if wsum <= 0:
        return
    mean = np.array([float((a_map * ch).sum()) / wsum for ch in (L, A_, B_)], np.float32)
    if spec.color_mode == "skin":
        target: np.ndarray = skin_lab
    elif spec.color_mode == "own":
        target = mean
    elif len(spec.colors) == 2 and t_map is not None:
        c0, c1 = _colour_lab(spec.colors[0]), _colour_lab(spec.colors[1])
        target = c0[None, None, :] + (c1 - c0)[None, None, :] * t_map[..., None]  # [h, w, 3]
    else:
        target = _colour_lab(spec.colors[0])
    target = np.asarray(target, np.float32)
    L += a_map * np.float32(spec.lightness) * (target[..., 0] - mean[0])
    A_ += a_map * (target[..., 1] - mean[1])
    B_ += a_map * (target[..., 2] - mean[2])
    if spec.finish == "matte":
        L -= a_map * np.float32(0.5) * np.maximum(detail, 0)
    elif spec.finish == "gloss":
        L += a_map * np.float32(1.2) * np.maximum(detail, 0)
    if spec.smooth > 0:
        sm = a_map * np.float32(spec.smooth)
        L -= sm * detail
        A_ += sm * (ab_low[..., 0] - A_)
        B_ += sm * (ab_low[..., 1] - B_)
    np.clip(L, 0, 100, out=L)


def render_face(image: np.ndarray, geo: _FaceGeometry, params: MakeupParams,
                styles: Mapping[str, MakeupStyle], out: np.ndarray,
                masks: dict[str, np.ndarray], changed: np.ndarray) -> None:
    """Paint the enabled regions of one face into ``out`` (``uint8`` image, modified in place).

    Args:
        image: the source pixels ``out`` started from (read only).
        geo: the face (from :func:`face_geometry` on ``image``).
        params: validated parameters.
        styles: the style table the parameters refer to.
        out: ``uint8`` ``[H, W, 3]`` result being built (other faces may already be painted).
        masks: region name → full-size ``uint8`` mask (0–255) to record the region masks into.
        changed: full-size bool map of the pixels that may differ from ``image`` (updated).
    """
    x0, y0, x1, y1 = geo.box
    dst = out[y0:y1, x0:x1]
    fresh = not changed[y0:y1, x0:x1].any()  # no other face painted inside this crop yet
    base_lab = geo.lab if fresh else _rgb_to_lab(dst)
    lab = base_lab.copy()
    union = np.zeros(geo.shape, np.float32)
    for region in params.enabled():
        spec = styles[params.regions[region]].regions[region]  # type: ignore[index]
        m, t, (ry, rx) = region_mask(geo, region, spec)
        full = masks[region][y0:y1, x0:x1]
        np.maximum(full, (m * 255 + 0.5).astype(np.uint8), out=full)
        a_map = m[ry, rx] * np.float32(spec.opacity * params.strength(region))
        if a_map.size == 0 or float(a_map.max()) <= CHANGE_THRESHOLD:
            continue
        _apply_region(lab[ry, rx], a_map, None if t is None else t[ry, rx], spec, geo.skin_lab,
                      geo.detail[ry, rx], geo.ab_low[ry, rx])
        np.maximum(union[ry, rx], a_map, out=union[ry, rx])
    sel = union > CHANGE_THRESHOLD
    if not sel.any():
        return
    ys, xs = np.nonzero(sel.any(1))[0], np.nonzero(sel.any(0))[0]
    sub = (slice(int(ys[0]), int(ys[-1]) + 1), slice(int(xs[0]), int(xs[-1]) + 1))
    # the edit as an RGB difference: exactly 0 wherever the Lab values did not move
    delta = _lab_to_rgb(lab[sub]) - _lab_to_rgb(base_lab[sub])
    src = dst[sub]
    res = np.clip(src.astype(np.float32) + delta + np.float32(0.5), 0, 255).astype(np.uint8)
    s = sel[sub]
    src[s] = res[s]
    changed[y0:y1, x0:x1] |= sel


GAN_MODEL = "makeup_gan_g"
"""Registry name of the makeup GAN's generator (what :func:`learned_status` looks for)."""


def learned_status(card: Optional[str | Path] = None) -> tuple[Optional[Path], bool, str]:
    """Find the trained makeup GAN and read whether its card marks it better (weights not loaded).

    Args:
        card: a specific card to read; default the first ``makeup_gan_g`` card on the
            checkpoint search path (:func:`engine.weights.store.find_checkpoint`).

    Returns:
        ``(card path or None, better_than_classical, reason)``.
    """
    from engine.errors import CheckpointError
    from engine.weights.card import read_card
    from engine.weights.store import find_checkpoint

    path = Path(card) if card is not None else find_checkpoint(GAN_MODEL)
    if path is None:
        return None, False, "no trained makeup GAN checkpoint, so the classical renderer runs"
    try:
        c = read_card(path)
    except (CheckpointError, OSError, ValueError) as exc:
        return None, False, f"makeup GAN unusable ({exc}), so the classical renderer runs"
    if c.model != GAN_MODEL:
        return None, False, f"{path.name} is a {c.model} card, not the makeup GAN; the classical renderer runs"
    if bool(c.extra.get("better_than_classical", False)):
        return path, True, "the makeup GAN's card marks it measured better than the classical renderer"
    m = c.metrics
    detail = ""
    if "learned_ssim_to_classical" in m:
        detail = (f" (held-out faces: L1 to the classical render inside the regions "
                  f"{m.get('learned_region_l1_to_classical', float('nan')):.1f}/255, SSIM to input "
                  f"{m.get('learned_ssim_input', float('nan')):.4f} vs classical "
                  f"{m.get('classical_ssim_input', float('nan')):.4f}: it paints less; no realism measurement)")
    return path, False, ("the trained makeup GAN is not measured better than the classical renderer"
                         f"{detail}, so the classical renderer runs")


def resolve_backend(requested: str, card: Optional[str | Path] = None) -> tuple[str, Optional[Path], str]:
    """The backend that runs for ``requested`` and why (``auto`` reads only the card).

    Args:
        requested: ``"auto"``, ``"classical"`` or ``"neural"``.
        card: a specific makeup GAN card (default: found on the checkpoint search path).

    Returns:
        ``(backend, card path or None, reason)``.

    Raises:
        ValueError: ``"neural"`` without a usable checkpoint, or an unknown backend.
    """
    if requested == "classical":
        return "classical", None, "classical renderer requested"
    if requested not in ("auto", "neural"):
        raise ValueError(f"backend must be auto, classical or neural, got {requested!r}")
    path, better, reason = learned_status(card)
    if requested == "neural":
        if path is None:
            raise ValueError(f"the neural makeup backend is not available: {reason}")
        return "neural", path, "neural backend requested"
    return ("neural", path, reason) if better else ("classical", None, reason)


class MakeupEditor(Editor[MakeupParams]):
    """Makeup on every face of a photo: the classical renderer or the makeup GAN.

    Args:
        backend: ``"classical"``, ``"neural"`` (the makeup GAN; ``ValueError`` when there is no
            usable checkpoint) or ``"auto"`` (the GAN only when its card marks it measured better
            than the classical renderer, else classical).
        analyzer: a :class:`~engine.faces.FaceAnalyzer` to share; one is created on first use.
        styles: style table; default :func:`load_styles` (built-in + user folder).
        checkpoint: a specific makeup GAN card (default: found on the checkpoint search path).

    Example:
        >>> from skimage import data                                          # doctest: +SKIP
        >>> ed = MakeupEditor(); ed.set_image(data.astronaut())               # doctest: +SKIP
        >>> res = ed.edit(MakeupParams({"lips": "retro"}, intensity=0.8))    # doctest: +SKIP
        >>> res.image.shape, sorted(res.masks)                               # doctest: +SKIP
        ((512, 512, 3), ['changed', 'lips'])
    """

    backends = ("classical", "neural")
    preview_sides = (384,)

    def __init__(self, backend: str = "auto", analyzer: Any = None,
                 styles: Optional[Mapping[str, MakeupStyle]] = None,
                 checkpoint: Optional[str | Path] = None) -> None:
        super().__init__(backend)
        self.analyzer = analyzer
        self.styles: dict[str, MakeupStyle] = dict(styles) if styles is not None else load_styles()
        self.analysis: Any = None
        self._geometry: dict[float, list[_FaceGeometry]] = {}
        self._model: Any = None
        self._model_styles: list[str] = []
        self._model_size = 0
        self._resolved, path, self.backend_reason = resolve_backend(backend, checkpoint)
        if path is not None:
            from engine.errors import CheckpointError
            from engine.weights.store import load_checkpoint

            try:
                model, card = load_checkpoint(path, device="cpu")
                self.use_model(model, list(card.extra.get("styles", [])), int((card.input_size or (0,))[0]),
                               self.backend_reason)
            except (CheckpointError, OSError, ValueError) as exc:
                if backend == "neural":
                    raise ValueError(f"the neural makeup backend is not available: {exc}") from None
                self._resolved, self.backend_reason = "classical", f"makeup GAN unusable ({exc}); classical runs"

    @property
    def backend(self) -> str:
        """The backend that runs (``auto`` resolved from the GAN's card; see :attr:`backend_reason`)."""
        return self._resolved

    def use_model(self, model: Any, styles: Sequence[str], size: int, reason: str = "model given directly") -> None:
        """Run the neural backend with ``model`` (a :class:`~engine.models.makeup_gan.MakeupGenerator`).

        Args:
            model: the generator (put in eval mode).
            styles: style names in the order of its style one-hot.
            size: aligned crop side it works at (a multiple of ``2 ** model.n_down``).
            reason: why it runs (reported in ``info["backend_reason"]``).

        Raises:
            ValueError: the style list does not match the model, or a bad size.
        """
        if len(styles) != model.num_styles:
            raise ValueError(f"makeup GAN has {model.num_styles} styles but {len(styles)} style names were given")
        if size < 8 or size % (2 ** model.n_down):
            raise ValueError(f"makeup GAN crop size must be a multiple of {2 ** model.n_down}, got {size}")
        self._model, self._model_styles, self._model_size = model.eval(), list(styles), int(size)
        self._resolved, self.backend_reason = "neural", reason
        if self.requested_backend == "classical":
            self.requested_backend = "neural"

    def neural_support(self, params: MakeupParams) -> Optional[str]:
        """``None`` when the makeup GAN can render ``params``, else why not."""
        from engine.models.makeup_gan import GAN_REGIONS

        if self._model is None:
            return "no makeup GAN loaded"
        regions = params.enabled()
        bad = [r for r in regions if r not in GAN_REGIONS]
        if bad:
            return f"the makeup GAN has no {', '.join(bad)} region (it knows {', '.join(GAN_REGIONS)})"
        unknown = sorted({str(params.regions[r]) for r in regions} - set(self._model_styles))
        if unknown:
            return f"the makeup GAN was not trained on style(s) {', '.join(unknown)}"
        return None

    def set_image(self, image: np.ndarray) -> None:
        """Analyse ``image`` (faces, landmarks, parsing).

        Raises:
            NoFaceError: no face with landmarks was found (the editor then holds no image).
        """
        try:
            super().set_image(image)
        except NoFaceError:
            self._image = None
            raise

    def _prepare(self, image: np.ndarray) -> None:
        if self.analyzer is None:
            from engine.faces import FaceAnalyzer

            self.analyzer = FaceAnalyzer()
        self.analysis = self.analyzer.analyze(image)
        self._geometry = {}
        if not any(f.landmarks is not None for f in self.analysis.faces):
            raise NoFaceError("no face found" if not self.analysis.faces else
                              "no face found (a face was detected but its landmarks could not be fitted)")

    @property
    def faces(self) -> int:
        """Faces that get makeup (those with landmarks)."""
        return len(self._faces(1.0, self.image))

    def _faces(self, scale: float, image: np.ndarray) -> list[_FaceGeometry]:
        if scale not in self._geometry:
            labels = self.analysis.parsing
            if labels.shape[:2] != image.shape[:2]:
                labels = cv2.resize(labels, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
            self._geometry[scale] = [face_geometry(image, labels, f.landmarks * np.float32(scale))
                                     for f in self.analysis.faces if f.landmarks is not None]
        return self._geometry[scale]

    def _run(self, image: np.ndarray, params: MakeupParams, scale: float,
             cancel: Optional[CancelToken]) -> EditResult:
        params.validate(self.styles)
        backend, reason = self._resolved, self.backend_reason
        if backend == "neural":
            why_not = self.neural_support(params)
            if why_not is not None:
                if self.requested_backend == "neural":
                    raise ValueError(f"neural makeup backend: {why_not}; use the classical backend")
                backend, reason = "classical", f"{why_not}, so the classical renderer runs"
        out = image.copy()
        h, w = image.shape[:2]
        masks = {r: np.zeros((h, w), np.uint8) for r in params.enabled()}
        changed = np.zeros((h, w), bool)
        geos = self._faces(scale, image)
        faces = [f for f in self.analysis.faces if f.landmarks is not None]
        for face, geo in zip(faces, geos):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if backend == "neural":
                self._render_neural(face.keypoints * np.float32(scale), geo, params, out, masks, changed)
            else:
                render_face(image, geo, params, self.styles, out, masks, changed)
        masks["changed"] = changed
        info = {"backend": backend, "method": "makeup-gan" if backend == "neural" else "cielab-regions",
                "backend_reason": reason, "device": "cpu", "faces": len(geos),
                "regions": {r: params.regions[r] for r in params.enabled()},
                "analysis": {k: self.analysis.info.get(k) for k in ("detector", "parser")}}
        return EditResult(out, masks, info)

    def _render_neural(self, keypoints: np.ndarray, geo: _FaceGeometry, params: MakeupParams, out: np.ndarray,
                       masks: dict[str, np.ndarray], changed: np.ndarray) -> None:
        """Paint one face with the makeup GAN in its aligned crop and paste the change back into ``out``
        inside the enabled regions' soft masks only (see the module docstring)."""
        import torch

        from engine.faces.align import AlignedCrop, align_face, paste_back
        from engine.models.makeup_gan import region_vector

        x0, y0, x1, y1 = geo.box
        weight = np.zeros(geo.shape, np.float32)
        groups: dict[str, list[str]] = {}
        for region in params.enabled():
            style = str(params.regions[region])
            m, _, _ = region_mask(geo, region, self.styles[style].regions[region])
            full = masks[region][y0:y1, x0:x1]
            np.maximum(full, (m * 255 + 0.5).astype(np.uint8), out=full)
            np.maximum(weight, np.minimum(m * 2, 1) * np.float32(params.strength(region)), out=weight)
            groups.setdefault(style, []).append(region)
        sel = weight > CHANGE_THRESHOLD
        if not sel.any():
            return
        sub = out[y0:y1, x0:x1]  # the face's box; other faces may already be painted into it
        crop = align_face(out, keypoints, self._model_size)
        m = crop.matrix.astype(np.float64)
        m_sub = np.concatenate([m[:, :2], (m[:, 2] + m[:, :2] @ np.array([x0, y0], np.float64))[:, None]], 1)
        crop_sub = AlignedCrop(crop.image, m_sub, crop.size)
        x = torch.from_numpy(crop.image).permute(2, 0, 1)[None].float().div(255.0)
        model = self._model
        with torch.no_grad():
            for style, regions in groups.items():
                cond = model.condition(torch.tensor([self._model_styles.index(style)]),
                                       torch.tensor([region_vector(regions)]), torch.tensor([0]))
                x, _ = model(x, cond)
        edited = (x[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
        pasted = paste_back(sub, crop_sub, edited)
        src = sub.astype(np.float32)
        res = np.clip(src + (pasted.astype(np.float32) - src) * weight[:, :, None] + np.float32(0.5), 0, 255)
        sub[sel] = res.astype(np.uint8)[sel]
        changed[y0:y1, x0:x1] |= sel


def with_style(params: MakeupParams, style: str, regions: Sequence[str],
               styles: Mapping[str, MakeupStyle]) -> MakeupParams:
    """``params`` with ``style`` on each of ``regions`` that the style defines (global shortcut).

    Args:
        params: current parameters.
        style: style name.
        regions: regions to set (those the style lacks keep their current style).
        styles: the style table.

    Returns:
        New parameters.
    """
    if style not in styles:
        raise ValueError(f"unknown makeup style {style!r}; known: {', '.join(styles)}")
    new = dict(params.regions)
    for r in regions:
        if r in styles[style].regions:
            new[r] = style
    return replace(params, regions=new)
