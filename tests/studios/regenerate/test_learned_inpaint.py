"""The learned regenerator on the inpainting contract: exactness outside the hole, label
conditioning, random region edits, a training step, checkpoints with their card, the auto rule
and the editor. Tiny random-initialised networks: shapes and contracts only, not quality."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

import engine.weights.store as store
from engine.device import select_device
from engine.labels import CELEBAMASK_HQ
from engine.models.regen import one_hot
from engine.models.regen_inpaint import RegenInpaintNet
from engine.studios.base import forget_learned
from engine.studios.regenerate.editor import RegenerateEditor
from engine.studios.regenerate.learned import (
    describe_card,
    learned_summary,
    regenerate_learned,
    resolve_backend,
    seam_offset,
)
from engine.studios.regenerate.params import RegenerateParams
from engine.training.regen_inpaint import HOLE_KINDS, gram, random_hole, train, training_sources
from engine.weights.card import Verdict
from testkit import tiny_labelled_face

IDX = CELEBAMASK_HQ.index
TINY = dict(width=8, n_down=2, n_blocks=1, style_dim=8, encoder_width=8, max_width=16, side=16)
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks on a busy 2-core machine

KP = np.array([[24.0, 30.0], [40.0, 30.0], [32.0, 46.0]], np.float32)  # tiny_face(64)'s eyes and mouth


def tiny_face(side: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The shared drawn face with its exact label map (a little texture)."""
    return tiny_labelled_face(side, texture=True)


def _beard(lab: np.ndarray) -> np.ndarray:
    """``lab`` with hair painted over the lower skin (a beard-like block)."""
    edited = lab.copy()
    edited[(lab == IDX("skin")) & (np.arange(lab.shape[0])[:, None] > 0.75 * lab.shape[0])] = IDX("hair")
    return edited


@pytest.fixture(autouse=True)
def fresh_learned_cache():
    forget_learned()
    yield
    forget_learned()


def _net(seed: int = 0) -> RegenInpaintNet:
    torch.manual_seed(seed)
    return RegenInpaintNet(**TINY).eval()


def test_the_network_keeps_every_pixel_outside_the_hole_exactly() -> None:
    net = _net()
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    hole = torch.zeros(2, 1, 16, 16)
    hole[0, :, 3:9, 2:12] = 1
    hole[1, :, 10:, :] = 1
    seg = one_hot(torch.randint(0, 19, (2, 16, 16)))
    with torch.no_grad():
        out = net(img, hole, seg)
    keep = (hole == 0).expand_as(img)
    assert torch.equal(out[keep], img[keep])
    assert not torch.allclose(out[~keep], img[~keep])  # the hole is synthesised, not copied
    with torch.no_grad():  # what was in the hole does not matter: it is blanked
        again = net(torch.where(hole.bool(), torch.zeros_like(img), img), hole, seg)
    assert torch.allclose(again, out)
    with pytest.raises(ValueError, match="hole must be"):
        net(img, hole[:, :, :8], seg)
    with pytest.raises(ValueError, match="multiple of 4"):
        net(img[..., :14, :14], hole[..., :14, :14], seg[..., :14, :14])


def test_the_target_label_map_changes_the_synthesis() -> None:
    net = _net(1)
    img = torch.rand(1, 3, 16, 16) * 2 - 1
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., 4:12, 4:12] = 1
    lab = torch.full((1, 16, 16), IDX("skin"), dtype=torch.long)
    other = lab.clone()
    other[:, 4:12, 4:12] = IDX("hair")
    with torch.no_grad():
        a, b = net(img, hole, one_hot(lab)), net(img, hole, one_hot(other))
    assert (a - b).abs()[..., 4:12, 4:12].mean() > 1e-3


def test_style_codes_come_from_outside_the_hole_only() -> None:
    net = _net(2)
    img = torch.rand(1, 3, 16, 16) * 2 - 1
    seg = one_hot(torch.full((1, 16, 16), IDX("skin"), dtype=torch.long))
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., :8, :] = 1
    changed = img.clone()
    changed[..., :8, :] = 1.0  # the hole's content differs
    assert torch.allclose(net.encode_style(img, seg, hole), net.encode_style(changed, seg, hole))
    assert not torch.allclose(net.encode_style(img, seg), net.encode_style(changed, seg))


@pytest.mark.parametrize("keypoints", [None, KP])
def test_regenerate_learned_changes_only_the_hole(keypoints) -> None:
    net = _net(3)
    img, lab = tiny_face(64)
    same, masks, info = regenerate_learned(net, img, lab, lab.copy(), keypoints=keypoints)
    assert np.array_equal(same, img) and not masks["regenerated"].any() and info["feather_px"] == 0
    edited = _beard(lab)
    out, masks, info = regenerate_learned(net, img, lab, edited, keypoints=keypoints)
    changed = edited != lab
    assert np.array_equal(out[~changed], img[~changed])
    assert masks["regenerated"][changed].mean() > 0.5 and "hair" in info["regions"] and info["model_side"] == 16
    strokes = np.zeros_like(changed)
    strokes[20:24, 28:36] = True  # painted over pixels whose label stays skin
    out2, masks2, _ = regenerate_learned(net, img, lab, edited, keypoints=keypoints, painted=strokes)
    assert np.array_equal(out2[~(changed | strokes)], img[~(changed | strokes)])
    assert masks2["hole"][strokes].all() and masks2["regenerated"][strokes].any()
    with pytest.raises(ValueError, match="painted mask"):
        regenerate_learned(net, img, lab, edited, painted=strokes[:10])


def test_the_seam_correction_is_smooth_and_keeps_the_outside() -> None:
    rng = np.random.default_rng(0)
    img = np.clip(120 + rng.normal(0, 8, (40, 48, 3)), 0, 255).astype(np.uint8)
    hole = np.zeros((40, 48), bool)
    hole[:15, 10:30] = True  # touches the image border
    ramp = np.linspace(-20, 20, 48, dtype=np.float32)[None, :, None]
    pred = img.astype(np.float32) - ramp  # biased by a ramp the correction should undo
    off = seam_offset(img, pred, hole)
    assert not off[~cv2.dilate(hole.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)].any()
    err = np.abs(off[hole] - np.broadcast_to(ramp, img.shape)[hole])
    assert err.mean() < 3.0  # the bias comes back out, not the ring's noise
    assert np.abs(np.diff(off[hole.nonzero()[0].min():15, 10:30], axis=1)).max() < 4.0  # smooth
    assert not seam_offset(img, pred, np.zeros_like(hole)).any()
    net = _net(8)
    face, lab = tiny_face(64)
    edited = _beard(lab)
    a, _, _ = regenerate_learned(net, face, lab, edited, seam=False)
    b, _, _ = regenerate_learned(net, face, lab, edited)
    changed = edited != lab
    assert np.array_equal(a[~changed], face[~changed]) and np.array_equal(b[~changed], face[~changed])
    assert not np.array_equal(a, b)


def test_hole_pixels_outside_the_crop_are_inpainted_classically() -> None:
    net = _net(4)
    img, lab = tiny_face(64)
    kp = KP * 0.5 + 32  # a smaller face in the lower right: the aligned crop leaves the top left out
    edited = lab.copy()
    edited[:6, :6] = IDX("hair")
    out, masks, info = regenerate_learned(net, img, lab, edited, keypoints=kp)
    changed = edited != lab
    assert info["outside_crop_px"] > 0
    assert np.array_equal(out[~changed], img[~changed])


def test_reference_regions_are_restyled_and_nothing_else() -> None:
    net = _net(5)
    img, lab = tiny_face(64)
    ref = np.full_like(img, 30)
    out, masks, info = regenerate_learned(net, img, lab, lab.copy(), keypoints=KP, reference=ref,
                                          reference_labels=lab, reference_regions=("hair",), blend=1.0)
    hair = lab == IDX("hair")
    assert masks["regenerated"][hair].mean() > 0.5 and not masks["changed"].any()
    assert np.array_equal(out[~hair], img[~hair]) and "reference style" in info["regions"]["hair"]
    with pytest.raises(ValueError, match="label map"):
        regenerate_learned(net, img, lab, lab.copy(), reference=ref, reference_regions=("hair",))


@pytest.mark.parametrize("kind", HOLE_KINDS)
def test_random_region_edits(kind: str) -> None:
    _, lab = tiny_face(64)
    rng = np.random.default_rng(0)
    holes = [random_hole(lab, rng, kind) for _ in range(5)]
    assert all(h.shape == lab.shape and h.sum() >= 4 for h in holes)
    if kind == "forehead":  # skin above the eyes, next to the hair
        top = int(np.nonzero(np.isin(lab, [IDX("l_eye"), IDX("r_eye")]))[0].min())
        assert all((lab[h] == IDX("skin")).all() and not h[top:].any() for h in holes)
    if kind == "region":  # a whole part, grown
        assert all(np.isin(lab[h], [IDX("l_eye"), IDX("r_eye"), IDX("u_lip")]).any() for h in holes)


def test_training_sources_leave_the_benchmark_faces_out(tmp_path) -> None:
    for rel in ("faces/photos/a.jpg", "faces/photos/sean_1.jpg", "faces/parsing/sean_1.jpg",
                "faces/parsing/sean_1.png", "makeup/mt/makeup/m.jpg", "makeup/mt/makeup/seg_celebamaskhq/m.png",
                "opera/xiqu/non-makeup/7.jpg", "opera/xiqu/non-makeup/segs/7.png", "opera/xiqu/non-makeup/8.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = [f"{p.parent.name}/{p.name}" for p, _, _ in training_sources(tmp_path)]
    assert names == ["photos/a.jpg", "makeup/m.jpg", "non-makeup/7.jpg"]  # no label map for 8, sean_1 is the bench's


def test_a_few_training_steps_resume_and_move_weights(tmp_path, monkeypatch) -> None:
    from engine.training import regen_inpaint as T

    loaded = T.PerceptualLoss.from_local_weights("auto")  # the ImageNet features, loaded once for both runs
    monkeypatch.setattr(T.PerceptualLoss, "from_local_weights", classmethod(lambda cls, kind="auto": loaded))
    faces = [tiny_face(16) for _ in range(2)]
    images, labels = np.stack([f[0] for f in faces]), np.stack([f[1] for f in faces])
    torch.manual_seed(0)
    model, summary = train(images, labels, tmp_path, steps=1, batch=2, width=8, style_dim=8)
    w1 = {k: v.clone() for k, v in model.state_dict().items()}
    assert summary["steps"] == 1 and "efficientnet_lite0" in summary["perceptual"] and summary["side"] == 16
    model, summary = train(images, labels, tmp_path, steps=2, batch=2, width=8, style_dim=8)
    assert summary["steps"] == 2  # resumed from the saved step 1
    assert [(g["from_step"], g["to_step"]) for g in summary["segments"]] == [(0, 1), (1, 2)]
    assert summary["budget_s_total"] >= summary["budget_s"]
    logs = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logs[-1]["step"] == 2 and all(math.isfinite(logs[-1][k]) for k in ("l1_hole", "perceptual", "style"))
    assert any(not torch.equal(v, w1[k]) for k, v in model.state_dict().items())
    g = gram(torch.ones(1, 2, 2, 2))
    assert torch.allclose(g, torch.full((1, 2, 2), 0.5))


def _fabricate(folder, better: bool, measured: bool = True):
    metrics = ({"grow_hair_mae": 30.0, "classical_grow_hair_mae": 27.0, "unfringe_mae": 20.0,
                "classical_unfringe_mae": 16.0} if measured else {})
    return store.save_checkpoint(_net(6), folder / "regen_inpaint", input_size=(16, 16), metrics=metrics,
                                 verdict=Verdict("classical", "test", better))


def test_checkpoint_round_trip_with_its_card(tmp_path) -> None:
    net = _net(7)
    card = _fabricate(tmp_path, better=False)
    back, c = store.load_checkpoint(card, device="cpu")
    assert isinstance(back, RegenInpaintNet) and back.side == 16 and c.kwargs["style_dim"] == 8
    assert c.model == "regen_inpaint" and not c.better
    img = torch.rand(1, 3, 16, 16) * 2 - 1
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., 5:9, :] = 1
    seg = one_hot(torch.randint(0, 19, (1, 16, 16)))
    torch.manual_seed(6)
    ref = RegenInpaintNet(**TINY).eval()
    with torch.no_grad():
        assert torch.equal(back(img, hole, seg), ref(img, hole, seg))
        assert not torch.equal(back(img, hole, seg), net(img, hole, seg))
    assert describe_card(c) == ("measured worse on the benchmark's ground-truth bands (error, SSIM and texture — 1 = "
                                "the photo's — all count): grow hair MAE 30.0 vs classical 27.0; un-fringe MAE 20.0 "
                                "vs classical 16.0")
    unmeasured = _fabricate(tmp_path / "new", better=False, measured=False)
    assert "not measured yet" in describe_card(store.load_checkpoint(unmeasured, device="cpu")[1])


def test_auto_falls_back_when_the_card_says_worse(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(store, "checkpoint_roots", lambda: [tmp_path / "none"])
    assert resolve_backend("auto")[0] == "classical" and "regen-inpaint" in resolve_backend("auto")[1]
    with pytest.raises(ValueError, match="not available"):
        resolve_backend("neural")
    worse, better = tmp_path / "worse", tmp_path / "better"
    _fabricate(worse, better=False)
    _fabricate(better, better=True)
    forget_learned()
    monkeypatch.setattr(store, "checkpoint_roots", lambda: [worse])
    backend, why = resolve_backend("auto")
    assert backend == "classical" and "measured worse" in why and "27.0" in why
    assert "measured worse" in RegenerateEditor().resolution.reason and "MAE 30.0" in learned_summary()
    assert resolve_backend("neural")[0] == "neural"  # asked for explicitly, it still runs
    forget_learned()
    monkeypatch.setattr(store, "checkpoint_roots", lambda: [better])
    assert resolve_backend("auto")[0] == "neural" and RegenerateEditor().backend == "neural"


def test_the_editor_runs_the_learned_engine_on_the_contract(tmp_path, monkeypatch) -> None:
    _fabricate(tmp_path, better=False)
    monkeypatch.setattr(store, "checkpoint_roots", lambda: [tmp_path])
    loads: list = []
    real = store.load_checkpoint
    monkeypatch.setattr(store, "load_checkpoint", lambda *a, **k: loads.append(a) or real(*a, **k))
    img, lab = tiny_face(48)
    ed = RegenerateEditor(backend="neural")
    assert loads == []  # building an editor reads the card only
    ed.set_image(img, labels=lab)
    same = ed.edit(RegenerateParams(lab.copy()))
    assert np.array_equal(same.image, img) and same.info["backend"] == "neural"
    edited = _beard(lab)
    strokes = np.zeros(lab.shape, bool)
    strokes[10:13, 20:28] = True
    res = ed.edit(RegenerateParams(edited, painted=strokes))
    hole = (edited != lab) | strokes
    assert len(loads) == 1 and res.info["backend"] == "neural" and res.info["device"] == str(select_device().device)
    assert np.array_equal(res.image[~hole], img[~hole]) and np.any(res.image[strokes] != img[strokes])
    auto = RegenerateEditor()  # the card says worse: auto runs classical and says why
    auto.set_image(img, labels=lab)
    r2 = auto.edit(RegenerateParams(edited))
    assert r2.info["backend"] == "classical" and "measured worse" in r2.info["note"]


def test_a_corrupt_checkpoint_falls_back_on_auto_and_fails_in_one_line_when_asked(tmp_path, monkeypatch) -> None:
    card = _fabricate(tmp_path, better=True)
    weights = card.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-8:] = bytes(255 - v for v in data[-8:])
    weights.write_bytes(bytes(data))
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(tmp_path))  # searched before the project's checkpoints
    img, lab = tiny_face(32)
    ed = RegenerateEditor()
    assert ed.resolution.learned  # the card alone says better; the hash is checked when loading
    ed.set_image(img, labels=lab)
    res = ed.edit(RegenerateParams(_beard(lab)))
    assert res.info["backend"] == "classical" and "hash" in res.info["note"]
    forget_learned()
    neural = RegenerateEditor("neural")
    neural.set_image(img, labels=lab)
    with pytest.raises(ValueError, match="cannot be loaded") as exc:
        neural.edit(RegenerateParams(_beard(lab)))
    assert "\n" not in str(exc.value)


def test_the_bench_writes_its_numbers_and_verdict_into_the_card(tmp_path) -> None:
    from bench.regenerate_learned import verdict, write_card

    card = _fabricate(tmp_path, better=True, measured=False)
    weights = card.with_suffix(".safetensors").read_bytes()
    row = {"mae": 20.0, "ssim": 0.5, "texture_ratio": 0.7}
    test = {"learned": row, "learned_no_seam": row, "learned_labels_only": row, "classical": {**row, "mae": 18.0},
            "telea": row, "faces": 3}
    doc = {"grow_hair": test, "unfringe": test, "identity_vs_input_learned": {"identity_distance": 0.1}}
    doc["better"] = verdict(doc)
    assert doc["better"] is False
    write_card(card, doc)
    net, c = store.load_checkpoint(card, device="cpu")  # still valid against its weights
    assert not c.better and c.metrics["grow_hair_mae"] == 20.0 and c.metrics["classical_unfringe_mae"] == 18.0
    assert c.metrics["identity_distance"] == 0.1 and card.with_suffix(".safetensors").read_bytes() == weights
    assert "measured worse" in describe_card(c) and "texture 0.70 vs 0.70" in describe_card(c)



def test_regenerate_cli_engine_choice(tmp_path, monkeypatch, capsys) -> None:
    from skimage import data

    from engine.cli import main
    from engine.imageio import load_image, save_image

    img = data.astronaut()[:320, 64:384]
    src = save_image(tmp_path / "a.png", img)
    monkeypatch.setattr(store, "checkpoint_roots", lambda: [tmp_path / "none"])
    assert main(["regenerate", str(src), "--edits", "dilate:hair:6", "--out", str(tmp_path / "x.png"),
                 "--engine", "learned"]) != 0  # no checkpoint: one line, nothing written
    assert "not available" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
    _fabricate(tmp_path / "ck", better=False)
    monkeypatch.setattr(store, "checkpoint_roots", lambda: [tmp_path / "ck"])
    forget_learned()
    for engine, ran in (("learned", "neural"), ("auto", "classical")):
        out = tmp_path / f"{engine}.png"
        assert main(["regenerate", str(src), "--edits", "dilate:hair:6", "--out", str(out), "--engine", engine]) == 0
        assert f", {ran}) →" in capsys.readouterr().out and load_image(out).shape == img.shape
