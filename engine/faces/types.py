"""Results of face analysis (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.faces import topology as T


@dataclass
class Face:
    """One detected face, in the pixel coordinates of the analysed image.

    Args:
        box: ``[4]`` float ``(x0, y0, x1, y1)``.
        score: detector confidence in [0, 1].
        landmarks: ``[478, 2]`` float32 MediaPipe face-mesh points ``(x, y)``, or ``None`` when the
            mesh could not be fitted (extreme pose, tiny or occluded face).
        keypoints: ``[3, 2]`` float32: person's right eye centre, person's left eye centre, mouth
            centre (from the mesh when present, else from the detector). Used for alignment.
        source: which detector found the face (``"mediapipe"``, ``"retinaface"``).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None
    keypoints: np.ndarray
    source: str = "mediapipe"

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def to_json(self) -> dict[str, Any]:
        """``{"box", "score", "landmarks"}`` as in ``masquerade analyze``'s landmarks.json."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": None if self.landmarks is None else [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "source": self.source,
        }


def keypoints_from_mesh(landmarks: np.ndarray) -> np.ndarray:
    """``[3, 2]``: right eye centre, left eye centre, mouth centre, from 478 mesh points."""
    lm = np.asarray(landmarks, np.float32)
    right = lm[list(T.RIGHT_EYE)].mean(0)
    left = lm[list(T.LEFT_EYE)].mean(0)
    mouth = lm[list(T.MOUTH_CORNERS)].mean(0)
    return np.stack([right, left, mouth]).astype(np.float32)


@dataclass
class FaceAnalysis:
    """Everything the studios need about the faces in one image.

    Args:
        shape: ``(H, W)`` of the analysed image.
        faces: detected faces, largest first.
        parsing: ``uint8`` ``[H, W]`` label map in the official CelebAMask-HQ order, or ``None`` if
            parsing was not requested.
        info: backends used and timings, e.g. ``{"detector": "mediapipe", "parser": "geometric"}``.
    """

    shape: tuple[int, int]
    faces: list[Face] = field(default_factory=list)
    parsing: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def largest(self) -> Face | None:
        return self.faces[0] if self.faces else None
