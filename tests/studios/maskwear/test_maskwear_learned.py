"""Learned mask refiner: model shapes, STN warp, WGAN-div, training loop (logs, resume),
checkpoint round trip, refiner integration and the auto rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

import engine.studios.maskwear.classical as mw
from engine.device import select_device
from engine.errors import LearnedBackendError
from engine.models.maskwear_stn import (
    MaskWearDiscriminator,
    MaskWearGenerator,
    matrix_to_params,
    params_to_matrix,
    warp_rgba,
)
from engine.nn.losses import wgan_div_penalty
from engine.studios.maskwear.editor import MaskWearEditor, put_mask
from engine.studios.maskwear.learned import CROP, MASK_REFINER, LearnedRefiner, method_resolution
from engine.studios.maskwear.params import MaskWearParams
from engine.training.maskwear import (
    is_better,
    jitter_recovery,
    prepare_faces,
    train,
)
from engine.weights.card import Verdict
from engine.weights.store import load_checkpoint, save_checkpoint


def test_shapes_and_zero_start() -> None:
    g = MaskWearGenerator(width=8)
    d = MaskWearDiscriminator(width=8)
    x = torch.randn(2, 7, CROP, CROP)
    assert torch.equal(g(x), torch.zeros(2, 8))  # untrained = the key-point fit
    assert d(torch.randn(2, 3, CROP, CROP)).shape == (2, 1, 5, 5)
    g(x).sum().backward()
    assert g.head.weight.grad is not None and g.head.weight.grad.abs().sum() > 0


def test_homography_params_round_trip_and_identity_warp() -> None:
    h = torch.tensor([[[1.1, 0.1, 0.05], [-0.05, 0.9, 0.02], [0.01, 0.02, 1.0]]])
    assert torch.allclose(params_to_matrix(matrix_to_params(h * 2)), h, atol=1e-6)
    tmpl = torch.rand(1, 4, 32, 32)
    out = warp_rgba(tmpl, torch.eye(3)[None], 32)
    assert torch.allclose(out, tmpl, atol=1e-5)


def test_wgan_div_penalty_is_differentiable() -> None:
    d = MaskWearDiscriminator(width=8)
    pen = wgan_div_penalty(d, torch.rand(2, 3, CROP, CROP), torch.rand(2, 3, CROP, CROP))
    assert pen.item() >= 0
    pen.backward()
    assert any(p.grad is not None for p in d.parameters())


@pytest.fixture(scope="module")
def tiny_data():
    img = data.astronaut()
    import tempfile

    from engine.imageio import save_image

    folder = Path(tempfile.mkdtemp())
    save_image(folder / "a.png", img)
    save_image(folder / "b.png", np.ascontiguousarray(img[:, ::-1]))
    clean, targets = prepare_faces(sorted(folder.glob("*.png")), with_targets=True)
    assert clean.shape == (2, CROP, CROP, 3) and targets.shape == (2, 6, 2)
    clean = np.concatenate([clean, clean])
    targets = np.concatenate([targets, targets])
    real = np.random.default_rng(0).integers(0, 255, (8, CROP, CROP, 3), dtype=np.uint8)
    return {"clean": clean, "targets": targets, "real": real}


def test_training_logs_resumes_and_round_trips(tiny_data, tmp_path: Path) -> None:
    g, summary = train(tiny_data, tmp_path / "run", steps=3, batch=4, width=8)
    assert summary["steps"] == 3 and summary["adversarial"]
    state = json.loads((tmp_path / "run" / "state" / "state.json").read_text())
    assert state["step"] == 3
    g2, summary2 = train(tiny_data, tmp_path / "run", steps=5, batch=4, width=8)  # resumes at 3
    lines = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [3, 5] and all("pull" in r for r in lines)
    card = save_checkpoint(g2, tmp_path / "ck" / "maskwear_stn_g", task="test", training_data="test",
                           licence="test", metrics={"x": 1.0}, extra={"better_than_keypoint": False})
    loaded, c = load_checkpoint(card, device="cpu")
    x = torch.rand(1, 7, CROP, CROP)
    with torch.no_grad():
        assert torch.allclose(loaded(x), g2.eval()(x), atol=1e-6)
    assert c.extra["better_than_keypoint"] is False
    rec = jitter_recovery(g2, tiny_data["clean"], tiny_data["targets"], trials=4)
    assert rec["anchor_error_px_before"] > 0


def test_untrained_refiner_keeps_the_keypoint_fit() -> None:
    from engine.faces import FaceAnalyzer
    from engine.procedural.mask_templates import get_template

    img = data.astronaut()
    face = FaceAnalyzer().analyze(img, parse=False).faces[0]
    kp = mw.face_targets(face)
    refined = LearnedRefiner(MaskWearGenerator(width=8)).refine(img, face, get_template("surgical-blue"), kp)
    assert np.abs(refined - kp).max() < 1e-2  # a zero residual leaves the key-point targets in place


def test_auto_and_learned_without_checkpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(MASK_REFINER, "roots", [tmp_path])
    r = method_resolution("auto")
    assert r.backend == "classical" and "no trained" in r.reason and "masquerade train maskwear-stn" in r.reason
    assert method_resolution("keypoint").reason == "the key-point fit requested"
    with pytest.raises(LearnedBackendError, match="not available"):
        method_resolution("learned")
    with pytest.raises(ValueError, match="method must be"):
        method_resolution("best")


def _save_refiner(folder: Path, better: bool | None) -> Path:
    verdict = None if better is None else Verdict("keypoint", "test measure", better)
    return save_checkpoint(MaskWearGenerator(width=8), folder / "maskwear_stn_g", task="t", training_data="t",
                           licence="t", metrics={"coverage_nose": 0.8, "keypoint_coverage_nose": 0.75},
                           verdict=verdict)


def test_auto_uses_only_a_refiner_measured_better(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for better in (False, True):
        folder = tmp_path / str(better)
        _save_refiner(folder, better)
        monkeypatch.setattr(MASK_REFINER, "roots", [folder])
        r = method_resolution("auto")
        assert r.backend == ("neural" if better else "classical")
        assert "nose coverage 0.800 vs key-point 0.750" in r.reason
        assert method_resolution("learned").backend == "neural"
        assert method_resolution("keypoint").backend == "classical"


def test_older_card_flag_is_read_as_the_verdict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    save_checkpoint(MaskWearGenerator(width=8), tmp_path / "maskwear_stn_g", task="t", training_data="t",
                    licence="t", extra={"better_than_keypoint": True})
    monkeypatch.setattr(MASK_REFINER, "roots", [tmp_path])
    r = method_resolution("auto")
    assert r.learned and r.card is not None and r.card.verdict is not None
    assert r.card.verdict.compared_with == "keypoint"


@pytest.fixture(scope="module")
def astro_faces():
    from engine.faces import FaceAnalyzer

    img = data.astronaut()
    return img, FaceAnalyzer().analyze(img, parse=False).faces


def _flip_bytes(card: Path) -> None:
    """Corrupt the weights in place (same size: only the hash check at load time notices)."""
    weights = card.with_suffix(".safetensors")
    raw = bytearray(weights.read_bytes())
    raw[-8:] = bytes(b ^ 0xFF for b in raw[-8:])
    weights.write_bytes(bytes(raw))


def test_editor_reports_what_runs_and_where(astro_faces, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    img, faces = astro_faces
    _save_refiner(tmp_path, True)
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(tmp_path))
    ed = MaskWearEditor()
    ed.set_image(img)
    assert ed.resolution.learned and ed.backend == "neural"
    res = ed.edit(MaskWearParams(method="keypoint"))
    assert res.info["backend"] == "classical" and res.info["method"] == "keypoint" and res.info["device"] == "cpu"
    assert ed.backend == "classical"  # the latest edit's method
    res = ed.edit(MaskWearParams(method="auto"))
    assert res.info["backend"] == "neural" and res.info["method"] == "learned"
    assert res.info["device"] == str(select_device().device)
    assert "measured better" in res.info["method_reason"] and ed.backend == "neural"
    # an untrained (zero-residual) refiner leaves the key-point fit where it was
    assert np.allclose(res.info["anchors"], ed.edit(MaskWearParams(method="keypoint")).info["anchors"], atol=1e-2)
    assert MaskWearEditor("classical").resolution.backend == "classical"
    assert MaskWearEditor("classical").resolution_for("learned").backend == "neural"


def test_corrupt_override_falls_back_to_the_keypoint_fit(astro_faces, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    img, faces = astro_faces
    _flip_bytes(_save_refiner(tmp_path, True))
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(tmp_path))
    ed = MaskWearEditor()
    assert ed.backend == "neural"  # the card alone says better; the hash is checked when loading
    ed.set_image(img)
    res = ed.edit(MaskWearParams())
    assert res.info["backend"] == "classical" and res.info["method"] == "keypoint"
    assert "hash" in res.info["method_reason"] and "\n" not in res.info["method_reason"]
    assert ed.backend == "classical" and "hash" in ed.resolution.reason  # remembered: no second load
    keypoint, _, _ = put_mask(img, faces, MaskWearParams(method="keypoint"))
    assert np.array_equal(put_mask(img, faces, MaskWearParams())[0], keypoint)
    with pytest.raises(LearnedBackendError) as exc:
        put_mask(img, faces, MaskWearParams(method="learned"))
    assert "hash" in str(exc.value) and "\n" not in str(exc.value)


def test_editor_construction_loads_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import engine.weights.store as store

    _save_refiner(tmp_path, True)
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(tmp_path))
    loads: list[Path] = []
    monkeypatch.setattr(store, "load_checkpoint", lambda path, *a, **k: loads.append(Path(path)))
    for backend in ("auto", "neural", "classical"):
        ed = MaskWearEditor(backend)
        _ = ed.resolution, ed.backend, ed.resolution_for("learned")
    assert loads == []


def test_is_better_rule() -> None:
    kp = {"lips": 1.0, "nose": 0.75, "eyes": 0.0}
    assert is_better({"lips": 1.0, "nose": 0.8, "eyes": 0.0}, kp)
    assert not is_better({"lips": 1.0, "nose": 0.755, "eyes": 0.0}, kp)
    assert not is_better({"lips": 0.9, "nose": 0.9, "eyes": 0.0}, kp)
    assert not is_better({"lips": 1.0, "nose": 0.9, "eyes": 0.05}, kp)
    # the neck: within 5 % and not above the key-point fit's by more than 0.005
    kpn = {**kp, "neck": 0.02}
    assert is_better({"lips": 1.0, "nose": 0.8, "eyes": 0.0, "neck": 0.024}, kpn)
    assert not is_better({"lips": 1.0, "nose": 0.8, "eyes": 0.0, "neck": 0.03}, kpn)
    assert not is_better({"lips": 1.0, "nose": 0.8, "eyes": 0.0, "neck": 0.06}, {**kp, "neck": 0.07})


def test_eval_only_rewrites_coverage_and_verdict_not_the_weights(tmp_path: Path, monkeypatch) -> None:
    import argparse

    from engine.training import maskwear as T

    card = save_checkpoint(MaskWearGenerator(width=8), tmp_path / "maskwear_stn_g", task="t", training_data="t",
                           metrics={"coverage_nose": 0.9, "anchor_error_px_after": 4.0},
                           verdict=Verdict("keypoint", "old", True), extra={"better_than_keypoint": True})
    weights = card.with_suffix(".safetensors").read_bytes()
    seen: list = []

    def fake_coverage(parsing_dir, refiner, *a, **k):
        seen.append(refiner)
        if refiner is None:
            return {"lips": 1.0, "nose": 0.77, "eyes": 0.0, "neck": 0.02}
        return {"lips": 1.0, "nose": 0.78, "eyes": 0.0, "neck": 0.02}  # +0.01 nose: not better

    monkeypatch.setattr(T, "coverage", fake_coverage)
    args = argparse.Namespace(data=str(tmp_path), out=str(tmp_path / "maskwear_stn_g"), eval_only=True)
    assert T.main(args) == 0
    doc = json.loads(card.read_text())
    assert seen[0] is None and isinstance(seen[1], LearnedRefiner)
    assert doc["verdict"]["better"] is False and doc["extra"]["better_than_keypoint"] is False
    assert doc["metrics"]["coverage_nose"] == 0.78 and doc["metrics"]["keypoint_coverage_neck"] == 0.02
    assert doc["metrics"]["anchor_error_px_after"] == 4.0 and "eval-only" in doc["extra"]["re_evaluated"]
    assert card.with_suffix(".safetensors").read_bytes() == weights
    load_checkpoint(card, device="cpu")  # the card still validates against its weights
