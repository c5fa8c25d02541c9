"""Attack table: tampered model cards and weights × every learned backend, on ``auto`` and explicit.

Each project checkpoint is copied into a temporary override folder, its card marked "measured
better" (so ``auto`` picks it) and then broken one way. ``auto`` must fall back to classical with a
reason; an explicit learned request must fail with one :class:`LearnedBackendError` line; nothing
else may escape, and nothing may allocate a model sized by the tampered numbers.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import CheckpointError, LearnedBackendError
from engine.models.registry import MAX_KWARG_INT, MAX_PARAMETERS, build_model, model_size
from engine.studios.base import CLASSICAL, LEARNED, LearnedBackend, forget_learned
from engine.studios.expression.learned import EXPRESSION_GAN
from engine.studios.makeup.learned import BACKEND as MAKEUP_GAN
from engine.studios.maskwear.learned import MASK_REFINER
from engine.studios.opera.classify import CLASSIFIER
from engine.studios.opera.generate import GENERATOR
from engine.studios.opera.learned import COCOSNET
from engine.studios.regenerate.learned import BACKEND as REGEN
from engine.weights.store import PROJECT_CHECKPOINTS, load_checkpoint

BACKENDS: dict[str, LearnedBackend] = {
    "cocosnet_g": COCOSNET, "opera_colour_resnet18": CLASSIFIER, "stylegan2_lianpu": GENERATOR,
    "expression_gan_g": EXPRESSION_GAN, "makeup_gan_g": MAKEUP_GAN, "maskwear_stn_g": MASK_REFINER,
    "regen_inpaint": REGEN,
}
"""Checkpoint stem → the studio backend that loads it (every learned backend of the project)."""


def _size_kwarg(kwargs: dict[str, object]) -> str:
    """The kwarg to tamper with: ``width`` when the model has one, else its first integer."""
    if "width" in kwargs:
        return "width"
    return next(k for k, v in kwargs.items() if isinstance(v, int) and not isinstance(v, bool))


def _negative(card: dict, weights: Path) -> None:
    card["kwargs"][_size_kwarg(card["kwargs"])] = -5


def _huge(card: dict, weights: Path) -> None:
    card["kwargs"][_size_kwarg(card["kwargs"])] = 10 ** 6


def _too_many_parameters(card: dict, weights: Path) -> None:
    card["kwargs"][_size_kwarg(card["kwargs"])] = 5000  # in range, but the model would be enormous


def _wrong_type(card: dict, weights: Path) -> None:
    card["kwargs"][_size_kwarg(card["kwargs"])] = "wide"


def _unknown_model(card: dict, weights: Path) -> None:
    card["model"] = "no_such_architecture"


def _truncated(card: dict, weights: Path) -> None:
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])


def _hash_mismatch(card: dict, weights: Path) -> None:
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))


ATTACKS: dict[str, Callable[[dict, Path], None]] = {
    "negative_kwarg": _negative, "huge_kwarg": _huge, "too_many_parameters": _too_many_parameters,
    "wrong_type_kwarg": _wrong_type, "unknown_model": _unknown_model, "truncated_weights": _truncated,
    "hash_mismatch": _hash_mismatch,
}


def tampered(stem: str, folder: Path, attack: Callable[[dict, Path], None]) -> Path:
    """Copy checkpoint ``stem`` into ``folder``, mark it better than classical, apply ``attack``."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".safetensors"):
        shutil.copyfile(PROJECT_CHECKPOINTS / f"{stem}{suffix}", folder / f"{stem}{suffix}")
    card_path = folder / f"{stem}.json"
    card = json.loads(card_path.read_text())
    card["verdict"] = dict(card.get("verdict") or {"compared_with": "classical", "measure": "test"}, better=True)
    attack(card, folder / f"{stem}.safetensors")
    card_path.write_text(json.dumps(card))
    return card_path


@pytest.fixture(autouse=True)
def _fresh_caches():
    forget_learned()
    yield
    forget_learned()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("stem", sorted(BACKENDS))
def test_auto_falls_back_and_explicit_fails_in_one_line(tmp_path: Path, stem: str, attack: str) -> None:
    if not (PROJECT_CHECKPOINTS / f"{stem}.json").is_file():
        pytest.skip(f"checkpoints/{stem} is not in this tree")
    backend = BACKENDS[stem]
    card = tampered(stem, tmp_path, ATTACKS[attack])

    res = backend.resolve("auto", card=card)
    model, ran = backend.load_or_fallback(res, device="cpu")
    assert model is None and ran.backend == CLASSICAL
    assert ran.reason and "\n" not in ran.reason

    with pytest.raises(LearnedBackendError) as info:
        backend.load_or_fallback(backend.resolve(LEARNED, card=card), device="cpu")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("attack", ["negative_kwarg", "huge_kwarg", "too_many_parameters", "wrong_type_kwarg"])
def test_load_checkpoint_raises_only_checkpoint_error(tmp_path: Path, attack: str) -> None:
    card = tampered("maskwear_stn_g", tmp_path, ATTACKS[attack])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(card, device="cpu")
    assert "\n" not in str(info.value)


def test_build_model_bounds(tmp_path: Path) -> None:
    base = {"in_channels": 7, "width": 8, "max_delta": 0.3, "grouped": False}
    params, _ = model_size("maskwear_stn_g", **base)
    assert params == json.loads((PROJECT_CHECKPOINTS / "maskwear_stn_g.json").read_text())["parameter_count"]
    for bad, needle in ((MAX_KWARG_INT + 1, "out of range"), (5000, "over the limit"), (-5, "negative"),
                        (float("inf"), "finite"), ([1] * 5000, "too large"), (object(), "unsupported type")):
        with pytest.raises(CheckpointError, match=needle):
            build_model("maskwear_stn_g", **{**base, "width": bad})
    assert MAX_PARAMETERS >= 20_000_000  # room for every project model (the largest has 11 M)
    with pytest.raises(CheckpointError, match="unexpected keyword"):
        build_model("maskwear_stn_g", **base, bogus=1)
