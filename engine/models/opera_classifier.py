"""ResNet-18 main-colour classifier of lianpu (7 classes of :data:`engine.labels.OPERA_COLOURS`).

The opera paper fine-tunes the last layer of an ImageNet ResNet-18. No ImageNet weights are
reachable here, so the whole network (torchvision's ``resnet18(weights=None, num_classes=7)``) is
trained from scratch on procedural lianpu (:mod:`engine.training.opera_classifier`). Its 512-d
penultimate features are the project's *domain* feature extractor for FID/KID
(:class:`engine.metrics.distribution.DomainExtractor`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from engine.geometry import letterbox
from engine.models.registry import register_model


def square_on_white(image: np.ndarray, size: int) -> np.ndarray:
    """An RGB(A) lianpu letterboxed onto a white square of side ``size`` (:func:`engine.geometry.letterbox`).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]`` or RGBA (composited on white: published lianpu PNGs
            leave white paint transparent).
        size: output side.

    Returns:
        ``uint8`` ``[size, size, 3]``.

    Raises:
        ValueError: not a ``uint8`` RGB/RGBA image.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0:
        raise ValueError(f"expected a uint8 RGB or RGBA image, got {arr.dtype} {arr.shape}")
    if arr.shape[2] == 4:
        a = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3].astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
    return letterbox(arr, size)


@register_model("opera_colour_resnet18")
class OperaColourResNet18(nn.Module):
    """torchvision ResNet-18 (no pretrained weights) with a 7-way head.

    Args:
        num_classes: output classes (7: the opera main colours).
        input_size: side of the square input the network was trained at (images are
            letterboxed on white and resized to it by :meth:`prepare`).
    """

    def __init__(self, num_classes: int = 7, input_size: int = 96) -> None:
        super().__init__()
        from engine._compat.torchvision_ops import ensure_torchvision

        if num_classes < 2 or input_size < 32:
            raise ValueError(f"need num_classes ≥ 2 and input_size ≥ 32, got {num_classes}, {input_size}")
        self.input_size = int(input_size)
        self.net = ensure_torchvision().models.resnet18(weights=None, num_classes=num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate (global-average-pooled) features ``[N, 512]`` of ``x`` ``[N, 3, S, S]`` in [-1, 1]."""
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        return torch.flatten(n.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, num_classes]``."""
        return self.net.fc(self.features(x))

    def prepare(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """``uint8`` RGB(A) images of any size → ``[N, 3, S, S]`` in [-1, 1] on the model's device."""
        arr = np.stack([square_on_white(im, self.input_size) for im in images])
        dev = next(self.parameters()).device
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(dev)

    @torch.no_grad()
    def predict_proba(self, images: Sequence[np.ndarray], batch: int = 32) -> np.ndarray:
        """Class probabilities ``float32 [N, num_classes]`` (eval mode)."""
        self.eval()
        out = [torch.softmax(self(self.prepare(images[i:i + batch])), 1).cpu() for i in range(0, len(images), batch)]
        return torch.cat(out).numpy()

    @torch.no_grad()
    def embed_images(self, images: Sequence[np.ndarray], batch: int = 32) -> np.ndarray:
        """Penultimate features ``float32 [N, 512]`` (eval mode)."""
        self.eval()
        out = [self.features(self.prepare(images[i:i + batch])).cpu() for i in range(0, len(images), batch)]
        return torch.cat(out).numpy()
