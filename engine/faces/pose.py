"""Head pose (yaw, pitch, roll) of a face from its 478-point mesh."""

from __future__ import annotations

import numpy as np

POSE_POINTS: tuple[int, ...] = (1, 152, 33, 263, 61, 291)
"""Mesh points the head pose is fitted to: nose tip, chin, the outer eye corners and the mouth
corners (image-left one first in each pair for a frontal face)."""

POSE_MODEL: np.ndarray = np.array([
    [0.0, 0.0, 0.0],          # nose tip
    [0.0, 330.0, 65.0],       # chin
    [-225.0, -170.0, 135.0],  # outer corner of the eye on the image's left (person's right)
    [225.0, -170.0, 135.0],   # outer corner of the other eye
    [-150.0, 150.0, 125.0],   # mouth corner on the image's left
    [150.0, 150.0, 125.0],    # the other mouth corner
])
"""A generic head at those points (arbitrary units ≈ 0.1 mm), camera axes: x right, y down, z away
from the camera; the classic six-point model of head-pose estimation."""


def head_pose(landmarks: np.ndarray, width: int, height: int) -> dict[str, float]:
    """Head pose of a face from its mesh: yaw, pitch and roll in degrees.

    A pinhole camera (focal length = the image's longer side, centre in the middle) and
    :data:`POSE_MODEL` fitted to :data:`POSE_POINTS` with ``cv2.solvePnP``; rough (a generic head,
    no calibration: a few degrees) but stable, and it is what the record's ``head_pose`` holds.

    Args:
        landmarks: ``[478, 2]`` (or ``[478, 3]``) mesh points in pixels.
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        ``{"yaw", "pitch", "roll"}`` in degrees, rounded to 0.01: yaw > 0 when the nose points to
        the image's right, pitch > 0 when it points up, roll > 0 when the eyes' line turns
        clockwise in the image; all 0 for a frontal, upright face.

    Raises:
        ValueError: fewer than 478 points, or the fit failed.

    Example:
        >>> head = POSE_MODEL - POSE_MODEL.mean(0) + [0, 0, 2500]  # a frontal head 2.5 m away
        >>> lm = np.zeros((478, 2))
        >>> lm[list(POSE_POINTS)] = head[:, :2] / head[:, 2:] * 200 + 100  # seen by a 200 px camera
        >>> head_pose(lm, 200, 200)
        {'yaw': 0.0, 'pitch': 0.0, 'roll': 0.0}
    """
    import cv2

    pts = np.asarray(landmarks, np.float64)
    if pts.ndim != 2 or pts.shape[0] < 478 or pts.shape[1] < 2:
        raise ValueError(f"head pose needs the 478-point mesh, got shape {pts.shape}")
    image_pts = np.ascontiguousarray(pts[list(POSE_POINTS), :2])
    f = float(max(width, height))
    camera = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float64)
    # start from a frontal head at the distance that gives the face its size: the fit stays on
    # the right one of the mirror-image solutions
    scale = np.ptp(image_pts[:, 0]) / np.ptp(POSE_MODEL[:, 0])
    tz = f / max(scale, 1e-6)
    centre = image_pts[0]
    t0 = np.array([(centre[0] - width / 2) * tz / f, (centre[1] - height / 2) * tz / f, tz])
    ok, rvec, _ = cv2.solvePnP(POSE_MODEL, image_pts, camera, None, np.zeros(3), t0,
                               useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise ValueError("head pose fit failed")
    r, _ = cv2.Rodrigues(rvec)
    # r = Rz(roll) @ Ry(yaw') @ Rx(pitch'): x right, y down, z away from the camera
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    yaw = np.degrees(np.arctan2(-r[2, 0], np.hypot(r[2, 1], r[2, 2])))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return {"yaw": _deg(-yaw), "pitch": _deg(-pitch), "roll": _deg(roll)}


def _deg(value: float) -> float:
    out = round(float(value), 2)
    return 0.0 if out == 0 else out  # no -0.0 in the records
