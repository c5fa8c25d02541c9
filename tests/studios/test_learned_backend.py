"""The one learned-backend contract (engine.studios.base.LearnedBackend), tested once for every studio.

A tiny registered model stands in for the studio models in the rule tests; the last tests run the
same rules over every studio's real LearnedBackend instance.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.device import module_device, select_device
from engine.errors import LearnedBackendError
from engine.models.registry import register_model
from engine.studios.base import LearnedBackend, Resolution, forget_learned
from engine.weights.card import Verdict
from engine.weights.store import save_checkpoint

MODEL = "test_learned_backend_tiny"


@register_model(MODEL)
class _Tiny(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.lin = nn.Linear(width, width)


@pytest.fixture(autouse=True)
def _cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASQUERADE_DEVICE", "cpu")


def _save(folder: Path, better: bool | None, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    verdict = None if better is None else Verdict("classical", "test measure", better)
    return save_checkpoint(_Tiny(), folder / MODEL, task="test", training_data="none", licence="test",
                           extra={"steps": 1}, verdict=verdict)


def _backend(folder: Path) -> LearnedBackend:
    return LearnedBackend(MODEL, title="the tiny net", classical="the rules", train_hint="train tiny",
                          roots=[folder])


def test_no_checkpoint(tmp_path: Path) -> None:
    b = _backend(tmp_path)
    r = b.resolve("auto")
    assert r.backend == "classical" and not r.available and r.card is None
    assert "no trained" in r.reason and "train tiny" in r.reason
    assert b.resolve("classical") == Resolution("classical", "the rules requested", requested="classical")
    with pytest.raises(LearnedBackendError, match="not available") as exc:
        b.resolve("neural")
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="backend must be"):
        b.resolve("gpu")


@pytest.mark.parametrize("better", [False, None])
def test_card_not_better_means_classical_on_auto(tmp_path: Path, better: bool | None) -> None:
    _save(tmp_path, better)
    b = _backend(tmp_path)
    r = b.resolve("auto")
    assert r.backend == "classical" and r.available and not r.measured_better
    assert r.card is not None and r.card.model == MODEL
    explicit = b.resolve("neural")
    assert explicit.learned and "requested" in explicit.reason


def test_card_better_means_learned_on_auto_on_the_selected_device(tmp_path: Path) -> None:
    _save(tmp_path, True)
    b = _backend(tmp_path)
    r = b.resolve("auto")
    assert r.learned and r.measured_better and "measured better" in r.reason
    model, ran = b.load_or_fallback(r)
    assert ran == r
    assert module_device(model) == select_device().device == torch.device("cpu")
    assert b.load(r) is model  # cached by (path, sha256, device)


def _flip_bytes(card_path: Path) -> None:
    weights = card_path.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-8:] = bytes(255 - v for v in data[-8:])
    weights.write_bytes(bytes(data))


def test_corrupt_override_falls_back_on_auto_and_fails_in_one_line_when_asked(tmp_path: Path) -> None:
    card = _save(tmp_path, True)
    _flip_bytes(card)
    b = _backend(tmp_path)
    r = b.resolve("auto")
    assert r.learned  # the card alone says better; the hash is checked when loading
    model, ran = b.load_or_fallback(r)
    assert model is None and ran.backend == "classical" and "hash" in ran.reason
    again = b.resolve("auto")  # the failure is remembered: no second load attempt
    assert again.backend == "classical" and "hash" in again.reason
    with pytest.raises(LearnedBackendError) as exc:
        b.resolve("neural")
    assert "\n" not in str(exc.value) and "hash" in str(exc.value)


def test_tampered_card_kwargs_fall_back(tmp_path: Path) -> None:
    card = _save(tmp_path, True)
    data = json.loads(card.read_text())
    data["kwargs"]["width"] = -5
    card.write_text(json.dumps(data))
    b = _backend(tmp_path)
    model, ran = b.load_or_fallback(b.resolve("auto"))
    assert model is None and ran.backend == "classical"
    assert "checkpoint unusable" in ran.reason
    with pytest.raises(LearnedBackendError):  # remembered, or refused again when loading
        b.load_or_fallback(b.resolve("neural"))


def test_forget_learned_sees_an_imported_checkpoint(tmp_path: Path) -> None:
    b = _backend(tmp_path)
    assert b.resolve("auto").backend == "classical"
    card = _save(tmp_path, True, seed=1)
    first = b.load(b.resolve("auto"))
    _save(tmp_path, True, seed=2)  # replaced, as an import into the same folder would
    second = b.load(b.resolve("auto"))
    assert second is not first  # a new sha256 is a new cache key
    assert not torch.equal(first.lin.weight, second.lin.weight)
    _flip_bytes(card)
    assert b.load_or_fallback(b.resolve("auto"))[0] is second  # still cached for that sha256
    forget_learned()
    assert b.load_or_fallback(b.resolve("auto"))[0] is None  # forgotten: reloaded, hash refused


def _studio_backends() -> list[LearnedBackend]:
    found: list[LearnedBackend] = []
    for studio in ("opera", "regenerate", "makeup", "expression", "maskwear"):
        for leaf in ("learned", "classify", "generate", "editor", "classical"):
            try:
                mod = importlib.import_module(f"engine.studios.{studio}.{leaf}")
            except ModuleNotFoundError:
                continue
            found += [v for v in vars(mod).values() if isinstance(v, LearnedBackend)]
    return found


def test_every_studio_uses_the_one_backend_layer() -> None:
    models = {b.model for b in _studio_backends()}
    assert {"cocosnet", "regen_inpaint", "makeup_gan_g", "expression_gan_g", "maskwear_stn_g"} <= models


@pytest.mark.parametrize("backend", _studio_backends(), ids=lambda b: b.model)
def test_studio_backends_follow_the_rules(backend: LearnedBackend, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "roots", [tmp_path])  # no checkpoint anywhere
    r = backend.resolve("auto")
    assert r.backend == "classical" and not r.available and r.reason
    with pytest.raises(LearnedBackendError):
        backend.resolve("neural")


def test_any_loader_failure_falls_back_on_auto(tmp_path: Path) -> None:
    _save(tmp_path, True)

    def broken(path: Path, device: str) -> nn.Module:
        raise KeyError("missing tensor 'lin.weight'")

    b = LearnedBackend(MODEL, title="the tiny net", classical="the rules", roots=[tmp_path], load=broken)
    model, ran = b.load_or_fallback(b.resolve("auto"))
    assert model is None and ran.backend == "classical" and "lin.weight" in ran.reason
    with pytest.raises(LearnedBackendError):
        b.resolve("neural")
