"""Plane geometry shared by the studios and the training code: one thin-plate spline, letterboxing.

numpy in, numpy out (no torch here: the classical studios import this module).

* :func:`fit_tps` — the thin-plate spline (Bookstein 1989, "Principal warps"): the smoothest map
  ``f: R² → R^C`` through given values at control points, ``f(p) = a₀ + a₁ x + a₂ y +
  Σ_k w_k U(|p − p_k|)`` with ``U(r) = r² log r²`` (:func:`tps_kernel`) and the side conditions
  ``Σ w_k = 0``, ``Σ w_k p_k = 0``. Coordinates are centred on the control points' mean and divided
  by their largest absolute offset before fitting, so the smoothing weight ``regularisation`` (added
  to the kernel's diagonal) means the same for a 20-pixel part and a 2000-pixel face, and the linear
  system stays well conditioned. Without smoothing the fitted spline interpolates exactly and does
  not depend on that normalisation (nor on the kernel's constant factor: ``r² log r`` gives the same
  map). The system is solved by least squares, so duplicate or collinear control points give the
  minimum-norm solution instead of an error.
* :func:`letterbox` — an image centred on a square canvas of a fill colour (aspect kept), then
  optionally resized.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike


def tps_kernel(r2: np.ndarray) -> np.ndarray:
    """Thin-plate radial basis ``U = r² log r²`` of squared distances, with ``U(0) = 0``.

    Args:
        r2: squared distances (any shape, ``≥ 0``).

    Returns:
        ``float64`` array of the same shape.

    Example:
        >>> tps_kernel(np.array([0.0, 1.0, np.e])).round(4).tolist()
        [0.0, 0.0, 2.7183]
    """
    r2 = np.asarray(r2, np.float64)
    return r2 * np.log(r2, out=np.zeros_like(r2), where=r2 > 0)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[M, K]`` squared distances between ``a`` ``[M, 2]`` and ``b`` ``[K, 2]`` (no ``[M, K, 2]`` temporary)."""
    return (a[:, 0, None] - b[None, :, 0]) ** 2 + (a[:, 1, None] - b[None, :, 1]) ** 2


@dataclass(frozen=True)
class ThinPlateSpline:
    """A fitted thin-plate spline; call it on points. Made by :func:`fit_tps`.

    Attributes:
        centre: ``[2]`` mean of the control points (the normalised frame's origin).
        scale: largest absolute offset of a control point from ``centre`` (the frame's unit).
        points: ``[K, 2]`` control points in the normalised frame.
        coefficients: ``[K + 3, C]``: the kernel weights ``w_k``, then the affine part
            ``a₀, a₁, a₂`` (constant, x, y in the normalised frame).
    """

    centre: np.ndarray
    scale: float
    points: np.ndarray
    coefficients: np.ndarray

    def __call__(self, pts: ArrayLike) -> np.ndarray:
        """Evaluate the spline.

        Args:
            pts: ``[M, 2]`` ``(x, y)`` points in the caller's frame.

        Returns:
            ``float64`` ``[M, C]`` values.

        Raises:
            ValueError: ``pts`` is not ``[M, 2]``.
        """
        q = np.asarray(pts, np.float64)
        if q.ndim != 2 or q.shape[1] != 2:
            raise ValueError(f"points must be [M, 2], got shape {q.shape}")
        q = (q - self.centre) / self.scale
        k = len(self.points)
        u = tps_kernel(_squared_distances(q, self.points))
        return u @ self.coefficients[:k] + np.hstack([np.ones((len(q), 1)), q]) @ self.coefficients[k:]


def fit_tps(src: ArrayLike, values: ArrayLike, regularisation: float = 0.0) -> ThinPlateSpline:
    """Fit a thin-plate spline ``f`` with ``f(src[k]) ≈ values[k]``.

    Args:
        src: ``[K, 2]`` ``(x, y)`` control points (``K ≥ 1``; three or more not all collinear
            determine the affine part, fewer give the minimum-norm least-squares fit).
        values: ``[K, C]`` values at the control points (``C = 2`` for a warp's target points or
            displacements).
        regularisation: smoothing ``λ ≥ 0`` added to the kernel's diagonal, in the normalised frame
            (see the module docstring); ``0`` interpolates exactly, large values tend to the
            least-squares affine map.

    Returns:
        The spline: ``f(points [M, 2]) -> [M, C]``.

    Raises:
        ValueError: shapes do not match, no control points, non-finite input or negative
            ``regularisation``.

    Example:
        >>> src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [5.0, 4.0]])
        >>> f = fit_tps(src, src * 2 + 3)  # an affine map is reproduced exactly
        >>> np.allclose(f(np.array([[2.0, 7.0]])), [[7.0, 17.0]])
        True
    """
    p0 = np.asarray(src, np.float64)
    v = np.asarray(values, np.float64)
    if p0.ndim != 2 or p0.shape[1] != 2 or len(p0) == 0:
        raise ValueError(f"control points must be [K, 2] with K ≥ 1, got shape {p0.shape}")
    if v.ndim != 2 or len(v) != len(p0):
        raise ValueError(f"values must be [{len(p0)}, C] for {len(p0)} control points, got shape {v.shape}")
    if not (np.isfinite(p0).all() and np.isfinite(v).all()):
        raise ValueError("control points and values must be finite")
    if not regularisation >= 0:
        raise ValueError(f"regularisation must be ≥ 0, got {regularisation}")
    c = p0.mean(0)
    s = max(1e-6, float(np.abs(p0 - c).max()))
    p = (p0 - c) / s
    k = len(p)
    kmat = tps_kernel(_squared_distances(p, p)) + regularisation * np.eye(k)
    pm = np.hstack([np.ones((k, 1)), p])
    a = np.zeros((k + 3, k + 3))
    a[:k, :k], a[:k, k:], a[k:, :k] = kmat, pm, pm.T
    rhs = np.zeros((k + 3, v.shape[1]))
    rhs[:k] = v
    sol = np.linalg.lstsq(a, rhs, rcond=None)[0]
    return ThinPlateSpline(centre=c, scale=s, points=p, coefficients=sol)


def letterbox(image: np.ndarray, size: int | None = None, fill: int = 255) -> np.ndarray:
    """Centre an image on a square canvas of ``fill`` (aspect kept), then optionally resize it.

    The canvas side is the image's longer side; the image sits at offset
    ``((side − H) // 2, (side − W) // 2)``. With ``size`` the square is resized to ``size × size``
    (area averaging when it shrinks, bilinear when it grows).

    Args:
        image: ``[H, W]`` or ``[H, W, C]`` array (``H, W ≥ 1``), any dtype OpenCV resizes.
        size: output side, or ``None`` for the canvas as is.
        fill: value of the canvas outside the image (every channel).

    Returns:
        ``[S, S]`` or ``[S, S, C]`` array of ``image``'s dtype (``S`` = ``size`` or the longer side).

    Raises:
        ValueError: not a 2-D or 3-D image with pixels, or ``size < 1``.

    Example:
        >>> letterbox(np.zeros((2, 4), np.uint8)).tolist()
        [[255, 255, 255, 255], [0, 0, 0, 0], [0, 0, 0, 0], [255, 255, 255, 255]]
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected an [H, W] or [H, W, C] image with pixels, got shape {arr.shape}")
    if size is not None and size < 1:
        raise ValueError(f"size must be ≥ 1, got {size}")
    h, w = arr.shape[:2]
    s = max(h, w)
    canvas = np.full((s, s) + arr.shape[2:], fill, arr.dtype)
    y0, x0 = (s - h) // 2, (s - w) // 2
    canvas[y0:y0 + h, x0:x0 + w] = arr
    if size is None:
        return canvas
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR)
