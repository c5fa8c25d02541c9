"""The regenerate and makeup evaluations (the numbers their cards carry) report the identity distance."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from engine.imageio import save_image
from engine.metrics.identity import SAME_PERSON

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def analyzer():
    from engine.faces import FaceAnalyzer

    return FaceAnalyzer()


def _face_crop(side: int) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's face, a square crop around it at ``side``², and its parsing."""
    from engine.faces import FaceAnalyzer

    img = data.astronaut()
    crop = np.ascontiguousarray(img[20:260, 100:340])
    res = FaceAnalyzer().analyze(crop)
    assert res.parsing is not None
    return (cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA),
            cv2.resize(res.parsing, (side, side), interpolation=cv2.INTER_NEAREST))


def test_regen_evaluation_reports_identity_of_reconstructions_and_edits(analyzer) -> None:
    from engine.training.regen import evaluate

    img, lab = _face_crop(128)
    same = evaluate(lambda i, _l, _e: i.copy(), img[None], lab[None], analyzer)
    assert same["identity_recon"]["pairs"] == 1 and same["identity_recon"]["identity_distance"] == pytest.approx(0, abs=1e-6)
    assert same["identity_recon"]["threshold"] == SAME_PERSON
    # a backend that paints someone else: every pair with a face is far, or has no face at all
    other = cv2.resize(data.chelsea(), (128, 128))
    far = evaluate(lambda _i, _l, _e: other, img[None], lab[None], analyzer)
    rec = far["identity_recon"]
    assert rec["pairs"] + rec["skipped"] == 1
    assert rec["pairs"] == 0 or rec["identity_distance"] > SAME_PERSON


def test_makeup_evaluation_reports_identity_for_both_backends(tmp_path: Path, analyzer) -> None:
    from engine.models.makeup_gan import MakeupGenerator
    from engine.training.makeup import evaluate

    photo = tmp_path / "astronaut.png"
    save_image(photo, data.astronaut())
    torch.manual_seed(0)
    model = MakeupGenerator(num_styles=1, num_aux=2, width=4, n_down=2, n_res=1)
    out = evaluate([photo], model, ["retro"], 32, analyzer=analyzer)
    assert out["faces"] == 1
    # the classical renderer keeps the person (makeup changes only the regions)
    assert out["classical_identity_distance"] < 0.35 and out["classical_same_person_rate"] == 1.0
    assert 0.0 <= out["learned_identity_distance"] < 2.0
