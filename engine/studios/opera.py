"""Opera studio engine: line art by XDoG (this module), later colouring and generation.

XDoG is the extended difference of Gaussians of Winnemöller et al. (2012), "XDoG: An eXtended
difference-of-Gaussians compendium including advanced image stylization"; the opera paper builds
its line drawings with it::

    D(x) = G_σ(I)(x) − γ · G_{kσ}(I)(x)                    (γ is the τ of the 2011 paper)
    E(x) = 1                          if D(x) ≥ ε
           1 + tanh(φ · (D(x) − ε))   otherwise

with ``I`` the luminance in [0, 1]. ``E`` is white paper (1) with dark lines; a ``threshold``
turns it into pure black/white line art.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping, Optional

import cv2
import numpy as np

from engine.cancel import CancelToken
from engine.studios.base import EditResult, Editor


@dataclass(frozen=True)
class XDoGParams:
    """Parameters of :func:`xdog` (all in full-resolution pixels / unit-range luminance).

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
    threshold: Optional[float] = None

    def validate(self) -> "XDoGParams":
        """Raise ``ValueError`` with a clear message if a parameter is out of range."""
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

    def scaled(self, scale: float) -> "XDoGParams":
        """The same look on an image resized by ``scale`` (σ in pixels follows the size)."""
        return replace(self, sigma=max(0.3, self.sigma * scale))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "XDoGParams":
        """Build from a mapping, rejecting unknown keys (typos in batch grids fail loudly)."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown XDoG parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
        return cls(**{k: (None if v is None else float(v)) for k, v in d.items()}).validate()


def _luminance01(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"xdog expects a uint8 image, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim == 3 and arr.shape[2] == 3:
        grey = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)
    elif arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        grey = arr.reshape(arr.shape[0], arr.shape[1])
    else:
        raise ValueError(f"xdog expects [H, W] or [H, W, 3] input, got shape {arr.shape}")
    if grey.size == 0:
        raise ValueError("xdog got an empty image")
    return grey.astype(np.float32) * np.float32(1.0 / 255.0)


def xdog(image: np.ndarray, params: XDoGParams = XDoGParams()) -> np.ndarray:
    """Extended difference-of-Gaussians line art.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA (alpha ignored) or grey ``[H, W]``, any size.
        params: see :class:`XDoGParams`.

    Returns:
        ``uint8`` grey ``[H, W]``: 255 = paper, darker = lines.

    Raises:
        ValueError: wrong dtype/shape or parameters out of range.

    Example:
        >>> img = np.full((32, 32, 3), 255, np.uint8); img[:, 16:] = 0
        >>> out = xdog(img)
        >>> out.shape, out.dtype, int(out[:, :8].min()), int(out[:, 14:18].min()) < 128
        ((32, 32), dtype('uint8'), 255, True)
    """
    p = params.validate()
    lum = _luminance01(image)
    g1 = cv2.GaussianBlur(lum, (0, 0), sigmaX=p.sigma, borderType=cv2.BORDER_REFLECT)
    g2 = cv2.GaussianBlur(lum, (0, 0), sigmaX=p.sigma * p.k, borderType=cv2.BORDER_REFLECT)
    d = g1 - np.float32(p.gamma) * g2  # [HW]
    d -= np.float32(p.epsilon)
    np.minimum(d, 0, out=d)  # D ≥ ε → 0 → tanh(0) = 0 → E = 1
    d *= np.float32(p.phi)
    e = np.tanh(d, out=d)
    e += np.float32(1.0)
    if p.threshold is not None:
        return np.where(e >= np.float32(p.threshold), np.uint8(255), np.uint8(0))
    e *= np.float32(255.0)
    np.clip(e, 0, 255, out=e)
    return (e + np.float32(0.5)).astype(np.uint8)


class LineArtEditor(Editor[XDoGParams]):
    """Line art from a picture (opera masks, photos) by XDoG; classical, any CPU.

    Example:
        >>> ed = LineArtEditor()
        >>> ed.set_image(np.zeros((64, 64, 3), np.uint8))
        >>> ed.edit(XDoGParams()).image.shape
        (64, 64)
    """

    backends = ("classical",)
    preview_sides = (384,)

    def _run(self, image: np.ndarray, params: XDoGParams, scale: float,
             cancel: Optional[CancelToken]) -> EditResult:
        line = xdog(image, params.scaled(scale))
        return EditResult(image=line, masks={"lines": line < 128},
                          info={"backend": "classical", "device": "cpu", "method": "xdog"})

