"""Expression studio: all five parts on hard procedural faces, and redrawn lines in the picture's style."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.faces.anime import PART_NAMES, analyze_anime
from engine.procedural.anime_faces import generate_anime_face
from engine.studios.expression.redraw import MouthShape, line_style, redraw_eyelids, redraw_mouth


def _centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


@pytest.mark.parametrize(("seed", "emotion"), [
    (1009, "sad"),        # tilted brows drawn over dark hair
    (1005, "surprised"),  # raised brows over dark hair
    (1007, "surprised"),  # wide eyes whose lash lines touch dark bang tips
    (13, "smile"),        # closed, smiling eyes under brows that form a bigger pair
])
def test_hard_procedural_faces_give_all_five_parts(seed, emotion):
    f = generate_anime_face(seed, 256, {emotion: 1.0})
    faces = analyze_anime(f.image)
    assert faces
    fc = faces[0]
    assert all(fc.found[k] for k in PART_NAMES), fc.found
    iod = float(np.linalg.norm(_centre(f.boxes["left_eye"]) - _centre(f.boxes["right_eye"])))
    for k in PART_NAMES:
        err = float(np.linalg.norm(_centre(fc.parts[k]) - _centre(f.boxes[k]))) / iod
        assert err < 0.12, (k, err)


def _eye_picture(lash: int, line_grey: int) -> np.ndarray:
    """A skin-coloured picture with one drawn eye whose upper lash line is ``lash`` pixels thick."""
    img = np.full((90, 120, 3), 225, np.uint8)
    cv2.ellipse(img, (60, 45), (26, 14), 0, 0, 360, (255, 255, 255), -1)
    cv2.ellipse(img, (60, 47), (9, 12), 0, 0, 360, (120, 120, 120), -1)
    for i in range(lash):  # the arc drawn 1 px thick, ``lash`` times one row lower each
        cv2.ellipse(img, (60, 45 + i), (26, 14), 0, 180, 360, (line_grey,) * 3, 1)
    return img


def _dark_rows(out: np.ndarray, col: int, level: float) -> int:
    """How many pixels of column ``col`` are darker than ``level`` (the redraw erased the old line)."""
    return int((out[:, col].astype(np.float32).mean(-1) < level).sum())


def test_line_style_measures_the_width_and_colour_of_the_top_stroke():
    skin = np.full(3, 225.0, np.float32)
    for lash, grey in ((1, 110), (3, 60), (6, 30)):
        img = _eye_picture(lash, grey)
        width, colour = line_style(img, np.array([36.0, 25.0, 84.0, 45.0]), skin, 28.0, 9.0)
        assert abs(width - lash) <= 1.0, (lash, width)
        assert abs(float(colour.mean()) - grey) <= 35, (grey, colour)


def test_redrawn_lid_follows_the_line_width_of_a_thin_lined_picture():
    box = np.array([34.0, 30.0, 86.0, 60.0])
    drawn = {}
    for lash in (1, 5):
        img = _eye_picture(lash, 60)
        out = img.copy()
        redraw_eyelids(out, img, box, 1.0, 0.0, 0.0, 1.0)
        drawn[lash] = _dark_rows(out[:, :, :], 60, 150.0)
    # the closed lid's line is as thin as the picture's lash line: ~1 px, not a fixed bold stroke
    assert 1 <= drawn[1] <= 2, drawn
    assert drawn[5] >= 4, drawn
    # a grey pencil line is redrawn grey, not black
    img = _eye_picture(2, 140)
    out = img.copy()
    redraw_eyelids(out, img, box, 1.0, 0.0, 0.0, 1.0)
    assert int(out[30:60, 50:70].min()) >= 110


def test_redrawn_mouth_follows_the_line_width_of_the_picture():
    widths = {}
    for thick in (1, 4):
        img = np.full((80, 100, 3), 225, np.uint8)
        cv2.line(img, (38, 40), (62, 40), (70, 40, 40), thick)
        box = np.array([37.0, 40 - thick / 2 - 1, 63.0, 40 + thick / 2 + 1])
        out = img.copy()
        redraw_mouth(out, img, box, MouthShape(centre=(50.0, 40.0), half_width=12.0, lift=4.0, opening=0.0))
        widths[thick] = _dark_rows(out, 50, 150.0)
    assert widths[1] <= 2 and widths[4] >= 3, widths


def test_dot_eyes_under_flat_brows_are_taken_for_the_eyes():
    # a chibi face: thick flat brows over small upright dot eyes (the bars used to pass for the eyes)
    img = np.full((256, 256, 3), 228, np.uint8)
    img[:40] = 70  # hair
    for x0 in (50, 146):
        cv2.rectangle(img, (x0, 96), (x0 + 60, 103), (50, 50, 50), -1)
    for cx in (86, 170):
        cv2.ellipse(img, (cx, 128), (5, 11), 0, 0, 360, (40, 40, 40), -1)
    cv2.line(img, (112, 190), (144, 190), (60, 40, 40), 2)
    faces = analyze_anime(img, assume_crop=True)
    assert faces
    fc = faces[0]
    for side, cx in (("left", 86), ("right", 170)):
        e, b = fc.parts[f"{side}_eye"], fc.parts[f"{side}_brow"]
        assert e[0] <= cx <= e[2] and e[1] <= 128 <= e[3], (side, e)
        assert b[1] <= 100 <= b[3], (side, b)
