"""engine.geometry: the thin-plate spline and letterboxing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.geometry import ThinPlateSpline, fit_tps, letterbox, tps_kernel


def _points(k: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((k, 2)) * 200


# -- thin-plate spline ---------------------------------------------------------------------------

def test_tps_smoke_and_shapes() -> None:
    src = _points()
    f = fit_tps(src, np.random.default_rng(1).random((12, 3)))
    assert isinstance(f, ThinPlateSpline)
    assert f(np.zeros((7, 2))).shape == (7, 3)
    assert f(np.zeros((0, 2))).shape == (0, 3)
    assert f.coefficients.shape == (15, 3) and f.points.shape == (12, 2)


def test_tps_interpolates_exactly_without_smoothing() -> None:
    src = _points()
    vals = np.random.default_rng(2).normal(size=(12, 2))
    np.testing.assert_allclose(fit_tps(src, vals)(src), vals, atol=1e-8)


def test_tps_reproduces_affine_maps_and_smoothing_tends_to_affine() -> None:
    src = _points()
    a = np.array([[1.1, 0.2], [-0.3, 0.9]])
    q = np.random.default_rng(3).random((50, 2)) * 200
    f = fit_tps(src, src @ a.T + (4, -2), regularisation=0.5)  # affine data: smoothing changes nothing
    np.testing.assert_allclose(f(q), q @ a.T + (4, -2), atol=1e-8)
    bumpy = src + np.random.default_rng(4).normal(0, 5, src.shape)
    far = fit_tps(src, bumpy, regularisation=1e9)
    np.testing.assert_allclose(far.coefficients[:12], 0.0, atol=1e-6)  # no bending left
    assert np.abs(fit_tps(src, bumpy)(src) - bumpy).max() < 1e-8 < np.abs(far(src) - bumpy).max()


def test_tps_interpolant_does_not_depend_on_the_frame() -> None:
    """Without smoothing, moving and scaling the control points moves the spline with them."""
    src = _points()
    vals = np.random.default_rng(5).normal(size=(12, 2))
    q = np.random.default_rng(6).random((40, 2)) * 200
    np.testing.assert_allclose(fit_tps(src * 7 + 30, vals)(q * 7 + 30), fit_tps(src, vals)(q), atol=1e-7)


def test_tps_kernel_constant_factor_is_irrelevant_without_smoothing() -> None:
    """``U = r² log r`` (half of ours) gives the same interpolant: solve that system by hand."""
    src = _points(9, 7)
    vals = np.random.default_rng(8).normal(size=(9, 1))
    q = np.random.default_rng(9).random((20, 2)) * 200
    d2 = ((src[:, None] - src[None]) ** 2).sum(-1)
    a = np.zeros((12, 12))
    a[:9, :9] = 0.5 * tps_kernel(d2)
    a[:9, 9], a[:9, 10:] = 1.0, src
    a[9, :9], a[10:, :9] = 1.0, src.T
    sol = np.linalg.solve(a, np.vstack([vals, np.zeros((3, 1))]))
    u = 0.5 * tps_kernel(((q[:, None] - src[None]) ** 2).sum(-1))
    np.testing.assert_allclose(fit_tps(src, vals)(q), u @ sol[:9] + sol[9] + q @ sol[10:], atol=1e-6)


def test_tps_degenerate_points_give_a_least_squares_fit() -> None:
    one = fit_tps([[5.0, 5.0]], [[1.0, 2.0]])
    np.testing.assert_allclose(one([[5.0, 5.0]]), [[1.0, 2.0]], atol=1e-9)
    line = np.stack([np.arange(6.0), np.arange(6.0)], 1)  # collinear: no error, still interpolates
    f = fit_tps(line, line * 2)
    assert np.isfinite(f(np.array([[2.0, 3.0]]))).all()
    np.testing.assert_allclose(f(line), line * 2, atol=1e-6)


@pytest.mark.parametrize(("src", "values", "reg", "match"), [
    (np.zeros((3, 3)), np.zeros((3, 2)), 0.0, r"\[K, 2\]"),
    (np.zeros((0, 2)), np.zeros((0, 2)), 0.0, r"\[K, 2\]"),
    (np.zeros((3, 2)), np.zeros((4, 2)), 0.0, "values must be"),
    (np.zeros((3, 2)), np.zeros(3), 0.0, "values must be"),
    (np.array([[0.0, np.nan], [1, 1], [2, 0]]), np.zeros((3, 2)), 0.0, "finite"),
    (np.zeros((3, 2)), np.zeros((3, 2)), -1.0, "regularisation"),
    (np.zeros((3, 2)), np.zeros((3, 2)), float("nan"), "regularisation"),
])
def test_tps_bad_input_is_one_line(src: np.ndarray, values: np.ndarray, reg: float, match: str) -> None:
    with pytest.raises(ValueError, match=match) as err:
        fit_tps(src, values, reg)
    assert "\n" not in str(err.value)


def test_tps_bad_points_at_evaluation() -> None:
    f = fit_tps(_points(), np.zeros((12, 2)))
    with pytest.raises(ValueError, match=r"\[M, 2\]"):
        f(np.zeros((3, 3)))


# -- letterbox -----------------------------------------------------------------------------------

def test_letterbox_centres_and_fills() -> None:
    img = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    out = letterbox(img, fill=7)
    assert out.shape == (5, 5, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[1:3], img)  # offset (5 - 2) // 2 = 1
    assert (out[0] == 7).all() and (out[3:] == 7).all()
    tall = letterbox(np.zeros((4, 1), np.float32))  # grey, odd padding: left 1, right 2
    assert tall.shape == (4, 4) and tall[:, 1].max() == 0 and tall[:, [0, 2, 3]].min() == 255


def test_letterbox_resizes_with_area_when_shrinking() -> None:
    img = np.zeros((8, 4, 3), np.uint8)
    small = letterbox(img, 4)
    assert small.shape == (4, 4, 3)
    np.testing.assert_array_equal(small[:, 1:3], 0)  # area: the 2-px white bars average to one column
    np.testing.assert_array_equal(small[:, [0, 3]], 255)
    assert letterbox(img, 16).shape == (16, 16, 3)
    np.testing.assert_array_equal(letterbox(img, 8), letterbox(img))  # same side: unchanged


@pytest.mark.parametrize(("image", "size"), [(np.zeros((0, 3, 3), np.uint8), None), (np.zeros(5, np.uint8), None),
                                             (np.zeros((2, 2, 2, 2), np.uint8), None), (np.zeros((4, 4), np.uint8), 0)])
def test_letterbox_bad_input(image: np.ndarray, size: int | None) -> None:
    with pytest.raises(ValueError):
        letterbox(image, size)
