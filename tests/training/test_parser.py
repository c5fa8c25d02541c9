"""The learned face parser: label order, flips, the prior, the loss, checkpoint + card, auto's fallback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from engine.errors import CheckpointError
from engine.faces.learned_parsing import resolve_parser
from engine.labels import CELEBAMASK_HQ
from engine.models.parser import NUM_CLASSES, FaceParserNet
from engine.training.parser import (
    FLIP_PERMUTATION,
    PAIRS,
    SOURCES,
    XIQU_PLAIN_TO_OFFICIAL,
    absorb_mask,
    augment,
    convert_labels,
    flip_sample,
    holdout_sources,
    marginal_cross_entropy,
    source_of,
    verdict_of,
)
from engine.weights.card import Verdict
from engine.weights.store import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks on a shared 2-core machine


def tiny(seed: int = 0) -> FaceParserNet:
    """A small random parser whose correction head is not zero (so the network's output matters)."""
    torch.manual_seed(seed)
    net = FaceParserNet(width=32, prior_width=4)
    torch.nn.init.normal_(net.head.weight, std=0.5)
    return net.eval()


def test_shapes_and_label_order() -> None:
    assert NUM_CLASSES == len(CELEBAMASK_HQ) == 19
    out = tiny()(torch.rand(2, 3, 32, 32), torch.randint(0, 19, (2, 32, 32)))
    assert out.shape == (2, 19, 32, 32)
    for a, b in PAIRS:  # the swapped pairs are the person's left / right of the same part
        la, lb = CELEBAMASK_HQ.classes[a], CELEBAMASK_HQ.classes[b]
        assert la.startswith("l_") and lb.startswith("r_") and la[2:] == lb[2:]
    # each source's conversion lands on the official names
    xiqu = ["background", "r_eye", "r_brow", "l_ear", "skin", "r_ear", "l_eye", "l_brow", "nose", "u_lip",
            "neck", "mouth", "hair", "l_lip"]  # the README's Xiqu portrait code (teeth = mouth)
    got = convert_labels(np.arange(14, dtype=np.uint8)[None], "xiqu_plain")[0]
    assert [CELEBAMASK_HQ.classes[v] for v in got] == xiqu
    assert XIQU_PLAIN_TO_OFFICIAL.dtype == np.uint8
    bis = convert_labels(np.array([[2, 17, 18]], np.uint8), "bisenet")[0]
    assert [CELEBAMASK_HQ.classes[v] for v in bis] == ["l_brow", "hair", "hat"]
    # unannotated classes are absorbed by background, annotated ones are not
    mt = absorb_mask(source_of("mt"))
    assert mt[0] and mt[CELEBAMASK_HQ.index("cloth")] and not mt[CELEBAMASK_HQ.index("neck")]
    assert absorb_mask(SOURCES[0]).sum() == 1


def _record(size: int = 80) -> dict:
    """A crop whose person's-left eye (l_eye) lies on the image's right half, marked in the photo."""
    image = np.full((size, size, 3), 90, np.uint8)
    truth = np.ones((size, size), np.uint8)
    truth[30:40, 50:62] = 4   # l_eye, image right
    truth[30:40, 18:30] = 5   # r_eye, image left
    image[truth == 4] = (250, 20, 20)
    image[truth == 5] = (20, 20, 250)
    return {"image": image, "prior": truth.copy(), "truth": truth}


def test_horizontal_flip_swaps_left_and_right() -> None:
    rec = _record()
    img, prior, truth = flip_sample(rec["image"], rec["prior"], rec["truth"])
    assert (FLIP_PERMUTATION[[4, 5, 6, 7, 8, 9, 1]] == [5, 4, 7, 6, 9, 8, 1]).all()
    for lab in (prior, truth):
        assert np.argwhere(lab == 4)[:, 1].mean() > 40 > np.argwhere(lab == 5)[:, 1].mean()
    # the red eye moved to the image's left and is now labelled r_eye
    assert (img[truth == 5][:, 0] > 200).mean() > 0.9
    # through the whole augmentation (flips half the time): l_eye always stays on the image's right
    flips = 0
    for seed in range(12):
        img, prior, truth = augment(rec, 64, np.random.default_rng(seed))
        lx, rx = np.argwhere(truth == 4)[:, 1], np.argwhere(truth == 5)[:, 1]
        if len(lx) and len(rx):
            assert lx.mean() > 32 > rx.mean()
        red = (img[..., 0] > 170) & (img[..., 2] < 120)
        flips += int(np.argwhere(red)[:, 1].mean() < 32) if red.any() else 0
    assert 0 < flips < 12  # some samples were flipped, some not


def test_prior_channel_is_used() -> None:
    net = tiny()
    img = torch.rand(1, 3, 32, 32)
    onehot = net.one_hot(torch.randint(0, 19, (1, 32, 32)))
    with torch.no_grad():
        a = net.correction(img, onehot)
        b = net.correction(img, torch.zeros_like(onehot))
        full_a, full_b = net(img, onehot), net(img, torch.zeros_like(onehot))
    assert (a - b).abs().max() > 1e-3  # the decoder reads the prior, not only the logit gain
    assert (full_a - full_b).abs().max() > 1e-3
    # an untrained correction (zero head) reproduces the prior exactly
    fresh = tiny()
    torch.nn.init.zeros_(fresh.head.weight)
    prior = torch.randint(0, 19, (1, 32, 32))
    with torch.no_grad():
        assert torch.equal(fresh(img, prior).argmax(1), prior)


def test_background_may_stand_for_unannotated_classes() -> None:
    logits = torch.zeros(1, 19, 4, 4)
    logits[:, CELEBAMASK_HQ.index("cloth")] = 6.0  # the net says cloth everywhere
    truth = torch.zeros(1, 4, 4, dtype=torch.long)  # the source says background
    mt = torch.from_numpy(absorb_mask(source_of("mt")))[None]
    full = torch.from_numpy(absorb_mask(source_of("celebamask")))[None]
    assert marginal_cross_entropy(logits, truth, mt) < 0.1  # MT does not label cloth: no penalty
    assert marginal_cross_entropy(logits, truth, full) > 5.0  # CelebAMask-HQ does
    hat = torch.zeros(1, 19, 4, 4)
    hat[:, CELEBAMASK_HQ.index("hat")] = 6.0  # ... but MT's portraits are bare-headed: a hat there is wrong
    assert marginal_cross_entropy(hat, truth, mt) > 3.0
    ignored = torch.full_like(truth, 255)
    assert marginal_cross_entropy(logits, ignored, full) == 0.0


def _save(net: FaceParserNet, folder: Path, better: bool) -> Path:
    return save_checkpoint(net.half(), folder / "face_parser", task="faces", input_size=(64, 64),
                           label_scheme="celebamask_hq", extra={"crop_scale": 1.0, "steps": 1},
                           verdict=Verdict("geometric", "test", better))


def test_checkpoint_round_trip_with_card(tmp_path: Path) -> None:
    net = tiny()
    img, prior = torch.rand(1, 3, 32, 32), torch.randint(0, 19, (1, 32, 32))
    with torch.no_grad():
        ref = net.half().float()(img, prior)
    card_path = _save(net, tmp_path, better=True)
    model, card = load_checkpoint(card_path, device="cpu")
    assert isinstance(model, FaceParserNet) and card.model == "face_parser"
    assert card.input_size == (64, 64) and card.label_scheme == "celebamask_hq" and card.better
    assert card.weights_size < 8_000_000
    with torch.no_grad():
        out = model.float()(img, prior)
    assert torch.allclose(out, ref, atol=1e-3)


def test_frozen_stages_and_learning_rate_of_a_run(tmp_path: Path) -> None:
    """``--frozen-stages N``: the stem and the encoder's first N stages get no gradient, every later
    stage does; the card's kwargs keep N; a fold resumed with another N or ``--lr`` is refused (both
    are in its training.json); out of range is refused in one line."""
    import argparse

    import engine.training.parser as P

    torch.manual_seed(0)
    net = FaceParserNet(width=32, prior_width=4, frozen_stages=1)
    torch.nn.init.normal_(net.head.weight, std=0.5)
    net.train()
    net(torch.rand(2, 3, 64, 64), torch.randint(0, 19, (2, 64, 64))).logsumexp(1).mean().backward()
    ends = net.encoder.stage_ends
    stage_of = [next(s for s, e in enumerate(ends) if b <= e) for b in range(len(net.encoder._blocks))]
    for b, block in enumerate(net.encoder._blocks):
        got = [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in block.parameters()]
        assert all(got) if stage_of[b] >= 1 else not any(got), (b, stage_of[b])
    assert all(p.grad is None for p in net.encoder._conv_stem.parameters())
    model, card = load_checkpoint(_save(net.eval(), tmp_path, better=True), device="cpu")
    assert card.kwargs["frozen_stages"] == 1 and isinstance(model, FaceParserNet) and model.frozen_stages == 1
    with pytest.raises(ValueError, match="frozen_stages"):
        FaceParserNet(width=32, frozen_stages=8)
    args = argparse.Namespace(width=32, frozen_stages=1)
    assert P.new_model(args).frozen_stages == 1
    assert P._training_config(args)["frozen_stages"] == 1
    # the defaults are not written, so folds trained before the options were recorded still resume
    assert P._training_config(argparse.Namespace(width=32, lr=1e-3)) == {"skin_tone_aug": 0.0, "pseudo_labels": None}
    assert P._training_config(argparse.Namespace(width=32, lr=3e-3))["lr"] == 3e-3
    args = argparse.Namespace(keep_mesh_classes="", frozen_stages=8, data=str(tmp_path))
    with pytest.raises(SystemExit, match="--frozen-stages must be 0-7"):
        P.main(args)
    args = argparse.Namespace(keep_mesh_classes="", lr=0.0, data=str(tmp_path))
    with pytest.raises(SystemExit, match="--lr must be above 0"):
        P.main(args)


def test_auto_follows_the_verdict(tmp_path: Path) -> None:
    empty = tmp_path / "none"
    empty.mkdir()
    assert not resolve_parser("auto", roots=[empty]).learned
    with pytest.raises(CheckpointError, match="not available"):
        resolve_parser("learned", roots=[empty])
    worse = tmp_path / "worse"
    _save(tiny(), worse, better=False)
    pick = resolve_parser("auto", roots=[worse])
    assert not pick.learned and "did not measure better" in pick.reason
    assert resolve_parser("learned", roots=[worse]).learned  # an explicit request still runs it
    assert not resolve_parser("geometric", roots=[worse]).learned
    better = tmp_path / "better"
    _save(tiny(), better, better=True)
    assert resolve_parser("auto", roots=[better]).learned


def test_verdict_rule() -> None:
    def table(geo: float, learned: float, false_extra: float) -> dict:
        return {"mt": {"photos": 1, "geometric": {"miou": geo, "false_extra_share": 0.0},
                       "learned": {"miou": learned, "false_extra_share": false_extra}}}

    pool = {"geometric": {"hair": 0.5, "neck": 0.6}, "learned": {"hair": 0.7, "neck": 0.6}}
    assert verdict_of(table(0.6, 0.7, 0.0), pool)[0]
    assert not verdict_of(table(0.7, 0.6, 0.0), pool)[0]  # lower mIoU
    assert not verdict_of(table(0.6, 0.7, 0.02), pool)[0]  # paints hats where the source has none
    worse = {"geometric": {"hair": 0.5, "neck": 0.6}, "learned": {"hair": 0.9, "neck": 0.5}}
    better, facts = verdict_of(table(0.6, 0.7, 0.0), worse)
    assert not better and facts["classes_clearly_worse"] == {"neck": -0.1}


def test_holdout_source_names(tmp_path: Path, capsys) -> None:
    from engine.cli import main

    assert holdout_sources("all") == [s.name for s in SOURCES]
    assert holdout_sources(" mt , xiqu_plain") == ["mt", "xiqu_plain"]
    with pytest.raises(ValueError, match="unknown source"):
        holdout_sources("mt,celeba")
    # a wrong name is a one-line error before anything is cached or trained
    run = tmp_path / "run"
    assert main(["train", "parser", "--data", str(tmp_path), "--run-dir", str(run), "--holdout-source", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("masquerade: error: --holdout-source") and "\n" not in err
    assert not run.exists()


def test_holdout_trains_without_the_held_out_source(tmp_path: Path, monkeypatch) -> None:
    import argparse
    import json

    import engine.training.parser as P

    items = [P.Item(s.name, tmp_path / f"{s.name}{i}.jpg", tmp_path / f"{s.name}{i}.png", s.convert)
             for s in SOURCES for i in range(2)]
    records = [{"index": i} for i in range(len(items))]
    trained_on: dict[str, set[str]] = {}

    def fake_train(rt: Any, recs: Any, its: Any, out_dir: Path, args: Any) -> tuple[FaceParserNet, dict]:
        trained_on[out_dir.name] = {its[int(r["index"])].source for r in recs}
        return tiny(), {"steps": args.steps}

    def fake_eval(model: Any, recs: Any, its: Any, size: int, sink: dict, scale: float, shift: float,
                  keep: Any = (), mirrored: bool = False, edge: float = 0.0, guard: float = 1.0, hat: bool = False,
                  bounded: Any = ()) -> dict:
        for r in recs:
            src = its[int(r["index"])].source
            for eng, hit in (("geometric", 1.0), ("learned", 2.0)):
                d = sink.setdefault(f"{src}/{eng}", P._counts())
                d["inter"][1] += hit
                d["union"][1] += 4.0
                d["n"] += 1.0
        return {}

    monkeypatch.setattr(P, "train_one", fake_train)
    monkeypatch.setattr(P, "evaluate", fake_eval)
    rt = P.Runtime.create("cpu", False)
    args = argparse.Namespace(holdout_source="all", steps=3, size=32, batch=1, width=32, lr=1e-3, seed=0)
    assert P._run_holdout(rt, records, items, args, tmp_path) == 0
    for s in SOURCES:
        assert trained_on[f"holdout_{s.name}"] == {o.name for o in SOURCES} - {s.name}
    doc = json.loads((tmp_path / "holdout.json").read_text())
    assert set(doc["holdout"]) == {s.name for s in SOURCES}
    assert doc["holdout"]["mt"]["photos"] == 2 and doc["holdout"]["mt"]["learned"]["per_class_iou"]["skin"] == 0.5
    assert doc["mean_source_miou"] == {"geometric": 0.25, "learned": 0.5}
    # finished sources are not trained again (resume)
    trained_on.clear()
    assert P._run_holdout(rt, records, items, args, tmp_path) == 0
    assert trained_on == {}


def test_a_stopped_training_resumes(tmp_path: Path, monkeypatch) -> None:
    import argparse

    import engine.training.parser as P

    monkeypatch.setattr(P, "load_imagenet_encoder", lambda model: "none (test)")
    rec = dict(_record(), index=0)
    items = [P.Item("celebamask", tmp_path / "a.jpg", tmp_path / "a.png", "official")]
    rt = P.Runtime.create("cpu", False)
    args = argparse.Namespace(width=32, prior_gain=4.0, lr=1e-3, seed=0, steps=2, batch=2, size=64, time_limit=None)
    _, facts = P.train_one(rt, [rec], items, tmp_path / "run", args)
    assert facts["steps"] == 2
    args.steps = 3  # a longer plan: the saved optimizer state is loaded (weights only) and training goes on
    _, facts = P.train_one(rt, [rec], items, tmp_path / "run", args)
    assert facts["steps"] == 3


def test_each_batch_takes_its_labelled_crops_plus_one_hair_photo(tmp_path: Path, monkeypatch) -> None:
    """The hair photos come on top of ``--batch`` labelled crops (the labelled photos are seen as often
    as without them), HAIR_PER_BATCH of them per step."""
    import argparse

    import engine.training.parser as P

    monkeypatch.setattr(P, "load_imagenet_encoder", lambda model: "none (test)")
    items = [P.Item("celebamask", tmp_path / "a.jpg", tmp_path / "a.png", "official"),
             P.Item("mt", tmp_path / "b.jpg", tmp_path / "b.png", "official"),
             P.Item("hair_photos", tmp_path / "h.jpg", None, "official")]
    records = [dict(_record(), index=i) for i in range(3)]
    records[2] = P.hair_truths([records[2]])[0]
    seen: list[list[str]] = []
    real_batch = P.batch_tensors

    def spy(samples: Any, absorbs: Any, device: Any) -> Any:
        seen.append(["hair" if a[1] else "labelled" for a in absorbs])  # only the hair photos leave skin unlabelled
        return real_batch(samples, absorbs, device)

    monkeypatch.setattr(P, "batch_tensors", spy)
    args = argparse.Namespace(width=32, prior_gain=4.0, lr=1e-3, seed=0, steps=3, batch=2, size=64, time_limit=None)
    P.train_one(P.Runtime.create("cpu", False), records, items, tmp_path / "run", args)
    assert len(seen) == 3 and all(len(b) == 2 + P.HAIR_PER_BATCH for b in seen)
    assert all(b.count("labelled") == 2 for b in seen)


def test_folds_scored_one_way_are_not_mixed_with_another(tmp_path: Path, monkeypatch) -> None:
    """A finished fold keeps how it was scored (scoring.json): resuming with another --mirror-tta,
    --edge-refine, --face-guard or --extend-hat is refused in one line instead of mixing two ways of scoring;
    --rescore scores it again; a radius or a share out of range is refused."""
    import argparse

    import engine.training.parser as P

    items = [P.Item("mt", tmp_path / f"mt{i}.jpg", tmp_path / f"mt{i}.png", "mt") for i in range(4)]
    records = [{"index": i} for i in range(len(items))]
    scored_mirrored: list[bool] = []
    scored_edge: list[float] = []
    scored_guard: list[float] = []
    scored_hat: list[bool] = []
    scored_bounded: list[tuple[int, ...]] = []

    def fake_train(rt: Any, recs: Any, its: Any, out_dir: Path, args: Any) -> tuple[FaceParserNet, dict]:
        import safetensors.torch

        model = tiny()
        (out_dir / "state").mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file(model.state_dict(), str(out_dir / "state" / "parser.safetensors"))
        return model, {"steps": args.steps}

    def fake_eval(model: Any, recs: Any, its: Any, size: int, sink: dict, scale: float, shift: float,
                  keep: Any = (), mirrored: bool = False, edge: float = 0.0, guard: float = 1.0, hat: bool = False,
                  bounded: Any = ()) -> dict:
        scored_mirrored.append(mirrored)
        scored_edge.append(edge)
        scored_guard.append(guard)
        scored_hat.append(hat)
        scored_bounded.append(tuple(bounded))
        d = sink.setdefault("mt/learned", P._counts())
        d["n"] += 1.0
        return {}

    monkeypatch.setattr(P, "train_one", fake_train)
    monkeypatch.setattr(P, "evaluate", fake_eval)
    monkeypatch.setattr(P, "FaceParserNet", lambda **kw: tiny())
    rt = P.Runtime.create("cpu", False)
    args = argparse.Namespace(folds=2, seed=0, steps=1, size=32, width=32, mirror_tta=False, keep_mesh_classes="",
                              face_guard=1.0, extend_hat=False)
    P._run_folds(rt, records, items, args, tmp_path)
    assert scored_mirrored == [False, False]
    # written as before --edge-refine, --face-guard and --extend-hat existed, so folds scored then still resume
    assert json.loads((tmp_path / "fold0" / "scoring.json").read_text()) == {"mirror_tta": False,
                                                                            "keep_mesh_classes": []}
    P._run_folds(rt, records, items, args, tmp_path)  # the same scoring resumes without scoring again
    assert scored_mirrored == [False, False]
    args.mirror_tta = True
    with pytest.raises(SystemExit, match="--rescore"):
        P._run_folds(rt, records, items, args, tmp_path)
    args.rescore = True
    P._run_folds(rt, records, items, args, tmp_path)
    assert scored_mirrored == [False, False, True, True]
    del args.rescore
    P._run_folds(rt, records, items, args, tmp_path)  # now scored mirrored: resumes as it is
    assert len(scored_mirrored) == 4
    args.edge_refine = 1.0
    with pytest.raises(SystemExit, match="--edge-refine"):
        P._run_folds(rt, records, items, args, tmp_path)
    args.rescore = True
    P._run_folds(rt, records, items, args, tmp_path)
    assert scored_edge == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert json.loads((tmp_path / "fold0" / "scoring.json").read_text())["edge_refine"] == 1.0
    args.edge_refine = 9.0
    with pytest.raises(SystemExit, match="--edge-refine must be a radius"):
        P._run_folds(rt, records, items, args, tmp_path)
    args.edge_refine = 1.0
    del args.rescore, args.face_guard  # the guard's default is on: these folds were scored without it
    with pytest.raises(SystemExit, match="--face-guard"):
        P._run_folds(rt, records, items, args, tmp_path)
    args.rescore = True
    P._run_folds(rt, records, items, args, tmp_path)
    assert scored_guard == [1.0] * 6 + [P.FACE_GUARD] * 2
    assert json.loads((tmp_path / "fold0" / "scoring.json").read_text())["face_guard"] == P.FACE_GUARD
    args.face_guard = 0.0
    with pytest.raises(SystemExit, match="--face-guard must be a share"):
        P._run_folds(rt, records, items, args, tmp_path)
    del args.rescore, args.face_guard, args.extend_hat  # on by default
    with pytest.raises(SystemExit, match="--extend-hat"):
        P._run_folds(rt, records, items, args, tmp_path)
    args.rescore = True
    P._run_folds(rt, records, items, args, tmp_path)
    assert scored_hat == [False] * 8 + [True] * 2
    assert json.loads((tmp_path / "fold0" / "scoring.json").read_text())["extend_hat"] is True
    del args.rescore
    args.mesh_bounded_classes = "l_eye,r_eye"
    with pytest.raises(SystemExit, match="--mesh-bounded-classes"):
        P._run_folds(rt, records, items, args, tmp_path)
    args.rescore = True
    P._run_folds(rt, records, items, args, tmp_path)
    assert scored_bounded == [()] * 10 + [(4, 5)] * 2
    assert json.loads((tmp_path / "fold0" / "scoring.json").read_text())["mesh_bounded_classes"] == ["l_eye", "r_eye"]


def test_pseudo_truths_keep_the_confident_centre_only() -> None:
    """A teacher's labels on the product's crop (the cached crop's centre), confident pixels only;
    the mesh's kept classes are never the teacher's pick, are put back and count; the margin and the feathered border carry no
    supervision (there the prior's gain alone would pass the threshold)."""
    import engine.training.parser as P
    from engine.faces.learned_parsing import BANNED_LOGIT, FEATHER, feather_mask, first_argmax

    rec = _record(80)
    rec["prior"][50:56, 30:50] = CELEBAMASK_HQ.index("u_lip")
    teacher = tiny(3)
    size, o = 64, 8
    lips = (CELEBAMASK_HQ.index("u_lip"),)
    [every] = P.pseudo_truths(teacher, [rec], size, keep=lips, min_prob=0.0)
    assert every["truth"].shape == (80, 80) and (every["image"] == rec["image"]).all()
    inner = np.zeros((80, 80), bool)
    inner[o:o + size, o:o + size] = feather_mask(size, FEATHER) >= 1 - 1e-6
    assert 0.5 < inner.sum() / size**2 < 0.95
    assert (every["truth"][~inner] == P.IGNORE).all() and (every["truth"][inner] != P.IGNORE).all()
    # the centre is the product's arg-max of feathered correction + prior gain
    with torch.no_grad():
        image = torch.from_numpy(rec["image"][o:o + size, o:o + size].copy()).permute(2, 0, 1)[None].float() / 255
        prior = torch.from_numpy(rec["prior"][o:o + size, o:o + size].copy()).long()[None]
        fade = torch.from_numpy(feather_mask(size, FEATHER))
        logits = teacher.correction(image, teacher.one_hot(prior))[0] * fade
        logits[list(lips)] -= BANNED_LOGIT * fade  # the teacher may not pick a kept class, as in the product
        logits = logits + teacher.prior_logits(teacher.one_hot(prior))[0]
    want = first_argmax(logits).numpy().astype(np.uint8)
    got = every["truth"][o:o + size, o:o + size]
    mine = rec["prior"][o:o + size, o:o + size] == lips[0]
    centre = inner[o:o + size, o:o + size]
    other = ~mine & (want != lips[0]) & centre
    assert (got[mine & centre] == lips[0]).all() and (got[other] == want[other]).all()
    # nothing is sure enough: only pixels the mesh's classes decided stay supervised, as the prior says
    [none] = P.pseudo_truths(teacher, [rec], size, keep=lips, min_prob=1.01)
    sure = none["truth"] != P.IGNORE
    assert sure.sum() == (((want == lips[0]) != mine) & centre).sum()
    assert (none["truth"][sure] == rec["prior"][sure]).all()
    # a crop cached for another parser size is resampled to this one's first
    big = {k: cv2.resize(v, (100, 100), interpolation=cv2.INTER_NEAREST) for k, v in rec.items()}
    [resized] = P.pseudo_truths(teacher, [big], size, keep=lips, min_prob=0.0)
    assert resized["image"].shape[:2] == resized["prior"].shape == resized["truth"].shape == (80, 80)
    assert (resized["truth"][inner] != P.IGNORE).all()


def test_unlabelled_photos_are_listed_without_their_label_maps(tmp_path: Path) -> None:
    import engine.training.parser as P

    d = tmp_path / "faces" / "photos"
    d.mkdir(parents=True)
    for name in ("a.jpg", "a.png", "b.png", "c.jpg", "notes.txt"):
        (d / name).write_bytes(b"x")
    items = P.list_unlabelled(tmp_path, ["faces/photos"])
    assert [it.photo.name for it in items] == ["a.jpg", "b.png", "c.jpg"]
    assert {it.source for it in items} == {"pseudo"} and all(it.labels is None for it in items)
    assert (P.read_truth(items[0], (3, 4, 3)) == P.IGNORE).all()
    with pytest.raises(ValueError, match="no labels"):
        P.read_truth(items[0])


def _recording_trainer(trained: dict[str, list[int]], source: str, check: Any) -> Any:
    """A stand-in for ``train_one`` that records each run's records (by index, under its folder's
    name) and checks the truth of every record of ``source``."""

    def fake_train(rt: Any, recs: Any, its: Any, out_dir: Path, args: Any) -> tuple[FaceParserNet, dict]:
        out_dir.mkdir(parents=True, exist_ok=True)
        trained[out_dir.name] = sorted(int(r["index"]) for r in recs)
        for r in recs:
            if its[int(r["index"])].source == source:
                check(r["truth"])
        return tiny(), {"steps": args.steps}

    return fake_train


def test_each_fold_is_pseudo_labelled_by_its_own_teacher(tmp_path: Path, monkeypatch) -> None:
    """Fold k trains on the unlabelled photos labelled by the teacher run's fold k (which never saw
    fold k's held-out photos); unlabelled photos are never held out or scored."""
    import argparse

    import engine.training.parser as P

    items = [P.Item("mt", tmp_path / f"mt{i}.jpg", tmp_path / f"mt{i}.png", "official") for i in range(4)]
    items += [P.Item("pseudo", tmp_path / f"u{i}.jpg", None, "official") for i in range(2)]
    records = [dict(_record(80), index=i) for i in range(len(items))]
    teachers: list[str] = []
    trained: dict[str, list[int]] = {}
    tested: list[int] = []

    def pseudo_truth(truth: np.ndarray) -> None:
        assert (truth[:8] == P.IGNORE).all() and (truth != P.IGNORE).any()

    fake_train = _recording_trainer(trained, "pseudo", pseudo_truth)

    def fake_eval(model: Any, recs: Any, its: Any, size: int, sink: dict, scale: float, shift: float,
                  keep: Any = (), mirrored: bool = False, edge: float = 0.0, guard: float = 1.0, hat: bool = False,
                  bounded: Any = ()) -> dict:
        tested.extend(int(r["index"]) for r in recs)
        d = sink.setdefault("mt/learned", P._counts())
        d["n"] += 1.0
        return {}

    def fake_teacher(path: Path, args: Any) -> FaceParserNet:
        teachers.append(path.parent.parent.name)
        return tiny()

    monkeypatch.setattr(P, "train_one", fake_train)
    monkeypatch.setattr(P, "evaluate", fake_eval)
    monkeypatch.setattr(P, "load_teacher", fake_teacher)
    rt = P.Runtime.create("cpu", False)
    teacher = tmp_path / "teacher"
    args = argparse.Namespace(folds=2, seed=0, steps=1, size=64, width=32, mirror_tta=False, keep_mesh_classes="",
                              pseudo_teacher=str(teacher), pseudo_min_prob=0.0)
    fold_of = P.folds_for(items, 2, 0)
    for k in range(2):  # the teacher run's folds held out the same photos
        (teacher / f"fold{k}").mkdir(parents=True)
        held = P.held_out_names(items, [r for r in records[:4] if fold_of[int(r["index"])] == k])
        (teacher / f"fold{k}" / "facts.json").write_text(json.dumps({"held_out": held}))
        (teacher / f"fold{k}" / "result.npz").write_bytes(b"")  # finished
    P._run_folds(rt, records, items, args, tmp_path / "run")
    assert teachers == ["fold0", "fold1"]
    assert sorted(tested) == [0, 1, 2, 3]
    for k in range(2):
        assert trained[f"fold{k}"] == sorted([i for i in range(4) if fold_of[i] != k] + [4, 5])
    # a finished run resumed with other training options is refused, not mixed
    args.skin_tone_aug = 0.3
    with pytest.raises(SystemExit, match="--skin-tone-aug"):
        P._run_folds(rt, records, items, args, tmp_path / "run")
    # a teacher fold that held out other photos has seen this fold's test photos: refused
    del args.skin_tone_aug
    (teacher / "fold0" / "facts.json").write_text(json.dumps({"held_out": ["mt/mt0.jpg"]}))
    with pytest.raises(SystemExit, match="held out other photos"):
        P._run_folds(rt, records, items, args, tmp_path / "run2")


def test_hair_photos_train_hair_not_hat_and_each_fold_holds_a_third_out(tmp_path: Path, monkeypatch) -> None:
    """``--hair-photos``: the eroded geometric hair is the only label (hair; a hat there is wrong),
    each fold trains on the hair photos of the other folds, the labelled photos keep the folds they
    had without them, and nothing else (hold-out, rescore) takes the option."""
    import argparse

    import engine.training.parser as P

    hair, hat = CELEBAMASK_HQ.index("hair"), CELEBAMASK_HQ.index("hat")
    rec = _record(80)
    rec["prior"][:] = 0
    rec["prior"][10:40, 20:60] = hair
    rec["image"][:] = (70, 50, 35)  # dark brown
    rec["image"][14:20, 30:40] = (40, 90, 200)  # a blue cap's pixels: no label (neither hair nor hat)
    [labelled] = P.hair_truths([rec])
    inside = np.zeros((80, 80), bool)
    inside[10 + P.HAIR_ERODE:40 - P.HAIR_ERODE, 20 + P.HAIR_ERODE:60 - P.HAIR_ERODE] = True
    inside[14:20, 30:40] = False
    assert (labelled["truth"][inside] == hair).all() and (labelled["truth"][~inside] == P.IGNORE).all()
    # the loss of a hair-photo pixel: hair is right, hat is wrong, and nothing else absorbs it
    ab = torch.from_numpy(absorb_mask(P.HAIR_PHOTOS))[None]
    truth = torch.full((1, 1, 1), hair)
    as_hat, as_hair = torch.zeros(1, 19, 1, 1), torch.zeros(1, 19, 1, 1)
    as_hat[0, hat], as_hair[0, hair] = 5.0, 5.0
    assert marginal_cross_entropy(as_hat, truth, ab) > marginal_cross_entropy(as_hair, truth, ab) + 4.0
    assert not absorb_mask(P.HAIR_PHOTOS)[hat]  # an occluder's "background" there is not a hat either

    items = [P.Item("mt", tmp_path / f"mt{i}.jpg", tmp_path / f"mt{i}.png", "official") for i in range(4)]
    before = P.folds_for(items, 2, 0)
    items += [P.Item("hair_photos", tmp_path / f"h{i}.jpg", None, "official") for i in range(4)]
    fold_of = P.folds_for(items, 2, 0)
    assert fold_of[:4] == before and sorted(fold_of[4:]) == [0, 0, 1, 1]
    records = [dict(rec, index=i) for i in range(len(items))]
    trained: dict[str, list[int]] = {}
    tested: list[int] = []

    def hair_truth(truth: np.ndarray) -> None:
        assert set(np.unique(truth).tolist()) == {hair, P.IGNORE}

    fake_train = _recording_trainer(trained, "hair_photos", hair_truth)

    def fake_eval(model: Any, recs: Any, its: Any, size: int, sink: dict, *a: Any, **k: Any) -> dict:
        tested.extend(int(r["index"]) for r in recs)
        sink.setdefault("mt/learned", P._counts())["n"] += 1.0
        return {}

    monkeypatch.setattr(P, "train_one", fake_train)
    monkeypatch.setattr(P, "evaluate", fake_eval)
    args = argparse.Namespace(folds=2, seed=0, steps=1, size=64, width=32, mirror_tta=False, keep_mesh_classes="",
                              hair_photos="maskwear/real_masked")
    P._run_folds(P.Runtime.create("cpu", False), records, items, args, tmp_path / "run")
    assert sorted(tested) == [0, 1, 2, 3]  # hair photos are never scored as labelled ones
    for k in range(2):
        assert trained[f"fold{k}"] == [i for i in range(8) if fold_of[i] != k]
        facts = json.loads((tmp_path / "run" / f"fold{k}" / "facts.json").read_text())
        assert facts["hair_photos"]["photos"] == 2 and len(facts["hair_held_out"]) == 2
    assert json.loads((tmp_path / "run" / "fold0" / "training.json").read_text())["hair_photos"]["folders"] == [
        "maskwear/real_masked"]
    for other in ({"holdout_source": "mt"}, {"eval_only": True}):
        bad = argparse.Namespace(**{"eval_only": False, "hair_photos": "faces/photos", **other})
        with pytest.raises(SystemExit, match="--hair-photos"):
            P.unlabelled_items(tmp_path, bad)
    # a rescore trains nothing: the option only names how the folds were trained (their training.json)
    rescore = argparse.Namespace(eval_only=False, hair_photos="faces/fotos", rescore=True)
    assert P.unlabelled_items(tmp_path, rescore) == []
    assert P._training_config(rescore)["hair_photos"]["folders"] == ["faces/fotos"]
    with pytest.raises(SystemExit, match="--hair-photos: no folder"):
        P.unlabelled_items(tmp_path, argparse.Namespace(eval_only=False, hair_photos="faces/fotos"))


def test_an_unfinished_or_missing_teacher_is_refused(tmp_path: Path) -> None:
    import argparse

    import engine.training.parser as P

    args = argparse.Namespace(width=32, prior_gain=4.0)
    state = tmp_path / "fold0" / "state"
    state.mkdir(parents=True)
    with pytest.raises(SystemExit, match="no "):
        P.load_teacher(state / "parser.safetensors", args)
    import safetensors.torch

    safetensors.torch.save_file(FaceParserNet(width=32).state_dict(), str(state / "parser.safetensors"))
    with pytest.raises(SystemExit, match="not finished"):
        P.check_teacher_fold(tmp_path / "fold0", [])
    (tmp_path / "fold0" / "result.npz").write_bytes(b"")
    P.check_teacher_fold(tmp_path / "fold0", [])
    assert isinstance(P.load_teacher(state / "parser.safetensors", args), FaceParserNet)
    with pytest.raises(SystemExit, match="no folder"):
        P.list_unlabelled(tmp_path, ["faces/fotos"])


def test_pooled_priors_equal_adaptive_pooling() -> None:
    """The prior's decoder levels pooled one from another are the adaptive pooling of the prior
    itself: exactly for one-hot maps (sides that divide or not), within rounding for soft maps."""
    import torch.nn.functional as F

    from engine.models.parser import pooled_priors

    gen = torch.Generator().manual_seed(0)
    for side, sizes in ((160, [(80, 80), (40, 40), (20, 20), (10, 10), (5, 5)]),
                        (161, [(81, 81), (41, 41), (21, 21), (11, 11), (6, 6)]),
                        (64, [(64, 64), (32, 16), (16, 8)]),
                        (140, [(70, 70), (35, 35), (18, 18), (9, 9), (5, 5)]),  # a level that does not divide
                        (10, [(4, 4), (2, 2)])):
        onehot = FaceParserNet.one_hot(torch.randint(0, NUM_CLASSES, (2, side, side), generator=gen))
        for got, size in zip(pooled_priors(onehot, sizes), sizes, strict=True):
            assert torch.equal(got, F.adaptive_avg_pool2d(onehot, size))
    soft = torch.rand(1, NUM_CLASSES, 96, 96, generator=gen)
    for got, size in zip(pooled_priors(soft, [(48, 48), (16, 16), (5, 5)]), [(48, 48), (16, 16), (5, 5)], strict=True):
        assert torch.allclose(got, F.adaptive_avg_pool2d(soft, size), atol=1e-6)


class DrawRecorder:
    """A random generator that records its draws, by name, in order (an option at 0 must draw nothing)."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(1)
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def draw(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return getattr(self.rng, name)(*args, **kwargs)
        return draw


def test_darker_skin_darkens_the_priors_skin_only() -> None:
    import engine.training.parser as P

    rec = _record(80)
    image = np.full((80, 80, 3), 200, np.uint8)
    prior = np.zeros((80, 80), np.uint8)
    prior[20:60, 20:60] = CELEBAMASK_HQ.index("skin")
    prior[35:40, 30:40] = CELEBAMASK_HQ.index("l_eye")
    out = P.darker_skin(image, prior, np.random.default_rng(0))
    assert out[40, 40].max() <= 0.75 * 200 + 1 and out[40, 40, 0] >= out[40, 40, 2]  # darker, warmer
    assert (out[:5, :5] == 200).all() and (out[75:, 75:] == 200).all()  # far from the skin: unchanged
    assert out[37, 35].mean() > out[45, 45].mean()  # the eye stays brighter than the skin around it
    # the option draws nothing at 0 (the same crops as a run without it); any share above 0 draws
    draws = []
    for share in (None, 0.0, 1e-12):
        rec_rng: Any = DrawRecorder()
        P.augment(rec, 64, rec_rng) if share is None else P.augment(rec, 64, rec_rng, skin_tone=share)
        draws.append(rec_rng.calls)
    assert draws[0] == draws[1] and draws[2][:5] == draws[0][:4] + ["random"]  # geometry, flip, then the skin


def test_painted_skin_paints_the_priors_skin_and_keeps_the_lips() -> None:
    """``--paint-aug``: the prior's skin turns a pale stage white or pink with its shading kept; the
    lips, the eyes and what lies far from the skin keep their colours; at 0 nothing is drawn."""
    import engine.training.parser as P

    image = np.zeros((80, 80, 3), np.uint8)
    image[:] = (150, 100, 80)
    image[20:60, 20:40] = (170, 110, 90)  # the lit half of the face
    image[20:60, 40:60] = (110, 70, 55)   # the shaded half
    image[50:55, 35:45] = (200, 30, 40)   # red lips
    prior = np.zeros((80, 80), np.uint8)
    prior[20:60, 20:60] = CELEBAMASK_HQ.index("skin")
    prior[50:55, 35:45] = CELEBAMASK_HQ.index("u_lip")
    prior[30:33, 26:32] = CELEBAMASK_HQ.index("l_eye")
    image[30:33, 26:32] = (20, 20, 20)
    for seed in range(5):
        out = P.painted_skin(image, prior, np.random.default_rng(seed)).astype(int)
        lit, shaded = out[40, 25], out[40, 55]
        assert lit.min() > 190 and lit[0] >= lit[1] >= lit[2] - 13  # pale, not green or blue
        assert lit.mean() > shaded.mean() > 0.5 * lit.mean()  # shading kept, flattened
        assert abs(out[52, 40] - [200, 30, 40]).max() < 25  # the lips keep their red
        assert out[31, 29].mean() < lit.mean() - 80  # the eye stays darker than the paint around it
        assert (out[:5, :5] == (150, 100, 80)).all()  # far from the skin: unchanged
    assert (P.painted_skin(image, np.zeros_like(prior), np.random.default_rng(0)) == image).all()
    rec = _record(80)
    draws = []
    for share in (0.0, 1e-12):
        rec_rng: Any = DrawRecorder()
        P.augment(rec, 64, rec_rng, paint=share)
        draws.append(rec_rng.calls)
    assert draws[1][:5] == draws[0][:4] + ["random"]  # geometry, flip, then the paint's draw
    import argparse
    assert P._training_config(argparse.Namespace(paint_aug=0.3))["paint_aug"] == 0.3
    assert "paint_aug" not in P._training_config(argparse.Namespace(paint_aug=0.0))
    with pytest.raises(SystemExit, match="--paint-aug"):
        P.main(argparse.Namespace(keep_mesh_classes="", paint_aug=1.5, data="."))


def test_a_rescore_keeps_what_the_card_said_before(tmp_path: Path) -> None:
    """``--rescore`` rewrites the card's cross-validation and keeps the previous scoring beside it
    (how it was scored and its numbers), one entry per rescore."""
    import argparse

    import engine.training.parser as P
    from engine.weights.card import read_card

    out = tmp_path / "face_parser"
    save_checkpoint(tiny().half(), out, task="faces", input_size=(32, 32), label_scheme="celebamask_hq",
                    extra={"mirror_tta": True, "keep_mesh_classes": ["u_lip"], "mean_source_miou_learned": 0.70,
                           "cv_pooled_iou": {"learned": {"skin": 0.9}}},
                    verdict=Verdict("geometric", "cv", True))
    args = argparse.Namespace(out=str(out), mirror_tta=True, keep_mesh_classes="u_lip", edge_refine=0.75)
    facts = {"mean_source_miou_geometric": 0.6, "mean_source_miou_learned": 0.72, "classes_clearly_worse": {},
             "sources_with_false_extra_classes": {}}
    pool = {"geometric": {"skin": 0.8}, "learned": {"skin": 0.92}}
    P._rewrite_card(args, {}, pool, facts, True, [])
    card = read_card(out.with_suffix(".json"))
    assert card.extra["edge_refine"] == 0.75 and card.extra["mean_source_miou_learned"] == 0.72
    assert card.extra["face_guard"] == P.FACE_GUARD and card.extra["extend_hat"] is True  # the defaults
    assert card.extra["mesh_bounded_classes"] == []
    assert card.extra["scored_before"] == [{"mirror_tta": True, "keep_mesh_classes": ["u_lip"], "edge_refine": 0.0,
                                            "face_guard": 1.0, "extend_hat": False, "mesh_bounded_classes": [],
                                            "mean_source_miou_learned": 0.70,
                                            "cv_pooled_iou_learned": {"skin": 0.9}}]
    args.edge_refine = 1.0
    P._rewrite_card(args, {}, pool, dict(facts, mean_source_miou_learned=0.73), True, [])
    before = read_card(out.with_suffix(".json")).extra["scored_before"]
    assert [b["edge_refine"] for b in before] == [0.0, 0.75] and before[1]["mean_source_miou_learned"] == 0.72


def test_classes_no_labelled_photo_shows_are_left_to_the_geometric_parser(tmp_path: Path) -> None:
    """``unseen_classes``: official classes without one pixel in any labelled photo's truth (the
    development photos hold no glasses: ``eye_g``); unlabelled photos do not count."""
    from PIL import Image

    import engine.training.parser as P

    a = np.zeros((8, 8), np.uint8)
    a[:4] = 1
    a[0, 0] = 3  # one pixel of glasses is a glasses photo
    b = np.full((8, 8), 13, np.uint8)
    for name, arr in (("a", a), ("b", b)):
        Image.fromarray(arr).save(tmp_path / f"{name}.png")
    items = [P.Item("celebamask", tmp_path / "a.jpg", tmp_path / "a.png", "official"),
             P.Item("celebamask", tmp_path / "b.jpg", tmp_path / "b.png", "official"),
             P.Item("pseudo", tmp_path / "c.jpg", None, "official")]
    unseen = P.unseen_classes(items)
    assert "eye_g" not in unseen and "skin" not in unseen and "hair" not in unseen
    assert {"nose", "neck", "hat", "cloth"} <= set(unseen)
    assert "eye_g" in P.unseen_classes(items[1:])


def test_lovasz_softmax_is_one_minus_iou_at_hard_predictions_and_recorded() -> None:
    """At 0/1 probabilities the Lovász extension is the Jaccard loss itself: the mean over the
    annotated classes the truth shows of ``1 − IoU`` (background and ignored pixels left out); a
    run with ``--lovasz`` records it, so a fold resumed without it is refused."""
    import argparse

    import engine.training.parser as P

    truth = torch.zeros(1, 6, 6, dtype=torch.long)
    truth[0, :3] = 1  # skin: the top half (18 px)
    truth[0, 3:, :2] = 13  # hair: 6 px
    truth[0, 5, 5] = P.IGNORE
    pred = torch.zeros(1, 6, 6, dtype=torch.long)
    pred[0, :4] = 1  # skin: 24 px, 18 of them right
    pred[0, 4:, :1] = 13  # hair: 2 px, both right
    logits = torch.full((1, 19, 6, 6), -50.0).scatter_(1, pred[:, None], 50.0)
    ab = torch.zeros(1, 19, dtype=torch.bool)
    ab[0, 0] = True
    iou_skin, iou_hair = 18 / 24, 2 / 6
    assert float(P.lovasz_softmax(logits, truth, ab)) == pytest.approx(1 - (iou_skin + iou_hair) / 2, abs=1e-5)
    soft = logits.clone().requires_grad_(True)
    P.lovasz_softmax(soft / 20, truth, ab).backward()
    assert soft.grad is not None and soft.grad.abs().sum() > 0
    args = argparse.Namespace(lovasz=0.5)
    assert P._training_config(args)["lovasz"] == 0.5 and "lovasz" not in P._training_config(argparse.Namespace())
    with pytest.raises(SystemExit, match="--lovasz"):
        P._lovasz(argparse.Namespace(lovasz=-1.0))
