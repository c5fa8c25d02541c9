"""Makeup from a reference photo (skin-relative measured styles) and makeup removal (classical)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from engine.errors import NoFaceError
from engine.studios.makeup.classical import colour_lab
from engine.studios.makeup.editor import MakeupEditor
from engine.studios.makeup.params import (
    REMOVAL_STYLE,
    MakeupParams,
    load_style_file,
    load_styles,
    normalize_flat,
    params_from_flat,
    reference_key,
    region_sources,
    save_styles,
)
from engine.studios.makeup.reference import (
    MEASURED_REGIONS,
    largest_geometry,
    measure_style,
    merge_styles,
    style_from_photo,
)
from engine.studios.makeup.removal import BARE_OFFSETS, bare_distance, makeup_present, removal_style

SHARED_MT = Path(__file__).resolve().parents[4] / "shared" / "data" / "makeup" / "mt"


@pytest.fixture(scope="module")
def analyzer():
    from engine.faces import FaceAnalyzer

    return FaceAnalyzer()


@pytest.fixture(scope="module")
def astro() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def editor(analyzer, astro) -> MakeupEditor:
    ed = MakeupEditor("classical", analyzer=analyzer, styles=load_styles(include_user_dir=False))
    ed.set_image(astro)
    return ed


@pytest.fixture(scope="module")
def made_up(editor) -> np.ndarray:
    """The astronaut with retro lips, smoky lids and korean cheeks (a made-up face)."""
    return editor.edit(MakeupParams({"lips": "retro", "eyeshadow": "smoky", "cheek": "korean"})).image


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


def _region_mean(editor: MakeupEditor, rgb: np.ndarray, region: str, style: str) -> np.ndarray:
    """Mask-weighted CIELAB mean of ``region`` (the mask the renderer paints with ``style``)."""
    m = editor.edit(MakeupParams({region: style})).masks[region].astype(np.float32)
    w = (m > 128).astype(np.float32)
    return (_lab(rgb) * w[..., None]).reshape(-1, 3).sum(0) / w.sum()


def test_reference_equal_to_input_gives_the_input(editor, analyzer, astro):
    editor.add_reference(astro, "self")  # the photo being edited: measured on its own analysis
    res = editor.edit(MakeupParams({r: "self" for r in MEASURED_REGIONS}))
    diff = np.abs(res.image.astype(int) - astro)
    # a measured colour beyond sRGB (the eyeshadow's fitted top, on the bright brow bone) is stored
    # clipped: a few levels there, exact elsewhere
    assert diff.max() <= 4 and (diff > 1).mean() < 0.002
    assert set(res.masks) >= set(MEASURED_REGIONS)
    # the same pixels as a separate photo: analysed again at the reference size (320 px)
    editor.styles["again"] = style_from_photo(astro.copy(), analyzer, "again")
    res = editor.edit(MakeupParams({r: "again" for r in MEASURED_REGIONS}))
    diff = np.abs(res.image.astype(np.float32) - astro)[res.masks["changed"]]
    assert diff.mean() < 2.5 and np.percentile(diff, 99) < 10  # measured on other pixels: close, not exact


def test_darker_skin_reference_keeps_the_lip_colour_against_the_skin(editor, analyzer, astro, made_up):
    # the made-up face on darker skin: every pixel darkened (skin and lips alike)
    dark = np.clip(made_up.astype(np.float32) * 0.55, 0, 255).astype(np.uint8)
    ref = measure_style(largest_geometry(dark, analyzer), "dark")
    editor.styles["dark"] = ref
    res = editor.edit(MakeupParams({"lips": "dark"})).image
    skin_in = editor._faces(1.0, astro)[0].skin_lab
    ref_geo = largest_geometry(dark, analyzer)
    ref_offset = colour_lab(ref.regions["lips"].colors[0]) - ref_geo.skin_lab
    got = _region_mean(editor, res, "lips", "dark") - skin_in
    assert np.linalg.norm(got - ref_offset) < 4.0, (got, ref_offset)  # the look against the skin travels
    lips_ref = colour_lab(ref.regions["lips"].colors[0])
    lips_res = _region_mean(editor, res, "lips", "dark")
    assert lips_res[0] - lips_ref[0] > 10  # not the reference's darker skin
    hue = np.degrees(np.arctan2(lips_res[2], lips_res[1]) - np.arctan2(lips_ref[2], lips_ref[1]))
    assert abs(hue) < 12  # the lipstick's hue is kept
    # the result is red lipstick, redder than the astronaut's own lips (darkening the reference
    # also shrank its chroma, so the a* of the light-skinned retro face is not reached)
    own = _region_mean(editor, astro, "lips", "dark")
    assert lips_res[1] > own[1] + 5


def test_per_region_references_paint_only_their_region(editor, astro, made_up, analyzer):
    editor.add_reference(made_up, "a")
    other = editor.edit(MakeupParams({"lips": "korean", "eyeshadow": "colorful"})).image
    editor.add_reference(other, "b")
    mix = editor.edit(MakeupParams({"lips": "a", "eyeshadow": "b"}))
    lips_only = editor.edit(MakeupParams({"lips": "a"}))
    shadow_only = editor.edit(MakeupParams({"eyeshadow": "b"}))
    changed = mix.masks["changed"]
    assert np.array_equal(mix.image[~changed], astro[~changed])
    lips, shadow = lips_only.masks["lips"] > 0, shadow_only.masks["eyeshadow"] > 0
    assert np.array_equal(mix.image[lips & ~shadow], lips_only.image[lips & ~shadow])
    assert np.array_equal(mix.image[shadow & ~lips], shadow_only.image[shadow & ~lips])
    assert np.array_equal(changed, lips_only.masks["changed"] | shadow_only.masks["changed"])
    # the lips come from a (retro red), not from b (korean coral)
    la, lb = (_region_mean(editor, x, "lips", "a") for x in (made_up, other))
    lm = _region_mean(editor, mix.image, "lips", "a")
    assert np.linalg.norm(lm - la) < np.linalg.norm(lm - lb)


def test_removal_then_the_original_style_gives_the_input_back(analyzer, made_up):
    ed = MakeupEditor("classical", analyzer=analyzer, styles=load_styles(include_user_dir=False))
    ed.set_image(made_up)
    own = measure_style(ed._faces(1.0, made_up)[0], "own")
    before = makeup_present(ed._faces(1.0, made_up)[0])
    bare = ed.edit(MakeupParams({r: REMOVAL_STYLE for r in BARE_OFFSETS})).image
    ed.set_image(bare)
    after = makeup_present(ed._faces(1.0, bare)[0])
    assert after["lips"] < 0.5 * before["lips"]  # the retro red is mostly gone
    assert after["eyeshadow"] < before["eyeshadow"]
    ed.styles["own"] = own
    back = ed.edit(MakeupParams({r: "own" for r in BARE_OFFSETS})).image
    diff = np.abs(back.astype(np.float32) - made_up)
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) < 16  # lashes spared by the removal darken a little
    changed = ed.edit(MakeupParams({r: "own" for r in BARE_OFFSETS})).masks["changed"]
    assert diff[changed].mean() < 4.0


def test_removal_intensity_scales_and_zero_is_the_input(editor, astro):
    zero = editor.edit(MakeupParams({"lips": REMOVAL_STYLE}, {"lips": 0.0}))
    assert np.array_equal(zero.image, astro)
    half = _region_mean(editor, editor.edit(MakeupParams({"lips": REMOVAL_STYLE}, {"lips": 0.5})).image,
                        "lips", REMOVAL_STYLE)
    full = _region_mean(editor, editor.edit(MakeupParams({"lips": REMOVAL_STYLE})).image, "lips", REMOVAL_STYLE)
    own = _region_mean(editor, astro, "lips", REMOVAL_STYLE)
    assert np.linalg.norm(half - (own + full) / 2) < 0.25 * np.linalg.norm(full - own) + 0.5


def test_saved_styles_round_trip(editor, made_up, analyzer, tmp_path):
    st = measure_style(largest_geometry(made_up, analyzer), "retro_photo", description="measured")
    path = tmp_path / "styles.json"
    save_styles(path, [st])
    save_styles(path, [merge_styles("mix", [(st, ["lips"]), (removal_style(), ["cheek"])])])
    back = load_style_file(path)
    assert list(back) == ["retro_photo", "mix"]
    assert dict(back["retro_photo"].regions) == dict(st.regions)
    assert back["retro_photo"].description == "measured"
    editor.styles["orig"], editor.styles["loaded"] = st, back["retro_photo"]
    a = editor.edit(MakeupParams({r: "orig" for r in st.regions})).image
    b = editor.edit(MakeupParams({r: "loaded" for r in st.regions})).image
    assert np.array_equal(a, b)
    doc = json.loads(path.read_text())
    assert doc["schema"] == 1 and "reference_skin" in doc["styles"]["mix"]["regions"]["lips"]
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    with pytest.raises(ValueError, match="expected"):
        save_styles(bad, [st])
    assert bad.read_text() == "[1]"  # a foreign file is not overwritten
    with pytest.raises(ValueError, match="style name"):
        save_styles(tmp_path / "x.json", [merge_styles("no good", [(st, ["lips"])])])


def test_style_file_refuses_bad_measured_keys(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"schema": 1, "styles": {"x": {"regions": {"lips": {
        "color": "skin", "reference_skin": [1, 2, 3]}}}}}))
    with pytest.raises(ValueError, match="reference_skin needs"):
        load_style_file(p)
    p.write_text(json.dumps({"schema": 1, "styles": {"x": {"regions": {"lips": {
        "color": [1, 2, 3], "shine": -1}}}}}))
    with pytest.raises(ValueError, match="shine"):
        load_style_file(p)


def test_flat_sources_and_reference_errors(tmp_path):
    ref = tmp_path / "ref.png"
    cv2.imwrite(str(ref), np.zeros((8, 8, 3), np.uint8))
    f = normalize_flat({"reference": str(ref), "regions": "lips+eyeshadow", "cheek_reference": str(ref),
                        "style": "retro", "eyeshadow": "smoky", "remove": 0.7})
    src = region_sources(f)
    assert src["lips"] == ("reference", str(ref)) and src["cheek"] == ("reference", str(ref))
    assert src["eyeshadow"] == ("style", "smoky") and src["eyeliner"] == ("remove", None)
    assert src["base"] == ("off", None) and src["brows"] == ("off", None)
    styles = load_styles(include_user_dir=False)
    styles[REMOVAL_STYLE] = removal_style()
    styles[reference_key(ref)] = removal_style()  # any style with lips and cheek stands for the photo here
    p = params_from_flat(f, styles)
    assert p.regions["lips"] == reference_key(ref) and p.strength("eyeliner") == pytest.approx(0.7)
    assert normalize_flat(f) == f
    with pytest.raises(ValueError, match="reference photo.*not found"):
        normalize_flat({"lips_reference": str(tmp_path / "missing.jpg")})
    with pytest.raises(ValueError, match="remove"):
        normalize_flat({"remove": 1.5})


def test_reference_without_a_face_is_one_error(editor):
    with pytest.raises(NoFaceError, match="reference"):
        editor.add_reference(np.full((96, 96, 3), 128, np.uint8), "nothing")
    assert "nothing" not in editor.styles


@pytest.mark.skipif(not SHARED_MT.is_dir(), reason="../shared/data/makeup/mt not present")
def test_removal_on_mt_makeup_photos_moves_towards_bare(analyzer):
    from engine.imageio import load_image

    for path in sorted((SHARED_MT / "makeup").glob("*.jpg"))[:2]:
        img = load_image(path)
        ed = MakeupEditor("classical", analyzer=analyzer)
        ed.set_image(img)
        before = makeup_present(ed._faces(1.0, img)[0])
        out = ed.edit(MakeupParams({r: REMOVAL_STYLE for r in BARE_OFFSETS})).image
        ed.set_image(out)
        after = makeup_present(ed._faces(1.0, out)[0])
        assert after["lips"] < before["lips"], (path.name, before, after)
        assert sum(after.values()) < sum(before.values())


def test_bare_distance_of_a_bare_style_is_zero():
    st = removal_style()
    assert all(bare_distance(st, r) < 0.5 for r in BARE_OFFSETS)  # float Lab <-> sRGB round trips
    with pytest.raises(ValueError, match="no measured"):
        bare_distance(load_styles(include_user_dir=False)["retro"], "lips")
