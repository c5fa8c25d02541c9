"""Main-colour classification with a backend choice: classical paint rules or the trained ResNet-18.

:data:`CLASSIFIER` is the network's :class:`~engine.studios.base.LearnedBackend`: ``auto`` uses it
only when its card's verdict says it measured better than the classical classifier (held-out
procedural *and* dev lianpu); otherwise, when no checkpoint is present, or when it cannot be loaded
(corrupt, replaced), the classical classifier runs. An explicit ``"learned"`` request without a
usable checkpoint fails with one line. A network with random weights is never used.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.studios.base import LEARNED, LearnedBackend
from engine.studios.opera.classical import (
    OPERA_COLOUR_MEANINGS,
    ColourClass,
    classify_main_colour,
)

BACKENDS: tuple[str, ...] = ("auto", "classical", "learned")
"""What :func:`classify` (and ``masquerade opera classify --backend``) accepts."""
MODEL_NAME = "opera_colour_resnet18"
"""Registry name in the classifier's card."""

CLASSIFIER = LearnedBackend(
    MODEL_NAME,
    title="the opera colour classifier (ResNet-18)",
    classical="classical paint rules",
    train_hint="masquerade train opera-classifier",
)
"""The trained main-colour classifier: card look-up, decision, loading on the device, cache."""


def classify(image: np.ndarray, backend: str = "auto", checkpoint: Path | None = None) -> ColourClass:
    """Classify a lianpu's main colour.

    Args:
        image: ``uint8`` RGB or RGBA lianpu.
        backend: ``"classical"``, ``"learned"`` (the ResNet-18; error when there is none) or
            ``"auto"`` (learned only when its card says it measured better and it loads).
        checkpoint: a specific classifier card (default: the first found).

    Returns:
        :class:`~engine.studios.opera.classical.ColourClass`; ``backend`` says which classifier ran
        (``"resnet18"`` for the network, whose ``scores`` are its probabilities), ``note`` why
        (including why ``auto`` fell back to the paint rules).

    Raises:
        ValueError: unknown backend or bad image.
        LearnedBackendError: ``backend="learned"`` without a usable checkpoint (a ``ValueError``).
    """
    from engine.labels import OPERA_COLOURS

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    resolution = CLASSIFIER.resolve(LEARNED if backend == "learned" else backend, checkpoint)
    model, resolution = CLASSIFIER.load_or_fallback(resolution)
    if model is None:
        return replace(classify_main_colour(image), note=resolution.reason)
    probs = model.predict_proba([np.asarray(image)])[0]
    best = OPERA_COLOURS[int(np.argmax(probs))]
    return ColourClass(colour=best, scores={c: float(probs[i]) for i, c in enumerate(OPERA_COLOURS)},
                       meaning=OPERA_COLOUR_MEANINGS[best], backend="resnet18", note=resolution.reason)
