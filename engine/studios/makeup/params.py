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
             "smooth": 0.0,       # 0-1, skin smoothing / tone evening (base)
             # measured styles (engine.studios.makeup.reference) add, all optional:
             "reference_skin": [R, G, B],  # the reference face's skin: "color" is then taken
                                           # relative to it (target = color - reference_skin + the
                                           # face's own skin, in CIELAB), and a two-colour
                                           # gradient moves the region's own lid→top profile
                                           # (its colours at 1/4 and 3/4 of the way up)
             "shine": 1.4,        # 0-50, the reference region's highlight level / its skin's
                                  # (replaces "finish": highlights scaled to the same ratio)
             "texture": 1.2,      # 0-50, the reference region's fine-detail level (L units);
                                  # a face with more detail is smoothed towards it (base)
             "spread": 6.0        # 0-100, the reference region's L contrast (std around its
                                  # profile); a region with more is flattened towards it
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

REFERENCE_REGIONS: tuple[str, ...] = ("base", "cheek", "eyeshadow", "eyeliner", "lips")
"""Regions that can take their makeup from a reference photo (:mod:`engine.studios.makeup.reference`)."""

REFERENCE_PREFIX = "photo:"
"""A reference photo's style is named ``photo:<path>`` in a style table (:func:`reference_key`)."""

FINISHES: tuple[str, ...] = ("matte", "satin", "gloss")

BUILTIN_STYLES_FILE: Path = Path(__file__).resolve().parents[3] / "resources" / "makeup_styles.json"
"""The shipped style presets (the paper's Asian and European sets)."""

# --- styles ------------------------------------------------------------------------------------

_RANGES: dict[str, tuple[float, float]] = {
    "opacity": (0.0, 1.0), "feather": (0.0, 0.5), "area": (0.05, 2.0), "lightness": (0.0, 1.0),
    "fade": (0.0, 1.0), "wing": (0.0, 1.0), "lift": (-1.0, 1.0), "smooth": (0.0, 1.0),
}
_MEASURED_RANGES: dict[str, tuple[float, float]] = {"shine": (0.0, 50.0), "texture": (0.0, 50.0),
                                                    "spread": (0.0, 100.0)}


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
    reference_skin: tuple[float, float, float] | None = None  # sRGB skin the colours are relative to
    shine: float | None = None                             # highlight ratio region / skin (measured)
    texture: float | None = None                           # fine-detail level, L units (measured)
    spread: float | None = None                            # L contrast in the region, L units (measured)

    @property
    def relative(self) -> bool:
        """The colours are relative to a reference face's skin (a measured style)."""
        return self.reference_skin is not None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this region (the inverse of :meth:`from_json`).

        Example:
            >>> r = RegionStyle(colors=((200.0, 40.0, 60.0),), opacity=0.8, finish="gloss")
            >>> RegionStyle.from_json(r.to_json(), "x") == r
            True
        """
        out: dict[str, Any] = {}
        if self.color_mode == "skin":
            out["color"] = "skin"
        elif self.color_mode == "own":
            out["color"] = None
        else:
            out["color"] = [[float(v) for v in c] for c in self.colors]
        defaults = RegionStyle()
        for key in _RANGES:
            if getattr(self, key) != getattr(defaults, key):
                out[key] = float(getattr(self, key))
        out["finish"] = self.finish
        if self.reference_skin is not None:
            out["reference_skin"] = [float(v) for v in self.reference_skin]
        for key in _MEASURED_RANGES:
            if getattr(self, key) is not None:
                out[key] = float(getattr(self, key))
        return out

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
        known = {"color"} | set(_RANGES) | {"finish", "reference_skin"} | set(_MEASURED_RANGES)
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
        values.update(_measured_values(d, where, mode))
        finish = d.get("finish", "satin")
        if finish not in FINISHES:
            raise ValueError(f"{where}: finish must be one of {', '.join(FINISHES)}, got {finish!r}")
        return cls(colors=colors, color_mode=mode, finish=finish, **values)


def _measured_values(d: Mapping[str, Any], where: str, mode: str) -> dict[str, Any]:
    """The measured-style keys of a region entry (``reference_skin``, ``shine``, ``texture``,
    ``spread``), validated.

    Raises:
        ValueError: a value out of range, or ``reference_skin`` without an ``[R, G, B]`` colour.
    """
    values: dict[str, Any] = {}
    for key, (lo, hi) in _MEASURED_RANGES.items():
        if key in d and d[key] is not None:
            v = d[key]
            if not isinstance(v, (int, float)) or not (lo <= float(v) <= hi):
                raise ValueError(f"{where}: {key} must be a number in [{lo}, {hi}], got {v!r}")
            values[key] = float(v)
    ref = d.get("reference_skin")
    if ref is not None:
        if not (isinstance(ref, Sequence) and len(ref) == 3
                and all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in ref)):
            raise ValueError(f"{where}: reference_skin must be [R, G, B] with values 0-255")
        if mode != "rgb":
            raise ValueError(f"{where}: reference_skin needs an [R, G, B] color")
        values["reference_skin"] = (float(ref[0]), float(ref[1]), float(ref[2]))
    return values


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


def style_to_json(style: MakeupStyle) -> dict[str, Any]:
    """The style-file entry of ``style`` (``{"sets", "description", "regions"}``).

    Args:
        style: the style.

    Returns:
        A JSON-serialisable dict that :func:`load_style_file` reads back as an equal style.
    """
    return {"sets": list(style.sets), "description": style.description,
            "regions": {r: spec.to_json() for r, spec in style.regions.items()}}


def save_styles(path: str | Path, styles: Sequence[MakeupStyle]) -> Path:
    """Add ``styles`` to the style file ``path`` (created when missing; styles of the same name are
    replaced, the others kept), written atomically.

    Args:
        path: a style file (``.json``), e.g. in :func:`user_styles_dir`.
        styles: the styles to store.

    Returns:
        The path written.

    Raises:
        ValueError: ``path`` exists but is not a valid style file, or a style name is not
            letters, digits, ``-`` or ``_``.
    """
    from engine.imageio import atomic_write_bytes

    p = Path(path)
    doc: dict[str, Any] = {"schema": 1, "styles": {}}
    if p.exists():
        load_style_file(p)  # refuses to add to a broken or foreign file
        doc = json.loads(p.read_text(encoding="utf-8"))
    for st in styles:
        if not st.name or not all(ch.isalnum() or ch in "-_" for ch in st.name) or \
                st.name.lower() in ("none", "off", "null"):
            raise ValueError(f"style name {st.name!r} must be letters, digits, '-' or '_' (and not none/off)")
        doc["styles"][st.name] = style_to_json(st)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, _style_file_text(doc).encode("utf-8"))
    return p


def _style_file_text(doc: Mapping[str, Any]) -> str:
    """A style file's JSON with one line per region (as in the shipped file)."""
    head = {k: v for k, v in doc.items() if k != "styles"}
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + [' "styles": {']
    names = list(doc["styles"])
    for i, name in enumerate(names):
        st = doc["styles"][name]
        lines.append(f"  {json.dumps(name)}: {{")
        lines += [f"   {json.dumps(k)}: {json.dumps(v)}," for k, v in st.items() if k != "regions"]
        lines.append('   "regions": {')
        regions = list(st["regions"].items())
        lines += [f"    {json.dumps(r)}: {json.dumps(spec)}{',' if j < len(regions) - 1 else ''}"
                  for j, (r, spec) in enumerate(regions)]
        lines.append("   }")
        lines.append("  }" + ("," if i < len(names) - 1 else ""))
    lines += [" }", "}", ""]
    return "\n".join(lines)


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

RANGES: dict[str, Range] = {"intensity": Range(0.0, 1.0), "remove": Range(0.0, 1.0),
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
    "reference": None, **{f"{r}_reference": None for r in REFERENCE_REGIONS}, "remove": 0.0,
}
"""Flat parameter form (batch grids, CLI): ``style`` applies to the ``regions`` list
(``"lips+eyeshadow"``); a per-region style name overrides it there; ``styles_file`` adds styles.
``reference`` (a photo) paints the ``regions`` list with the makeup measured on it, instead of
``style``; ``<region>_reference`` gives one region its own photo (before any style);
``remove`` > 0 removes the makeup (:mod:`engine.studios.makeup.removal`) from every removable region
that nothing else paints, at that intensity. Which source wins per region: :func:`region_sources`.
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
    for key in ["intensity", "remove"] + [f"{r}_intensity" for r in REGIONS]:
        out[key] = RANGES[key].check(key, out[key])
    out["styles_file"] = None if out["styles_file"] in (None, "") else str(out["styles_file"])
    for key in ["reference"] + [f"{r}_reference" for r in REFERENCE_REGIONS]:
        if out[key] in (None, ""):
            out[key] = None
            continue
        out[key] = str(out[key])
        try:
            check_regular_file(out[key])
        except ImageLoadError as exc:
            raise ValueError(f"reference photo: {exc}") from None
    styles = load_styles([out["styles_file"]] if out["styles_file"] else ())
    from engine.studios.makeup.removal import removal_style  # removal reads this module

    styles[REMOVAL_STYLE] = removal_style()
    # the photos are measured by whoever renders (it has the face analyzer): check the rest here
    bare = {**out, "reference": None, **{f"{r}_reference": None for r in REFERENCE_REGIONS}}
    params_from_flat(bare, styles)
    return out


REMOVAL_STYLE = "makeup-removal"
"""The removal style's name in a style table (:func:`engine.studios.makeup.removal.removal_style`)."""


def reference_key(path: str | os.PathLike[str]) -> str:
    """The style-table name of the style measured on the photo ``path``.

    Example:
        >>> reference_key("refs/a.jpg")
        'photo:refs/a.jpg'
    """
    return REFERENCE_PREFIX + str(path)


def region_sources(flat: Mapping[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Where each region's makeup comes from in a normalised flat mapping.

    Per region, the first that applies: ``<region>_reference`` → ``("reference", path)``; the
    region switched off (:data:`REGION_OFF`) → ``("off", None)``; a per-region style →
    ``("style", name)``; ``reference`` with the region in ``regions`` → ``("reference", path)``;
    ``style`` with the region in ``regions`` → ``("style", name)``; ``remove`` > 0 and a removable
    region → ``("remove", None)``; else ``("off", None)``.

    Args:
        flat: normalised flat parameters (:func:`normalize_flat`).

    Returns:
        region → ``(kind, value)`` for every region of :data:`REGIONS`.

    Example:
        >>> f = normalize_flat({"regions": "lips+eyeshadow", "lips": "retro", "remove": 0.5})
        >>> src = region_sources(f)
        >>> src["lips"], src["eyeshadow"], src["base"]
        (('style', 'retro'), ('remove', None), ('off', None))
    """
    from engine.studios.makeup.removal import REMOVED_REGIONS

    listed = str(flat.get("regions") or "").split("+")
    out: dict[str, tuple[str, str | None]] = {}
    for r in REGIONS:
        given = flat.get(r)
        if flat.get(f"{r}_reference"):
            out[r] = ("reference", str(flat[f"{r}_reference"]))
        elif given is not None and _is_off(given):
            out[r] = ("off", None)
        elif given and not (flat.get("reference") and r in listed and r in REFERENCE_REGIONS
                            and given == flat.get("style")):
            out[r] = ("style", str(given))
        elif flat.get("reference") and r in listed and r in REFERENCE_REGIONS:
            out[r] = ("reference", str(flat["reference"]))
        elif flat.get("style") and r in listed and not _is_off(flat.get("style")):
            out[r] = ("style", str(flat["style"]))
        elif float(flat.get("remove") or 0.0) > 0 and r in REMOVED_REGIONS:
            out[r] = ("remove", None)
        else:
            out[r] = ("off", None)
    return out


def _is_off(value: Any) -> bool:
    """``value`` means "no style" (``None`` or one of :data:`OFF_WORDS`)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in OFF_WORDS)


def params_from_flat(flat: Mapping[str, Any], styles: Mapping[str, MakeupStyle]) -> MakeupParams:
    """:class:`MakeupParams` from a flat mapping.

    Args:
        flat: normalised flat parameters (:func:`normalize_flat`): a region set to
            :data:`REGION_OFF` is off; one set to ``None`` takes ``style`` when ``regions`` lists it
            (see :func:`region_sources` for references and removal).
        styles: the style table to validate against (it must hold :func:`reference_key` of every
            reference photo and :data:`REMOVAL_STYLE` when they are used:
            :func:`engine.studios.makeup.reference.flat_styles` adds them).

    Returns:
        The validated parameters.

    Raises:
        ValueError: see :meth:`MakeupParams.validate`.
    """
    regions: dict[str, str | None] = {}
    strength = {r: float(flat.get(f"{r}_intensity", 1.0)) for r in REGIONS}
    for r, (kind, value) in region_sources(flat).items():
        if kind == "reference":
            regions[r] = reference_key(str(value))
        elif kind == "remove":
            regions[r] = REMOVAL_STYLE
            strength[r] *= float(flat.get("remove") or 0.0)
        else:
            regions[r] = value
    p = MakeupParams(regions, strength, float(flat.get("intensity", 1.0)))
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
