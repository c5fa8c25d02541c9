"""Learned face regeneration from a semantic label map, with per-region style (SEAN-style).

After the face-regeneration paper, which re-implements SEAN / pix2pixHD:

* a **spatial-aware style encoder** (:class:`RegionStyleEncoder`) turns a reference image and its
  19-label map into one style code per label: a small encoder–decoder gives a feature map, which is
  averaged inside each label's region (region-wise average pooling, as SEAN's ``Zencoder``);
* the codes are **injected** by :class:`~engine.nn.blocks.SFTNorm` layers: the activation is
  instance-normalised (parameter-free) and then modulated by a per-pixel scale and shift — AdaIN
  whose parameters are the style code of the label each pixel carries, refined by a spatial
  feature transform (SFT: a small convolution over the broadcast style map), and mixed with a
  label-only (SPADE-like) branch by a learned weight, as SEAN's ACE block;
* a **pix2pixHD global generator** (:class:`RegenGenerator`) renders the edited label map: 7×7 stem,
  stride-2 down-sampling, 4 residual blocks (the paper's re-implementation), up-sampling, 7×7 to RGB
  with ``tanh``; the residual blocks (:class:`~engine.nn.blocks.SFTResBlock`) and up-sampling
  layers use :class:`~engine.nn.blocks.SFTNorm`;
* a **multi-scale discriminator** (:class:`MultiscaleDiscriminator`): pix2pixHD's PatchGAN applied
  to the (label map, image) pair at several scales, returning every layer's features for the
  feature-matching loss.

Training and its losses are :mod:`engine.training.regen`.

Images are ``[N, 3, H, W]`` in [-1, 1]; label maps enter as one-hot ``[N, L, H, W]`` (see
:func:`one_hot`), official CelebAMask-HQ order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_model
from engine.nn.blocks import SFTNorm, SFTResBlock

NUM_LABELS = 19
"""Classes of the official CelebAMask-HQ order."""


def one_hot(labels: torch.Tensor, num_labels: int = NUM_LABELS) -> torch.Tensor:
    """``[N, H, W]`` integer labels → ``[N, L, H, W]`` float one-hot."""
    return F.one_hot(labels.long().clamp(0, num_labels - 1), num_labels).permute(0, 3, 1, 2).float()


def region_average(features: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean feature of every label region (SEAN's region-wise average pooling).

    Args:
        features: ``[N, C, H, W]``.
        seg: one-hot ``[N, L, h, w]`` (resized to ``H × W`` by area averaging).

    Returns:
        (codes ``[N, L, C]`` — zero for labels absent from the map, presence ``[N, L]`` bool).
    """
    m = F.interpolate(seg, size=features.shape[-2:], mode="area") if seg.shape[-2:] != features.shape[-2:] else seg
    area = m.sum(dim=(2, 3))  # [N, L]
    codes = torch.einsum("nlhw,nchw->nlc", m, features) / area.clamp(min=1e-6)[..., None]
    return codes, area > 1e-3


class RegionStyleEncoder(nn.Module):
    """Reference image + label map → per-region style codes.

    Args:
        style_dim: length of each style code.
        width: channels of the first convolution (doubled once at the bottleneck).

    Shape:
        image ``[N, 3, H, W]``, seg ``[N, L, H, W]`` → codes ``[N, L, style_dim]``.
    """

    def __init__(self, style_dim: int = 64, width: int = 16) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(3, w, 3), nn.InstanceNorm2d(w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.InstanceNorm2d(4 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.InstanceNorm2d(2 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, style_dim, 3, padding=1), nn.Tanh(),
        )

    def forward(self, image: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        codes, _ = region_average(self.net(image), seg)
        return codes


@register_model("regen_g")
class RegenGenerator(nn.Module):
    """Style encoder + pix2pixHD global generator: (label map, reference, its labels) → image.

    Args:
        num_labels: label classes (19, official order).
        width: channels after the 7×7 stem (pix2pixHD: 64); doubled at each down-sampling.
        n_down: stride-2 down-samplings (pix2pixHD global: 4; the input side must be a multiple
            of ``2 ** n_down``).
        n_blocks: residual blocks at the bottleneck (the paper's re-implementation: 4).
        style_dim: style code length (SEAN: 512).
        encoder_width: first-layer channels of the style encoder.
        max_width: cap on the channel count.
        side: the square side the model is trained and run at (a multiple of ``2 ** n_down``);
            callers resize to it.

    Shape:
        ``seg [N, L, S, S]``, ``reference [N, 3, S', S']``, ``reference_seg [N, L, S', S']`` →
        ``[N, 3, S, S]`` in [-1, 1].
    """

    def __init__(self, num_labels: int = NUM_LABELS, width: int = 32, n_down: int = 3, n_blocks: int = 4,
                 style_dim: int = 64, encoder_width: int = 16, max_width: int = 256, side: int = 64) -> None:
        super().__init__()
        if side % 2 ** n_down:
            raise ValueError(f"side must be a multiple of {2 ** n_down}, got {side}")
        self.num_labels = num_labels
        self.side = side
        self.n_down = n_down
        self.encoder = RegionStyleEncoder(style_dim, encoder_width)
        chans = [min(max_width, width * 2 ** i) for i in range(n_down + 1)]
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(num_labels, chans[0], 7),
                                  nn.InstanceNorm2d(chans[0], affine=True), nn.ReLU(inplace=True))
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1),
                          nn.InstanceNorm2d(chans[i + 1], affine=True), nn.ReLU(inplace=True))
            for i in range(n_down))
        self.blocks = nn.ModuleList(SFTResBlock(chans[-1], style_dim, num_labels) for _ in range(n_blocks))
        self.up_conv = nn.ModuleList(nn.Conv2d(chans[i + 1], chans[i], 3, padding=1) for i in reversed(range(n_down)))
        self.up_norm = nn.ModuleList(SFTNorm(chans[i], style_dim, num_labels) for i in reversed(range(n_down)))
        self.out = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(chans[0], 3, 7), nn.Tanh())

    def encode_style(self, reference: torch.Tensor, reference_seg: torch.Tensor) -> torch.Tensor:
        """Per-region style codes ``[N, L, style_dim]`` of a reference image and its one-hot labels."""
        return self.encoder(reference, reference_seg)

    def render(self, seg: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Render one-hot label maps ``seg`` with style ``codes`` (mix codes of several images freely)."""
        s = seg.shape[-1]
        if seg.shape[-2] % 2 ** self.n_down or s % 2 ** self.n_down:
            raise ValueError(f"label map side must be a multiple of {2 ** self.n_down}, got {tuple(seg.shape[-2:])}")
        x = self.stem(seg)
        for d in self.down:
            x = d(x)
        for b in self.blocks:
            x = b(x, seg, codes)
        for conv, norm in zip(self.up_conv, self.up_norm, strict=True):
            x = F.relu(norm(conv(F.interpolate(x, scale_factor=2, mode="nearest")), seg, codes))
        return self.out(x)

    def forward(self, seg: torch.Tensor, reference: torch.Tensor, reference_seg: torch.Tensor) -> torch.Tensor:
        return self.render(seg, self.encode_style(reference, reference_seg))


class NLayerDiscriminator(nn.Module):
    """pix2pixHD PatchGAN (4×4 convolutions) that returns the output of every layer.

    Args:
        in_channels: labels + RGB.
        width: first-layer channels (doubled per layer, capped at 8×).
        n_layers: stride-2 layers.
    """

    def __init__(self, in_channels: int, width: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, width, 4, stride=2, padding=2),
                                                 nn.LeakyReLU(0.2, inplace=True))]
        c = width
        for i in range(1, n_layers + 1):
            nc = min(width * 8, c * 2)
            stride = 2 if i < n_layers else 1
            layers.append(nn.Sequential(nn.Conv2d(c, nc, 4, stride=stride, padding=2),
                                        nn.InstanceNorm2d(nc), nn.LeakyReLU(0.2, inplace=True)))
            c = nc
        layers.append(nn.Conv2d(c, 1, 4, padding=2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


@register_model("regen_d")
class MultiscaleDiscriminator(nn.Module):
    """pix2pixHD multi-scale discriminator on (one-hot labels, image) pairs.

    Args:
        num_labels: label classes.
        width: first-layer channels of each PatchGAN.
        n_layers: layers of each PatchGAN.
        num_scales: number of PatchGANs; each next one sees the pair down-sampled by 2.

    Shape:
        ``seg [N, L, S, S]``, ``image [N, 3, S, S]`` → one feature list per scale (last entry = logits).
    """

    def __init__(self, num_labels: int = NUM_LABELS, width: int = 32, n_layers: int = 3, num_scales: int = 2) -> None:
        super().__init__()
        self.scales = nn.ModuleList(NLayerDiscriminator(num_labels + 3, width, n_layers) for _ in range(num_scales))

    def forward(self, seg: torch.Tensor, image: torch.Tensor) -> list[list[torch.Tensor]]:
        x = torch.cat([seg, image], dim=1)
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs

