"""Face analysis: detection, landmarks, alignment round trip, geometric parsing, cache, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from engine.faces import FaceAnalyzer, align_face, paste_back
from engine.faces.parsing import PRODUCED_CLASSES
from engine.labels import CELEBAMASK_HQ

L = {n: i for i, n in enumerate(CELEBAMASK_HQ.classes)}


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(detector="mediapipe", parser="geometric")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def astro_result(analyzer, astronaut):
    return analyzer.analyze(astronaut)


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_astronaut_face_and_landmarks(astro_result) -> None:
    res = astro_result
    assert len(res.faces) == 1
    f = res.faces[0]
    assert f.score > 0.8 and f.landmarks.shape == (478, 2) and f.landmarks.dtype == np.float32
    x0, y0, x1, y1 = f.box
    inside = ((f.landmarks[:, 0] > x0 - 20) & (f.landmarks[:, 0] < x1 + 20)
              & (f.landmarks[:, 1] > y0 - 40) & (f.landmarks[:, 1] < y1 + 20))
    assert inside.mean() > 0.95
    right_eye, left_eye, mouth = f.keypoints
    assert right_eye[0] < left_eye[0] and mouth[1] > max(right_eye[1], left_eye[1])


def test_parsing_layout_is_anatomical(astro_result, astronaut) -> None:
    lab = astro_result.parsing
    assert lab.shape == astronaut.shape[:2] and lab.dtype == np.uint8
    present = {CELEBAMASK_HQ.classes[v] for v in np.unique(lab)}
    for cls in ("background", "skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "hair"):
        assert cls in present, cls
    assert present <= set(PRODUCED_CLASSES)
    c = {n: centroid(lab == L[n]) for n in ("l_eye", "r_eye", "l_brow", "r_brow", "nose", "u_lip", "l_lip")}
    assert c["l_eye"][0] > c["r_eye"][0]  # person's left eye on the image right
    assert c["l_brow"][1] < c["l_eye"][1] and c["r_brow"][1] < c["r_eye"][1]
    assert c["l_eye"][1] < c["nose"][1] < c["u_lip"][1] < c["l_lip"][1]


def test_mirrored_image_swaps_sides(analyzer, astronaut, astro_result) -> None:
    flipped = analyzer.analyze(np.ascontiguousarray(astronaut[:, ::-1])).parsing
    orig = astro_result.parsing
    a = (orig == L["l_eye"])
    b = (flipped[:, ::-1] == L["r_eye"])
    assert (a & b).sum() / max(1, (a | b).sum()) > 0.6


def test_mirror_map_is_an_involution_swapping_sides() -> None:
    from engine.faces import topology as T

    m = np.array(T.MIRROR)
    assert sorted(m.tolist()) == list(range(T.N_LANDMARKS))
    assert (m[m] == np.arange(T.N_LANDMARKS)).all()
    for a, b in ((T.LEFT_EYE, T.RIGHT_EYE), (T.LEFT_BROW, T.RIGHT_BROW), (T.LEFT_IRIS, T.RIGHT_IRIS)):
        assert set(m[list(a)]) == set(b)
    assert m[T.MOUTH_CORNERS[0]] == T.MOUTH_CORNERS[1] and m[T.JAW_LEFT] == T.JAW_RIGHT
    for i in (T.NOSE_TIP, T.CHIN, T.FOREHEAD):
        assert m[i] == i
    assert set(m[list(T.FACE_OVAL)]) == set(T.FACE_OVAL)


def test_mirrored_mesh_fit_agrees_with_plain_fit(analyzer, astronaut, astro_result) -> None:
    """A single mirrored view, renumbered by MIRROR, lands on the plain view's points."""
    fitter = analyzer.mesh
    box = astro_result.faces[0].box
    plain = fitter._fit_view(astronaut, box, 1.0, 0.0, 0.0, False)
    mirrored = fitter._fit_view(astronaut, box, 1.0, 0.0, 0.0, True)
    eye = float(np.hypot(*(plain[33] - plain[263])))
    d = np.hypot(*(plain - mirrored).T) / eye
    assert np.median(d) < 0.02 and d.max() < 0.08, (np.median(d), d.max())


def test_mesh_views_are_averaged_and_strays_dropped(analyzer, astronaut, astro_result, monkeypatch) -> None:
    from engine.faces import detect

    fitter = analyzer.mesh
    box = astro_result.faces[0].box
    base = fitter._fit_view(astronaut, box, 1.0, 0.0, 0.0, False)
    eye = float(np.hypot(*(base[33] - base[263])))
    offsets = iter([0.0, 0.02 * eye, 5.0 * eye, -0.02 * eye])  # the third view "found" something else
    monkeypatch.setattr(fitter, "beside", lambda: False)  # the views in order, on this thread
    monkeypatch.setattr(type(fitter), "_fit_view", lambda self, *a, **k: base + next(offsets))
    monkeypatch.setattr(fitter, "views", ((1.0, 0.0, 0.0, False),) * 4)
    np.testing.assert_allclose(fitter.fit(astronaut, box), base, atol=1e-3)
    # no face in the plain view nor in the retry crops: no landmarks, whatever the other views say
    calls: list[tuple] = []

    def plain_fails(self, rgb, b, scale, dx, dy, flip, slot=0):
        calls.append((scale, flip))
        return None if len(calls) <= 1 + len(detect.MESH_RETRY_SCALES) else base

    monkeypatch.setattr(type(fitter), "_fit_view", plain_fails)
    assert fitter.fit(astronaut, box) is None
    assert [c[0] for c in calls[1:]] == list(detect.MESH_RETRY_SCALES)
    # a retry crop that finds the face takes the plain view's place
    calls.clear()
    monkeypatch.setattr(type(fitter), "_fit_view",
                        lambda self, rgb, b, scale, dx, dy, flip, slot=0: calls.append(scale) or (base if len(calls) > 1 else None))
    np.testing.assert_allclose(fitter.fit(astronaut, box), base, atol=1e-3)


def test_mesh_views_fitted_beside_give_the_same_landmarks(astronaut, astro_result, monkeypatch) -> None:
    """The views after the plain one fitted by a second graph on a side thread (a free core):
    the very landmarks of the views fitted one after the other; a plain view that finds no face
    still gives none."""
    from engine.faces.detect import MESH_RETRY_SCALES, FaceMeshFitter

    fitter = FaceMeshFitter()
    box = astro_result.faces[0].box
    monkeypatch.setattr(fitter, "beside", lambda: False)
    one = fitter.fit(astronaut, box)
    assert fitter._models[1] is None  # nothing ran beside
    monkeypatch.setattr(fitter, "beside", lambda: True)
    both = fitter.fit(astronaut, box)
    assert fitter._models[1] is not None and one is not None and both is not None
    np.testing.assert_array_equal(one, both)
    slots: list[int] = []
    real = FaceMeshFitter._fit_view

    def plain_fails(self, rgb, b, scale, dx, dy, flip, slot=0):
        slots.append(slot)
        return None if slot == 0 else real(self, rgb, b, scale, dx, dy, flip, slot)

    monkeypatch.setattr(FaceMeshFitter, "_fit_view", plain_fails)
    assert fitter.fit(astronaut, box) is None
    assert slots.count(0) == 1 + len(MESH_RETRY_SCALES) and slots.count(1) == len(fitter.views) - 1


def test_several_faces_largest_first(analyzer, astronaut) -> None:
    import cv2

    face = astronaut[20:240, 120:330]
    canvas = np.full((500, 900, 3), 200, np.uint8)
    canvas[20:240, 40:250] = face
    small = cv2.resize(face, (150, 157))
    canvas[300:457, 600:750] = small
    res = analyzer.analyze(canvas, parse=False)
    assert len(res.faces) == 2 and res.parsing is None
    assert res.faces[0].area > res.faces[1].area
    assert res.faces[0].box[0] < 300 and res.faces[1].box[0] > 500


def test_no_face_gives_empty_result(analyzer) -> None:
    res = analyzer.analyze(np.full((120, 160, 3), 90, np.uint8))
    assert res.faces == [] and res.parsing.shape == (120, 160) and res.parsing.max() == 0


@pytest.mark.parametrize("kind", ["grey", "tiny", "rotated", "huge"])
def test_odd_inputs_never_crash(analyzer, astronaut, kind) -> None:
    import cv2

    if kind == "grey":
        img = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)  # [H, W]
    elif kind == "tiny":
        img = np.full((400, 400, 3), 180, np.uint8)
        img[200:230, 200:230] = cv2.resize(astronaut[60:180, 170:280], (30, 30))
    elif kind == "rotated":
        img = np.ascontiguousarray(np.rot90(astronaut))
    else:
        img = np.zeros((8000, 8000, 3), np.uint8)
        img[2000:4048, 2000:4048] = cv2.resize(astronaut, (2048, 2048))
    res = analyzer.analyze(img)
    assert res.parsing.shape == img.shape[:2]
    if kind in ("grey", "huge"):
        assert len(res.faces) == 1 and res.faces[0].landmarks is not None
    if kind == "huge":
        f = res.faces[0]
        assert 2000 < f.box[0] < 4048 and (res.parsing == L["nose"]).any()


def test_cache_by_content(astronaut) -> None:
    a = FaceAnalyzer(detector="mediapipe", parser="geometric")
    r1 = a.analyze(astronaut)
    r2 = a.analyze(astronaut.copy())
    assert not r1.info["cached"] and r2.info["cached"]
    assert r2.faces is r1.faces
    r3 = a.analyze(np.ascontiguousarray(astronaut[:, ::-1]))
    assert not r3.info["cached"]


def test_bad_backend_names() -> None:
    with pytest.raises(ValueError):
        FaceAnalyzer(detector="nope")
    with pytest.raises(ValueError):
        FaceAnalyzer(parser="nope")


# -- alignment -------------------------------------------------------------------------------------

def test_align_is_upright_ffhq_layout(astro_result, astronaut) -> None:
    f = astro_result.faces[0]
    crop = align_face(astronaut, f.keypoints, size=256)
    assert crop.image.shape == (256, 256, 3)
    eyes = crop.to_crop(f.keypoints[:2])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 2.0  # level eyes
    assert eyes[0, 0] < eyes[1, 0]
    # FFHQ: eyes a bit above the centre, mouth below it
    mouth = crop.to_crop(f.keypoints[2:3])[0]
    assert eyes[:, 1].mean() < 128 < mouth[1]
    back = crop.to_image(eyes)
    assert np.allclose(back, f.keypoints[:2], atol=1e-3)


def test_paste_back_unedited_is_bit_identical(astro_result, astronaut) -> None:
    crop = align_face(astronaut, astro_result.faces[0].keypoints, size=200)
    out = paste_back(astronaut, crop, crop.image.copy())
    assert np.array_equal(out, astronaut)


def test_paste_back_edit_stays_inside_and_is_feathered(astro_result, astronaut) -> None:
    import cv2

    crop = align_face(astronaut, astro_result.faces[0].keypoints, size=200)
    edited = np.clip(crop.image.astype(int) + 60, 0, 255).astype(np.uint8)
    out = paste_back(astronaut, crop, edited)
    diff = np.abs(out.astype(int) - astronaut.astype(int)).max(axis=2)
    inside = cv2.warpAffine(np.ones((200, 200), np.uint8), crop.inverse, astronaut.shape[1::-1]) > 0
    assert diff[~inside].max() == 0  # nothing changes outside the crop
    centre = crop.to_image(np.array([[100, 100]]))[0].astype(int)
    assert diff[centre[1], centre[0]] >= 50
    # the seam is soft: along a line from the centre outwards the change falls off gradually
    line = diff[centre[1], centre[0]:].astype(int)
    assert np.abs(np.diff(line[line > 0])).max() < 20


def test_paste_back_replace_round_trip_is_close(astro_result, astronaut) -> None:
    crop = align_face(astronaut, astro_result.faces[0].keypoints, size=256)
    out = paste_back(astronaut, crop, crop.image, mode="replace")
    err = np.abs(out.astype(float) - astronaut.astype(float))
    assert err.mean() < 1.0
    with pytest.raises(ValueError):
        paste_back(astronaut, crop, crop.image, mode="nope")
    with pytest.raises(ValueError):
        paste_back(astronaut, crop, crop.image[:10])


# -- quality on the development pairs ------------------------------------------------------------------

def parsing_iou(analyzer: FaceAnalyzer, folder) -> dict[str, float]:
    """Per-class IoU over the pairs of ``folder`` (produced classes) plus ``"lips"`` (u_lip ∪ l_lip)."""
    from PIL import Image

    from engine.imageio import load_image

    inter = np.zeros(19)
    union = np.zeros(19)
    for jpg in sorted(folder.glob("*.jpg")):
        img = load_image(jpg)
        gt = np.asarray(Image.open(jpg.with_suffix(".png")))
        pred = analyzer.analyze(img).parsing
        for c in range(19):
            inter[c] += ((pred == c) & (gt == c)).sum()
            union[c] += ((pred == c) | (gt == c)).sum()
    iou = {n: float(inter[c] / union[c]) for c, n in enumerate(CELEBAMASK_HQ.classes)
           if union[c] > 0 and n in PRODUCED_CLASSES}
    lips = [L["u_lip"], L["l_lip"]]
    iou["lips"] = float(inter[lips].sum() / union[lips].sum())
    return iou


def test_parsing_quality_on_ground_truth_pairs(analyzer, shared_data) -> None:
    iou = parsing_iou(analyzer, shared_data / "faces" / "parsing")
    lips = iou.pop("lips")
    mean = float(np.mean(list(iou.values())))
    # the aims: mean >= 0.75, lips >= 0.80, skin >= 0.85 (measured: mean 0.753, lips 0.803,
    # skin 0.873); per-class regression floors a little below the measured values (bench/ has the
    # numbers: background 0.92, nose 0.81, eyes 0.81/0.80, brows 0.61/0.66, ears 0.61/0.64,
    # mouth 0.79, lips 0.78/0.82, hair 0.87, neck 0.75, cloth 0.59)
    assert mean >= 0.75 and lips >= 0.80 and iou["skin"] >= 0.85, (mean, lips, iou)
    floors = {"background": 0.90, "skin": 0.85, "nose": 0.78, "l_eye": 0.78, "r_eye": 0.77,
              "l_brow": 0.59, "r_brow": 0.64, "l_ear": 0.56, "r_ear": 0.61, "mouth": 0.75,
              "u_lip": 0.76, "l_lip": 0.79, "hair": 0.85, "neck": 0.71, "cloth": 0.57}
    low = {k: round(iou.get(k, 0.0), 3) for k, f in floors.items() if iou.get(k, 0.0) < f}
    assert not low, (low, iou)
    assert "eye_g" not in iou, "no pair has glasses: eye_g would be a false detection"


def test_parsing_cross_check_sets(analyzer, shared_data) -> None:
    """The rules tuned on the 9 pairs must hold on the other labelled sets (MT, Xiqu non-makeup)."""
    from bench.faces import parsing_cross_check

    res = parsing_cross_check(analyzer, shared_data)
    if not res:
        pytest.skip("no cross-check set in ../shared/data")
    # floors a little below the measured values (MT 0.704, Xiqu non-makeup 0.781)
    floors = {"mt": 0.68, "xiqu_non_makeup": 0.76}
    for name, r in res.items():
        assert r["images"] > 0
        assert r["mean_iou"] > floors[name], (name, r)


class _OffFirstPass:
    """A detector whose whole-image pass returns a box far too big and off-centre (as a tile pass
    over a huge image can); any later call is the real detector."""

    name = "off-first"

    def __init__(self, real, box) -> None:
        self.real, self.box, self.calls = real, box, 0

    def detect(self, rgb):
        self.calls += 1
        if self.calls == 1:
            return [(self.box, 0.9, None)]
        return self.real.detect(rgb)


def test_off_box_is_corrected_by_a_closer_look(analyzer, astronaut, astro_result) -> None:
    from engine.faces.detect import detect_faces

    true = astro_result.faces[0].box
    w = true[2] - true[0]
    off = np.array([true[0] - 1.2 * w, true[1] + 0.7 * w, true[2] + 1.2 * w, true[3] + 2.4 * w], np.float32)
    assert analyzer.mesh.fit(astronaut, off) is None  # the mesh alone cannot use this box
    faces = detect_faces(astronaut, _OffFirstPass(analyzer.detector, off), analyzer.mesh)
    assert len(faces) == 1 and faces[0].landmarks is not None
    assert np.abs(faces[0].box - true).max() < 0.15 * w, (faces[0].box, true)
    np.testing.assert_allclose(faces[0].landmarks, astro_result.faces[0].landmarks, atol=0.05 * w)


def test_small_face_in_a_huge_image_gets_landmarks(analyzer, astronaut, astro_result) -> None:
    """8000² canvas with the 512² astronaut pasted in: the face (about 100 px) is found by the tile
    pass and fitted (the tile box alone was too far off for the mesh)."""
    big = np.full((8000, 8000, 3), 120, np.uint8)
    big[3000:3512, 3000:3512] = astronaut
    faces = analyzer.analyze(big, parse=False).faces
    assert len(faces) == 1 and faces[0].landmarks is not None
    np.testing.assert_allclose(faces[0].box, astro_result.faces[0].box + 3000, atol=12)


def test_close_range_model_is_asked_only_when_the_full_range_one_finds_nothing(monkeypatch) -> None:
    from engine.faces import detect

    det = detect.MediaPipeBoxDetector()
    asked: list[int] = []
    box = np.array([0, 0, 10, 10], np.float32)
    answers = {1: [], 0: [(box, 0.55, None), (box + 20, 0.9, None)]}
    monkeypatch.setattr(det, "_detect", lambda rgb, sel: asked.append(sel) or answers[sel])
    found = det.detect(np.zeros((32, 32, 3), np.uint8))
    assert asked == [1, 0]
    assert [d[1] for d in found] == [0.9]  # below CLOSE_RANGE_MIN_SCORE dropped
    answers[1] = [(box, 0.8, None)]
    asked.clear()
    assert len(det.detect(np.zeros((32, 32, 3), np.uint8))) == 1 and asked == [1]
    det_off = detect.MediaPipeBoxDetector(close_range_fallback=False)
    monkeypatch.setattr(det_off, "_detect", lambda rgb, sel: asked.append(sel) or [])
    asked.clear()
    assert det_off.detect(np.zeros((32, 32, 3), np.uint8)) == [] and asked == [1]


def test_real_masked_faces_get_landmarks(analyzer, shared_data) -> None:
    """Masked faces hide what both MediaPipe models look for: the first 80 real masked-face photos
    (sorted) gave a face with landmarks in 66 before the short-range fallback and the retry crops,
    75 after."""
    from engine.imageio import load_image

    files = sorted((shared_data / "maskwear" / "real_masked").glob("*.jpg"))[:80]
    if len(files) < 80:
        pytest.skip("real masked photos not in ../shared/data")
    found = sum(any(f.landmarks is not None for f in analyzer.analyze(load_image(p), parse=False).faces)
                for p in files)
    assert found >= 72, found


def test_mesh_views_go_beside_only_with_a_free_core(monkeypatch) -> None:
    """A batch worker computes on one OpenCV thread, a busy machine has no core to spare: the
    views are then fitted one after the other."""
    import os

    import cv2
    import torch

    import engine.device
    from engine.faces.detect import mesh_beside

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(engine.device, "other_load", lambda: 0.0)
    before_cv, before_torch = cv2.getNumThreads(), torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        cv2.setNumThreads(2)
        assert mesh_beside()
        cv2.setNumThreads(1)  # OneComputeThread in a batch worker
        assert not mesh_beside()
        cv2.setNumThreads(2)
        monkeypatch.setattr(engine.device, "other_load", lambda: 3.9)
        assert not mesh_beside()
    finally:
        cv2.setNumThreads(before_cv)
        torch.set_num_threads(before_torch)


def test_colour_model_with_another_slack_equals_fitting_again() -> None:
    from engine.faces.parsing import ColourModel

    px = np.random.default_rng(3).integers(0, 256, (500, 3), dtype=np.uint8)
    base = ColourModel(px)
    for slack in (60.0, 2000.0):
        refit, derived = ColourModel(px, luma_slack=slack), base.with_slack(slack)
        assert np.array_equal(refit.icov, derived.icov) and np.array_equal(refit.mean, derived.mean)
    assert not np.array_equal(base.icov, base.with_slack(2000.0).icov)
    img = px.reshape(20, 25, 3)
    assert np.array_equal(base.with_slack(30.0).distance(img), base.distance(img))


def test_histogram_model_and_mode_filter_match_their_plain_definitions() -> None:
    import cv2

    from engine.faces import parsing as P

    rng = np.random.default_rng(5)
    ycc = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    bins = P._bin_index(ycc)
    b = (ycc.astype(np.int32) * np.array(P.HIST_BINS)) >> 8  # each channel's bin
    assert np.array_equal(bins, (b[..., 0] * P.HIST_BINS[1] + b[..., 1]) * P.HIST_BINS[2] + b[..., 2])
    seeds, query = bins[:20].ravel(), bins[20:].ravel()
    hist = np.zeros(int(np.prod(P.HIST_BINS)))
    np.add.at(hist, seeds, 1.0)
    assert np.allclose(P._hist_likelihood(seeds, query), hist[query] / len(seeds) + 1e-5, rtol=1e-12)

    labels = rng.integers(0, 4, (60, 70)).astype(np.uint8)
    labels[:, :10] = 9  # never voted on nor changed: outside ``where``
    where = np.ones(labels.shape, bool)
    where[:, :10] = False
    expect = labels.copy()  # the majority of each 5×5 window (ties to the lowest class)
    means = np.stack([cv2.blur(((labels == c) & where).astype(np.float32), (5, 5)) for c in range(4)])
    expect[where] = np.argmax(means, 0)[where]
    P._mode_filter(labels, where, 5)
    assert np.array_equal(labels, expect)

    labels = rng.integers(0, 3, (90, 80)).astype(np.uint8)  # a small ``where`` and a wide window:
    where = np.zeros(labels.shape, bool)  # votes near the frame's edge and outside the box
    where[2:30, 50:78] = rng.random((28, 28)) < 0.7
    expect = labels.copy()
    means = np.stack([cv2.blur(((labels == c) & where).astype(np.float32), (21, 21)) for c in range(3)])
    expect[where] = np.argmax(means, 0)[where]
    P._mode_filter(labels, where, 21)
    assert np.array_equal(labels, expect)


def test_person_mask_drawn_beside_the_face_search_gives_the_same_parsing(astronaut, astro_result,
                                                                         monkeypatch) -> None:
    import threading
    import time

    beside = FaceAnalyzer(detector="mediapipe", parser="geometric")
    calls: list[tuple[str, bool]] = []
    real = beside.segmenter.mask

    def mask(rgb: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        time.sleep(0.05)  # slower than the face search of a blank picture
        out = real(rgb, threshold)
        calls.append((threading.current_thread().name, True))
        return out

    monkeypatch.setattr(beside.segmenter, "mask", mask)
    beside.segment_beside = lambda: True
    res = beside.analyze(astronaut)
    assert calls and calls[0][0].startswith("person-mask")  # drawn on the side thread
    assert np.array_equal(res.parsing, astro_result.parsing)
    calls.clear()
    blank = beside.analyze(np.full((120, 160, 3), 90, np.uint8))
    assert blank.faces == [] and not blank.parsing.any()
    assert len(calls) == 1  # no face: the mask is not used, but the call waited for it to end
    beside.segment_beside = lambda: False
    calls.clear()
    beside.analyze(np.ascontiguousarray(astronaut[::-1, ::-1]))
    assert [c[0] for c in calls] == [threading.current_thread().name]  # not beside: drawn in _parse


def test_an_error_drawing_the_person_mask_beside_reaches_the_caller(astronaut, monkeypatch) -> None:
    an = FaceAnalyzer(detector="mediapipe", parser="geometric")
    an.segment_beside = lambda: True

    def broken(rgb: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        raise MemoryError("no room for the mask")

    monkeypatch.setattr(an.segmenter, "mask", broken)
    with pytest.raises(MemoryError):
        an.analyze(astronaut)
    assert an.analyze(np.full((120, 160, 3), 90, np.uint8)).faces == []  # no face: the mask is never asked for


def test_person_mask_drawn_in_parse_when_no_side_thread_can_start(astronaut, astro_result, monkeypatch) -> None:
    an = FaceAnalyzer(detector="mediapipe", parser="geometric")
    an.segment_beside = lambda: True

    def refuse(*args: object) -> None:
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(an._side, "submit", refuse)
    assert np.array_equal(an.analyze(astronaut).parsing, astro_result.parsing)
