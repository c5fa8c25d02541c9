"""``masquerade train cocosnet`` and the StyleGAN2 mode selection, on tiny data (seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.models.stylegan2 import Generator
from engine.training.cocosnet import CoCosData, dev_pairs, evaluate, train
from engine.training.stylegan2 import select_best
from engine.weights.card import read_card
from engine.weights.store import save_checkpoint


def test_data_batches_mix_self_and_cross_pairs() -> None:
    data = CoCosData(32, designs=8, seed=1)
    x, y, r = data.batch(6)
    assert x.shape == (6, 1, 32, 32) and y.shape == (6, 3, 32, 32) and r.shape == (6, 3, 32, 32)
    assert float(x.min()) >= -1 and float(y.max()) <= 1
    s, t, e = data.cross[0]  # cross pair: other design, same palette
    assert s.shape == (32, 32) and not np.array_equal(t, e)


def test_training_lowers_the_loss_and_resumes(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    net, summary = train(tmp_path / "run", size=32, steps=40, batch=4, width=4, designs=8, lr=1e-3)
    logs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert summary["steps"] == 40 and len(logs) == 4
    assert logs[-1]["l1"] < logs[0]["l1"]
    _, again = train(tmp_path / "run", size=32, steps=40, batch=4, width=4, designs=8, lr=1e-3)
    assert again["steps"] == 40  # resumed at the end: nothing more to do
    table = evaluate(net, 32, n_procedural=3)
    for key in ("procedural_self", "procedural_cross"):
        assert 0 < table[key]["neural"] <= 1 and 0 < table[key]["classical"] <= 1 and table[key]["n"] == 3


def test_dev_pairs_hold_out_every_third(tmp_path: Path) -> None:
    from engine.imageio import save_image
    from engine.procedural.lianpu import generate_lianpu

    for i in range(5):
        save_image(tmp_path / f"m{i}.png", generate_lianpu(i, size=96).image[:, 8:90])
    tr, held, tn, hn = dev_pairs(tmp_path, 32)
    assert hn == ["m0.png", "m3.png"] and len(tr) == 3 and tn[0] == "m1.png"
    line, colour = held[0]
    assert line.shape == (32, 32) and colour.shape == (32, 32, 3) and line.min() < 128 < line.max()


def test_cli_train_cocosnet_writes_a_measured_card(tmp_path: Path) -> None:
    out = tmp_path / "cc"
    assert main(["train", "cocosnet", "--out", str(out), "--run-dir", str(tmp_path / "run"), "--size", "64",
                 "--steps", "2", "--batch", "2", "--width", "4", "--designs", "4", "--eval-count", "2",
                 "--eval-size", "64"]) == 0
    card = read_card(out.with_suffix(".json"))
    assert card.model == "cocosnet" and card.extra["steps"] == 2 and card.input_size == (64, 64)
    assert isinstance(card.extra["better_than_classical"], bool)
    assert {"ssim_neural", "ssim_classical", "ssim_cross_neural", "ssim_cross_classical"} <= set(card.metrics)


def test_select_best_ships_lowest_fid_with_the_table(tmp_path: Path) -> None:
    cards = []
    for aug, fid in (("none", 90.0), ("ada", 40.0), ("apa", 60.0)):
        g = Generator(z_dim=8, w_dim=8, img_resolution=8, channel_base=32, channel_max=8, mapping_layers=1)
        cards.append(save_checkpoint(g, tmp_path / aug, metrics={"fid": fid, "kid": fid / 1000},
                                     extra={"aug": aug, "steps": 10, "train_s": 1.0, "extractor": "x"}))
    best = read_card(select_best(cards, tmp_path / "best"))
    assert best.extra["aug"] == "ada" and best.metrics["fid"] == 40.0
    assert [r["aug"] for r in best.extra["comparison"]] == ["none", "ada", "apa"]
    other = save_checkpoint(Generator(z_dim=8, w_dim=8, img_resolution=8, channel_base=32, channel_max=8,
                                      mapping_layers=1), tmp_path / "o", metrics={"fid": 1.0},
                            extra={"aug": "none", "steps": 1, "train_s": 1.0, "extractor": "y"})
    with pytest.raises(ValueError, match="extractors"):
        select_best(cards + [other], tmp_path / "bad")
