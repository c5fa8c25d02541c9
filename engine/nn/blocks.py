"""Shared network blocks of the paper models (pure torch, no compiled extensions).

One idea, written once:

* :func:`adaptive_instance_norm` — instance-normalise, then scale and shift: the common core of
  **AdaIN** (Huang & Belongie 2017; per-channel parameters from a code, :class:`AdaIN`), **SPADE**
  (Park et al. 2019; per-pixel parameters from a spatial condition, :class:`SPADE`) and the
  region-style normalisation of SEAN (Zhu et al. 2020) with an **SFT** refinement (Wang et al.
  2018; :class:`SFTNorm`);
* residual blocks: :class:`ResidualBlock` (conv–IN–ReLU–conv–IN, StarGAN / pix2pixHD bottleneck),
  :class:`AdaINResBlock` (the same with AdaIN), :class:`SPADEResBlock` (SPADE's pre-activation
  block), :class:`SFTResBlock` (pix2pixHD's block with :class:`SFTNorm`);
* :class:`PyConv2d` — pyramidal convolution (Duta et al. 2020).

Parameter names inside these blocks are part of the saved checkpoints: renaming an attribute
breaks ``strict=True`` loading of ``checkpoints/*.safetensors``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _check_nchw(x: torch.Tensor, what: str = "input") -> None:
    if x.ndim != 4:
        raise ValueError(f"{what} must be [N, C, H, W], got shape {tuple(x.shape)}")


def adaptive_instance_norm(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor,
                           eps: float = 1e-5) -> torch.Tensor:
    """Instance normalisation without learned affine, then ``· scale + shift``.

    Args:
        x: activations.
        scale: per-channel ``[N, C]`` or per-pixel ``[N, C, H, W]`` multiplier.
        shift: the same shapes as ``scale``: the added term.
        eps: variance guard of the normalisation.

    Returns:
        ``IN(x) · scale + shift``.

    Shape:
        ``x`` ``[N, C, H, W]`` → ``[N, C, H, W]``.

    Raises:
        ValueError: ``x`` is not 4-D, or ``scale`` / ``shift`` fit neither ``[N, C]`` nor
            ``[N, C, H, W]``.

    Example:
        >>> x = torch.randn(2, 3, 8, 8)
        >>> y = adaptive_instance_norm(x, torch.full((2, 3), 2.0), torch.ones(2, 3))
        >>> y.mean(dim=(2, 3)).allclose(torch.ones(2, 3), atol=1e-5)
        True
    """
    _check_nchw(x)
    n, c = x.shape[:2]
    for name, t in (("scale", scale), ("shift", shift)):
        if tuple(t.shape) not in ((n, c), (n, c, *x.shape[2:])):
            raise ValueError(f"{name} must be [{n}, {c}] or [{n}, {c}, {x.shape[2]}, {x.shape[3]}], "
                             f"got shape {tuple(t.shape)}")
    if scale.ndim == 2:
        scale = scale[:, :, None, None]
    if shift.ndim == 2:
        shift = shift[:, :, None, None]
    return F.instance_norm(x, eps=eps) * scale + shift


class AdaIN(nn.Module):
    """Adaptive instance normalisation: per-channel scale and bias computed from a code.

    Starts as plain instance normalisation (scale 1, bias 0).

    Args:
        channels: feature channels ``C``.
        code_dim: width of the control code.

    Shape:
        ``x`` ``[N, C, H, W]``, ``code`` ``[N, code_dim]`` → ``[N, C, H, W]``.

    Example:
        >>> m = AdaIN(4, 8)
        >>> m(torch.randn(2, 4, 5, 5), torch.randn(2, 8)).shape
        torch.Size([2, 4, 5, 5])
    """

    def __init__(self, channels: int, code_dim: int) -> None:
        super().__init__()
        self.affine = nn.Linear(code_dim, 2 * channels)  # → (scale, bias), [N, 2C]
        nn.init.zeros_(self.affine.weight)
        with torch.no_grad():  # start as plain instance normalisation (scale 1, bias 0)
            self.affine.bias.zero_()
            self.affine.bias[:channels] = 1.0

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        if code.ndim != 2 or code.shape[1] != self.affine.in_features:
            raise ValueError(f"code must be [N, {self.affine.in_features}], got shape {tuple(code.shape)}")
        gamma, beta = self.affine(code).chunk(2, dim=1)
        return adaptive_instance_norm(x, gamma, beta)


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: instance norm modulated per pixel by a condition map.

    ``out = IN(x) · (1 + γ(c)) + β(c)``, with ``γ, β`` two 3×3 convolutions over a shared hidden
    layer of the condition (bilinearly resized to ``x``).

    Args:
        channels: normalised channels ``C``.
        cond_channels: condition channels.
        hidden: hidden channels of the modulation convolutions.

    Shape:
        ``x`` ``[N, C, H, W]``, ``cond`` ``[N, cond_channels, H', W']`` → ``[N, C, H, W]``.

    Example:
        >>> m = SPADE(8, 3)
        >>> m(torch.randn(1, 8, 4, 4), torch.randn(1, 3, 16, 16)).shape
        torch.Size([1, 8, 4, 4])
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(cond_channels, hidden, 3, 1, 1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, 1, 1)
        self.beta = nn.Conv2d(hidden, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        _check_nchw(cond, "condition")
        h = self.shared(F.interpolate(cond, size=x.shape[-2:], mode="bilinear", align_corners=False))
        return adaptive_instance_norm(x, 1 + self.gamma(h), self.beta(h))


def broadcast_codes(codes: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """Spread one code per label over a one-hot label map (each pixel gets its label's code).

    Args:
        codes: ``[N, L, C]`` per-label codes.
        seg: ``[N, L, H, W]`` one-hot (or soft) label map.

    Returns:
        ``[N, C, H, W]``.

    Example:
        >>> seg = torch.zeros(1, 2, 2, 2); seg[0, 0, 0] = 1; seg[0, 1, 1] = 1
        >>> broadcast_codes(torch.tensor([[[1.0], [5.0]]]), seg)[0, 0].tolist()
        [[1.0, 1.0], [5.0, 5.0]]
    """
    return torch.einsum("nlc,nlhw->nchw", codes, seg)


class SFTNorm(nn.Module):
    """Instance norm modulated by per-region style codes (AdaIN + SFT) and by the label map.

    ``out = IN(x) · (1 + γ) + β`` with ``γ, β = a · (γ_s, β_s) + (1 − a) · (γ_m, β_m)``: ``γ_s, β_s``
    come from the broadcast style map through a per-label linear map (AdaIN of the region code) and
    a 3×3 spatial-feature-transform convolution; ``γ_m, β_m`` from the label map alone (a SPADE
    branch); ``a`` is learned (sigmoid), as SEAN's ACE block.

    Args:
        channels: channels ``C`` of the modulated activation.
        style_dim: style code length ``S``.
        num_labels: label classes ``L``.
        hidden: channels of the label branch's hidden layer.

    Shape:
        ``x`` ``[N, C, H, W]``, ``seg`` one-hot ``[N, L, H', W']`` (nearest-resized to ``x``),
        ``codes`` ``[N, L, S]`` → ``[N, C, H, W]``.

    Example:
        >>> m = SFTNorm(8, 4, num_labels=3)
        >>> seg = F.one_hot(torch.randint(0, 3, (1, 16, 16)), 3).permute(0, 3, 1, 2).float()
        >>> m(torch.randn(1, 8, 8, 8), seg, torch.randn(1, 3, 4)).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(self, channels: int, style_dim: int, num_labels: int, hidden: int = 32) -> None:
        super().__init__()
        self.per_label = nn.Parameter(torch.randn(num_labels, style_dim, style_dim) * (style_dim ** -0.5))
        self.sft = nn.Conv2d(style_dim, 2 * channels, 3, padding=1)
        self.label = nn.Sequential(nn.Conv2d(num_labels, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.Conv2d(hidden, 2 * channels, 3, padding=1))
        self.mix = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, seg: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        _check_nchw(seg, "label map")
        if codes.shape != (seg.shape[0], *self.per_label.shape[:2]):
            raise ValueError(f"codes must be [{seg.shape[0]}, {self.per_label.shape[0]}, {self.per_label.shape[1]}], "
                             f"got shape {tuple(codes.shape)}")
        seg = F.interpolate(seg, size=x.shape[-2:], mode="nearest")
        styled = torch.einsum("nlc,lcd->nld", codes, self.per_label)  # per-label projection
        gs, bs = self.sft(broadcast_codes(styled, seg)).chunk(2, dim=1)
        gm, bm = self.label(seg).chunk(2, dim=1)
        a = torch.sigmoid(self.mix)
        return adaptive_instance_norm(x, 1 + a * gs + (1 - a) * gm, a * bs) + (1 - a) * bm


class ResidualBlock(nn.Module):
    """Residual block ``x + IN(conv(ReLU(IN(conv(x)))))`` (3×3 convolutions, affine instance norm).

    Args:
        channels: block width ``C``.
        bias: give the convolutions a bias (redundant before a normalisation, but part of some
            checkpoints).

    Shape:
        ``[N, C, H, W]`` → ``[N, C, H, W]``.

    Example:
        >>> ResidualBlock(8)(torch.randn(2, 8, 6, 6)).shape
        torch.Size([2, 8, 6, 6])
    """

    def __init__(self, channels: int, bias: bool = True) -> None:
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=bias), nn.InstanceNorm2d(c, affine=True), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, bias=bias), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class AdaINResBlock(nn.Module):
    """Residual block with :class:`AdaIN` after both 3×3 convolutions: ``x + n2(c2(ReLU(n1(c1(x)))))``.

    Args:
        channels: block width ``C``.
        code_dim: width of the control code.

    Shape:
        ``x`` ``[N, C, H, W]``, ``code`` ``[N, code_dim]`` → ``[N, C, H, W]``.

    Example:
        >>> AdaINResBlock(8, 16)(torch.randn(2, 8, 6, 6), torch.randn(2, 16)).shape
        torch.Size([2, 8, 6, 6])
    """

    def __init__(self, channels: int, code_dim: int) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(channels, channels, 3, padding=1), nn.Conv2d(channels, channels, 3, padding=1)
        self.n1, self.n2 = AdaIN(channels, code_dim), AdaIN(channels, code_dim)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.n1(self.c1(x), code))
        return x + self.n2(self.c2(h), code)


class SPADEResBlock(nn.Module):
    """SPADE residual block (pre-activation): two SPADE–LeakyReLU(0.2)–conv 3×3 steps and a skip.

    Args:
        cin: input channels.
        cout: output channels (the skip is a 1×1 convolution when they differ).
        cond_channels: condition channels.

    Shape:
        ``x`` ``[N, cin, H, W]``, ``cond`` ``[N, cond_channels, H', W']`` → ``[N, cout, H, W]``.

    Example:
        >>> SPADEResBlock(16, 8, 4)(torch.randn(1, 16, 8, 8), torch.randn(1, 4, 32, 32)).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(self, cin: int, cout: int, cond_channels: int) -> None:
        super().__init__()
        mid = min(cin, cout)
        self.n0, self.c0 = SPADE(cin, cond_channels), nn.Conv2d(cin, mid, 3, 1, 1)
        self.n1, self.c1 = SPADE(mid, cond_channels), nn.Conv2d(mid, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.c0(F.leaky_relu(self.n0(x, cond), 0.2))
        h = self.c1(F.leaky_relu(self.n1(h, cond), 0.2))
        return self.skip(x) + h


class SFTResBlock(nn.Module):
    """pix2pixHD residual block (two reflection-padded 3×3 convolutions) with :class:`SFTNorm`.

    ``x + c2(ReLU(n2(c1(ReLU(n1(x))))))`` (pre-activation).

    Args:
        channels: block width ``C``.
        style_dim: style code length ``S``.
        num_labels: label classes ``L``.

    Shape:
        ``x`` ``[N, C, H, W]``, ``seg`` ``[N, L, H', W']``, ``codes`` ``[N, L, S]`` → ``[N, C, H, W]``.

    Example:
        >>> seg = torch.zeros(1, 3, 8, 8); seg[:, 0] = 1
        >>> SFTResBlock(8, 4, 3)(torch.randn(1, 8, 8, 8), seg, torch.randn(1, 3, 4)).shape
        torch.Size([1, 8, 8, 8])
    """

    def __init__(self, channels: int, style_dim: int, num_labels: int) -> None:
        super().__init__()
        self.n1 = SFTNorm(channels, style_dim, num_labels)
        self.c1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3))
        self.n2 = SFTNorm(channels, style_dim, num_labels)
        self.c2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3))

    def forward(self, x: torch.Tensor, seg: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.relu(self.n1(x, seg, codes)))
        h = self.c2(F.relu(self.n2(h, seg, codes)))
        return x + h


class PyConv2d(nn.Module):
    """Pyramidal convolution: several kernel sizes side by side, outputs concatenated.

    Args:
        in_channels: input channels.
        out_channels: output channels, split evenly between the levels.
        kernels: kernel size of each level, e.g. ``(3, 5, 7, 9)`` (odd sizes keep the side).
        groups: groups of each level (``1`` = dense); larger kernels use more groups to keep the
            cost down, as in the paper. Must divide ``in_channels`` and the level's outputs.
        stride: stride of every level.

    Shape:
        ``[N, in_channels, H, W]`` → ``[N, out_channels, ⌈H / stride⌉, ⌈W / stride⌉]``.

    Raises:
        ValueError: ``kernels`` and ``groups`` differ in length, ``out_channels`` does not split
            evenly, or a group count does not divide the channels.

    Example:
        >>> m = PyConv2d(16, 32, (3, 5, 7, 9), (1, 4, 8, 8), stride=2)
        >>> m(torch.zeros(1, 16, 32, 32)).shape
        torch.Size([1, 32, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, kernels: Sequence[int] = (3, 5, 7, 9),
                 groups: Sequence[int] = (1, 4, 8, 16), stride: int = 1) -> None:
        super().__init__()
        if len(kernels) != len(groups) or not kernels:
            raise ValueError(f"kernels and groups must be non-empty and of the same length, got {len(kernels)} "
                             f"and {len(groups)}")
        if out_channels % len(kernels):
            raise ValueError(f"out_channels {out_channels} must split evenly over {len(kernels)} levels")
        per = out_channels // len(kernels)
        for g in groups:
            if in_channels % g or per % g:
                raise ValueError(f"groups {g} must divide in_channels {in_channels} and level outputs {per}")
        self.levels = nn.ModuleList(
            nn.Conv2d(in_channels, per, k, stride=stride, padding=k // 2, groups=g)
            for k, g in zip(kernels, groups, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x) for conv in self.levels], dim=1)
