"""Classical opera colouring and main-colour classification (generated data + dev lianpu)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import EditorStateError
from engine.imageio import load_image
from engine.procedural.lianpu import generate_lianpu
from engine.studios.opera.classical import (
    OPERA_COLOUR_MEANINGS,
    classify_main_colour,
    colorize,
    face_mask_from_image,
    recolour_region,
    sketch_regions,
    xdog,
)
from engine.studios.opera.editor import ColorizeEditor
from engine.studios.opera.params import ColorizeParams, XDoGParams

# What a person sees as the main colour of each dev lianpu (ambiguous ones left out:
# xujing_05 grey-blue/white/black, xujing_09 white/brown/black).
EXPECTED = {
    "weipeixian_1": "green", "weipeixian_3": "yellow", "weipeixian_5": "blue", "weipeixian_7": "white",
    "xujing_01": "red", "xujing_02": "blue", "xujing_03": "white", "xujing_04": "white",
    "xujing_06": "red", "xujing_07": "red", "xujing_08": "white", "xujing_10": "white",
    "xujing_11": "red", "xujing_12": "white", "xujing_13": "white", "xujing_14": "red",
    "xujing_15": "yellow",
}


def _hist(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    q = (img[mask] >> 5).astype(np.int64)
    h = np.bincount((q[:, 0] * 8 + q[:, 1]) * 8 + q[:, 2], minlength=512).astype(float)
    return h / h.sum()


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def test_self_colouring_of_generated_designs_is_exact() -> None:
    d = generate_lianpu(4, size=256)
    res = colorize(d.line_art, d.image)
    assert res.image.shape == d.image.shape and res.warped_reference.shape == d.image.shape
    assert np.abs(res.image.astype(int) - d.image).mean() < 2.0
    assert np.allclose(res.affine, [[1, 0, 0], [0, 1, 0]], atol=0.02)


def test_reference_of_another_size_is_aligned() -> None:
    d = generate_lianpu(6, size=192)
    big = cv2.resize(d.image, (300, 260), interpolation=cv2.INTER_LINEAR)  # other size and aspect
    res = colorize(d.line_art, big)
    assert np.abs(res.image.astype(int) - d.image).mean() < 8.0


def test_cross_colouring_takes_the_reference_colours() -> None:
    x, y = generate_lianpu(1, colour="red", size=192), generate_lianpu(2, colour="blue", size=192)
    res = colorize(x.line_art, y.image)
    hx, hy, hr = _hist(x.image, x.face_mask), _hist(y.image, y.face_mask), _hist(res.image, res.face_mask)
    assert np.abs(hr - hy).sum() < np.abs(hr - hx).sum()
    assert classify_main_colour(res.image).colour == "blue"


def test_open_gap_does_not_flood() -> None:
    # a face outline split in two halves by a stroke with a 3-pixel gap
    sketch = np.full((128, 128), 255, np.uint8)
    cv2.circle(sketch, (64, 64), 50, 0, 2)
    cv2.line(sketch, (14, 64), (60, 64), 0, 2)
    cv2.line(sketch, (64, 64), (114, 64), 0, 2)
    ref = np.full((128, 128, 3), 255, np.uint8)
    cv2.circle(ref, (64, 64), 50, (200, 30, 35), -1)
    ref[65:] = np.where((ref[65:] == 255).all(-1, keepdims=True), 255, np.array([35, 70, 160], np.uint8))
    cv2.circle(ref, (64, 64), 50, (0, 0, 0), 2)
    res = colorize(sketch, ref)
    assert tuple(res.image[40, 64]) == (200, 30, 35)
    assert tuple(res.image[90, 64]) == (35, 70, 160)
    # without gap closing the two halves are one region; the reference paints it with two colours
    # whose boundary follows the broken stroke, so it is split there instead of flooded
    leaky = colorize(sketch, ref, ColorizeParams(gap=0))
    assert tuple(leaky.image[40, 64]) == (200, 30, 35)
    assert tuple(leaky.image[90, 64]) == (35, 70, 160)
    assert leaky.regions[40, 64] != leaky.regions[90, 64]


def test_thin_strips_survive_gap_closing() -> None:
    sketch = np.full((96, 96), 255, np.uint8)
    cv2.rectangle(sketch, (10, 10), (85, 85), 0, 1)
    cv2.rectangle(sketch, (10, 40), (85, 43), 0, 1)  # a 2-pixel paper strip between two strokes
    regions, face = sketch_regions(sketch, ColorizeParams(gap=2))
    assert face[60, 50] and not face[2, 2]
    assert len({regions[25, 50], regions[41, 50], regions[60, 50]}) == 3


def _broken_patch_sketch() -> tuple[np.ndarray, np.ndarray]:
    """A 256² one-pixel drawing (HED's kind): a face outline, an eye patch whose outline has a
    9-pixel gap, and a painted stroke drawn as its two edges 3 px apart; and its reference."""
    sketch = np.full((256, 256), 255, np.uint8)
    cv2.ellipse(sketch, (128, 128), (110, 120), 0, 0, 360, 0, 1)
    cv2.ellipse(sketch, (128, 110), (40, 30), 0, 20, 360, 0, 1)  # the patch, open over 20°
    cv2.line(sketch, (70, 190), (186, 190), 0, 1)
    cv2.line(sketch, (70, 194), (186, 194), 0, 1)
    ref = np.full((256, 256, 3), 255, np.uint8)
    cv2.ellipse(ref, (128, 128), (110, 120), 0, 0, 360, (200, 30, 35), -1)
    cv2.ellipse(ref, (128, 110), (40, 30), 0, 0, 360, (20, 20, 20), -1)
    ref[191:194, 70:187] = (30, 60, 170)
    return sketch, ref


def test_hed_lines_with_gaps_keep_features_apart(monkeypatch) -> None:
    """With ``extractor="hed"`` trapped balls keep a patch whose outline is broken by a gap wider
    than the stroke-gap closing apart from the face around it (the thickening lets it leak), and
    the inside of a stroke drawn as two edges stays a region of its own. (The reference's HED
    strokes are its drawn outlines here: the network itself is tested in test_hed.)"""
    from engine.studios.opera import hed as hed_module
    from engine.studios.opera.classical import clear_reference_cache

    sketch, ref = _broken_patch_sketch()
    monkeypatch.setattr(hed_module, "hed_line_art", lambda image, *a, **k: sketch)
    clear_reference_cache()
    thick, _ = sketch_regions(sketch, ColorizeParams())
    assert thick[110, 128] == thick[200, 128]  # XDoG's rule: the patch leaks into the face
    regions, face = sketch_regions(sketch, ColorizeParams(extractor="hed"))
    assert face[110, 128] and not face[3, 3]
    assert len({regions[110, 128], regions[60, 128], regions[192, 128]}) == 3
    assert regions[60, 128] == regions[200, 128]  # the face wraps round the stroke
    res = colorize(sketch, ref, ColorizeParams(extractor="hed"))
    assert np.abs(res.image[110, 128].astype(int) - (20, 20, 20)).max() <= 12
    assert np.abs(res.image[60, 128].astype(int) - (200, 30, 35)).max() <= 12
    assert np.abs(res.image[192, 128].astype(int) - (30, 60, 170)).max() <= 12
    # every pixel of the paper that touches the patch's own area is the patch's (no stray tips)
    patch = regions == regions[110, 128]
    assert patch[100:120, 100:156].all()
    clear_reference_cache()  # the stand-in's analysis must not serve later tests


def test_lines_stay_crisp_and_outside_is_transparent() -> None:
    d = generate_lianpu(8, size=128)
    res = colorize(d.line_art, generate_lianpu(9, size=128).image)
    lines = d.line_art < 30
    assert res.image[lines].max() < 60
    rgba = res.rgba()
    assert rgba.shape == (128, 128, 4) and rgba[0, 0, 3] == 0 and rgba[64, 64, 3] == 255


def test_recolour_region() -> None:
    d = generate_lianpu(3, size=128)
    res = colorize(d.line_art, d.image)
    y, x = 64, 64
    out = recolour_region(res, d.line_art, x, y, (1, 200, 3))
    same = res.regions == res.regions[y, x]
    assert tuple(out.image[y, x]) == (1, 200, 3)
    assert np.array_equal(out.image[~same], res.image[~same])
    assert not np.array_equal(res.image[y, x], out.image[y, x])  # the input result is untouched
    # on a classical result, repainting one region equals re-composing the whole picture
    from engine.studios.opera.classical import compose, line_grey

    assert np.array_equal(out.image, compose(line_grey(d.line_art), out.regions, out.colours, out.face_mask,
                                             out.shading))
    with pytest.raises(ValueError, match="outside the face"):
        recolour_region(res, d.line_art, 0, 0, (0, 0, 0))
    with pytest.raises(ValueError, match="outside the"):
        recolour_region(res, d.line_art, 500, 0, (0, 0, 0))


def test_editor_needs_a_reference_and_streams() -> None:
    d = generate_lianpu(2, size=300)
    ed = ColorizeEditor()
    ed.set_image(d.line_art)
    with pytest.raises(EditorStateError, match="set_reference"):
        ed.edit(ColorizeParams())
    ed.set_reference(d.image)
    outs = list(ed.edit_stream(ColorizeParams()))
    assert [o.is_preview for o in outs] == [True, False]
    assert outs[-1].info["backend"] == "classical" and outs[-1].image.shape == (300, 300, 3)
    assert outs[-1].info["warped_reference"].shape == (300, 300, 3)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        colorize(np.zeros((8, 8), np.float32), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="gap"):
        colorize(np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.uint8), ColorizeParams(gap=99))
    with pytest.raises(ValueError, match="paint"):
        classify_main_colour(np.full((20, 20, 3), (250, 200, 170), np.uint8))


def test_classification_meanings() -> None:
    res = classify_main_colour(generate_lianpu(1, colour="red", size=128).image)
    assert res.colour == "red" and res.meaning == OPERA_COLOUR_MEANINGS["red"]
    assert "loyalty" in res.meaning and abs(sum(res.scores.values()) - 1) < 1e-9


def _dev(shared: Path) -> dict[str, np.ndarray]:
    folder = shared / "opera" / "lianpu"
    return {p.stem: load_image(p) for p in sorted(folder.glob("*.png"))}


def test_classification_agrees_with_a_person(shared_data: Path) -> None:
    dev = _dev(shared_data)
    got = {k: classify_main_colour(v).colour for k, v in dev.items() if k in EXPECTED}
    assert got == {k: EXPECTED[k] for k in got}
    assert len(got) == len(EXPECTED)


def test_self_colouring_quality_on_dev_lianpu(shared_data: Path) -> None:
    dev = _dev(shared_data)
    scores = [_ssim(x, colorize(xdog(x, XDoGParams(threshold=0.5)), x).image) for x in dev.values()]
    # measured 0.902, min 0.828 on the 19 masks with content alignment (0.859 / 0.731 before it);
    # the aims of the opera-artist issue: mean ≥ 0.90, none below 0.80 (CoCosNet in the paper: 0.850)
    assert np.mean(scores) >= 0.90
    assert min(scores) >= 0.80


def test_cross_colouring_on_dev_lianpu(shared_data: Path) -> None:
    dev = list(_dev(shared_data).values())[::3]  # 7 masks, 42 ordered pairs
    lines = [xdog(x, XDoGParams(threshold=0.5)) for x in dev]
    hists = [_hist(x, face_mask_from_image(x)) for x in dev]
    wins = total = 0
    for j, y in enumerate(dev):  # reference outside: each is analysed once (colorize caches it)
        for i in range(len(dev)):
            if i == j:
                continue
            res = colorize(lines[i], y)
            hr = _hist(res.image, res.face_mask)
            wins += np.abs(hr - hists[j]).sum() < np.abs(hr - hists[i]).sum()
            total += 1
    assert wins / total > 0.7
