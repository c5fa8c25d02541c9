"""Parameters of the Opera studio's engines: frozen dataclasses, validated, GUI-free.

* :class:`XDoGParams` — line art from a picture (:func:`engine.studios.opera.classical.xdog`).
* :class:`ColorizeParams` — colouring a sketch from a reference lianpu
  (:func:`engine.studios.opera.classical.colorize` and the learned CoCosNet, which uses the same
  closed regions for the fill tool).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from engine.studios.ranges import Range, check_ranges

if TYPE_CHECKING:  # matching imports scipy (~0.7 s): every batch command builds its parser from these params
    from engine.studios.opera.matching import Pin

XDOG_RANGES: dict[str, Range] = {
    "sigma": Range(0.0, 20.0, lo_open=True, unit="px"),
    "k": Range(1.0, 10.0, lo_open=True),
    "gamma": Range(0.0, 1.2, lo_open=True),
    "epsilon": Range(-1.0, 1.0),
    "phi": Range(0.0, 10_000.0, lo_open=True),
    "threshold": Range(0.0, 1.0),
}
"""Valid range of each :class:`XDoGParams` field (``lineart``, ``batch lineart``, the line-art tab).
σ·k (the outer Gaussian) stays ≤ 200 px, so a blur never takes more than seconds."""

COLORIZE_RANGES: dict[str, Range] = {
    "line_level": Range(1, 254, integer=True),
    "gap": Range(0, 32, integer=True, unit="px"),
    "quant_bits": Range(3, 6, integer=True),
    "min_face_fraction": Range(0.0, 1.0),
    "reference_strength": Range(0.0, 1.0),
}
"""Valid range of each :class:`ColorizeParams` field (``opera colorize --gap``, ``batch colorize``)."""

EXTRACTORS: tuple[str, ...] = ("xdog", "hed")
"""Line extractors: XDoG (classical, its parameters apply) and HED (the learned edge detector of
:mod:`engine.studios.opera.hed`, thinned; the XDoG parameters do not apply)."""

RANGES: dict[str, Range] = {**XDOG_RANGES, **COLORIZE_RANGES}
"""Every numeric parameter of the Opera studio's engines → its valid range (one source of truth for
the CLI, batch grids and the GUI's spin boxes)."""


@dataclass(frozen=True)
class XDoGParams:
    """Parameters of :func:`~engine.studios.opera.classical.xdog` (full-resolution pixels /
    unit-range luminance).

    Ranges are in :data:`XDOG_RANGES`.

    Args:
        sigma: σ, standard deviation of the inner Gaussian in pixels, (0, 20]. Larger = thicker,
            fewer lines.
        k: ratio of the outer to the inner Gaussian, (1, 10]; 1.6 approximates a Laplacian of
            Gaussian.
        gamma: γ (the τ of Winnemöller 2011) weight of the outer Gaussian, in (0, 1.2]. Closer to 1
            = fewer responses on smooth shading.
        epsilon: ε, level of D above which a pixel is white paper, [-1, 1]; raise it for
            more/darker lines.
        phi: φ, steepness of the soft threshold, (0, 10000]; large values give crisp black/white.
        threshold: if set ([0, 1]), binarise the result at this level: pure line art, 0 or 255.
        extractor: ``"xdog"`` (these parameters) or ``"hed"`` (the learned HED edge detector,
            thinned to one-pixel lines; always pure black/white) — :data:`EXTRACTORS`.
    """

    sigma: float = 0.8
    k: float = 1.6
    gamma: float = 0.98
    epsilon: float = -0.005
    phi: float = 200.0
    threshold: float | None = None
    extractor: str = "xdog"

    def validate(self) -> XDoGParams:
        """Check every parameter's range.

        Returns:
            ``self``, so calls chain.

        Raises:
            ValueError: a parameter is out of range (the message names it).
        """
        check_ranges(XDOG_RANGES, {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extractor"},
                     optional=("threshold",))
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"extractor must be one of {', '.join(EXTRACTORS)}, got {self.extractor!r}")
        return self

    def scaled(self, scale: float) -> XDoGParams:
        """The same look on an image resized by ``scale``.

        Args:
            scale: size of the image worked on relative to the full-resolution one.

        Returns:
            A copy whose σ (in pixels) follows the size (at least 0.3 px).
        """
        return replace(self, sigma=max(0.3, self.sigma * scale))

    def to_dict(self) -> dict[str, Any]:
        """Returns: the parameters as a plain dict (for manifests and settings)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> XDoGParams:
        """Build from a mapping, rejecting unknown keys (typos in batch grids fail loudly).

        Args:
            d: parameter name → number (or ``None`` for ``threshold``; a name for ``extractor``).

        Returns:
            Validated :class:`XDoGParams`.

        Raises:
            ValueError: unknown key or out-of-range value.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown XDoG parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
        values: dict[str, Any] = {}
        for k, v in d.items():
            if k == "extractor":
                values[k] = "xdog" if v is None else str(v)
                continue
            if v is None:
                values[k] = None
                continue
            try:
                values[k] = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{k} must be a number {XDOG_RANGES[k].requirement()}, got {v!r}") from None
        return cls(**values).validate()


@dataclass(frozen=True)
class ColorizeParams:
    """Parameters of :func:`~engine.studios.opera.classical.colorize`.

    Ranges are in :data:`COLORIZE_RANGES`.

    Args:
        line_level: line-art grey level below which a pixel is a line (1–254).
        gap: radius in pixels of the stroke gaps that are closed before finding regions; ``None``
            = about 1/256 of the short side (2 px at 512²). 0 disables gap closing.
        quant_bits: bits per channel of the colour histogram that picks each region's colour
            (3–6); fewer bits = more tolerant of shading.
        min_face_fraction: the sketch face must cover at least this share of the image,
            otherwise the whole image is treated as the face.
        reference_strength: 1 = every region takes the reference's paint; 0 = the sketch's own
            fills (an RGB sketch; white paper for a grey one); in between, a blend (0–1).
        pins: click-to-match pairs (:class:`~engine.studios.opera.matching.Pin`, fractions of each
            image), honoured before the automatic match; resolution-free, so previews keep them.
        shading: add the reference's shading of each region's own paint (gradients, highlights);
            ``False`` = flat paint.
        extractor: the line extractor that drew the sketch (one of :data:`EXTRACTORS`); the
            reference's strokes are found with the same one, so the alignment compares like with
            like and the reference's paint is read between the same kind of strokes (XDoG marks
            thick painted strokes as ink, HED only their edges); the sketch's regions are found
            for its kind of line too (HED's one-pixel edges, broken at junctions, by trapped balls:
            :func:`~engine.studios.opera.classical.sketch_regions`).
    """

    line_level: int = 128
    gap: int | None = None
    quant_bits: int = 4
    min_face_fraction: float = 0.02
    reference_strength: float = 1.0
    pins: tuple[Pin, ...] = ()
    shading: bool = True
    extractor: str = "xdog"

    def validate(self) -> ColorizeParams:
        """Check every parameter's range.

        Returns:
            ``self``, so calls chain.

        Raises:
            ValueError: a parameter is out of range (the message names it).
        """
        check_ranges(COLORIZE_RANGES, {f.name: getattr(self, f.name) for f in fields(self)
                                      if f.name not in ("pins", "shading", "extractor")},
                     optional=("gap",))
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"extractor must be one of {', '.join(EXTRACTORS)}, got {self.extractor!r}")
        from engine.studios.opera.matching import Pin

        for pin in self.pins:
            if not isinstance(pin, Pin):
                raise ValueError(f"pins must be Pin pairs, got {type(pin).__name__}")
            pin.validate()
        return self

    def scaled(self, scale: float) -> ColorizeParams:
        """The same gap closing on an image resized by ``scale`` (an explicit ``gap`` follows the
        size; ``None`` is already relative to the image).

        Args:
            scale: size of the image worked on relative to the full-resolution one.

        Returns:
            A copy with ``gap`` scaled and rounded (``self`` when ``gap`` is ``None``).
        """
        if self.gap is None:
            return self
        return replace(self, gap=max(0, round(self.gap * scale)))
