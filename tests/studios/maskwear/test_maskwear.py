"""Mask-wear: templates, key-point fitting geometry, eye safety, lighting, coverage, editor, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from engine.errors import ImageLoadError, NoFaceError
from engine.faces import FaceAnalyzer
from engine.faces import topology as T
from engine.imageio import save_image
from engine.procedural.mask_templates import (
    ANCHORS,
    PHOTOGRAPHED_DIR,
    get_template,
    load_user_template,
    parse_color,
    side_variant,
    template_names,
)
from engine.studios.maskwear.classical import warp_template
from engine.studios.maskwear.editor import MaskWearEditor, put_mask
from engine.studios.maskwear.params import MaskWearParams

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(detector="mediapipe", parser="geometric")


@pytest.fixture(scope="module")
def astro(analyzer):
    img = data.astronaut()
    return img, analyzer.analyze(img, parse=False).faces


@pytest.mark.parametrize("name", template_names())
def test_builtin_templates(name: str) -> None:
    t = get_template(name)
    h, w = t.rgba.shape[:2]
    assert t.rgba.dtype == np.uint8 and t.rgba.shape[2] == 4
    pts = t.anchor_array()
    tol = 0.02 * w  # MaskTheFace's anchors may sit a few pixels past the picture's edge
    assert pts.shape == (6, 2) and (pts[:, 0] >= -tol).all() and (pts[:, 0] <= w + tol).all() and (pts[:, 1] <= h).all()
    a, b, c, d, e, f = pts
    assert a[0] < b[0] < c[0] and d[0] < e[0] < f[0] and b[1] < e[1]  # a sane layout
    cx, cy = int(b[0]), int((b[1] + e[1]) / 2)
    assert t.rgba[cy, cx, 3] == 255  # the body is opaque
    alpha = t.rgba[:, :, 3].astype(int)
    # symmetric designs (a photographed mask is nearly so)
    assert np.abs(alpha - alpha[:, ::-1]).mean() < (20 if t.meta.get("photographed") else 8)
    if t.meta.get("photographed"):
        assert (get_template(name).meta["licence"].startswith("MIT")
                and (PHOTOGRAPHED_DIR / "LICENSE.MaskTheFace").is_file())  # the licence travels with them
        import cv2

        def halo(rgba: np.ndarray) -> float:
            """Mean grey of the half-transparent rim minus that of the solid ring just inside it."""
            rgb = rgba[:, :, :3].astype(float)
            edge = (rgba[:, :, 3] > 0) & (rgba[:, :, 3] < 128)
            body = rgba[:, :, 3] == 255
            ring = body & (cv2.dilate((~body).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=3) > 0)
            return float(rgb[edge].mean() - rgb[ring].mean())

        source = np.asarray(Image.open(PHOTOGRAPHED_DIR / f"{t.meta['stem']}.png").convert("RGBA"))
        if t.kind == "surgical":  # their files carry a light rim (surgical: +13 grey levels): mostly gone
            assert halo(t.rgba) < 0.7 * halo(source), (halo(t.rgba), halo(source))


def test_photographed_side_views_and_tint() -> None:
    t = get_template("mtf-surgical")
    left, right = side_variant(t, "left"), side_variant(t, "right")
    assert left is not None and right is not None and left.rgba.shape != t.rgba.shape
    assert side_variant(get_template("surgical-blue"), "left") is None and side_variant(left, "left") is None
    red = get_template("mtf-surgical", color=(200, 30, 30))
    body = red.rgba[:, :, 3] == 255
    r, g, b = red.rgba[body, :3].astype(float).mean(0)
    assert r > 2 * g and r > 2 * b
    assert side_variant(red, "right").rgba[..., 0].astype(float).mean() > side_variant(red, "right").rgba[..., 1].mean()


def test_recolour_and_errors() -> None:
    red = get_template("surgical-blue", color=(200, 20, 20))
    cy, cx = 200, 256
    r, g, b = red.rgba[cy, cx, :3].astype(int)
    assert r > 2 * g and r > 2 * b
    assert parse_color("#0a0B0c") == (10, 11, 12)
    for bad in ("red", "#12345", "#zzzzzz"):
        with pytest.raises(ValueError, match="RRGGBB"):
            parse_color(bad)
    with pytest.raises(ValueError, match="available"):
        get_template("gas-mask")


def test_user_template(tmp_path: Path) -> None:
    rgba = np.zeros((100, 200, 4), np.uint8)
    rgba[20:80, 20:180] = (10, 200, 10, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "mine.png")
    with pytest.raises(ImageLoadError, match="anchor file"):
        load_user_template(tmp_path / "mine.png")
    (tmp_path / "mine.json").write_text(json.dumps({k: [20 + 80 * (i % 3), 20 + 60 * (i // 3)] for i, k in enumerate(ANCHORS)}))
    t = load_user_template(tmp_path / "mine.png")
    assert t.rgba.shape == (100, 200, 4) and t.anchors["f"] == (180.0, 80.0)
    (tmp_path / "mine.json").write_text('{"a": [1, 2]}')
    with pytest.raises(ImageLoadError, match="anchors must be"):
        load_user_template(tmp_path / "mine.png")


def test_fit_covers_nose_and_mouth_not_eyes(astro) -> None:
    img, faces = astro
    out, alpha, targets = put_mask(img, faces, MaskWearParams(template="surgical-blue"))
    lm = faces[0].landmarks
    for i in (13, 14, 61, 291, T.NOSE_TIP, 2):  # lips, mouth corners, nose tip, under the nose
        x, y = lm[i].round().astype(int)
        assert alpha[y, x] > 0.9, i
    for i in (468, 473, 159, 386):  # irises and upper lids
        x, y = lm[i].round().astype(int)
        assert alpha[y, x] == 0.0, i
    untouched = alpha == 0
    assert np.array_equal(out[untouched], img[untouched])
    assert len(targets) == 1 and targets[0].shape == (6, 2)


def test_turned_head_shrinks_the_far_half() -> None:
    t = get_template("cloth-plain")
    frontal = np.array([[100, 160], [200, 120], [300, 160], [120, 260], [200, 320], [280, 260]], np.float32)
    turned = frontal.copy()
    turned[[2, 5], 0] = 200 + (turned[[2, 5], 0] - 200) * 0.4  # the person's left side turns away
    _, a_front = warp_template(t, frontal, (400, 400))
    _, a_turn = warp_template(t, turned, (400, 400))
    right_front = (a_front[:, 200:] > 0.5).sum()
    right_turn = (a_turn[:, 200:] > 0.5).sum()
    left_turn = (a_turn[:, :200] > 0.5).sum()
    assert right_turn < 0.6 * right_front and abs(left_turn - (a_front[:, :200] > 0.5).sum()) < 0.05 * left_turn


def test_lighting_follows_the_photo(astro) -> None:
    img, faces = astro
    dark = (img * 0.45).astype(np.uint8)
    out_l, alpha, _ = put_mask(img, faces, MaskWearParams(template="surgical-white", lighting=1.0))
    out_d, _, _ = put_mask(dark, faces, MaskWearParams(template="surgical-white", lighting=1.0))
    out_flat, _, _ = put_mask(dark, faces, MaskWearParams(template="surgical-white", lighting=0.0))
    m = alpha > 0.99
    assert out_d[m].mean() < 0.8 * out_l[m].mean()
    assert out_flat[m].mean() > out_d[m].mean()


def test_options_and_errors(astro, monkeypatch, tmp_path) -> None:
    from engine.studios.maskwear.learned import MASK_REFINER

    img, faces = astro
    with pytest.raises(NoFaceError):
        put_mask(img, [], MaskWearParams())
    monkeypatch.setattr(MASK_REFINER, "roots", [tmp_path])  # no refiner anywhere
    with pytest.raises(ValueError, match="learned"):
        put_mask(img, faces, MaskWearParams(method="learned"))
    for bad in (dict(method="x"), dict(faces="some"), dict(lighting=2.0), dict(color="blue"), dict(offsets=(("z", 1, 1),))):
        with pytest.raises(ValueError):
            MaskWearParams(**bad).validate()
    _, a0, t0 = put_mask(img, faces, MaskWearParams())
    _, a1, t1 = put_mask(img, faces, MaskWearParams(offsets=(("b", 0, -6),)))
    assert t1[0][1, 1] == pytest.approx(t0[0][1, 1] - 6)


def test_editor_stream_and_no_face() -> None:
    ed = MaskWearEditor()
    ed.set_image(data.astronaut())
    res = list(ed.edit_stream(MaskWearParams(template="kn95"), preview_sides=(256,)))
    assert [r.is_preview for r in res] == [True, False]
    assert res[-1].image.shape == (512, 512, 3) and res[-1].masks["mask"].dtype == np.uint8
    assert res[-1].info["faces"] == 1
    ed.set_image(np.full((64, 64, 3), 100, np.uint8))
    with pytest.raises(NoFaceError):
        ed.edit(MaskWearParams())


def test_coverage_on_ground_truth_parsing(analyzer, shared_data) -> None:
    from engine.imageio import load_image

    for name in ("surgical-blue", "kn95", "n95", "cloth-plain"):
        cov = {"lips": [0, 0], "nose": [0, 0], "eyes": [0, 0], "neck": [0, 0]}
        for jpg in sorted((shared_data / "faces" / "parsing").glob("*.jpg")):
            img = load_image(jpg)
            gt = np.asarray(Image.open(jpg.with_suffix(".png")))
            _, alpha, _ = put_mask(img, analyzer.analyze(img, parse=False).faces, MaskWearParams(template=name))
            c = alpha > 0.5
            for k, ids in (("lips", (10, 11, 12)), ("nose", (2,)), ("eyes", (4, 5)), ("neck", (17,))):
                m = np.isin(gt, ids)
                cov[k][0] += (c & m).sum()
                cov[k][1] += m.sum()
        frac = {k: v[0] / v[1] for k, v in cov.items()}
        assert frac["lips"] >= 0.98 and frac["nose"] >= 0.7 and frac["eyes"] < 0.001, (name, frac)
        assert frac["neck"] <= 0.05, (name, frac)  # the mask ends at the jaw line, not down the neck


def test_cli(tmp_path: Path) -> None:
    img = save_image(tmp_path / "a.png", data.astronaut())
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "engine", "wear-mask", str(img), "--out", str(tmp_path / "o.png"),
                        "--template", "cloth-dotted", "--color", "#336699", "--alpha-out", str(tmp_path / "al.png")],
                       capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr
    al = Image.open(tmp_path / "al.png")
    assert al.mode == "L" and al.size == (512, 512) and np.asarray(al).max() == 255
    wall = save_image(tmp_path / "w.png", np.full((50, 50, 3), 80, np.uint8))
    r = subprocess.run([sys.executable, "-m", "engine", "wear-mask", str(wall), "--out", str(tmp_path / "x.png")],
                       capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert r.returncode == 3 and r.stderr.strip() == f"no face found in {wall}"


def test_warp_template_onto_its_own_anchors_reproduces_it() -> None:
    """Both halves (cached premultiplied slices) land where they belong: warping a template onto its
    own anchor points gives the template back, colour and alpha, on both sides of the split."""
    from engine.procedural.mask_templates import get_template, template_names

    for name in template_names()[:3]:
        t = get_template(name)
        th, tw = t.rgba.shape[:2]
        for _ in range(2):  # second call: from the cache
            rgb, alpha = warp_template(t, t.anchor_array(), (th, tw))
            ref_a = t.rgba[:, :, 3] / 255.0
            assert np.abs(alpha - ref_a).max() < 0.02, name
            solid = ref_a > 0.9
            assert np.abs(rgb[solid] - t.rgba[:, :, :3][solid].astype(np.float32)).max() < 3.0, name
