"""Mask-wear studio, learned engine: the refiner of :mod:`engine.models.maskwear_stn`.

The refiner predicts a homography residual on the key-point fit
(:mod:`engine.studios.maskwear.classical`) from an aligned 144² face crop with the key-point-fitted
template drawn on it; the correction it makes is applied to the six key-point targets themselves,
so an untrained (zero) residual leaves them exactly where they were. It is trained by
:mod:`engine.training.maskwear`, which imports the helpers below.

:data:`MASK_REFINER` is the studio's :class:`~engine.studios.base.LearnedBackend` (checkpoint
``maskwear_stn_g``, whose verdict compares it with the ``keypoint`` fit): ``method="auto"`` runs the
refiner only when its card's verdict says it measured better; otherwise, without a checkpoint, or
when it cannot be loaded, the key-point fit runs and the resolution's reason says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from engine.device import module_device
from engine.errors import CheckpointError
from engine.faces.align import align_face
from engine.faces.types import Face
from engine.procedural.mask_templates import MaskTemplate, derived
from engine.studios.base import LearnedBackend, Resolution
from engine.studios.maskwear.params import METHOD_BACKENDS, METHODS
from engine.weights.card import ModelCard

if TYPE_CHECKING:  # torch and the model are imported where a refiner runs: a key-point worker never does
    import torch

    from engine.models.maskwear_stn import MaskWearGenerator

REFINER_MODEL = "maskwear_stn_g"
"""Registry name of the refiner's checkpoint."""
CROP = 144
"""Side of the aligned face crop the refiner sees."""
TEMPLATE_SIZE = (128, 100)
"""Templates are resized to this (width, height) for the network (built-ins are 512 × 400)."""


def to_normalised(points: np.ndarray, w: float, h: float) -> np.ndarray:
    """Pixel points ``[N, 2]`` of a ``w × h`` picture → normalised [-1, 1] coordinates
    (``align_corners=True`` convention)."""
    return np.stack([points[:, 0] / (w - 1) * 2 - 1, points[:, 1] / (h - 1) * 2 - 1], 1)


def from_normalised(points: np.ndarray, w: float, h: float) -> np.ndarray:
    """Normalised [-1, 1] points ``[N, 2]`` → pixels of a ``w × h`` picture (inverse of
    :func:`to_normalised`)."""
    return np.stack([(points[:, 0] + 1) / 2 * (w - 1), (points[:, 1] + 1) / 2 * (h - 1)], 1)


def keypoint_homography(template: MaskTemplate, targets_crop: np.ndarray, size: int = CROP) -> np.ndarray:
    """Least-squares homography (normalised coordinates) from the template's anchors to crop points.

    Args:
        template: the (network-sized) template.
        targets_crop: ``[6, 2]`` anchor targets in pixels of the ``size × size`` crop.
        size: side of the crop.

    Returns:
        ``float64`` ``[3, 3]`` with ``h[2, 2] == 1``.

    Raises:
        ValueError: the anchors are degenerate (no homography).
    """
    th, tw = template.rgba.shape[:2]
    src = to_normalised(template.anchor_array(), tw, th).astype(np.float64)
    dst = to_normalised(np.asarray(targets_crop, np.float64), size, size)
    h, _ = cv2.findHomography(src, dst, 0)
    if h is None:
        raise ValueError("degenerate anchors: no homography")
    return h / h[2, 2]


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points ``[N, 2]`` through the homography ``h`` ``[3, 3]``; returns ``[N, 2]``."""
    p = np.c_[points, np.ones(len(points))] @ h.T
    return p[:, :2] / p[:, 2:3]


def small_template(t: MaskTemplate) -> MaskTemplate:
    """``t`` resized to :data:`TEMPLATE_SIZE`, anchors scaled with it (made once per template and
    anchors)."""
    return derived(t, ("small", t.name, t.kind, tuple(sorted(t.anchors.items()))), _small_template)


def _small_template(t: MaskTemplate) -> MaskTemplate:
    th, tw = t.rgba.shape[:2]
    sx, sy = TEMPLATE_SIZE[0] / tw, TEMPLATE_SIZE[1] / th
    small = cv2.resize(np.asarray(t.rgba), TEMPLATE_SIZE, interpolation=cv2.INTER_AREA)
    return MaskTemplate(t.name, small, {k: (x * sx, y * sy) for k, (x, y) in t.anchors.items()}, t.kind)


def faces_to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """``uint8`` ``[N, H, W, 3]`` → ``float32`` ``[N, 3, H, W]`` in [0, 1] on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0).to(device)  # [NCHW]


class LearnedRefiner:
    """Refine the key-point targets of a face with a trained generator (on the generator's device).

    Args:
        model: a :class:`~engine.models.maskwear_stn.MaskWearGenerator` (put in eval mode).
    """

    def __init__(self, model: MaskWearGenerator) -> None:
        self.model = model.eval()

    @property
    def device(self) -> torch.device:
        """Where the generator's parameters live (inputs are moved there)."""
        return module_device(self.model)

    def refine(self, image: np.ndarray, face: Face, template: MaskTemplate, targets: np.ndarray) -> np.ndarray:
        """Refined image-space targets for ``face``.

        Args:
            image: ``uint8`` RGB ``[H, W, 3]``.
            face: the analysed face (its eye / mouth key points align the crop).
            template: the template being fitted.
            targets: ``[6, 2]`` key-point targets (the start).

        Returns:
            ``float32`` ``[6, 2]`` refined targets in image pixels.
        """
        import torch

        from engine.models.maskwear_stn import matrix_to_params, params_to_matrix, warp_rgba

        device = self.device
        crop = align_face(image, face.keypoints, CROP)
        tsmall = small_template(template)
        hk = keypoint_homography(tsmall, crop.to_crop(targets))
        tmpl = torch.from_numpy(np.ascontiguousarray(tsmall.rgba)).permute(2, 0, 1).float().div(255.0)[None].to(device)
        h_in = torch.tensor(hk, dtype=torch.float32)[None].to(device)
        warped = warp_rgba(tmpl, h_in, CROP)
        face_t = faces_to_tensor(crop.image[None], device)
        with torch.no_grad():
            delta = self.model(torch.cat([face_t, warped[:, :3], warped[:, 3:4]], 1))
            h = params_to_matrix(matrix_to_params(h_in) + delta)[0].cpu().numpy().astype(np.float64)
        # the correction the network made, applied to the key-point targets themselves: a zero
        # residual leaves them exactly where they were
        correction = h @ np.linalg.inv(hk)
        crop_pts = from_normalised(
            apply_homography(correction, to_normalised(crop.to_crop(targets).astype(np.float64), CROP, CROP)),
            CROP, CROP)
        return crop.to_image(crop_pts.astype(np.float32))


def _conv2d_hwc(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, k: int, stride: int) -> np.ndarray:
    """``torch.nn.functional.conv2d(…, stride, padding=k // 2)`` for one channels-last image:
    ``x`` ``[H, W, C]``, ``weight`` ``[k·k·C, O]`` (rows in ``(ky, kx, c)`` order, see
    :func:`_conv_matrix`) → ``[⌈H / stride⌉, ⌈W / stride⌉, O]`` (float32).

    Channels last, each window row ``(kx, c)`` is one contiguous run of the padded input, so the
    im2col copy reads runs of ``k·C`` floats instead of single strided ones; one matrix product."""
    h, w, c = x.shape
    pad = k // 2
    xp = np.ascontiguousarray(np.pad(x, ((pad, pad), (pad, pad), (0, 0))))  # the strides below need C order
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    s0, s1, s2 = xp.strides
    windows = np.lib.stride_tricks.as_strided(xp, (ho, wo, k, k * c), (s0 * stride, s1 * stride, s0, s2),
                                              writeable=False)
    cols = windows.reshape(ho * wo, k * k * c)  # [Ho·Wo, k·k·C] (the one copy)
    return (cols @ weight + bias).reshape(ho, wo, -1)


def _conv_matrix(weights: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Convolutions over the same input (``[O_i, C, k_i, k_i]``, odd ``k_i``, padding ``k_i // 2``)
    as one ``[k·k·C, ΣO_i]`` matrix for :func:`_conv2d_hwc` and its ``k`` (the largest): smaller
    kernels sit zero-padded in the centre, which leaves each output the same (a PyConv level's
    kernels then share one im2col)."""
    k = max(int(w.shape[2]) for w in weights)
    mats = []
    for w in weights:
        o, c, kw, _ = w.shape
        p = (k - kw) // 2
        full = np.zeros((o, c, k, k), np.float32)
        full[:, :, p:p + kw, p:p + kw] = w
        mats.append(full.transpose(2, 3, 1, 0).reshape(k * k * c, o))
    return np.ascontiguousarray(np.concatenate(mats, 1)), k


def _leaky(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.2 * x)


def warp_template_numpy(template: np.ndarray, h: np.ndarray, size: int) -> np.ndarray:
    """:func:`engine.models.maskwear_stn.warp_rgba` without torch, for one template.

    Args:
        template: ``float32`` ``[Ht, Wt, 4]`` in [0, 1].
        h: ``[3, 3]`` template → crop homography in normalised coordinates.
        size: crop side.

    Returns:
        ``float32`` ``[size, size, 4]``; 0 (transparent) outside the template.
    """
    th, tw = template.shape[:2]

    def to_pixels(w: int, h_: int) -> np.ndarray:  # normalised [-1, 1] → pixel centres 0 … side - 1
        return np.array([[(w - 1) / 2, 0, (w - 1) / 2], [0, (h_ - 1) / 2, (h_ - 1) / 2], [0, 0, 1]], np.float64)

    crop_to_template = to_pixels(tw, th) @ np.linalg.inv(h) @ np.linalg.inv(to_pixels(size, size))
    return cv2.warpPerspective(template, crop_to_template, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


class NumpyRefiner:
    """The refiner's network run in numpy on the CPU, from the same safetensors weights as
    :class:`LearnedRefiner` and with the same result (within float rounding; tested): a worker
    that refines never imports torch. The network is tiny (about 31 M multiply-adds on one 144²
    crop), so a GPU would not make it faster; torch's start-up alone (~1 s per process) cost a
    batch more than all its refinements. It runs channels last, each PyConv layer's kernels as one
    convolution (the smaller ones zero-padded to the largest): 2.4 ms a crop on one thread, against
    4.4 ms for per-kernel, channels-first im2col.

    Args:
        weights: the generator's state dict as ``float32`` arrays (``stem.0.*``, ``body.{0,2,4,6}.levels.*``,
            ``head.*``).
        max_delta: the generator's ``max_delta`` (tanh bound of each homography entry).
    """

    device_name = "cpu"
    """Where it runs (:func:`engine.device.module_device_name`)."""

    def __init__(self, weights: dict[str, np.ndarray], max_delta: float) -> None:
        self.w = {k: np.ascontiguousarray(v, np.float32) for k, v in weights.items()}
        self.max_delta = float(max_delta)
        levels = [sorted({int(k.split(".")[3]) for k in self.w if k.startswith(f"body.{i}.levels.")})
                  for i in (0, 2, 4, 6)]
        # the stem and each PyConv layer as one channels-last convolution (weights [k·k·C, O], k, bias)
        self.layers: list[tuple[np.ndarray, int, np.ndarray]] = [
            (*_conv_matrix([self.w["stem.0.weight"]]), self.w["stem.0.bias"])]
        for i, js in zip((0, 2, 4, 6), levels, strict=True):
            mat, k = _conv_matrix([self.w[f"body.{i}.levels.{j}.weight"] for j in js])
            self.layers.append((mat, k, np.concatenate([self.w[f"body.{i}.levels.{j}.bias"] for j in js])))

    def residual(self, x: np.ndarray) -> np.ndarray:
        """The network's ``[8]`` homography residual for one ``[144, 144, 7]`` channels-last input
        (as :class:`~engine.models.maskwear_stn.MaskWearGenerator` ``forward`` on its ``[7, 144, 144]``
        transpose)."""
        f = x
        for mat, k, bias in self.layers:
            f = _leaky(_conv2d_hwc(f, mat, bias, k, 2))
        pooled = f.mean(axis=(0, 1))
        return np.tanh(self.w["head.weight"] @ pooled + self.w["head.bias"]) * self.max_delta

    def refine(self, image: np.ndarray, face: Face, template: MaskTemplate, targets: np.ndarray) -> np.ndarray:
        """Refined image-space targets for ``face`` (as :meth:`LearnedRefiner.refine`)."""
        crop = align_face(image, face.keypoints, CROP)
        tsmall = small_template(template)
        hk = keypoint_homography(tsmall, crop.to_crop(targets)).astype(np.float32).astype(np.float64)
        warped = warp_template_numpy(np.asarray(tsmall.rgba, np.float32) / 255.0, hk, CROP)
        face_f = np.asarray(crop.image, np.float32) / 255.0
        x = np.concatenate([face_f, warped], 2)  # [144, 144, 7]: face RGB, mask RGB, mask alpha
        delta = self.residual(np.ascontiguousarray(x, np.float32)).astype(np.float64)
        h = np.append((hk / hk[2, 2]).reshape(9)[:8] + delta, 1.0).reshape(3, 3)
        correction = h @ np.linalg.inv(hk)
        crop_pts = from_normalised(
            apply_homography(correction, to_normalised(crop.to_crop(targets).astype(np.float64), CROP, CROP)),
            CROP, CROP)
        return crop.to_image(crop_pts.astype(np.float32))


def refiner_weight_shapes(width: int, in_channels: int = 7) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of an ungrouped :class:`~engine.models.maskwear_stn.MaskWearGenerator`
    of ``width`` (what :class:`NumpyRefiner` runs)."""
    w = width
    shapes: dict[str, tuple[int, ...]] = {"stem.0.weight": (w, in_channels, 7, 7), "stem.0.bias": (w,),
                                          "head.weight": (8, 8 * w), "head.bias": (8,)}
    for i, cin, cout, kernels in ((0, w, 2 * w, (3, 5, 7, 9)), (2, 2 * w, 4 * w, (3, 5, 7, 9)),
                                  (4, 4 * w, 8 * w, (3, 5)), (6, 8 * w, 8 * w, (3,))):
        per = cout // len(kernels)
        for j, k in enumerate(kernels):
            shapes[f"body.{i}.levels.{j}.weight"] = (per, cin, k, k)
            shapes[f"body.{i}.levels.{j}.bias"] = (per,)
    return shapes


def load_numpy_refiner(path: Path) -> NumpyRefiner:
    """The :class:`NumpyRefiner` of the checkpoint at ``path`` (card, weights or stem): the card is
    read and checked, the weights file's SHA-256 compared with it, and every tensor's name and
    shape checked against the architecture the card's ``kwargs`` describe (as ``strict=True``).

    Raises:
        CheckpointError: the card is not a usable ``maskwear_stn_g`` card, the weights are missing,
            corrupt, replaced, or do not fit the architecture (one line).
    """
    import hashlib

    import safetensors.numpy
    from safetensors import SafetensorError

    from engine.weights.card import card_path_for, read_card

    card = read_card(path)
    if card.model != REFINER_MODEL:
        raise CheckpointError(f"{card_path_for(path).name} holds {card.model!r}, not the mask refiner {REFINER_MODEL!r}")
    kw = dict(card.kwargs)
    if kw.get("grouped", False) or int(kw.get("in_channels", 7)) != 7:
        raise CheckpointError(f"{card_path_for(path).name}: only the ungrouped 7-channel refiner runs without torch")
    weights_path = card_path_for(path).parent / card.weights
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{weights_path}: cannot be read ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != card.sha256:
        raise CheckpointError(f"{weights_path}: hash mismatch, file corrupt or replaced")
    try:
        state = safetensors.numpy.load(data)
    except (SafetensorError, ValueError) as exc:
        raise CheckpointError(f"{weights_path}: not a readable safetensors file ({exc})") from None
    want = refiner_weight_shapes(int(kw.get("width", 16)))
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    shaped = sorted(k for k in set(want) & set(state) if tuple(state[k].shape) != want[k])
    if missing or unexpected or shaped:
        raise CheckpointError(f"{weights_path.name} does not fit the refiner: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}, mis-shaped {shaped[:3]}")
    return NumpyRefiner({k: state[k].astype(np.float32) for k in want}, float(kw.get("max_delta", 0.3)))


def _load_refiner(path: Path, device: Any) -> NumpyRefiner:
    """The studio's refiner for the checkpoint at ``path``: :class:`NumpyRefiner` (the CPU, whatever
    ``device``; see there why)."""
    return load_numpy_refiner(path)


def _card_summary(card: ModelCard) -> str:
    """The card's nose coverage against the key-point fit's, in words."""
    m = card.metrics
    nose, kp = m.get("coverage_nose"), m.get("keypoint_coverage_nose")
    if not isinstance(nose, (int, float)) or not isinstance(kp, (int, float)):
        return ""
    return f"nose coverage {nose:.3f} vs key-point {kp:.3f}"


MASK_REFINER = LearnedBackend(
    REFINER_MODEL,
    title="the learned mask refiner",
    classical="the key-point fit",
    train_hint="masquerade train maskwear-stn",
    describe=_card_summary,
    load=_load_refiner,
    cpu_only=True,
)
"""The mask-wear studio's learned engine (cards read by ``resolve``; loaded in the worker)."""


def method_resolution(method: str) -> Resolution:
    """Which fitting runs for ``method`` and why; reads cards only (cheap, safe on the GUI thread).

    Args:
        method: ``"auto"``, ``"keypoint"`` (the classical twin) or ``"learned"``.

    Returns:
        The :class:`~engine.studios.base.Resolution`: ``backend`` ``"neural"`` = the learned
        refiner, ``"classical"`` = the key-point fit.

    Raises:
        ValueError: unknown method.
        LearnedBackendError: ``"learned"`` requested without a usable checkpoint (one line).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return MASK_REFINER.resolve(METHOD_BACKENDS[method])
