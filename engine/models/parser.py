"""The learned face parser: an ImageNet EfficientNet-Lite0 U-Net that corrects the geometric parsing.

Input: an aligned face crop (RGB in ``[0, 1]``) **and** the geometric parser's labels on the same
crop as a one-hot prior (19 channels, official CelebAMask-HQ order, :mod:`engine.labels`). Output:
19-class logits

    ``logits = prior_gain[c] · onehot(prior) + correction(image, prior)``

so an untrained correction (its last convolution starts at zero) reproduces the geometric parsing
exactly, and training only has to learn where the mesh is wrong (hair edges, neck, ears, brows'
true extent). The split matters at inference: :meth:`FaceParserNet.correction` runs at the crop's
low resolution and is warped back to the photo, while the prior term is added at the photo's own
resolution, so the geometric parser's sub-pixel eyes and lips keep their sharp edges where the
network agrees with them (see :mod:`engine.faces.learned_parsing`).

Architecture: the EfficientNet-Lite0 stem and its first seven stages (:mod:`engine.nn.features`;
head and classifier dropped) as the encoder, taps at strides 2, 4, 8, 16 and 32; a light
FPN-style decoder (3×3 convolutions, batch norm, ReLU) whose every stage also reads the prior
area-pooled to its resolution through a 1×1 convolution (a separate branch: the ImageNet stem
sees the photo only and stays as it was trained); the correction is predicted at stride 2 and
upsampled bilinearly. The encoder's ImageNet weights are loaded by the training entry
(:func:`engine.training.parser.load_imagenet_encoder`); this module never reads files.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_model
from engine.nn.features import STAGES, EfficientNetLite0, normalize_imagenet

NUM_CLASSES = 19
"""Official CelebAMask-HQ classes (:data:`engine.labels.CELEBAMASK_HQ`)."""

TAPS: tuple[int, ...] = (0, 1, 2, 4, 6)
"""Encoder stages (0-based) whose outputs feed the decoder: strides 2, 4, 8, 16, 32."""

FROZEN_STAGES = 3
"""Default :class:`FaceParserNet` ``frozen_stages``: the stem and the stride 2–8 stages keep their
ImageNet weights."""


def _cbr(cin: int, cout: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _Encoder(EfficientNetLite0):
    """EfficientNet-Lite0 without its 1280-channel head and classifier (never used here)."""

    def __init__(self) -> None:
        super().__init__()
        del self._conv_head, self._bn1, self._fc

    def taps(self, x: torch.Tensor, frozen: int = 0) -> list[torch.Tensor]:
        """Outputs of the :data:`TAPS` stages of normalised input; the stem and the first ``frozen``
        stages run without autograd (no backward pass through the high-resolution layers)."""
        out: list[torch.Tensor] = []
        with torch.set_grad_enabled(torch.is_grad_enabled() and frozen <= 0):
            y = F.relu6(self._bn0(self._conv_stem(x)))
        stage = 0
        for i, block in enumerate(self._blocks):
            with torch.set_grad_enabled(torch.is_grad_enabled() and stage >= frozen):
                y = block(y)
            if i == self.stage_ends[stage]:
                if stage in TAPS:
                    out.append(y)
                stage += 1
        return out


def pooled_priors(prior: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """``F.adaptive_avg_pool2d(prior, size)`` for each of ``sizes`` (finest first). While every level
    so far is whole blocks of ``prior`` and the next one divides it, the next is pooled from it (the
    blocks nest: the same averages, bit for bit for one-hot maps when the factors are powers of two,
    as for the parser's crops, else within float rounding); otherwise from ``prior`` itself. Each
    level then reads a quarter of the pixels instead of the whole map: the parser's five levels of a
    mirrored pair of 19-channel 160² priors took 2.0 instead of 4.4 ms on one thread (the whole learned
    step of the 512² astronaut, alternating 15 rounds: 26.8 vs 27.8 ms on one thread, 21.9 vs 22.3 on two)."""
    out: list[torch.Tensor] = []
    cur, blocks = prior, True
    for size in sizes:
        h, w = cur.shape[-2:]
        if blocks and h % size[0] == 0 and w % size[1] == 0:
            cur = cur if (h, w) == size else F.avg_pool2d(cur, (h // size[0], w // size[1]))
        else:
            cur, blocks = F.adaptive_avg_pool2d(prior, size), False
        out.append(cur)
    return out


@register_model("face_parser")
class FaceParserNet(nn.Module):
    """U-Net-style 19-class face parser with a geometric prior (see the module docstring).

    Args:
        width: decoder channels at stride 32 (halved towards stride 2, at least 16).
        prior_width: channels the prior branch adds at each decoder stage.
        prior_gain: initial weight of the one-hot prior in the logits.
        freeze_bn: keep the encoder's ImageNet batch-norm statistics fixed while training (small
            batches of few faces would only make them noisy).
        frozen_stages: the encoder's stem and first this many stages keep their ImageNet weights
            (3: strides 2–8 frozen, only the stride-16/32 stages are fine-tuned; on the CPU this
            saves most of the backward pass, and with a few dozen faces it also overfits less).

    Example:
        >>> net = FaceParserNet(width=32, prior_width=4).eval()
        >>> img, prior = torch.rand(1, 3, 64, 64), torch.zeros(1, 64, 64, dtype=torch.long)
        >>> net(img, prior).shape
        torch.Size([1, 19, 64, 64])
        >>> bool((net(img, prior).argmax(1) == prior).all())   # untrained: the prior itself
        True
    """

    def __init__(self, width: int = 96, prior_width: int = 8, prior_gain: float = 4.0,
                 freeze_bn: bool = True, frozen_stages: int = FROZEN_STAGES) -> None:
        super().__init__()
        if not 0 <= frozen_stages <= len(STAGES):
            raise ValueError(f"frozen_stages must be 0-{len(STAGES)}, got {frozen_stages}")
        self.encoder = _Encoder()
        self.freeze_bn = freeze_bn
        self.frozen_stages = frozen_stages
        for name, p in self.encoder.named_parameters():
            block = int(name.split(".")[1]) if name.startswith("_blocks.") else -1
            stage = next((s for s, end in enumerate(self.encoder.stage_ends) if block <= end), 0) if block >= 0 else -1
            if frozen_stages > 0 and stage < frozen_stages:
                p.requires_grad_(False)
        chans = [STAGES[i].channels_out for i in TAPS]  # 16, 24, 40, 112, 320
        widths = [max(16, width >> s) for s in (3, 2, 2, 1, 0)]  # stride 2 .. 32
        self.lateral = nn.ModuleList(nn.Conv2d(c, w, 1) for c, w in zip(chans, widths, strict=True))
        self.prior_in = nn.ModuleList(nn.Conv2d(NUM_CLASSES, prior_width, 1) for _ in widths)
        self.fuse = nn.ModuleList(
            _cbr(w + (widths[i + 1] if i + 1 < len(widths) else 0) + prior_width, w)
            for i, w in enumerate(widths))
        self.head = nn.Conv2d(widths[0], NUM_CLASSES, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        if self.head.bias is not None:
            nn.init.zeros_(self.head.bias)
        self.prior_gain = nn.Parameter(torch.full((NUM_CLASSES,), float(prior_gain)))

    def train(self, mode: bool = True) -> FaceParserNet:
        """Train mode, with the encoder's batch norm kept in eval mode when ``freeze_bn``."""
        super().train(mode)
        if mode and self.freeze_bn:
            for m in self.encoder.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    @staticmethod
    def one_hot(prior: torch.Tensor) -> torch.Tensor:
        """``[N, H, W]`` class indices → ``[N, 19, H, W]`` float one-hot."""
        # (F.one_hot's permuted result is laid out channels last, as the CPU model's weights are: a
        # contiguous [N, 19, H, W] scattered directly made the parse 1–4 ms slower, though cheaper itself)
        return F.one_hot(prior.long().clamp(0, NUM_CLASSES - 1), NUM_CLASSES).permute(0, 3, 1, 2).float()

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's taps of ``image`` (RGB ``[N, 3, H, W]`` in ``[0, 1]``): the half of
        :meth:`correction` that reads the photo only, so it can run before the prior exists."""
        return self.encoder.taps(normalize_imagenet(image, "[0,1]", self.encoder.mean, self.encoder.std),
                                 self.frozen_stages)

    def correction(self, image: torch.Tensor, prior_onehot: torch.Tensor) -> torch.Tensor:
        """The learned part of the logits, ``[N, 19, H, W]`` (``H``, ``W`` multiples of 32 are best).

        Args:
            image: RGB ``[N, 3, H, W]`` in ``[0, 1]``.
            prior_onehot: ``[N, 19, H, W]`` one-hot (or soft) geometric class maps.
        """
        return self.decode(self.features(image), prior_onehot)

    def decode(self, feats: list[torch.Tensor], prior_onehot: torch.Tensor) -> torch.Tensor:
        """The half of :meth:`correction` that reads the prior: the decoder on ``feats``
        (:meth:`features` of the image) and ``prior_onehot`` (``[N, 19, H, W]``, the image's size)."""
        priors = pooled_priors(prior_onehot, [(int(f.shape[-2]), int(f.shape[-1])) for f in feats])
        y: torch.Tensor | None = None
        for i in range(len(feats) - 1, -1, -1):
            f = self.lateral[i](feats[i])
            p = self.prior_in[i](priors[i])
            parts = [f, p]
            if y is not None:
                parts.insert(1, F.interpolate(y, size=f.shape[-2:], mode="bilinear", align_corners=False))
            y = self.fuse[i](torch.cat(parts, 1))
        assert y is not None
        out = self.head(y)
        return F.interpolate(out, size=prior_onehot.shape[-2:], mode="bilinear", align_corners=False)

    def prior_logits(self, prior_onehot: torch.Tensor) -> torch.Tensor:
        """The prior's part of the logits: ``prior_gain[c]`` where the prior says class ``c``."""
        return prior_onehot * self.prior_gain.view(1, -1, 1, 1)

    def forward(self, image: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """19-class logits ``[N, 19, H, W]`` of crops and their geometric labels.

        Args:
            image: RGB ``[N, 3, H, W]`` in ``[0, 1]``.
            prior: ``[N, H, W]`` integer labels (official order) or ``[N, 19, H, W]`` class maps.
        """
        onehot = self.one_hot(prior) if prior.ndim == 3 else prior
        return self.prior_logits(onehot) + self.correction(image, onehot)
