"""Inception Score sanity: one class ≈ 1, balanced confident classes ≈ their number."""

from __future__ import annotations

import numpy as np
import pytest

from engine.metrics import inception_score
from engine.metrics.inception_score import Classifier, score_images


def test_one_class_is_one_and_balanced_confident_is_k() -> None:
    k = 7
    one = np.tile(np.eye(k)[2], (70, 1))
    assert inception_score(one, splits=7)[0] == pytest.approx(1.0, abs=1e-9)
    confident = np.eye(k)[np.arange(70) % k] * 0.994 + 0.001  # rows sum to 1
    mean, std = inception_score(confident, splits=10)
    assert mean == pytest.approx(k, rel=0.05) and std < 1e-6
    uniform = np.full((20, k), 1.0 / k)
    assert inception_score(uniform, splits=2)[0] == pytest.approx(1.0)
    half = np.eye(k)[np.arange(40) % 2]
    assert inception_score(half, splits=1)[0] == pytest.approx(2.0, rel=1e-6)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="probability"):
        inception_score(np.full((4, 3), 0.5))
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.eye(3), splits=5)
    with pytest.raises(ValueError, match="shape"):
        inception_score(np.ones(3))


def test_score_images_names_the_classifier() -> None:
    clf = Classifier("fake 3-class", 3, lambda imgs: np.eye(3)[[int(i.mean()) % 3 for i in imgs]])
    imgs = [np.full((8, 8, 3), v, np.uint8) for v in range(30)]
    out = score_images(imgs, clf)
    assert out["classifier"] == "fake 3-class" and out["n"] == 30 and out["is"] == pytest.approx(3.0, rel=1e-6)
