"""Makeup engine: styles, parameters, regions, rendering, invariance, intensity (classical)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data
from skimage.metrics import structural_similarity

from engine.errors import EditorStateError, NoFaceError
from engine.labels import region_mask
from engine.studios.makeup.batch import makeup_params
from engine.studios.makeup.editor import MakeupEditor
from engine.studios.makeup.params import (
    REGION_OFF,
    REGIONS,
    MakeupParams,
    load_style_file,
    load_styles,
    normalize_flat,
    params_from_flat,
    with_style,
)

PAPER_STYLES = {"retro", "korean", "japanese", "bare", "smoky", "colorful"}


@pytest.fixture(scope="module")
def analyzer():
    from engine.faces import FaceAnalyzer

    return FaceAnalyzer()


@pytest.fixture(scope="module")
def astro() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def editor(analyzer, astro) -> MakeupEditor:
    ed = MakeupEditor(analyzer=analyzer, styles=load_styles(include_user_dir=False))
    ed.set_image(astro)
    return ed


def _all_regions(style: str, styles) -> MakeupParams:
    return MakeupParams({r: style for r in REGIONS if r in styles[style].regions})


def _labels(editor: MakeupEditor, *classes: str) -> np.ndarray:
    return region_mask(editor.analysis.parsing, classes)


# --- styles --------------------------------------------------------------------------------------

def test_builtin_styles_cover_the_paper_sets():
    styles = load_styles(include_user_dir=False)
    assert PAPER_STYLES <= set(styles)
    asian = {n for n, s in styles.items() if "asian" in s.sets}
    european = {n for n, s in styles.items() if "european" in s.sets}
    assert asian == {"retro", "korean", "japanese", "bare", "smoky"}
    assert european == {"colorful", "bare", "smoky"}
    for st in styles.values():
        assert {"lips", "eyeshadow", "cheek", "base"} <= set(st.regions)
    assert styles["bare"].regions["lips"].color_mode == "skin"
    assert len(styles["smoky"].regions["eyeshadow"].colors) == 2


@pytest.mark.parametrize("region_doc, message", [
    ({"lips": {"color": [[1, 2]]}}, "colour"),
    ({"lips": {"color": [[1, 2, 3]], "opacity": 2}}, "opacity"),
    ({"lips": {"color": [[1, 2, 3]], "finsh": "matte"}}, "unknown key"),
    ({"lips": {"color": [[1, 2, 3]], "finish": "sparkle"}}, "finish"),
    ({"nails": {"color": [[1, 2, 3]]}}, "unknown region"),
])
def test_invalid_style_files_are_refused(tmp_path, region_doc, message):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"schema": 1, "styles": {"mine": {"regions": region_doc}}}))
    with pytest.raises(ValueError, match=message):
        load_style_file(f)


def test_not_json_and_wrong_schema(tmp_path):
    f = tmp_path / "x.json"
    f.write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_style_file(f)
    f.write_text(json.dumps({"styles": {}}))
    with pytest.raises(ValueError, match="schema"):
        load_style_file(f)
    with pytest.raises(ValueError, match="cannot read"):
        load_style_file(tmp_path / "missing.json")


def test_user_styles_folder_and_extra_file(tmp_path, monkeypatch):
    user = tmp_path / "user"
    user.mkdir()
    (user / "a.json").write_text(json.dumps({"schema": 1, "styles": {
        "gothic": {"sets": ["mine"], "regions": {"lips": {"color": [[40, 0, 30]], "opacity": 0.9}}}}}))
    monkeypatch.setenv("MASQUERADE_MAKEUP_STYLES_DIR", str(user))
    extra = tmp_path / "b.json"
    extra.write_text(json.dumps({"schema": 1, "styles": {
        "retro": {"regions": {"lips": {"color": [0, 0, 255]}}}}}))
    styles = load_styles([extra])
    assert styles["gothic"].sets == ("mine",)
    assert styles["retro"].regions["lips"].colors == ((0.0, 0.0, 255.0),)  # later file wins
    assert set(styles["retro"].regions) == {"lips"}
    assert "gothic" not in load_styles(include_user_dir=False)


# --- parameters ----------------------------------------------------------------------------------

def test_params_validation():
    styles = load_styles(include_user_dir=False)
    MakeupParams({"lips": "retro", "cheek": None}).validate(styles)
    with pytest.raises(ValueError, match="unknown makeup region"):
        MakeupParams({"nose": "retro"}).validate(styles)
    with pytest.raises(ValueError, match="unknown makeup style"):
        MakeupParams({"lips": "disco"}).validate(styles)
    with pytest.raises(ValueError, match="defines no eyeliner"):
        MakeupParams({"eyeliner": "bare"}).validate(styles)
    with pytest.raises(ValueError, match="intensity"):
        MakeupParams({"lips": "retro"}, intensity=1.5).validate(styles)
    with pytest.raises(ValueError, match="lips intensity"):
        MakeupParams({"lips": "retro"}, {"lips": -0.1}).validate(styles)
    p = with_style(MakeupParams({"lips": "retro"}), "bare", ["lips", "eyeliner", "cheek"], styles)
    assert p.regions == {"lips": "bare", "cheek": "bare"}  # bare has no eyeliner: left as it was


def test_flat_form_normalises_and_resolves():
    flat = normalize_flat({"style": "smoky", "regions": "lips,eyeshadow", "cheek": "retro"})
    assert flat["regions"] == "lips+eyeshadow"
    assert flat["lips"] == "smoky" and flat["cheek"] == "retro"  # every region as rendered
    assert flat["base"] is None and normalize_flat(flat) == flat
    assert normalize_flat({"style": "smoky", "regions": "eyeshadow+lips"}) == normalize_flat(
        {"style": "smoky", "regions": "lips,eyeshadow"})
    p = params_from_flat(flat, load_styles(include_user_dir=False))
    assert p.enabled() == ["cheek", "eyeshadow", "lips"]
    assert p.regions["cheek"] == "retro" and p.regions["lips"] == "smoky"
    with pytest.raises(ValueError, match="unknown makeup parameter"):
        normalize_flat({"lipstick": "retro"})
    with pytest.raises(ValueError, match="unknown makeup region"):
        normalize_flat({"regions": "lips+ears"})
    with pytest.raises(ValueError, match="unknown makeup style"):
        normalize_flat({"lips": "disco"})


@pytest.mark.parametrize("off", ["none", "None", "OFF", "", None])
def test_explicit_none_switches_a_region_off_even_under_the_global_style(off):
    """Issue 21: ``--style smoky --lips none`` painted the lips smoky (none == not given)."""
    styles = load_styles(include_user_dir=False)
    flat = normalize_flat({"style": "smoky", "regions": "lips+eyeshadow", "lips": off})
    assert flat["lips"] == REGION_OFF  # says so in the flat form (manifest, batch dialog)
    assert normalize_flat(flat) == flat
    assert params_from_flat(flat, styles).enabled() == ["eyeshadow"]
    # off where the style does not reach it: None, off either way
    flat = normalize_flat({"style": "smoky", "regions": "eyeshadow", "lips": off, "cheek": "retro"})
    assert flat["lips"] is None
    assert params_from_flat(flat, styles).enabled() == ["cheek", "eyeshadow"]
    # the batch form keeps it off, and reading it again (the runner does) leaves it off
    batch = makeup_params({"style": "smoky", "regions": "lips+eyeshadow", "lips": off})
    assert batch["lips"] == REGION_OFF and batch["eyeshadow"] == "smoky"
    assert makeup_params(batch) == batch
    assert params_from_flat(batch, styles).enabled() == ["eyeshadow"]


# --- editor state ----------------------------------------------------------------------------------

def test_edit_before_set_image(analyzer):
    with pytest.raises(EditorStateError):
        MakeupEditor(analyzer=analyzer).edit(MakeupParams({"lips": "retro"}))


def test_no_face_is_a_clear_error(analyzer, shapes):
    ed = MakeupEditor(analyzer=analyzer)
    with pytest.raises(NoFaceError, match="no face found"):
        ed.set_image(shapes)
    assert not ed.has_image


def test_backend_auto_is_classical(analyzer, tmp_path):
    ed = MakeupEditor("auto", analyzer=analyzer)
    assert ed.backend == "classical" and ed.backend_reason.startswith("the classical renderer")
    with pytest.raises(ValueError, match="not available"):
        MakeupEditor("neural", analyzer=analyzer, checkpoint=tmp_path / "no_gan.json")


# --- regions -------------------------------------------------------------------------------------

def test_region_masks_follow_the_face(editor):
    res = editor.edit(_all_regions("retro", editor.styles))
    m = {k: v.astype(np.float32) / 255 for k, v in res.masks.items() if k != "changed"}
    assert set(m) == set(REGIONS)
    lips_gt = _labels(editor, "u_lip", "l_lip")
    lips = m["lips"] > 0.5
    iou = (lips & lips_gt).sum() / (lips | lips_gt).sum()
    assert iou > 0.5
    never = _labels(editor, "mouth", "l_eye", "r_eye", "hair", "background")
    for r, mask in m.items():
        assert mask[never].max() == 0, r  # teeth, eyes, hair, background untouched
    eyes_y = np.nonzero(_labels(editor, "l_eye", "r_eye"))[0].mean()
    ys, xs = np.nonzero(m["eyeshadow"] > 0.3)
    assert ys.mean() < eyes_y  # above the eyes
    brows_y = np.nonzero(_labels(editor, "l_brow", "r_brow"))[0].mean()
    assert ys.mean() > brows_y - 3  # not above the brows
    cy, cx = np.nonzero(m["cheek"] > 0.3)
    assert cy.mean() > eyes_y
    face = editor.analysis.faces[0]
    mid = (face.box[0] + face.box[2]) / 2
    assert (cx < mid).any() and (cx > mid).any()  # both cheeks
    skin = _labels(editor, "skin")
    assert (m["base"][skin] > 0.5).mean() > 0.5
    assert m["base"][lips_gt].mean() < 0.2


def test_lips_follow_a_rotated_face(analyzer, astro, editor):
    h, w = astro.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0)
    turned = cv2.warpAffine(astro, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    ed = MakeupEditor(analyzer=analyzer, styles=editor.styles)
    ed.set_image(turned)
    lips = ed.edit(MakeupParams({"lips": "retro"})).masks["lips"] > 127
    ref = editor.edit(MakeupParams({"lips": "retro"})).masks["lips"].astype(np.float32)
    ref_turned = cv2.warpAffine(ref, rot, (w, h)) > 127
    iou = (lips & ref_turned).sum() / (lips | ref_turned).sum()
    assert iou > 0.6


# --- rendering -----------------------------------------------------------------------------------

@pytest.mark.parametrize("style", sorted(PAPER_STYLES))
def test_every_style_changes_only_its_regions(editor, astro, style):
    params = _all_regions(style, editor.styles)
    res = editor.edit(params)
    out = res.image
    assert out.shape == astro.shape and out.dtype == np.uint8
    union = np.zeros(astro.shape[:2], bool)
    for r in params.enabled():
        union |= res.masks[r] > 0
    assert np.array_equal(out[~union], astro[~union])  # bit-identical outside the masks
    assert np.array_equal(out[~res.masks["changed"]], astro[~res.masks["changed"]])
    invariant = _labels(editor, "mouth", "l_eye", "r_eye", "hair", "background", "cloth", "neck")
    assert np.array_equal(out[invariant], astro[invariant])
    for r in params.enabled():
        inside = res.masks[r] >= max(1, int(res.masks[r].max() * 0.8))
        assert np.abs(out[inside].astype(int) - astro[inside]).max() > 0, r
    assert structural_similarity(astro, out, channel_axis=2) > 0.95


@pytest.mark.parametrize("style", sorted(PAPER_STYLES))
def test_each_region_alone(editor, astro, style):
    for r in editor.styles[style].regions:
        res = editor.edit(MakeupParams({r: style}))
        assert np.array_equal(res.image[res.masks[r] == 0], astro[res.masks[r] == 0]), (style, r)
        assert (res.image != astro).any(), (style, r)


def test_intensity_zero_is_identity(editor, astro):
    params = _all_regions("colorful", editor.styles)
    assert np.array_equal(editor.edit(MakeupParams(params.regions, intensity=0.0)).image, astro)
    res = editor.edit(MakeupParams({"lips": "retro", "cheek": "retro"}, {"lips": 0.0}))
    outside_cheek = res.masks["cheek"] == 0  # lips at intensity 0: only the cheeks change
    assert np.array_equal(res.image[outside_cheek], astro[outside_cheek])
    assert not np.array_equal(res.image, astro)


def test_intensity_is_monotonic(editor, astro):
    diffs = []
    for k in (0.25, 0.5, 1.0):
        out = editor.edit(MakeupParams({"lips": "retro", "eyeshadow": "smoky"}, intensity=k)).image
        diffs.append(np.abs(out.astype(int) - astro).sum())
    assert diffs[0] < diffs[1] < diffs[2]


def _lab(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


def test_rendering_keeps_texture_and_hits_the_colour(editor, astro):
    lips = _labels(editor, "u_lip", "l_lip") & (editor.edit(MakeupParams({"lips": "retro"})).masks["lips"] > 240)
    out = editor.edit(MakeupParams({"lips": "retro"})).image
    before, after = _lab(astro)[lips], _lab(out)[lips]
    target = _lab(np.array([[[150, 18, 36]]], np.uint8))[0, 0]
    assert np.abs(after.mean(0)[1:] - target[1:]).sum() < np.abs(before.mean(0)[1:] - target[1:]).sum()
    # shading/texture survive: the lightness variation inside the lips is kept (not flat paint)
    assert after[:, 0].std() > 0.6 * before[:, 0].std()


def test_bare_reduces_visible_colour(editor, astro):
    lips = _labels(editor, "u_lip", "l_lip")
    skin = editor._faces(1.0, astro)[0].skin_lab
    out = editor.edit(MakeupParams({"lips": "bare"})).image
    d_before = np.linalg.norm(_lab(astro)[lips].mean(0)[1:] - skin[1:])
    d_after = np.linalg.norm(_lab(out)[lips].mean(0)[1:] - skin[1:])
    assert d_after < 0.7 * d_before


def test_edit_stream_preview_then_full(editor, astro):
    results = list(editor.edit_stream(MakeupParams({"lips": "korean"}), preview_sides=(256,)))
    assert [r.is_preview for r in results] == [True, False]
    assert results[0].image.shape[:2] == (256, 256)
    assert results[-1].info["backend"] == "classical" and results[-1].info["faces"] == 1


# --- extra faces from ../shared/data ---------------------------------------------------------------

def _shared_faces(shared_data, n=2):
    from engine.imageio import load_image

    paths = sorted((shared_data / "makeup" / "mt" / "no_makeup").glob("*.jpg"))[:n]
    paths += sorted((shared_data / "faces" / "photos").glob("*.jpg"))[:n]
    if not paths:
        pytest.skip("no dev faces in ../shared/data")
    return [(p.name, cv2.resize(load_image(p), (256, 256), interpolation=cv2.INTER_AREA)) for p in paths]


def test_dev_faces_every_style_invariant(shared_data, analyzer):
    styles = load_styles(include_user_dir=False)
    for name, img in _shared_faces(shared_data):
        ed = MakeupEditor(analyzer=analyzer, styles=styles)
        ed.set_image(img)
        for style in sorted(PAPER_STYLES):
            res = ed.edit(_all_regions(style, styles))
            keep = ~res.masks["changed"]
            assert np.array_equal(res.image[keep], img[keep]), (name, style)
            assert structural_similarity(img, res.image, channel_axis=2) > 0.9, (name, style)


def test_bare_on_real_makeup_photos(shared_data, analyzer):
    from engine.imageio import load_image

    paths = sorted((shared_data / "makeup" / "mt" / "makeup").glob("*.jpg"))[:3]
    if not paths:
        pytest.skip("no MT makeup photos")
    ed = MakeupEditor(analyzer=analyzer, styles=load_styles(include_user_dir=False))
    for p in paths:
        img = load_image(p)
        ed.set_image(img)
        lips = region_mask(ed.analysis.parsing, ("u_lip", "l_lip"))
        skin = ed._faces(1.0, img)[0].skin_lab
        out = ed.edit(MakeupParams({"lips": "bare"})).image
        d0 = np.linalg.norm(_lab(img)[lips].mean(0)[1:] - skin[1:])
        d1 = np.linalg.norm(_lab(out)[lips].mean(0)[1:] - skin[1:])
        assert d1 < d0, p.name

