"""Expression studio, learned engine: the anime-expression GAN of :mod:`engine.models.expression_gan`.

The face is cropped with the framing of the procedural training faces, resized to the model's input
size, translated towards the mixed label vector of the sliders (the overall intensity scales the
attention mask), and the change ``M·(y − x)`` is resized back and added to the full-resolution crop;
pixels where the mask rounds to 0 are copied.

:data:`EXPRESSION_GAN` is the studio's :class:`~engine.studios.base.LearnedBackend` (checkpoint
``expression_gan_g``): ``auto`` runs the GAN only when its card's verdict says it measured better
than the classical rig (:mod:`engine.studios.expression.classical`); otherwise, without a
checkpoint, or when it cannot be loaded, the rig runs and the resolution's reason says why.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from engine.device import module_device
from engine.labels import EXPRESSION_LABELS
from engine.models.expression_gan import ExpressionGenerator, label_vector
from engine.studios.base import LearnedBackend
from engine.studios.expression.params import ExpressionParams
from engine.weights.card import ModelCard

GAN_MODEL = "expression_gan_g"
"""Registry name of the learned backend's generator checkpoint."""
DEFAULT_INPUT_SIZE = 64
"""The generator's input side when its card records none."""
# Framing of the procedural training faces: face-box width and height as fractions of the image
# side, and the image centre below the face-box centre (fraction of the side); measured on
# generate_anime_face outputs.
_FRAME_W, _FRAME_H, _FRAME_DY = 0.55, 0.78, 0.074


def _card_summary(card: ModelCard) -> str:
    """The card's measured numbers in words (added to the resolution's reason)."""
    m = card.metrics
    return (f"judged accuracy GAN {m.get('gan_accuracy', '?')} vs rig {m.get('rig_accuracy', '?')}, "
            f"GAN change outside its mask {m.get('gan_identity_diff', '?')}/255")


EXPRESSION_GAN = LearnedBackend(
    GAN_MODEL,
    title="the learned expression GAN",
    classical="the classical warp rig",
    train_hint="masquerade train expression-gan",
    describe=_card_summary,
)
"""The expression studio's learned engine (cards read by ``resolve``; loaded in the worker)."""


def input_size(card: ModelCard) -> int:
    """The generator's input side recorded on its card (:data:`DEFAULT_INPUT_SIZE` when none)."""
    return int(card.input_size[0]) if card.input_size else DEFAULT_INPUT_SIZE


def face_crop_box(face_box: np.ndarray) -> tuple[int, int, int]:
    """Square crop around a face box with the procedural faces' framing.

    Args:
        face_box: ``[x0, y0, x1, y1]`` in pixels.

    Returns:
        ``(x0, y0, side)`` of the crop in the same pixels (it may reach outside the image).
    """
    x0, y0, x1, y1 = (float(v) for v in face_box)
    side = max((x1 - x0) / _FRAME_W, (y1 - y0) / _FRAME_H, 8.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + _FRAME_DY * side
    side_i = int(round(side))
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side_i


def apply_gan(image: np.ndarray, face_box: np.ndarray, params: ExpressionParams, generator: ExpressionGenerator,
              size: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Edit ``image`` with the learned generator (on whichever device its parameters live).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        face_box: ``[x0, y0, x1, y1]`` of the face in ``image`` pixels.
        params: slider values (labels → mixed label vector; ``intensity`` scales the mask).
        generator: an :class:`~engine.models.expression_gan.ExpressionGenerator` (eval mode).
        size: the generator's input side.

    Returns:
        ``(result, attention, crop)``: the result (equal to ``image`` where ``attention`` is 0),
        the scaled attention mask as ``uint8`` ``[H, W]`` (0 outside the crop) and the crop
        ``(x0, y0, side)``.
    """
    device = module_device(generator)
    h, w = image.shape[:2]
    x0, y0, side = face_crop_box(face_box)
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image
    crop = padded[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    small = cv2.resize(crop, (size, size), interpolation=interp)
    x = torch.from_numpy(small).permute(2, 0, 1)[None].float().div(127.5).sub(1.0).to(device)  # [NCHW]
    labels = label_vector([getattr(params, n) for n in EXPRESSION_LABELS])[None].to(device)
    with torch.no_grad():
        y_star, _, m = generator(x, labels, mask_scale=float(params.intensity))
    delta = ((y_star - x) * 127.5)[0].permute(1, 2, 0).cpu().numpy()  # [HWC]
    delta_up = cv2.resize(delta, (side, side), interpolation=cv2.INTER_CUBIC)
    att_up = np.clip(cv2.resize(m[0, 0].cpu().numpy(), (side, side), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    att_u8 = (att_up * 255 + 0.5).astype(np.uint8)
    edited = np.clip(crop.astype(np.float32) + delta_up, 0, 255).round().astype(np.uint8)
    keep = att_u8 == 0
    edited[keep] = crop[keep]
    out = image.copy()
    attention = np.zeros((h, w), np.uint8)
    ox0, oy0 = max(0, x0), max(0, y0)
    ox1, oy1 = min(w, x0 + side), min(h, y0 + side)
    if ox1 > ox0 and oy1 > oy0:
        sl = (slice(oy0 - y0, oy1 - y0), slice(ox0 - x0, ox1 - x0))
        out[oy0:oy1, ox0:ox1] = edited[sl]
        attention[oy0:oy1, ox0:ox1] = att_u8[sl]
    return out, attention, (x0, y0, side)
