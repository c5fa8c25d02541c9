"""The learned parser at inference: aligned crop → correction of the geometric labels → exact paste back.

For every face (smallest first, as :func:`engine.faces.parsing.geometric_parsing` draws them):

1. the FFHQ-aligned crop (:func:`engine.faces.align.align_face`, side = the card's ``input_size``,
   scale :data:`CROP_SCALE`) and the geometric labels warped onto it (nearest, the same reflected
   border as the photo) as the prior;
2. the network's correction logits on the crop (:meth:`engine.models.parser.FaceParserNet.correction`),
   faded to zero over the crop's outer :data:`FEATHER` (so the seam is the geometric parsing itself);
   — averaged with the mirrored crop's, mirrored back, when the card says ``mirror_tta``
   (:func:`crop_correction`);
3. the correction is sampled back onto the photo's pixels inside the crop (bilinear, in torch) and
   added to ``prior_gain · onehot(geometric)`` **at the photo's resolution**, and the arg-max is
   taken there: where the network agrees with the mesh the sharp, sub-pixel geometric edges
   survive; where it disagrees, its own (upsampled) boundary wins. Pixels outside every crop keep
   the geometric label bit for bit;
4. when the card names an ``edge_refine`` radius, the class probabilities of those logits first
   go through a guided filter steered by the photo's grey levels (:func:`guided_argmax`): the
   network's boundaries, upsampled from its stride-2 output, move onto the photo's own edges, and
   the prior's pixel-by-pixel colour decisions lose their ragged fringes (so the mesh's edges are
   no longer kept bit for bit). The filtered probabilities fade into the plain ones over the same
   outer :data:`FEATHER` of the crop, so no step appears where the crop ends;
5. when the card names a ``face_guard``, a face whose eye band the network would take out of the
   face by more than that share gets the geometric skin and nose back inside the mesh's outline
   (:func:`restore_face_skin`; the network has failed there);
6. the classes the card keeps from the mesh (``keep_mesh_classes``) take their geometric pixels
   back (:func:`keep_mesh_classes`), and those it bounds by the mesh (``mesh_bounded_classes``:
   the eyes) lose any pixel the network added past the geometric region (:func:`bound_to_mesh`);
7. when the card says ``extend_hat``, the learned hair / hat decision is carried past the crops,
   where the labels are still the geometric parser's, which has no hat (:func:`extend_hat`).

:func:`resolve_parser` decides ``auto`` from the checkpoint's card only (the learned parser runs
only when its verdict says it measured better than the geometric parser); :class:`LearnedParser`
loads it (hash-checked, ``strict=True``) on :func:`engine.device.select_device`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.device import SideThread, inference_threads, select_device, torch_threads
from engine.errors import CheckpointError
from engine.faces.align import AlignedCrop, align_face, feather_mask, ffhq_quad
from engine.faces.types import Face
from engine.labels import FACE_SKIN, SCHEMES
from engine.models.parser import NUM_CLASSES, FaceParserNet
from engine.nn.features import fold_batchnorm, to_channels_last
from engine.weights import store

MODEL_NAME = "face_parser"
"""Registry name of the learned parser (the card's ``model`` field)."""

CROP_SCALE = 1.0
"""Scale of the FFHQ crop the parser sees (1.0: forehead hair to chin, ears at the sides); a
checkpoint's card may name its own (``crop_scale``)."""

CROP_SHIFT = 0.0
"""Upward shift of the crop's centre, as a share of the crop side (a checkpoint's card may name its
own, ``crop_shift``: a taller view above the face for stage headwear at the same bottom edge)."""

BANNED_LOGIT = 1e4
"""Subtracted from the network's logits of the classes kept from the geometric parser (faded at the
crop border like the correction): the network then labels each pixel with its best other class,
and :func:`keep_mesh_classes` gives the kept classes back where the geometric parser drew them."""

FEATHER = 0.04
"""Share of the crop side over which the correction fades to zero at the crop border."""

EDGE_EPS = 0.01
"""Regularisation of the guided filter of :func:`guided_argmax` (grey levels in ``[0, 1]``): an edge
whose contrast is well above ``sqrt(EDGE_EPS)`` (0.1) steers the class boundaries; flatter regions
are only smoothed. Measured with the radius at 1 crop pixel on the 192² run's held-out fold models
(mean over sources of mIoU, 3-fold CV): eps 0.003 / 0.01 / 0.03 / 0.1 gave 0.7481 / 0.7480 /
0.7476 / 0.7469, against 0.7429 without the filter."""

SUPPORT_FLOOR = 0.05
"""In :func:`guided_argmax` a class is filtered only over the box where its probability exceeds
this (grown by the filter's reach) and counts as 0 elsewhere. It must stay below 1/19: every pixel's
most probable class (at least 1/19) then reaches it, so each pixel is covered by its own winner's
box, and a class left out there is under 0.05 against a winner of at least 1/19."""

FACE_GUARD = 0.25
"""Default of ``masquerade train parser --face-guard`` (a card names the value it was scored with,
``face_guard``; a card without one was scored, and runs, without the guard): the largest share of a
face's eye band (:func:`eye_band`) that the learned step may take out of the face (:func:`band_lost`)
before that face gets its geometric skin back (:func:`refine_parsing`, :func:`restore_face_skin`).
On the shipped recipe's held-out folds (84 faces, ``runs/parser_v14lr3``) one face lost 0.68 of its
band (a white-painted stage face on a white backdrop, skin turned to background) and every other
face at most 0.037; with the guard the held-out mean over sources went 0.7485 → 0.7490 (that face's
skin 0.002 → 0.785, geometric 0.811; Xiqu stage skin 0.843 → 0.870, no other class of any source
lower). The shipped model, on the analysis path, lost 0.54 and 0.48 on two such white-painted faces
and at most 0.41 on the other 325 faces of the development photos (``python -m bench.parser
--guard``); the 11 of them above 0.25 are masked faces at most 44 px wide, where both parsers are
rough and the guard only gives back the skin inside the mesh's outline."""

BAND_ABOVE = 0.25
"""Top of the eye band above the eyes' line, in eye-to-mouth distances (the brows' lower half;
bangs above it may rightly turn the forehead to hair)."""

BAND_BELOW = 0.2
"""Bottom of the eye band below the eyes' line, in eye-to-mouth distances."""

BAND_CLASSES = ("skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow")
"""Geometric classes of the eye band that count as face in :func:`band_lost`."""

STILL_FACE = ("skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip")
"""Learned classes that keep a band pixel in the face in :func:`band_lost` (glasses too)."""

HAT_RING = 2.0
"""Depth (crop pixels) of the band just inside each crop's feathered border whose learned ``hair`` /
``hat`` labels are continued outwards by :func:`extend_hat`."""

HAT_VOTE = 0.15
"""Window (share of the crop side) over which the band's hair / hat labels vote in :func:`extend_hat`."""

TRAIN_HINT = "masquerade train parser --data ../shared/data"

MIRROR_PAIRS = (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear"))
"""Classes that trade places when a face is mirrored left-right (the person's left becomes their right)."""


@functools.lru_cache(maxsize=1)
def _mirror_permutation() -> np.ndarray:
    perm = np.arange(NUM_CLASSES)
    classes = SCHEMES["celebamask_hq"].classes
    for a, b in MIRROR_PAIRS:
        i, j = classes.index(a), classes.index(b)
        perm[i], perm[j] = j, i
    perm.flags.writeable = False
    return perm


def mirror_permutation() -> np.ndarray:
    """``[19]`` class index → its mirror image's class (:data:`MIRROR_PAIRS` swapped, others fixed).

    Example:
        >>> mirror_permutation()[[0, 4, 5, 6, 9, 13]].tolist()
        [0, 5, 4, 7, 8, 13]
    """
    return _mirror_permutation().copy()


def shifted_crop(rgb: np.ndarray, keypoints: np.ndarray, size: int, scale: float, shift: float) -> AlignedCrop:
    """:func:`engine.faces.align.align_face` with the crop's centre moved up by ``shift · side``
    (the same crop when ``shift`` is 0).

    Example:
        >>> img = np.zeros((200, 200, 3), np.uint8); img[:100] = 255          # white top half
        >>> kp = np.array([[80.0, 110.0], [120.0, 110.0], [100.0, 150.0]])
        >>> a, b = shifted_crop(img, kp, 64, 1.0, 0.0), shifted_crop(img, kp, 64, 1.0, 0.2)
        >>> int((b.image[..., 0] > 127).sum()) > int((a.image[..., 0] > 127).sum())   # sees more above
        True
    """
    if shift == 0.0:
        return align_face(rgb, keypoints, size, scale)
    quad = ffhq_quad(keypoints, scale)
    src = quad[[0, 1, 3]].astype(np.float32)
    dst = np.array([[0, size * shift], [0, size * (1 + shift)], [size, size * shift]], np.float32)
    m = cv2.getAffineTransform(src, dst)
    interp = cv2.INTER_AREA if np.hypot(*(quad[3] - quad[0])) / size > 1.5 else cv2.INTER_CUBIC
    return AlignedCrop(cv2.warpAffine(rgb, m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT), m, size)


def crop_and_prior(rgb: np.ndarray, face: Face, labels: np.ndarray, size: int,
                   scale: float = CROP_SCALE, shift: float = CROP_SHIFT) -> tuple[AlignedCrop, np.ndarray]:
    """The aligned crop of ``face`` and the label map ``labels`` warped onto it (nearest).

    Args:
        rgb: ``uint8`` ``[H, W, 3]``.
        face: a face with keypoints.
        labels: ``uint8`` ``[H, W]`` (official order) of the same image.
        size: crop side.
        scale: crop scale (:data:`CROP_SCALE`).
        shift: upward shift of the crop's centre (:data:`CROP_SHIFT`).

    Returns:
        ``(crop, prior)``; ``prior`` is ``uint8`` ``[size, size]``.
    """
    crop = shifted_crop(rgb, face.keypoints, size, scale, shift)
    return crop, warp_labels(labels, crop)


def warp_labels(labels: np.ndarray, crop: AlignedCrop) -> np.ndarray:
    """``labels`` (``uint8`` ``[H, W]``) warped onto ``crop`` (nearest, reflected border): the prior."""
    return cv2.warpAffine(labels, crop.matrix, (crop.size, crop.size), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_REFLECT)


def _to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).to(device).permute(2, 0, 1)[None].float() / 255.0


def _crop_batch(image: np.ndarray, device: torch.device, mirrored: bool) -> torch.Tensor:
    """The network's input for one crop: ``[1, 3, S, S]``, or ``[2, 3, S, S]`` with its mirror image."""
    img = _to_tensor(image, device)
    return torch.cat([img, img.flip(-1)]) if mirrored else img


@dataclass(frozen=True)
class PreparedCrop:
    """What the learned step needs of one face before the geometric labels exist: its aligned crop
    and the encoder's features of it (and of its mirror image when the parse is mirrored)."""

    crop: AlignedCrop
    features: list[torch.Tensor]


def parse_order(faces: Sequence[Face]) -> list[Face]:
    """The faces the learned step refines, in the order it refines them: those with landmarks,
    smallest first (a larger face's crop then sees the smaller one already corrected)."""
    return [f for f in sorted(faces, key=lambda f: f.area) if f.landmarks is not None]


@torch.no_grad()
def prepare_crops(model: FaceParserNet, rgb: np.ndarray, faces: Sequence[Face], size: int,
                  scale: float = CROP_SCALE, shift: float = CROP_SHIFT, mirrored: bool = False) -> list[PreparedCrop]:
    """The photo-only half of :func:`refine_parsing` for every face of :func:`parse_order`: the
    crops and their encoder features (:meth:`~engine.models.parser.FaceParserNet.features`). It does
    not read the geometric labels, so it can run while the geometric parser draws them."""
    dev = next(model.parameters()).device
    out: list[PreparedCrop] = []
    for face in parse_order(faces):
        crop = shifted_crop(rgb, face.keypoints, size, scale, shift)
        out.append(PreparedCrop(crop, model.features(_crop_batch(crop.image, dev, mirrored))))
    return out


def first_argmax(logits: torch.Tensor) -> torch.Tensor:
    """``logits.argmax(0)`` for ``[C, H, W]`` logits (the first channel among equal maxima), as C − 1
    element-wise comparisons: on the CPU ``argmax`` over the channel axis of a ``[19, 181, 182]``
    map took 4.6 ms, this 1.0 ms.

    Example:
        >>> first_argmax(torch.tensor([[[1.0, 5.0]], [[2.0, 5.0]], [[0.0, 4.0]]])).tolist()
        [[1, 0]]
    """
    best = logits[0].clone()
    index = torch.zeros(best.shape, dtype=torch.long, device=logits.device)
    for c in range(1, logits.shape[0]):
        index.masked_fill_(logits[c] > best, c)
        best = torch.maximum(best, logits[c])
    return index


def add_prior_gain(logits: torch.Tensor, labels: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """``logits += gain · onehot(labels)`` in place (``[19, H, W]``, ``[H, W]`` long, ``[19]``): each
    pixel's own class gets its gain (the same sums as adding the one-hot maps, without making them)."""
    return logits.scatter_add_(0, labels[None], gain.float().to(logits.device)[labels][None])


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the ``(2r+1)²`` window (reflected border)."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_argmax(grey: np.ndarray, prob: np.ndarray, radius: int, eps: float = EDGE_EPS,
                  floor: float = SUPPORT_FLOOR, weight: np.ndarray | None = None) -> np.ndarray:
    """Arg-max of the class probabilities ``prob`` after a guided filter (He, Sun and Tang 2010)
    steered by ``grey``: each class map becomes, window by window, the linear function of the grey
    levels that fits it best, so class boundaries follow the picture's edges.

    The filter is linear in the map and keeps a constant map constant, so it can run class by class,
    and a class only over the box where it reaches ``floor`` (:data:`SUPPORT_FLOOR`), grown by the
    filter's reach; the eyes, brows, nose, lips and ears then cost a few small boxes.

    Args:
        grey: ``float32`` ``[h, w]`` guide in ``[0, 1]``.
        prob: ``float32`` ``[C, h, w]`` class probabilities.
        radius: window radius in pixels (``>= 1``).
        eps: regularisation (:data:`EDGE_EPS`).
        floor: support threshold (:data:`SUPPORT_FLOOR`), below ``1 / C``.
        weight: optional ``float32`` ``[h, w]`` share of the filtered probabilities in the result
            (1: filtered, 0: ``prob`` as it is; the crop's feathered border).

    Returns:
        ``int64`` ``[h, w]`` class indices (the first among equal maxima).

    Raises:
        ValueError: ``floor`` is not below ``1 / C`` (a pixel could be left without a class).

    Example:
        >>> grey = np.zeros((8, 8), np.float32); grey[:, 4:] = 1.0            # an edge at column 4
        >>> prob = np.zeros((2, 8, 8), np.float32)
        >>> prob[1] = [0, 0, 0.1, 0.6, 0.9, 1, 1, 1]          # a blurred boundary, one column early
        >>> prob[0] = 1.0 - prob[1]
        >>> (prob.argmax(0)[0].tolist(), guided_argmax(grey, prob, 1)[0].tolist())
        ([0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1])
    """
    if not floor < 1.0 / prob.shape[0]:
        raise ValueError(f"support floor {floor} must be below 1/{prob.shape[0]}")
    h, w = grey.shape
    reach = 2 * radius + 1
    mean_i = _box(grey, radius)
    den = _box(grey * grey, radius) - mean_i * mean_i + np.float32(eps)
    best = np.full((h, w), -np.inf, np.float32)
    index = np.zeros((h, w), np.int64)
    for c in range(prob.shape[0]):
        rows = np.flatnonzero((prob[c] > floor).any(1))
        if len(rows) == 0:
            continue
        cols = np.flatnonzero((prob[c, rows[0]:rows[-1] + 1] > floor).any(0))
        y0, y1 = max(0, int(rows[0]) - reach), min(h, int(rows[-1]) + reach + 1)
        x0, x1 = max(0, int(cols[0]) - reach), min(w, int(cols[-1]) + reach + 1)
        g, p = grey[y0:y1, x0:x1], np.ascontiguousarray(prob[c, y0:y1, x0:x1])
        mi, mp = mean_i[y0:y1, x0:x1], _box(p, radius)
        a = (_box(g * p, radius) - mi * mp) / den[y0:y1, x0:x1]
        q = _box(a, radius) * g + _box(mp - a * mi, radius)
        if weight is not None:
            q += (1.0 - weight[y0:y1, x0:x1]) * (p - q)
        win = q > best[y0:y1, x0:x1]
        best[y0:y1, x0:x1][win] = q[win]
        index[y0:y1, x0:x1][win] = c
    return index


def paste_correction(labels: np.ndarray, crop: AlignedCrop, correction: torch.Tensor,
                     gain: torch.Tensor, rgb: np.ndarray | None = None, edge: float = 0.0,
                     fade: torch.Tensor | None = None) -> None:
    """Re-label (in place) the pixels of ``labels`` inside ``crop``: arg-max of
    ``gain · onehot(labels) + correction`` sampled back from the crop (module docstring, step 3),
    after :func:`guided_argmax` when ``edge`` is on (step 4).

    Args:
        labels: ``uint8`` ``[H, W]`` geometric labels of the image (changed in place).
        crop: where the correction was computed.
        correction: ``[19, S, S]`` float logits on the crop (already feathered).
        gain: ``[19]`` prior gain.
        rgb: the photo (``uint8`` ``[H, W, 3]``), needed when ``edge`` is on.
        edge: the guided filter's radius in crop pixels (scaled to the photo's pixels, at least 1);
            0: plain arg-max.
        fade: ``[S, S]`` map the correction was feathered with (where the filtered probabilities
            fade into the plain ones; default the :data:`FEATHER` mask).
    """
    h, w = labels.shape
    s = crop.size
    corners = crop.to_image(np.array([[0, 0], [s, 0], [0, s], [s, s]], np.float32))
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, (w, h))
    if x1 <= x0 or y1 <= y0:
        return
    dev = correction.device
    ys, xs = torch.meshgrid(torch.arange(y0, y1, device=dev, dtype=torch.float32),
                            torch.arange(x0, x1, device=dev, dtype=torch.float32), indexing="ij")
    m = torch.as_tensor(crop.matrix, dtype=torch.float32, device=dev)
    u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]  # crop coordinates (pixel centres at integers)
    v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    inside = (u >= -0.5) & (u <= s - 0.5) & (v >= -0.5) & (v <= s - 0.5)
    grid = torch.stack([(u + 0.5) / s * 2 - 1, (v + 0.5) / s * 2 - 1], -1)[None]
    corr = F.grid_sample(correction[None].float(), grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)[0]
    region = torch.from_numpy(np.ascontiguousarray(labels[y0:y1, x0:x1])).to(dev).long()
    add_prior_gain(corr, region, gain)
    if edge > 0:
        if rgb is None:
            raise ValueError("the edge-aware refinement needs the photo")
        radius = max(1, int(round(edge / np.sqrt(abs(np.linalg.det(crop.matrix[:, :2]))))))
        grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
        prob = torch.softmax(corr, 0).cpu().numpy()
        if fade is None:
            fade = torch.from_numpy(feather_mask(s, FEATHER))
        weight = F.grid_sample(fade[None, None].float().to(dev), grid, mode="bilinear", padding_mode="zeros",
                               align_corners=False)[0, 0].cpu().numpy()
        new = torch.from_numpy(guided_argmax(grey, prob, radius, weight=weight)).to(dev)
    else:
        new = first_argmax(corr)
    out = torch.where(inside, new, region).to(torch.uint8).cpu().numpy()
    labels[y0:y1, x0:x1] = out


def eye_band(size: int, keypoints: np.ndarray) -> np.ndarray:
    """``bool`` ``[size, size]``: the band across a face's eyes on a ``size``² crop, from
    :data:`BAND_BELOW` below the eyes' line to :data:`BAND_ABOVE` above it and one eye-to-mouth
    distance either side of the eyes' midpoint, along the face's own axes (``keypoints`` ``[3, 2]``:
    both eye centres and the mouth centre, crop pixels).

    Example:
        >>> band = eye_band(9, np.array([[3.0, 4.0], [5.0, 4.0], [4.0, 8.0]]))   # eye-to-mouth 4 px
        >>> band[:, 4].nonzero()[0].tolist(), band[4].nonzero()[0].tolist()
        ([4], [1, 2, 3, 4, 5, 6, 7])
    """
    eyes = keypoints[:2].astype(np.float64).mean(0)
    d = max(float(np.hypot(*(keypoints[2] - eyes))), 1e-6)
    up = (eyes - keypoints[2]) / d
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    along = (xs - eyes[0]) * up[0] + (ys - eyes[1]) * up[1]
    across = (xs - eyes[0]) * up[1] - (ys - eyes[1]) * up[0]
    return (along < BAND_ABOVE * d) & (along > -BAND_BELOW * d) & (np.abs(across) < d)


def band_lost(prior: np.ndarray, decided: np.ndarray, band: np.ndarray) -> float:
    """Share of the eye ``band``'s face pixels in ``prior`` (:data:`BAND_CLASSES`) that ``decided``
    takes out of the face (no :data:`STILL_FACE` class there); 0 when the band holds no face pixel.

    Example:
        >>> band = np.ones((1, 4), bool)
        >>> band_lost(np.array([[1, 1, 1, 0]]), np.array([[0, 3, 1, 0]]), band)   # skin → background once
        0.3333333333333333
    """
    face = np.isin(prior, class_ids(BAND_CLASSES)) & band
    n = int(face.sum())
    return float((face & ~np.isin(decided, class_ids(STILL_FACE))).sum()) / n if n else 0.0


def guard_share(prior: np.ndarray, correction: torch.Tensor, gain: torch.Tensor, band: np.ndarray) -> float:
    """:func:`band_lost` of the crop's plain arg-max (``gain · onehot(prior) + correction``),
    computed over the ``band``'s bounding box only (about a tenth of the crop)."""
    ys, xs = np.nonzero(band)
    if not len(ys):
        return 0.0
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    part = np.ascontiguousarray(prior[y0:y1, x0:x1])
    logits = correction[:, y0:y1, x0:x1].clone()
    decided = first_argmax(add_prior_gain(logits, torch.from_numpy(part).to(logits.device).long(), gain))
    return band_lost(part, decided.cpu().numpy(), band[y0:y1, x0:x1])


def restore_face_skin(labels: np.ndarray, before: np.ndarray, face: Face) -> None:
    """Give back (in place) the skin and nose of ``before`` inside the mesh's outline of ``face``
    (the convex hull of its landmarks) wherever ``labels`` took them out of the face (no
    :data:`STILL_FACE` class): the face guard of :func:`refine_parsing`. The rest of the learned
    labels stay (headwear, hair, neck and cloth are often still right on such a face).

    Example:
        >>> lm = np.array([[1, 0], [3, 0], [3, 2], [1, 2]], np.float32)      # a 3 x 3 face outline
        >>> face = Face(np.array([1, 0, 3, 2], np.float32), 1.0, lm, lm[:3])
        >>> before = np.ones((3, 5), np.uint8); after = np.zeros((3, 5), np.uint8)
        >>> restore_face_skin(after, before, face); after.tolist()
        [[0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0]]
    """
    if face.landmarks is None:
        return
    hull = np.zeros(labels.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(face.landmarks).astype(np.int32)), 1)
    back = hull.astype(bool) & np.isin(before, class_ids(FACE_SKIN)) & ~np.isin(labels, class_ids(STILL_FACE))
    labels[back] = before[back]


def crop_depth(shape: tuple[int, int], crops: Sequence[AlignedCrop]) -> np.ndarray:
    """``float32`` ``[H, W]``: each pixel's distance (crop pixels) inside the deepest of ``crops``
    from that crop's border; 0 or below outside every crop.

    Example:
        >>> crop = AlignedCrop(np.zeros((4, 4, 3), np.uint8), np.array([[1.0, 0, -1], [0, 1, -1]]), 4)
        >>> crop_depth((6, 6), [crop])[2].tolist()                   # x, y = 1..4 map onto the crop
        [-0.5, 0.5, 1.5, 1.5, 0.5, -0.5]
    """
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.full(shape, -np.inf, np.float32)
    for crop in crops:
        m = crop.matrix.astype(np.float32)
        u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        s = float(crop.size)
        inner = np.minimum(np.minimum(u + 0.5, v + 0.5), np.minimum(s - 0.5 - u, s - 0.5 - v))
        np.maximum(depth, inner, out=depth)
    return depth


def extend_hat(labels: np.ndarray, crops: Sequence[AlignedCrop], ring: float = HAT_RING) -> None:
    """Carry the learned hair / hat decision past the crops (in place).

    Outside the crops and in their feathered border (:data:`FEATHER`) the labels are the geometric
    parser's, which has no ``hat``: a tall stage headdress was ``hat`` inside the crop and ``hair``
    above it, cut by a straight seam. Each ``hair`` pixel there takes the label (``hair`` or ``hat``)
    of the nearest learned ``hair`` / ``hat`` pixel of the band just inside the feather (``ring``
    crop pixels deep). Nothing changes where the learned labels hold no ``hat`` in that band.

    Example:
        >>> crop = AlignedCrop(np.zeros((50, 50, 3), np.uint8), np.array([[1.0, 0, 0], [0, 1, -10]]), 50)
        >>> labels = np.full((60, 50), 13, np.uint8); labels[12:20, :25] = 14     # hat on the left
        >>> extend_hat(labels, [crop]); labels[0, [0, 49]].tolist(), int(labels[30, 0])
        ([14, 13], 13)
    """
    hair, hat = class_ids(("hair", "hat"))
    if not crops or not (labels == hat).any():
        return
    f = max(1, int(round(crops[0].size * FEATHER)))  # (feather_mask's zero band, crop pixels)
    depth = crop_depth(labels.shape, crops)
    seeds = (depth > f) & (depth <= f + ring) & ((labels == hair) | (labels == hat))
    if not (seeds & (labels == hat)).any():
        return
    todo = (depth <= f) & (labels == hair)
    if not todo.any():
        return
    _, nearest = cv2.distanceTransformWithLabels((~seeds).astype(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    # each seed votes with its neighbours along the band (a window of HAT_VOTE of the crop side), so
    # a band that alternates hat and hair does not cast alternating stripes outwards
    k = max(3, int(round(HAT_VOTE * crops[0].size / np.sqrt(abs(np.linalg.det(crops[0].matrix[:, :2]))))) | 1)
    votes = cv2.boxFilter((seeds & (labels == hat)).astype(np.float32), -1, (k, k), normalize=False)
    count = cv2.boxFilter(seeds.astype(np.float32), -1, (k, k), normalize=False)
    ys, xs = np.nonzero(seeds)  # DIST_LABEL_PIXEL numbers the zero pixels from 1 in this (row-major) order
    seed_label = np.where(votes[ys, xs] > 0.5 * count[ys, xs], hat, hair)
    labels[todo] = np.concatenate([[hair], seed_label]).astype(np.uint8)[nearest[todo]]


def ban_kept(correction: torch.Tensor, keep: Sequence[int], fade: torch.Tensor) -> None:
    """Lower (in place) the ``[19, S, S]`` feathered ``correction``'s logits of the ``keep`` classes
    by :data:`BANNED_LOGIT` × ``fade``: the network may not pick a class kept from the geometric
    parser, so a pixel it would give one takes its best other class (:func:`keep_mesh_classes` then
    gives the kept classes back where the geometric parser drew them); at the crop border, where
    the correction fades out, the prior's label stands as before.

    Example:
        >>> corr = torch.tensor([[[0.0, 0.0]], [[5.0, 5.0]], [[1.0, 1.0]]])
        >>> ban_kept(corr, (1,), torch.tensor([[1.0, 0.0]])); first_argmax(corr).tolist()
        [[2, 1]]
    """
    if keep:
        correction[list(keep)] -= BANNED_LOGIT * fade


def keep_mesh_classes(labels: np.ndarray, geometric: np.ndarray, keep: Sequence[int]) -> None:
    """Put the mesh-drawn classes ``keep`` back (in place): their pixels in ``geometric`` take their
    geometric label again, and no other pixel keeps one of them. A checkpoint's card names them
    (``keep_mesh_classes``) when its cross-validation found the network's version of them worse
    than the mesh's sub-pixel contours on some source (the lips on the CelebAMask pairs).

    Example:
        >>> geo = np.array([[11, 11, 1]], np.uint8); new = np.array([[1, 11, 11]], np.uint8)
        >>> keep_mesh_classes(new, geo, (11,)); new.tolist()
        [[11, 11, 1]]
    """
    if not keep:
        return
    mine = np.isin(geometric, keep)
    labels[mine] = geometric[mine]
    taken = np.isin(labels, keep) & ~mine
    labels[taken] = geometric[taken]


def bound_to_mesh(labels: np.ndarray, geometric: np.ndarray, bounded: Sequence[int]) -> None:
    """Keep the classes ``bounded`` inside the geometric parser's own regions of them (in place): a
    pixel the network gives one of them where the mesh did not draws its geometric label again, so
    the network may take pixels out of such a region but never add any. A checkpoint's card names
    them (``mesh_bounded_classes``): the eyes, whose mesh eyelid contours are sub-pixel precise on
    real faces while the network, at its crop's lower resolution, grew them past the eyelids on
    the CelebAMask pairs (see the training's cross-validation).

    Example:
        >>> geo = np.array([[1, 4, 4, 1]], np.uint8); new = np.array([[4, 4, 1, 1]], np.uint8)
        >>> bound_to_mesh(new, geo, (4,)); new.tolist()
        [[1, 4, 1, 1]]
    """
    if not bounded:
        return
    grown = np.isin(labels, bounded) & (labels != geometric)
    labels[grown] = geometric[grown]


@torch.no_grad()
def crop_correction(model: FaceParserNet, image: np.ndarray, prior: np.ndarray, mirrored: bool = False,
                    features: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The network's ``[19, S, S]`` correction logits for one aligned crop and its prior labels.

    Args:
        model: the network, in eval mode, on its device.
        image: ``uint8`` ``[S, S, 3]`` crop.
        prior: ``uint8`` ``[S, S]`` geometric labels on the crop.
        mirrored: also run the crop mirrored left-right (prior mirrored, its left/right classes
            swapped) and average the two, the mirrored one mirrored back with its left/right
            channels swapped again (test-time augmentation: the network was trained on mirrored
            faces too, so each view's errors are partly its own).
        features: the encoder's features of the crop (and of its mirror image when ``mirrored``),
            :attr:`PreparedCrop.features`, when already computed.
    """
    dev = next(model.parameters()).device
    if features is None:
        features = model.features(_crop_batch(image, dev, mirrored))
    lab = torch.from_numpy(np.ascontiguousarray(prior)).to(dev)[None].long().clamp(0, NUM_CLASSES - 1)
    if not mirrored:
        return model.decode(features, model.one_hot(lab))[0]
    perm = torch.from_numpy(_mirror_permutation().copy()).to(dev)
    both = model.decode(features, model.one_hot(torch.cat([lab, perm[lab.flip(-1)]])))
    return (both[0] + both[1].flip(-1)[perm]) / 2


@torch.no_grad()
def refine_parsing(rgb: np.ndarray, faces: Sequence[Face], geometric: np.ndarray, model: FaceParserNet,
                   size: int, scale: float = CROP_SCALE, shift: float = CROP_SHIFT,
                   keep: Sequence[int] = (), mirrored: bool = False,
                   prepared: Sequence[PreparedCrop] | None = None, edge: float = 0.0,
                   guard: float = 1.0, shares: list[float] | None = None, hat: bool = False,
                   bounded: Sequence[int] = ()) -> np.ndarray:
    """The learned parsing of ``rgb`` given its geometric parsing (module docstring).

    A face whose eye band the network would take out of the face by more than ``guard``
    (:func:`band_lost` of its crop's plain arg-max) gets its geometric skin and nose back inside the
    mesh's outline (:func:`restore_face_skin`): where the network and the mesh disagree that much on
    where the face is, the network has failed (a white-painted stage face on a white backdrop turned
    to background).

    Args:
        rgb: ``uint8`` ``[H, W, 3]``.
        faces: the faces the geometric parsing was drawn from (those with landmarks are refined).
        geometric: ``uint8`` ``[H, W]`` geometric labels (official order).
        model: the network, in eval mode, on its device.
        size: crop side (the card's ``input_size``).
        scale: crop scale.
        shift: upward shift of the crop's centre (share of the side).
        keep: classes left as the geometric parser draws them (:func:`keep_mesh_classes`).
        mirrored: average each crop's correction with its mirror image's (:func:`crop_correction`).
        prepared: :func:`prepare_crops` of the same photo, faces and settings, when already made.
        edge: radius (crop pixels) of the edge-aware refinement (:func:`guided_argmax`); 0: off.
        guard: the face guard's share (a card's ``face_guard``, :data:`FACE_GUARD` for the shipped
            one); 1.0 (the default): off.
        shares: when given, the :func:`band_lost` share of every refined face is appended to it (in
            :func:`parse_order`; the guard gave back the skin of those above ``guard``).
        hat: carry the learned hair / hat decision past the crops (:func:`extend_hat`; a card's
            ``extend_hat``).
        bounded: classes the network may shrink but not grow past the geometric parser's regions of
            them (:func:`bound_to_mesh`; a card's ``mesh_bounded_classes``).

    Returns:
        New ``uint8`` ``[H, W]`` label map; ``geometric`` is not modified.

    Raises:
        ValueError: ``prepared`` holds another number of faces than :func:`parse_order` gives.
    """
    out = geometric.copy()
    dev = next(model.parameters()).device
    fade = torch.from_numpy(feather_mask(size, FEATHER)).to(dev)
    if prepared is None:
        prepared = prepare_crops(model, rgb, faces, size, scale, shift, mirrored)
    elif len(prepared) != (n := len(parse_order(faces))):
        raise ValueError(f"prepared crops of {len(prepared)} faces for {n}")
    elif any(p.crop.size != size or p.features[0].shape[0] != (2 if mirrored else 1) for p in prepared):
        raise ValueError(f"prepared crops of another size or mirroring than {size}² "
                         f"({'' if mirrored else 'not '}mirrored)")
    gain = model.prior_gain.detach()
    for face, prep in zip(parse_order(faces), prepared, strict=True):
        # each prior is drawn from the labels so far: a larger face sees the smaller corrected
        prior = warp_labels(out, prep.crop)
        corr = crop_correction(model, prep.crop.image, prior, mirrored, prep.features) * fade
        lost = 0.0
        if guard < 1.0 or shares is not None:  # (on the network's own pick, kept classes included)
            lost = guard_share(prior, corr, gain, eye_band(size, prep.crop.to_crop(face.keypoints)))
        ban_kept(corr, keep, fade)
        if shares is not None:
            shares.append(lost)
        before = out.copy() if lost > guard else None
        paste_correction(out, prep.crop, corr, gain, rgb, edge, fade)
        if before is not None:
            restore_face_skin(out, before, face)
    keep_mesh_classes(out, geometric, keep)
    bound_to_mesh(out, geometric, bounded)
    if hat:
        extend_hat(out, [p.crop for p in prepared])
    return out


def class_ids(names: Sequence[str] | object, key: str = "keep_mesh_classes") -> tuple[int, ...]:
    """Official-order ids of class ``names`` (a card's ``keep_mesh_classes`` or another ``key``).

    Raises:
        CheckpointError: not a list of class names of the official order.
    """
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{key} must be a list of class names, got {names!r}")
    try:
        return tuple(SCHEMES["celebamask_hq"].index(n) for n in names)
    except KeyError as exc:
        raise CheckpointError(f"{key}: {exc.args[0] if exc.args else exc}") from None


def face_guard(value: object) -> float:
    """A card's ``face_guard`` (:func:`refine_parsing`'s ``guard``) checked: a share in ``(0, 1]``.

    Raises:
        CheckpointError: not a number in ``(0, 1]``.

    Example:
        >>> face_guard(0.5), face_guard(1)
        (0.5, 1.0)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
        raise CheckpointError(f"face_guard must be a share above 0 and at most 1, got {value!r}")
    return float(value)


def card_options(extra: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`refine_parsing`'s ``keep``, ``mirrored``, ``edge``, ``guard``, ``hat`` and ``bounded`` as
    a card's ``extra`` names them (``keep_mesh_classes``, ``mirror_tta``, ``edge_refine``,
    ``face_guard``, ``extend_hat``, ``mesh_bounded_classes``), checked; what a card does not name is
    off, as it was scored.

    Raises:
        CheckpointError: a value out of range.

    Example:
        >>> card_options({"mirror_tta": True, "face_guard": 0.25})
        {'keep': (), 'mirrored': True, 'edge': 0.0, 'guard': 0.25, 'hat': False, 'bounded': ()}
    """
    return {"keep": class_ids(extra.get("keep_mesh_classes", ())), "mirrored": bool(extra.get("mirror_tta", False)),
            "edge": edge_radius(extra.get("edge_refine", 0.0)), "guard": face_guard(extra.get("face_guard", 1.0)),
            "hat": bool(extra.get("extend_hat", False)), "bounded": class_ids(extra.get("mesh_bounded_classes", ()), "mesh_bounded_classes")}


def edge_radius(value: object) -> float:
    """A card's ``edge_refine`` radius (crop pixels; 0: off).

    Raises:
        CheckpointError: not a number from 0 to 8.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 8.0:
        raise CheckpointError(f"edge_refine must be a radius from 0 to 8 crop pixels, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ParserChoice:
    """Which parser ``analyze`` runs and why.

    Args:
        learned: the learned parser runs.
        reason: one sentence for people.
        path: the card read, if any.
    """

    learned: bool
    reason: str
    path: Path | None = None


def resolve_parser(requested: str, roots: Sequence[Path] | None = None) -> ParserChoice:
    """Decide between the geometric and the learned parser from the card only (no weights read).

    Args:
        requested: ``"auto"`` (learned only when its card's verdict says better), ``"learned"``
            (must be usable) or ``"geometric"``.
        roots: checkpoint folders (default :func:`engine.weights.store.checkpoint_roots`).

    Returns:
        :class:`ParserChoice`.

    Raises:
        CheckpointError: ``"learned"`` requested without a usable checkpoint.
        ValueError: unknown ``requested``.
    """
    if requested == "geometric":
        return ParserChoice(False, "geometric parser requested")
    if requested not in ("auto", "learned"):
        raise ValueError(f"parser must be auto, learned or geometric, got {requested!r}")
    path = store.find_checkpoint(MODEL_NAME, list(roots) if roots is not None else None)
    if path is None:
        problem = f"no trained {MODEL_NAME} checkpoint (train one with `{TRAIN_HINT}`)"
    else:
        st = store.probe_checkpoint(path)
        problem = "" if st.loadable and st.card is not None else st.reason
        if not problem and st.card is not None:
            card = st.card
            if requested == "learned":
                return ParserChoice(True, "learned parser requested", st.path)
            v = card.verdict
            if v is not None and v.better:
                return ParserChoice(True, f"learned parser measured better than the geometric parser ({v.measure})",
                                    st.path)
            why = "was never measured" if v is None else "did not measure better"
            return ParserChoice(False, f"geometric: the learned parser {why} than the geometric parser", st.path)
    if requested == "learned":
        raise CheckpointError(f"the learned parser is not available: {problem}")
    return ParserChoice(False, f"geometric: {problem}", path)


class LearnedParser:
    """A loaded learned parser: ``parse(rgb, faces, geometric) → labels``.

    Args:
        path: the checkpoint's card.
        device: torch device (default :func:`engine.device.select_device`).

    Raises:
        CheckpointError: the checkpoint does not load (corrupt, wrong model, refused).

    The network is prepared for inference once: batch norms folded into their convolutions
    (:func:`~engine.nn.features.fold_batchnorm`), on the CPU in channels-last memory format.

    :meth:`begin` starts the photo-only half of the step (crops and encoder) on the parser's own
    thread, so that it runs while the geometric parser draws the prior; :meth:`parse` then finishes it.
    """

    def __init__(self, path: Path, device: str | None = None) -> None:
        dev = select_device(device).device
        model, card = store.load_checkpoint(path, device=dev)  # looked up at call time (tests patch it)
        if not isinstance(model, FaceParserNet):
            raise CheckpointError(f"{path.name} holds a {card.model!r}, not {MODEL_NAME!r}")
        self.model = fold_batchnorm(model.float().eval())
        self.device = torch.device(dev)
        if self.device.type == "cpu":  # oneDNN's convolutions on channels-last weights: the mirrored pair of
            # 160² crops took 24 ms instead of 36 with 2 threads (45 vs 52 with 1), same outputs
            self.model = to_channels_last(self.model)
        self.last_threads = 0  # torch threads of the last CPU parse (0: none yet)
        self.threads: int | None = None  # a fixed thread count for the CPU parse (None: inference_threads())
        self.card = card
        self.size = int(card.input_size[0]) if card.input_size else 192
        self.scale = float(card.extra.get("crop_scale", CROP_SCALE))
        self.shift = float(card.extra.get("crop_shift", CROP_SHIFT))
        opts = card_options(card.extra)
        self.keep: tuple[int, ...] = opts["keep"]
        self.mirrored: bool = opts["mirrored"]
        self.edge: float = opts["edge"]
        self.guard: float = opts["guard"]  # refine_parsing's face guard (1.0: off)
        self.hat: bool = opts["hat"]  # refine_parsing's extend_hat
        self.bounded: tuple[int, ...] = opts["bounded"]  # refine_parsing's mesh-bounded classes
        self.overlap = True  # False: begin() starts nothing and parse() runs the whole step itself
        self._beside = SideThread("learned-parser")  # where begin() runs

    def _threads(self) -> int:
        return self.threads or inference_threads()

    def begin(self, rgb: np.ndarray, faces: Sequence[Face]) -> Future[list[PreparedCrop]] | None:
        """Start :func:`prepare_crops` of ``rgb`` on the parser's own thread and return at once;
        hand the result to :meth:`parse`. ``None`` (nothing started: :meth:`parse` runs the whole
        step) when :attr:`overlap` is off, when the CPU parse may use only one torch thread (a
        batch worker computes on one thread: a second busy thread would only take another worker's
        core), or when the interpreter is shutting down.

        On the CPU it runs with one torch thread fewer than :meth:`parse` would use, at least one:
        MediaPipe's person mask and the geometric parser (numpy and OpenCV) have the other core
        meanwhile. On the 2-core workplace the astronaut at 512² then took 52.9 ms for person mask,
        geometric labels and encoder together instead of 69.8 ms one after the other (median of 35).
        """
        cpu = self.device.type == "cpu"
        if not self.overlap or (cpu and (self.threads or torch.get_num_threads()) < 2):
            return None
        threads = max(1, self._threads() - 1) if cpu else 0

        def run() -> list[PreparedCrop]:
            with torch_threads(threads) if cpu else contextlib.nullcontext():
                return prepare_crops(self.model, rgb, faces, self.size, self.scale, self.shift, self.mirrored)

        return self._beside.try_submit(run)

    @staticmethod
    def abandon(prepared: Future[list[PreparedCrop]] | None) -> None:
        """Drop what :meth:`begin` started when the parse will not happen (the geometric parser
        failed): cancelled if it has not started, else waited for (it may still read the photo),
        its own error ignored."""
        if prepared is not None and not prepared.cancel():
            wait([prepared])

    def parse(self, rgb: np.ndarray, faces: Sequence[Face], geometric: np.ndarray,
              prepared: Future[list[PreparedCrop]] | None = None, shares: list[float] | None = None) -> np.ndarray:
        """Learned labels of ``rgb`` (see :func:`refine_parsing`), on the CPU with ``threads`` torch
        threads, by default :func:`~engine.device.inference_threads` (the count used is kept in ``last_threads``).

        Args:
            rgb: ``uint8`` ``[H, W, 3]``.
            faces: its faces.
            geometric: its geometric labels.
            prepared: what :meth:`begin` returned for the same ``rgb`` and ``faces`` (waited for
                here), or ``None`` to run the whole step now.
            shares: when given, gets the :func:`band_lost` share of every refined face
                (:func:`refine_parsing`; the face guard gave back the skin of those above :attr:`guard`).
        """
        crops = prepared.result() if prepared is not None else None

        def run() -> np.ndarray:
            return refine_parsing(rgb, faces, geometric, self.model, self.size, self.scale, self.shift, self.keep,
                                  self.mirrored, crops, self.edge, self.guard, shares, self.hat, self.bounded)

        if self.device.type != "cpu":
            return run()
        self.last_threads = self._threads()
        with torch_threads(self.last_threads):
            return run()
