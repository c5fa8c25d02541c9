"""CoCosNet-style exemplar colouring (Zhang et al. 2020, "Cross-domain correspondence learning for
exemplar-based image translation"), sized for lianpu sketches on a CPU.

* Two feature-pyramid encoders map the sketch (domain A, 1 channel) and the colour exemplar
  (domain B, RGB) to a shared domain W at 1/4 resolution (domain-alignment loss: the features of a
  sketch and of its own colour image should agree).
* Correspondence: both feature maps are average-pooled by ``corr_down`` (memory: the matrix is
  ``(HW/16/corr_down²)²``), mean-centred and unit-normalised per position; ``softmax(M / τ)`` warps
  the equally pooled exemplar onto the sketch (``r_{y→x}``); the transposed matrix warps it back
  (``r_{y→x→y}``), whose distance to the exemplar is the cycle regulariser.
* A SPADE generator (Park et al. 2019) turns a learned constant into the image, each block
  normalised and modulated by the sketch and the warped exemplar
  (:class:`engine.nn.blocks.SPADEResBlock`).
* :class:`PatchDiscriminator` judges (sketch, image) pairs.

Training (pseudo exemplars, the losses and their weights) is :mod:`engine.training.cocosnet`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_model
from engine.nn.blocks import SPADEResBlock


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2))


class PyramidEncoder(nn.Module):
    """Feature pyramid (1/2, 1/4, 1/8) fused at 1/4 resolution.

    Args:
        in_channels: image channels.
        width: base channels.
        out_channels: channels of the shared domain W.
    """

    def __init__(self, in_channels: int, width: int, out_channels: int) -> None:
        super().__init__()
        self.d1 = _block(in_channels, width, 2)
        self.d2 = _block(width, width * 2, 2)
        self.d3 = _block(width * 2, width * 4, 2)
        self.fuse = nn.Sequential(_block(width * 2 + width * 4 + width, out_channels, 1),
                                  nn.Conv2d(out_channels, out_channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.d1(x)
        f2 = self.d2(f1)
        f3 = self.d3(f2)
        size = f2.shape[-2:]
        return self.fuse(torch.cat([F.avg_pool2d(f1, 2), f2, F.interpolate(f3, size=size, mode="bilinear",
                                                                            align_corners=False)], 1))


@register_model("cocosnet")
class CoCosNet(nn.Module):
    """Correspondence + SPADE composition network.

    Args:
        width: base channels of encoders and generator.
        feat_channels: channels of the shared domain W.
        corr_down: extra average pooling of the 1/4-resolution features before correlation.
        temperature: softmax temperature τ of the correspondence (0.01 in the paper).
    """

    def __init__(self, width: int = 16, feat_channels: int = 64, corr_down: int = 2, temperature: float = 0.01) -> None:
        super().__init__()
        if corr_down < 1 or temperature <= 0:
            raise ValueError("need corr_down ≥ 1 and temperature > 0")
        self.enc_a = PyramidEncoder(1, width, feat_channels)
        self.enc_b = PyramidEncoder(3, width, feat_channels)
        self.corr_down, self.temperature = corr_down, temperature
        cond = 1 + 3
        self.head = nn.Conv2d(cond, width * 4, 3, 1, 1)
        self.blocks = nn.ModuleList([SPADEResBlock(width * 4, width * 4, cond),
                                     SPADEResBlock(width * 4, width * 2, cond),
                                     SPADEResBlock(width * 2, width, cond)])
        self.to_rgb = nn.Conv2d(width, 3, 3, 1, 1)

    @staticmethod
    def _normalise(f: torch.Tensor) -> torch.Tensor:
        f = f - f.mean(1, keepdim=True)
        return F.normalize(f.flatten(2), dim=1)  # [N, C, L]

    def correspond(self, sketch: torch.Tensor, exemplar: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features, warped exemplar ``r_{y→x}`` (full size) and its cycle ``r_{y→x→y}`` (pooled grid).

        Args:
            sketch: ``[N, 1, H, W]`` in [-1, 1] (H, W multiples of ``8·corr_down``).
            exemplar: ``[N, 3, H, W]`` in [-1, 1].
        """
        fa, fb = self.enc_a(sketch), self.enc_b(exemplar)
        pa, pb = F.avg_pool2d(fa, self.corr_down), F.avg_pool2d(fb, self.corr_down)
        h, w = pa.shape[-2:]
        m = torch.bmm(self._normalise(pa).transpose(1, 2), self._normalise(pb))  # [N, La, Lb]
        y = F.adaptive_avg_pool2d(exemplar, (h, w)).flatten(2)  # [N, 3, Lb]
        attn = torch.softmax(m / self.temperature, dim=2)
        warped = torch.bmm(y, attn.transpose(1, 2)).view(-1, 3, h, w)
        back = torch.softmax(m.transpose(1, 2) / self.temperature, dim=2)  # [N, Lb, La]
        cycle = torch.bmm(warped.flatten(2), back.transpose(1, 2)).view(-1, 3, h, w)
        full = F.interpolate(warped, size=sketch.shape[-2:], mode="bilinear", align_corners=False)
        return {"fa": fa, "fb": fb, "warped": full, "warped_small": warped, "cycle": cycle,
                "exemplar_small": y.view(-1, 3, h, w)}

    def forward(self, sketch: torch.Tensor, exemplar: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"image": [N, 3, H, W] in [-1, 1], "warped": ..., ...}``."""
        c = self.correspond(sketch, exemplar)
        cond = torch.cat([sketch, c["warped"]], 1)
        x = self.head(F.interpolate(cond, scale_factor=0.25, mode="bilinear", align_corners=False))
        for i, blk in enumerate(self.blocks):
            x = blk(x, cond)
            if i < 2:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        c["image"] = torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))
        return c


@register_model("cocosnet_discriminator")
class PatchDiscriminator(nn.Module):
    """PatchGAN critic on (sketch, image) pairs, hinge loss.

    Args:
        width: base channels.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(4, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.utils.spectral_norm(nn.Conv2d(width, width * 2, 4, 2, 1)), nn.LeakyReLU(0.2),
                                 nn.utils.spectral_norm(nn.Conv2d(width * 2, width * 4, 4, 1, 1)), nn.LeakyReLU(0.2),
                                 nn.Conv2d(width * 4, 1, 3, 1, 1))

    def forward(self, sketch: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([sketch, image], 1))

