"""Head pose (yaw, pitch, roll) of a face from its 478-point mesh.

The pose is the rotation of a mean head (:data:`POSE_MODEL_FILE`: 64 mesh points — face oval, eye
corners, nose — no lips, lids or brows, which move with the expression) that best explains the
face's 2-D landmarks under a scaled orthographic camera, the same camera the mesh itself is fitted
with (MediaPipe fits its mesh to a face crop without perspective), solved in closed form (least
squares affine camera, nearest scaled rotation).

Zero is defined anatomically on the head model, not by a convention of the data: x runs from the
outermost oval point on the image's left (234, about the ear) to the one on the right (454); the
face looks along the line from those two to the midpoint of the points under the eyes (230, 450,
the lower rim of the eye sockets) — an approximate Frankfurt plane (ear to orbit), the usual zero of
head pitch. Yaw, pitch and roll then are the rotation from that frame to the camera's (x right,
y down, z away from the camera).

:func:`build_head_model` makes the model from 3-D meshes (MediaPipe gives a depth per point);
``python -m bench.pose --build`` rebuilds the shipped file from two public-domain portraits and
measures the pose against each face's own 3-D frame.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.faces import topology as T

POSE_MODEL_FILE: Path = Path(__file__).resolve().parents[2] / "resources" / "face_pose_model.json"
"""The shipped head model (JSON: ``points`` = mesh indices, ``xyz`` = their 3-D positions)."""

POSE_POINTS: tuple[int, ...] = tuple(sorted(set(T.FACE_OVAL) | set(T.NOSE) | {33, 133, 263, 362}))
"""Mesh points the pose is fitted to: the face oval, the nose and the eye corners (64 points)."""

EAR_POINTS: tuple[int, int] = (T.JAW_RIGHT, T.JAW_LEFT)
"""Outermost oval points (image-left, image-right): the head model's x axis runs between them."""

ORBIT_POINTS: tuple[int, int] = (230, 450)
"""Points on the lower rim of the eye sockets (image-left, image-right): with :data:`EAR_POINTS`
they span the head model's horizontal (Frankfurt-like) plane."""


@dataclass(frozen=True)
class HeadModel:
    """A mean head at some mesh points, in its anatomical frame.

    Args:
        points: mesh indices.
        xyz: ``[len(points), 3]`` positions: x to the image's right, y down, z away from the camera
            for a frontal, upright face; centred, unit ear-to-ear width.
    """

    points: tuple[int, ...]
    xyz: np.ndarray


def head_frame(mesh: np.ndarray) -> np.ndarray:
    """The anatomical frame of a 3-D mesh: ``[3, 3]`` rotation whose columns are the head's x, y, z.

    Args:
        mesh: ``[≥468, 3]`` points (x right, y down, z away from the camera, one scale for all three).

    Returns:
        A rotation matrix: the identity for a frontal, upright head.

    Example:
        >>> m = np.zeros((468, 3))
        >>> m[234], m[454], m[230], m[450] = [-1, 0, 1], [1, 0, 1], [-0.4, 0, 0], [0.4, 0, 0]
        >>> bool(np.allclose(head_frame(m), np.eye(3)))
        True
    """
    m = np.asarray(mesh, np.float64)
    x = m[EAR_POINTS[1]] - m[EAR_POINTS[0]]
    x /= np.linalg.norm(x)
    forward = (m[ORBIT_POINTS[0]] + m[ORBIT_POINTS[1]]) / 2 - (m[EAR_POINTS[0]] + m[EAR_POINTS[1]]) / 2
    forward -= x * float(forward @ x)
    z = -forward / np.linalg.norm(forward)  # the face looks towards the camera: -z
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def build_head_model(meshes: Sequence[np.ndarray], points: Sequence[int] = POSE_POINTS) -> HeadModel:
    """Mean head of 3-D meshes (each with its mirror image), in the anatomical frame.

    Args:
        meshes: ``[≥468, 3]`` meshes (pixels; depth on the same scale).
        points: which mesh points the model keeps.

    Returns:
        The model, left/right symmetric, centred, unit ear-to-ear width.

    Raises:
        ValueError: no mesh, or a mesh with fewer than 468 points.
    """
    if not meshes:
        raise ValueError("a head model needs at least one 3-D mesh")
    mirror = np.asarray(T.MIRROR[:468])
    shapes = []
    for mesh in meshes:
        m = np.asarray(mesh, np.float64)
        if m.ndim != 2 or m.shape[0] < 468 or m.shape[1] != 3:
            raise ValueError(f"a 3-D mesh has shape [≥468, 3], got {m.shape}")
        m = m[:468]
        for view in (m, (m * [-1.0, 1.0, 1.0])[mirror]):
            c = (view - view.mean(0)) @ head_frame(view)
            shapes.append(c / np.linalg.norm(c[EAR_POINTS[1]] - c[EAR_POINTS[0]]))
    mean = np.mean(shapes, axis=0)
    idx = list(points)
    xyz = mean[idx] - mean[idx].mean(0)
    return HeadModel(tuple(int(i) for i in idx), xyz)


def save_head_model(model: HeadModel, path: Path) -> None:
    """Write ``model`` as JSON (``points``, ``xyz`` rounded to 1e-5), atomically."""
    from engine.imageio import atomic_write_bytes

    doc = {"points": list(model.points), "xyz": np.round(model.xyz, 5).tolist()}
    atomic_write_bytes(path, (json.dumps(doc, separators=(",", ":")) + "\n").encode("utf-8"))


@lru_cache(maxsize=4)
def load_head_model(path: Path = POSE_MODEL_FILE) -> HeadModel:
    """Read a head model written by :func:`save_head_model`.

    Raises:
        ValueError: the file is not a head model.
    """
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    points = tuple(int(i) for i in doc["points"])
    xyz = np.asarray(doc["xyz"], np.float64)
    if xyz.shape != (len(points), 3) or len(points) < 4:
        raise ValueError(f"{path}: not a head model (points {len(points)}, xyz {xyz.shape})")
    return HeadModel(points, xyz)


def fit_rotation(model: np.ndarray, image_points: np.ndarray) -> np.ndarray:
    """Rotation of ``model`` that best explains ``image_points`` under a scaled orthographic camera.

    Least-squares affine camera (2 × 3), then the nearest matrix with orthonormal rows (SVD); the
    third row completes a right-handed rotation.

    Args:
        model: ``[N, 3]`` 3-D points.
        image_points: ``[N, 2]`` their image positions.

    Returns:
        ``[3, 3]`` rotation from model to camera axes.
    """
    x3 = np.asarray(model, np.float64)
    x2 = np.asarray(image_points, np.float64)
    affine = np.linalg.lstsq(x3 - x3.mean(0), x2 - x2.mean(0), rcond=None)[0].T
    u, _, vt = np.linalg.svd(affine, full_matrices=False)
    rows = u @ vt
    return np.vstack([rows, np.cross(rows[0], rows[1])])


def rotation_angles(r: np.ndarray) -> dict[str, float]:
    """``{"yaw", "pitch", "roll"}`` in degrees of a head rotation ``r = Rz(roll) Ry(-yaw) Rx(-pitch)``.

    Signs: yaw > 0 when the nose points to the image's right, pitch > 0 when it points up, roll > 0
    when the eyes' line turns clockwise in the image.
    """
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    yaw = np.degrees(np.arctan2(-r[2, 0], np.hypot(r[2, 1], r[2, 2])))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return {"yaw": _deg(-yaw), "pitch": _deg(-pitch), "roll": _deg(roll)}


def head_pose(landmarks: np.ndarray, model: HeadModel | None = None) -> dict[str, float]:
    """Head pose of a face from its mesh: yaw, pitch and roll in degrees.

    Args:
        landmarks: ``[478, 2]`` (or ``[478, 3]``) mesh points in pixels; only x and y are used.
        model: the head model (default: the shipped one).

    Returns:
        ``{"yaw", "pitch", "roll"}`` in degrees, rounded to 0.01 (signs as in
        :func:`rotation_angles`); all 0 for a frontal, upright face. A generic head and no
        calibration: expect a few degrees of error, more for faces turned past ~60°.

    Raises:
        ValueError: fewer than 478 points.

    Example:
        >>> head = load_head_model()
        >>> lm = np.zeros((478, 2))
        >>> lm[list(head.points)] = head.xyz[:, :2] * 120 + 256  # a frontal face, 120 px ear to ear
        >>> head_pose(lm)
        {'yaw': 0.0, 'pitch': 0.0, 'roll': 0.0}
    """
    pts = np.asarray(landmarks, np.float64)
    if pts.ndim != 2 or pts.shape[0] < 478 or pts.shape[1] < 2:
        raise ValueError(f"head pose needs the 478-point mesh, got shape {pts.shape}")
    head = load_head_model() if model is None else model
    return rotation_angles(fit_rotation(head.xyz, pts[list(head.points), :2]))


def _deg(value: float) -> float:
    out = round(float(value), 2)
    return 0.0 if out == 0 else out  # no -0.0 in the records
