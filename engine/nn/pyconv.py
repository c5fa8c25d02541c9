"""Pyramidal convolution (PyConv, Duta et al. 2020): parallel kernels of growing size and groups."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class PyConv2d(nn.Module):
    """Convolutions with several kernel sizes side by side; outputs are concatenated.

    Args:
        in_channels: input channels.
        out_channels: output channels, split evenly between the levels.
        kernels: kernel size of each level, e.g. ``(3, 5, 7, 9)``.
        groups: groups of each level (``1`` = dense); larger kernels use more groups to keep the
            cost down, as in the paper. Must divide ``in_channels`` and the level's outputs.
        stride: stride of every level.

    Shape:
        ``[N, in_channels, H, W]`` → ``[N, out_channels, H / stride, W / stride]``.

    Example:
        >>> m = PyConv2d(16, 32, (3, 5, 7, 9), (1, 4, 8, 8), stride=2)
        >>> m(torch.zeros(1, 16, 32, 32)).shape
        torch.Size([1, 32, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, kernels: Sequence[int] = (3, 5, 7, 9),
                 groups: Sequence[int] = (1, 4, 8, 16), stride: int = 1) -> None:
        super().__init__()
        if len(kernels) != len(groups):
            raise ValueError("kernels and groups must have the same length")
        if out_channels % len(kernels):
            raise ValueError(f"out_channels {out_channels} must split evenly over {len(kernels)} levels")
        per = out_channels // len(kernels)
        for k, g in zip(kernels, groups):
            if in_channels % g or per % g:
                raise ValueError(f"groups {g} must divide in_channels {in_channels} and level outputs {per}")
        self.levels = nn.ModuleList(
            nn.Conv2d(in_channels, per, k, stride=stride, padding=k // 2, groups=g) for k, g in zip(kernels, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x) for conv in self.levels], dim=1)
