"""Regenerate studio, learned engine: the SEAN-style generator (:mod:`engine.models.regen`).

:data:`BACKEND` is the studio's one :class:`~engine.studios.base.LearnedBackend`: ``auto`` takes the
generator only when its card's verdict says it measured better than classical region warping on
the held-out test (``masquerade train regen`` writes the card); a missing, corrupt or refused
checkpoint falls back to classical with the reason, an explicit ``neural`` request fails in one line.

:func:`regenerate_learned` renders the edited map with the generator at its (small) training side
on the aligned face crop, with per-region style codes from the source (or, for
``reference_regions``, the reference), and pastes the render back only where labels changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from engine.device import module_device
from engine.imageio import validate_rgb
from engine.studios.base import LearnedBackend
from engine.studios.regenerate.edits import check_labels
from engine.studios.regenerate.params import CLASSES
from engine.weights.card import ModelCard

LEARNED_MODEL = "regen_g"
"""Registry name of the learned generator's checkpoint."""

TITLE = "the learned SEAN-style generator"
"""What the learned engine is called in reasons and errors."""


def _nan(m: dict[str, float], key: str) -> float:
    return float(m.get(key, float("nan")))


def describe_card(card: ModelCard) -> str:
    """The held-out numbers of a ``regen_g`` card, in one clause (for the backend's reason).

    Args:
        card: the generator's card.

    Returns:
        e.g. ``"measured worse on the held-out test: reconstruction 14.0 dB vs classical 100 dB
        (100 = exact), edited-region mIoU 0.20 vs 0.50"``.
    """
    m = card.metrics
    numbers = (f"reconstruction {_nan(m, 'recon_psnr_db'):.1f} dB vs classical "
               f"{_nan(m, 'classical_recon_psnr_db'):.0f} dB (100 = exact), edited-region mIoU "
               f"{_nan(m, 'edit_miou'):.2f} vs {_nan(m, 'classical_edit_miou'):.2f}")
    return f"{'measured better' if card.better else 'measured worse'} on the held-out test: {numbers}"


BACKEND = LearnedBackend(LEARNED_MODEL, title=TITLE, classical="classical region warping",
                         train_hint="masquerade train regen", describe=describe_card)
"""The Regenerate studio's learned engine (cards read on resolve, weights loaded in the worker)."""


def resolve_backend(requested: str = "auto") -> tuple[str, str]:
    """The backend that runs for ``requested`` and why; reads cards only (safe on the GUI thread).

    Args:
        requested: ``"auto"``, ``"classical"`` or ``"neural"``.

    Returns:
        ``(backend, reason)``: ``"classical"`` or ``"neural"`` and one sentence for people.

    Raises:
        ValueError: an unknown ``requested``, or :class:`~engine.errors.LearnedBackendError` (a
            ``ValueError``) for ``"neural"`` without a usable checkpoint.
    """
    r = BACKEND.resolve(requested)
    return r.backend, r.reason


def learned_summary() -> str:
    """What the learned generator's card says, in a few lines (for a tool tip).

    Returns:
        The measured numbers against classical, how it was trained and its licence — or why there
        is no usable learned model.
    """
    path, card, problem = BACKEND.status()
    if path is None or card is None:
        return problem
    m, extra = card.metrics, card.extra
    train = extra.get("train", {})
    lines = [
        f"SEAN-style learned generator ({path.parent.name}/{path.name})",
        ("Measured better than classical on its held-out test." if card.better else
         "Measured WORSE than classical on its held-out test: research only, 'auto' never picks it."),
        f"Reconstruction (unchanged mask): PSNR {_nan(m, 'recon_psnr_db'):.1f} dB, SSIM "
        f"{_nan(m, 'recon_ssim'):.2f} (classical: exact copy)",
        f"Edited-region parse agreement (mIoU): {_nan(m, 'edit_miou'):.2f} vs classical "
        f"{_nan(m, 'classical_edit_miou'):.2f}",
    ]
    if problem:
        lines.insert(1, f"Not usable: {problem}")
    if isinstance(train, dict) and train:
        lines.append(f"Trained {train.get('steps', '?')} steps at {train.get('side', '?')} px on "
                     f"{train.get('faces', '?')} faces ({train.get('train_s', '?')} CPU-s); renders at that size.")
    if "fid" in extra:
        lines.append(f"FID: {extra['fid']}")
    if card.licence:
        lines.append(f"Licence: {card.licence}")
    return "\n".join(lines)


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """``uint8`` ``[H, W, 3]`` → float ``[1, 3, H, W]`` in [-1, 1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return t.permute(2, 0, 1)[None].float().div(127.5).sub(1.0)  # [NCHW]


def _one_hot(labels: np.ndarray, device: torch.device) -> torch.Tensor:
    """``uint8`` ``[H, W]`` labels → one-hot ``[1, 19, H, W]`` on ``device``."""
    from engine.models.regen import one_hot

    return one_hot(torch.from_numpy(np.ascontiguousarray(labels)).to(device)[None])


def regenerate_learned(model: Any, image: np.ndarray, labels: np.ndarray, edited: np.ndarray, *,
                       keypoints: np.ndarray | None = None, reference: np.ndarray | None = None,
                       reference_labels: np.ndarray | None = None, reference_regions: Sequence[str] = (),
                       blend: float = 1.0) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Learned regeneration: render ``edited`` with the generator, paste it where labels changed.

    The face is cut out as an aligned crop of the generator's training side (the whole image
    squeezed to a square when ``keypoints`` is ``None``); style codes come from the source crop,
    and for ``reference_regions`` from the reference (mixed by ``blend``). The render replaces the
    source only on the changed labels and the reference regions (1 px grown, feathered over at most
    ``info["feather_px"]`` px: about two model pixels), so an unchanged map without reference regions
    returns the source exactly. The inputs go to the model's device; the result comes back as numpy.

    Args:
        model: a :class:`~engine.models.regen.RegenGenerator` in eval mode, on any device.
        image: ``uint8`` ``[H, W, 3]`` source.
        labels: its ``uint8`` ``[H, W]`` official-order parsing.
        edited: ``uint8`` ``[H, W]`` edited map.
        keypoints: ``[3, 2]`` face key points (right eye, left eye, mouth) for the aligned crop.
        reference: optional ``uint8`` style reference (squeezed to the model's side).
        reference_labels: its parsing (required with ``reference`` and ``reference_regions``).
        reference_regions: labels styled from the reference.
        blend: weight of the reference codes in those regions.

    Returns:
        (result, masks ``{"changed", "regenerated"}``, info ``{"regions", "model_side", "feather_px"}``).

    Raises:
        ValueError: shapes or values do not match, or a reference without its label map.
    """
    from engine.faces.align import align_face, paste_back

    image = validate_rgb(image)
    labels, edited = check_labels(labels, "source labels"), check_labels(edited, "edited mask")
    if labels.shape != image.shape[:2] or edited.shape != image.shape[:2]:
        raise ValueError(f"label maps {labels.shape} / {edited.shape} must match the image {image.shape[:2]}")
    h, w = labels.shape
    changed = edited != labels
    ref_ids = [CLASSES.index(n) for n in reference_regions] if reference is not None and blend > 0 else []
    if ref_ids and reference_labels is None:
        raise ValueError("a reference needs its label map")
    target = changed | np.isin(edited, ref_ids)
    masks = {"changed": changed, "regenerated": np.zeros((h, w), bool)}
    if not target.any():
        return image.copy(), masks, {"regions": {}}
    side = int(model.side)
    dev = module_device(model)
    if keypoints is not None:
        crop = align_face(image, keypoints, side)
        cimg = crop.image

        def warp(m: np.ndarray) -> np.ndarray:
            return cv2.warpAffine(m, crop.matrix, (side, side), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    else:
        crop = None
        cimg = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)

        def warp(m: np.ndarray) -> np.ndarray:
            return cv2.resize(m, (side, side), interpolation=cv2.INTER_NEAREST)
    clab, cedit = warp(labels), warp(edited)
    with torch.no_grad():
        codes = model.encode_style(_to_tensor(cimg, dev), _one_hot(clab, dev))
        if ref_ids and reference is not None and reference_labels is not None:
            rimg = cv2.resize(validate_rgb(reference, "reference"), (side, side), interpolation=cv2.INTER_AREA)
            rlab = cv2.resize(check_labels(reference_labels, "reference labels"), (side, side),
                              interpolation=cv2.INTER_NEAREST)
            rcodes = model.encode_style(_to_tensor(rimg, dev), _one_hot(rlab, dev))
            have = np.bincount(rlab.ravel(), minlength=len(CLASSES)) > 0
            for i in ref_ids:
                if have[i]:
                    codes[:, i] = codes[:, i] * (1 - blend) + rcodes[:, i] * blend
        out = model.render(_one_hot(cedit, dev), codes)
    render_crop = ((out[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()  # [HWC]
    grow = cv2.dilate(target.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
    px = float(np.hypot(*crop.inverse[:, 0])) if crop is not None else max(h, w) / side  # image px per model px
    reach = int(np.ceil(2 * px)) + 1
    support = cv2.dilate(grow, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))).astype(bool)
    if crop is not None:
        weight = cv2.warpAffine(grow, crop.matrix, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)
        result = paste_back(image, crop, np.ascontiguousarray(render_crop), feather=0.02,
                            mask=cv2.GaussianBlur(weight, (0, 0), 0.7), mode="replace")
    else:
        big = cv2.resize(render_crop, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        wgt = cv2.GaussianBlur(grow, (0, 0), max(0.7, 0.5 * px))[:, :, None]
        result = np.clip(np.rint(image * (1 - wgt) + big * wgt), 0, 255).astype(np.uint8)
    result[~support] = image[~support]  # the feather stops ``reach`` px beyond the grown region
    regen = np.any(result != image, axis=2)
    masks["regenerated"] = regen
    names = sorted({CLASSES[int(c)] for c in np.unique(edited[target])}, key=CLASSES.index)
    how = {n: f"learned render ({side}² crop)" + ("; reference style" if CLASSES.index(n) in ref_ids else "")
           for n in names}
    return result, masks, {"regions": how, "model_side": side, "feather_px": reach + 2}
