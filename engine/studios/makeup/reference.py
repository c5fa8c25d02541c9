"""Makeup styles measured from a reference photo, relative to the reference's own skin.

A reference face is analysed (the editor's :class:`~engine.faces.FaceAnalyzer`: detection, mesh,
the parser ``auto`` picks), and each region's makeup is measured in the renderer's colour model
(CIELAB, :mod:`engine.studios.makeup.classical`) on the same soft region masks the renderer paints
(:data:`TEMPLATE`), weighted by the mask:

``lips``       mean colour, gloss (``shine``: mean positive fine detail / the skin's) and contrast
               (``spread``, also for the eyeshadow: a flat lipstick flattens textured lips).
``eyeshadow``  the colour's linear profile over ``t`` (0 lash line → 1 towards the brow): two
               colours, at a quarter and three quarters of the way up, i.e. colour and gradient.
``eyeliner``   mean colour of the lash-line band (its darkness against the skin).
``cheek``      blush colour and placement: the cheek ellipse is tried at several heights
               (:data:`CHEEK_LIFTS`) and the one where a* rises most above the skin's is kept.
``base``       foundation: the face skin's mean colour against its median (tone evenness) and its
               fine-detail level (``texture``: a face with more detail is smoothed towards it).

Every colour is stored with the reference's skin (``reference_skin``); the renderer paints
``colour − reference skin + the face's own skin``, so a reference on dark skin gives a light-skinned
face the same *look* (lip colour against skin, lid shading against skin), never the reference's skin
colour. A style measured on the input itself renders the input unchanged. The result is an ordinary
:class:`~engine.studios.makeup.params.MakeupStyle`: it can be saved in a style file
(:func:`~engine.studios.makeup.params.save_styles`) and read back like the presets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ImageLoadError, NoFaceError
from engine.studios.makeup.classical import (
    FaceGeometry,
    core_mask,
    face_geometry,
    lab_colour,
    region_mask,
    region_stats,
)
from engine.studios.makeup.params import (
    REFERENCE_REGIONS,
    REMOVAL_STYLE,
    MakeupStyle,
    RegionStyle,
    load_styles,
    reference_key,
    region_sources,
)

MEASURED_REGIONS: tuple[str, ...] = REFERENCE_REGIONS
"""Regions a reference style measures (brows are not measured)."""

TEMPLATE: dict[str, RegionStyle] = {
    "lips": RegionStyle(opacity=1.0, feather=0.012, area=1.0),
    "eyeshadow": RegionStyle(opacity=1.0, feather=0.025, area=0.65, wing=0.12),
    "eyeliner": RegionStyle(opacity=1.0, feather=0.006, area=1.0),
    "cheek": RegionStyle(opacity=1.0, feather=0.08, area=1.0),
    "base": RegionStyle(opacity=1.0, feather=0.03),
}
"""The region shapes a measured style is measured on and painted with (opacity 1: at full
intensity the region's mean reaches the reference's, relative to the skin)."""

SPREAD_REGIONS: tuple[str, ...] = ("lips", "eyeshadow")
"""Regions whose contrast (``spread``) a measured style records: lipstick and eyeshadow flatten or
add texture; elsewhere the face's own contrast is kept."""

CHEEK_LIFTS: tuple[float, ...] = (-0.4, -0.2, 0.0, 0.2, 0.4)
"""Heights tried for the blush (``lift``; + towards the eye)."""

REFERENCE_SIDE = 320
"""A reference photo is analysed with its long side at most this (pixels): region colours need no
more, and the analysis (detection, mesh, parsing) of a new reference is the slow part of a change."""

GLOSS_SHINE, MATTE_SHINE = 2.2, 1.1
"""``shine`` above / below which a measured lip style is labelled ``gloss`` / ``matte`` (the label
is informative: a measured style's ``shine`` drives the rendering)."""


def largest_geometry(image: np.ndarray, analyzer: Any) -> FaceGeometry:
    """The largest face with landmarks in ``image``, as a :class:`FaceGeometry`.

    Args:
        image: ``uint8`` RGB.
        analyzer: a :class:`~engine.faces.FaceAnalyzer`.

    Returns:
        Its geometry (crop, landmarks, parsing, CIELAB maps).

    Raises:
        NoFaceError: no face, or no face whose landmarks could be fitted.
    """
    analysis = analyzer.analyze(image)
    faces = [f for f in analysis.faces if f.landmarks is not None]
    if not faces:
        raise NoFaceError("no face found in the reference" if not analysis.faces else
                          "no face found in the reference (its landmarks could not be fitted)")
    face = max(faces, key=lambda f: f.width * f.height)
    return face_geometry(image, analysis.parsing, face.landmarks)


def _stats(geo: FaceGeometry, region: str, spec: RegionStyle) -> dict[str, Any] | None:
    m, t, (ry, rx) = region_mask(geo, region, spec)
    a = m[ry, rx]
    if a.size == 0 or float(a.sum()) < 4.0:
        return None
    a = core_mask(a)  # the weights the renderer paints a measured style with
    return region_stats(geo.lab[ry, rx], geo.detail[ry, rx], a, None if t is None else t[ry, rx], geo.skin_shine)


def measure_style(geo: FaceGeometry, name: str = "reference", regions: Sequence[str] = MEASURED_REGIONS,
                  description: str = "", sets: Sequence[str] = ("reference",)) -> MakeupStyle:
    """Measure the makeup of one face as a skin-relative style.

    Args:
        geo: the reference face (:func:`largest_geometry` or
            :func:`~engine.studios.makeup.classical.face_geometry`).
        name: the style's name.
        regions: which of :data:`MEASURED_REGIONS` to measure.
        description: its one-line description.
        sets: the style sets it belongs to.

    Returns:
        The style (regions that are empty on this face, e.g. lips hidden, are left out).

    Raises:
        ValueError: an unknown region, or no region could be measured.
    """
    bad = [r for r in regions if r not in MEASURED_REGIONS]
    if bad:
        raise ValueError(f"cannot measure {', '.join(bad)} from a photo; measured: {', '.join(MEASURED_REGIONS)}")
    skin = lab_colour(geo.skin_lab)
    out: dict[str, RegionStyle] = {}
    for region in regions:
        spec = TEMPLATE[region]
        if region == "cheek":
            best: tuple[float, RegionStyle, dict[str, Any]] | None = None
            for lift in CHEEK_LIFTS:
                s = replace(spec, lift=lift)
                st = _stats(geo, region, s)
                if st is None:
                    continue
                # blush reddens: the height where a* rises most above the skin's (shading,
                # which darkens the lower cheek on every face, is only a small penalty)
                d = np.asarray(st["mean"]) - geo.skin_lab
                score = float(d[1] - 0.1 * abs(d[0]))
                if best is None or score > best[0]:
                    best = (score, s, st)
            if best is None:
                continue
            _, spec, stats = best
        else:
            got = _stats(geo, region, spec)
            if got is None:
                continue
            stats = got
        extra: dict[str, Any] = {}
        colors: tuple[tuple[float, float, float], ...]
        if region == "eyeshadow":
            colors = (lab_colour(stats["lid"]), lab_colour(stats["top"]))
        else:
            colors = (lab_colour(stats["mean"]),)
        if region == "lips":
            shine = float(stats["shine"])
            extra["shine"] = min(shine, 50.0)
            extra["finish"] = "gloss" if shine > GLOSS_SHINE else "matte" if shine < MATTE_SHINE else "satin"
        if region == "base":
            extra["texture"] = min(float(stats["texture"]), 50.0)
        if region in SPREAD_REGIONS:
            extra["spread"] = min(float(stats["spread"]), 100.0)
        out[region] = replace(spec, colors=colors, color_mode="rgb", reference_skin=skin, **extra)
    if not out:
        raise ValueError("no makeup region could be measured on the reference face")
    return MakeupStyle(name, out, tuple(sets), description or f"measured from a photo ({', '.join(out)})")


def style_from_photo(image: np.ndarray, analyzer: Any, name: str = "reference",
                     regions: Sequence[str] = MEASURED_REGIONS, description: str = "") -> MakeupStyle:
    """Analyse a reference photo and measure its largest face's makeup (:func:`measure_style`).

    Args:
        image: ``uint8`` RGB reference photo.
        analyzer: a :class:`~engine.faces.FaceAnalyzer` (the editor's, so the same parser runs).
        name: the style's name.
        regions: regions to measure.
        description: one line (default: says it was measured and which regions).

    Returns:
        The measured style.

    Raises:
        NoFaceError: no usable face in the reference.
        ValueError: no region could be measured.
    """
    from engine.imageio import downscale_to

    small, _ = downscale_to(image, REFERENCE_SIDE)  # region means need no more pixels; analysis is faster
    return measure_style(largest_geometry(small, analyzer), name, regions, description)


def merge_styles(name: str, parts: Sequence[tuple[MakeupStyle, Sequence[str]]],
                 description: str = "") -> MakeupStyle:
    """One style from several: each ``(style, regions)`` gives those regions (later parts win).

    Args:
        name: the new style's name.
        parts: ``(style, regions taken from it)`` pairs; regions a style lacks are skipped.
        description: one line (default: which style gave which region).

    Returns:
        The combined style.

    Raises:
        ValueError: no region at all.

    Example:
        >>> a = MakeupStyle("a", {"lips": RegionStyle(), "cheek": RegionStyle()})
        >>> b = MakeupStyle("b", {"lips": RegionStyle(opacity=0.9)})
        >>> m = merge_styles("mix", [(a, ["lips", "cheek"]), (b, ["lips"])])
        >>> sorted(m.regions), m.regions["lips"].opacity
        (['cheek', 'lips'], 0.9)
    """
    regions: dict[str, RegionStyle] = {}
    said: dict[str, str] = {}
    for style, wanted in parts:
        for r in wanted:
            if r in style.regions:
                regions[r] = style.regions[r]
                said[r] = style.name
    if not regions:
        raise ValueError("the combined style has no region")
    text = description or "; ".join(f"{r} from {s}" for r, s in said.items())
    return MakeupStyle(name, regions, ("reference",), text)


def flat_styles(flat: Mapping[str, Any], analyzer: Any, cache: dict[str, MakeupStyle] | None = None,
                base: Mapping[str, MakeupStyle] | None = None) -> dict[str, MakeupStyle]:
    """The style table a normalised flat mapping renders with: ``base`` (default: the style files,
    ``styles_file`` included), the removal style, and every reference photo it names, measured.

    Args:
        flat: normalised flat parameters (:func:`~engine.studios.makeup.params.normalize_flat`).
        analyzer: the :class:`~engine.faces.FaceAnalyzer` that measures the photos.
        cache: photo path → measured style, reused and filled (a batch runner keeps one).
        base: the style table to start from.

    Returns:
        A new table holding :func:`~engine.studios.makeup.params.reference_key` of each photo.

    Raises:
        NoFaceError: a reference photo has no usable face (the message names the photo).
        ImageLoadError: a reference photo cannot be read.
    """
    from engine.imageio import load_image
    from engine.studios.makeup.removal import removal_style

    styles = dict(base) if base is not None else load_styles([flat["styles_file"]] if flat.get("styles_file") else ())
    styles[REMOVAL_STYLE] = removal_style()
    cache = {} if cache is None else cache
    for kind, path in region_sources(flat).values():
        if kind != "reference" or path is None:
            continue
        if path not in cache:
            try:
                photo = load_image(path)
            except ImageLoadError as exc:
                raise ImageLoadError(f"reference photo {exc}") from None
            try:
                cache[path] = style_from_photo(photo, analyzer, _style_name(Path(path).stem))
            except NoFaceError as exc:
                raise NoFaceError(f"{exc} ({path})") from None
        styles[reference_key(path)] = cache[path]
    return styles


def _style_name(text: str) -> str:
    """``text`` as a style name (letters, digits, ``-``, ``_``; others become ``_``).

    Example:
        >>> _style_name("my photo (1)")
        'my_photo__1_'
    """
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text) or "reference"
    return f"{name}_" if name.lower() in ("none", "off", "null") else name
