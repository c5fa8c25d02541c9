"""The Opera studio's learned colouring backend: the trained CoCosNet-style network.

:func:`resolve_colorize_backend` decides which colouring engine runs for a requested backend
(``"classical"``, ``"neural"`` or ``"auto"``): ``auto`` uses the network only when its checkpoint
card records that it measured better than the classical region correspondence on the same
held-out pairs (``extra.better_than_classical``). A network without a trained checkpoint is never
used: ``"neural"`` then raises ``ValueError``.

:func:`colorize_neural` runs the network at its trained side (the card's ``input_size``) on the
sketch resized to a square, resizes the result back and darkens it by the original line art, so the
strokes stay as crisp as the classical engine's. The warped exemplar ``r_{y→x}`` is returned at the
image size too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

MODEL_NAME = "cocosnet"
"""Registry name in the card of the learned colouring network (file ``checkpoints/cocosnet_g``)."""

_CACHE: dict[Any, Any] = {}


def _status() -> tuple[Optional[Path], bool, str, Optional[Any]]:
    """``(card path or None, better_than_classical, reason, card)`` without building the network."""
    from engine.weights.store import find_checkpoint, probe_checkpoint

    path = find_checkpoint(MODEL_NAME)
    st = probe_checkpoint(path)
    if not st.loadable or st.card is None:
        why = "no trained checkpoint" if path is None else st.reason
        return None, False, f"not available: {why} (train one with `masquerade train cocosnet`)", None
    card = st.card
    if int(card.extra.get("steps", 0) or 0) <= 0:
        return None, False, "not available: no trained checkpoint (the card records no training steps)", None
    m = card.metrics
    detail = ""
    if "ssim_neural" in m and "ssim_classical" in m:
        detail = (f" (held-out self-colouring SSIM {m['ssim_neural']:.3f} vs classical "
                  f"{m['ssim_classical']:.3f})")
    better = card.extra.get("better_than_classical") is True
    why = ("measured better than classical" if better else "trained but measured worse than classical") + detail
    return st.path, better, why, card


def forget() -> None:
    """Drop the cached network (after its checkpoint was added, replaced or removed)."""
    _CACHE.clear()


def load_cocosnet() -> tuple[Any, Any]:
    """The trained network and its card (loaded once per checkpoint file, then cached).

    Raises:
        ValueError: no usable trained checkpoint (the message says why).
    """
    from engine.errors import CheckpointError
    from engine.weights.store import load_checkpoint

    path, _better, why, _card = _status()
    if path is None:
        raise ValueError(f"the learned colouring network is {why}; use backend 'classical'")
    key = (str(path), path.stat().st_mtime)
    if key not in _CACHE:
        try:
            model, card = load_checkpoint(path, device="cpu")
        except (CheckpointError, OSError) as exc:
            raise ValueError(f"the learned colouring network cannot be loaded: {exc}") from None
        _CACHE.clear()
        _CACHE[key] = (model.eval(), card)
    return _CACHE[key]  # type: ignore[no-any-return]


def resolve_colorize_backend(requested: str) -> tuple[str, str]:
    """The colouring backend that runs for ``requested`` and a human reason.

    Args:
        requested: ``"classical"``, ``"neural"`` or ``"auto"``.

    Returns:
        ``("classical" | "neural", reason)``.

    Raises:
        ValueError: unknown name, or ``"neural"`` without a usable trained checkpoint.
    """
    if requested == "classical":
        return "classical", "classical region correspondence requested"
    if requested not in ("neural", "auto"):
        raise ValueError(f"backend must be one of auto, classical, neural; got {requested!r}")
    path, better, why, _card = _status()
    if requested == "neural":
        if path is None:
            raise ValueError(f"the learned colouring network (CoCosNet) is {why}; use backend 'classical'")
        return "neural", f"learned CoCosNet-style network: {why}"
    if path is not None and better:
        return "neural", f"learned CoCosNet-style network: {why}"
    return "classical", f"classical region correspondence; 'auto' does not use CoCosNet: {why}"


def model_side(card: Any) -> int:
    """The square side the network was trained at (card ``input_size``; 64 if absent)."""
    size = getattr(card, "input_size", None) or (64, 64)
    return int(size[0])


def colorize_neural(line_art: np.ndarray, reference: np.ndarray, model: Any, side: int,
                    keep_lines: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Colour a sketch from an exemplar with a CoCosNet.

    Args:
        line_art: ``uint8`` grey ``[H, W]`` (or RGB/RGBA) sketch, dark lines on light paper.
        reference: ``uint8`` RGB or RGBA exemplar (any size; resized to ``side``², alpha on white).
        model: a :class:`~engine.models.cocosnet.CoCosNet`.
        side: network side (multiple of ``8 · corr_down``).
        keep_lines: multiply the result by the line art at full resolution (crisp strokes).

    Returns:
        ``(image, warped)``: ``uint8`` RGB ``[H, W, 3]`` coloured sketch and warped exemplar.
    """
    import torch

    from engine.studios.opera.classical import LINE_INK, _as_rgb, _line_grey

    grey = _line_grey(line_art)
    if grey.size == 0:
        raise ValueError("line_art is empty")
    h, w = grey.shape
    ref = _as_rgb(reference, "reference")
    s = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
    r = cv2.resize(ref, (side, side), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(s).float().div(127.5).sub(1.0)[None, None]
    y = torch.from_numpy(r).float().div(127.5).sub(1.0).permute(2, 0, 1)[None]
    with torch.inference_mode():
        out = model(x, y)
    img = ((out["image"][0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
    warped = ((out["warped"][0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    warped = cv2.resize(warped, (w, h), interpolation=cv2.INTER_LINEAR)
    if keep_lines:
        ink = grey.astype(np.float32)[..., None] / 255.0
        img = img * ink + np.float32(LINE_INK) * (1.0 - ink)
    return (np.clip(img + 0.5, 0, 255).astype(np.uint8), np.clip(warped + 0.5, 0, 255).astype(np.uint8))
