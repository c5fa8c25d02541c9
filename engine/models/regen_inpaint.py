"""Learned regeneration on the inpainting contract: synthesise only the changed pixels.

Where :class:`~engine.models.regen.RegenGenerator` re-renders the whole face from its label map,
:class:`RegenInpaintNet` keeps every pixel the edit did not touch and paints the hole alone, from

* the photo with the hole blanked (zeros) and the hole mask,
* the **target** label map (one-hot), which says what the hole should become,
* **per-region style codes** (SEAN's region-wise average pooling,
  :class:`~engine.models.regen.RegionStyleEncoder`) taken from the photo's unchanged pixels of each
  label — or, for chosen labels, from a reference face.

Architecture: a small U-Net. The encoder (gated by nothing but the inputs: photo, hole, labels)
goes down ``n_down`` stride-2 steps; at the bottleneck :class:`~engine.nn.blocks.SFTResBlock` s
modulate the features with the style codes and the label map (SEAN's ACE / SFT, SPADE branch);
each up-sampling step concatenates the encoder's skip features and is normalised by an
:class:`~engine.nn.blocks.SFTNorm`; a 3×3 convolution and ``tanh`` give RGB.

The output is **composited**: ``image · (1 − hole) + prediction · hole``, so with a binary hole
every pixel outside it is the input exactly (the studio's contract "unchanged mask = identical
image" holds bit for bit).

Training (random region edits of the development faces, L1 + perceptual + style losses) is
:mod:`engine.training.regen_inpaint`; the studio's use is :mod:`engine.studios.regenerate.learned`.

Images are ``[N, 3, H, W]`` in [-1, 1], holes ``[N, 1, H, W]`` in {0, 1}, label maps one-hot
``[N, L, H, W]`` (official CelebAMask-HQ order).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.regen import NUM_LABELS, RegionStyleEncoder
from engine.models.registry import register_model
from engine.nn.blocks import SFTNorm, SFTResBlock


def _check_inputs(image: torch.Tensor, hole: torch.Tensor, seg: torch.Tensor, num_labels: int, step: int) -> None:
    """One-line errors for inputs whose shapes do not fit together."""
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be [N, 3, H, W], got shape {tuple(image.shape)}")
    n, _, h, w = image.shape
    if hole.shape != (n, 1, h, w):
        raise ValueError(f"hole must be [{n}, 1, {h}, {w}], got shape {tuple(hole.shape)}")
    if seg.shape != (n, num_labels, h, w):
        raise ValueError(f"label map must be [{n}, {num_labels}, {h}, {w}], got shape {tuple(seg.shape)}")
    if h % step or w % step:
        raise ValueError(f"image side must be a multiple of {step}, got {h}x{w}")


@register_model("regen_inpaint")
class RegenInpaintNet(nn.Module):
    """Label- and style-conditioned inpainting network (SEAN-style codes, SFT/SPADE decoder).

    Args:
        num_labels: label classes (19, official order).
        width: channels of the first encoder stage; doubled at each down-sampling.
        n_down: stride-2 down-samplings (the input side must be a multiple of ``2 ** n_down``).
        n_blocks: style-modulated residual blocks at the bottleneck.
        style_dim: style code length.
        encoder_width: first-layer channels of the style encoder.
        max_width: cap on the channel count.
        side: the square side the model is trained and run at (callers resize to it).

    Shape:
        ``image [N, 3, S, S]``, ``hole [N, 1, S, S]``, ``seg [N, L, S, S]`` (target labels),
        optional ``codes [N, L, style_dim]`` → ``[N, 3, S, S]`` in [-1, 1], equal to ``image``
        wherever ``hole`` is 0.

    Example:
        >>> net = RegenInpaintNet(width=8, n_down=2, n_blocks=1, style_dim=4, encoder_width=8, side=16)
        >>> img, hole = torch.rand(1, 3, 16, 16) * 2 - 1, torch.zeros(1, 1, 16, 16)
        >>> hole[..., 4:8, 4:8] = 1
        >>> seg = torch.zeros(1, 19, 16, 16); seg[:, 1] = 1
        >>> out = net(img, hole, seg)
        >>> bool(torch.equal(out[..., :4, :], img[..., :4, :])), tuple(out.shape)
        (True, (1, 3, 16, 16))
    """

    def __init__(self, num_labels: int = NUM_LABELS, width: int = 24, n_down: int = 3, n_blocks: int = 2,
                 style_dim: int = 32, encoder_width: int = 16, max_width: int = 128, side: int = 96) -> None:
        super().__init__()
        if side % 2 ** n_down:
            raise ValueError(f"side must be a multiple of {2 ** n_down}, got {side}")
        self.num_labels = num_labels
        self.side = side
        self.n_down = n_down
        self.style_dim = style_dim
        self.encoder = RegionStyleEncoder(style_dim, encoder_width)
        chans = [min(max_width, width * 2 ** i) for i in range(n_down + 1)]
        self.stem = nn.Sequential(nn.ReflectionPad2d(2), nn.Conv2d(3 + 1 + num_labels, chans[0], 5),
                                  nn.LeakyReLU(0.2, inplace=True))
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=1),
                          nn.InstanceNorm2d(chans[i + 1], affine=True), nn.LeakyReLU(0.2, inplace=True),
                          nn.Conv2d(chans[i + 1], chans[i + 1], 3, padding=2, dilation=2),
                          nn.LeakyReLU(0.2, inplace=True))
            for i in range(n_down))
        self.blocks = nn.ModuleList(SFTResBlock(chans[-1], style_dim, num_labels) for _ in range(n_blocks))
        self.up_conv = nn.ModuleList(nn.Conv2d(chans[i + 1] + chans[i], chans[i], 3, padding=1)
                                     for i in reversed(range(n_down)))
        self.up_norm = nn.ModuleList(SFTNorm(chans[i], style_dim, num_labels) for i in reversed(range(n_down)))
        self.out = nn.Sequential(nn.Conv2d(chans[0], chans[0], 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Conv2d(chans[0], 3, 3, padding=1), nn.Tanh())

    def encode_style(self, image: torch.Tensor, seg: torch.Tensor, hole: torch.Tensor | None = None) -> torch.Tensor:
        """Per-region style codes ``[N, L, style_dim]`` from the pixels of each label outside ``hole``.

        Args:
            image: ``[N, 3, H, W]`` photo (hole pixels are ignored).
            seg: one-hot labels ``[N, L, H, W]`` of the photo.
            hole: ``[N, 1, H, W]`` pixels not to take style from (``None``: all pixels count).

        Returns:
            Codes; zero for labels with no pixel outside the hole.
        """
        if hole is None:
            return self.encoder(image, seg)
        keep = 1.0 - hole
        return self.encoder(image * keep, seg * keep)

    def synthesise(self, image: torch.Tensor, hole: torch.Tensor, seg: torch.Tensor,
                   codes: torch.Tensor) -> torch.Tensor:
        """The raw prediction for every pixel (not composited), ``[N, 3, H, W]`` in [-1, 1]."""
        _check_inputs(image, hole, seg, self.num_labels, 2 ** self.n_down)
        x = self.stem(torch.cat([image * (1.0 - hole), hole, seg], dim=1))
        skips = [x]
        for d in self.down:
            x = d(x)
            skips.append(x)
        for b in self.blocks:
            x = b(x, seg, codes)
        for i, (conv, norm) in enumerate(zip(self.up_conv, self.up_norm, strict=True)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.leaky_relu(norm(conv(torch.cat([x, skips[-2 - i]], dim=1)), seg, codes), 0.2)
        return self.out(x)

    def forward(self, image: torch.Tensor, hole: torch.Tensor, seg: torch.Tensor,
                codes: torch.Tensor | None = None) -> torch.Tensor:
        """Inpaint ``hole`` of ``image`` as the target labels ``seg`` say; pixels outside stay exact.

        Args:
            image: ``[N, 3, H, W]`` in [-1, 1].
            hole: ``[N, 1, H, W]``, 1 where pixels are synthesised.
            seg: target one-hot labels ``[N, L, H, W]``.
            codes: style codes; default: :meth:`encode_style` of the image outside the hole, with
                the target labels (which equal the source labels there).
        """
        _check_inputs(image, hole, seg, self.num_labels, 2 ** self.n_down)
        if codes is None:
            codes = self.encode_style(image, seg, hole)
        pred = self.synthesise(image, hole, seg, codes)
        return image * (1.0 - hole) + pred * hole
