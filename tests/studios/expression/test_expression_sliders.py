"""Expression studio: low-level sliders, redrawn parts, presets, copy, tight crops and refusals."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from engine.errors import NoFaceError
from engine.faces.anime import analyze_anime
from engine.procedural.anime_faces import generate_anime_face
from engine.studios.expression.classical import apply_rig, controls
from engine.studios.expression.editor import ExpressionEditor, parts_from_generated
from engine.studios.expression.params import LOW_LEVEL, ExpressionParams
from engine.studios.expression.presets import (
    builtin_presets,
    copy_expression,
    expression_from_parts,
    load_preset,
    preset_from_json,
    preset_to_json,
    save_preset,
)

SIZE = 192


@pytest.fixture(scope="module")
def face():
    return generate_anime_face(900002, SIZE)  # light hair: brows and mouth are the darkest strokes near them


@pytest.fixture(scope="module")
def parts(face):
    return parts_from_generated(face)


def _edit(face, parts, **kw):
    return apply_rig(face.image, parts, ExpressionParams(**kw))


def _grow(b, m):
    return np.array([b[0] - m, b[1] - m, b[2] + m, b[3] + m])


def _inside(mask, boxes):
    ys, xs = np.nonzero(mask)
    ok = np.zeros(len(ys), bool)
    for b in boxes:
        ok |= (xs >= b[0]) & (xs <= b[2]) & (ys >= b[1]) & (ys <= b[3])
    return ok.all()


def test_zero_sliders_give_the_identical_image(face, parts):
    out, flow, weight = _edit(face, parts)
    assert np.array_equal(out, face.image) and not flow.any() and not weight.any()
    zero = {n: 0.0 for n in LOW_LEVEL}
    out, _, _ = _edit(face, parts, smile=1.0, angry=0.5, intensity=0.0, **zero)
    assert np.array_equal(out, face.image)


_NEIGHBOURHOOD = {
    "blink_left": ("left_eye",), "blink_right": ("right_eye",), "eye_open": ("left_eye", "right_eye"),
    "gaze_x": ("left_eye", "right_eye"), "gaze_y": ("left_eye", "right_eye"),
    "brow_raise": ("left_brow", "right_brow"), "brow_furrow": ("left_brow", "right_brow"),
    "mouth_open": ("mouth",), "mouth_width": ("mouth",), "aaa": ("mouth",), "eee": ("mouth",), "ooo": ("mouth",),
}


@pytest.mark.parametrize("name", sorted(_NEIGHBOURHOOD))
def test_each_slider_changes_only_its_parts_neighbourhood(face, parts, name):
    iod = float(face.boxes["right_eye"][0] - face.boxes["left_eye"][0])
    for v in (1.0, -1.0):
        out, _, weight = _edit(face, parts, **{name: v})
        changed = np.any(out != face.image, axis=-1)
        if v < 0 and name in ("aaa", "mouth_open"):  # closing a closed mouth redraws it in place
            assert changed.sum() < 0.01 * changed.size
        else:
            assert changed.sum() > 15, (name, v)
        near = [_grow(face.boxes[p], 0.6 * iod) for p in _NEIGHBOURHOOD[name]]
        assert _inside(changed, near), (name, v)
        assert not changed[weight <= 0].any()
    # the other parts are untouched
    far = [p for p in ("left_eye", "right_eye", "left_brow", "right_brow", "mouth") if p not in _NEIGHBOURHOOD[name]]
    out, _, _ = _edit(face, parts, **{name: 1.0})
    for p in far:
        x0, y0, x1, y1 = (int(round(v)) for v in face.boxes[p])
        own = [_grow(face.boxes[q], 0.6 * iod) for q in _NEIGHBOURHOOD[name]]
        ys, xs = np.mgrid[y0:y1, x0:x1]
        shared = np.zeros(ys.shape, bool)
        for b in own:
            shared |= (xs >= b[0]) & (xs <= b[2]) & (ys >= b[1]) & (ys <= b[3])
        diff = np.any(out[y0:y1, x0:x1] != face.image[y0:y1, x0:x1], axis=-1)
        assert not (diff & ~shared).any(), (name, p)


def test_head_roll_turns_the_face_and_keeps_the_corners(face, parts):
    out, _, weight = _edit(face, parts, head_roll=1.0)
    assert np.any(out != face.image)
    h, w = out.shape[:2]
    for y, x in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)):
        assert np.array_equal(out[y, x], face.image[y, x])
    # the whole face turns (both eyes inside the rolled region)
    for k in ("left_eye", "right_eye"):
        c = face.keypoints[k].mean(0)
        assert weight[int(c[1]), int(c[0])] > 0


def _mouth_profile(img, box, pad):
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    sub = img[y0 - pad:y1 + pad, x0 - pad:x1 + pad].astype(np.float32).mean(-1)
    dark = sub < 0.75 * np.median(sub)
    cols = np.nonzero(dark.any(0))[0]
    rows = [np.nonzero(dark[:, c])[0].mean() for c in cols]
    return cols, np.array(rows)


def test_smile_raises_both_mouth_corners(face, parts):
    out, _, _ = _edit(face, parts, smile=0.6)
    cols, rows = _mouth_profile(out, face.boxes["mouth"], 10)
    n = max(2, len(cols) // 6)
    left, right, mid = rows[:n].mean(), rows[-n:].mean(), rows[len(rows) // 2 - 1:len(rows) // 2 + 2].mean()
    # an upturned curve: both corners above the middle of the mouth line
    assert left < mid - 0.8 and right < mid - 0.8, (left, mid, right)
    assert controls(ExpressionParams(smile=0.6)).mouth_lift > 0 > controls(ExpressionParams(sad=0.6)).mouth_lift


def test_surprised_opens_the_mouth_as_a_filled_oval(face, parts):
    out, _, _ = _edit(face, parts, surprised=1.0)
    x0, y0, x1, y1 = (int(round(v)) for v in face.boxes["mouth"])
    h = int(0.5 * (x1 - x0))
    sub = out[y0 - 2:y1 + h, x0:x1].astype(np.float32)
    before = face.image[y0 - 2:y1 + h, x0:x1].astype(np.float32)
    dark = lambda a: (a.mean(-1) < 140).sum()  # noqa: E731
    assert dark(sub) > 2.5 * dark(before)  # the inside of the open mouth is filled dark


def _iris_pixels(img, box, colour):
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    sub = img[y0 - 2:y1 + 2, x0 - 2:x1 + 2].astype(np.float32)
    return int((np.linalg.norm(sub - np.asarray(colour, np.float32), axis=-1) < 50).sum())


def test_blink_hides_the_iris_and_wink_only_one_eye(face, parts):
    iris = face.style["eye_colour"]
    before = [_iris_pixels(face.image, face.boxes[k], iris) for k in ("left_eye", "right_eye")]
    assert min(before) > 20
    out, _, _ = _edit(face, parts, blink_left=1.0, blink_right=1.0)
    after = [_iris_pixels(out, face.boxes[k], iris) for k in ("left_eye", "right_eye")]
    assert max(after) <= 0.05 * min(before), (before, after)
    wink, _, _ = _edit(face, parts, blink_left=1.0)
    assert _iris_pixels(wink, face.boxes["left_eye"], iris) <= 0.05 * before[0]
    assert _iris_pixels(wink, face.boxes["right_eye"], iris) == before[1]
    # half a blink hides part of the iris: continuous
    half, _, _ = _edit(face, parts, blink_left=0.5)
    assert 0.05 * before[0] < _iris_pixels(half, face.boxes["left_eye"], iris) < before[0]


def test_gaze_moves_the_iris_inside_the_eye(face, parts):
    iris = np.asarray(face.style["eye_colour"], np.float32)
    b = face.boxes["right_eye"]

    def iris_x(img):
        x0, y0, x1, y1 = (int(round(v)) for v in b)
        sub = img[y0:y1, x0:x1].astype(np.float32)
        ys, xs = np.nonzero(np.linalg.norm(sub - iris, axis=-1) < 50)
        return xs.mean()
    right, _, _ = _edit(face, parts, gaze_x=1.0)
    left, _, _ = _edit(face, parts, gaze_x=-1.0)
    assert iris_x(right) > iris_x(face.image) + 1.0 > iris_x(left) + 2.0


def test_brows_move_rigidly_and_stay_crisp(face, parts):
    def grad95(img, box):
        x0, y0, x1, y1 = (int(round(v)) for v in _grow(box, 4))
        g = img[y0:y1, x0:x1].astype(np.float32).mean(-1)
        gy, gx = np.gradient(g)
        return np.percentile(np.hypot(gx, gy), 95)
    out, flow, _ = _edit(face, parts, brow_raise=1.0)
    for k in ("left_brow", "right_brow"):
        b = face.boxes[k]
        c = ((b[1] + b[3]) / 2, (b[0] + b[2]) / 2)
        assert flow[int(c[0]), int(c[1]), 1] > 1.0  # output samples from below: the brow moved up
        moved = np.array([b[0], b[1] - flow[int(c[0]), int(c[1]), 1], b[2], b[3] - flow[int(c[0]), int(c[1]), 1]])
        assert grad95(out, moved) >= 0.85 * grad95(face.image, b)


def test_emotions_and_sliders_combine_continuously(face, parts):
    base, _, _ = _edit(face, parts, smile=0.5)
    near, _, _ = _edit(face, parts, smile=0.52)
    far, _, _ = _edit(face, parts, smile=1.0)
    d_near = np.abs(near.astype(np.int16) - base).mean()
    d_far = np.abs(far.astype(np.int16) - base).mean()
    assert d_near < 0.2 * d_far
    tiny, _, _ = _edit(face, parts, mouth_open=0.02)
    assert np.abs(tiny.astype(np.int16) - face.image).max() < 40  # the redrawn mouth fades in
    c1, c2 = controls(ExpressionParams(angry=0.4)), controls(ExpressionParams(angry=0.4, brow_furrow=0.5))
    assert c2.brow_tilt > c1.brow_tilt > 0
    mixed = controls(ExpressionParams(smile=0.5, surprised=0.5))
    assert mixed.mouth_open > controls(ExpressionParams(smile=0.5)).mouth_open


def test_preset_round_trip_and_builtins(tmp_path):
    p = ExpressionParams(smile=0.7, blink_left=1.0, gaze_x=-0.25, head_roll=0.5, intensity=1.5)
    path = save_preset(tmp_path / "mine.json", p, "mine")
    name, back = load_preset(path)
    assert name == "mine" and back == p
    doc = json.loads(path.read_text())
    assert set(doc["sliders"]) == {"smile", "blink_left", "gaze_x", "head_roll", "intensity"}
    assert preset_from_json(preset_to_json(ExpressionParams(), "n"))[1] == ExpressionParams()
    names = builtin_presets()
    for want in ("angry_0.5", "angry_1.0", "sad_0.5", "sad_1.0", "smile_0.5", "smile_1.0", "surprised_0.5",
                 "surprised_1.0", "wink", "shout", "pout"):
        assert want in names
    assert load_preset("smile_1.0")[1] == ExpressionParams(smile=1.0)
    assert load_preset("wink")[1].blink_left == 1.0
    for bad, msg in (("{", "bad JSON"), ('{"sliders": {"grin": 1}}', "unknown"), ('{"sliders": {"gaze_x": 3}}', "gaze_x"),
                     ("[]", "not a preset")):
        (tmp_path / "bad.json").write_text(bad)
        with pytest.raises(ValueError, match=msg):
            load_preset(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="no preset"):
        load_preset(tmp_path / "missing.json")


def test_copy_expression_reads_sliders_back_from_shapes():
    neutral = parts_from_generated(generate_anime_face(5, SIZE))
    surprised = parts_from_generated(generate_anime_face(5, SIZE, {"surprised": 1.0}))
    smiling = parts_from_generated(generate_anime_face(5, SIZE, {"smile": 1.0}))
    n, s = expression_from_parts(neutral), expression_from_parts(surprised)
    assert s.mouth_open > n.mouth_open + 0.2 and s.brow_raise > n.brow_raise + 0.2
    m = expression_from_parts(smiling)
    assert m.blink_left > n.blink_left + 0.3 and m.blink_right > n.blink_right + 0.3
    other = parts_from_generated(generate_anime_face(8, SIZE))
    c = copy_expression(surprised, other)
    assert c.mouth_open > 0.2 and c.brow_raise > 0.2
    assert np.allclose(list(copy_expression(neutral, neutral).low_level().values()), 0.0)


def test_tight_crop_of_a_procedural_face_is_found_automatically():
    f = generate_anime_face(3, 256)
    x0, y0, x1, y1 = (int(v) for v in f.boxes["face"])
    crop = np.ascontiguousarray(f.image[y0 + 10:y1 - 5, x0 + 5:x1 - 5])
    faces = analyze_anime(crop)
    assert faces, "a tight crop must be recognised without assume_crop"
    fc = faces[0]
    iod = float(f.boxes["right_eye"][0] - f.boxes["left_eye"][0])
    for k in ("left_eye", "right_eye", "mouth"):
        gt = f.boxes[k] - np.array([x0 + 5, y0 + 10, x0 + 5, y0 + 10])
        d = np.linalg.norm(((fc.parts[k][:2] + fc.parts[k][2:]) - (gt[:2] + gt[2:])) / 2)
        assert d < 0.25 * iod, (k, d)
    assert set(fc.shapes) >= {"left_eye", "right_eye", "left_brow", "right_brow", "mouth", "outline"}


@pytest.mark.parametrize("kind", ["upside_down", "noise", "flat"])
def test_upside_down_or_non_face_gives_no_face_found(kind):
    rng = np.random.default_rng(1)
    img = {"upside_down": lambda: np.ascontiguousarray(generate_anime_face(4, SIZE).image[::-1, ::-1]),
           "noise": lambda: rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8),
           "flat": lambda: np.full((SIZE, SIZE, 3), 200, np.uint8)}[kind]()
    ed = ExpressionEditor("classical")
    ed.set_image(img)
    assert ed.faces == []
    with pytest.raises(NoFaceError, match="no anime face found"):
        ed.edit(ExpressionParams(smile=1.0))


def test_closed_lid_takes_the_local_shading_of_the_skin():
    from engine.studios.expression.redraw import redraw_eyelids

    # a shaded skin (top-to-bottom gradient) with a drawn eye: the closed lid follows the gradient
    h, w = 80, 100
    skin = np.repeat(np.linspace(150, 230, h, dtype=np.float32)[:, None], w, 1)
    img = np.repeat(skin[..., None], 3, -1).astype(np.uint8)
    cv2.ellipse(img, (50, 40), (20, 12), 0, 0, 360, (255, 255, 255), -1)
    cv2.ellipse(img, (50, 40), (8, 11), 0, 0, 360, (40, 40, 40), -1)
    cv2.ellipse(img, (50, 40), (20, 12), 0, 180, 360, (20, 20, 20), 3)
    out = img.copy()
    cover = redraw_eyelids(out, img, np.array([30.0, 28.0, 70.0, 52.0]), 1.0, 0.0, 0.0, 1.0)
    lid = (cover > 0.99)
    lid[:, :40] = False
    lid[:, 60:] = False  # the lid's middle columns, away from the drawn lash line
    ys, xs = np.nonzero(lid)
    upper, lower = ys < 36, ys > 50  # (the closed lid line, as thick as the ~5 px lash line, ends at row 49)
    assert upper.sum() > 5 and lower.sum() > 5
    got_up = float(out[ys[upper], xs[upper]].mean())
    got_low = float(out[ys[lower], xs[lower]].mean())
    # the skin's own shading continues over the lid (a flat fill would give one value)
    assert got_low - got_up > 0.5 * (float(skin[ys[lower]].mean()) - float(skin[ys[upper]].mean()))
