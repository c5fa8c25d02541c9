"""engine.device: one select_device() with CPU fallback and a reason; module_device."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.device import ENV_VAR, DeviceChoice, module_device, select_device


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process look CPU-only, whatever the machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_explicit_cpu() -> None:
    choice = select_device("cpu")
    assert isinstance(choice, DeviceChoice)
    assert choice.device == torch.device("cpu")
    assert "cpu" in choice.reason
    assert choice.label == "CPU"


def test_case_and_whitespace_ignored() -> None:
    assert select_device("  CPU ").device == torch.device("cpu")


def test_auto_without_gpu_gives_cpu_with_reason(no_gpu: None) -> None:
    for prefer in ("auto", None, ""):
        choice = select_device(prefer)
        assert choice.device == torch.device("cpu")
        assert "auto" in choice.reason and "cpu" in choice.reason


def test_auto_on_this_machine_is_usable() -> None:
    choice = select_device("auto")
    assert choice.reason.startswith("auto")
    torch.zeros(2, device=choice.device)  # the chosen device really works


@pytest.mark.parametrize("request_str", ["cuda", "cuda:3", "mps"])
def test_unavailable_device_falls_back_with_reason(no_gpu: None, request_str: str) -> None:
    choice = select_device(request_str)
    assert choice.device == torch.device("cpu")
    assert request_str in choice.reason
    assert "not available" in choice.reason


def test_cuda_index_beyond_count_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    choice = select_device("cuda:5")
    assert choice.device == torch.device("cpu")
    assert "cuda:5" in choice.reason


@pytest.mark.parametrize("garbage", ["banana", "gpu please", "cuda:x"])
def test_garbage_falls_back(garbage: str) -> None:
    choice = select_device(garbage)
    assert choice.device == torch.device("cpu")
    assert "cpu" in choice.reason
    assert garbage in choice.reason


def test_env_var_honoured(monkeypatch: pytest.MonkeyPatch, no_gpu: None) -> None:
    monkeypatch.setenv(ENV_VAR, "cpu")
    assert select_device().reason == "cpu requested"
    monkeypatch.setenv(ENV_VAR, "cuda")
    choice = select_device()
    assert choice.device == torch.device("cpu")
    assert "cuda requested but not available" in choice.reason


def test_env_var_garbage_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "quantum")
    choice = select_device()
    assert choice.device == torch.device("cpu")
    assert "quantum" in choice.reason


def test_prefer_argument_beats_env_var(monkeypatch: pytest.MonkeyPatch, no_gpu: None) -> None:
    monkeypatch.setenv(ENV_VAR, "cuda")
    assert select_device("cpu").reason == "cpu requested"


def test_module_device() -> None:
    assert module_device(nn.Linear(2, 2)) == torch.device("cpu")
    buffers_only = nn.Module()
    buffers_only.register_buffer("b", torch.zeros(1))
    assert module_device(buffers_only) == torch.device("cpu")
    assert module_device(nn.Identity()) == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_module_device_cuda() -> None:
    choice = select_device("cuda")
    assert choice.device.type == "cuda"
    assert module_device(nn.Linear(2, 2).to(choice.device)).type == "cuda"
    assert choice.label.startswith("CUDA 0")


def test_parse_device_names_and_errors(no_gpu: None) -> None:
    from engine.device import CPU, parse_device

    assert parse_device("cpu") == CPU == parse_device(" CPU ")
    assert parse_device("auto") == CPU and parse_device(None) == CPU
    with pytest.raises(ValueError, match="not available"):
        parse_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        parse_device("tpu")


def test_autocast_helpers_on_cpu() -> None:
    from engine.device import CPU, autocast, autocast_dtype, local_device, needs_grad_scaler

    assert autocast_dtype(CPU) is None and not needs_grad_scaler(CPU, True)
    with autocast(CPU, True):
        assert not torch.is_autocast_enabled()
    assert autocast_dtype(torch.device("mps")) == torch.float16
    assert local_device(CPU, 3) == CPU and local_device(torch.device("cuda"), 1) == torch.device("cuda", 1)


def test_side_thread_runs_work_beside_and_is_made_again_after_a_fork(monkeypatch) -> None:
    import os
    import threading

    from engine.device import SideThread

    side = SideThread("test-side")
    first = side.submit(lambda: threading.current_thread().name)
    assert first.result().startswith("test-side") and first.result() != threading.current_thread().name
    assert side.submit(pow, 2, 5).result() == 32
    pool = side._pool
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a forked child: the parent's thread is not there
    assert side.submit(pow, 3, 2).result() == 9 and side._pool is not pool


def test_the_load_this_process_makes_itself_is_not_counted_against_it(monkeypatch) -> None:
    import engine.device as device
    from engine.device import OtherLoad, inference_threads

    monkeypatch.setattr(device, "other_load", lambda: 1.2)
    assert inference_threads(cores=2, current=2) == 1  # another program keeps a core busy
    monkeypatch.setattr(device, "other_load", lambda: 0.1)
    assert inference_threads(cores=2, current=2) == 2
    monkeypatch.setattr(device, "other_load", lambda: None)  # nothing to read: no limit but torch's
    assert inference_threads(cores=2, current=2) == 2
    assert inference_threads(load=1.2, cores=2, current=2) == 1  # a load given is taken as it is

    t = {"wall": 0.0, "cpu": 0.0, "busy": 100.0}
    other = OtherLoad(lambda: t["wall"], lambda: t["cpu"], lambda: t["busy"], lambda: 1.4)
    t["wall"], t["busy"] = 0.003, 100.01  # a first call too soon for the counters: the load average
    assert other() == pytest.approx(1.4)
    t["wall"], t["cpu"], t["busy"] = 2.0, 2.0, 102.0  # the machine's busy core was this process
    assert other() == 0.0
    t["wall"], t["busy"] = 2.2, 102.2  # too short a window: the last reading
    assert other() == 0.0
    t["wall"], t["busy"] = 4.0, 106.0  # another program took a core meanwhile (this one idle)
    assert other() == pytest.approx(4.0 / 2.0)
    t["wall"], t["cpu"], t["busy"] = 34.0, 32.0, 166.0  # both cores busy, one of them this process
    assert other() is not None and other() == pytest.approx(1.0, abs=0.01)
    t["wall"] += 2 * device.LOAD_WINDOW_S  # a window too long: the load average, less this
    own = other()  # process's rate averaged as the load average is (it was idle meanwhile)
    assert own is not None and 0.0 < 1.4 - own < 0.5

    t["cpu"] = 0.0  # a forked child: its CPU time starts from zero, its first window at the fork
    t["wall"] += 10.0
    other.after_fork()
    t["wall"] += 1.0
    t["busy"] += 1.0
    assert other() == pytest.approx(1.0)  # the parent's busy core is another process's now

    unread = OtherLoad(lambda: t["wall"], lambda: 0.0, lambda: None, lambda: None)
    t["wall"] += 1.0
    assert unread() is None  # no counters and no load average


def test_side_thread_try_submit_runs_or_says_none() -> None:
    from engine.device import SideThread

    side = SideThread("test-side")
    fut = side.try_submit(lambda a, b: a + b, 2, 3)
    assert fut is not None and fut.result() == 5
    assert side._pool is not None
    side._pool.shutdown()  # takes no new work, as at the interpreter's exit
    assert side.try_submit(lambda: 1) is None
