"""Main-colour classification with a backend choice: classical paint rules or the trained ResNet-18.

``auto`` uses the network only when its checkpoint card records that it measured better than the
classical classifier (``extra.better_than_classical``: held-out procedural *and* dev lianpu);
otherwise, or when no checkpoint is present, the classical classifier runs. A network with random
weights is never used.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from engine.errors import CheckpointError
from engine.studios.opera.classical import (
    OPERA_COLOUR_MEANINGS,
    ColourClass,
    classify_main_colour,
)
from engine.weights.store import (
    CheckpointStatus,
    find_checkpoint,
    load_checkpoint,
    probe_checkpoint,
)

BACKENDS: tuple[str, ...] = ("auto", "classical", "learned")
MODEL_NAME = "opera_colour_resnet18"


def learned_status() -> tuple[CheckpointStatus, bool]:
    """The classifier checkpoint's status and whether its card says it beats the classical one."""
    st = probe_checkpoint(find_checkpoint(MODEL_NAME))
    better = bool(st.loadable and st.card is not None and st.card.extra.get("better_than_classical") is True)
    return st, better


@lru_cache(maxsize=2)
def _model(path: str, mtime: float):
    model, _ = load_checkpoint(path, device="cpu")
    return model


def classify(image: np.ndarray, backend: str = "auto", checkpoint: Optional[Path] = None) -> ColourClass:
    """Classify a lianpu's main colour.

    Args:
        image: ``uint8`` RGB or RGBA lianpu.
        backend: ``"classical"``, ``"learned"`` (the ResNet-18; error when there is none) or
            ``"auto"`` (learned only when its card says it measured better).
        checkpoint: a specific classifier card (default: the first found).

    Returns:
        :class:`~engine.studios.opera.classical.ColourClass`; ``backend`` says which classifier ran
        (``"resnet18"`` for the network, whose ``scores`` are its probabilities).

    Raises:
        ValueError: unknown backend or bad image.
        CheckpointError: ``backend="learned"`` without a usable checkpoint.
    """
    from engine.labels import OPERA_COLOURS

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "classical":
        return classify_main_colour(image)
    path = checkpoint or find_checkpoint(MODEL_NAME)
    st = probe_checkpoint(path)
    if backend == "auto":
        better = st.loadable and st.card is not None and st.card.extra.get("better_than_classical") is True
        if not better:
            return classify_main_colour(image)
    elif not st.loadable:
        raise CheckpointError(f"no usable opera colour classifier: {st.reason} (train one with "
                              "`masquerade train opera-classifier`)")
    model = _model(str(st.path), st.path.stat().st_mtime)
    probs = model.predict_proba([np.asarray(image)])[0]
    best = OPERA_COLOURS[int(np.argmax(probs))]
    return ColourClass(colour=best, scores={c: float(probs[i]) for i, c in enumerate(OPERA_COLOURS)},
                       meaning=OPERA_COLOUR_MEANINGS[best], backend="resnet18")
