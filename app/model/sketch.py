"""The Opera sketch as document data: a :class:`~app.model.raster.RasterLayer` of line art.

Grey ``uint8`` pixels, 255 paper and 0 ink, sides 256–2048 (:data:`MIN_SIDE`, :data:`MAX_SIDE`);
the helpers that turn pictures into line art for it run engine code (call them in the worker).
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QObject

from app.model.raster import RasterLayer

MIN_SIDE, MAX_SIDE = 256, 2048
"""Allowed sketch side lengths in pixels."""

PAPER, INK = 255, 0
"""Grey values of empty paper and of brush ink."""


def check_side(side: int, what: str = "canvas side") -> int:
    """Validate a sketch side length (256–2048) and return it as an int.

    Args:
        side: the length in pixels.
        what: how the message names it.

    Returns:
        ``side`` as an ``int``.

    Raises:
        ValueError: out of range.
    """
    side = int(side)
    if not MIN_SIDE <= side <= MAX_SIDE:
        raise ValueError(f"{what} must be {MIN_SIDE}–{MAX_SIDE} pixels, got {side}")
    return side


def check_line_art(pixels: np.ndarray) -> None:
    """The sketch layer's rule: both sides 256–2048.

    Args:
        pixels: ``uint8`` ``[H, W]`` candidate line art.

    Raises:
        ValueError: a side out of range.
    """
    check_side(pixels.shape[0], "line-art height")
    check_side(pixels.shape[1], "line-art width")


def sketch_layer(side: int = 512, parent: QObject | None = None) -> RasterLayer:
    """A blank (paper) ``side``² sketch layer that keeps the 256–2048 rule.

    Args:
        side: square side in pixels.
        parent: Qt parent.

    Returns:
        The :class:`RasterLayer`.

    Raises:
        ValueError: ``side`` out of range.
    """
    side = check_side(side)
    return RasterLayer(np.full((side, side), PAPER, np.uint8), check_line_art, parent)


def fit_side_range(grey: np.ndarray) -> np.ndarray:
    """Resize a grey image so both sides lie in 256–2048 (aspect kept where possible).

    Args:
        grey: ``uint8`` ``[H, W]``.

    Returns:
        ``uint8`` ``[h, w]`` with ``MIN_SIDE <= h, w <= MAX_SIDE`` (the input itself if it fits).
    """
    h, w = grey.shape
    s = 1.0
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
    if min(h, w) * s < MIN_SIDE:
        s = MIN_SIDE / min(h, w)
    if s == 1.0:
        return grey
    nw = min(MAX_SIDE, max(MIN_SIDE, round(w * s)))
    nh = min(MAX_SIDE, max(MIN_SIDE, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(grey, (nw, nh), interpolation=interp)


def line_art_from_picture(rgb: np.ndarray, side: int, sigma: float = 1.0, threshold: float = 0.5,
                          extractor: str = "xdog") -> np.ndarray:
    """A picture as line art for the sketch: fitted into a ``side``² paper square, then XDoG (or HED).

    Runs engine code: call it in the worker.

    Args:
        rgb: ``uint8`` RGB ``[H, W, 3]`` (or grey) picture.
        side: canvas side, 256–2048.
        sigma: XDoG inner σ at the canvas size (pixels).
        threshold: binarisation level of the XDoG output (0–1); crisp lines close regions best.
        extractor: ``"xdog"`` or ``"hed"`` (the learned edge detector, thinned lines; ``sigma`` and
            ``threshold`` do not apply).

    Returns:
        ``uint8`` ``[side, side]`` line art (255 paper, 0 lines).

    Raises:
        ValueError: ``side`` out of range, not an image or an unknown extractor.
        CheckpointError: HED without its weights.
    """
    from engine.imageio import validate_rgb
    from engine.studios.opera.classical import XDoGParams, xdog

    params = XDoGParams(sigma=sigma, threshold=threshold, extractor=extractor).validate()
    side = check_side(side)
    img = validate_rgb(rgb, "picture")
    h, w = img.shape[:2]
    s = side / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    paper = np.full((side, side, 3), PAPER, np.uint8)
    y0, x0 = (side - nh) // 2, (side - nw) // 2
    paper[y0:y0 + nh, x0:x0 + nw] = small
    if params.extractor == "hed":
        from engine.studios.opera.hed import hed_line_art

        return hed_line_art(paper)
    return xdog(paper, params)
