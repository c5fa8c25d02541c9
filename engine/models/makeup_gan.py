"""Mask-controlled makeup GAN: a StarGAN-style generator with style, region and dataset conditions.

From the makeup paper: one generator paints makeup onto a face, conditioned on a **style one-hot**
and a **region 0/1 vector** (which of lips, eyeshadow, cheek, base to paint), plus a **dataset mask
vector** (StarGAN's device for training jointly on data sets with different label sets: it says
which part of the label vector is valid). A **mask head** predicts one soft mask per region; the
output is the generated image inside the union of the *selected* regions' predicted masks and the
input everywhere else, so an edit is confined to where makeup belongs. Two critics judge it: a
**global** one on the whole crop and a **local** one on region crops that also **classifies the
style** (both WGAN-GP). Losses (:mod:`engine.training.makeup`): adversarial, reconstruction/cycle,
invariant-region L1 on the unselected area, and a mask loss for the head.

Condition layout (``[N, C]``, :meth:`MakeupGenerator.condition`)::

    [ style one-hot (num_styles) | auxiliary labels (num_aux) | regions (num_regions) | dataset (num_datasets) ]

Dataset 0 is the style-labelled set (the ``style`` slice is valid), dataset 1 the auxiliary set
(e.g. a real makeup / bare photo set whose ``aux`` slice holds makeup-or-not); the other slice is
zero. Images are ``[N, 3, H, W]`` in [0, 1]; ``H`` and ``W`` must be multiples of ``2 ** n_down``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_model
from engine.nn.blocks import ResidualBlock

GAN_REGIONS: tuple[str, ...] = ("lips", "eyeshadow", "cheek", "base")
"""The regions the region vector indexes, in this order."""


@register_model("makeup_gan_g")
class MakeupGenerator(nn.Module):
    """Encoder / residual / decoder generator with an RGB head and a region-mask head.

    Args:
        num_styles: styles in the one-hot (the style-labelled data set's label set).
        num_aux: labels of the auxiliary data set (e.g. 2: bare, makeup).
        num_regions: entries of the region vector (:data:`GAN_REGIONS` has 4).
        num_datasets: entries of the dataset mask vector.
        width: channels after the stem (doubled at each downsampling).
        n_down: stride-2 downsamplings (and as many upsamplings).
        n_res: residual blocks at the bottleneck.

    Shape:
        ``x [N, 3, H, W]`` in [0, 1], ``cond [N, cond_dim]`` → ``(out [N, 3, H, W]`` in [0, 1],
        ``mask_logits [N, num_regions, H, W])``.
    """

    def __init__(self, num_styles: int = 6, num_aux: int = 2, num_regions: int = 4, num_datasets: int = 2,
                 width: int = 32, n_down: int = 2, n_res: int = 3) -> None:
        super().__init__()
        self.num_styles, self.num_aux = num_styles, num_aux
        self.num_regions, self.num_datasets = num_regions, num_datasets
        self.cond_dim = num_styles + num_aux + num_regions + num_datasets
        self.n_down = n_down
        layers: list[nn.Module] = [nn.Conv2d(3 + self.cond_dim, width, 7, padding=3, bias=False),
                                   nn.InstanceNorm2d(width, affine=True), nn.ReLU(inplace=True)]
        ch = width
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1, bias=False),
                       nn.InstanceNorm2d(2 * ch, affine=True), nn.ReLU(inplace=True)]
            ch *= 2
        layers += [ResidualBlock(ch, bias=False) for _ in range(n_res)]
        for _ in range(n_down):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch // 2, 3, padding=1, bias=False),
                       nn.InstanceNorm2d(ch // 2, affine=True), nn.ReLU(inplace=True)]
            ch //= 2
        self.body = nn.Sequential(*layers)
        self.to_rgb = nn.Conv2d(ch, 3, 7, padding=3)
        self.to_mask = nn.Conv2d(ch + 3, num_regions, 3, padding=1)  # sees the input too (parsing head)

    def condition(self, style: torch.Tensor | None, regions: torch.Tensor, dataset: torch.Tensor,
                  aux: torch.Tensor | None = None) -> torch.Tensor:
        """Build the condition vector.

        Args:
            style: ``[N]`` style indices (dataset 0 samples; ignored where ``dataset`` is 1) or ``None``.
            regions: ``[N, num_regions]`` 0/1 region selection.
            dataset: ``[N]`` dataset indices (0 style-labelled, 1 auxiliary).
            aux: ``[N]`` auxiliary label indices (dataset 1 samples) or ``None``.

        Returns:
            ``[N, cond_dim]`` float condition.
        """
        n = regions.shape[0]
        dev = regions.device
        ds = F.one_hot(dataset.long(), self.num_datasets).float()
        st = torch.zeros(n, self.num_styles, device=dev)
        ax = torch.zeros(n, self.num_aux, device=dev)
        if style is not None:
            st = F.one_hot(style.long().clamp(0, self.num_styles - 1), self.num_styles).float() * ds[:, :1]
        if aux is not None and self.num_aux > 0 and self.num_datasets > 1:
            ax = F.one_hot(aux.long().clamp(0, self.num_aux - 1), self.num_aux).float() * ds[:, 1:2]
        return torch.cat([st, ax, regions.float(), ds], 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = x.shape
        if h % (2 ** self.n_down) or w % (2 ** self.n_down):
            raise ValueError(f"input side must be a multiple of {2 ** self.n_down}, got {h}x{w}")
        if cond.shape != (n, self.cond_dim):
            raise ValueError(f"condition must be [{n}, {self.cond_dim}], got {list(cond.shape)}")
        c = cond[:, :, None, None].expand(-1, -1, h, w)
        f = self.body(torch.cat([x * 2 - 1, c], 1))
        y = (torch.tanh(self.to_rgb(f)) + 1) / 2
        logits = self.to_mask(torch.cat([f, x * 2 - 1], 1))
        sel = self.selected_mask(logits, cond[:, self.num_styles + self.num_aux:
                                               self.num_styles + self.num_aux + self.num_regions])
        return sel * y + (1 - sel) * x, logits

    @staticmethod
    def selected_mask(logits: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        """Union (max) of the sigmoid masks of the selected regions: ``[N, 1, H, W]``."""
        m = torch.sigmoid(logits) * regions[:, :, None, None]
        return m.amax(1, keepdim=True)


@register_model("makeup_gan_d")
class MakeupCritic(nn.Module):
    """Patch critic (no normalisation, for WGAN-GP), optionally with a style-classification head.

    Args:
        in_channels: image channels.
        width: channels of the first layer (doubling, capped at 8×).
        depth: stride-2 4×4 convolutions.
        num_classes: classes of the classification head (0: none — the global critic).

    Shape:
        ``[N, in_channels, S, S]`` → ``(score [N, 1, S / 2**depth, S / 2**depth]``,
        ``class logits [N, num_classes]`` or ``None)``.
    """

    def __init__(self, in_channels: int = 3, width: int = 32, depth: int = 3, num_classes: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch_in, ch = in_channels, width
        for _ in range(depth):
            layers += [nn.Conv2d(ch_in, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            ch_in, ch = ch, min(2 * ch, 8 * width)
        self.body = nn.Sequential(*layers)
        self.score = nn.Conv2d(ch_in, 1, 3, padding=1)
        self.classify = nn.Linear(ch_in, num_classes) if num_classes > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        f = self.body(x * 2 - 1)
        cls = self.classify(f.mean((2, 3))) if self.classify is not None else None
        return self.score(f), cls


def region_vector(names: Sequence[str]) -> list[float]:
    """0/1 list over :data:`GAN_REGIONS` with ones for ``names`` (unknown names raise ``ValueError``)."""
    bad = [n for n in names if n not in GAN_REGIONS]
    if bad:
        raise ValueError(f"the makeup GAN has no region(s) {', '.join(bad)}; it knows {', '.join(GAN_REGIONS)}")
    return [1.0 if r in names else 0.0 for r in GAN_REGIONS]
