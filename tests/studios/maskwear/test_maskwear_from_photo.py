"""Templates made from a photo of a masked face: the mask is found, unwarped with the fit's anchors,
saved in the user-template format and fits back where it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from engine.errors import NoFaceError
from engine.faces import FaceAnalyzer
from engine.imageio import save_image
from engine.procedural.mask_templates import load_user_template
from engine.studios.maskwear.editor import put_mask
from engine.studios.maskwear.from_photo import mask_region, save_template, template_from_photo
from engine.studios.maskwear.params import MaskWearParams

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def masked():
    img = data.astronaut()
    an = FaceAnalyzer(detector="mediapipe", parser="geometric")
    faces = an.analyze(img, parse=False).faces
    out, alpha, _ = put_mask(img, faces, MaskWearParams(template="surgical-blue", method="keypoint", lighting=0.5))
    return img, faces, out, alpha


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_mask_found_and_refitted(masked, tmp_path: Path) -> None:
    img, faces, out, alpha = masked
    region = mask_region(out, faces[0])
    assert _iou(region > 0.5, alpha > 0.5) > 0.85
    t = template_from_photo(out, faces[0])
    assert t.rgba.shape == (400, 512, 4) and t.rgba[:, :, 3].max() == 255
    png, js = save_template(t, tmp_path / "mine.png")
    loaded = load_user_template(png)
    assert js.is_file() and loaded.anchors == t.anchors
    again, alpha2, _ = put_mask(img, faces, MaskWearParams(user_template=loaded, method="keypoint", lighting=0.5))
    assert _iou(alpha2 > 0.5, alpha > 0.5) > 0.8
    m = (alpha > 0.9) & (alpha2 > 0.9)
    assert np.abs(again[m].astype(float) - out[m].astype(float)).mean() < 30  # the same blue mask


def test_no_mask_is_one_clear_error(masked) -> None:
    img, faces, _, _ = masked
    with pytest.raises(NoFaceError, match="no mask found"):
        template_from_photo(img, faces[0])
    with pytest.raises(ValueError, match=".png"):
        save_template(template_from_photo(masked[2], faces[0]), "x.jpg")


def test_cli(masked, tmp_path: Path) -> None:
    src = save_image(tmp_path / "masked.png", masked[2])
    r = subprocess.run([sys.executable, "-m", "engine", "mask-template", str(src), "--out", str(tmp_path / "t.png")],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert load_user_template(tmp_path / "t.png").rgba.shape == (400, 512, 4)
    plain = save_image(tmp_path / "plain.png", masked[0])
    r = subprocess.run([sys.executable, "-m", "engine", "mask-template", str(plain), "--out", str(tmp_path / "u.png")],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 1 and "no mask found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "u.png").exists() and not (tmp_path / "u.json").exists()
