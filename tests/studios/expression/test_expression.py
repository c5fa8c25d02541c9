"""Expression studio engine: the classical rig on anime faces."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import EditorStateError, NoFaceError
from engine.geometry import fit_tps
from engine.procedural.anime_faces import generate_anime_face
from engine.studios.expression.classical import (
    apply_rig,
    controls,
    flow_to_rgb,
    rig_regions,
)
from engine.studios.expression.editor import ExpressionEditor, parts_from_generated
from engine.studios.expression.params import ExpressionParams


@pytest.fixture(scope="module")
def face():
    return generate_anime_face(1, 160)


@pytest.fixture
def editor(face):
    ed = ExpressionEditor()
    ed.set_face(face.image, parts_from_generated(face))
    return ed


def test_identity_at_zero_intensity(editor, face):
    for p in (ExpressionParams(), ExpressionParams(smile=1.0, angry=0.4, intensity=0.0)):
        res = editor.edit(p)
        assert np.array_equal(res.image, face.image)
        assert res.info["backend"] == "classical"


@pytest.mark.parametrize("label", ["angry", "sad", "smile", "surprised"])
def test_only_regions_change(editor, face, label):
    res = editor.edit(ExpressionParams(**{label: 1.0}))
    regions = res.masks["regions"]
    assert regions.any() and regions.mean() < 0.2
    assert np.array_equal(res.image[~regions], face.image[~regions])
    changed = np.any(res.image != face.image, axis=-1)
    assert changed.sum() > 30, label
    assert not np.any(changed & ~regions)
    assert np.all(res.info["flow"][~regions] == 0)


def test_regions_cover_the_parts(editor, face):
    regions = editor.edit(ExpressionParams(smile=0.5, surprised=0.3)).masks["regions"]
    for name in ("left_eye", "right_eye", "left_brow", "right_brow", "mouth"):
        x0, y0, x1, y1 = face.boxes[name]
        assert regions[int((y0 + y1) / 2), int((x0 + x1) / 2)], name


def _dark_rows(img, box, level=110):
    x0, y0, x1, y1 = (int(v) for v in box)
    pad = int((y1 - y0) * 0.8) + 3
    sub = img[max(0, y0 - pad):y1 + pad, x0:x1].mean(-1)
    ys = np.nonzero((sub < level).any(1))[0]
    return ys.max() - ys.min() if len(ys) else 0


def test_labels_move_parts_the_right_way(editor, face):
    smile = editor.edit(ExpressionParams(smile=1.0)).image
    sur = editor.edit(ExpressionParams(surprised=1.0)).image
    # eye opening: measured as the vertical extent of dark/iris pixels in the eye box
    box = face.boxes["left_eye"]
    x0, y0, x1, y1 = (int(v) for v in box)
    iris = np.array(face.style["eye_colour"], float)

    def iris_px(im):  # visible iris pixels of the left eye
        sub = im[y0 - 6:y1 + 6, x0 - 4:x1 + 4].astype(float)
        return int((np.linalg.norm(sub - iris, axis=-1) < 60).sum())
    assert iris_px(sur) > iris_px(face.image) > iris_px(smile)
    # the mouth corners rise with smile: the mean row of dark mouth pixels near the corners goes up
    mx0, my0, mx1, my1 = (int(v) for v in face.boxes["mouth"])
    def corner_row(im):
        sub = im[my0 - 12:my1 + 12, mx0:mx0 + 4].mean(-1)
        ys, _ = np.nonzero(sub < 150)
        return ys.mean()
    assert corner_row(smile) < corner_row(face.image) - 1.0


def test_intensities_blend(editor):
    f_half = editor.edit(ExpressionParams(brow_raise=0.5)).info["flow"]
    f_full = editor.edit(ExpressionParams(brow_raise=1.0)).info["flow"]
    f_mix = editor.edit(ExpressionParams(angry=1.0, surprised=1.0)).info["flow"]
    f_ang = editor.edit(ExpressionParams(angry=1.0)).info["flow"]
    # the brows move rigidly: half the slider, half the largest displacement
    n_full, n_half = np.abs(f_full).max(), np.abs(f_half).max()
    assert 0.4 * n_full < n_half < 0.6 * n_full
    assert not np.allclose(f_mix, f_ang)
    # the part controls of a mixture are the sums of those of its labels
    mix = controls(ExpressionParams(smile=0.7, angry=0.4))
    one, two = controls(ExpressionParams(smile=0.7)), controls(ExpressionParams(angry=0.4))
    for name in ("brow_dy", "brow_tilt", "brow_in", "lid_slant", "mouth_lift", "mouth_width"):
        assert getattr(mix, name) == pytest.approx(getattr(one, name) + getattr(two, name)), name
    assert rig_regions(editor.face, ExpressionParams()) and all(
        r.rigid is None or r.name.endswith("brow") for r in rig_regions(editor.face, ExpressionParams(angry=0.4)))


def test_preview_stream(face):
    big = generate_anime_face(1, 400)
    ed = ExpressionEditor()
    ed.set_face(big.image, parts_from_generated(big))
    out = list(ed.edit_stream(ExpressionParams(sad=1.0)))
    assert out[0].is_preview and out[0].image.shape[0] == 256
    assert not out[-1].is_preview and out[-1].image.shape == big.image.shape


def test_detection_path_and_no_face():
    f = generate_anime_face(3, 192)
    ed = ExpressionEditor()
    ed.set_image(f.image)
    res = ed.edit(ExpressionParams(smile=1.0))
    assert res.masks["regions"].any() and res.info["face_box"]
    ed2 = ExpressionEditor()
    with pytest.raises(EditorStateError):
        ed2.edit(ExpressionParams())
    ed2.set_image(np.full((64, 64, 3), 90, np.uint8))
    with pytest.raises(NoFaceError, match="no anime face"):
        ed2.edit(ExpressionParams(smile=1.0))
    ed3 = ExpressionEditor(assume_crop=True)
    ed3.set_image(np.full((64, 64, 3), 90, np.uint8))
    assert ed3.edit(ExpressionParams(smile=1.0)).image.shape == (64, 64, 3)


def test_params_validation():
    with pytest.raises(ValueError, match="smile"):
        ExpressionParams(smile=2.0).validate()
    with pytest.raises(ValueError, match="intensity"):
        ExpressionParams(intensity=-1).validate()
    with pytest.raises(ValueError, match="unknown expression parameter"):
        ExpressionParams.from_dict({"happy": 1})
    assert ExpressionParams.from_dict({"smile": "0.5"}).smile == 0.5
    with pytest.raises(ValueError):
        ExpressionEditor(backend="gan")


def test_tps_interpolates_and_flow_view(face):
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 50, (8, 2))
    vals = rng.normal(size=(8, 2))
    np.testing.assert_allclose(fit_tps(src, vals)(src), vals, atol=1e-6)
    _, flow, weight = apply_rig(face.image, parts_from_generated(face), ExpressionParams(angry=1.0))
    rgb = flow_to_rgb(flow, weight)
    assert rgb.shape == face.image.shape and rgb.dtype == np.uint8 and rgb.max() > 0
