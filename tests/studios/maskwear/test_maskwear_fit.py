"""Mask-wear fit that respects the face: one smooth warp (no midline break), the chin on the jaw line
(neck clear), lighting that shades without taking the skin's colour."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from engine.faces import FaceAnalyzer
from engine.faces import topology as T
from engine.procedural.mask_templates import MaskTemplate
from engine.studios.maskwear.classical import FACE_ANCHORS, jaw_guard, warp_template
from engine.studios.maskwear.editor import put_mask
from engine.studios.maskwear.params import MaskWearParams


@pytest.fixture(scope="module")
def astro():
    img = data.astronaut()
    return img, FaceAnalyzer(detector="mediapipe", parser="geometric").analyze(img, parse=False).faces


def _striped() -> MaskTemplate:
    """A 512×400 template of horizontal black/white stripes 20 px high, anchors as the built-ins."""
    rgba = np.zeros((400, 512, 4), np.uint8)
    rgba[:, :, 3] = 255
    rgba[:, :, :3] = (((np.arange(400) // 20) % 2) * 255).astype(np.uint8)[:, None, None]
    anchors = {"a": (40, 90), "b": (256, 40), "c": (472, 90), "d": (60, 300), "e": (256, 360), "f": (452, 300)}
    return MaskTemplate("stripes", rgba, anchors, "user")


def test_stripes_stay_continuous_across_the_midline() -> None:
    """A turned head (far half squeezed): the rows of stripes just left and right of the midline
    match (the former two-half warp broke them there)."""
    t = _striped()
    targets = np.array([[100, 160], [210, 120], [260, 160], [120, 260], [210, 320], [255, 260]], np.float32)
    rgb, alpha = warp_template(t, targets, (400, 400))
    mid = 210
    left, right = rgb[130:300, mid - 2, 0], rgb[130:300, mid + 2, 0]
    assert (alpha[130:300, mid - 2] > 0.99).all() and (alpha[130:300, mid + 2] > 0.99).all()
    assert np.abs(left - right).mean() < 25, np.abs(left - right).mean()
    # and the warp still lands the anchors: the template's pixel under anchor b is where b goes
    assert alpha[125, 210] > 0.5


def test_chin_on_the_jaw_line_neck_clear(astro) -> None:
    img, faces = astro
    lm = faces[0].landmarks
    # the mask's body (the ear loops run to the ears beside the face: test_ear_loops_run_to_the_visible_ears)
    _, alpha, targets = put_mask(img, faces, MaskWearParams(template="surgical-blue", method="keypoint",
                                                            ear_loops=False))
    assert np.allclose(targets[0][4], lm[FACE_ANCHORS["e"]])  # anchor e is the chin point itself
    height = float(np.hypot(*(lm[T.FOREHEAD] - lm[T.CHIN])))
    for dy in (0.08, 0.15, 0.3):  # under the chin: the neck
        x, y = np.round(lm[T.CHIN] + (0, dy * height)).astype(int)
        assert alpha[y, x] == 0.0, dy
    x, y = np.round(lm[T.CHIN] - (0, 0.04 * height)).astype(int)
    assert alpha[y, x] > 0.9  # the chin itself is covered
    guard = jaw_guard(img.shape[:2], faces[0])
    assert guard[int(lm[T.NOSE_TIP][1]), int(lm[T.NOSE_TIP][0])] == 1.0 and (alpha <= guard + 1e-6).all()


def test_white_mask_stays_white_on_dark_skin(astro) -> None:
    """Darkening only the face (darker skin, same light): the white mask's brightness changes by the
    shading only, not by the skin's tone."""
    from bench.maskwear import white_mask_on_dark_skin

    img, faces = astro
    w = white_mask_on_dark_skin(img, faces)
    light, darkm = w["mask_on_light"], w["mask_on_dark"]
    assert abs(light - darkm) < 0.06 * light, (light, darkm)
    assert darkm > 180  # white, not mid-grey


def test_turned_heads_wear_the_side_views() -> None:
    from engine.faces.types import Face
    from engine.procedural.mask_templates import get_template
    from engine.studios.maskwear.classical import face_yaw, template_for_face

    lm = np.zeros((478, 2), np.float32)
    lm[T.NOSE_TIP] = (200, 200)
    lm[FACE_ANCHORS["a"]], lm[FACE_ANCHORS["c"]] = (100, 180), (300, 180)
    frontal = Face(np.array([90, 90, 310, 330], np.float32), 0.9, lm.copy(), lm[:3].copy())
    lm[FACE_ANCHORS["a"]] = (170, 180)  # the nose moved towards the image's left: that cheek turns away
    turned = Face(frontal.box, 0.9, lm.copy(), lm[:3].copy())
    mirrored = Face(frontal.box, 0.9, np.stack([400 - lm[:, 0], lm[:, 1]], 1)[[*range(478)]], lm[:3].copy())
    mirrored.landmarks[[FACE_ANCHORS["a"], FACE_ANCHORS["c"]]] = mirrored.landmarks[[FACE_ANCHORS["c"], FACE_ANCHORS["a"]]]
    assert abs(face_yaw(frontal)) < 1e-6 and face_yaw(turned) > 0.4 and face_yaw(mirrored) < -0.4
    t = get_template("mtf-surgical")
    assert template_for_face(t, frontal) is t
    assert template_for_face(t, turned).name == "mtf-surgical-left"
    assert template_for_face(t, mirrored).name == "mtf-surgical-right"
    drawn = get_template("surgical-blue")
    assert template_for_face(drawn, turned) is drawn  # no side view: the fit narrows the far side


def test_ear_loops_are_optional(astro) -> None:
    from engine.procedural.mask_templates import get_template

    with_loops, without = get_template("surgical-blue"), get_template("surgical-blue", ear_loops=False)
    body_only = without.rgba[:, :, 3] > 0
    loops = (with_loops.rgba[:, :, 3] > 0) & ~body_only
    assert loops.sum() > 500 and (without.rgba[:, :, 3][:, :30] == 0).all()  # the loops left the corners
    img, faces = astro
    _, a1, _ = put_mask(img, faces, MaskWearParams(method="keypoint"))
    _, a0, _ = put_mask(img, faces, MaskWearParams(method="keypoint", ear_loops=False))
    assert (a0 <= a1 + 1e-6).all() and (a1 > 0.5).sum() > (a0 > 0.5).sum()


def test_ear_loops_run_to_the_visible_ears(astro) -> None:
    from dataclasses import replace

    from engine.studios.maskwear.classical import ear_points

    img, faces = astro
    face = faces[0]
    lm = face.landmarks
    width = float(np.hypot(*(lm[T.JAW_LEFT] - lm[T.JAW_RIGHT])))
    _, a1, _ = put_mask(img, faces, MaskWearParams(method="keypoint"))
    _, a0, _ = put_mask(img, faces, MaskWearParams(method="keypoint", ear_loops=False))
    loops = (a1 > 0.3) & (a0 < 0.05)
    ys, xs = np.nonzero(loops)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    ears = ear_points(face)
    assert set(ears) == {"left", "right"}  # a frontal face shows both ears
    for top, lobe, _ in ears.values():  # each loop reaches its ear: drawn pixels at the top root and the lobe
        for end in (top, lobe):
            assert np.hypot(*(pts - end).T).min() < 0.03 * width
    # never down the neck: no loop pixel below the mask's lower corners (anchors d, f on the jaw)
    assert ys.max() <= max(lm[FACE_ANCHORS["d"]][1], lm[FACE_ANCHORS["f"]][1]) + 0.02 * width
    # the loops stay beside the face: nothing between the eyes' outer corners
    x_in = sorted((lm[33][0], lm[263][0]))
    assert not ((xs > x_in[0] + 0.05 * width) & (xs < x_in[1] - 0.05 * width)).any()
    # a head turned to the image's left hides its left ear (the nose near that cheek contour): one loop side
    turned = lm.copy()
    turned[T.NOSE_TIP] = lm[FACE_ANCHORS["a"]] * 0.8 + lm[FACE_ANCHORS["c"]] * 0.2
    assert set(ear_points(replace(face, landmarks=turned))) == {"right"}


def test_eye_guard_lies_on_the_eyes(astro) -> None:
    from engine.studios.maskwear.classical import eye_guard

    img, faces = astro
    lm = faces[0].landmarks
    g = eye_guard(img.shape[:2], faces[0])
    for loop in (T.LEFT_EYE, T.RIGHT_EYE):
        pts = lm[list(loop)]
        x, y = np.round(pts.mean(0)).astype(int)
        assert g[y, x] == 0.0  # the eye itself (it was once drawn at a quarter of its coordinates)
        for px, py in np.round(pts).astype(int):  # every lid point, with a margin
            assert g[py, px] < 0.5
    x, y = np.round(lm[T.NOSE_TIP]).astype(int)
    assert g[y, x] == 1.0 and g[: int(lm[:, 1].min()) // 2].min() == 1.0
