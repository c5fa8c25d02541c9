"""Regenerate studio, learned engine: the inpainting regenerator (:mod:`engine.models.regen_inpaint`).

The learned engine follows the classical engine's contract: it synthesises **only the changed
pixels** (labels that changed, the user's painted strokes, and the regions styled from a
reference) from the unchanged context; every other pixel is the source exactly, so an unchanged
mask returns an identical image.

:data:`BACKEND` is the studio's one :class:`~engine.studios.base.LearnedBackend`: ``auto`` takes the
network only when its card's verdict says it measured better than the classical engine on the
regenerate benchmark's ground-truth bands (``python -m bench.regenerate_learned --write-card``
records it); a missing, corrupt or refused checkpoint falls back to classical with the reason, an
explicit ``neural`` request fails in one line.

:func:`regenerate_learned` runs the network at its (small) training side on the aligned face crop
(the whole image squeezed to a square when no face key points are known), with per-region style
codes from the crop's pixels outside the hole (or, for ``reference_regions``, from the reference),
and writes the up-scaled prediction into the hole only. Hole pixels the crop does not cover are
filled by OpenCV Telea inpainting (said in ``info``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from engine.device import inference_threads, module_device, torch_threads
from engine.imageio import validate_rgb
from engine.studios.base import LearnedBackend
from engine.studios.regenerate.edits import check_labels
from engine.studios.regenerate.params import CLASSES
from engine.weights.card import ModelCard

LEARNED_MODEL = "regen_inpaint"
"""Registry name of the learned network's checkpoint."""

TITLE = "the learned inpainting regenerator"
"""What the learned engine is called in reasons and errors."""

TESTS: tuple[str, ...] = ("grow_hair", "unfringe")
"""The benchmark's ground-truth tests whose numbers the card records (``bench.regenerate_learned``)."""


def _nan(m: dict[str, float], key: str) -> float:
    return float(m.get(key, float("nan")))


def describe_card(card: ModelCard) -> str:
    """The benchmark numbers of a ``regen_inpaint`` card, in one clause (for the backend's reason).

    Args:
        card: the network's card.

    Returns:
        e.g. ``"measured worse on the benchmark's ground-truth bands (error, SSIM and texture — 1 =
        the photo's — all count): grow hair MAE 26.0 vs classical 27.3, texture 0.29 vs 0.94; …"``;
        ``"not measured yet …"`` for a card without numbers.
    """
    m = card.metrics
    if not any(f"{t}_mae" in m for t in TESTS):
        return "not measured yet (run python -m bench.regenerate_learned --write-card)"
    parts = []
    for t in TESTS:
        text = (f"{t.replace('_', ' ').replace('unfringe', 'un-fringe')} MAE {_nan(m, f'{t}_mae'):.1f} vs classical "
                f"{_nan(m, f'classical_{t}_mae'):.1f}")
        if f"{t}_texture_ratio" in m:
            text += (f", texture {_nan(m, f'{t}_texture_ratio'):.2f} vs "
                     f"{_nan(m, f'classical_{t}_texture_ratio'):.2f}")
        parts.append(text)
    return (f"{'measured better' if card.better else 'measured worse'} on the benchmark's ground-truth bands "
            "(error, SSIM and texture — 1 = the photo's — all count): " + "; ".join(parts))


BACKEND = LearnedBackend(LEARNED_MODEL, title=TITLE, classical="classical region warping",
                         train_hint="masquerade train regen-inpaint", describe=describe_card)
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
    """What the learned network's card says, in a few lines (for a tool tip).

    Returns:
        The measured numbers against classical and Telea, how it was trained and its licence — or
        why there is no usable learned model.
    """
    path, card, problem = BACKEND.status()
    if path is None or card is None:
        return problem
    m, extra = card.metrics, card.extra
    train = extra.get("train", {})
    lines = [
        f"Learned inpainting regenerator ({path.parent.name}/{path.name}): paints only the changed pixels",
        ("Measured better than classical on the benchmark." if card.better else
         "Not measured better than classical on the benchmark: 'auto' never picks it."),
    ]
    for t in TESTS:
        if f"{t}_mae" in m:
            lines.append(f"{t.replace('_', ' ')}: MAE {_nan(m, f'{t}_mae'):.1f} / SSIM {_nan(m, f'{t}_ssim'):.3f} / "
                         f"texture {_nan(m, f'{t}_texture_ratio'):.2f} (classical {_nan(m, f'classical_{t}_mae'):.1f}"
                         f" / {_nan(m, f'classical_{t}_ssim'):.3f} / {_nan(m, f'classical_{t}_texture_ratio'):.2f}; "
                         f"Telea {_nan(m, f'telea_{t}_mae'):.1f} / {_nan(m, f'telea_{t}_ssim'):.3f} / "
                         f"{_nan(m, f'telea_{t}_texture_ratio'):.2f})")
    if problem:
        lines.insert(1, f"Not usable: {problem}")
    if isinstance(train, dict) and train:
        lines.append(f"Trained {train.get('steps', '?')} steps at {train.get('side', '?')} px on "
                     f"{train.get('faces', '?')} faces ({train.get('budget_s', '?')} {train.get('budget_clock', 's')}); "
                     "renders at that size.")
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


SEAM_RING_PX = 3
"""Width of the ring of photo pixels around the hole whose difference to the up-scaled prediction
is carried into the hole by :func:`seam_offset`."""


def seam_offset(image: np.ndarray, predicted: np.ndarray, hole: np.ndarray, ring_px: int = SEAM_RING_PX) -> np.ndarray:
    """A smooth offset for ``predicted`` inside ``hole`` that makes it meet the photo at the border.

    The differences ``image − predicted`` on a ring of ``ring_px`` pixels just outside the hole are
    spread into the hole by pull-push interpolation (area-averaged pyramid, filled from the coarse
    levels): a membrane-like, gradient-domain correction of the prediction's low-frequency colour
    and brightness bias, which keeps the prediction's own detail (its gradients) unchanged.

    Args:
        image: ``uint8`` or float ``[H, W, 3]`` photo.
        predicted: float ``[H, W, 3]`` prediction (only its values on the ring and in the hole matter).
        hole: ``bool`` ``[H, W]``.
        ring_px: ring width in pixels.

    Returns:
        ``float32`` ``[H, W, 3]`` offsets (zero outside the hole's bounding box grown by the ring).

    Example:
        >>> img = np.full((32, 32, 3), 100, np.uint8); hole = np.zeros((32, 32), bool); hole[8:20, 8:20] = True
        >>> off = seam_offset(img, np.full((32, 32, 3), 80.0), hole)
        >>> bool(np.allclose(off[hole], 20.0, atol=0.5))
        True
    """
    h, w = hole.shape
    offset = np.zeros((h, w, 3), np.float32)
    if not hole.any():
        return offset
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((2 * ring_px + 1,) * 2, np.uint8)).astype(bool) & ~hole
    if not ring.any():
        return offset
    ys, xs = np.nonzero(hole | ring)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    wgt = ring[y0:y1, x0:x1].astype(np.float32)
    val = (image[y0:y1, x0:x1].astype(np.float32) - predicted[y0:y1, x0:x1]) * wgt[..., None]
    levels = [(val, wgt)]
    while min(levels[-1][1].shape) > 2:
        v, m = levels[-1]
        size = (max(1, (m.shape[1] + 1) // 2), max(1, (m.shape[0] + 1) // 2))
        levels.append((cv2.resize(v, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], 3),
                       cv2.resize(m, size, interpolation=cv2.INTER_AREA)))
    v, m = levels[-1]
    est = v / np.maximum(m, 1e-6)[..., None]
    if not (m > 1e-6).all():  # the coarsest level still has empty cells: their mean
        est[m <= 1e-6] = v.reshape(-1, 3).sum(0) / max(1e-6, float(m.sum()))
    for v, m in reversed(levels[:-1]):
        up = cv2.resize(est, (m.shape[1], m.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(m.shape[0], m.shape[1], 3)
        a = np.clip(m * 4.0, 0.0, 1.0)[..., None]  # a cell mostly made of ring pixels keeps its own mean
        est = a * (v / np.maximum(m, 1e-6)[..., None]) + (1.0 - a) * up
    offset[y0:y1, x0:x1] = est
    return offset


def regenerate_learned(model: Any, image: np.ndarray, labels: np.ndarray, edited: np.ndarray, *,
                       keypoints: np.ndarray | None = None, reference: np.ndarray | None = None,
                       reference_labels: np.ndarray | None = None, reference_regions: Sequence[str] = (),
                       blend: float = 1.0, painted: np.ndarray | None = None, seam: bool = True,
                       ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Learned regeneration: inpaint the changed pixels with the network, keep every other pixel.

    The hole is the pixels whose label changed, the ``painted`` strokes and, with a reference,
    the ``reference_regions`` of the edited map. The face is cut out as an aligned crop of the
    network's side (the whole image squeezed to a square when ``keypoints`` is ``None``); the
    hole is marked in the crop wherever it covers any part of a crop pixel, style codes come from
    the crop outside the hole, and for ``reference_regions`` from the reference (mixed by
    ``blend``). The prediction is warped back (cubic), its colour bias against the photo around
    the hole corrected (``seam``), and written into the hole only; hole pixels
    outside the crop are filled by Telea inpainting. Pixels outside the hole are the source
    exactly. The inputs go to the model's device; the result comes back as numpy.

    Args:
        model: a :class:`~engine.models.regen_inpaint.RegenInpaintNet` in eval mode, on any device.
        image: ``uint8`` ``[H, W, 3]`` source.
        labels: its ``uint8`` ``[H, W]`` official-order parsing.
        edited: ``uint8`` ``[H, W]`` edited map.
        keypoints: ``[3, 2]`` face key points (right eye, left eye, mouth) for the aligned crop.
        reference: optional ``uint8`` style reference (squeezed to the model's side).
        reference_labels: its parsing (required with ``reference`` and ``reference_regions``).
        reference_regions: labels styled from the reference.
        blend: weight of the reference codes in those regions.
        painted: optional ``bool`` ``[H, W]`` strokes the user painted (synthesised even where the
            label did not change).
        seam: correct the prediction's low-frequency bias so that it meets the photo at the hole's
            border (:func:`seam_offset`; gradient-domain, the prediction's detail kept).

    Returns:
        (result, masks ``{"changed", "regenerated", "hole"}``, info ``{"regions", "model_side",
        "feather_px", "outside_crop_px"}``; ``feather_px`` is 0: nothing outside the hole changes).

    Raises:
        ValueError: shapes or values do not match, or a reference without its label map.
    """
    from engine.faces.align import align_face

    image = validate_rgb(image)
    labels, edited = check_labels(labels, "source labels"), check_labels(edited, "edited mask")
    if labels.shape != image.shape[:2] or edited.shape != image.shape[:2]:
        raise ValueError(f"label maps {labels.shape} / {edited.shape} must match the image {image.shape[:2]}")
    if painted is not None and np.shape(painted) != image.shape[:2]:
        raise ValueError(f"painted mask {np.shape(painted)} must match the image {image.shape[:2]}")
    h, w = labels.shape
    changed = edited != labels
    ref_ids = [CLASSES.index(n) for n in reference_regions] if reference is not None and blend > 0 else []
    if ref_ids and reference_labels is None:
        raise ValueError("a reference needs its label map")
    hole = changed | np.isin(edited, ref_ids)
    if painted is not None:
        hole |= np.asarray(painted, bool)
    masks = {"changed": changed, "regenerated": np.zeros((h, w), bool), "hole": hole}
    if not hole.any():
        return image.copy(), masks, {"regions": {}, "model_side": int(model.side), "feather_px": 0,
                                     "outside_crop_px": 0}
    side = int(model.side)
    dev = module_device(model)
    hole_f = hole.astype(np.float32)
    if keypoints is not None:
        crop = align_face(image, keypoints, side)
        cimg, matrix = crop.image, crop.matrix
        clab = cv2.warpAffine(edited, matrix, (side, side), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
        inverse = crop.inverse
        reach = int(np.ceil(0.5 * np.hypot(*inverse[:, 0]))) + 1  # half a model pixel, in image pixels
        grown = cv2.dilate(hole_f, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
        chole = cv2.warpAffine(grown, matrix, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)
    else:
        cimg = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        clab = cv2.resize(edited, (side, side), interpolation=cv2.INTER_NEAREST)
        chole = cv2.resize(hole_f, (side, side), interpolation=cv2.INTER_AREA)
        inverse = np.array([[w / side, 0, 0.5 * w / side - 0.5], [0, h / side, 0.5 * h / side - 0.5]])
    chole = (chole > 0).astype(np.float32)  # any covered part of a model pixel is synthesised
    # on the CPU, the threads the load leaves free (two spinning threads took seconds on a busy machine)
    threads = torch_threads(inference_threads()) if dev.type == "cpu" else contextlib.nullcontext()
    with threads, torch.no_grad():
        x, hm, seg = _to_tensor(cimg, dev), torch.from_numpy(chole).to(dev)[None, None], _one_hot(clab, dev)
        codes = model.encode_style(x, seg, hm)
        if ref_ids and reference is not None and reference_labels is not None:
            rimg = cv2.resize(validate_rgb(reference, "reference"), (side, side), interpolation=cv2.INTER_AREA)
            rlab = cv2.resize(check_labels(reference_labels, "reference labels"), (side, side),
                              interpolation=cv2.INTER_NEAREST)
            rcodes = model.encode_style(_to_tensor(rimg, dev), _one_hot(rlab, dev))
            have = np.bincount(rlab.ravel(), minlength=len(CLASSES)) > 0
            for i in ref_ids:
                if have[i]:
                    codes[:, i] = codes[:, i] * (1 - blend) + rcodes[:, i] * blend
        out = model(x, hm, seg, codes)
    render = ((out[0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).cpu().numpy()  # float [HWC]
    back = cv2.warpAffine(render, inverse, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    covered = cv2.warpAffine(np.ones((side, side), np.uint8), inverse, (w, h), flags=cv2.INTER_NEAREST,
                             borderValue=0).astype(bool)
    result = image.copy()
    inside = hole & covered
    if seam:
        back = back + seam_offset(image, back, inside)
    result[inside] = np.clip(np.rint(back[inside]), 0, 255).astype(np.uint8)
    outside = hole & ~covered
    if outside.any():  # the crop does not reach these hole pixels: Telea from their surroundings
        telea = cv2.inpaint(result, outside.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        result[outside] = telea[outside]
    masks["regenerated"] = np.any(result != image, axis=2)
    names = sorted({CLASSES[int(c)] for c in np.unique(edited[hole])}, key=CLASSES.index)
    how = {n: f"learned inpainting ({side}² crop)" + ("; reference style" if CLASSES.index(n) in ref_ids else "")
           for n in names}
    return result, masks, {"regions": how, "model_side": side, "feather_px": 0,
                           "outside_crop_px": int(outside.sum())}
