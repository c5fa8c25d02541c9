"""Full-reference image metrics: SSIM, MS-SSIM, PSNR (torch; numpy at the boundary).

SSIM follows Wang et al. (2004), "Image quality assessment: from error visibility to structural
similarity". Two windows are offered, each equal to scikit-image's
``structural_similarity`` on the same setting (tests check it):

* ``window="gaussian"`` — the paper's 11×11 Gaussian, σ = 1.5, population covariance
  (``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``);
* ``window="uniform"`` — 7×7 box, sample covariance (scikit-image's default; the project's
  opera tests measure with it).

Borders where the window does not fit are left out (scikit-image crops them the same way).
MS-SSIM is Wang, Simoncelli & Bovik (2003), "Multiscale structural similarity for image quality
assessment": contrast-structure terms at every scale, luminance at the coarsest, the paper's
five exponents (renormalised when fewer scales are asked for), 2× average-pool between scales.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Exponents of the five scales of MS-SSIM (Wang et al. 2003, fine to coarse)."""

_K1, _K2 = 0.01, 0.03


def _to_tensor(image: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """``[H, W]``, ``[H, W, C]`` or ``[N, H, W, C]`` array → float64 ``[N, C, H, W]``."""
    t = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.array(image, dtype=np.float64))
    if t.ndim == 2:
        t = t[None, :, :, None]
    elif t.ndim == 3:
        t = t[None]
    if t.ndim != 4:
        raise ValueError(f"{name}: expected [H, W], [H, W, C] or [N, H, W, C], got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty")
    return t.to(torch.float64).permute(0, 3, 1, 2)


def _pair(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _to_tensor(a, "a"), _to_tensor(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)} (as [N, C, H, W])")
    return x, y


def _data_range(a: np.ndarray | torch.Tensor, data_range: float | None) -> float:
    if data_range is not None:
        if not data_range > 0:
            raise ValueError(f"data_range must be > 0, got {data_range}")
        return float(data_range)
    dtype = a.dtype if isinstance(a, torch.Tensor) else np.asarray(a).dtype
    if dtype in (np.uint8, torch.uint8):
        return 255.0
    raise ValueError(f"data_range is required for {dtype} images (255 is assumed only for uint8)")


def _window(kind: str, size: int | None, sigma: float) -> torch.Tensor:
    """1-D normalised window (separable)."""
    if kind == "gaussian":
        radius = int(3.5 * sigma + 0.5) if size is None else (size - 1) // 2  # scipy's truncate=3.5
        x = torch.arange(-radius, radius + 1, dtype=torch.float64)
        w = torch.exp(-0.5 * (x / sigma) ** 2)
    elif kind == "uniform":
        w = torch.ones(7 if size is None else size, dtype=torch.float64)
    else:
        raise ValueError(f"window must be 'gaussian' or 'uniform', got {kind!r}")
    return w / w.sum()


def _filter(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    k = w.numel()
    x = F.conv2d(x, w.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, w.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, data_range: float,
               sample_cov: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(SSIM map, contrast-structure map), each ``[N, C, h, w]`` over the valid window positions."""
    k = w.numel()
    if min(x.shape[-2:]) < k:
        raise ValueError(f"images of {tuple(x.shape[-2:])} pixels are smaller than the {k}×{k} SSIM window")
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mx, my = _filter(x, w), _filter(y, w)
    vx = _filter(x * x, w) - mx * mx
    vy = _filter(y * y, w) - my * my
    cxy = _filter(x * y, w) - mx * my
    if sample_cov:
        n = k * k
        norm = n / (n - 1)
        vx, vy, cxy = vx * norm, vy * norm, cxy * norm
    cs = (2 * cxy + c2) / (vx + vy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return lum * cs, cs


def ssim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float | None = None,
         window: str = "gaussian", win_size: int | None = None, sigma: float = 1.5) -> float:
    """Mean structural similarity of two images (or two equal batches).

    Args:
        a: ``[H, W]``, ``[H, W, C]`` or ``[N, H, W, C]`` image(s).
        b: same shape as ``a``.
        data_range: value range (255 assumed for ``uint8``; required for float images).
        window: ``"gaussian"`` (Wang et al.'s 11×11, σ = 1.5, population covariance) or
            ``"uniform"`` (7×7 box, sample covariance: scikit-image's default).
        win_size: odd window side, overriding the default of ``window``.
        sigma: σ of the Gaussian window in pixels.

    Returns:
        The mean SSIM over valid window positions, channels and images (1 for equal images).

    Raises:
        ValueError: shape mismatch, images smaller than the window, bad ``window``/``data_range``.
    """
    if win_size is not None and (win_size < 3 or win_size % 2 == 0):
        raise ValueError(f"win_size must be odd and ≥ 3, got {win_size}")
    x, y = _pair(a, b)
    s, _ = _ssim_maps(x, y, _window(window, win_size, sigma), _data_range(a, data_range), window == "uniform")
    return float(s.mean())


def ms_ssim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float | None = None,
            weights: Sequence[float] = MS_SSIM_WEIGHTS) -> float:
    """Multi-scale SSIM (Gaussian 11×11 window, σ = 1.5, at ``len(weights)`` scales).

    Args:
        a: ``[H, W]``, ``[H, W, C]`` or ``[N, H, W, C]`` image(s).
        b: same shape as ``a``.
        data_range: value range (255 assumed for ``uint8``).
        weights: exponent of each scale, fine to coarse; renormalised to sum to 1. The image's
            short side must be at least ``11 · 2^(len(weights) − 1)`` (176 px for five scales);
            pass fewer weights (e.g. ``MS_SSIM_WEIGHTS[:3]``) for smaller images.

    Returns:
        ``Π_j cs_j^{w_j} · l_M^{w_M}`` averaged over images (per-image product, then mean);
        negative contrast-structure terms are clamped at 0 (as in common implementations).

    Raises:
        ValueError: images too small for the number of scales, shape mismatch, empty weights.
    """
    if not weights:
        raise ValueError("weights must not be empty")
    wts = torch.tensor([float(v) for v in weights], dtype=torch.float64)
    wts = wts / wts.sum()
    x, y = _pair(a, b)
    dr = _data_range(a, data_range)
    need = 11 * 2 ** (len(wts) - 1)
    if min(x.shape[-2:]) < need:
        raise ValueError(f"MS-SSIM with {len(wts)} scales needs a short side ≥ {need} px, got "
                         f"{min(x.shape[-2:])}; pass fewer weights")
    win = _window("gaussian", None, 1.5)
    terms = []
    for j in range(len(wts)):
        s, cs = _ssim_maps(x, y, win, dr, False)
        last = j == len(wts) - 1
        v = (s if last else cs).mean(dim=(1, 2, 3)).clamp(min=0)  # [N]
        terms.append(v ** wts[j])
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return float(torch.stack(terms).prod(0).mean())


def psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB over all pixels (``inf`` for equal images).

    Args:
        a: image(s) of any shape.
        b: same shape as ``a``.
        data_range: peak value (255 assumed for ``uint8``).

    Returns:
        ``10 · log10(data_range² / MSE)``.
    """
    x, y = _pair(a, b)
    mse = float(((x - y) ** 2).mean())
    dr = _data_range(a, data_range)
    return math.inf if mse == 0 else 10.0 * math.log10(dr * dr / mse)
