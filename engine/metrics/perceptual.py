"""LPIPS (Zhang et al. 2018, "The unreasonable effectiveness of deep features as a perceptual
metric"), v0.1 with the VGG-16 backbone — only from weights the user put in the third-party
folder (torchvision's ``vgg16-397923af.pth`` and the LPIPS heads ``lpips_vgg_v0.1.pth``).

There are no such weights in this project and nothing is downloaded: :func:`load_lpips` raises
:class:`~engine.metrics.distribution.MetricUnavailable` when they are absent, and reports then say
"unavailable" instead of a number from an untrained network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.metrics.distribution import MetricUnavailable

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_VGG_CUTS = (4, 9, 16, 23, 30)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of torchvision's vgg16.features


class LPIPS(nn.Module):
    """Learned perceptual distance: unit-normalised backbone features, squared differences, 1×1 heads.

    Args:
        stages: backbone stages applied in sequence; each output is compared.
        heads: one module per stage mapping ``C`` difference channels to 1 (LPIPS' linear layers).
        name: what the weights are (written next to every number).
    """

    def __init__(self, stages: Sequence[nn.Module], heads: Sequence[nn.Module], name: str) -> None:
        super().__init__()
        if len(stages) != len(heads) or not stages:
            raise ValueError("LPIPS needs one head per backbone stage")
        self.stages = nn.ModuleList(stages)
        self.heads = nn.ModuleList(heads)
        self.name = name
        self.shift: torch.Tensor
        self.scale: torch.Tensor
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distances ``[N]`` between images ``x``, ``y`` in [-1, 1], ``[N, 3, H, W]``."""
        fx, fy = (x - self.shift) / self.scale, (y - self.shift) / self.scale
        total = torch.zeros(x.shape[0], device=x.device)
        for stage, head in zip(self.stages, self.heads, strict=True):
            fx, fy = stage(fx), stage(fy)
            nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + head((nx - ny) ** 2).mean(dim=(1, 2, 3))
        return total

    @torch.no_grad()
    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """LPIPS of two ``uint8`` RGB images of the same shape."""
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"LPIPS takes two uint8 RGB images of one shape, got {a.shape} {a.dtype} and {b.shape}")

        def t(im: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float() / 127.5 - 1.0

        return float(self(t(a), t(b))[0])


def load_lpips(vgg_path: str | None = None, heads_path: str | None = None) -> LPIPS:
    """LPIPS-VGG from local files (the third-party folders when paths are not given).

    Raises:
        MetricUnavailable: a file is missing or does not fit its architecture.
    """
    from engine.errors import CheckpointError
    from engine.weights.catalog import known_weights
    from engine.weights.known_files import find_weights
    from engine.weights.thirdparty import load_state_dict_file

    kv, kh = known_weights("vgg16"), known_weights("lpips_vgg")
    pv = vgg_path or find_weights(kv.file_names)
    ph = heads_path or find_weights(kh.file_names)
    if pv is None or ph is None:
        missing = [n for n, p in ((kv.file_names[0], pv), (kh.file_names[0], ph)) if p is None]
        raise MetricUnavailable(f"LPIPS unavailable: {', '.join(missing)} not in the third-party folders")
    vgg, heads = kv.build(), kh.build()
    try:
        vgg.load_state_dict(load_state_dict_file(pv), strict=True)
        heads.load_state_dict(load_state_dict_file(ph), strict=True)
    except (CheckpointError, RuntimeError) as exc:
        raise MetricUnavailable(f"LPIPS unavailable: weights do not load ({exc})") from None
    feats: Any = vgg.features
    stages, start = [], 0
    for cut in _VGG_CUTS:
        stages.append(nn.Sequential(*[feats[i] for i in range(start, cut)]))
        start = cut
    return LPIPS(stages, [getattr(heads, f"lin{i}").model for i in range(5)], "lpips-vgg v0.1").eval()
