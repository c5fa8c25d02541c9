"""Person / background split with MediaPipe selfie segmentation (ships inside the wheel)."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from engine.imageio import downscale_to

SEGMENT_SIDE = 512
"""The segmenter runs on a copy whose long side is at most this (its model input is 256²)."""


class PersonSegmenter:
    """Soft person mask of an RGB image (MediaPipe selfie segmentation, general model)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model = None

    def _get(self):
        if self._model is None:
            from engine._compat.mediapipe_light import solution

            self._model = solution("selfie_segmentation").SelfieSegmentation(model_selection=0)
        return self._model

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """``float32`` ``[H, W]`` person probability in [0, 1]."""
        h, w = rgb.shape[:2]
        small, _ = downscale_to(rgb, SEGMENT_SIDE)
        with self._lock:
            prob = self._get().process(np.ascontiguousarray(small)).segmentation_mask
        prob = np.clip(np.asarray(prob, np.float32), 0, 1)
        if prob.shape != (h, w):
            prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        return prob

    def mask(self, rgb: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Boolean ``[H, W]`` person mask."""
        return self.probability(rgb) > threshold
