"""Faces turned by 90°/180°/270° are found and their landmarks mapped back; a box the mesh cannot fit
is no face (a coffee cup is not a face, in any orientation)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from engine.faces import FaceAnalyzer
from engine.faces.detect import sideways_turns, unrotate_face, upside_down_score
from engine.faces.types import Face


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(detector="mediapipe", parser="geometric")


def _rotate_points(p: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    """Where pixel centres ``p`` of an image of ``shape`` land in ``np.rot90(image, k)``."""
    h, w = shape
    x, y = p[:, 0], p[:, 1]
    for _ in range(k % 4):  # one counter-clockwise quarter turn: (x, y) → (y, w - 1 - x)
        x, y = y, (w - 1) - x
        h, w = w, h
    return np.stack([x, y], 1)


def test_unrotate_inverts_rot90() -> None:
    rng = np.random.default_rng(0)
    shape = (40, 70)
    pts = rng.uniform(0, 39, (478, 2)).astype(np.float32)
    for k in (1, 2, 3):
        turned = _rotate_points(pts, k, shape).astype(np.float32)
        f = Face(np.array([1, 2, 11, 22], np.float32), 0.9, turned, turned[:3])
        back = unrotate_face(f, k, shape)
        assert np.abs(back.landmarks - pts).max() < 1e-4, k


@pytest.mark.parametrize("k", [1, 2, 3])
def test_turned_astronaut_is_found_with_landmarks_in_place(analyzer, k: int) -> None:
    img = data.astronaut()
    upright = analyzer.analyze(img, parse=False).faces[0].landmarks
    turned = np.ascontiguousarray(np.rot90(img, k))
    res = analyzer.analyze(turned, parse=False)
    assert res.faces and res.faces[0].landmarks is not None
    expected = _rotate_points(upright, k, img.shape[:2])
    eye = float(np.hypot(*(upright[33] - upright[263])))
    err = np.hypot(*(res.faces[0].landmarks - expected).T).mean()
    assert err < 0.1 * eye, (k, err / eye)  # the mask and makeup land on the face, not the forehead
    assert upside_down_score(turned, res.faces[0]) < 0
    # fitted where the face stands upright: the picture turned back by the same quarter turns
    assert res.info["rotation"] == (360 - 90 * k) % 360


@pytest.mark.parametrize(("degrees", "turns"), [(0, 0), (40, 0), (60, 1), (90, 1), (170, 0), (-60, 3), (-120, 3)])
def test_sideways_turns_follow_the_mesh(degrees: float, turns: int) -> None:
    """Chin-to-forehead turned clockwise by ``degrees`` from the image's up: quarter turns (as
    ``np.rot90``'s ``k``) that stand the face upright, 0 within 45° of upright or upside down."""
    lm = np.zeros((478, 2), np.float32)
    a = np.radians(degrees)
    lm[152] = (100.0, 100.0)  # chin
    lm[10] = (100.0 + 50.0 * np.sin(a), 100.0 - 50.0 * np.cos(a))  # forehead
    assert sideways_turns(Face(np.zeros(4, np.float32), 1.0, lm, lm[:3])) == turns
    assert sideways_turns(Face(np.zeros(4, np.float32), 1.0, None, lm[:3])) == 0


def test_no_landmarks_no_face(analyzer) -> None:
    coffee = data.coffee()
    assert analyzer.analyze(coffee, parse=False).faces == []
    res = analyzer.analyze(coffee)
    assert res.faces == [] and int(res.parsing.max()) == 0


def test_close_range_first_keeps_a_confident_short_range_box(monkeypatch) -> None:
    """``close_range_first``: the short-range model's boxes are kept when one scores at least the
    threshold (the full-range model is not asked, and the 180° check is told which model found
    them); otherwise the full-range model decides and the short-range answer is not asked twice."""
    from engine.faces import detect

    det = detect.MediaPipeBoxDetector(close_range_first=0.85)
    asked: list[int] = []
    box = np.array([0, 0, 10, 10], np.float32)
    answers = {0: [(box, 0.9, None), (box + 20, 0.5, None), (box + 40, 0.7, None)], 1: [(box, 0.7, None)]}
    monkeypatch.setattr(det, "_detect", lambda rgb, sel: asked.append(sel) or answers[sel])
    img = np.zeros((32, 32, 3), np.uint8)
    # one confident box: every box of at least CLOSE_RANGE_MIN_SCORE is kept (the largest face may be
    # a masked one the model is less sure of)
    assert [d[1] for d in det.detect(img)] == [0.9, 0.7] and asked == [0]
    assert det.best_score_of(img) == (0, 0.9) and det.best_score_of(img.copy()) is None
    # tiles and closer looks ask the full-range model first, with the same graphs
    tiles = det.tile_detector()
    assert tiles.close_range_first is None and tiles._models is det._models and tiles is det.tile_detector()
    assert detect.MediaPipeBoxDetector().tile_detector().close_range_first is None
    asked.clear()
    answers[0] = [(box, 0.8, None)]
    assert [d[1] for d in det.detect(img)] == [0.7] and asked == [0, 1]
    assert det.best_score_of(img) == (1, 0.7)
    asked.clear()
    answers[1] = []
    assert [d[1] for d in det.detect(img)] == [0.8] and asked == [0, 1]  # the fallback reuses model 0's answer
    assert det.best_score_of(img) is None  # boxes not from the model it remembers: the check asks again


@pytest.mark.parametrize("k", [0, 2])
def test_dataset_analysis_checks_orientation_with_the_model_that_found_the_face(k: int, monkeypatch) -> None:
    """The batch's analysis (short-range model first) fits the astronaut upright and upside down
    with the landmarks in place, and its 180° check compares the short-range model's scores."""
    from engine.studios.maskwear.batch import DatasetAnalysis

    img = data.astronaut()
    an = DatasetAnalysis()
    models: list[int] = []
    score = an.finder.orientation_score
    monkeypatch.setattr(an.finder, "orientation_score", lambda rgb, model=1: models.append(model) or score(rgb, model))
    upright = an.largest_face(img).landmarks
    assert upright is not None and an.finder.orientation_model(img) == 0
    # the picture (and, unless it scored ORIENT_CERTAIN, the turned one), with the short-range model
    assert models and set(models) == {0}
    assert an.finder.orientation_model(np.zeros((600, 600, 3), np.uint8)) == 1  # not the check's copy
    turned = np.ascontiguousarray(np.rot90(img, k))
    face = an.largest_face(turned)
    expected = _rotate_points(upright, k, img.shape[:2])
    eye = float(np.hypot(*(upright[33] - upright[263])))
    assert np.hypot(*(face.landmarks - expected).T).mean() < 0.1 * eye


def test_yunet_votes_on_180_degrees_where_mediapipe_is_not_sure(monkeypatch) -> None:
    """YuNet decides between a picture and the picture turned by 180° when MediaPipe is not sure it is
    upright; a confident upright face does not ask it; without YuNet there is no vote."""
    from engine.faces.detect import ORIENT_SURE, YUNET_VOTE_MIN

    finder = FaceAnalyzer(detector="auto", parser="geometric").finder
    assert finder._yunet_orienter is not None
    assert FaceAnalyzer(detector="mediapipe", parser="geometric").finder.yunet_vote(np.zeros((8, 8, 3), np.uint8),
                                                                                  np.zeros((8, 8, 3), np.uint8)) is None
    img = np.zeros((64, 64, 3), np.uint8)
    img[0, 0], img[-1, -1] = 1, 2  # the upright copy starts with 1, the turned one with 2
    turned = np.ascontiguousarray(np.rot90(img, 2))
    scores = {1: 0.0, 2: 0.0}
    monkeypatch.setattr(finder._yunet_orienter, "detect",
                        lambda rgb: [(np.zeros(4, np.float32), scores[int(rgb[0, 0, 0])], None)])
    assert finder.yunet_vote(img, turned) is None  # YuNet sees no face either way
    scores.update({1: 0.4, 2: YUNET_VOTE_MIN + 0.2})
    assert finder.yunet_vote(img, turned) is True and finder.yunet_vote(turned, img) is False
    # the astronaut: MediaPipe is sure of the upright picture (YuNet not asked); turned by 180° it is
    # not, and YuNet's vote turns it back
    asked: list[int] = []
    real = FaceAnalyzer(detector="auto", parser="geometric").finder
    vote = real.yunet_vote
    monkeypatch.setattr(real, "yunet_vote", lambda a, b: asked.append(1) or vote(a, b))
    astro = data.astronaut()
    assert real.orientation_score(astro) >= ORIENT_SURE
    faces, rotation = real.find(astro)
    assert faces and rotation == 0 and asked == []
    faces, rotation = real.find(np.ascontiguousarray(np.rot90(astro, 2)))
    assert faces and rotation == 180 and asked == [1]


def test_a_face_scored_certain_upright_does_not_score_the_turned_picture(monkeypatch) -> None:
    """At :data:`ORIENT_CERTAIN` or above the 180° check scores only the picture as it is (one
    detector run saved); just below it also scores the picture turned by 180°."""
    from engine.faces.detect import ORIENT_CERTAIN

    finder = FaceAnalyzer(detector="auto", parser="geometric").finder
    astro = data.astronaut()
    for upright, runs in ((ORIENT_CERTAIN, 1), (ORIENT_CERTAIN - 0.01, 2)):
        scored: list[bool] = []

        def score(rgb: np.ndarray, model: int = 1, upright: float = upright, scored: list[bool] = scored) -> float:
            scored.append(bool(np.array_equal(rgb, astro)))
            return upright if scored[-1] else 0.0

        monkeypatch.setattr(finder, "orientation_score", score)
        faces, rotation = finder.find(astro)
        assert faces and rotation == 0
        assert len(scored) == runs and scored[0]
