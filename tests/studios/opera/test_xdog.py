"""XDoG line art and the LineArtEditor: shapes, dtypes, parameter effects, previews, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cancel import CancelToken
from engine.errors import Cancelled, EditorStateError
from engine.studios.opera.classical import xdog
from engine.studios.opera.editor import LineArtEditor
from engine.studios.opera.params import XDoGParams


def step_image(h: int = 64, w: int = 64) -> np.ndarray:
    img = np.full((h, w, 3), 230, np.uint8)
    img[:, w // 2:] = 20
    return img


def dark_fraction(line: np.ndarray) -> float:
    return float((line < 128).mean())


@pytest.mark.parametrize("shape", [(40, 50, 3), (40, 50), (40, 50, 4), (1, 1, 3), (3, 700, 3)])
def test_shapes_and_dtype(shape) -> None:
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = xdog(img)
    assert out.shape == shape[:2] and out.dtype == np.uint8


def test_flat_image_is_blank_paper() -> None:
    for v in (0, 128, 255):
        assert xdog(np.full((32, 32, 3), v, np.uint8)).min() == 255


def test_edge_drawn_at_the_step_only() -> None:
    out = xdog(step_image())
    cols_dark = np.where((out < 128).any(axis=0))[0]
    assert cols_dark.size > 0
    assert cols_dark.min() >= 26 and cols_dark.max() <= 38  # near column 32, nowhere else


def test_colour_and_grey_agree() -> None:
    rgb = step_image()
    grey = rgb[:, :, 0].copy()
    assert np.array_equal(xdog(rgb), xdog(grey))


def test_sigma_thickens_lines(shapes) -> None:
    thin = dark_fraction(xdog(step_image(), XDoGParams(sigma=0.6)))
    thick = dark_fraction(xdog(step_image(), XDoGParams(sigma=2.5)))
    assert thick > thin


def test_epsilon_adds_lines(shapes) -> None:
    few = dark_fraction(xdog(shapes, XDoGParams(epsilon=-0.05)))
    many = dark_fraction(xdog(shapes, XDoGParams(epsilon=0.01)))
    assert many > few


def test_phi_controls_softness(shapes) -> None:
    soft = xdog(shapes, XDoGParams(phi=5))
    crisp = xdog(shapes, XDoGParams(phi=1000))

    def mid(a: np.ndarray) -> float:  # share of grey (neither paper nor ink) pixels
        return float(((a > 30) & (a < 225)).mean())

    assert mid(crisp) < mid(soft)


def test_gamma_below_one_responds_to_shading() -> None:
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (64, 1)).astype(np.uint8)
    assert dark_fraction(xdog(ramp, XDoGParams(gamma=0.98))) == 0.0
    assert dark_fraction(xdog(ramp, XDoGParams(gamma=1.2, epsilon=0.0))) > 0.1


def test_threshold_binarises(shapes) -> None:
    out = xdog(shapes, XDoGParams(threshold=0.5))
    assert set(np.unique(out)) <= {0, 255} and (out == 0).any()


@pytest.mark.parametrize("bad", [
    dict(sigma=0), dict(sigma=-1), dict(k=1.0), dict(gamma=0), dict(gamma=1.5), dict(phi=0),
    dict(epsilon=float("nan")), dict(threshold=1.5),
])
def test_bad_params(bad) -> None:
    with pytest.raises(ValueError):
        xdog(step_image(), XDoGParams(**bad))


def test_bad_images() -> None:
    with pytest.raises(ValueError, match="uint8"):
        xdog(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        xdog(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        xdog(np.zeros((0, 8), np.uint8))


def test_params_dict_roundtrip_and_unknown_keys() -> None:
    p = XDoGParams(sigma=1.2, threshold=0.4)
    assert XDoGParams.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="unknown XDoG parameter"):
        XDoGParams.from_dict({"sigmaa": 1})


def test_scaled_preview_keeps_the_look() -> None:
    img = step_image(256, 256)
    full = xdog(img, XDoGParams(sigma=2.0))
    import cv2

    small = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)
    prev = xdog(small, XDoGParams(sigma=2.0).scaled(0.5))
    # line width scales with the image: dark fraction about equal
    assert abs(dark_fraction(full) - dark_fraction(prev)) < 0.02


def test_editor_contract() -> None:
    ed = LineArtEditor()
    with pytest.raises(EditorStateError, match="set_image"):
        ed.edit(XDoGParams())
    img = np.random.default_rng(1).integers(0, 256, (600, 500, 3), dtype=np.uint8)
    ed.set_image(img)
    res = ed.edit(XDoGParams())
    assert res.image.shape == (600, 500) and not res.is_preview
    assert res.info["backend"] == "classical" and res.info["scale"] == 1.0
    assert res.masks["lines"].dtype == bool
    stream = list(ed.edit_stream(XDoGParams()))
    assert [r.is_preview for r in stream] == [True, False]
    assert max(stream[0].image.shape) == 384
    assert np.array_equal(stream[-1].image, res.image)


def test_editor_small_image_has_no_preview() -> None:
    ed = LineArtEditor()
    ed.set_image(np.zeros((100, 80, 3), np.uint8))
    assert len(list(ed.edit_stream(XDoGParams()))) == 1


def test_editor_grey_input_and_bad_backend() -> None:
    ed = LineArtEditor(backend="classical")
    ed.set_image(np.zeros((20, 20), np.uint8))
    assert ed.image.shape == (20, 20, 3)
    with pytest.raises(ValueError, match="backend"):
        LineArtEditor(backend="neural")
    with pytest.raises(ValueError):
        ed.set_image(np.zeros((20, 20, 3), np.float64))


def test_editor_stream_cancel() -> None:
    ed = LineArtEditor()
    ed.set_image(np.zeros((800, 800, 3), np.uint8))
    tok = CancelToken()
    it = ed.edit_stream(XDoGParams(), tok)
    first = next(it)
    assert first.is_preview
    tok.cancel()
    with pytest.raises(Cancelled):
        next(it)


def test_lineart_on_real_lianpu(shared_data) -> None:
    from engine.imageio import load_image

    files = sorted((shared_data / "opera" / "lianpu").glob("*.png"))
    assert files
    for f in files[:4]:
        line = xdog(load_image(f))
        # a lianpu has contours: some, but not most, pixels are lines
        assert 0.005 < dark_fraction(line) < 0.5, f
