"""Inception Score (Salimans et al. 2016) from class probabilities, with a named classifier.

``IS = exp(E_x[KL(p(y|x) ‖ p(y))])``, computed per split (10 in the original) and reported as
mean ± standard deviation over the splits. It lies between 1 (every image gets the same class
distribution, or every prediction is uniform) and the number of classes (every image confidently
in one class, classes balanced).

Classifiers (:func:`get_classifier`):

* ``inception`` — not supported in this build (``MetricUnavailable``): the Inception extractor
  keeps pool features for FID/KID only; ``auto`` therefore means the domain classifier.
* ``domain`` — the project's opera main-colour ResNet-18 (7 classes: red, purple, black, white,
  blue, green, yellow): "domain IS", at most 7 and comparable only with itself.

Numbers from different classifiers are not comparable; every result names its classifier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.metrics.distribution import MetricUnavailable


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS mean and standard deviation over ``splits`` of class probabilities ``[N, K]``.

    Args:
        probs: rows are probability vectors (non-negative, summing to 1 within 1e-3).
        splits: number of equal splits (each needs ≥ 1 image; ``N`` is cut to a multiple).

    Raises:
        ValueError: bad shape, values or split count.
    """
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(f"probs must be [N ≥ 1, K ≥ 2], got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-3):
        raise ValueError("probs rows must be probability vectors (non-negative, summing to 1)")
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be in 1..{p.shape[0]}, got {splits}")
    n = (p.shape[0] // splits) * splits
    scores = []
    for part in np.split(p[:n], splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None)))).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


@dataclass(frozen=True)
class Classifier:
    """Images → class probabilities, with the name written next to every score.

    Args:
        name: network and weights.
        classes: number of classes (the IS ceiling).
        predict: ``uint8`` RGB images → ``[N, classes]`` probabilities.
    """

    name: str
    classes: int
    predict: Callable[[Sequence[np.ndarray]], np.ndarray]


def get_classifier(name: str = "auto", path: str | None = None) -> Classifier:
    """The IS classifier by name: ``"inception"``, ``"domain"`` or ``"auto"`` (Inception if present).

    Raises:
        MetricUnavailable: its weights are not here.
        ValueError: unknown name.
    """
    if name in ("inception", "auto"):
        try:
            return _inception_classifier(path)
        except MetricUnavailable:
            if name == "inception":
                raise
    if name in ("domain", "auto"):
        from engine.errors import CheckpointError
        from engine.weights.store import find_checkpoint, load_checkpoint

        p = path if name == "domain" and path else find_checkpoint("opera_colour_resnet18")
        if p is None:
            raise MetricUnavailable("no trained opera colour classifier (opera_colour_resnet18) for the domain IS")
        try:
            from engine.device import select_device

            loaded, card = load_checkpoint(p, device=str(select_device().device))  # inputs follow the model
        except CheckpointError as exc:
            raise MetricUnavailable(str(exc)) from None
        model: Any = loaded
        return Classifier(f"opera-domain resnet18 7-class softmax ({card.sha256[:12]})", int(model.net.fc.out_features),
                          lambda images: model.predict_proba(list(images)))
    raise ValueError(f"unknown IS classifier {name!r} (inception, domain, auto)")


def _inception_classifier(path: str | None) -> Classifier:
    """Not supported here: the extractor of :mod:`engine.metrics.distribution` keeps pool features only."""
    raise MetricUnavailable("IS with ImageNet Inception-v3 is not supported in this build (FID/KID use its pool "
                            "features only); use the domain classifier")


def score_images(images: Sequence[np.ndarray], classifier: Classifier, splits: int = 10) -> dict[str, Any]:
    """``{"is": mean, "is_std": std, "classifier": name, "n": N, "classes": K}`` of ``uint8`` RGB images."""
    probs = classifier.predict(images)
    mean, std = inception_score(probs, min(splits, len(images)))
    return {"is": mean, "is_std": std, "classifier": classifier.name, "n": len(images), "classes": classifier.classes}
