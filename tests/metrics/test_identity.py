"""Identity metric: dlib's CC0 ResNet descriptor on faces aligned with our landmarks."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import NoFaceError
from engine.metrics import identity
from engine.metrics.distribution import MetricUnavailable


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def grace_hopper() -> np.ndarray:
    """Matplotlib's sample photo of Grace Hopper (public domain, US Navy)."""
    import matplotlib.cbook as cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        return np.asarray(im.convert("RGB"))


def _jpeg(rgb: np.ndarray, quality: int = 30) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_model_file_comes_from_the_installed_package() -> None:
    path = identity.model_path()
    assert path.name == "dlib_face_recognition_resnet_model_v1.dat"
    assert "face_recognition_models" in path.parts
    assert path.stat().st_size > 20_000_000


def test_missing_package_is_one_line_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MetricUnavailable, match="make install") as err:
        identity.model_path()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("which", ["astronaut", "grace_hopper"])
def test_same_photo_after_jpeg_blur_mirror_is_same_person(which: str, request: pytest.FixtureRequest) -> None:
    img: np.ndarray = request.getfixturevalue(which)
    variants = {
        "jpeg q30": _jpeg(img),
        "gaussian blur sigma 1": cv2.GaussianBlur(img, (0, 0), 1.0),
        "mirror": np.ascontiguousarray(img[:, ::-1]),
    }
    for name, other in variants.items():
        d = identity.identity_distance(img, other)
        assert d < 0.3, f"{which} vs {name}: {d:.3f}"
    assert identity.identity_distance(img, img) == pytest.approx(0.0, abs=1e-9)


def test_two_public_domain_people_are_different(astronaut: np.ndarray, grace_hopper: np.ndarray) -> None:
    assert identity.identity_distance(astronaut, grace_hopper) > identity.SAME_PERSON


def test_descriptor_is_128d_unit_scale(astronaut: np.ndarray) -> None:
    d = identity.face_descriptor(astronaut)
    assert d.shape == (128,) and d.dtype == np.float64
    assert 0.5 < np.linalg.norm(d) < 1.5


def test_no_face_is_a_one_line_error_naming_the_image(astronaut: np.ndarray) -> None:
    blank = np.full((96, 96, 3), 128, np.uint8)
    with pytest.raises(NoFaceError, match="no face found .* in the second image") as err:
        identity.identity_distance(astronaut, blank)
    assert "\n" not in str(err.value)
    with pytest.raises(NoFaceError, match="first image"):
        identity.identity_distance(blank, astronaut)


def test_bad_input_is_rejected_before_any_work() -> None:
    with pytest.raises(ValueError, match="uint8"):
        identity.face_descriptor(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="5 finite"):
        identity.face_descriptor(np.zeros((32, 32, 3), np.uint8), points=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="478"):
        identity.five_points(np.zeros((68, 2)))


def test_mean_identity_distance_counts_faceless_pairs(astronaut: np.ndarray) -> None:
    blank = np.full((96, 96, 3), 128, np.uint8)
    out = identity.mean_identity_distance([(astronaut, _jpeg(astronaut)), (astronaut, blank)])
    assert out["pairs"] == 1 and out["skipped"] == 1
    assert 0.0 < float(out["identity_distance"]) < 0.3
    assert out["same_person_rate"] == 1.0


def test_different_people_of_the_dev_set(shared_data: Path) -> None:
    from engine.imageio import load_image

    photos = sorted((shared_data / "faces" / "photos").glob("*.jpg"))
    if len(photos) < 8:
        pytest.skip("faces/photos has fewer than 8 photos")
    chosen = [p for p in photos if p.name.startswith("sean_")][:4] + [p for p in photos if p.name.startswith("sg_")][:4]
    descs = {p.name: identity.face_descriptor(load_image(p)) for p in chosen}
    for (na, a), (nb, b) in itertools.combinations(descs.items(), 2):
        d = identity.descriptor_distance(a, b)
        assert d > identity.SAME_PERSON, f"{na} vs {nb}: {d:.3f}"


def test_cli_metrics_identity(tmp_path: Path, capsys: pytest.CaptureFixture[str], astronaut: np.ndarray,
                              grace_hopper: np.ndarray) -> None:
    import json

    from engine.cli import main
    from engine.imageio import save_image

    for d in ("r", "f"):
        (tmp_path / d).mkdir()
    save_image(tmp_path / "r" / "astro.png", astronaut)
    save_image(tmp_path / "f" / "astro.png", np.ascontiguousarray(astronaut[:, ::-1]))
    save_image(tmp_path / "r" / "grace.png", grace_hopper)
    save_image(tmp_path / "f" / "grace.png", astronaut)
    save_image(tmp_path / "r" / "blank.png", np.full((64, 64, 3), 90, np.uint8))
    save_image(tmp_path / "f" / "blank.png", np.full((64, 64, 3), 90, np.uint8))
    rc = main(["metrics", "--real", str(tmp_path / "r"), "--fake", str(tmp_path / "f"), "--identity"])
    out = json.loads(capsys.readouterr().out)["identity"]
    assert rc == 0
    assert out["pairs"] == 2 and out["no_face"] == ["blank"] and out["threshold"] == 0.6
    assert out["per_pair"]["astro"] < 0.3 < identity.SAME_PERSON < out["per_pair"]["grace"]
    assert out["same_person_rate"] == 0.5

    (tmp_path / "other").mkdir()
    save_image(tmp_path / "other" / "x.png", astronaut)
    save_image(tmp_path / "other" / "y.png", astronaut)
    assert main(["metrics", "--real", str(tmp_path / "r"), "--fake", str(tmp_path / "other"), "--identity"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: --identity: no file names in common"
