"""What the user painted counts (engine.studios.regenerate.classical: ``painted``, own hair colour, hat material)."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from engine.labels import CELEBAMASK_HQ
from engine.studios.regenerate.classical import regenerate, repainted_pixels

IDX = CELEBAMASK_HQ.index


def _forehead(hair_rgb: tuple[int, int, int] = (50, 35, 25)) -> tuple[np.ndarray, np.ndarray]:
    """80×80: textured hair above row 24, noisy skin below; labels to match."""
    rng = np.random.default_rng(0)
    img = np.zeros((80, 80, 3), np.float32)
    img[:] = np.array((220, 170, 140), np.float32) + rng.normal(0, 3, (80, 80, 3))
    strands = cv2.resize(data.brick(), (80, 24)).astype(np.float32)[..., None] / 255.0
    img[:24] = np.array(hair_rgb, np.float32) * (0.7 + 0.6 * strands)
    lab = np.full((80, 80), IDX("skin"), np.uint8)
    lab[:24] = IDX("hair")
    return np.clip(img, 0, 255).astype(np.uint8), lab


def test_painted_fringe_the_parser_called_skin_becomes_skin() -> None:
    img, lab = _forehead()
    img = img.copy()
    img[24:40, 10:70] = img[8:24, 10:70]          # a fringe over the forehead ...
    lab[24:28, 10:70] = IDX("hair")                # ... that the parser mostly called skin
    edited = lab.copy()
    edited[24:40, 10:70] = IDX("skin")             # the user paints skin over all of it
    painted = np.zeros(lab.shape, bool)
    painted[24:40, 10:70] = True
    skin = np.array((220, 170, 140), np.float32)
    plain, _, _ = regenerate(img, lab, edited)
    out, masks, _ = regenerate(img, lab, edited, painted=painted)
    fringe = np.zeros(lab.shape, bool)
    fringe[30:40, 14:66] = True                    # labelled skin already: kept without the strokes
    assert np.abs(plain[fringe].astype(np.float32) - skin).mean() > 60
    assert np.abs(out[fringe].astype(np.float32) - skin).mean() < 20
    assert np.array_equal(out[~masks["regenerated"]], img[~masks["regenerated"]])


def test_painting_a_label_over_itself_keeps_the_photo() -> None:
    img, lab = _forehead()
    painted = np.zeros(lab.shape, bool)
    painted[40:70, 10:70] = True                   # skin painted over skin that looks like skin
    out, masks, _ = regenerate(img, lab, lab.copy(), painted=painted)
    assert np.array_equal(out, img) and not masks["regenerated"].any()
    assert not repainted_pixels(lab == IDX("skin"), lab == IDX("skin"), painted).any()


def test_new_hair_takes_the_persons_own_hair_colour() -> None:
    for hair in ((200, 200, 205), (50, 35, 25)):   # grey hair stays grey, dark stays dark
        img, lab = _forehead(hair)
        edited = lab.copy()
        edited[24:44, 8:72] = IDX("hair")          # a fringe
        out, _, _ = regenerate(img, lab, edited)
        got = out[30:42, 14:66].astype(np.float32).reshape(-1, 3).mean(0)
        own = img[:24].astype(np.float32).reshape(-1, 3).mean(0)
        assert np.abs(got - own).max() < 25, (hair, got, own)


def test_hat_is_made_of_the_main_colour_of_the_clothes() -> None:
    img, lab = _forehead()
    img = img.copy()
    img[64:, :] = (30, 32, 40)                     # a dark jacket ...
    img[64:, 36:44] = (245, 245, 245)              # ... over a white shirt
    lab[64:, :] = IDX("cloth")
    edited = lab.copy()
    edited[2:22, 10:70] = IDX("hat")
    out, _, info = regenerate(img, lab, edited)
    assert info["regions"]["hat"].startswith("synthesised from the photo's cloth")
    assert out[4:20, 14:66].astype(np.float32).mean() < 90   # jacket, no white patches


def test_a_fringe_hangs_the_hair_above_it_down() -> None:
    from engine.studios.regenerate.classical import drape_field

    hole = np.zeros((40, 30), bool)
    hole[20:30, 5:25] = True
    above = np.zeros_like(hole)
    above[:20] = True
    q = drape_field(hole, above)
    ys, xs = np.nonzero(hole)
    assert q is not None and np.array_equal(q // 30, ys - 10) and np.array_equal(q % 30, xs)
    beside = np.zeros_like(hole)
    beside[:, 26:] = True
    assert drape_field(hole, beside) is None       # nothing above: the patch search is used
    img, lab = _forehead()
    edited = lab.copy()
    edited[24:36, 8:72] = IDX("hair")
    out, _, _ = regenerate(img, lab, edited)
    got = out[26:34, 12:68].astype(np.float32)
    assert got.std() > 0.5 * img[4:20, 12:68].astype(np.float32).std()   # strands, not a smooth patch


def test_hair_over_skin_ends_in_strand_tips() -> None:
    from engine.studios.regenerate.synthesis import soften_edges

    img = np.zeros((30, 40, 3), np.float32)
    img[:] = (220, 170, 140)                                # skin below
    hole = np.zeros((30, 40), bool)
    hole[:20] = True                                        # new hair above it
    stripes = np.where((np.arange(40) // 2) % 2 == 0, 30.0, 90.0)[None, :, None]  # dark strands, lighter gaps
    vals = np.broadcast_to(stripes, (20, 40, 3)).reshape(-1, 3).astype(np.float32)
    against = ~hole
    plain = soften_edges(img, hole, vals, against, 4.0).reshape(20, 40, 3)
    tips = soften_edges(img, hole, vals, against, 4.0, strands=0.35).reshape(20, 40, 3)
    row = 18                                                # 1.5 px above the skin
    dark, light = (np.arange(40) // 2) % 2 == 0, (np.arange(40) // 2) % 2 == 1
    assert tips[row, dark, 0].mean() < plain[row, dark, 0].mean() - 5     # strands reach further
    assert tips[row, light, 0].mean() > plain[row, light, 0].mean() + 2   # gaps show more skin
    assert np.array_equal(tips[:10], plain[:10])            # away from the edge nothing changes


def test_a_blend_with_nothing_to_meet_keeps_the_copies_colour(monkeypatch) -> None:
    from engine.studios.regenerate import synthesis as S

    ramp = np.linspace(60, 200, 40, dtype=np.float32)
    src = np.broadcast_to(ramp[None, :, None], (40, 40, 3)).copy()   # a shaded cloth
    hole = np.zeros((40, 40), bool)
    hole[5:35, 5:35] = True
    ys, xs = np.nonzero(hole)
    f = ys * 40 + 10 + xs % 8                                          # tiles of the same 8-px piece
    g = src.reshape(-1, 3)[f]

    def low(v: np.ndarray) -> float:                                   # largest smooth departure
        return float(np.abs(S._hole_blur(v - g, ys, xs, hole, 6.0)).max())

    out = S.poisson_blend(src, hole, np.zeros_like(hole), f, src)
    blur = S._hole_blur
    monkeypatch.setattr(S, "_hole_blur", lambda v, *a: np.zeros_like(v))  # without the correction
    drift = S.poisson_blend(src, hole, np.zeros_like(hole), f, src)
    monkeypatch.setattr(S, "_hole_blur", blur)
    assert low(drift) > 30                                             # seams integrated into a ramp
    assert low(out) < 10                                               # the copies' colour kept
