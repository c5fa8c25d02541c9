"""Regenerate: glasses in the CelebAMask-HQ convention (whole spectacles as ``eye_g``) and their rendering."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.labels import CELEBAMASK_HQ
from engine.studios.regenerate import edits as E
from engine.studios.regenerate.classical import (
    glasses_geometry,
    regenerate,
    render_glasses,
)

IDX = CELEBAMASK_HQ.index
G = IDX("eye_g")


def face(size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A textured drawn face with its exact labels: skin oval, hair cap, brows, eyes with irises, nose, lips."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:size, 0:size]
    s = size / 200.0
    lab = np.zeros((size, size), np.uint8)
    img = np.full((size, size, 3), 110.0, np.float32) + rng.normal(0, 6, (size, size, 1))
    oval = (yy - 110 * s) ** 2 / (70 * s) ** 2 + (xx - 100 * s) ** 2 / (55 * s) ** 2 < 1
    hair = ((yy - 85 * s) ** 2 / (82 * s) ** 2 + (xx - 100 * s) ** 2 / (70 * s) ** 2 < 1) & ~oval & (yy < 120 * s)
    lab[hair], img[hair] = IDX("hair"), (60, 40, 25)
    # skin with freckle-like texture and a soft gradient, so correlations inside the lenses mean something
    tex = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.5) * 25
    skin = np.stack([215 + tex - 0.2 * (yy - 100), 165 + tex - 0.2 * (yy - 100), 135 + tex], -1)
    lab[oval], img[oval] = IDX("skin"), skin[oval]
    for cx, eye, brow in ((70, "r_eye", "r_brow"), (130, "l_eye", "l_brow")):
        cx *= s
        b = (np.abs(yy - 72 * s + 0.05 * (xx - cx) ** 2 / s) < 3 * s) & (np.abs(xx - cx) < 17 * s)
        lab[b], img[b] = IDX(brow), (70, 50, 35)
        e = (yy - 90 * s) ** 2 / (5 * s) ** 2 + (xx - cx) ** 2 / (11 * s) ** 2 < 1
        lab[e], img[e] = IDX(eye), (235, 235, 230)
        img[e & ((yy - 90 * s) ** 2 + (xx - cx) ** 2 < (5 * s) ** 2)] = (60, 90, 40)
    nose = (yy > 80 * s) & (yy < 130 * s) & (np.abs(xx - 100 * s) < (yy - 74 * s) * 0.35)
    lab[nose] = IDX("nose")
    img[nose] -= 12
    lips = (yy - 150 * s) ** 2 / (5 * s) ** 2 + (xx - 100 * s) ** 2 / (20 * s) ** 2 < 1
    lab[lips & (yy < 150 * s)], lab[lips & (yy >= 150 * s)] = IDX("u_lip"), IDX("l_lip")
    img[lips] = (180, 90, 90)
    return np.clip(img, 0, 255).astype(np.uint8), lab


def fill_holes(m: np.ndarray) -> np.ndarray:
    pad = np.pad(m, 1).astype(np.uint8)
    flood = pad.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    return (pad | (flood == 0))[1:-1, 1:-1].astype(bool)


def luma(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


@pytest.mark.parametrize("style", E.GLASSES_STYLES)
def test_add_glasses_is_the_whole_spectacles_with_eyes_on_top(style: str) -> None:
    _, lab = face()
    g = E.add_glasses(lab, style)
    eye_g = g == G
    # eyes, brows, hair, lips keep every pixel: they are painted over eye_g in CelebAMask-HQ
    for n in ("l_eye", "r_eye", "l_brow", "r_brow", "hair", "u_lip", "l_lip"):
        assert np.array_equal(g == IDX(n), lab == IDX(n)), n
    # the lenses are filled: each eye lies in a hole of the eye_g region, ringed by lens pixels
    whole = fill_holes(eye_g)
    for n in ("l_eye", "r_eye"):
        assert whole[lab == IDX(n)].all(), n
        ys, xs = np.nonzero(lab == IDX(n))
        cy, cx = int(ys.mean()), int(xs.mean())
        assert eye_g[cy + 9, cx] and eye_g[cy, cx - 14] and eye_g[cy, cx + 14]  # below and beside the eye
    # one piece (bridge over the nose), much more than thin rims; only skin / nose / background covered
    n_cc, _ = cv2.connectedComponents(eye_g.astype(np.uint8), connectivity=8)
    assert n_cc == 2
    assert eye_g.sum() > 0.5 * whole.sum() and whole.sum() > 2500
    assert set(np.unique(lab[eye_g])) <= {IDX(n) for n in E.GLASSES_PAINTS_OVER}
    assert (eye_g & (lab == IDX("nose"))).any()  # the bridge crosses the nose


def test_glasses_options_in_edit_chains() -> None:
    _, lab = face()
    arms = E.apply_edits(lab, "add:glasses:round")
    bare = E.apply_edits(lab, "add:glasses:round:noarms")
    assert (arms == G).sum() > (bare == G).sum()
    assert np.array_equal(E.apply_edits(lab, "add:glasses"), E.add_glasses(lab, "rect", True))
    assert not np.array_equal(E.apply_edits(lab, "add:glasses:aviator"), arms)
    assert str(E.parse_edits("add:glasses:aviator:noarms")[0]) == "add:glasses:aviator:noarms"
    for spec, msg in (("add:glasses:square", "style"), ("add:glasses:round:arms:x", "argument"),
                      ("add:hat:round", "glasses")):
        with pytest.raises(ValueError, match=msg):
            E.parse_edits(spec)
    no_eyes = lab.copy()
    no_eyes[no_eyes == IDX("l_eye")] = IDX("skin")
    with pytest.raises(ValueError, match="both eyes"):
        E.add_glasses(no_eyes)


def test_rendered_glasses_keep_the_face_behind_the_lenses_and_darken_the_frame() -> None:
    img, lab = face()
    g = E.apply_edits(lab, "add:glasses")
    out, masks, info = regenerate(img, lab, g)
    assert info["regions"]["eye_g"].startswith("built-in material")
    whole, frame, th = glasses_geometry(g == G, np.isin(g, [IDX(n) for n in ("l_eye", "r_eye", "l_brow", "r_brow")]))
    assert 2 <= th <= 6
    # frame band: dark
    assert luma(out)[frame].mean() < 0.45 * luma(img)[frame].mean()
    # lens interior away from the frame (and its shadow): the same face, lightly tinted
    core = cv2.erode(whole.astype(np.uint8), np.ones((2 * (2 * th + 2) + 1,) * 2, np.uint8)).astype(bool)
    assert core.sum() > 400
    a, b = luma(img)[core], luma(out)[core]
    assert np.corrcoef(a, b)[0, 1] > 0.95
    assert np.abs(a - b).mean() < 25
    assert 0.8 * a.std() < b.std() < 1.3 * a.std()  # the skin's texture shows through, barely dimmed
    # the eyes behind the lenses are still eyes: bright sclera, dark iris, close to the source
    eyes = np.isin(g, [IDX("l_eye"), IDX("r_eye")])
    assert np.corrcoef(luma(img)[eyes], luma(out)[eyes])[0, 1] > 0.95
    # nothing far from the glasses changed
    far = ~cv2.dilate(whole.astype(np.uint8), np.ones((4 * th + 9,) * 2, np.uint8)).astype(bool)
    assert np.array_equal(out[far], img[far])


def test_hand_painted_blobs_render_as_glasses() -> None:
    img, lab = face()
    yy, xx = np.mgrid[0:200, 0:200]
    # a filled blob painted over one eye (the eye painted over too), a blob on the cheek, specks and a line
    blob = (yy - 92) ** 2 / 18 ** 2 + (xx - 70) ** 2 / 26 ** 2 < 1
    cheek = (yy - 125) ** 2 + (xx - 140) ** 2 < 12 ** 2
    for region in (blob, cheek, (yy == 120) & (np.abs(xx - 60) < 15), (np.abs(yy - 130) < 2) & (np.abs(xx - 90) < 2)):
        m = lab.copy()
        m[region] = G
        out, _, info = regenerate(img, lab, m)
        assert info["regions"]["eye_g"].startswith("built-in material")
        assert luma(out)[region].mean() < luma(img)[region].mean()  # the frame shows
    m = lab.copy()
    m[blob] = G
    out, _, _ = regenerate(img, lab, m)
    whole, frame, th = glasses_geometry(blob, np.zeros_like(blob))
    assert np.array_equal(whole, blob)
    inner = cv2.erode(blob.astype(np.uint8), np.ones((4 * th + 5,) * 2, np.uint8)).astype(bool)
    assert np.corrcoef(luma(img)[inner], luma(out)[inner])[0, 1] > 0.95  # the eye shows through
    assert luma(out)[frame].mean() < 0.5 * luma(img)[frame].mean()
    with pytest.raises(ValueError, match="empty"):
        render_glasses(img.astype(np.float32), np.zeros((200, 200), bool), np.zeros((200, 200), bool))


def test_removing_glasses_gives_skin_back() -> None:
    img, lab = face()
    g = E.apply_edits(lab, "add:glasses")
    worn, _, _ = regenerate(img, lab, g)
    # now the photo has glasses (labelled as such); remove them in the mask: skin/nose back
    out, _, info = regenerate(worn, g, lab)
    frame = glasses_geometry(g == G, np.zeros_like(lab, bool))[1] & (lab == IDX("skin"))
    assert "eye_g" not in info["regions"] and "glasses removed" in info["regions"]["skin"]
    assert luma(out)[frame].mean() > luma(worn)[frame].mean() + 60  # the dark frame is gone
    assert abs(luma(out)[frame].mean() - luma(img)[lab == IDX("skin")].mean()) < 40
    # the face that was behind the lenses is kept (not replaced by skin mirrored from outside)
    top = np.isin(g, [IDX(n) for n in ("l_eye", "r_eye", "l_brow", "r_brow")])
    whole, fr, th = glasses_geometry(g == G, top, np.isin(g, [IDX("l_eye"), IDX("r_eye")]))
    core = cv2.erode(whole.astype(np.uint8), np.ones((2 * (3 * th + 3) + 1,) * 2, np.uint8)).astype(bool)
    core &= lab == IDX("skin")
    assert core.sum() > 150
    assert np.corrcoef(luma(img)[core], luma(out)[core])[0, 1] > 0.9
    assert np.abs(luma(img)[core] - luma(out)[core]).mean() < 15
    # dark lenses (sunglasses) are not "the face behind": they are regenerated as skin as before
    shades = worn.copy()
    shades[whole & (g == G)] = (25, 25, 30)
    out2, _, info2 = regenerate(shades, g, lab)
    assert "glasses removed" not in info2["regions"]["skin"]
    assert luma(out2)[core].mean() > 100
