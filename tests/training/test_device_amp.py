"""Training on the selected device: ``--device cpu`` and ``auto`` agree on this machine, ``--amp`` is a
no-op on the CPU (the opera classifier, CoCosNet, the regenerate model and the expression GAN),
``python -m bench.gpu`` says it has nothing to do without CUDA (issue 16, items 1, 5)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from engine.device import CPU
from engine.training.loop import Runtime
from engine.training.opera_classifier import train


def _weights(runtime: Runtime, out: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model, summary = train(out, steps=2, batch=4, input_size=32, pool=7, seed=0, runtime=runtime)
    assert summary["device"] == runtime.device.type
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is a GPU here: cpu and auto differ on purpose")
def test_device_cpu_and_auto_train_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASQUERADE_DEVICE", raising=False)
    auto = Runtime.create("auto")
    a = _weights(Runtime.create("cpu"), tmp_path / "cpu")
    b = _weights(auto, tmp_path / "auto")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_amp_is_a_no_op_on_cpu(tmp_path: Path) -> None:
    amp = Runtime.create("cpu", amp=True)
    assert not amp.amp and amp.precision == "fp32" and amp.device == CPU
    with amp.autocast():
        assert not torch.is_autocast_enabled()
    a = _weights(Runtime.create("cpu"), tmp_path / "plain")
    b = _weights(amp, tmp_path / "amp")
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- the GAN entries: a few tiny steps each ---------------------------------------------------------

def _cocosnet(runtime: Runtime, out: Path) -> tuple[nn.Module, dict[str, Any]]:
    from engine.training.cocosnet import train as train_cocosnet

    return train_cocosnet(out, size=32, steps=2, batch=2, width=4, designs=4, seed=0, runtime=runtime)


def _regen(runtime: Runtime, out: Path) -> tuple[nn.Module, dict[str, Any]]:
    from engine.training.regen import train as train_regen

    rng = np.random.default_rng(0)
    labels = np.zeros((3, 32, 32), np.uint8)
    labels[:, 8:26, 6:26] = 1  # skin
    labels[:, :8] = 17  # hair
    labels[:, 20:24, 12:20] = 12  # upper lip
    palette = rng.integers(0, 256, (19, 3)).astype(np.uint8)
    images = np.clip(palette[labels].astype(np.int16) + rng.integers(-12, 13, labels.shape + (3,)), 0, 255)
    return train_regen(images.astype(np.uint8), labels, out, steps=2, batch=2, side=16, width=8, style_dim=8,
                       seed=0, runtime=runtime)


@cache
def _expression_data() -> dict[str, np.ndarray]:
    from engine.training.expression import build_dataset

    return build_dataset(3, 32)


def _expression(runtime: Runtime, out: Path) -> tuple[nn.Module, dict[str, Any]]:
    from engine.training.expression import loss_features, train_gan

    data = _expression_data()
    features, _ = loss_features(data, "auto", 2, 0, device=runtime.device)
    g, _, summary = train_gan(data, features, out, steps=2, batch=2, width=4, code_dim=8, attention_width=4, seed=0,
                              runtime=runtime)
    return g, summary


ENTRIES: dict[str, Callable[[Runtime, Path], tuple[nn.Module, dict[str, Any]]]] = {
    "cocosnet": _cocosnet, "regen": _regen, "expression-gan": _expression}


def _run(entry: str, runtime: Runtime, out: Path) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Weights of the trained generator and the logged losses (without wall-clock times)."""
    model, summary = ENTRIES[entry](runtime, out)
    assert summary["device"] == runtime.device.type and summary["precision"] == "fp32" and summary["processes"] == 1
    assert all(p.device.type == runtime.device.type for p in model.parameters())
    logs = [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"}
            for line in (out / "log.jsonl").read_text().splitlines()]
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, logs


def _assert_same(a: tuple[dict[str, torch.Tensor], list[dict[str, Any]]],
                 b: tuple[dict[str, torch.Tensor], list[dict[str, Any]]]) -> None:
    assert a[1] == b[1] and a[1]  # the same logged losses, step for step
    assert a[0].keys() == b[0].keys()
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0])


@pytest.mark.parametrize("entry", sorted(ENTRIES))
@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is a GPU here: cpu and auto differ on purpose")
def test_gan_entries_train_identically_on_cpu_and_auto(entry: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASQUERADE_DEVICE", raising=False)
    auto = Runtime.create("auto")
    torch.manual_seed(0)
    a = _run(entry, Runtime.create("cpu"), tmp_path / "cpu")
    torch.manual_seed(0)
    b = _run(entry, auto, tmp_path / "auto")
    _assert_same(a, b)


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_amp_is_a_no_op_on_cpu_for_the_gan_entries(entry: str, tmp_path: Path) -> None:
    amp = Runtime.create("cpu", amp=True)
    assert not amp.amp
    torch.manual_seed(0)
    a = _run(entry, Runtime.create("cpu"), tmp_path / "plain")
    torch.manual_seed(0)
    b = _run(entry, amp, tmp_path / "amp")
    _assert_same(a, b)


def test_loss_features_option_on_the_entries_with_vgg_losses() -> None:
    import argparse

    from engine.training.cli import add_parser

    root = argparse.ArgumentParser()
    add_parser(root.add_subparsers())
    for entry, required in (("cocosnet", []), ("regen", ["--data", "d"]), ("expression-gan", [])):
        assert root.parse_args(["train", entry, *required]).loss_features == "auto"
        assert root.parse_args(["train", entry, *required, "--loss-features", "vgg19"]).loss_features == "vgg19"
        with pytest.raises(SystemExit):
            root.parse_args(["train", entry, *required, "--loss-features", "inception"])


def test_cli_takes_device_and_amp_on_every_entry() -> None:
    import argparse

    from engine.training.cli import add_parser

    root = argparse.ArgumentParser()
    train_p = add_parser(root.add_subparsers())
    sub = next(a for a in train_p._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) >= {"maskwear-stn", "opera-classifier", "stylegan2", "cocosnet", "expression-gan",
                                "makeup-gan", "regen"}
    for name, parser in sub.choices.items():
        opts = {o for a in parser._actions for o in a.option_strings}
        assert {"--device", "--amp"} <= opts, name


def test_unavailable_device_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc = main(["train", "opera-classifier", "--device", "cuda", "--steps", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "cuda" in err[0]


def test_bench_gpu_without_cuda_prints_one_line_and_exits_0(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from bench.gpu import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "r.json"
    assert main(["--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "CUDA" in lines[0]
    assert not out.exists()
