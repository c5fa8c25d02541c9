"""Head pose from the 2-D mesh: the shipped head model, known rotations recovered, mirror symmetry,
the model builder's frame, and a real portrait turned in its plane."""

from __future__ import annotations

import numpy as np
import pytest

from engine.faces import topology as T
from engine.faces.pose import (
    EAR_POINTS,
    ORBIT_POINTS,
    POSE_POINTS,
    build_head_model,
    fit_rotation,
    head_frame,
    head_pose,
    load_head_model,
    rotation_angles,
)


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation with the documented signs (x right, y down, z away from the camera)."""
    y, p, r = np.radians([-yaw, -pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _seen(angles: tuple[float, float, float], distance: float = 40.0) -> np.ndarray:
    """478 landmarks of the shipped head at ``angles``, seen by a pinhole camera ``distance`` ear
    widths away (a mild perspective the orthographic fit must tolerate)."""
    head = load_head_model()
    pts = head.xyz @ _rot(*angles).T + [0, 0, distance]
    lm = np.full((478, 2), np.nan)
    lm[list(head.points)] = pts[:, :2] / pts[:, 2:] * distance * 150 + [300, 260]
    return lm


def test_shipped_model_is_symmetric_and_frontal() -> None:
    head = load_head_model()
    assert head.points == POSE_POINTS and head.xyz.shape == (64, 3)
    where = {p: i for i, p in enumerate(head.points)}
    for p in head.points:
        q = T.MIRROR[p]
        assert q in where, p
        assert head.xyz[where[q]] == pytest.approx(head.xyz[where[p]] * [-1, 1, 1], abs=1e-4)
    nose, chin, forehead = (head.xyz[where[i]] for i in (T.NOSE_TIP, T.CHIN, T.FOREHEAD))
    assert nose[2] < head.xyz[:, 2].mean()  # the nose is the nearest part to the camera
    assert forehead[1] < nose[1] < chin[1]  # y down
    assert np.linalg.norm(head.xyz[where[EAR_POINTS[1]]] - head.xyz[where[EAR_POINTS[0]]]) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("angles", [(0, 0, 0), (25, 0, 0), (0, 15, 0), (0, -20, 0), (0, 0, -10), (-30, -10, 8),
                                    (45, 20, 5)])
def test_head_pose_recovers_a_projected_head(angles: tuple[float, float, float]) -> None:
    got = head_pose(_seen(angles))
    assert [got["yaw"], got["pitch"], got["roll"]] == pytest.approx(angles, abs=1.0)


def test_yaw_sign_follows_the_nose() -> None:
    lm = _seen((20, 0, 0))
    assert lm[T.NOSE_TIP, 0] > np.nanmean(lm[list(T.FACE_OVAL), 0])  # nose towards the image's right
    assert head_pose(lm)["yaw"] > 15


def test_mirrored_face_negates_yaw_and_roll() -> None:
    lm = _seen((18, 9, 6))
    mirrored = np.empty_like(lm)
    mirrored[list(T.MIRROR)] = lm * [-1, 1] + [600, 0]  # landmark i of the mirror is MIRROR[i] of the face
    a, b = head_pose(lm), head_pose(mirrored)
    assert b["yaw"] == pytest.approx(-a["yaw"], abs=0.05) and b["roll"] == pytest.approx(-a["roll"], abs=0.05)
    assert b["pitch"] == pytest.approx(a["pitch"], abs=0.05)


def test_head_pose_refuses_a_partial_mesh() -> None:
    with pytest.raises(ValueError, match="478"):
        head_pose(np.zeros((68, 2)))


def test_model_builder_undoes_the_pose_of_its_meshes() -> None:
    rng = np.random.default_rng(0)
    base = np.zeros((468, 3))
    head = load_head_model()
    base[list(head.points)] = head.xyz
    for i in range(468):  # other points: anywhere on a symmetric blob
        if i not in head.points and T.MIRROR[i] >= i:
            base[i] = rng.normal(0, 0.2, 3)
            base[T.MIRROR[i]] = base[i] * [-1, 1, 1] if T.MIRROR[i] != i else base[i] * [0, 1, 1]
    ears = (base[EAR_POINTS[0]] + base[EAR_POINTS[1]]) / 2
    base[ORBIT_POINTS[0]], base[ORBIT_POINTS[1]] = ears + [-0.3, 0, -0.6], ears + [0.3, 0, -0.6]  # frame: identity
    turned = [(base @ _rot(*a).T) * 200 + [250, 240, 0] for a in [(30, 0, 0), (-10, 25, -15)]]
    rebuilt = build_head_model(turned)
    assert rebuilt.xyz == pytest.approx(head.xyz, abs=2e-3)  # same shape, same frame
    assert rotation_angles(head_frame(turned[1]).T @ _rot(-10, 25, -15)) == pytest.approx(
        {"yaw": 0.0, "pitch": 0.0, "roll": 0.0}, abs=0.01)
    with pytest.raises(ValueError):
        build_head_model([])


def test_frame_points_are_mirror_pairs() -> None:
    assert T.MIRROR[EAR_POINTS[0]] == EAR_POINTS[1] and T.MIRROR[ORBIT_POINTS[0]] == ORBIT_POINTS[1]


def test_fit_rotation_is_a_rotation() -> None:
    rng = np.random.default_rng(1)
    model = rng.normal(size=(30, 3))
    r = fit_rotation(model, rng.normal(size=(30, 2)))
    assert r @ r.T == pytest.approx(np.eye(3), abs=1e-9) and np.linalg.det(r) == pytest.approx(1.0)


def test_real_portrait_turned_in_its_plane() -> None:
    """The astronaut (public domain): near frontal, and turning the picture by 20° changes roll by
    20° and yaw / pitch by little — the mesh the product fits, not a synthetic head."""
    import cv2
    from skimage import data

    from engine.faces import FaceAnalyzer

    rgb = data.astronaut()
    analyzer = FaceAnalyzer()
    face = analyzer.analyze(rgb, parse=False).largest
    assert face is not None and face.landmarks is not None
    upright = head_pose(face.landmarks)
    assert abs(upright["yaw"]) < 12 and abs(upright["pitch"]) < 15 and abs(upright["roll"]) < 10
    m = cv2.getRotationMatrix2D((256, 256), -20, 1.0)  # clockwise by 20°
    turned = analyzer.analyze(cv2.warpAffine(rgb, m, (512, 512), borderMode=cv2.BORDER_REFLECT), parse=False).largest
    assert turned is not None and turned.landmarks is not None
    got = head_pose(turned.landmarks)
    assert got["roll"] - upright["roll"] == pytest.approx(20, abs=3)
    assert got["yaw"] == pytest.approx(upright["yaw"], abs=4) and got["pitch"] == pytest.approx(upright["pitch"], abs=4)
