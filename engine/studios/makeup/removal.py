"""Makeup removal: a "bare" direction estimated relative to the face's own skin.

What a region looks like without makeup is not known for one photo, but how a bare region sits
against the same face's skin is regular: lips are darker and redder than the skin, the lash line
and lid crease darker, cheeks close to the skin. :data:`BARE_OFFSETS` holds those CIELAB offsets
(region mean − skin median, measured with :func:`engine.studios.makeup.reference.measure_style` on the
same masks the renderer paints), the mean over the 8 MT photos without makeup in the development
data (``bench.makeup_reference`` re-measures them and reports the spread). :func:`removal_style` is a
measured style whose colours are the face's own skin plus these offsets, so removing at intensity
``k`` moves each region ``k`` of the way from its present colour to the bare estimate and keeps
the texture; lip gloss is brought to the bare highlight level :data:`BARE_SHINE`, and lips or lids
with more contrast than bare ones (:data:`BARE_SPREAD`) are flattened towards it.
:func:`makeup_present` says how far each region of a face is from bare (ΔE), i.e. how much makeup
it estimates.

Foundation is not removed: a made-up base is the only skin the photo shows, so it is its own
reference; the base stays as it is.
"""

from __future__ import annotations

import numpy as np

from engine.studios.makeup.classical import FaceGeometry, colour_lab, lab_colour
from engine.studios.makeup.params import REMOVAL_STYLE, MakeupStyle
from engine.studios.makeup.reference import TEMPLATE, measure_style

__all__ = ["BARE_OFFSETS", "BARE_SHINE", "BARE_SPREAD", "REMOVAL_STYLE", "REMOVED_REGIONS", "bare_distance", "makeup_present",
           "removal_style"]

REMOVED_REGIONS: tuple[str, ...] = ("cheek", "eyeshadow", "eyeliner", "lips")
"""Regions removal acts on."""

BARE_OFFSETS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "lips": ((-17.73, 19.43, -2.35),),                            # sd 3.4, 3.7, 3.2
    "eyeshadow": ((-36.01, 1.26, -2.85), (-3.65, 2.74, 2.37)),   # sd 9.7, 2.0, 2.7 / 7.8, 2.4, 1.0
    "eyeliner": ((-51.90, -1.24, -7.11),),                        # sd 5.5, 2.1, 2.5
    "cheek": ((-6.01, 3.20, 0.74),),                              # sd 5.9, 2.5, 2.2
}
"""Bare region colour − skin colour (CIELAB L, a, b), mean of the 8 MT no-makeup photos (eyeshadow:
its lash-line → brow profile at a quarter and three quarters of the way up; cheek: at the height
where each face is reddest)."""

BARE_SHINE = 1.63
"""Bare lips' highlight level relative to the skin's (mean of the same photos; sd 0.51)."""

BARE_SPREAD: dict[str, float] = {"lips": 13.46, "eyeshadow": 12.69}
"""Bare lips' and lids' L contrast (std around their mean / profile; same photos, sd 3.4 and 2.8):
a region with more (a heavy smoky lid) is flattened towards it."""

NOMINAL_SKIN_LAB: tuple[float, float, float] = (78.0, 10.0, 13.0)
"""Any skin colour: the removal style's colours are stored relative to it (only the offsets matter)."""


def removal_style(name: str = REMOVAL_STYLE) -> MakeupStyle:
    """The removal direction as a measured (skin-relative) style.

    Args:
        name: its name in the style table.

    Returns:
        A style defining :data:`REMOVED_REGIONS` whose targets are each face's skin + :data:`BARE_OFFSETS`.

    Example:
        >>> st = removal_style()
        >>> sorted(st.regions), st.regions["lips"].relative
        (['cheek', 'eyeliner', 'eyeshadow', 'lips'], True)
    """
    from dataclasses import replace

    skin = np.array(NOMINAL_SKIN_LAB, np.float32)
    ref = lab_colour(skin)
    regions = {}
    for r in REMOVED_REGIONS:
        colors = tuple(lab_colour(skin + np.array(o, np.float32)) for o in BARE_OFFSETS[r])
        regions[r] = replace(TEMPLATE[r], colors=colors, color_mode="rgb", reference_skin=ref,
                             shine=BARE_SHINE if r == "lips" else None, spread=BARE_SPREAD.get(r))
    return MakeupStyle(name, regions, ("removal",), "makeup removal: regions back to the bare look, relative to the skin")


def bare_distance(style: MakeupStyle, region: str) -> float:
    """ΔE (CIE76) between a measured style's ``region`` (relative to its skin) and the bare offsets.

    Args:
        style: a measured style (:func:`~engine.studios.makeup.reference.measure_style`).
        region: one of :data:`REMOVED_REGIONS` that ``style`` defines.

    Returns:
        The mean ΔE over the region's colours (one, or lid and top for eyeshadow).

    Raises:
        ValueError: the region is not measured or not relative.
    """
    spec = style.regions.get(region)
    if spec is None or spec.reference_skin is None or region not in BARE_OFFSETS:
        raise ValueError(f"style {style.name!r} has no measured {region}")
    skin = colour_lab(spec.reference_skin)
    d = [float(np.linalg.norm(colour_lab(c) - skin - np.array(o, np.float32)))
         for c, o in zip(spec.colors, BARE_OFFSETS[region], strict=True)]
    return float(np.mean(d))


def makeup_present(geo: FaceGeometry) -> dict[str, float]:
    """How much makeup each removable region of a face shows: ΔE from the bare estimate.

    Args:
        geo: the face (:func:`~engine.studios.makeup.classical.face_geometry`).

    Returns:
        region → ΔE (0 = looks bare; bare MT faces give about 3–8, made-up lips 15–30).
    """
    st = measure_style(geo, "present", REMOVED_REGIONS)
    return {r: round(bare_distance(st, r), 2) for r in REMOVED_REGIONS if r in st.regions}
