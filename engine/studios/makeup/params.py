"""Makeup studio parameters and style presets: what one edit asks for, and the style-file schema.

:class:`MakeupParams` says which style paints which region at which intensity; styles
(:class:`MakeupStyle`, one :class:`RegionStyle` per region) come from JSON files.

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
             "area": 1.0,         # 0.05-2, size of the region (engine.studios.makeup.classical)
             "finish": "matte",   # "matte" | "satin" | "gloss"
             "lightness": 1.0,    # 0-1, how far L follows the target (1 = fully)
             "fade": 0.0,         # 0-1, opacity drop from the lid to the top edge (eyeshadow)
             "wing": 0.0,         # 0-1, outward extension × eye width (eyeshadow, eyeliner)
             "lift": 0.0,         # -1-1, cheek centre moved towards the eye (+) or the jaw (-)
             "smooth": 0.0        # 0-1, skin smoothing / tone evening (base)
           }}}}}

Unknown keys, out-of-range values and unknown regions are refused with the file and style named.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import ImageLoadError
from engine.imageio import check_regular_file
from engine.studios.ranges import Range

REGIONS: tuple[str, ...] = ("base", "cheek", "eyeshadow", "eyeliner", "brows", "lips")
"""Makeup regions in rendering order (later ones are painted over earlier ones)."""

MAIN_REGIONS: tuple[str, ...] = ("lips", "eyeshadow", "cheek", "base")
"""The regions every built-in style defines (eyeliner and brows are optional)."""

DEFAULT_STYLE_REGIONS: tuple[str, ...] = ("lips", "eyeshadow", "cheek")
"""Regions a global style applies to when no region list is given."""

FINISHES: tuple[str, ...] = ("matte", "satin", "gloss")

BUILTIN_STYLES_FILE: Path = Path(__file__).resolve().parents[3] / "resources" / "makeup_styles.json"
"""The shipped style presets (the paper's Asian and European sets)."""

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
        area: region size factor, 0.05–2 (meaning per region: see :mod:`engine.studios.makeup.classical`).
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
    def from_json(cls, d: Mapping[str, Any], where: str) -> RegionStyle:
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
        check_regular_file(p)  # a FIFO or device would block the read
    except ImageLoadError as exc:
        raise ValueError(f"cannot read style file {exc}") from None
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

RANGES: dict[str, Range] = {"intensity": Range(0.0, 1.0),
                            **{f"{r}_intensity": Range(0.0, 1.0) for r in REGIONS}}
"""Valid range of every numeric makeup parameter, in the flat form of :data:`FLAT_DEFAULTS`
(``--intensity``, ``--lips-intensity`` ..., batch grids, the panel's sliders). The numbers inside
a style file have their own ranges (see the module docstring)."""

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

    regions: Mapping[str, str | None] = field(default_factory=dict)  # region -> style | None
    region_intensity: Mapping[str, float] = field(default_factory=dict)  # region -> 0..1
    intensity: float = 1.0                                               # global 0..1

    def enabled(self) -> list[str]:
        """Regions with a style, in rendering order."""
        return [r for r in REGIONS if self.regions.get(r)]

    def strength(self, region: str) -> float:
        """Region intensity × global intensity."""
        return float(self.region_intensity.get(region, 1.0)) * float(self.intensity)

    def validate(self, styles: Mapping[str, MakeupStyle]) -> MakeupParams:
        """Check the parameters against a style table.

        Args:
            styles: the style table the style names refer to.

        Returns:
            ``self``.

        Raises:
            ValueError: unknown regions or styles, a style lacking a region it is set on, or an
                intensity outside [0, 1].
        """
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
            RANGES[f"{r}_intensity"].check(f"{r} intensity", v)
        RANGES["intensity"].check("intensity", self.intensity)
        return self


FLAT_DEFAULTS: dict[str, Any] = {
    "style": None, "regions": "+".join(DEFAULT_STYLE_REGIONS), "intensity": 1.0, "styles_file": None,
    **{r: None for r in REGIONS}, **{f"{r}_intensity": 1.0 for r in REGIONS},
}
"""Flat parameter form (batch grids, CLI): ``style`` applies to the ``regions`` list
(``"lips+eyeshadow"``); a per-region style name overrides it there; ``styles_file`` adds styles.
A region given as ``"none"`` (:data:`REGION_OFF`) is off even where ``style`` would reach it; a
region not given (absent, or ``None`` in the defaults) takes ``style`` when ``regions`` lists it."""

REGION_OFF = "none"
"""A region's value in the flat form when it was switched off explicitly (``--lips none``)."""

OFF_WORDS: tuple[str, ...] = ("none", "off", "null", "")
"""Spellings of "region off" (case-insensitive) in the flat form, the CLI and batch grids."""


def normalize_flat(params: Mapping[str, Any]) -> dict[str, Any]:
    """Complete and validate a flat parameter mapping (see :data:`FLAT_DEFAULTS`).

    A region key that is present with ``None``, ``"none"``, ``"off"`` or ``""`` switches the region
    off; an absent region key is "not given". The result names every region's style as rendered:
    a region the global ``style`` reaches (``regions`` lists it) names that style unless it was
    given; a region switched off where ``style`` would reach it is :data:`REGION_OFF`; any other
    region that is not painted is ``None``. ``style`` and ``regions`` stay as asked.

    Args:
        params: partial mapping.

    Returns:
        The complete, JSON-serialisable dict (regions in canonical order, floats as floats);
        normalising it again changes nothing.

    Raises:
        ValueError: unknown keys, regions or styles; intensities outside [0, 1].

    Example:
        >>> f = normalize_flat({"style": "smoky", "regions": "lips+eyeshadow", "lips": "none"})
        >>> f["lips"], f["eyeshadow"], f["cheek"]
        ('none', 'smoky', None)
        >>> params_from_flat(f, load_styles(include_user_dir=False)).enabled()
        ['eyeshadow']
    """
    unknown = set(params) - set(FLAT_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown makeup parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(FLAT_DEFAULTS)}")
    out = dict(FLAT_DEFAULTS)
    out.update(params)
    out["style"] = None if _is_off(out["style"]) else str(out["style"])
    names = [x.strip() for x in str(out["regions"] or "").replace(",", "+").split("+") if x.strip()]
    bad = [x for x in names if x not in REGIONS]
    if bad:
        raise ValueError(f"unknown makeup region(s) {', '.join(bad)}; known: {', '.join(REGIONS)}")
    out["regions"] = "+".join(r for r in REGIONS[::-1] if r in names) or None
    for r in REGIONS:
        reached = out["style"] is not None and r in names
        if r not in params:
            out[r] = out["style"] if reached else None
        elif _is_off(out[r]):  # given as off: say so where the global style would paint it
            out[r] = REGION_OFF if reached else None
        else:
            out[r] = str(out[r])
    for key in ["intensity"] + [f"{r}_intensity" for r in REGIONS]:
        out[key] = RANGES[key].check(key, out[key])
    out["styles_file"] = None if out["styles_file"] in (None, "") else str(out["styles_file"])
    params_from_flat(out, load_styles([out["styles_file"]] if out["styles_file"] else ()))
    return out


def _is_off(value: Any) -> bool:
    """``value`` means "no style" (``None`` or one of :data:`OFF_WORDS`)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in OFF_WORDS)


def params_from_flat(flat: Mapping[str, Any], styles: Mapping[str, MakeupStyle]) -> MakeupParams:
    """:class:`MakeupParams` from a flat mapping.

    Args:
        flat: normalised flat parameters (:func:`normalize_flat`): a region set to
            :data:`REGION_OFF` is off; one set to ``None`` takes ``style`` when ``regions`` lists it.
        styles: the style table to validate against.

    Returns:
        The validated parameters.

    Raises:
        ValueError: see :meth:`MakeupParams.validate`.
    """
    regions: dict[str, str | None] = {}
    listed = str(flat.get("regions") or "").split("+")
    style = flat.get("style")
    for r in REGIONS:
        given = flat.get(r)
        if given is not None and _is_off(given):
            regions[r] = None
        else:
            regions[r] = given or (style if r in listed and not _is_off(style) else None)
    p = MakeupParams(regions, {r: float(flat.get(f"{r}_intensity", 1.0)) for r in REGIONS},
                     float(flat.get("intensity", 1.0)))
    return p.validate(styles)


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
