"""Learned regenerator (SEAN-style, ``train regen``): shapes, losses, a training step, checkpoints.

The studio's learned engine is now the inpainting network: its backend, auto rule and editor tests
are in ``test_learned_inpaint.py``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import engine.weights.store as store
from engine.labels import CELEBAMASK_HQ
from engine.models.regen import MultiscaleDiscriminator, RegenGenerator, one_hot, region_average
from engine.nn.losses import feature_matching_loss, gan_loss
from engine.studios.base import forget_learned
from engine.training.regen import (
    FLIP_LABELS,
    PerceptualLoss,
    edit_specs,
    is_better,
    split,
    train,
)
from engine.training.regen import pair_r1_penalty as r1_penalty
from testkit import tiny_labelled_face

IDX = CELEBAMASK_HQ.index
TINY = dict(width=8, n_down=2, n_blocks=4, style_dim=8, encoder_width=8, max_width=16, side=16)


def tiny_face(side: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The shared drawn face with its exact label map."""
    return tiny_labelled_face(side, texture=False)


@pytest.fixture(autouse=True)
def fresh_learned_cache():
    forget_learned()
    yield
    forget_learned()


def test_forward_shapes_and_region_codes() -> None:
    torch.manual_seed(0)
    g = RegenGenerator(**TINY)
    seg = one_hot(torch.randint(0, 19, (2, 16, 16)))
    ref = torch.rand(2, 3, 24, 24) * 2 - 1  # the reference may have another size
    ref_seg = one_hot(torch.randint(0, 19, (2, 24, 24)))
    codes = g.encode_style(ref, ref_seg)
    assert codes.shape == (2, 19, 8)
    out = g.render(seg, codes)
    assert out.shape == (2, 3, 16, 16) and out.abs().max() <= 1.0
    assert torch.allclose(g(seg, ref, ref_seg), out)
    d = MultiscaleDiscriminator(width=8, n_layers=2, num_scales=2)
    feats = d(seg, out)
    assert len(feats) == 2 and all(f[-1].shape[1] == 1 for f in feats)
    assert feats[1][-1].shape[-1] < feats[0][-1].shape[-1]  # the second scale sees a halved pair
    with pytest.raises(ValueError, match="multiple of 4"):
        g.render(one_hot(torch.zeros(1, 18, 18, dtype=torch.long)), codes[:1])
    with pytest.raises(ValueError, match="side"):
        RegenGenerator(n_down=3, side=20)


def test_region_average_is_the_mean_inside_each_label() -> None:
    lab = torch.zeros(1, 4, 4, dtype=torch.long)
    lab[0, :2] = 13  # hair on top
    feats = torch.zeros(1, 2, 4, 4)
    feats[0, 0, :2] = 3.0
    feats[0, 1, 2:] = -1.0
    codes, present = region_average(feats, one_hot(lab))
    assert torch.allclose(codes[0, 13], torch.tensor([3.0, 0.0]))
    assert torch.allclose(codes[0, 0], torch.tensor([0.0, -1.0]))
    assert present[0, 13] and present[0, 0] and not present[0, 1]
    assert torch.all(codes[0, 1] == 0)


def test_style_codes_change_only_their_region_style() -> None:
    torch.manual_seed(1)
    g = RegenGenerator(**TINY).eval()
    seg = one_hot(torch.randint(0, 3, (1, 16, 16)))
    codes = torch.randn(1, 19, 8)
    a = g.render(seg, codes)
    other = codes.clone()
    other[0, 5] += 3.0  # r_eye is absent from the map: no effect
    assert torch.allclose(g.render(seg, other), a, atol=1e-6)
    other[0, 1] += 3.0  # skin is present
    assert not torch.allclose(g.render(seg, other), a, atol=1e-4)


def test_losses() -> None:
    big = [[torch.zeros(1), torch.full((1, 1, 2, 2), 5.0)]]
    assert float(gan_loss(big, True, True)) == 0.0  # hinge margin met
    assert float(gan_loss(big, False, True)) == pytest.approx(6.0)
    assert float(gan_loss(big, True, False)) == pytest.approx(-5.0)
    assert float(gan_loss(big, True, True, mode="lsgan")) == pytest.approx(16.0)
    with pytest.raises(ValueError):
        gan_loss(big, True, True, mode="wgan")
    f = [[torch.ones(1, 2, 2, 2), torch.zeros(1, 1, 1, 1)]]
    r = [[torch.zeros(1, 2, 2, 2), torch.zeros(1, 1, 1, 1)]]
    assert float(feature_matching_loss(f, r)) == pytest.approx(1.0)
    d = MultiscaleDiscriminator(width=8, n_layers=2)
    seg, img = one_hot(torch.randint(0, 19, (2, 16, 16))), torch.rand(2, 3, 16, 16)
    pen = r1_penalty(d, seg, img)
    assert torch.isfinite(pen) and float(pen.detach()) > 0
    p = PerceptualLoss(None)
    assert "fallback" in p.kind
    x = torch.rand(1, 3, 16, 16)
    assert float(p(x, x)) == 0.0 and float(p(x, 1 - x)) > 0


def test_one_training_step_is_finite_and_moves_weights(tmp_path) -> None:
    img, lab = tiny_face(32)
    images = np.stack([img, img[:, ::-1]])
    labels = np.stack([lab, FLIP_LABELS[lab[:, ::-1]]])
    torch.manual_seed(0)
    g0 = {k: v.clone() for k, v in RegenGenerator(width=8, n_down=3, style_dim=8, encoder_width=8,
                                                   max_width=64, side=16).state_dict().items()}
    model, summary = train(images, labels, tmp_path, steps=1, batch=2, side=16, width=8, style_dim=8, seed=0)
    assert summary["steps"] == 1 and "efficientnet_lite0" in summary["perceptual"]  # ImageNet features by default
    logs = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logs[-1]["step"] == 1
    for k in ("d_hinge", "g_adv", "fm", "perceptual"):
        assert math.isfinite(logs[-1][k])
    moved = [k for k, v in model.state_dict().items() if k in g0 and v.shape == g0[k].shape and not torch.equal(v, g0[k])]
    assert moved  # the optimiser changed the generator
    assert (tmp_path / "state" / "generator.safetensors").is_file()


def test_checkpoint_round_trip(tmp_path) -> None:
    torch.manual_seed(2)
    g = RegenGenerator(**TINY).eval()
    card = store.save_checkpoint(g, tmp_path / "regen_g", metrics={"recon_psnr_db": 12.0},
                              extra={"better_than_classical": False})
    back, c = store.load_checkpoint(card, device="cpu")
    assert isinstance(back, RegenGenerator) and back.side == 16 and c.kwargs["style_dim"] == 8
    seg = one_hot(torch.randint(0, 19, (1, 16, 16)))
    ref = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(back(seg, ref, seg), g(seg, ref, seg))


def test_split_edit_specs_and_better_rule() -> None:
    tr, held = split(12)
    assert set(tr).isdisjoint(held) and len(tr) + len(held) == 12 and list(held) == [2, 7]
    assert edit_specs(64)["longer hair"] == "dilate:hair:2" and edit_specs(512)["smile"] == "smile:6"
    classical = {"psnr_db": 100.0, "ssim": 1.0, "edit_miou_mean": 0.55}
    assert not is_better({"psnr_db": 14.0, "ssim": 0.4, "edit_miou_mean": 0.7}, classical)
    assert not is_better({"psnr_db": 41.0, "ssim": 0.995, "edit_miou_mean": 0.56}, classical)
    assert is_better({"psnr_db": 41.0, "ssim": 0.995, "edit_miou_mean": 0.6}, classical)
    assert not is_better({"psnr_db": 41.0, "ssim": 0.995, "edit_miou_mean": None}, classical)
    # flipping twice restores labels; l/r pairs swap
    assert np.array_equal(FLIP_LABELS[FLIP_LABELS], np.arange(19))
    assert FLIP_LABELS[IDX("l_eye")] == IDX("r_eye")


def test_eval_only_rewrites_the_card_numbers_not_the_weights(tmp_path, monkeypatch) -> None:
    import argparse

    from engine.training import regen as T

    torch.manual_seed(4)
    card = store.save_checkpoint(RegenGenerator(**TINY), tmp_path / "regen_g", input_size=(16, 16),
                              metrics={"edit_miou": 0.2}, extra={"better_than_classical": False, "fid": "note"})
    weights = card.with_suffix(".safetensors").read_bytes()
    faces = [tiny_face(32) for _ in range(6)]
    seen: dict = {}
    monkeypatch.setattr(T, "build_dataset", lambda root, cache: {
        "images": np.stack([f[0] for f in faces]), "labels": np.stack([f[1] for f in faces])})

    def fake_compare(model, images, labels):
        seen["shape"] = images.shape
        return {"edit_miou": 0.3, "classical_edit_miou": 0.6, "parser_ceiling_miou": 0.7}, {"better_than_classical": False,
                                                                 "learned_eval": {"psnr_db": 15.0},
                                                                 "classical_eval": {"psnr_db": 100.0}}

    monkeypatch.setattr(T, "compare", fake_compare)
    args = argparse.Namespace(data=str(tmp_path), out=str(tmp_path / "regen_g"), run_dir=str(tmp_path / "run"),
                              threads=1, eval_only=True)
    assert T.main(args) == 0
    doc = json.loads(card.read_text())
    assert seen["shape"] == (1, 16, 16, 3)  # the held-out face (third of six), resized to the card's side
    assert doc["metrics"] == {"edit_miou": 0.3, "classical_edit_miou": 0.6, "parser_ceiling_miou": 0.7}
    assert doc["extra"]["fid"] == "note" and doc["extra"]["learned_eval"] == {"psnr_db": 15.0}
    assert "eval-only" in doc["extra"]["re_evaluated"]
    assert card.with_suffix(".safetensors").read_bytes() == weights
    store.load_checkpoint(card, device="cpu")  # the card still validates against its weights
