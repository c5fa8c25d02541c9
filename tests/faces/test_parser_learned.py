"""The learned parser in the analysis path: exact paste back, and ``analyze --parser learned``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from engine.device import INFERENCE_MAX_THREADS as MAX_THREADS
from engine.device import inference_threads as parse_threads
from engine.device import torch_threads
from engine.faces.align import align_face
from engine.faces.learned_parsing import refine_parsing, shifted_crop
from engine.faces.types import Face
from engine.imageio import save_image
from engine.models.parser import FaceParserNet
from engine.weights.card import Verdict
from engine.weights.store import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks on a shared 2-core machine


def _scene() -> tuple[np.ndarray, Face, np.ndarray]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    kp = np.array([[70, 50], [90, 50], [80, 72]], np.float32)  # right eye, left eye, mouth
    face = Face(np.array([55, 30, 105, 90], np.float32), 1.0, np.zeros((478, 2), np.float32), kp)
    geometric = np.zeros((120, 160), np.uint8)
    geometric[35:95, 60:100] = 1
    geometric[45:55, 66:74] = 5
    geometric[45:55, 86:94] = 4
    return rgb, face, geometric


def test_paste_back_is_exact_outside_the_crop() -> None:
    rgb, face, geometric = _scene()
    torch.manual_seed(0)
    fresh = FaceParserNet(width=32, prior_width=4).eval()
    assert np.array_equal(refine_parsing(rgb, [face], geometric, fresh, 64), geometric)  # zero correction
    net = FaceParserNet(width=32, prior_width=4).eval()
    torch.nn.init.normal_(net.head.weight, std=2.0)
    with torch.no_grad():
        net.prior_gain.zero_()  # the correction alone decides inside the crop
    out = refine_parsing(rgb, [face], geometric, net, 64)
    assert out.shape == geometric.shape and out.dtype == np.uint8
    crop = align_face(rgb, face.keypoints, 64)
    inside = cv2.warpAffine(np.ones((64, 64), np.uint8), crop.inverse, (160, 120), flags=cv2.INTER_NEAREST,
                            borderValue=0).astype(bool)
    inside = cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    changed = out != geometric
    assert changed.any() and not (changed & ~inside).any()
    # faces without landmarks are left to the geometric labels
    bare = Face(face.box, 1.0, None, face.keypoints)
    assert np.array_equal(refine_parsing(rgb, [bare], geometric, net, 64), geometric)


@pytest.mark.parametrize(("winner", "guarded"), [("background", True), ("hair", True), ("eye_g", False)])
def test_a_face_whose_eye_band_the_network_takes_out_keeps_its_skin(winner: str, guarded: bool) -> None:
    """The face guard: a network that turns the face to background or hair gets that face's skin back
    inside the mesh's outline (and says so), its other labels stay; glasses over the face are still
    the face, so nothing is given back."""
    from dataclasses import replace

    from engine.faces.learned_parsing import FACE_GUARD, class_ids

    rgb, face, geometric = _scene()
    t = np.linspace(0, 2 * np.pi, 478, endpoint=False)
    face = replace(face, landmarks=np.stack([80 + 17 * np.cos(t), 62 + 25 * np.sin(t)], 1).astype(np.float32))
    hull = np.zeros(geometric.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(face.landmarks).astype(np.int32)), 1)
    skin_inside, skin_outside = (geometric == 1) & (hull > 0), (geometric == 1) & (hull == 0)
    assert skin_inside.sum() > 1000 and skin_outside.sum() > 100
    win = class_ids([winner])[0]
    net = FaceParserNet(width=32, prior_width=4).eval()
    with torch.no_grad():
        net.prior_gain.zero_()
        net.head.bias[win] = 50.0  # this class wins every pixel of the crop
    shares: list[float] = []
    out = refine_parsing(rgb, [face], geometric, net, 64, guard=FACE_GUARD, shares=shares)
    unguarded = refine_parsing(rgb, [face], geometric, net, 64)
    assert (unguarded[skin_inside] == win).mean() > 0.9
    if guarded:
        assert len(shares) == 1 and FACE_GUARD < shares[0] <= 1.0
        assert (out[skin_inside] == 1).all() and (out[skin_outside] == win).mean() > 0.5
        assert np.array_equal(out[~skin_inside], unguarded[~skin_inside])
    else:
        assert shares == [0.0] and np.array_equal(out, unguarded)


def test_no_face_exits_3_through_the_learned_parser(tmp_path: Path, monkeypatch, capsys) -> None:
    from engine.cli import main

    ckpt = tmp_path / "ckpt"
    save_checkpoint(FaceParserNet(width=32, prior_width=4).half(), ckpt / "face_parser", task="faces",
                    input_size=(64, 64), label_scheme="celebamask_hq", extra={"crop_scale": 1.0},
                    verdict=Verdict("geometric", "test", False))
    img = save_image(tmp_path / "wall.png", np.full((80, 80, 3), 120, np.uint8))
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(ckpt))
    assert main(["analyze", str(img), "--out", str(tmp_path / "o"), "--parser", "learned"]) == 3
    assert capsys.readouterr().err.strip() == f"no face found in {img}"
    assert not (tmp_path / "o").exists()


def test_shifted_crop_keeps_the_paste_back_exact() -> None:
    rgb, face, geometric = _scene()
    torch.manual_seed(0)
    fresh = FaceParserNet(width=32, prior_width=4).eval()
    assert np.array_equal(refine_parsing(rgb, [face], geometric, fresh, 64, 1.3, 0.1), geometric)
    net = FaceParserNet(width=32, prior_width=4).eval()
    torch.nn.init.normal_(net.head.weight, std=2.0)
    with torch.no_grad():
        net.prior_gain.zero_()
    out = refine_parsing(rgb, [face], geometric, net, 64, 1.3, 0.1)
    crop = shifted_crop(rgb, face.keypoints, 64, 1.3, 0.1)
    inside = cv2.warpAffine(np.ones((64, 64), np.uint8), crop.inverse, (160, 120), flags=cv2.INTER_NEAREST,
                            borderValue=0)
    inside = cv2.dilate(inside, np.ones((3, 3), np.uint8)).astype(bool)
    changed = out != geometric
    assert changed.any() and not (changed & ~inside).any()
    # the shifted crop reaches higher above the eyes than the plain one (its bottom edge moves up too)
    plain = align_face(rgb, face.keypoints, 64, 1.3)
    top = {n: c.to_image(np.array([[32.0, 0.0], [32.0, 64.0]], np.float32))[:, 1] for n, c in
           (("plain", plain), ("shifted", crop))}
    assert top["shifted"][0] < top["plain"][0] - 1 and top["shifted"][1] < top["plain"][1]


def test_learned_step_threads_follow_the_load() -> None:
    assert parse_threads(load=8.0, cores=2, current=2) == 1  # busy machine: one thread, no spinning
    assert parse_threads(load=0.0, cores=2, current=2) == 2
    assert parse_threads(load=0.0, cores=64, current=64) == MAX_THREADS
    assert parse_threads(load=None, cores=2, current=1) == 1
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_learned_parser_reads_its_crop_from_the_card(tmp_path: Path) -> None:
    from engine.faces.learned_parsing import LearnedParser

    card = save_checkpoint(FaceParserNet(width=32, prior_width=4).half(), tmp_path / "face_parser", task="faces",
                           input_size=(64, 64), label_scheme="celebamask_hq",
                           extra={"crop_scale": 1.3, "crop_shift": 0.08}, verdict=Verdict("geometric", "test", True))
    lp = LearnedParser(card, device="cpu")
    assert (lp.size, lp.scale, lp.shift) == (64, 1.3, 0.08)
    rgb, face, geometric = _scene()
    assert np.array_equal(lp.parse(rgb, [face], geometric), geometric)  # untrained: the prior itself
    assert lp.last_threads >= 1


def test_kept_mesh_classes_stay_as_the_mesh_draws_them(tmp_path: Path) -> None:
    """A card's keep_mesh_classes: their pixels keep the geometric label and no other pixel takes one."""
    from engine.errors import CheckpointError
    from engine.faces.learned_parsing import LearnedParser, class_ids

    rgb, face, geometric = _scene()
    net = FaceParserNet(width=32, prior_width=4).eval()
    torch.manual_seed(1)
    torch.nn.init.normal_(net.head.weight, std=2.0)
    with torch.no_grad():
        net.prior_gain.zero_()
    free = refine_parsing(rgb, [face], geometric, net, 64)
    moved = {c for c in (4, 5) if (free[geometric == c] != c).any() or ((free == c) & (geometric != c)).any()}
    assert moved  # without keeping them the network relabels the eyes' pixels
    kept = refine_parsing(rgb, [face], geometric, net, 64, keep=(4, 5))
    for c in (4, 5):
        assert np.array_equal(kept == c, geometric == c)
    assert (kept != geometric).any()  # the other classes are still corrected
    assert class_ids(["u_lip", "l_lip"]) == (11, 12)
    with pytest.raises(CheckpointError):
        class_ids(["lips"])
    card = save_checkpoint(FaceParserNet(width=32, prior_width=4).half(), tmp_path / "face_parser", task="faces",
                           input_size=(64, 64), label_scheme="celebamask_hq",
                           extra={"keep_mesh_classes": ["l_eye", "r_eye"]}, verdict=Verdict("geometric", "t", True))
    assert LearnedParser(card, device="cpu").keep == (4, 5)


def test_mesh_bounded_classes_only_shrink(tmp_path: Path) -> None:
    """A card's mesh_bounded_classes: the network may take pixels out of the geometric eyes but may
    not give the eye classes any pixel the geometric parser did not."""
    from engine.errors import CheckpointError
    from engine.faces.learned_parsing import LearnedParser, card_options

    rgb, face, geometric = _scene()
    net = FaceParserNet(width=32, prior_width=4).eval()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.head.bias[4] = 50.0  # the network would call everything the left eye
        net.prior_gain.zero_()
    free = refine_parsing(rgb, [face], geometric, net, 64)
    assert ((free == 4) & (geometric != 4)).mean() > 0.1
    bounded = refine_parsing(rgb, [face], geometric, net, 64, bounded=(4, 5))
    assert not ((bounded == 4) & (geometric != 4)).any() and not ((bounded == 5) & (geometric != 5)).any()
    grown = (free == 4) & (geometric != 4)
    assert np.array_equal(bounded[grown], geometric[grown])  # those pixels: the geometric label
    assert np.array_equal(bounded[~grown], free[~grown])  # the rest as the network labels it
    with torch.no_grad():
        net.head.bias[4] = -50.0  # now it takes the eyes away: bounding does not stop that
    shrunk = refine_parsing(rgb, [face], geometric, net, 64, bounded=(4,))
    assert (geometric == 4).any() and (shrunk[geometric == 4] != 4).mean() > 0.5
    card = save_checkpoint(FaceParserNet(width=32, prior_width=4).half(), tmp_path / "face_parser", task="faces",
                           input_size=(64, 64), label_scheme="celebamask_hq",
                           extra={"mesh_bounded_classes": ["l_eye", "r_eye"]}, verdict=Verdict("geometric", "t", True))
    assert LearnedParser(card, device="cpu").bounded == (4, 5)
    with pytest.raises(CheckpointError, match="mesh_bounded_classes"):
        card_options({"mesh_bounded_classes": ["eyes"]})


def test_a_kept_class_is_never_the_networks_pick() -> None:
    """Where the network would pick a kept class the geometric parser did not draw (the glasses no
    training photo showed), it labels the pixel with its best other class; the geometric parser's
    own pixels of that class stay."""
    rgb, face, geometric = _scene()
    geometric[40:44, 64:96] = 3  # the frame detector's glasses
    net = FaceParserNet(width=32, prior_width=4).eval()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.head.bias[3] = 50.0  # the network would call everything glasses ...
        net.head.bias[13] = 40.0  # ... and hair after that
        net.prior_gain.zero_()
    free = refine_parsing(rgb, [face], geometric, net, 64)
    assert (free == 3).mean() > 0.1
    kept = refine_parsing(rgb, [face], geometric, net, 64, keep=(3,))
    assert np.array_equal(kept == 3, geometric == 3)
    centre = np.zeros(geometric.shape, bool)
    centre[45:80, 70:90] = True  # well inside the crop, off the glasses: the second choice
    assert (kept[centre & (geometric != 3)] == 13).all()


def test_mirrored_parsing_is_symmetric_and_read_from_the_card(tmp_path: Path) -> None:
    """With ``mirrored`` the correction of a mirrored crop is the mirrored (left/right-swapped)
    correction of the crop, whatever the weights; without it an untrained-but-random network is not
    symmetric; a card's ``mirror_tta`` turns it on."""
    from engine.faces.learned_parsing import LearnedParser, crop_correction, mirror_permutation

    torch.manual_seed(3)
    net = FaceParserNet(width=32, prior_width=4).eval()
    torch.nn.init.normal_(net.head.weight, std=2.0)
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    prior = rng.integers(0, 19, (64, 64), dtype=np.uint8)
    perm = mirror_permutation()
    assert sorted(perm.tolist()) == list(range(19)) and (perm[perm] == np.arange(19)).all()
    mirror_img, mirror_prior = np.ascontiguousarray(img[:, ::-1]), perm[prior[:, ::-1]].astype(np.uint8)
    with torch.no_grad():
        a = crop_correction(net, img, prior, mirrored=True)
        b = crop_correction(net, mirror_img, mirror_prior, mirrored=True)
        assert torch.allclose(b, a.flip(-1)[torch.from_numpy(perm)], atol=1e-4)
        plain_a = crop_correction(net, img, prior)
        plain_b = crop_correction(net, mirror_img, mirror_prior)
        assert not torch.allclose(plain_b, plain_a.flip(-1)[torch.from_numpy(perm)], atol=1e-2)
        assert torch.allclose(a, (plain_a + plain_b.flip(-1)[torch.from_numpy(perm)]) / 2, atol=1e-4)
    with torch.no_grad():
        net.prior_gain.zero_()  # the correction alone decides inside the crop
    card = save_checkpoint(net.half(), tmp_path / "face_parser", task="faces", input_size=(64, 64),
                           label_scheme="celebamask_hq", extra={"mirror_tta": True},
                           verdict=Verdict("geometric", "t", True))
    lp = LearnedParser(card, device="cpu")
    assert lp.mirrored
    rgb, face, geometric = _scene()
    both = refine_parsing(rgb, [face], geometric, lp.model, 64, mirrored=True)
    assert not np.array_equal(both, refine_parsing(rgb, [face], geometric, lp.model, 64))
    assert np.array_equal(lp.parse(rgb, [face], geometric), both)  # the card's mirror_tta is used


def test_the_loaded_parser_is_prepared_for_inference_and_parses_as_the_plain_network(tmp_path: Path) -> None:
    """LearnedParser folds the batch norms into their convolutions and keeps the CPU weights
    channels-last: the labels are those of the network as trained (random, non-trivial statistics
    here, so a wrong fold would show)."""
    from engine.faces.learned_parsing import LearnedParser, first_argmax
    from engine.weights.store import load_checkpoint

    torch.manual_seed(4)
    net = FaceParserNet(width=32, prior_width=4).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.3)
                m.bias.normal_(0, 0.3)
        torch.nn.init.normal_(net.head.weight, std=2.0)
        net.prior_gain.fill_(1.0)
    card = save_checkpoint(net, tmp_path / "face_parser", task="faces", input_size=(64, 64),
                           label_scheme="celebamask_hq", extra={"mirror_tta": True},
                           verdict=Verdict("geometric", "t", True))
    lp = LearnedParser(card, device="cpu")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in lp.model.modules())
    assert lp.model.head.weight.is_contiguous(memory_format=torch.channels_last)
    plain, _ = load_checkpoint(card, device="cpu")
    rgb, face, geometric = _scene()
    want = refine_parsing(rgb, [face], geometric, plain.float().eval(), 64, mirrored=True)
    got = lp.parse(rgb, [face], geometric)
    assert (want != geometric).any() and np.array_equal(got, want)
    logits = torch.randn(19, 7, 9)
    logits[3, 0, 0] = logits[5, 0, 0] = logits[:, 0, 0].max() + 1  # a tie: the first channel wins
    assert torch.equal(first_argmax(logits), logits.argmax(0)) and int(first_argmax(logits)[0, 0]) == 3


def _two_faces() -> tuple[np.ndarray, list[Face], np.ndarray]:
    """The scene of :func:`_scene` with a second, smaller face beside the first whose crop overlaps it."""
    rgb, face, geometric = _scene()
    kp = np.array([[112, 58], [126, 58], [119, 74]], np.float32)
    small = Face(np.array([102, 44, 136, 86], np.float32), 0.9, np.zeros((478, 2), np.float32), kp)
    geometric[48:84, 106:132] = 1
    return rgb, [face, small], geometric


def test_the_photo_only_half_run_first_gives_the_same_labels(tmp_path: Path, monkeypatch) -> None:
    """The encoder's features made before the geometric labels exist (prepare_crops, LearnedParser.begin
    on its own thread, FaceAnalyzer's parse) give the labels of the whole step run at once; with two
    faces the larger one's prior still sees the smaller one corrected."""
    from engine.faces.analyzer import FaceAnalyzer
    from engine.faces.learned_parsing import LearnedParser, parse_order, prepare_crops

    torch.manual_seed(5)
    net = FaceParserNet(width=32, prior_width=4).eval()
    torch.nn.init.normal_(net.head.weight, std=2.0)
    with torch.no_grad():
        net.prior_gain.fill_(0.5)
        img, prior = torch.rand(2, 3, 64, 64), net.one_hot(torch.randint(0, 19, (2, 64, 64)))
        assert torch.equal(net.decode(net.features(img), prior), net.correction(img, prior))
    rgb, faces, geometric = _two_faces()
    assert [f.area for f in parse_order(faces)] == sorted(f.area for f in faces)
    whole = refine_parsing(rgb, faces, geometric, net, 64, mirrored=True)
    alone = refine_parsing(rgb, faces[:1], geometric, net, 64, mirrored=True)
    assert (whole != alone).any() and (whole != geometric).any()
    prepared = prepare_crops(net, rgb, faces, 64, mirrored=True)
    assert len(prepared) == 2 and prepared[0].features[0].shape[0] == 2  # the crop and its mirror image
    assert np.array_equal(refine_parsing(rgb, faces, geometric, net, 64, mirrored=True, prepared=prepared), whole)
    with pytest.raises(ValueError, match="prepared crops of 1 faces for 2"):
        refine_parsing(rgb, faces, geometric, net, 64, mirrored=True, prepared=prepared[:1])

    card = save_checkpoint(net.half(), tmp_path / "ckpt" / "face_parser", task="faces", input_size=(64, 64),
                           label_scheme="celebamask_hq", extra={"mirror_tta": True},
                           verdict=Verdict("geometric", "t", True))
    lp = LearnedParser(card, device="cpu")
    assert lp.begin(rgb, faces) is None  # one torch thread (this module's fixture): nothing beside
    lp.threads = 2
    pending = lp.begin(rgb, faces)
    assert pending is not None
    pending.result()  # (before features is watched below)
    encoded: list[int] = []
    features = lp.model.features
    monkeypatch.setattr(lp.model, "features", lambda x: encoded.append(len(x)) or features(x))
    early = lp.parse(rgb, faces, geometric, pending)
    assert encoded == []  # the parse used the features begin() made
    lp.threads = 1
    assert np.array_equal(early, lp.parse(rgb, faces, geometric)) and (early != geometric).any()
    assert encoded == [2, 2]
    lp.threads, lp.overlap = 2, False
    assert lp.begin(rgb, faces) is None
    with pytest.raises(ValueError, match="another size or mirroring"):
        refine_parsing(rgb, faces, geometric, net, 64, prepared=prepared)  # made mirrored
    with pytest.raises(ValueError, match="another size or mirroring"):
        refine_parsing(rgb, faces, geometric, net, 96, mirrored=True, prepared=prepared)

    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(tmp_path / "ckpt"))
    analyzer = FaceAnalyzer(parser="learned")
    photo = data.astronaut()
    res = analyzer.analyze(photo)
    learned = analyzer._learned
    assert learned is not None and res.faces
    learned.threads = 2
    started: list[int] = []
    begin = learned.begin
    monkeypatch.setattr(learned, "begin", lambda rgb, faces: started.append(len(faces)) or begin(rgb, faces))
    analyzer._cache.clear()
    overlapped = analyzer.analyze(photo).parsing
    learned.overlap = False
    analyzer._cache.clear()
    sequential = analyzer.analyze(photo).parsing
    assert started == [len(res.faces), len(res.faces)]
    # (the encoder ran on one torch thread beside, on two after: a logit's last bit may differ)
    assert (sequential != overlapped).mean() < 1e-4
    assert (overlapped != FaceAnalyzer(parser="geometric").analyze(photo).parsing).any()

    # the geometric parser fails after begin(): the error reaches the caller, the encoder is waited for
    learned.overlap = True
    analyzer._cache.clear()
    monkeypatch.setattr("engine.faces.analyzer.geometric_parsing", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        analyzer.analyze(photo)
    assert started[-1] == len(res.faces) and len(started) == 3


def _dense_guided_argmax(grey: np.ndarray, prob: np.ndarray, r: int, eps: float) -> np.ndarray:
    """The textbook guided filter of every class over the whole map, then the arg-max."""
    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)

    mi = box(grey)
    var = box(grey * grey) - mi * mi
    out = []
    for p in prob:
        mp = box(p)
        a = (box(grey * p) - mi * mp) / (var + eps)
        out.append(box(a) * grey + box(mp - a * mi))
    return np.argmax(np.stack(out), 0)


def test_guided_argmax_is_the_dense_guided_filter_and_follows_the_photo() -> None:
    """Filtering each class only over the box where it reaches the support floor gives the dense
    filter's labels; a blurred class boundary just off an edge of the photo moves onto it."""
    from engine.faces.learned_parsing import EDGE_EPS, guided_argmax

    rng = np.random.default_rng(5)
    h, w = 90, 120
    grey = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    grey[:, 60:] += 0.5  # a strong vertical edge
    grey /= grey.max()
    logits = np.full((19, h, w), -4.0, np.float32)
    logits[1] = 0.0                                   # skin everywhere ...
    logits[0] = (np.arange(w, dtype=np.float32) - 57.5) * 0.4  # ... background from column 58
    logits[4, 20:35, 20:40] = 2.0                     # a small eye
    logits[13] = cv2.GaussianBlur(rng.normal(0, 1.5, (h, w)).astype(np.float32), (0, 0), 3.0)  # noisy hair
    prob = torch.softmax(torch.from_numpy(logits), 0).numpy()
    for r in (1, 2, 3):
        fast = guided_argmax(grey, prob, r)
        dense = _dense_guided_argmax(grey, prob, r, EDGE_EPS)
        assert (fast != dense).mean() < 2e-4, r
    out = guided_argmax(grey, prob, 2)
    assert (out[22:33, 22:38] == 4).all()  # the eye's inside stays
    assert (out == prob.argmax(0)).mean() > 0.9  # the filter moves boundaries, not regions
    # the weight blends the filtered probabilities with the plain ones
    assert np.array_equal(guided_argmax(grey, prob, 2, weight=np.zeros((h, w), np.float32)), prob.argmax(0))
    assert np.array_equal(guided_argmax(grey, prob, 2, weight=np.ones((h, w), np.float32)), out)
    # a blurred boundary (the network's, upsampled) a column and a half before the photo's edge
    step = np.zeros((16, 16), np.float32)
    step[:, 8:] = 1.0
    ramp = np.clip((np.arange(16, dtype=np.float32) - 6.5) / 2 + 0.5, 0, 1)  # 0.5 at column 6.5
    two = np.stack([1 - np.tile(ramp, (16, 1)), np.tile(ramp, (16, 1))])
    assert (two.argmax(0)[:, :8] == 1).any()
    assert (guided_argmax(step, two, 2) == (step > 0.5)).all()


def test_edge_refinement_is_read_from_the_card_and_checked(tmp_path: Path, monkeypatch) -> None:
    """A card's ``edge_refine`` radius reaches the parse (the labels change only where classes meet,
    never outside the crop, and not at the crop's feathered border); the radius is in crop pixels
    (a photo four times the size filters about four times as far); a wrong radius is refused in one line; the
    refinement needs the photo."""
    import engine.faces.learned_parsing as LP
    from engine.errors import CheckpointError
    from engine.faces.learned_parsing import LearnedParser, paste_correction

    rgb, face, geometric = _scene()
    rgb = cv2.GaussianBlur(rgb, (0, 0), 1.5)
    torch.manual_seed(4)
    net = FaceParserNet(width=32, prior_width=4).eval()
    torch.nn.init.normal_(net.head.weight, std=0.5)
    card = save_checkpoint(net.half(), tmp_path / "face_parser", task="faces", input_size=(64, 64),
                           label_scheme="celebamask_hq", extra={"edge_refine": 1.0},
                           verdict=Verdict("geometric", "t", True))
    lp = LearnedParser(card, device="cpu")
    assert lp.edge == 1.0
    plain = refine_parsing(rgb, [face], geometric, lp.model, 64)
    refined = refine_parsing(rgb, [face], geometric, lp.model, 64, edge=1.0)
    changed = plain != refined
    assert changed.any()
    edges = cv2.morphologyEx(plain, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0  # near a class boundary
    assert (changed & edges).sum() >= 0.9 * changed.sum()
    crop = align_face(rgb, face.keypoints, 64)
    inside = cv2.warpAffine(np.ones((64, 64), np.uint8), crop.inverse, (160, 120), flags=cv2.INTER_NEAREST,
                            borderValue=0).astype(bool)
    assert not (refined != geometric)[~cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)].any()
    assert np.array_equal(lp.parse(rgb, [face], geometric), refined)  # the card's radius is used
    # no seam: with no correction, a geometric boundary two pixels off the photo's edge moves onto
    # it inside the crop, and fades back to where it was towards the crop's border
    kp = np.array([[140, 100], [180, 100], [160, 144]], np.float32)
    wide = Face(np.array([110, 60, 210, 180], np.float32), 1.0, np.zeros((478, 2), np.float32), kp)
    off = np.zeros((240, 320), np.uint8)
    off[:, 150:] = 18
    photo = np.full((240, 320, 3), 60, np.uint8)
    photo[:, 152:] = 200
    with torch.no_grad():
        lp.model.head.weight.zero_()
        lp.model.head.bias.zero_()
    still = refine_parsing(photo, [wide], off, lp.model, 64, edge=3.0)
    moved = np.flatnonzero((still != off).any(1))
    wcrop = align_face(photo, kp, 64)
    rows = np.flatnonzero(cv2.warpAffine(np.ones((64, 64), np.uint8), wcrop.inverse, (320, 240),
                                         flags=cv2.INTER_NEAREST)[:, 151])  # the crop's rows at that column
    assert len(moved) > 0.5 * len(rows)  # moved over most of the crop ...
    assert moved.min() - rows.min() >= 6 and rows.max() - moved.max() >= 6  # ... but not at its border
    # the radius follows the photo's pixels per crop pixel
    radii: list[int] = []
    real = LP.guided_argmax
    monkeypatch.setattr(LP, "guided_argmax", lambda g, p, r, **kw: radii.append(r) or real(g, p, r, **kw))
    big_face = Face(face.box * 4, 1.0, face.landmarks, face.keypoints * 4)
    refine_parsing(rgb, [face], geometric, lp.model, 64, edge=1.0)
    refine_parsing(cv2.resize(rgb, (640, 480)), [big_face], cv2.resize(geometric, (640, 480),
                   interpolation=cv2.INTER_NEAREST), lp.model, 64, edge=1.0)
    assert len(radii) == 2 and radii[1] >= 3 * radii[0]
    for bad in (-1.0, 9.0, "1", True):
        card = save_checkpoint(net.half(), tmp_path / "bad" / "face_parser", task="faces", input_size=(64, 64),
                               label_scheme="celebamask_hq", extra={"edge_refine": bad},
                               verdict=Verdict("geometric", "t", True))
        with pytest.raises(CheckpointError, match="edge_refine must be a radius"):
            LearnedParser(card, device="cpu")
    with pytest.raises(ValueError, match="needs the photo"):
        paste_correction(geometric.copy(), crop, torch.zeros(19, 64, 64), torch.ones(19), None, 1.0)
    with pytest.raises(ValueError, match="below 1/19"):
        LP.guided_argmax(np.zeros((4, 4), np.float32), np.full((19, 4, 4), 1 / 19, np.float32), 1, floor=0.06)


def test_analyze_says_how_many_faces_kept_their_geometric_skin(tmp_path: Path, monkeypatch) -> None:
    """A learned parser that turns the astronaut's face to background trips the face guard: ``info``
    counts that face, and her skin inside the mesh's outline is the geometric parser's."""
    from engine.faces.analyzer import FaceAnalyzer

    net = FaceParserNet(width=32, prior_width=4).eval()
    with torch.no_grad():
        net.prior_gain.zero_()
        net.head.bias[0] = 50.0
    save_checkpoint(net.half(), tmp_path / "ckpt" / "face_parser", task="faces", input_size=(64, 64),
                    label_scheme="celebamask_hq", extra={"face_guard": 0.5}, verdict=Verdict("geometric", "t", True))
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(tmp_path / "ckpt"))
    photo = data.astronaut()
    res = FaceAnalyzer(parser="learned").analyze(photo)
    geo = FaceAnalyzer(parser="geometric").analyze(photo)
    assert len(res.faces) == 1 and res.info["geometric_faces"] == 1 and "geometric_faces" not in geo.info
    assert res.parsing is not None and geo.parsing is not None
    hull = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(res.faces[0].landmarks).astype(np.int32)), 1)
    skin = (geo.parsing == 1) & (hull > 0)
    assert skin.sum() > 5000 and (res.parsing[skin] == 1).all()
    assert (res.parsing[(geo.parsing == 13) & (hull == 0)] == 0).mean() > 0.9  # her hair: the network's background

    from engine.cli import main

    img = save_image(tmp_path / "astronaut.png", photo)
    assert main(["analyze", str(img), "--out", str(tmp_path / "o"), "--parser", "learned"]) == 0
    assert json.loads((tmp_path / "o" / "landmarks.json").read_text())["backends"]["geometric_faces"] == 1


def test_the_face_guard_is_the_cards(tmp_path: Path) -> None:
    """A card without ``face_guard`` was scored without the guard and runs without it; a bad one is refused."""
    from engine.errors import CheckpointError
    from engine.faces.learned_parsing import LearnedParser

    def card(**extra: object) -> Path:
        return save_checkpoint(FaceParserNet(width=32, prior_width=4).half(), tmp_path / "face_parser", task="faces",
                               input_size=(64, 64), label_scheme="celebamask_hq", extra=extra,
                               verdict=Verdict("geometric", "t", True))

    assert LearnedParser(card(), device="cpu").guard == 1.0
    assert LearnedParser(card(face_guard=0.4), device="cpu").guard == 0.4
    with pytest.raises(CheckpointError, match="face_guard must be a share"):
        LearnedParser(card(face_guard=0), device="cpu")


def test_the_learned_hat_is_carried_past_the_crop() -> None:
    """extend_hat: hair the geometric parser drew beyond the crop continues the learned hat where the
    learned labels just inside the crop's feather are hat, and stays hair where they are hair."""
    from engine.faces.learned_parsing import crop_depth, extend_hat, prepare_crops

    rgb, face, geometric = _scene()
    geometric[:35, 40:120] = 13  # hair above the face, up to the top of the photo
    for winner, expect in ((14, 14), (13, 13)):
        net = FaceParserNet(width=32, prior_width=4).eval()
        with torch.no_grad():
            net.prior_gain.zero_()
            net.head.bias[winner] = 50.0
        plain = refine_parsing(rgb, [face], geometric, net, 64)
        carried = refine_parsing(rgb, [face], geometric, net, 64, hat=True)
        depth = crop_depth(geometric.shape, [prepare_crops(net, rgb, [face], 64)[0].crop])
        beyond = (depth <= 0) & (geometric == 13)
        assert beyond.sum() > 100 and (plain[beyond] == 13).all()
        assert (carried[beyond] == expect).all() and np.array_equal(carried[~beyond & (depth > 3)], plain[~beyond & (depth > 3)])
    untouched = geometric.copy()
    extend_hat(untouched, [])  # no crop: nothing to carry
    assert np.array_equal(untouched, geometric)


def test_the_card_says_whether_the_hat_is_carried(tmp_path: Path) -> None:
    from engine.faces.learned_parsing import LearnedParser

    def card(**extra: object) -> Path:
        return save_checkpoint(FaceParserNet(width=32, prior_width=4).half(), tmp_path / "face_parser", task="faces",
                               input_size=(64, 64), label_scheme="celebamask_hq", extra=extra,
                               verdict=Verdict("geometric", "t", True))

    assert LearnedParser(card(), device="cpu").hat is False
    assert LearnedParser(card(extend_hat=True), device="cpu").hat is True
