"""Makeup GAN: shapes, mask control, invariant loss, one training step, checkpoint, backend rule, editor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage import data

from engine.models.makeup_gan import GAN_REGIONS, MakeupCritic, MakeupGenerator, region_vector
from engine.nn.losses import gradient_penalty
from engine.studios.base import forget_learned
from engine.studios.makeup.editor import MakeupEditor
from engine.studios.makeup.learned import BACKEND
from engine.studios.makeup.params import MakeupParams, load_styles
from engine.training.makeup import SUBSETS, crop_boxes, invariant_l1, is_better, mask_boxes, train
from engine.weights.store import load_checkpoint, save_checkpoint


def _tiny() -> MakeupGenerator:
    torch.manual_seed(0)
    return MakeupGenerator(num_styles=3, num_aux=2, width=4, n_down=2, n_res=1)


def test_forward_shapes_and_condition_layout():
    g = _tiny()
    cond = g.condition(torch.tensor([2, 0]), torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0]]), torch.tensor([0, 1]),
                       torch.tensor([1, 1]))
    assert cond.shape == (2, 3 + 2 + 4 + 2)
    assert cond[0, :3].tolist() == [0, 0, 1] and cond[0, 3:5].tolist() == [0, 0]  # style slice valid
    assert cond[1, :3].tolist() == [0, 0, 0] and cond[1, 3:5].tolist() == [0, 1]  # aux slice valid
    with torch.no_grad():
        out, logits = g(torch.rand(2, 3, 32, 32), cond)
    assert out.shape == (2, 3, 32, 32) and logits.shape == (2, 4, 32, 32)
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    score, cls = MakeupCritic(width=4, depth=3, num_classes=5)(torch.rand(2, 3, 16, 16))
    assert score.shape == (2, 1, 2, 2) and cls.shape == (2, 5)
    with pytest.raises(ValueError, match="multiple of 4"):
        g(torch.rand(1, 3, 30, 30), cond[:1])


def test_no_region_selected_returns_the_input_exactly():
    g = _tiny()
    x = torch.rand(2, 3, 16, 16)
    out, _ = g(x, g.condition(torch.tensor([1, 1]), torch.zeros(2, 4), torch.tensor([0, 0])))
    assert torch.equal(out, x)


def test_invariant_l1_is_zero_only_when_the_outside_is_unchanged():
    x = torch.rand(1, 3, 8, 8)
    sel = torch.zeros(1, 8, 8)
    sel[:, 2:5, 2:5] = 1
    inside_only = x.clone()
    inside_only[:, :, 2:5, 2:5] += 0.5
    assert float(invariant_l1(inside_only, x, sel)) == 0.0
    outside = x.clone()
    outside[:, :, 0, 0] += 0.3
    assert float(invariant_l1(outside, x, sel)) == pytest.approx(0.3 * 3 / (3 * (64 - 9)))


def test_boxes_crops_and_gradient_penalty():
    m = torch.zeros(1, 16, 16)
    m[0, 4:8, 8:12] = 1
    box = mask_boxes(m, margin=0.0)
    assert box[0].tolist() == pytest.approx([0.0, -0.5, 0.5, 0.0])
    img = torch.zeros(1, 1, 16, 16)
    img[0, 0, 4:8, 8:12] = 1
    assert float(crop_boxes(img, box, 4).mean()) == pytest.approx(1.0)
    gp = gradient_penalty(MakeupCritic(width=4, depth=2), torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    assert torch.isfinite(gp) and gp.requires_grad
    with pytest.raises(ValueError, match="brows"):
        region_vector(["lips", "brows"])


def _fake_data(n: int = 4, k: int = 2, s: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    masks = np.zeros((n, k, 4, s, s), np.uint8)
    masks[..., 4:12, 4:12] = 200
    return {"crops": rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8),
            "targets": rng.integers(0, 255, (n, k, len(SUBSETS), s, s, 3), dtype=np.uint8),
            "changed": np.broadcast_to(masks[:, :, :1] > 0, (n, k, len(SUBSETS), s, s)).copy(),
            "masks": masks, "is_mt": np.array([0, 0, 1, 1]), "aux": np.array([-1, -1, 1, 0]),
            "styles": np.array(["a", "b"])}


def test_one_training_step_is_finite_and_resumes(tmp_path):
    g, summary = train(_fake_data(), tmp_path, steps=1, batch=2, width=4)
    assert summary["steps"] == 1 and isinstance(g, MakeupGenerator)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 1
    assert all(np.isfinite(v) for k, v in log[-1].items())
    assert (tmp_path / "state" / "critic_local.safetensors").is_file()
    _, summary = train(_fake_data(), tmp_path, steps=2, batch=2, width=4)  # resumes at step 1
    assert summary["steps"] == 2
    assert [json.loads(x)["step"] for x in (tmp_path / "log.jsonl").read_text().splitlines()] == [1, 2]


def test_checkpoint_round_trip(tmp_path):
    g = _tiny().eval()
    card = save_checkpoint(g, tmp_path / "makeup_gan_g", task="makeup", input_size=(32, 32),
                           extra={"styles": ["a", "b", "c"], "better_than_classical": False})
    g2, c = load_checkpoint(card, device="cpu")
    x = torch.rand(1, 3, 32, 32)
    cond = g.condition(torch.tensor([1]), torch.tensor([[1, 1, 0, 0]]), torch.tensor([0]))
    with torch.no_grad():
        assert torch.equal(g(x, cond)[0], g2(x, cond)[0])
    assert c.kwargs["width"] == 4 and c.input_size == (32, 32)


def _card(tmp_path, better: bool):
    g = MakeupGenerator(num_styles=6, width=4, n_res=1)
    return save_checkpoint(g, tmp_path / f"gan_{better}", input_size=(32, 32),
                           extra={"styles": list(load_styles(include_user_dir=False))[:6],
                                  "better_than_classical": better},
                           metrics={"learned_ssim_to_classical": 0.9, "learned_ssim_input": 0.95,
                                    "classical_ssim_input": 0.96})


def test_auto_uses_the_gan_only_when_its_card_marks_it_better(tmp_path):
    worse, better = _card(tmp_path, False), _card(tmp_path, True)
    r = BACKEND.resolve("auto", worse)
    assert r.backend == "classical" and r.available and "did not measure better" in r.reason
    assert "SSIM to input 0.9500 vs classical 0.9600" in r.reason
    r = BACKEND.resolve("auto", better)
    assert (r.backend, r.path) == ("neural", better)
    assert BACKEND.resolve("neural", worse).backend == "neural"  # explicit request: runs even if not better
    assert BACKEND.resolve("classical", better).backend == "classical"
    missing = tmp_path / "none.json"
    assert not BACKEND.resolve("auto", missing).available
    with pytest.raises(ValueError, match="not available"):
        BACKEND.resolve("neural", missing)
    with pytest.raises(ValueError, match="not available"):
        MakeupEditor("neural", checkpoint=missing, styles={})
    assert BACKEND.resolve("auto", missing).backend == "classical"
    ok = {"learned_invariant_exact": 1.0, "learned_ssim_input": 0.97, "classical_ssim_input": 0.96,
          "learned_ssim_to_classical": 0.99, "learned_kid": 0.01, "classical_kid": 0.02}
    assert is_better(ok)
    assert not is_better({k: v for k, v in ok.items() if "kid" not in k})  # no realism measurement
    assert not is_better({**ok, "learned_kid": 0.03})
    assert not is_better({**ok, "learned_invariant_exact": 0.99})


@pytest.fixture(scope="module")
def analyzer():
    from engine.faces import FaceAnalyzer

    return FaceAnalyzer()


@pytest.fixture(scope="module")
def astro_editor(analyzer):
    ed = MakeupEditor("classical", analyzer=analyzer, styles=load_styles(include_user_dir=False))
    ed.set_image(data.astronaut())
    return ed


def _flip_weights(card) -> None:
    """Corrupt a checkpoint's weights file (its card's sha256 no longer matches)."""
    weights = card.with_suffix(".safetensors")
    raw = bytearray(weights.read_bytes())
    raw[-8:] = bytes(255 - v for v in raw[-8:])
    weights.write_bytes(bytes(raw))


def test_constructing_and_resolving_loads_no_model(tmp_path, monkeypatch, analyzer):
    import engine.weights.store as store
    from engine.device import select_device

    better = _card(tmp_path, True)
    loads: list = []
    real = store.load_checkpoint
    monkeypatch.setattr(store, "load_checkpoint", lambda *a, **k: loads.append(a) or real(*a, **k))
    styles = load_styles(include_user_dir=False)
    ed = MakeupEditor("auto", analyzer=analyzer, styles=styles, checkpoint=better)
    MakeupEditor("neural", analyzer=analyzer, styles=styles, checkpoint=better)
    assert ed.resolution.learned and ed.backend == "neural" and "measured better" in ed.backend_reason
    assert loads == []  # the GUI thread builds editors and asks what runs: cards only
    ed.set_image(data.astronaut())
    first = list(styles)[0]
    res = ed.edit(MakeupParams({"lips": first}))  # the worker's first learned edit loads the GAN, once
    ed.edit(MakeupParams({"lips": first}, intensity=0.5))
    gan_loads = [a for a in loads if "face_parser" not in str(a[0])]  # (the analysis may load the face parser)
    assert len(gan_loads) == 1 and res.info["backend"] == "neural" and res.info["method"] == "makeup-gan"
    assert res.info["device"] == str(select_device().device)


def test_corrupt_override_falls_back_on_auto_and_fails_in_one_line_when_asked(tmp_path, monkeypatch, analyzer):
    override = tmp_path / "override"
    card = _card(override, True)
    _flip_weights(card)
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(override))  # searched before the project's checkpoints
    styles = load_styles(include_user_dir=False)
    first = list(styles)[0]
    ed = MakeupEditor("auto", analyzer=analyzer, styles=styles)
    assert ed.resolution.learned and ed.resolution.path == card  # the card alone says better
    ed.set_image(data.astronaut())
    res = ed.edit(MakeupParams({"lips": first}))
    assert res.info["backend"] == "classical" and res.info["method"] == "cielab-regions"
    assert res.info["device"] == "cpu" and "hash" in res.info["note"]
    assert res.info["note"].startswith("the classical renderer")
    assert res.masks["changed"].any()
    forget_learned()
    neural = MakeupEditor("neural", analyzer=analyzer, styles=styles)
    neural.set_image(data.astronaut())
    with pytest.raises(ValueError, match="cannot be loaded") as exc:
        neural.edit(MakeupParams({"lips": first}))
    assert "\n" not in str(exc.value) and "hash" in str(exc.value)
    forget_learned()


def test_neural_path_keeps_pixels_outside_the_regions_bit_identical(astro_editor):
    ed = astro_editor
    styles = list(ed.styles)[:6]
    torch.manual_seed(1)
    ed.use_model(MakeupGenerator(num_styles=6, width=4, n_res=1), styles, 32)
    img = ed.image
    res = ed.edit(MakeupParams({"lips": styles[0], "eyeshadow": styles[1]}))
    assert res.info["backend"] == "neural" and res.info["method"] == "makeup-gan"
    changed = res.masks["changed"]
    assert changed.any() and np.array_equal(res.image[~changed], img[~changed])
    assert (res.masks["lips"] > 0).sum() > 50
    assert not np.array_equal(res.image, img)
    zero = ed.edit(MakeupParams({"lips": styles[0]}, intensity=0.0))
    assert np.array_equal(zero.image, img)
    with pytest.raises(ValueError, match="no eyeliner region"):
        ed.edit(MakeupParams({"eyeliner": styles[0]}))
    assert set(GAN_REGIONS) == {"lips", "eyeshadow", "cheek", "base"}
