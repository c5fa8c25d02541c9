"""engine.models.registry: safetensors + JSON card, registry, strict loads, safe third-party reads."""

from __future__ import annotations

import builtins
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

import engine.models.registry as registry
import engine.weights.store as store
from engine.device import module_device, select_device
from engine.errors import CheckpointError
from engine.models.registry import build_model, register_model, registered_models
from engine.weights.card import CARD_SCHEMA_VERSION, ModelCard, read_card
from engine.weights.store import (
    CheckpointStatus,
    find_checkpoint,
    load_checkpoint,
    probe_checkpoint,
    save_checkpoint,
    sha256_file,
)
from engine.weights.thirdparty import load_state_dict_file, unwrap_state_dict

NAME = "_test_tiny_conv"


@register_model(NAME)
class TinyConv(nn.Module):
    """Conv → BN → ReLU blocks → 1×1 head, with a tied and a non-contiguous parameter."""

    def __init__(self, channels: int = 4, depth: int = 1, out_channels: int = 2) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = nn.Sequential(*[
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU())
            for _ in range(depth)
        ])
        self.head = nn.Conv2d(channels, out_channels, 1)
        self.head_twin = nn.Conv2d(channels, out_channels, 1)
        self.head_twin.weight = self.head.weight  # tied: two state_dict keys, one storage
        self.mix = nn.Parameter(torch.randn(out_channels, out_channels).t())  # non-contiguous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.conv_in(x))
        y = self.head(y) + self.head_twin(y)
        return torch.einsum("bchw,cd->bdhw", y, self.mix)


def _model(**kwargs: int) -> TinyConv:
    torch.manual_seed(0)
    model = TinyConv(**kwargs)
    for m in model.modules():  # non-default BN statistics, so buffers matter in the round trip
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model.eval()


def _saved(tmp_path: Path, **kwargs: int) -> tuple[TinyConv, Path]:
    model = _model(**kwargs)
    card = save_checkpoint(
        model, tmp_path / "tiny", task="opera", input_size=(64, 48), label_scheme="celebamask_hq",
        training_data="procedural lianpu v1", licence="project-owned", metrics={"miou": 0.5},
    )
    return model, card


def _edit_card(card_path: Path, **changes: object) -> None:
    data = json.loads(card_path.read_text())
    data.update(changes)
    card_path.write_text(json.dumps(data))


X = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


# -- round trip and card -------------------------------------------------------------------------


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model, card_path = _saved(tmp_path, channels=6, depth=2)
    loaded, card = load_checkpoint(card_path, device="cpu")
    assert isinstance(loaded, TinyConv)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(model(X), loaded(X))
    assert loaded.head_twin.weight.data_ptr() == loaded.head.weight.data_ptr()  # still tied
    assert card.kwargs == {"channels": 6, "depth": 2, "out_channels": 2}


def test_card_fields_and_hash(tmp_path: Path) -> None:
    model, card_path = _saved(tmp_path)
    assert card_path == tmp_path / "tiny.json"
    weights = tmp_path / "tiny.safetensors"
    raw = json.loads(card_path.read_text())
    for key in ("schema_version", "model", "kwargs", "task", "input_size", "label_scheme", "training_data",
                "licence", "metrics", "created", "torch_version", "weights", "sha256", "weights_size",
                "tensor_count", "parameter_count"):
        assert key in raw, key
    card = read_card(card_path)
    assert card.schema_version == CARD_SCHEMA_VERSION
    assert card.model == NAME
    assert card.kwargs == {"channels": 4, "depth": 1, "out_channels": 2}
    assert (card.task, card.input_size, card.label_scheme) == ("opera", (64, 48), "celebamask_hq")
    assert card.training_data == "procedural lianpu v1" and card.licence == "project-owned"
    assert card.metrics == {"miou": 0.5}
    assert datetime.fromisoformat(card.created).tzinfo is not None
    assert card.torch_version == torch.__version__
    assert card.weights == "tiny.safetensors"
    assert card.sha256 == sha256_file(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert card.weights_size == weights.stat().st_size
    assert card.tensor_count == len(model.state_dict())
    assert card.parameter_count == sum(p.numel() for p in model.parameters())
    assert ModelCard.from_dict(json.loads(card.to_json())) == card


def test_constructor_arguments_recorded_positionally_and_with_defaults() -> None:
    assert registry.model_spec(TinyConv(5)) == (NAME, {"channels": 5, "depth": 1, "out_channels": 2})


@pytest.mark.parametrize("given", ["tiny", "tiny.json", "tiny.safetensors"])
def test_load_accepts_stem_card_or_weights(tmp_path: Path, given: str) -> None:
    _saved(tmp_path)
    _, card = load_checkpoint(tmp_path / given, device="cpu")
    assert card.model == NAME


def test_save_into_folder_and_dotted_stem(tmp_path: Path) -> None:
    assert save_checkpoint(_model(), tmp_path) == tmp_path / f"{NAME}.json"
    dotted = save_checkpoint(_model(), tmp_path / "sub" / "parser_v1.2")
    assert dotted == tmp_path / "sub" / "parser_v1.2.json"
    assert (tmp_path / "sub" / "parser_v1.2.safetensors").is_file()
    load_checkpoint(dotted, device="cpu")


def test_wrapped_model_saves_the_inner_one(tmp_path: Path) -> None:
    card_path = save_checkpoint(nn.DataParallel(_model()), tmp_path / "dp")
    assert read_card(card_path).model == NAME
    names = safetensors.torch.load_file(tmp_path / "dp.safetensors")
    assert not any(k.startswith("module.") for k in names)


def test_load_onto_selected_device(tmp_path: Path) -> None:
    _, card_path = _saved(tmp_path)
    target = select_device().device
    model, _ = load_checkpoint(card_path, device=target)
    assert module_device(model).type == target.type
    default, _ = load_checkpoint(card_path)  # device=None → select_device()
    assert module_device(default).type == target.type
    with torch.no_grad():
        out = model(X.to(target))
    assert out.device.type == target.type


# -- atomicity -----------------------------------------------------------------------------------


def test_atomic_writes_leave_no_temp_files(tmp_path: Path) -> None:
    _saved(tmp_path)
    _saved(tmp_path)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json", "tiny.safetensors"]


def test_unserialisable_card_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="JSON"):
        save_checkpoint(_model(), tmp_path / "nan", metrics={"fid": float("nan")})
    with pytest.raises(CheckpointError, match="JSON"):
        save_checkpoint(_model(), tmp_path / "obj", extra={"when": datetime.now()})
    assert list(tmp_path.iterdir()) == []


def test_unregistered_model_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a registered model"):
        save_checkpoint(nn.Linear(2, 2), tmp_path / "lin")
    assert list(tmp_path.iterdir()) == []


def test_unknown_label_scheme_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="label scheme"):
        save_checkpoint(_model(), tmp_path / "x", label_scheme="klingon")


# -- corrupt and mismatched files ----------------------------------------------------------------


def test_flipped_byte_is_a_hash_mismatch(tmp_path: Path) -> None:
    _, card_path = _saved(tmp_path)
    weights = tmp_path / "tiny.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="hash mismatch, file corrupt or replaced"):
        load_checkpoint(card_path, device="cpu")


def test_truncated_weights(tmp_path: Path) -> None:
    _, card_path = _saved(tmp_path)
    weights = tmp_path / "tiny.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_checkpoint(card_path, device="cpu")
    with pytest.raises(CheckpointError, match="corrupt or truncated") as info:
        load_checkpoint(card_path, device="cpu", verify_hash=False)
    assert str(weights) in str(info.value)


@pytest.mark.parametrize("junk", [b"", b"\x00" * 7, b"not a safetensors file at all" * 10])
def test_garbage_weights_without_hash_check(tmp_path: Path, junk: bytes) -> None:
    _, card_path = _saved(tmp_path)
    (tmp_path / "tiny.safetensors").write_bytes(junk)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(card_path, device="cpu", verify_hash=False)


def test_wrong_kwargs_shape_mismatch_names_keys(tmp_path: Path) -> None:
    _, card_path = _saved(tmp_path)
    _edit_card(card_path, kwargs={"channels": 6, "depth": 1, "out_channels": 2})
    with pytest.raises(CheckpointError, match="shape mismatch") as info:
        load_checkpoint(card_path, device="cpu")
    assert "conv_in.weight" in str(info.value)


def test_missing_keys_named(tmp_path: Path) -> None:
    _, card_path = _saved(tmp_path, depth=1)
    _edit_card(card_path, kwargs={"channels": 4, "depth": 2, "out_channels": 2})
    with pytest.raises(CheckpointError, match="missing: blocks.1.0.weight"):
        load_checkpoint(card_path, device="cpu")


def test_unexpected_keys_named(tmp_path: Path) -> None:
    _, card_path = _saved(tmp_path, depth=3)
    _edit_card(card_path, kwargs={"channels": 4, "depth": 1, "out_channels": 2})
    with pytest.raises(CheckpointError, match="unexpected: blocks.1.0.bias, blocks.1.0.weight") as info:
        load_checkpoint(card_path, device="cpu")
    assert "more)" in str(info.value)  # long key lists are shortened


def test_unknown_architecture(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=NAME):  # the message lists the known names
        build_model("no_such_net")
    _, card_path = _saved(tmp_path)
    _edit_card(card_path, model="no_such_net")
    with pytest.raises(CheckpointError, match="unknown model architecture 'no_such_net'"):
        load_checkpoint(card_path, device="cpu")


def test_bad_constructor_kwargs(tmp_path: Path) -> None:
    _, card_path = _saved(tmp_path)
    _edit_card(card_path, kwargs={"channels": 4, "colour": "red"})
    with pytest.raises(CheckpointError, match="cannot build"):
        load_checkpoint(card_path, device="cpu")


def test_missing_card_or_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="card not found") as info:
        load_checkpoint(tmp_path / "nothing", device="cpu")
    assert str(tmp_path / "nothing.json") in str(info.value)
    _, card_path = _saved(tmp_path)
    (tmp_path / "tiny.safetensors").unlink()
    with pytest.raises(CheckpointError, match="weights file not found") as info:
        load_checkpoint(card_path, device="cpu")
    assert str(tmp_path / "tiny.safetensors") in str(info.value)
    _saved(tmp_path)
    card_path.unlink()
    with pytest.raises(CheckpointError, match="weights without a card"):
        load_checkpoint(tmp_path / "tiny.safetensors", device="cpu")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"schema_version": 99}, "schema version 99"),
        ({"schema_version": True}, "schema version"),
        ({"surprise": 1}, "unknown card fields"),
        ({"model": None}, "lacks required fields"),
        ({"kwargs": [1, 2]}, "'kwargs' has the wrong type"),
        ({"tensor_count": "many"}, "'tensor_count' has the wrong type"),
        ({"sha256": "abc"}, "not a hex SHA-256"),
        ({"weights": "../elsewhere.safetensors"}, "bare file name"),
        ({"input_size": [64]}, "input_size"),
    ],
)
def test_bad_cards_rejected(tmp_path: Path, changes: dict, message: str) -> None:
    _, card_path = _saved(tmp_path)
    _edit_card(card_path, **changes)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(card_path, device="cpu")


def test_card_not_json(tmp_path: Path) -> None:
    _, card_path = _saved(tmp_path)
    card_path.write_text("{ nope")
    with pytest.raises(CheckpointError, match="unreadable card"):
        read_card(card_path)


# -- third-party files ---------------------------------------------------------------------------


def test_pth_with_plain_tensors_loads(tmp_path: Path) -> None:
    state = _model().state_dict()
    torch.save(state, tmp_path / "plain.pth")
    loaded = load_state_dict_file(tmp_path / "plain.pth")
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    TinyConv().load_state_dict(loaded, strict=True)


def test_containers_and_prefixes_unwrapped(tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in _model().state_dict().items()}
    torch.save({"state_dict": state, "epoch": 7, "optimizer": {"lr": 0.1}}, tmp_path / "lightning.ckpt")
    assert set(load_state_dict_file(tmp_path / "lightning.ckpt")) == set(TinyConv().state_dict())
    torch.save({"params_ema": {"w": torch.ones(1)}, "params": {"w": torch.zeros(1)}}, tmp_path / "gfpgan.pth")
    assert torch.equal(load_state_dict_file(tmp_path / "gfpgan.pth")["w"], torch.ones(1))
    assert set(unwrap_state_dict({"model": {"_orig_mod.a": torch.ones(1)}})) == {"a"}
    with pytest.raises(CheckpointError, match="not a state_dict"):
        unwrap_state_dict({"weights": torch.ones(1), "note": "hello"})
    with pytest.raises(CheckpointError, match="no tensors"):
        unwrap_state_dict([torch.ones(1)])
    with pytest.raises(CheckpointError, match="unwrap=True"):
        load_state_dict_file(tmp_path / "lightning.ckpt", unwrap=False)


def test_safetensors_third_party(tmp_path: Path) -> None:
    safetensors.torch.save_file({"a.b": torch.arange(3.0)}, tmp_path / "third.safetensors")
    assert torch.equal(load_state_dict_file(tmp_path / "third.safetensors")["a.b"], torch.arange(3.0))


class _WritesMarker:
    """Unpickling this would create ``path`` (via builtins.open / exec / os.system)."""

    def __init__(self, path: Path, how: str) -> None:
        self.path, self.how = path, how

    def __reduce__(self) -> tuple:
        if self.how == "open":
            return builtins.open, (str(self.path), "w")
        if self.how == "exec":
            return builtins.exec, (f"open({str(self.path)!r}, 'w').close()",)
        return os.system, (f'touch "{self.path}"',)


@pytest.mark.parametrize("how", ["open", "exec", "system"])
def test_malicious_pickle_refused(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pth"
    torch.save({"weight": torch.ones(2), "payload": _WritesMarker(marker, how)}, bad)
    assert not marker.exists()  # saving does not run the payload
    with pytest.raises(CheckpointError, match="refused as unsafe"):
        load_state_dict_file(bad)
    assert not marker.exists()


def test_pickled_class_refused(tmp_path: Path) -> None:
    torch.save({"model": nn.Linear(2, 2)}, tmp_path / "whole_model.pt")  # a pickled module, not weights
    with pytest.raises(CheckpointError, match="refused as unsafe"):
        load_state_dict_file(tmp_path / "whole_model.pt")


def test_bad_third_party_files(tmp_path: Path) -> None:
    (tmp_path / "junk.pth").write_bytes(b"\x00\x01 not a pickle")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_state_dict_file(tmp_path / "junk.pth")
    (tmp_path / "weights.onnx").write_bytes(b"")
    with pytest.raises(CheckpointError, match="unsupported weights extension"):
        load_state_dict_file(tmp_path / "weights.onnx")
    with pytest.raises(CheckpointError, match="not found"):
        load_state_dict_file(tmp_path / "absent.pth")


# -- registry ------------------------------------------------------------------------------------


def test_registry() -> None:
    assert NAME in registered_models()
    assert isinstance(build_model(NAME, channels=3), TinyConv)
    with pytest.raises(ValueError, match="already registered"):

        @register_model(NAME)
        class Other(nn.Module):
            def __init__(self) -> None:
                super().__init__()

    with pytest.raises(TypeError, match=r"\*args"):

        @register_model("_test_varargs")
        class VarArgs(nn.Module):
            def __init__(self, *sizes: int) -> None:
                super().__init__()

    with pytest.raises(TypeError, match="nn.Module"):
        register_model("_test_not_module")(dict)  # type: ignore[arg-type]


# -- discovery and probing -----------------------------------------------------------------------


def test_find_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ckpts"
    (root / "nested").mkdir(parents=True)
    (root / "broken.json").write_text("{")
    card = save_checkpoint(_model(), root / "nested" / "tiny")
    assert find_checkpoint(NAME, roots=[root]) == card
    assert find_checkpoint("other_net", roots=[root]) is None
    assert find_checkpoint(NAME, roots=[tmp_path / "missing"]) is None
    monkeypatch.setenv(store.ENV_VAR, str(root))
    assert store.checkpoint_roots()[0] == root
    assert store.checkpoint_roots()[-1] == store.PROJECT_CHECKPOINTS
    assert find_checkpoint(NAME) == card


def test_find_checkpoint_sees_a_card_changed_in_place(tmp_path: Path) -> None:
    """The models of cards are remembered per file version: a card edited in place, a broken card
    mended or a card removed is seen at the next search."""
    root = tmp_path / "ckpts"
    card = save_checkpoint(_model(), root / "tiny")
    assert find_checkpoint(NAME, roots=[root]) == card
    text = card.read_text()
    card.write_text(text.replace(f'"{NAME}"', '"_renamed_tiny_net"'))
    assert find_checkpoint(NAME, roots=[root]) is None
    card.write_text("{")
    assert find_checkpoint(NAME, roots=[root]) is None
    card.write_text(text)
    assert find_checkpoint(NAME, roots=[root]) == card
    card.unlink()
    assert find_checkpoint(NAME, roots=[root]) is None


def test_probe_checkpoint(tmp_path: Path) -> None:
    assert probe_checkpoint(None) == CheckpointStatus(None, False, False, "no checkpoint found")
    assert not probe_checkpoint(tmp_path / "absent").present
    _, card_path = _saved(tmp_path)
    ok = probe_checkpoint(card_path, verify_hash=True)
    assert ok.present and ok.loadable and ok.card is not None and ok.card.model == NAME

    weights = tmp_path / "tiny.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert probe_checkpoint(card_path).loadable  # same size: only a hash check notices
    flipped = probe_checkpoint(card_path, verify_hash=True)
    assert not flipped.loadable and "hash mismatch" in flipped.reason

    weights.write_bytes(bytes(data[:-5]))
    truncated = probe_checkpoint(card_path)
    assert truncated.present and not truncated.loadable and "size" in truncated.reason

    weights.unlink()
    assert "not found" in probe_checkpoint(card_path).reason

    _saved(tmp_path)
    _edit_card(card_path, model="no_such_net")
    assert "not part of this build" in probe_checkpoint(card_path).reason
    card_path.write_text("[]")
    bad = probe_checkpoint(card_path)
    assert bad.present and not bad.loadable and "JSON object" in bad.reason
