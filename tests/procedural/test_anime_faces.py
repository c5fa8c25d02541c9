"""Procedural anime faces: determinism, sizes, expressions, ground-truth geometry."""

from __future__ import annotations

import numpy as np
import pytest

from engine.procedural.anime_faces import (
    EXPRESSION_LABELS,
    HAIR_STYLES,
    PART_NAMES,
    AnimeExpression,
    AnimeFace,
    anime_face_sheet,
    generate_anime_face,
)


def test_deterministic_and_seed_dependent():
    a = generate_anime_face(4, 96)
    b = generate_anime_face(4, 96)
    c = generate_anime_face(5, 96)
    assert a.image.dtype == np.uint8 and a.image.shape == (96, 96, 3)
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("size", [16, 64, 200])
def test_any_size_geometry_scales(size):
    f = generate_anime_face(2, size)
    ref = generate_anime_face(2, 100)
    assert f.image.shape == (size, size, 3)
    for name in PART_NAMES:
        np.testing.assert_allclose(f.boxes[name], ref.boxes[name] * size / 100, atol=1e-3 * size)


def test_parts_are_where_drawn():
    f = generate_anime_face(0, 160)
    le, re, mo = f.boxes["left_eye"], f.boxes["right_eye"], f.boxes["mouth"]
    assert le[2] < re[0], "left eye is left of the right eye"
    assert f.boxes["left_brow"][3] < (le[1] + le[3]) / 2, "brow above the eye centre"
    assert mo[1] > max(le[3], re[3]), "mouth below the eyes"
    fb = f.boxes["face"]
    for name in PART_NAMES:
        b = f.boxes[name]
        assert fb[0] <= b[0] and b[2] <= fb[2] and fb[1] <= b[1] and b[3] <= fb[3]
    # the eye box holds the dark lash line and iris: darker than the cheek below it
    grey = f.image.mean(-1)
    x0, y0, x1, y1 = le.astype(int)
    assert grey[y0:y1, x0:x1].min() < 80
    assert grey[y1 + 12, (x0 + x1) // 2] > 150


def test_expressions_change_only_face_parts():
    neutral = generate_anime_face(3, 128)
    for label in EXPRESSION_LABELS:
        e = generate_anime_face(3, 128, {label: 1.0})
        diff = np.abs(e.image.astype(int) - neutral.image.astype(int)).sum(-1) > 0
        assert diff.any(), label
        ys, xs = np.nonzero(diff)
        fb = neutral.boxes["face"]
        assert xs.min() >= fb[0] - 2 and xs.max() <= fb[2] + 2, label
        assert e.style == neutral.style


def test_expression_geometry_moves_the_right_way():
    n = generate_anime_face(8, 200)
    smile = generate_anime_face(8, 200, {"smile": 1.0})
    sur = generate_anime_face(8, 200, {"surprised": 1.0})
    angry = generate_anime_face(8, 200, {"angry": 1.0})
    sad = generate_anime_face(8, 200, {"sad": 1.0})

    def eye_h(f: AnimeFace) -> float:
        return float(f.boxes["left_eye"][3] - f.boxes["left_eye"][1])

    assert eye_h(smile) < eye_h(n) < eye_h(sur)
    # mouth corners (y of keypoint 0) up for smile, down for sad; brow inner end down for angry
    assert smile.keypoints["mouth"][0, 1] < n.keypoints["mouth"][0, 1] < sad.keypoints["mouth"][0, 1]
    assert angry.keypoints["left_brow"][2, 1] > n.keypoints["left_brow"][2, 1] > sad.keypoints["left_brow"][2, 1]
    assert sur.boxes["mouth"][3] - sur.boxes["mouth"][1] > 3 * (n.boxes["mouth"][3] - n.boxes["mouth"][1]) / 2


def test_mixing_is_between_the_pure_expressions():
    a = generate_anime_face(1, 128, {"smile": 1.0}).keypoints["mouth"][0, 1]
    b = generate_anime_face(1, 128, {"smile": 0.5}).keypoints["mouth"][0, 1]
    c = generate_anime_face(1, 128).keypoints["mouth"][0, 1]
    assert a < b < c


def test_hair_styles_and_bad_input():
    imgs = [generate_anime_face(0, 64, hair_style=s).image for s in HAIR_STYLES]
    assert len({im.tobytes() for im in imgs}) == len(HAIR_STYLES)
    with pytest.raises(ValueError, match="hair style"):
        generate_anime_face(0, 64, hair_style="mohawk")
    with pytest.raises(ValueError, match="size"):
        generate_anime_face(0, 8)
    with pytest.raises(ValueError, match="unknown expression"):
        generate_anime_face(0, 64, {"happy": 1.0})
    with pytest.raises(ValueError, match="smile"):
        generate_anime_face(0, 64, AnimeExpression(smile=1.5))


def test_sheet_and_vector():
    sheet = anime_face_sheet([0, 1], 32, [None, {"sad": 1.0}, AnimeExpression(angry=0.5)])
    assert sheet.shape == (64, 96, 3)
    np.testing.assert_array_equal(AnimeExpression(sad=0.5).vector(), [0, 0.5, 0, 0])
    assert AnimeExpression(smile=0.8).scaled(2).smile == 1.0
