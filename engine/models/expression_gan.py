"""Anime expression GAN: decoder control by a mapped label code + an attention mask.

From the anime-expression paper:

* **mapping network F** — a 9-layer MLP (512 wide) maps the expression label vector to a control
  code;
* **generator** — an encoder (3 stride-2 down-sampling convolutions, then 3 residual bottleneck
  blocks, instance normalisation everywhere) and a decoder (3 residual bottleneck blocks, then
  3 up-sampling convolutions) with **AdaIN after every convolution but the last**, its scale and
  bias computed from the control code; a separate **attention network** (instance normalisation
  only, no label injection in the normalisation) sees the image and the label maps and ends in a
  1-channel sigmoid mask ``M``; the output is ``y* = M·y + (1 − M)·x``;
* **discriminator** — a shared convolution trunk with a PatchGAN branch (a score map, WGAN-GP)
  and an expression-classification branch (label logits);
* **losses** (:mod:`engine.training.expression`, from :mod:`engine.nn.losses`) — adversarial
  WGAN-GP (``λ_gp``), classification of real (discriminator) and fake (generator) images
  (``λ_cls = 1``), and the contextual loss (``λ_cx = 0.1``) between features of ``y*`` and ``x``
  to keep identity.

The paper computes the contextual loss on VGG19 features. VGG19 weights cannot be downloaded
here, so :class:`ExpressionClassifier` (a small CNN trained on procedural expression labels, see
:mod:`engine.training.expression`) provides the features instead; cards say so.

Labels: :data:`LABELS` = the four studio labels and ``neutral``. Continuous control: slider
weights become a mixed label vector (:func:`label_vector`) fed to F, and the studio's overall
intensity scales the attention mask (:meth:`ExpressionGenerator.forward` ``mask_scale``).

Images are ``[N, 3, S, S]`` in [-1, 1]; ``S`` must be a multiple of 8.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from engine.labels import EXPRESSION_LABELS
from engine.models.registry import register_model
from engine.nn.blocks import AdaIN, AdaINResBlock, ResidualBlock

LABELS: tuple[str, ...] = EXPRESSION_LABELS + ("neutral",)
"""Label-vector order of the learned models: angry, sad, smile, surprised, neutral."""


def label_vector(weights: Sequence[float]) -> torch.Tensor:
    """Mix slider weights into a label distribution over :data:`LABELS`.

    Args:
        weights: the four expression weights in [0, 1] (:data:`EXPRESSION_LABELS` order).

    Returns:
        ``float32`` ``[5]`` summing to 1: the weights (scaled down when they sum to more than 1)
        and ``neutral`` taking the rest.
    """
    w = torch.tensor([float(v) for v in weights], dtype=torch.float32).clamp(0.0, 1.0)
    if w.numel() != len(EXPRESSION_LABELS):
        raise ValueError(f"expected {len(EXPRESSION_LABELS)} weights, got {w.numel()}")
    total = float(w.sum())
    if total > 1.0:
        w = w / total
    return torch.cat([w, torch.tensor([max(0.0, 1.0 - float(w.sum()))])])


def _act() -> nn.Module:
    return nn.ReLU(inplace=True)


class MappingNetwork(nn.Module):
    """The paper's F: label vector → control code (an MLP with LeakyReLU between layers).

    Args:
        label_dim: length of the label vector.
        width: hidden and output width (the paper: 512).
        layers: number of linear layers (the paper: 9).
    """

    def __init__(self, label_dim: int = len(LABELS), width: int = 512, layers: int = 9) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        mods: list[nn.Module] = []
        for i in range(layers):
            mods.append(nn.Linear(label_dim if i == 0 else width, width))
            if i < layers - 1:
                mods.append(nn.LeakyReLU(0.2, inplace=True))
        self.net = nn.Sequential(*mods)
        for m in self.net:  # He init: with PyTorch's default the label signal fades over 9 layers
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.net(c)


@register_model("expression_gan_g")
class ExpressionGenerator(nn.Module):
    """Generator of the anime-expression GAN (mapping network, encoder, AdaIN decoder, attention).

    Args:
        width: channels of the first encoder layer (2× and 4× after the next down-samplings).
        code_dim: width of the mapping network F (the paper: 512).
        mapping_layers: depth of F (the paper: 9).
        attention_width: channels of the attention network (which down-samples twice).
        label_dim: length of the label vector (:data:`LABELS`).

    Shape:
        ``x`` ``[N, 3, S, S]`` in [-1, 1], ``labels`` ``[N, label_dim]`` →
        ``(y_star, y, mask)``: ``[N, 3, S, S]``, ``[N, 3, S, S]``, ``[N, 1, S, S]``.
    """

    def __init__(self, width: int = 64, code_dim: int = 512, mapping_layers: int = 9,
                 attention_width: int = 32, label_dim: int = len(LABELS)) -> None:
        super().__init__()
        w = width
        self.label_dim = label_dim
        self.mapping = MappingNetwork(label_dim, code_dim, mapping_layers)
        enc: list[nn.Module] = []
        for a, b in ((3, w), (w, 2 * w), (2 * w, 4 * w)):
            enc += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.InstanceNorm2d(b, affine=True), _act()]
        self.encoder = nn.Sequential(*enc, *[ResidualBlock(4 * w) for _ in range(3)])
        self.bottleneck = nn.ModuleList([AdaINResBlock(4 * w, code_dim) for _ in range(3)])
        self.up_convs = nn.ModuleList([nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.Conv2d(2 * w, w, 3, padding=1)])
        self.up_norms = nn.ModuleList([AdaIN(2 * w, code_dim), AdaIN(w, code_dim)])
        self.to_rgb = nn.Conv2d(w, 3, 3, padding=1)  # the last convolution: no AdaIN
        a = attention_width
        self.attention = nn.Sequential(
            nn.Conv2d(3 + label_dim, a, 4, stride=2, padding=1), nn.InstanceNorm2d(a, affine=True), _act(),
            nn.Conv2d(a, 2 * a, 4, stride=2, padding=1), nn.InstanceNorm2d(2 * a, affine=True), _act(),
            ResidualBlock(2 * a),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * a, a, 3, padding=1),
            nn.InstanceNorm2d(a, affine=True), _act(),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(a, 1, 3, padding=1),
        )
        last = self.attention[-1]
        if isinstance(last, nn.Conv2d) and last.bias is not None:
            nn.init.constant_(last.bias, -2.0)  # start with a mostly closed mask

    def mask(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The attention mask ``M`` ``[N, 1, S, S]`` in (0, 1) for target ``labels``."""
        maps = labels[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return torch.sigmoid(self.attention(torch.cat([x, maps], 1)))

    def forward(self, x: torch.Tensor, labels: torch.Tensor,
                mask_scale: float | torch.Tensor = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Translate ``x`` towards ``labels``.

        Args:
            x: images ``[N, 3, S, S]`` in [-1, 1] (``S`` a multiple of 8).
            labels: label vectors ``[N, label_dim]`` (one-hot or mixed, see :func:`label_vector`).
            mask_scale: multiplies the attention mask before compositing (the studio's overall
                intensity); the result is clipped to [0, 1]. 0 returns ``x`` exactly.

        Returns:
            ``(y_star, y, mask)``: the composite ``M·y + (1−M)·x``, the raw decoder output ``y``
            (tanh) and the scaled mask ``M``.
        """
        if x.shape[2] % 8 or x.shape[3] % 8:
            raise ValueError(f"image sides must be multiples of 8, got {tuple(x.shape[2:])}")
        code = self.mapping(labels)
        h = self.encoder(x)
        for block in self.bottleneck:
            h = block(h, code)
        for conv, norm in zip(self.up_convs, self.up_norms, strict=True):
            h = F.relu(norm(conv(F.interpolate(h, scale_factor=2, mode="nearest")), code))
        y = torch.tanh(self.to_rgb(F.interpolate(h, scale_factor=2, mode="nearest")))
        m = (self.mask(x, labels) * mask_scale).clamp(0.0, 1.0)
        return m * y + (1 - m) * x, y, m


@register_model("expression_gan_d")
class ExpressionDiscriminator(nn.Module):
    """Shared conv trunk + PatchGAN branch + expression-classification branch.

    Args:
        image_size: side of the training images (sets the classification kernel).
        width: channels of the first trunk layer (doubling per layer).
        depth: stride-2 layers of the trunk (``image_size`` must be divisible by ``2**depth``).
        label_dim: number of expression classes (:data:`LABELS`).

    Shape:
        ``[N, 3, S, S]`` → ``(patch [N, 1, S/2**depth, S/2**depth], logits [N, label_dim])``.
    """

    def __init__(self, image_size: int = 64, width: int = 64, depth: int = 4, label_dim: int = len(LABELS)) -> None:
        super().__init__()
        if image_size % (2 ** depth):
            raise ValueError(f"image_size {image_size} is not divisible by 2**depth = {2 ** depth}")
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(depth):
            c_out = width * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.01, inplace=True)]
            c_in = c_out
        self.trunk = nn.Sequential(*layers)
        self.patch = nn.Conv2d(c_in, 1, 3, padding=1)
        self.classify = nn.Conv2d(c_in, label_dim, image_size // 2 ** depth)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.patch(h), self.classify(h).flatten(1)


@register_model("expression_classifier")
class ExpressionClassifier(nn.Module):
    """Small CNN that classifies an anime face's expression over :data:`LABELS`.

    Trained on procedural faces (:mod:`engine.training.expression`); one instance is the *judge*
    that measures the learned and classical backends, another provides the features of the
    contextual loss (the stand-in for VGG19).

    Args:
        width: channels of the first block (2×, 4×, 4× in the next).
        image_size: input side (a multiple of 16); the head sees the flattened 4×-pooled map, so
            it knows *where* a feature is (brows vs mouth).
        label_dim: number of classes.

    Shape:
        ``[N, 3, S, S]`` in [-1, 1] → logits ``[N, label_dim]``; :meth:`features` → the
        second block's ``[N, 2·width, S/4, S/4]`` map.
    """

    def __init__(self, width: int = 16, image_size: int = 64, label_dim: int = len(LABELS)) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {image_size}")
        w = width

        def block(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Conv2d(b, b, 3, padding=1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, inplace=True),
                                 nn.AvgPool2d(2))

        self.blocks = nn.ModuleList([block(3, w), block(w, 2 * w), block(2 * w, 4 * w), block(4 * w, 4 * w)])
        self.head = nn.Linear(4 * w * (image_size // 16) ** 2, label_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Mid-level features (after two blocks) used by the contextual loss."""
        return self.blocks[1](self.blocks[0](x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for b in self.blocks:
            h = b(h)
        return self.head(h.flatten(1))

