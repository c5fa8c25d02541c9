"""Parameters of the Opera studio's engines: frozen dataclasses, validated, GUI-free.

* :class:`XDoGParams` — line art from a picture (:func:`engine.studios.opera.classical.xdog`).
* :class:`ColorizeParams` — colouring a sketch from a reference lianpu
  (:func:`engine.studios.opera.classical.colorize` and the learned CoCosNet, which uses the same
  closed regions for the fill tool).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class XDoGParams:
    """Parameters of :func:`~engine.studios.opera.classical.xdog` (full-resolution pixels /
    unit-range luminance).

    Args:
        sigma: σ, standard deviation of the inner Gaussian in pixels (> 0). Larger = thicker,
            fewer lines.
        k: ratio of the outer to the inner Gaussian (> 1); 1.6 approximates a Laplacian of Gaussian.
        gamma: γ (the τ of Winnemöller 2011) weight of the outer Gaussian, in (0, 1.2]. Closer to 1
            = fewer responses on smooth shading.
        epsilon: ε, level of D above which a pixel is white paper; raise it for more/darker lines.
        phi: φ, steepness of the soft threshold (> 0); large values give crisp black/white.
        threshold: if set (0–1), binarise the result at this level: pure line art, 0 or 255.
    """

    sigma: float = 0.8
    k: float = 1.6
    gamma: float = 0.98
    epsilon: float = -0.005
    phi: float = 200.0
    threshold: float | None = None

    def validate(self) -> XDoGParams:
        """Check every parameter's range.

        Returns:
            ``self``, so calls chain.

        Raises:
            ValueError: a parameter is out of range (the message names it).
        """
        if not (self.sigma > 0 and np.isfinite(self.sigma)):
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if not (self.k > 1 and np.isfinite(self.k)):
            raise ValueError(f"k must be > 1, got {self.k}")
        if not (0 < self.gamma <= 1.2):
            raise ValueError(f"gamma must be in (0, 1.2], got {self.gamma}")
        if not (self.phi > 0 and np.isfinite(self.phi)):
            raise ValueError(f"phi must be > 0, got {self.phi}")
        if not np.isfinite(self.epsilon):
            raise ValueError(f"epsilon must be finite, got {self.epsilon}")
        if self.threshold is not None and not (0.0 <= self.threshold <= 1.0):
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
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
            d: parameter name → number (or ``None`` for ``threshold``).

        Returns:
            Validated :class:`XDoGParams`.

        Raises:
            ValueError: unknown key or out-of-range value.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown XDoG parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
        values: dict[str, Any] = {k: (None if v is None else float(v)) for k, v in d.items()}
        return cls(**values).validate()


@dataclass(frozen=True)
class ColorizeParams:
    """Parameters of :func:`~engine.studios.opera.classical.colorize`.

    Args:
        line_level: line-art grey level below which a pixel is a line (0–255).
        gap: radius in pixels of the stroke gaps that are closed before finding regions; ``None``
            = about 1/256 of the short side (2 px at 512²). 0 disables gap closing.
        quant_bits: bits per channel of the colour histogram that picks each region's colour
            (3–6); fewer bits = more tolerant of shading.
        min_face_fraction: the sketch face must cover at least this share of the image,
            otherwise the whole image is treated as the face.
    """

    line_level: int = 128
    gap: int | None = None
    quant_bits: int = 4
    min_face_fraction: float = 0.02

    def validate(self) -> ColorizeParams:
        """Check every parameter's range.

        Returns:
            ``self``, so calls chain.

        Raises:
            ValueError: a parameter is out of range (the message names it).
        """
        if not 1 <= int(self.line_level) <= 254:
            raise ValueError(f"line_level must be in [1, 254], got {self.line_level}")
        if self.gap is not None and not 0 <= int(self.gap) <= 32:
            raise ValueError(f"gap must be in [0, 32] pixels, got {self.gap}")
        if not 3 <= int(self.quant_bits) <= 6:
            raise ValueError(f"quant_bits must be in [3, 6], got {self.quant_bits}")
        if not 0.0 <= self.min_face_fraction < 1.0:
            raise ValueError(f"min_face_fraction must be in [0, 1), got {self.min_face_fraction}")
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
