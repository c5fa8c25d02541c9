"""Metrics: SSIM/PSNR against scikit-image, MS-SSIM identities, mIoU, FID/KID sanity, LPIPS wiring, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from engine.metrics import (
    MetricUnavailable,
    confusion_matrix,
    fid_kid,
    frechet_distance,
    get_extractor,
    kernel_inception_distance,
    mean_iou,
    ms_ssim,
    psnr,
    ssim,
)
from engine.metrics.perceptual import LPIPS, load_lpips


def _pair(seed: int = 0, shape=(48, 56, 3), noise: int = 40):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("shape", [(40, 50, 3), (33, 29)])
def test_ssim_matches_skimage_both_windows(shape) -> None:
    a, b = _pair(1, shape)
    axis = 2 if len(shape) == 3 else None
    assert ssim(a, b, window="uniform") == pytest.approx(
        structural_similarity(a, b, channel_axis=axis, data_range=255), abs=1e-9)
    assert ssim(a, b) == pytest.approx(structural_similarity(
        a, b, channel_axis=axis, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False), abs=1e-9)
    f = a.astype(np.float64) / 255
    g = b.astype(np.float64) / 255
    assert ssim(f, g, data_range=1.0) == pytest.approx(ssim(a, b), abs=1e-9)


def test_ssim_identities_and_errors() -> None:
    a, b = _pair(2)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(ssim(b, a))
    assert ssim(a, b) < ssim(*_pair(2, noise=10)) < 1.0
    with pytest.raises(ValueError, match="shape"):
        ssim(a, b[:-1])
    with pytest.raises(ValueError, match="data_range"):
        ssim(a.astype(np.float32), b.astype(np.float32))
    with pytest.raises(ValueError, match="window"):
        ssim(a[:5, :5], b[:5, :5])


def test_psnr_matches_skimage() -> None:
    a, b = _pair(3)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    assert psnr(a, a) == float("inf")


def test_ms_ssim() -> None:
    a, b = _pair(4, (180, 184, 3), noise=30)
    assert ms_ssim(a, a) == pytest.approx(1.0)
    assert ms_ssim(a, b, weights=(1.0,)) == pytest.approx(ssim(a, b), abs=1e-12)  # one scale = SSIM
    full = ms_ssim(a, b)
    assert 0 < full < 1
    # noise is fine-scale: coarser scales agree better, so MS-SSIM exceeds single-scale SSIM
    assert full > ssim(a, b)
    with pytest.raises(ValueError, match="scales"):
        ms_ssim(a[:100, :100], b[:100, :100])


def test_miou() -> None:
    t = np.array([[0, 0, 1, 1], [2, 2, 1, 255]])
    p = np.array([[0, 1, 1, 1], [2, 0, 1, 0]])
    cm = confusion_matrix(p, t, 3, ignore_index=255)
    assert cm.sum() == 7 and cm[0, 0] == 1 and cm[0, 1] == 1 and cm[2, 0] == 1
    # IoU: class0 1/(2+2-1)=1/3, class1 3/(3+4-3)... union = 3 target + 4 pred - 3 = 4 → 3/4, class2 1/2
    assert mean_iou(p, t, 3, ignore_index=255) == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert mean_iou(t, t, 256) == 1.0  # classes absent from both are not averaged
    with pytest.raises(ValueError, match="outside"):
        mean_iou(p, t, 3)


def test_fid_closed_form_and_identity() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3))
    y = rng.normal(size=(4000, 3)) * 2.0 + 1.0
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    # N(0, I) vs N(1, 4I) in 3-d: |Δμ|² + Σ (1 + 4 − 2·2) = 3 + 3 = 6
    assert frechet_distance(x, y) == pytest.approx(6.0, rel=0.05)
    k_same, _ = kernel_inception_distance(x[:500], x[500:1000], subsets=10, subset_size=200)
    k_diff, _ = kernel_inception_distance(x[:500], y[:500], subsets=10, subset_size=200)
    assert abs(k_same) < 0.05 < k_diff


class _MeanColour:
    name = "mean-colour test extractor"

    def __call__(self, images):
        return np.stack([np.concatenate([im.reshape(-1, 3).mean(0), im.reshape(-1, 3).std(0)]) for im in images])


def test_fid_kid_with_injected_extractor() -> None:
    rng = np.random.default_rng(5)
    real = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(30)]
    dark = [(im // 3).astype(np.uint8) for im in real]
    same = fid_kid(real, real, _MeanColour(), subsets=5, subset_size=20)
    other = fid_kid(real, dark, _MeanColour(), subsets=5, subset_size=20)
    assert same.fid == pytest.approx(0.0, abs=1e-6) and other.fid > 100
    assert same.extractor == "mean-colour test extractor" and other.to_dict()["n_fake"] == 30


def test_inception_unavailable_without_local_weights(tmp_path: Path, monkeypatch) -> None:
    import engine.faces.thirdparty as tp

    monkeypatch.setattr(tp, "THIRD_PARTY_DIR", tmp_path)
    monkeypatch.setenv(tp.ENV_VAR, str(tmp_path))
    with pytest.raises(MetricUnavailable, match="Inception"):
        get_extractor("inception")
    with pytest.raises(MetricUnavailable, match="LPIPS unavailable"):
        load_lpips()
    with pytest.raises(ValueError, match="unknown"):
        get_extractor("clip")


def test_lpips_arithmetic_with_a_small_backbone() -> None:
    torch.manual_seed(0)
    stages = [torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()),
              torch.nn.Sequential(torch.nn.Conv2d(4, 6, 3, stride=2, padding=1), torch.nn.ReLU())]
    heads = [torch.nn.Conv2d(4, 1, 1, bias=False), torch.nn.Conv2d(6, 1, 1, bias=False)]
    for h in heads:
        torch.nn.init.constant_(h.weight, 0.1)
    lp = LPIPS(stages, heads, "test").eval()
    a, b = _pair(6, (24, 24, 3))
    assert lp.distance(a, a) == 0.0
    assert lp.distance(a, b) > 0 and lp.distance(a, b) == pytest.approx(lp.distance(b, a), rel=1e-5)


def test_cli_paired_metrics(tmp_path: Path, capsys, monkeypatch) -> None:
    import engine.faces.thirdparty as tp
    from engine.cli import main
    from engine.imageio import save_image

    monkeypatch.setattr(tp, "THIRD_PARTY_DIR", tmp_path / "none")
    monkeypatch.setenv(tp.ENV_VAR, str(tmp_path / "none"))
    (tmp_path / "r").mkdir()
    (tmp_path / "f").mkdir()
    for i in range(3):
        a, b = _pair(10 + i, (40, 40, 3), noise=20)
        save_image(tmp_path / "r" / f"{i}.png", a)
        save_image(tmp_path / "f" / f"{i}.png", b)
    rc = main(["metrics", "--real", str(tmp_path / "r"), "--fake", str(tmp_path / "f"), "--extractor", "inception",
               "--paired"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["fid_kid_status"]["available"] is False
    assert out["paired"]["pairs"] == 3 and 0 < out["paired"]["ssim"] < 1
    assert out["paired"]["lpips_status"]["available"] is False and "lpips" not in out["paired"]
    assert main(["metrics", "--real", str(tmp_path / "nope"), "--fake", str(tmp_path / "f")]) == 2
