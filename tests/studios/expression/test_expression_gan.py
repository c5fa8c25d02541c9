"""Learned expression backend: GAN shapes, attention identity, losses, train step, checkpoint round
trip, the studio's learned path and the auto rule on fabricated cards (tiny sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.device import select_device
from engine.models.expression_gan import (
    LABELS,
    ExpressionClassifier,
    ExpressionDiscriminator,
    ExpressionGenerator,
    MappingNetwork,
    label_vector,
)
from engine.nn.losses import contextual_loss, gradient_penalty, soft_cross_entropy
from engine.procedural.anime_faces import generate_anime_face
from engine.training.expression import (
    build_dataset,
    evaluate,
    is_better,
    train_classifier,
    train_gan,
)
from engine.weights.card import Verdict
from engine.weights.store import load_checkpoint, save_checkpoint

S = 32


def _tiny_g() -> ExpressionGenerator:
    return ExpressionGenerator(width=4, code_dim=16, mapping_layers=9, attention_width=4)


def test_shapes_mapping_and_label_vector() -> None:
    torch.manual_seed(0)
    g = _tiny_g()
    assert len([m for m in g.mapping.net if isinstance(m, torch.nn.Linear)]) == 9
    f = MappingNetwork(width=512)
    assert f.net[0].out_features == 512  # the paper's default width
    with torch.no_grad():  # the label must survive 9 layers at init (PyTorch's default init fades it ~1000×)
        gap = (f(label_vector([1, 0, 0, 0])[None]) - f(label_vector([0, 0, 1, 0])[None])).abs().mean()
    assert float(gap) > 0.05
    x = torch.rand(2, 3, S, S) * 2 - 1
    c = torch.stack([label_vector([1, 0, 0, 0]), label_vector([0, 0.3, 0.4, 0])])
    y_star, y, m = g(x, c)
    assert y_star.shape == y.shape == (2, 3, S, S) and m.shape == (2, 1, S, S)
    assert float(m.detach().min()) >= 0 and float(m.detach().max()) <= 1
    d = ExpressionDiscriminator(image_size=S, width=4, depth=3)
    patch, logits = d(y_star)
    assert patch.shape == (2, 1, 4, 4) and logits.shape == (2, len(LABELS))
    assert ExpressionClassifier(width=4, image_size=S)(x).shape == (2, len(LABELS))
    np.testing.assert_allclose(label_vector([0, 0.3, 0.4, 0]).numpy(), [0, 0.3, 0.4, 0, 0.3], atol=1e-6)
    np.testing.assert_allclose(label_vector([1, 1, 0, 0]).numpy(), [0.5, 0.5, 0, 0, 0], atol=1e-6)
    with pytest.raises(ValueError, match="multiples of 8"):
        g(torch.zeros(1, 3, 20, 20), c[:1])
    # the label changes the output (AdaIN decoder control + label-aware attention)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        a, _, _ = g(x[:1], c[:1])
        b, _, _ = g(x[:1], c[1:])
    assert not torch.allclose(a, b)


def test_attention_identity() -> None:
    g = _tiny_g()
    x = torch.rand(1, 3, S, S) * 2 - 1
    c = label_vector([0, 0, 1, 0])[None]
    y_star, _, m = g(x, c, mask_scale=0.0)
    assert torch.equal(y_star, x) and float(m.detach().abs().max()) == 0.0
    # M = 1 gives the decoder output exactly
    with torch.no_grad():
        g.attention[-1].bias.fill_(1e4)
    y_star, y, m = g(x, c)
    assert torch.allclose(y_star, y)


def test_losses() -> None:
    f = torch.randn(2, 8, 4, 4)
    assert float(contextual_loss(f, f)) < 1e-3
    assert float(contextual_loss(torch.randn(2, 8, 4, 4), f)) > 0.1
    t = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]])
    assert float(soft_cross_entropy(torch.tensor([[0.0, 0.0, 10.0, 0.0, 0.0]]), t)) < 0.01
    d = ExpressionDiscriminator(image_size=S, width=4, depth=3)
    gp = gradient_penalty(d, torch.rand(2, 3, S, S), torch.rand(2, 3, S, S))
    gp.backward()
    assert torch.isfinite(gp) and any(p.grad is not None for p in d.parameters())


@pytest.fixture(scope="module")
def tiny_data():
    return build_dataset(6, S)


def test_train_step_logs_resume_and_round_trip(tiny_data, tmp_path: Path) -> None:
    assert tiny_data["images"].shape == (6, 3, S, S, 3)
    np.testing.assert_allclose(tiny_data["labels"].sum(-1), 1.0, atol=1e-5)
    feat = train_classifier(tiny_data, steps=2, batch=4, width=4)
    kw = dict(steps=2, batch=2, width=4, code_dim=8, attention_width=4)
    g, d, summary = train_gan(tiny_data, feat, tmp_path / "run", **kw)
    assert summary["steps"] == 2
    g, d, summary = train_gan(tiny_data, feat, tmp_path / "run", **{**kw, "steps": 3})  # resumes at 2
    logs = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == [2, 3]
    assert all(np.isfinite(v) for r in logs for v in r.values())
    assert {"d_loss", "g_adv", "g_cls", "g_cx", "g_pair"} <= set(logs[-1])
    card = save_checkpoint(g, tmp_path / "ck" / "expression_gan_g", task="test", input_size=(S, S),
                           metrics={"gan_accuracy": 0.1}, extra={"better_than_classical": False})
    loaded, c = load_checkpoint(card, device="cpu")
    x = torch.rand(1, 3, S, S) * 2 - 1
    lab = label_vector([0, 1, 0, 0])[None]
    with torch.no_grad():
        assert torch.allclose(loaded(x, lab)[0], g(x, lab)[0], atol=1e-6)
    assert c.kwargs["code_dim"] == 8 and c.extra["better_than_classical"] is False


def test_evaluate_and_rule(tiny_data) -> None:
    judge = train_classifier(tiny_data, steps=2, batch=4, width=4)
    m = evaluate(_tiny_g().eval(), judge, n_faces=2, size=S, rig_scale=2)
    for k in ("gan_accuracy", "rig_accuracy", "drawn_target_accuracy", "judge_heldout_accuracy"):
        assert 0.0 <= m[k] <= 1.0
    assert m["gan_identity_diff"] >= 0 and m["rig_identity_diff"] >= 0
    assert is_better({"gan_accuracy": 0.9, "rig_accuracy": 0.5, "gan_identity_diff": 1.0})
    assert not is_better({"gan_accuracy": 0.52, "rig_accuracy": 0.5, "gan_identity_diff": 1.0})
    assert not is_better({"gan_accuracy": 0.9, "rig_accuracy": 0.5, "gan_identity_diff": 9.0})


def _fabricate(root: Path, better: bool | None, gan_acc: float = 0.9) -> Path:
    g = ExpressionGenerator(width=4, code_dim=8, attention_width=4)
    verdict = None if better is None else Verdict("classical", "test measure", better)
    return save_checkpoint(g, root / "expression_gan_g", task="test", input_size=(S, S),
                           metrics={"gan_accuracy": gan_acc, "rig_accuracy": 0.5, "gan_identity_diff": 1.0},
                           verdict=verdict)


def _flip_bytes(card: Path) -> None:
    """Corrupt the weights in place (same size: only the hash check at load time notices)."""
    weights = card.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])
    weights.write_bytes(bytes(data))


def test_auto_follows_the_cards_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.errors import LearnedBackendError
    from engine.studios.expression.learned import EXPRESSION_GAN

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(EXPRESSION_GAN, "roots", [empty])
    r = EXPRESSION_GAN.resolve("auto")
    assert r.backend == "classical" and "no trained" in r.reason and "masquerade train expression-gan" in r.reason
    with pytest.raises(LearnedBackendError, match="not available"):
        EXPRESSION_GAN.resolve("neural")

    worse = tmp_path / "worse"
    _fabricate(worse, better=False, gan_acc=0.4)
    monkeypatch.setattr(EXPRESSION_GAN, "roots", [worse])
    r = EXPRESSION_GAN.resolve("auto")
    assert r.backend == "classical" and "did not measure better" in r.reason and "GAN 0.4 vs rig 0.5" in r.reason
    assert EXPRESSION_GAN.resolve("neural").backend == "neural"  # asked for explicitly, it still runs

    unmeasured = tmp_path / "unmeasured"  # good numbers, but no verdict: never used by auto
    _fabricate(unmeasured, better=None)
    monkeypatch.setattr(EXPRESSION_GAN, "roots", [unmeasured])
    r = EXPRESSION_GAN.resolve("auto")
    assert r.backend == "classical" and "never measured" in r.reason

    good = tmp_path / "good"
    _fabricate(good, better=True)
    monkeypatch.setattr(EXPRESSION_GAN, "roots", [good])
    r = EXPRESSION_GAN.resolve("auto")
    assert r.backend == "neural" and "measured better" in r.reason and r.path is not None


def test_learned_edit_and_fallback_to_the_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.studios.expression.editor import ExpressionEditor, parts_from_generated
    from engine.studios.expression.params import ExpressionParams

    good, worse = tmp_path / "good", tmp_path / "worse"
    _fabricate(good, better=True)
    _fabricate(worse, better=False, gan_acc=0.4)
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(good))  # searched before the project's folder
    face = generate_anime_face(2, 96)
    ed = ExpressionEditor()
    ed.set_face(face.image, parts_from_generated(face))
    assert ed.backend == "neural" and ed.resolution.learned
    res = ed.edit(ExpressionParams(smile=1.0))
    assert res.info["backend"] == "neural" and res.info["method"] == "expression-gan"
    assert res.info["device"] == str(select_device().device)  # where the GAN ran
    keep = ~res.masks["regions"]
    assert np.array_equal(res.image[keep], face.image[keep])
    assert res.masks["attention"].shape == face.image.shape[:2]
    assert np.array_equal(ed.edit(ExpressionParams(smile=1.0, intensity=0.0)).image, face.image)
    # the GAN knows the emotions only: a low-level slider runs on the rig after it, inside the regions
    wink = ed.edit(ExpressionParams(blink_left=1.0))
    assert wink.info["backend"] == "neural" and np.any(wink.image != face.image)
    keep = ~wink.masks["regions"]
    assert np.array_equal(wink.image[keep], face.image[keep])
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(worse))
    ed = ExpressionEditor()
    assert ed.backend == "classical" and "did not measure better" in ed.backend_reason
    ed.set_face(face.image, parts_from_generated(face))
    res = ed.edit(ExpressionParams(smile=1.0))
    assert res.info["backend"] == "classical" and res.info["method"] == "tps-rig" and res.info["device"] == "cpu"


def test_corrupt_override_falls_back_to_the_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.errors import LearnedBackendError
    from engine.studios.expression.editor import ExpressionEditor, parts_from_generated
    from engine.studios.expression.params import ExpressionParams

    override = tmp_path / "override"
    _flip_bytes(_fabricate(override, better=True))
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(override))
    face = generate_anime_face(3, 96)
    ed = ExpressionEditor()
    assert ed.backend == "neural"  # the card alone says better; the hash is checked when loading
    ed.set_face(face.image, parts_from_generated(face))
    res = ed.edit(ExpressionParams(smile=1.0))
    assert res.info["backend"] == "classical" and res.info["method"] == "tps-rig"
    assert "hash" in res.info["backend_reason"] and "\n" not in res.info["backend_reason"]
    assert ed.backend == "classical" and "hash" in ed.backend_reason  # remembered: no second load
    with pytest.raises(LearnedBackendError) as exc:
        ExpressionEditor("neural")
    assert "hash" in str(exc.value) and "\n" not in str(exc.value)


def test_editor_construction_loads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.weights.store as store
    from engine.studios.expression.editor import ExpressionEditor

    _fabricate(tmp_path, better=True)
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(tmp_path))
    loads: list[Path] = []
    monkeypatch.setattr(store, "load_checkpoint", lambda path, *a, **k: loads.append(Path(path)))
    for backend in ("auto", "neural", "classical"):
        ed = ExpressionEditor(backend)
        _ = ed.resolution, ed.backend, ed.backend_reason
    assert loads == []


def test_panel_engine_choice_and_attention_view(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    import os

    from engine.imageio import save_image
    from engine.studios.expression.editor import ExpressionEditor

    good = tmp_path / "good"
    _fabricate(good, better=True, gan_acc=0.9)
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(good))
    w = make_window((1100, 720), "expression", persist=False)
    panel = w.panels["expression"]

    def shown() -> str:  # what the panel's engine choice resolves to (cards only)
        return ExpressionEditor.learned.resolve(panel.engine).backend

    assert shown() == "neural" and "measured better" in panel.engine_note.text()
    assert panel.view_buttons[2].text() == "Attention mask"
    src = tmp_path / "face.png"
    save_image(src, generate_anime_face(4, 128).image)
    w.open_path(src)
    qtbot.waitUntil(lambda: w.doc.has_image, timeout=10000)
    panel.sliders["smile"].spin.setValue(1.0)
    qtbot.waitUntil(lambda: panel.is_idle() and panel.result is not None
                    and panel.result.info["params"]["smile"] == 1.0, timeout=15000)
    assert panel.result.info["backend"] == "neural" and "neural" in panel.info_label.text()
    panel.set_view(2)
    if os.environ.get("MASQUERADE_SHOTS"):
        w.grab().save(os.path.join(os.environ["MASQUERADE_SHOTS"], "expression_attention.png"))
    panel.engine_combo.setCurrentIndex(1)  # classical
    assert shown() == "classical" and panel.view_buttons[2].text() == "Warp field"
    qtbot.waitUntil(lambda: panel.is_idle() and panel.result is not None
                    and panel.result.info["backend"] == "classical", timeout=15000)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr("engine.weights.store.PROJECT_CHECKPOINTS", empty)
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(empty))
    panel.engine_combo.setCurrentIndex(2)  # learned, but no checkpoint: refused, stays classical
    assert shown() == "classical" and panel.engine_combo.currentIndex() == 1
    assert "not available" in panel.engine_note.text()
    w.close()
