"""Label-guided exemplar synthesis (engine.studios.regenerate.synthesis) and its use by the classical engine."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from engine.cancel import CancelToken
from engine.errors import Cancelled
from engine.labels import CELEBAMASK_HQ
from engine.studios.regenerate import synthesis as S
from engine.studios.regenerate.classical import regenerate, stray_pixels

IDX = CELEBAMASK_HQ.index


def _texture(h: int = 96, w: int = 128, name: str = "brick") -> np.ndarray:
    """A real photographed texture (skimage brick / gravel, grey → RGB) with a left-to-right shading ramp."""
    brick = cv2.resize(getattr(data, name)(), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    ramp = np.linspace(0.7, 1.2, w, dtype=np.float32)[None, :]
    img = brick * ramp
    return np.clip(np.stack([img, img * 0.8, img * 0.6], -1), 0, 255).astype(np.float32)


def _lap_std(img: np.ndarray, mask: np.ndarray) -> float:
    g = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(g, cv2.CV_32F)[mask].std())


def test_fill_has_texture_and_meets_shading() -> None:
    img = _texture()
    hole = np.zeros(img.shape[:2], bool)
    hole[30:60, 50:80] = True
    vals = S.synthesize(img, hole, ~hole, seed=1)
    out = img.copy()
    out[hole] = vals
    inner = cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~hole
    # texture: comparable to the photo's own (a flat fill scores ~0), not harsher
    ratio = _lap_std(out, inner) / _lap_std(img, ring)
    assert 0.45 < ratio < 1.5  # bricks are a hard case (straight mortar lines); a Telea fill scores ~0.1
    # shading: the fill's mean follows the ramp where it is (within a few grey levels of the truth)
    assert abs(float(out[hole].mean()) - float(img[hole].mean())) < 8.0
    left, right = out[30:60, 50:58].mean(), out[30:60, 72:80].mean()
    assert right > left  # brighter to the right, as the photo around it


def test_seam_step_within_local_contrast() -> None:
    """Across the hole's border the step is no larger than the photo's own neighbour differences."""
    img = _texture(name="gravel")
    hole = np.zeros(img.shape[:2], bool)
    hole[20:70, 40:90] = True
    out = img.copy()
    out[hole] = S.synthesize(img, hole, ~hole, seed=2)
    g = out.mean(2)
    # vertical and horizontal pairs that cross the border (one pixel in, one out)
    steps = np.concatenate([np.abs(g[19, 40:90] - g[20, 40:90]), np.abs(g[70, 40:90] - g[69, 40:90]),
                            np.abs(g[20:70, 39] - g[20:70, 40]), np.abs(g[20:70, 90] - g[20:70, 89])])
    gi = img.mean(2)
    own = np.concatenate([np.abs(np.diff(gi[:, :35], axis=1)).ravel(), np.abs(np.diff(gi[:, 95:], axis=0)).ravel()])
    assert steps.mean() <= 1.1 * own.mean()
    # a naive paste of a far patch shows a step (the test can fail)
    naive = img.copy()
    naive[20:70, 40:90] = img[40:90, 0:50] * 1.4
    gn = naive.mean(2)
    nsteps = np.abs(gn[19, 40:90] - gn[20, 40:90])
    assert nsteps.mean() > 1.1 * own.mean()


def test_label_guided_copies_only_the_label() -> None:
    """A hole next to two materials takes only the exemplar label's colours."""
    rng = np.random.default_rng(0)
    img = np.zeros((64, 96, 3), np.float32)
    img[:, :48] = (200, 60, 60) + rng.normal(0, 8, (64, 48, 3))    # label A: red
    img[:, 48:] = (60, 60, 200) + rng.normal(0, 8, (64, 48, 3))    # label B: blue
    hole = np.zeros((64, 96), bool)
    hole[20:44, 36:60] = True
    a = np.zeros((64, 96), bool)
    a[:, :48] = True
    vals = S.synthesize(img, hole, a & ~hole, inside_dst=a | hole)
    assert vals[:, 0].mean() > 150 and vals[:, 2].mean() < 110


def test_deterministic_and_bad_input() -> None:
    img = _texture(48, 48)
    hole = np.zeros((48, 48), bool)
    hole[10:20, 10:20] = True
    assert np.array_equal(S.synthesize(img, hole, ~hole, seed=3), S.synthesize(img, hole, ~hole, seed=3))
    with pytest.raises(ValueError, match="empty hole"):
        S.synthesize(img, np.zeros_like(hole), ~hole)
    with pytest.raises(ValueError, match="no exemplar"):
        S.synthesize(img, hole, np.zeros_like(hole))


def test_cancel_stops_synthesis() -> None:
    img = _texture()
    hole = np.zeros(img.shape[:2], bool)
    hole[30:60, 50:80] = True
    tok = CancelToken()
    tok.cancel()
    with pytest.raises(Cancelled):
        S.synthesize(img, hole, ~hole, cancel=tok)


def test_big_hole_runs_on_a_reduced_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    img = _texture()
    hole = np.zeros(img.shape[:2], bool)
    hole[20:70, 30:100] = True
    monkeypatch.setattr(S, "SOLVE_LIMIT", 500)
    vals = S.synthesize(img, hole, ~hole)
    assert vals.shape == (int(hole.sum()), 3)
    assert abs(float(vals.mean()) - float(img[hole].mean())) < 15.0
    out = img.copy()
    out[hole] = vals
    assert _lap_std(out, hole) > 0.4 * _lap_std(img, ~hole)  # texture, not a flat upsampled blur


def _hair_face() -> tuple[np.ndarray, np.ndarray]:
    """A textured 'hair' cap over a skin-coloured face on a plain background, with its labels."""
    h, w = 96, 96
    yy, xx = np.mgrid[0:h, 0:w]
    lab = np.zeros((h, w), np.uint8)
    img = np.full((h, w, 3), 200.0, np.float32)
    face = (yy - 56) ** 2 / 30 ** 2 + (xx - 48) ** 2 / 24 ** 2 < 1
    hair = ((yy - 44) ** 2 / 36 ** 2 + (xx - 48) ** 2 / 32 ** 2 < 1) & ~face
    strands = cv2.resize(data.brick(), (w, h)).astype(np.float32) * 0.35
    lab[hair] = IDX("hair")
    img[hair] = np.stack([strands, strands * 0.8, strands * 0.6], -1)[hair] + 20
    lab[face] = IDX("skin")
    img[face] = (220, 170, 140)
    return np.clip(img, 0, 255).astype(np.uint8), lab


def test_regenerate_grows_hair_with_texture_and_keeps_identity() -> None:
    img, lab = _hair_face()
    out, masks, _ = regenerate(img, lab, lab.copy())
    assert np.array_equal(out, img) and not masks["regenerated"].any()
    edited = lab.copy()
    grow = (cv2.dilate((lab == IDX("hair")).astype(np.uint8), np.ones((17, 17), np.uint8)).astype(bool)
            & (lab == IDX("background")))
    edited[grow] = IDX("hair")
    out, masks, info = regenerate(img, lab, edited)
    assert info["regions"]["hair"] == "continued from source"
    keep = ~masks["regenerated"]
    assert np.array_equal(out[keep], img[keep])
    hair_px = img[lab == IDX("hair")].astype(np.float32)
    bg = cv2.distanceTransform((edited != IDX("background")).astype(np.uint8), cv2.DIST_L2, 3)
    inner = grow & (bg > 3)  # away from the soft edge against the background
    grown = out[inner].astype(np.float32)
    assert abs(grown.mean() - hair_px.mean()) < 20          # hair colours, not background
    assert grown.std() > 0.4 * hair_px.std()                # with texture
    edge = out[grow & (bg <= 1.5)].astype(np.float32).mean()
    assert hair_px.mean() < edge < 200                      # the outer edge is a transition (soft)


def test_stray_pixels_are_the_ones_that_look_replaced() -> None:
    rng = np.random.default_rng(0)
    img = np.zeros((60, 60, 3), np.float32)
    img[:] = (220, 170, 140) + rng.normal(0, 4, (60, 60, 3))       # skin
    img[:20] = (50, 35, 25) + rng.normal(0, 4, (20, 60, 3))          # hair above
    have = np.zeros((60, 60), bool)
    have[20:] = True
    new = np.zeros((60, 60), bool)
    new[12:20] = True                                                # skin painted over the fringe
    img[20:23, 10:20] = (55, 38, 28)                                 # a strand the parser called skin
    old = np.zeros((60, 60), bool)
    old[:20] = True
    stray = stray_pixels(img, have, new, old)
    assert stray[20:23, 10:20].mean() > 0.9
    assert stray[20:23, 30:].mean() < 0.05
    assert not stray_pixels(img, have, np.zeros_like(new), old).any()


def test_hat_without_exemplar_is_made_of_the_photos_cloth_and_lit() -> None:
    img, lab = _hair_face()
    img = img.copy()
    cloth = np.zeros(lab.shape, bool)
    cloth[84:, :] = True
    weave = cv2.resize(data.gravel(), (96, 12)).astype(np.float32)[..., None] * np.array([0.3, 0.35, 0.6])
    img[cloth] = np.clip(weave.reshape(-1, 3), 0, 255).astype(np.uint8)
    lab[cloth] = IDX("cloth")
    edited = lab.copy()
    hat = np.zeros(lab.shape, bool)
    hat[4:22, 24:72] = True
    edited[hat] = IDX("hat")
    out, masks, info = regenerate(img, lab, edited)
    assert info["regions"]["hat"].startswith("synthesised from the photo's cloth")
    got = out[hat].astype(np.float32)
    assert np.linalg.norm(got.mean(0) - img[cloth].astype(np.float32).mean(0)) < 30  # the cloth's colour
    assert got.std() > 0.3 * img[cloth].astype(np.float32).std()                     # and its texture



def test_lighting_is_rounded_and_follows_the_photos_light() -> None:
    from engine.studios.regenerate.classical import lighting

    under = np.zeros((80, 80, 3), np.float32)
    under[:] = np.linspace(60, 200, 80, dtype=np.float32)[None, :, None]  # lit from the right
    region = np.zeros((80, 80), bool)
    region[20:60, 20:60] = True
    shade = lighting(under, region)
    assert abs(float(shade[region].mean()) - 1.0) < 1e-3
    assert shade[40, 40] > shade[21, 40]                      # rounded: darker toward the outline
    assert shade[40, 55] > shade[40, 25]                      # brighter on the lit side


def test_stray_pixels_grow_along_the_edit_but_leave_unconnected_spots() -> None:
    """Region consistency: a fringe the parser half-called skin goes with the edit that turns its
    other half into skin; a dark mole elsewhere on the skin (same colour, not touching) stays."""
    rng = np.random.default_rng(1)
    img = np.zeros((120, 120, 3), np.float32)
    img[:] = (215, 165, 135) + rng.normal(0, 4, (120, 120, 3))        # skin
    img[:30] = (45, 32, 24) + rng.normal(0, 6, (30, 120, 3))           # hair above
    img[30:36] = (60, 42, 30) + rng.normal(0, 6, (6, 120, 3))          # a fringe the parser called skin
    img[90:96, 50:56] = (50, 36, 26)                                   # a mole, far from the edit
    have = np.zeros((120, 120), bool)
    have[30:] = True
    new = np.zeros((120, 120), bool)
    new[24:30, 20:100] = True                                          # the part of the fringe called hair
    old = np.zeros((120, 120), bool)
    old[:30] = True
    stray = stray_pixels(img, have, new, old)
    assert stray[30:36, 25:95].mean() > 0.9      # the whole fringe under the edit
    assert stray[40:, :].mean() < 0.01            # the skin below it stays
    assert not stray[90:96, 50:56].any()          # and so does the mole


def test_regenerate_reports_progress_that_only_grows_to_one() -> None:
    """The window shows a percentage: the engine reports the share done, never backwards, 1 at the end."""
    img, lab = _hair_face()
    edited = lab.copy()
    grow = (cv2.dilate((lab == IDX("hair")).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
            & (lab == IDX("background")))
    edited[grow] = IDX("hair")
    edited[60:70, 30:40] = IDX("hat")  # a second label to render
    seen: list[float] = []
    out, _, _ = regenerate(img, lab, edited, progress=seen.append)
    assert seen[-1] == 1.0 and all(b >= a for a, b in zip(seen, seen[1:], strict=False))
    assert len({round(v, 3) for v in seen if 0.0 < v < 1.0}) >= 3  # steps within the render, not only stages
    assert np.array_equal(out, regenerate(img, lab, edited)[0])  # reporting changes nothing
    seen.clear()
    regenerate(img, lab, lab.copy(), progress=seen.append)  # nothing to do: no report needed, none wrong
    assert all(0.0 <= v <= 1.0 for v in seen)


def test_new_hat_is_fabric_not_a_smooth_dome_and_shades_the_head() -> None:
    """A hat made of a plain cloth still has grain, nap and folds, and its brim shadows the head."""
    from engine.studios.regenerate.classical import GRAIN_FLOOR, fabric

    img, lab = _hair_face()
    img = img.copy()
    img[84:] = (60, 70, 110)  # a perfectly plain jacket
    lab[84:] = IDX("cloth")
    edited = lab.copy()
    hat = np.zeros(lab.shape, bool)
    hat[4:22, 24:72] = True
    edited[hat] = IDX("hat")
    out, _, info = regenerate(img, lab, edited)
    assert "fabric" in info["regions"]["hat"]
    luma = out.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    fine = luma - cv2.GaussianBlur(luma, (0, 0), 1.0)
    inner = cv2.erode(hat.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert fine[inner].std() / luma[inner].mean() > 0.5 * GRAIN_FLOOR  # grain, not a CG surface
    below = np.zeros_like(hat)
    below[22:25, 30:66] = True
    below &= edited == IDX("hair")
    assert below.any() and luma[below].mean() < 0.95 * (img[below].astype(np.float32) @ [0.299, 0.587, 0.114]).mean()
    tex = fabric(hat, 0.0, 1)
    assert np.allclose(tex[~hat & (np.abs(np.arange(96)[:, None] - 13) > 14)], 1.0)  # only near the hat
    assert 0.03 < tex[hat].std() < 0.25 and abs(tex[hat].mean() - 1.0) < 0.05


def test_a_fringe_hung_from_the_hair_keeps_its_colour_and_strands() -> None:
    """A fringe hung from the hair above (the drape) has the hair's colour near the face and its strands."""
    import engine.studios.regenerate.classical as C

    rng = np.random.default_rng(3)
    h, w = 90, 80
    img = np.zeros((h, w, 3), np.float32)
    strands = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), sigmaX=0.7, sigmaY=5.0)
    img[:] = (45, 35, 28)
    img += (18 * strands / strands.std())[..., None]          # dark hair with vertical strands
    img[:, :, 0] += np.linspace(0, 25, h, dtype=np.float32)[:, None]  # lit more toward the face
    img[50:] = (215, 165, 135)                                  # the forehead
    have = np.zeros((h, w), bool)
    have[:50] = True
    target = have.copy()
    target[50:78, 8:72] = True                                  # a fringe 28 px deep
    face = ~have

    def fringe() -> tuple[float, float]:
        vals, _ = C.continue_region(img, have, target, rim=0, avoid=face, drape=True)
        hole = target & ~have
        got = np.zeros_like(img)
        got[target] = vals
        inner = cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        hair = img[30:50].reshape(-1, 3)
        return (float(np.abs(got[inner].mean(0) - hair.mean(0)).max()),
                float(got[inner].std(0).mean() / hair.std(0).mean()))

    off, spread = fringe()
    assert off < 20 and spread > 0.5  # the hair's colour near the face, with its strands


def test_settle_drift_takes_out_a_blends_slow_drift_and_keeps_fine_mends() -> None:
    from engine.studios.regenerate.synthesis import settle_drift

    rng = np.random.default_rng(4)
    hole = np.zeros((60, 40), bool)
    hole[10:50, 5:35] = True
    ys, xs = np.nonzero(hole)
    copies = (60 + 20 * rng.random((len(ys), 3))).astype(np.float32)
    drift = (-3.0 * (ys - 10))[:, None].astype(np.float32)        # -120 at the bottom: out of range
    mend = np.where((ys == 30)[:, None], 8.0, 0.0).astype(np.float32)  # a one-row seam mended by the blend
    out = settle_drift(copies + drift + mend, copies, hole, 2.0)
    err = out - copies
    assert np.abs(err[ys > 40]).mean() < 6          # the drift is gone (it was ~105 there)
    assert out.min() > 0
    assert err[ys == 30].mean() > 3                 # the fine mend stays
