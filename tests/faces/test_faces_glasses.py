"""Classical glasses detector (eye_g): synthetic frames on the astronaut, negatives, real photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from engine.faces import FaceAnalyzer
from engine.faces.glasses import (
    SYNTHETIC_STYLES,
    detect_glasses,
    draw_synthetic_glasses,
)
from engine.faces.parsing import geometric_parsing
from engine.labels import CELEBAMASK_HQ

EYE_G = CELEBAMASK_HQ.classes.index("eye_g")


@pytest.fixture(scope="module")
def astro():
    img = data.astronaut()
    res = FaceAnalyzer(detector="mediapipe", parser="geometric").analyze(img, parse=False)
    return img, res.faces[0].landmarks.astype(np.float64)


def test_no_glasses_on_astronaut(astro) -> None:
    img, lm = astro
    res = detect_glasses(img, lm)
    assert not res.present and res.mask is None
    assert (geometric_parsing(img, FaceAnalyzer().analyze(img, parse=False).faces) != EYE_G).all()


@pytest.mark.parametrize("style", ["dark", "thin_grey", "brown_small"])
def test_synthetic_frames_found(astro, style) -> None:
    img, lm = astro
    worn = draw_synthetic_glasses(img, lm, **SYNTHETIC_STYLES[style])
    res = detect_glasses(worn, lm)
    assert res.present, (res.bridge, res.rims)
    # the region covers both eyes and the bridge between them, and not the mouth
    for pt in (lm[468], lm[473], (lm[133] + lm[362]) / 2):  # iris centres, between the inner corners
        x, y = np.round(pt).astype(int)
        assert res.mask[y, x], pt
    x, y = np.round(lm[13]).astype(int)
    assert not res.mask[y, x]
    # against the drawn spectacles filled in (rims to their outer edge + the bar)
    st = SYNTHETIC_STYLES[style]
    half = (np.hypot(*(lm[33] - lm[133])) + np.hypot(*(lm[263] - lm[362]))) / 4
    t = max(1, int(round(float(st["thickness"]) * half)))
    whole = draw_synthetic_glasses(np.zeros_like(img), lm, colour=(255, 255, 255), thickness=st["thickness"],
                                   rx=float(st.get("rx", 1.7)) + t / 2 / half, ry=float(st.get("ry", 1.15)) + t / 2 / half)
    drawn = whole[..., 0] > 0
    inside = np.zeros(drawn.shape, np.uint8)
    for c in ((lm[33] + lm[133]) / 2, (lm[263] + lm[362]) / 2):
        cv2.floodFill(inside, np.pad(drawn, 1).astype(np.uint8), (int(c[0]), int(c[1])), 1)
    truth = drawn | inside.astype(bool)
    iou = (truth & res.mask).sum() / (truth | res.mask).sum()
    assert iou > 0.78, iou


def test_parser_labels_eye_g_under_the_eyes(astro) -> None:
    img, lm = astro
    worn = draw_synthetic_glasses(img, lm)
    faces = FaceAnalyzer().analyze(worn, parse=False).faces
    labels = geometric_parsing(worn, faces)
    assert (labels == EYE_G).sum() > 200
    # eyes are drawn over the glasses region (CelebAMask-HQ layering)
    for i in (468, 473):
        x, y = np.round(lm[i]).astype(int)
        assert labels[y, x] in (CELEBAMASK_HQ.classes.index("l_eye"), CELEBAMASK_HQ.classes.index("r_eye"))


def test_single_edge_is_not_a_frame(astro) -> None:
    """A strong horizontal shading edge across the nasion (not a bar) must not pass."""
    img, lm = astro
    shaded = img.astype(np.float32)
    y = int(lm[168][1])
    shaded[:y] *= 0.55
    res = detect_glasses(shaded.astype(np.uint8), lm)
    assert not res.present, (res.bridge, res.rims)


def test_bad_landmarks() -> None:
    with pytest.raises(ValueError):
        detect_glasses(np.zeros((32, 32, 3), np.uint8), np.zeros((68, 2)))


def test_dev_photos(shared_data) -> None:
    """The one dev photo with (real, tinted aviator) glasses is found; none of the others."""
    from engine.imageio import load_image

    analyzer = FaceAnalyzer(detector="mediapipe", parser="geometric")
    found = []
    for f in sorted((shared_data / "faces" / "photos").glob("*.jpg")) + sorted((shared_data / "faces" / "parsing").glob("*.jpg")):
        img = load_image(f)
        faces = analyzer.analyze(img, parse=False).faces
        if faces and faces[0].landmarks is not None and detect_glasses(img, faces[0].landmarks).present:
            found.append(f.stem)
    assert found == ["sg_male_189498"]
