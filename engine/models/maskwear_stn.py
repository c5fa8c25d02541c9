"""Mask-wearing refiner: a spatial transformer whose homography comes from a PyConv generator.

From the mask-wearing paper: the face and the (warped) mask image are stacked by channels; a 7×7
stem and four pyramidal-convolution layers (the first with 3/5/7/9 kernels), without batch
normalisation, regress the 8 free parameters of a homography that warps the mask onto the face;
a discriminator ending in a 3×3 convolution to a 5×5×1 score map is trained against real masked
faces with the WGAN-div objective. Here the generator predicts a *residual* on the key-point fit
(its last layer starts at zero, so an untrained refiner reproduces the key-point fit exactly).

Coordinates: homographies act on normalised crop coordinates in [-1, 1] (``x`` right, ``y`` down),
mapping *template* points to *crop* points.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_model
from engine.nn.blocks import PyConv2d


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


@register_model("maskwear_stn_g")
class MaskWearGenerator(nn.Module):
    """PyConv regressor of a homography residual.

    Args:
        in_channels: face RGB + warped mask RGB (6) — add 1 for the mask alpha (7).
        width: channels after the stem (a multiple of 8); the PyConv layers use 2×, 4×, 8×, 8×
            this, with kernels 3/5/7/9, 3/5/7/9, 3/5 and 3.
        max_delta: largest change of each homography entry (tanh-bounded), in normalised units.
        grouped: use the paper's growing group counts in the PyConv levels (1/2/4/8). Off by
            default: grouped convolutions train about 10× slower on CPUs (measured here).

    Shape:
        ``[N, in_channels, S, S]`` → ``[N, 8]`` (row-major ``H`` entries without ``H[2, 2]``).
    """

    def __init__(self, in_channels: int = 7, width: int = 16, max_delta: float = 0.3,
                 grouped: bool = False) -> None:
        super().__init__()
        w = width
        self.max_delta = max_delta
        g4, g2 = ((1, 2, 4, 8), (1, 2)) if grouped else ((1, 1, 1, 1), (1, 1))
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w, 7, stride=2, padding=3), _act())
        self.body = nn.Sequential(
            PyConv2d(w, 2 * w, (3, 5, 7, 9), g4, stride=2), _act(),
            PyConv2d(2 * w, 4 * w, (3, 5, 7, 9), g4, stride=2), _act(),
            PyConv2d(4 * w, 8 * w, (3, 5), g2, stride=2), _act(),
            PyConv2d(8 * w, 8 * w, (3,), (1,), stride=2), _act(),
        )
        self.head = nn.Linear(8 * w, 8)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(self.stem(x))
        f = f.mean(dim=(2, 3))  # [N, C]
        return torch.tanh(self.head(f)) * self.max_delta


@register_model("maskwear_stn_d")
class MaskWearDiscriminator(nn.Module):
    """Patch critic for 144² crops: four stride-2 convolutions, then 3×3 convolutions to 5×5×1.

    Args:
        in_channels: image channels.
        width: channels of the first layer (doubling, capped at 8×).
    """

    def __init__(self, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        w = width
        chans = [in_channels, w, 2 * w, 4 * w, 8 * w]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), _act()]
        layers += [nn.Conv2d(8 * w, 8 * w, 3), _act(), nn.Conv2d(8 * w, 1, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # [N, 1, 5, 5] for 144² input


def params_to_matrix(p: torch.Tensor) -> torch.Tensor:
    """``[N, 8]`` → ``[N, 3, 3]`` homographies with ``H[2, 2] = 1``."""
    ones = torch.ones(p.shape[0], 1, dtype=p.dtype, device=p.device)
    return torch.cat([p, ones], dim=1).view(-1, 3, 3)


def matrix_to_params(h: torch.Tensor) -> torch.Tensor:
    """``[N, 3, 3]`` → ``[N, 8]`` after normalising ``H[2, 2]`` to 1."""
    h = h / h[:, 2:3, 2:3]
    return h.reshape(-1, 9)[:, :8]


def warp_rgba(template: torch.Tensor, h: torch.Tensor, size: int) -> torch.Tensor:
    """Warp RGBA templates onto ``size × size`` crops with homographies (differentiable).

    Args:
        template: ``[N, 4, Ht, Wt]`` in [0, 1] (premultiplied not required).
        h: ``[N, 3, 3]`` template → crop homographies in normalised coordinates.
        size: crop side.

    Returns:
        ``[N, 4, size, size]``; outside the template everything is 0 (transparent).
    """
    n = h.shape[0]
    lin = torch.linspace(-1, 1, size, device=h.device, dtype=h.dtype)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack([xx, yy, torch.ones_like(xx)], dim=-1).view(1, -1, 3).expand(n, -1, -1)  # [N, S*S, 3]
    inv = torch.linalg.inv(h)
    src = pts @ inv.transpose(1, 2)
    src = src[..., :2] / src[..., 2:3].clamp(min=1e-6)
    grid = src.view(n, size, size, 2)
    return F.grid_sample(template, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def composite(face: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
    """Alpha-composite warped RGBA masks ``[N, 4, S, S]`` over faces ``[N, 3, S, S]``."""
    a = warped[:, 3:4]
    return face * (1 - a) + warped[:, :3] * a

