"""Anime-face detection (LBP cascade) and part location, on procedural ground truth and real crops."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from engine.faces.anime import (
    _W,
    CASCADE_PATH,
    PART_NAMES,
    analyze_anime,
    detect_anime_faces,
    find_tight_eyes,
    locate_parts,
)
from engine.procedural.anime_faces import generate_anime_face


def _centre(b):
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def test_cascade_shipped_unchanged_with_licence():
    data = CASCADE_PATH.read_bytes()
    assert hashlib.sha256(data).hexdigest() == "9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30"
    assert b"The MIT License" in data[:2000] and b"nagadomi" in data[:2000]


def test_detects_procedural_faces_with_parts_near_ground_truth():
    hits, errors = 0, []
    cases = [(sd, e) for sd in range(6) for e in (None, {"smile": 1.0}, {"surprised": 1.0})]
    for sd, e in cases:
        f = generate_anime_face(sd, 192, e)
        faces = analyze_anime(f.image)
        if not faces:
            continue
        hits += 1
        face = faces[0]
        fb = f.boxes["face"]
        # the detection covers the drawn face's eyes and mouth
        for name in ("left_eye", "right_eye", "mouth"):
            c = _centre(f.boxes[name])
            assert face.box[0] <= c[0] <= face.box[2] and face.box[1] <= c[1] <= face.box[3]
        iod = np.linalg.norm(_centre(f.boxes["left_eye"]) - _centre(f.boxes["right_eye"]))
        for name in ("left_eye", "right_eye", "mouth"):
            errors.append(np.linalg.norm(_centre(face.parts[name]) - _centre(f.boxes[name])) / iod)
        assert set(face.parts) == set(PART_NAMES) and face.keypoints["mouth"].shape == (4, 2)
        assert 0.8 < (face.box[2] - face.box[0]) / (fb[2] - fb[0]) < 2.0
    assert hits >= 0.9 * len(cases)
    errors = np.array(errors)
    assert np.median(errors) < 0.15, np.median(errors)
    assert (errors < 0.35).mean() > 0.8


def test_faces_largest_first_and_in_a_bigger_picture():
    big = np.full((300, 420, 3), 230, np.uint8)
    a = generate_anime_face(1, 200).image
    b = generate_anime_face(2, 110).image
    big[50:250, 10:210] = a
    big[100:210, 280:390] = b
    found = detect_anime_faces(big)
    assert len(found) >= 2
    (b0, _), (b1, _) = found[0], found[1]
    assert (b0[2] - b0[0]) >= (b1[2] - b1[0])
    assert b0[0] < 210 and b1[0] > 210


def test_no_face_and_bad_input():
    rng = np.random.default_rng(0)
    assert analyze_anime(np.full((120, 120, 3), 128, np.uint8)) == []
    assert analyze_anime(rng.integers(0, 255, (5, 5, 3), dtype=np.uint8)) == []
    crop = analyze_anime(np.full((64, 64), 200, np.uint8), assume_crop=True)
    assert len(crop) == 1 and crop[0].score == 0.0 and not any(crop[0].found.values())
    with pytest.raises(ValueError, match="uint8"):
        analyze_anime(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="too small"):
        locate_parts(np.zeros((32, 32), np.uint8), np.array([0, 0, 2, 2]))


@pytest.mark.parametrize("seed", [3, 6])
def test_tight_crop_eyes_read_upright_and_not_upside_down(seed):
    f = generate_anime_face(seed, 192)
    x0, y0, x1, y1 = f.boxes["face"].astype(int)
    crop = np.ascontiguousarray(f.image[y0 + 10:y1 - 5, x0 + 5:x1 - 5])
    up = find_tight_eyes(crop)
    assert up is not None and up.upright > 0
    # the pair is the drawn eyes (working-square boxes mapped back to the picture)
    s = np.array([crop.shape[1] / _W, crop.shape[0] / _W] * 2)
    origin = np.array([x0 + 5, y0 + 10] * 2)
    iod = np.linalg.norm(_centre(f.boxes["left_eye"]) - _centre(f.boxes["right_eye"]))
    for name, b in (("left_eye", up.left), ("right_eye", up.right)):
        assert np.linalg.norm(_centre(b * s + origin) - _centre(f.boxes[name])) < 0.3 * iod, name
    turned = np.ascontiguousarray(crop[::-1, ::-1])
    t = find_tight_eyes(turned)
    assert t is None or t.upright < 0
    assert analyze_anime(crop) and analyze_anime(turned) == []


def test_generated_non_faces_give_no_face():
    yy, xx = np.mgrid[0:160, 0:160]
    gradient = ((xx + yy) * 0.8).astype(np.uint8)
    checker = (((xx // 20) + (yy // 20)) % 2 * 255).astype(np.uint8)
    text = np.full((60, 200), 255, np.uint8)
    for i in range(6):
        text[20:40, 10 + 32 * i:30 + 32 * i] = 0
    for img in (gradient, checker, text):
        assert analyze_anime(img) == []


def test_real_greyscale_crops(shared_data: Path):
    files = sorted((shared_data / "anime" / "emotions").glob("*/*.png"))
    assert files
    from engine.imageio import load_image

    detected, eyes_ok = 0, 0
    for fn in files[::4]:
        img = load_image(fn)
        faces = analyze_anime(img, assume_crop=True)
        assert len(faces) >= 1
        f = faces[0]
        detected += f.score > 0
        le, re = _centre(f.parts["left_eye"]), _centre(f.parts["right_eye"])
        # plausible layout: eyes side by side above the mouth, everything inside the picture
        eyes_ok += bool(le[0] < re[0] and _centre(f.parts["mouth"])[1] > max(le[1], re[1]))
        json.dumps(f.to_json())
    n = len(files[::4])
    assert detected >= 2, f"cascade found {detected}/{n} tight crops"
    assert eyes_ok == n
