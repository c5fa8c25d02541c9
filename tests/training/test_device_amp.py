"""Training on the selected device: ``--device cpu`` and ``auto`` agree on this machine, ``--amp`` is a
no-op on the CPU, ``python -m bench.gpu`` says it has nothing to do without CUDA (issue 16, items 1, 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
