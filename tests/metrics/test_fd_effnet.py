"""fd_effnet_lite0: a Fréchet distance on ImageNet EfficientNet-Lite0 features, beside (never called) FID."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from engine.metrics.distribution import EffNetLite0Extractor, MetricUnavailable, fd_effnet_lite0


@pytest.fixture(scope="module")
def extractor() -> EffNetLite0Extractor:
    return EffNetLite0Extractor(batch=8)


def _crops(image: np.ndarray, n: int, side: int = 96, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    return [np.ascontiguousarray(image[y:y + side, x:x + side])
            for y, x in zip(rng.integers(0, h - side, n), rng.integers(0, w - side, n), strict=True)]


def test_extractor_names_itself_and_gives_pooled_features(extractor: EffNetLite0Extractor) -> None:
    f = extractor(_crops(skimage.data.chelsea(), 3))
    assert f.shape == (3, 1280) and f.dtype == np.float64 and np.isfinite(f).all()
    assert "efficientnet-lite0" in extractor.name and "inception" not in extractor.name.lower()


def test_distance_orders_sets(extractor: EffNetLite0Extractor) -> None:
    cats = _crops(skimage.data.chelsea(), 8, seed=1)
    cats2 = _crops(skimage.data.chelsea(), 8, seed=2)
    coffee = _crops(skimage.data.coffee(), 8, seed=3)
    assert fd_effnet_lite0(cats, cats, extractor) == pytest.approx(0.0, abs=1e-6)
    assert fd_effnet_lite0(cats, cats2, extractor) < fd_effnet_lite0(cats, coffee, extractor)
    with pytest.raises(ValueError, match="at least 2"):
        fd_effnet_lite0(cats[:1], coffee, extractor)


def test_missing_weights_unavailable(tmp_path: Path) -> None:
    with pytest.raises(MetricUnavailable, match="cannot read|not found"):
        EffNetLite0Extractor(str(tmp_path / "none.pth"))


def test_cli_reports_fd_effnet_lite0_beside_fid(tmp_path: Path, capsys, monkeypatch) -> None:
    import engine.faces.thirdparty as tp
    from engine.cli import main
    from engine.imageio import save_image

    monkeypatch.setattr(tp, "THIRD_PARTY_DIR", tmp_path / "none")
    monkeypatch.setenv(tp.ENV_VAR, str(tmp_path / "none"))
    for name, image, seed in (("r", skimage.data.chelsea(), 4), ("f", skimage.data.coffee(), 5)):
        (tmp_path / name).mkdir()
        for i, crop in enumerate(_crops(image, 3, seed=seed)):
            save_image(tmp_path / name / f"{i}.png", crop)
    rc = main(["metrics", "--real", str(tmp_path / "r"), "--fake", str(tmp_path / "f"), "--extractor", "inception"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["fid_kid_status"]["available"] is False and "fid" not in out
    assert out["fd_effnet_lite0"] > 0 and "efficientnet-lite0" in out["fd_effnet_lite0_extractor"]
