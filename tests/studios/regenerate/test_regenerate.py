"""Regenerate studio engine: label I/O, label edits, classical regeneration, editor contract."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.errors import EditorStateError, ImageLoadError, NoFaceError
from engine.geometry import fit_tps
from engine.labels import CELEBAMASK_HQ, colorize_labels, official_to_bisenet
from engine.studios.regenerate import edits as E
from engine.studios.regenerate.classical import regenerate, transfer_colour
from engine.studios.regenerate.editor import RegenerateEditor
from engine.studios.regenerate.params import RegenerateParams

IDX = CELEBAMASK_HQ.index


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def toy_face(h: int = 96, w: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A drawn face and its exact label map (skin disc, hair cap, two eyes, lips) on a textured background."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:h, 0:w]
    lab = np.zeros((h, w), np.uint8)
    img = (rng.random((h, w, 3)) * 30 + 100).astype(np.float32)
    face = (yy - 52) ** 2 / 30 ** 2 + (xx - 48) ** 2 / 24 ** 2 < 1
    hair = ((yy - 40) ** 2 / 34 ** 2 + (xx - 48) ** 2 / 32 ** 2 < 1) & ~face & (yy < 60)
    lab[hair], img[hair] = IDX("hair"), (70, 45, 25)
    img[hair] += rng.random((int(hair.sum()), 1)) * 40
    lab[face], img[face] = IDX("skin"), (220, 170, 140)
    for cx, name in ((38, "r_eye"), (58, "l_eye")):
        eye = (yy - 46) ** 2 / 3 ** 2 + (xx - cx) ** 2 / 6 ** 2 < 1
        lab[eye], img[eye] = IDX(name), (240, 240, 240)
        img[eye & ((yy - 46) ** 2 + (xx - cx) ** 2 < 6)] = (40, 30, 20)
    ul = (yy >= 64) & (yy < 67) & (np.abs(xx - 48) < 9)
    ll = (yy >= 67) & (yy < 71) & (np.abs(xx - 48) < 8)
    lab[ul], img[ul] = IDX("u_lip"), (170, 80, 80)
    lab[ll], img[ll] = IDX("l_lip"), (190, 90, 90)
    return np.clip(img, 0, 255).astype(np.uint8), lab


# --- label I/O --------------------------------------------------------------------------------

def test_label_io_official_and_bisenet(tmp_path) -> None:
    _, lab = toy_face()
    E.save_label_map(tmp_path / "o.png", lab)
    assert np.array_equal(E.load_label_map(tmp_path / "o.png"), lab)
    E.save_label_map(tmp_path / "b.png", lab, order="bisenet")
    raw = np.asarray(Image.open(tmp_path / "b.png"))
    assert np.array_equal(raw, official_to_bisenet(lab))
    assert np.array_equal(E.load_label_map(tmp_path / "b.png", order="bisenet"), lab)
    # an official map read as BiSeNet is different (the trap)
    assert not np.array_equal(E.load_label_map(tmp_path / "o.png", order="bisenet"), lab)
    Image.fromarray(colorize_labels(lab)).save(tmp_path / "c.png")
    assert np.array_equal(E.load_label_map(tmp_path / "c.png"), lab)


def test_label_io_errors(tmp_path) -> None:
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(tmp_path / "bad.png")
    with pytest.raises(ImageLoadError, match="0..18"):
        E.load_label_map(tmp_path / "bad.png")
    with pytest.raises(ImageLoadError):
        E.load_label_map(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="order"):
        E.load_label_map(tmp_path / "bad.png", order="mt14")


# --- label edits ------------------------------------------------------------------------------

def test_edits_change_what_they_say() -> None:
    _, lab = toy_face()
    hair = (lab == IDX("hair")).sum()
    assert (E.apply_edits(lab, "dilate:hair:4") == IDX("hair")).sum() > hair
    assert (E.apply_edits(lab, "erode:hair:3") == IDX("hair")).sum() < hair
    eyes = np.isin(lab, [IDX("l_eye"), IDX("r_eye")]).sum()
    big = E.apply_edits(lab, "scale:l_eye+r_eye:1.5")
    assert np.isin(big, [IDX("l_eye"), IDX("r_eye")]).sum() > 1.8 * eyes
    g = E.apply_edits(lab, "add:glasses")
    assert (g == IDX("eye_g")).sum() > 50 and (lab == IDX("eye_g")).sum() == 0
    sw = E.apply_edits(lab, "swap:u_lip:l_lip")
    assert np.array_equal(sw == IDX("u_lip"), lab == IDX("l_lip"))
    sm = E.apply_edits(lab, "smile:4")
    ys, xs = np.nonzero(np.isin(sm, [IDX("u_lip"), IDX("l_lip")]))
    corner_y = ys[xs == xs.min()].mean()
    assert corner_y < 64  # the corners rose above the old upper-lip top
    assert np.array_equal(E.apply_edits(lab, "none"), lab)


@pytest.mark.parametrize("spec, msg", [("grow:hair:3", "unknown label edit"), ("dilate:hiar:3", "hiar"),
                                       ("dilate:hair", "argument"), ("erode:hair:x", "number"),
                                       ("scale:nose:9", "scale factor"), ("add:hat", "glasses")])
def test_edit_spec_errors(spec: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        E.parse_edits(spec)


# --- classical regeneration -------------------------------------------------------------------

def test_identity_is_exact() -> None:
    img, lab = toy_face()
    out, masks, info = regenerate(img, lab, lab.copy())
    assert np.array_equal(out, img) and not masks["changed"].any() and info["regions"] == {}
    ref_img, ref_lab = toy_face()
    out, _, _ = regenerate(img, lab, lab, reference=ref_img, reference_labels=ref_lab,
                           reference_regions=("hair",), blend=0.0)
    assert np.array_equal(out, img)


def test_grown_hair_is_hair_and_the_rest_is_untouched() -> None:
    img, lab = toy_face()
    edited = E.apply_edits(lab, "dilate:hair:6")
    out, masks, info = regenerate(img, lab, edited)
    new = (edited == IDX("hair")) & (lab != IDX("hair"))
    assert info["regions"]["hair"].startswith("continued")
    hair_mean = img[lab == IDX("hair")].mean(0)
    assert np.abs(out[new].mean(0) - hair_mean).max() < 25  # hair texture, not background
    far = ~masks["regenerated"]
    assert np.array_equal(out[far], img[far])
    assert masks["regenerated"].sum() < 3 * new.sum() + 400


def test_bigger_eyes_are_warped_eyes() -> None:
    img, lab = toy_face()
    for cx in (38, 58):
        img[41:43, cx - 6:cx + 7] = (30, 20, 20)  # a lid line just above each eye, labelled skin
    edited = E.apply_edits(lab, "scale:l_eye+r_eye:1.6")
    out, masks, info = regenerate(img, lab, edited)
    assert info["regions"]["l_eye"] == "warped from source with its surroundings"
    # the lid line moved up with the enlarged eye (the eye region now starts at row 42)
    assert np.nonzero(edited[:, 58] == IDX("l_eye"))[0].min() <= 42
    assert out[38:41, 55:62].mean((1, 2)).min() < 100 < img[38:41, 55:62].mean((1, 2)).min()
    eye = edited == IDX("l_eye")
    assert out[eye].mean() > 120 and out[eye].min() < 90  # white sclera with a dark iris inside
    ys, xs = np.nonzero(masks["regenerated"])
    assert 30 < ys.mean() < 60  # only around the eyes


def test_missing_part_comes_from_twin_then_material() -> None:
    img, lab = toy_face()
    no_r = lab.copy()
    no_r[no_r == IDX("r_eye")] = IDX("skin")
    # source has no r_eye: the edit asks for one → mirrored l_eye
    out, _, info = regenerate(img, no_r, lab)
    assert info["regions"]["r_eye"].startswith("mirrored l_eye")
    assert out[lab == IDX("r_eye")].mean() > 120
    # glasses exist nowhere → built-in spectacles: a dark frame around see-through lenses, never empty
    g = E.apply_edits(lab, "add:glasses")
    out, _, info = regenerate(img, lab, g)
    assert info["regions"]["eye_g"].startswith("built-in material")
    ring = (g == IDX("eye_g")) & ~cv2.erode((g == IDX("eye_g")).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert out[ring].mean() < img[lab == IDX("skin")].mean() - 40  # dark frame along the outline


def test_reference_style_per_region() -> None:
    img, lab = toy_face()
    ref = img.copy()
    ref[lab == IDX("hair")] = (230, 200, 60)  # a blonde reference with the same layout
    out, _, info = regenerate(img, lab, lab, reference=ref, reference_labels=lab, reference_regions=("hair",))
    hair = lab == IDX("hair")
    assert "colour of reference" in info["regions"]["hair"]
    assert np.abs(out[hair].mean(0) - (230, 200, 60)).max() < 20
    inner = lab == IDX("skin")
    inner[:63] = False  # skin away from the hair seam keeps its pixels
    assert np.array_equal(out[inner], img[inner])
    half, _, _ = regenerate(img, lab, lab, reference=ref, reference_labels=lab, reference_regions=("hair",), blend=0.5)
    assert out[hair].mean() > half[hair].mean() > img[hair].mean()


def test_tps_and_colour_transfer() -> None:
    src = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [5, 5]], float)
    f = fit_tps(src, src * 2 + 3, regularisation=0.0)
    assert np.allclose(f(np.array([[2.0, 7.0]])), [[7.0, 17.0]], atol=1e-6)
    v = np.full((20, 3), 100.0)
    r = np.full((20, 3), 200.0)
    assert np.abs(transfer_colour(v, r) - 200).max() < 2


def test_bad_inputs() -> None:
    img, lab = toy_face()
    with pytest.raises(ValueError, match="match"):
        regenerate(img, lab, lab[:10])
    bad = lab.copy()
    bad[0, 0] = 40
    with pytest.raises(ValueError, match="0..18"):
        regenerate(img, lab, bad)
    with pytest.raises(ValueError, match="region"):
        RegenerateParams(lab, reference_regions=("hairs",)).validate()
    with pytest.raises(ValueError, match="blend"):
        RegenerateParams(lab, blend=2).validate()


# --- editor -------------------------------------------------------------------------------------

def test_editor_with_given_labels_and_stream() -> None:
    img, lab = toy_face()
    ed = RegenerateEditor()
    with pytest.raises(EditorStateError):
        ed.edit(RegenerateParams(lab))
    ed.set_image(img, labels=lab)
    assert ed.backend == "classical"
    edited = E.apply_edits(lab, "dilate:hair:4")
    res = list(ed.edit_stream(RegenerateParams(edited), preview_sides=(48,)))
    assert [r.is_preview for r in res] == [True, False]
    assert res[0].image.shape == (48, 48, 3) and res[1].image.shape == img.shape
    assert res[1].info["note"].startswith("classical region warping: ")  # auto, and why the learned one did not run
    assert res[1].info["backend"] == "classical" and res[1].info["device"] == "cpu"
    with pytest.raises(ValueError, match="aspect"):
        ed.edit(RegenerateParams(edited[:, :40]))


@pytest.fixture(scope="module")
def analyzer():
    from engine.faces import FaceAnalyzer

    return FaceAnalyzer()


def test_astronaut_identity_and_edit_agreement(analyzer) -> None:
    from skimage import data

    img = data.astronaut()
    ed = RegenerateEditor(analyzer=analyzer)
    ed.set_image(img)
    lab = ed.source_labels
    assert psnr(ed.edit(RegenerateParams(lab.copy())).image, img) == float("inf")
    edited = E.apply_edits(lab, "dilate:hair:10")
    out = ed.edit(RegenerateParams(edited)).image
    parsed = analyzer.analyze(out).parsing
    ids = [i for i in range(19) if ((edited == i) != (lab == i)).any()]
    ious = [((parsed == i) & (edited == i)).sum() / ((parsed == i) | (edited == i)).sum() for i in ids]
    assert float(np.mean(ious)) >= 0.8  # the parser sees the longer hair
    with pytest.raises(NoFaceError):
        ed.set_reference(np.full((64, 64, 3), 90, np.uint8))


def test_no_face() -> None:
    from engine.faces import FaceAnalyzer

    ed = RegenerateEditor(analyzer=FaceAnalyzer())
    with pytest.raises(NoFaceError):
        ed.set_image(np.full((64, 64, 3), 128, np.uint8))
    assert not ed.has_image


def test_shared_faces_identity_psnr(shared_data, analyzer) -> None:
    from engine.imageio import load_image

    photos = sorted((shared_data / "faces" / "photos").glob("*.jpg"))[:2]
    if not photos:
        pytest.skip("no face photos in shared data")
    for p in photos:
        img = load_image(p)
        lab = analyzer.analyze(img).parsing
        out, _, _ = regenerate(img, lab, lab.copy())
        assert psnr(out, img) >= 40
        out, masks, _ = regenerate(img, lab, E.apply_edits(lab, "scale:u_lip+l_lip:1.2"))
        assert psnr(out[~masks["regenerated"]], img[~masks["regenerated"]]) == float("inf")
