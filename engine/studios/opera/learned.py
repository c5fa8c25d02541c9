"""The Opera studio's learned colouring: the trained CoCosNet-style network.

:data:`COCOSNET` is its :class:`~engine.studios.base.LearnedBackend`: ``auto`` uses the network
only when its card's verdict says it measured better than the classical region correspondence on
the same held-out pairs; a checkpoint whose card records no training steps is never used; a
missing, corrupt or refused checkpoint makes ``auto`` fall back to classical with the reason and an
explicit ``"neural"`` request fail with one line. :func:`resolve_colorize_backend` is the
``(backend, reason)`` view of :meth:`COCOSNET.resolve <engine.studios.base.LearnedBackend.resolve>`.

:func:`colorize_neural` runs the network at its trained side (the card's ``input_size``) on the
sketch resized to a square, on the device the network lives on, resizes the result back and
darkens it by the original line art, so the strokes stay as crisp as the classical engine's. The
warped exemplar ``r_{y→x}`` is returned at the image size too.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from engine.studios.base import LearnedBackend
from engine.studios.opera.classical import LINE_INK, as_rgb, line_grey
from engine.weights.card import ModelCard

MODEL_NAME = "cocosnet"
"""Registry name in the card of the learned colouring network (file ``checkpoints/cocosnet_g``)."""


def _ssim_detail(card: ModelCard) -> str:
    """The card's measured comparison in words (``KeyError`` when it records none)."""
    m = card.metrics
    return f"held-out self-colouring SSIM {m['ssim_neural']:.3f} vs classical {m['ssim_classical']:.3f}"


COCOSNET = LearnedBackend(
    MODEL_NAME,
    title="the learned CoCosNet-style network",
    classical="classical region correspondence",
    train_hint="masquerade train cocosnet",
    require_steps=True,
    describe=_ssim_detail,
)
"""The trained colouring network: card look-up, decision, loading on the device, cache."""


def resolve_colorize_backend(requested: str) -> tuple[str, str]:
    """The colouring backend that runs for ``requested`` and a human reason (reads the card only).

    Args:
        requested: ``"classical"``, ``"neural"`` or ``"auto"``.

    Returns:
        ``("classical" | "neural", reason)``.

    Raises:
        ValueError: unknown name.
        LearnedBackendError: ``"neural"`` without a usable trained checkpoint (a ``ValueError``).
    """
    resolution = COCOSNET.resolve(requested)
    return resolution.backend, resolution.reason


def model_side(card: ModelCard) -> int:
    """The square side the network was trained at.

    Args:
        card: the network's checkpoint card.

    Returns:
        ``card.input_size[0]`` (64 when the card records none).
    """
    size = card.input_size or (64, 64)
    return int(size[0])


def colorize_neural(line_art: np.ndarray, reference: np.ndarray, model: Any, side: int,
                    keep_lines: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Colour a sketch from an exemplar with a CoCosNet, on the device its weights are on.

    Args:
        line_art: ``uint8`` grey ``[H, W]`` (or RGB/RGBA) sketch, dark lines on light paper.
        reference: ``uint8`` RGB or RGBA exemplar (any size; resized to ``side``², alpha on white).
        model: a :class:`~engine.models.cocosnet.CoCosNet` (eval mode).
        side: network side (multiple of ``8 · corr_down``).
        keep_lines: multiply the result by the line art at full resolution (crisp strokes).

    Returns:
        ``(image, warped)``: ``uint8`` RGB ``[H, W, 3]`` coloured sketch and warped exemplar.

    Raises:
        ValueError: empty or malformed images.
    """
    import torch

    from engine.device import module_device

    grey = line_grey(line_art)
    if grey.size == 0:
        raise ValueError("line_art is empty")
    h, w = grey.shape
    ref = as_rgb(reference, "reference")
    s = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
    r = cv2.resize(ref, (side, side), interpolation=cv2.INTER_AREA)
    dev = module_device(model)
    x = torch.from_numpy(s).to(dev).float().div(127.5).sub(1.0)[None, None]  # [1, 1, S, S]
    y = torch.from_numpy(r).to(dev).float().div(127.5).sub(1.0).permute(2, 0, 1)[None]  # [1, 3, S, S]
    with torch.inference_mode():
        out = model(x, y)
    img = ((out["image"][0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).float().cpu().numpy()  # [S, S, 3]
    warped = ((out["warped"][0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).float().cpu().numpy()
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    warped = cv2.resize(warped, (w, h), interpolation=cv2.INTER_LINEAR)
    if keep_lines:
        ink = grey.astype(np.float32)[..., None] / 255.0
        img = img * ink + np.float32(LINE_INK) * (1.0 - ink)
    return (np.clip(img + 0.5, 0, 255).astype(np.uint8), np.clip(warped + 0.5, 0, 255).astype(np.uint8))
