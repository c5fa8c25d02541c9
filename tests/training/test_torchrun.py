"""Several processes with torchrun on the CPU (Gloo): two training entries, identical weights on
every rank, files written by rank 0 only, a killed run that resumes (issue 16, item 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("ddp_driver.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available() or shutil.which(str(TORCHRUN)) is None,
                       reason="torch.distributed / torchrun not available"),
]

SG2 = ["train", "stylegan2", "--aug", "ada", "--size", "32", "--images", "8", "--batch", "4", "--eval-images", "8",
       "--channel-base", "256", "--channel-max", "16", "--device", "cpu", "--amp"]


def torchrun(dump: Path, entry: str, *args: str, env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc_per_node 2`` the driver on the CPU (Gloo), one thread per process."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MASQUERADE_DEVICE": "cpu",
                **(env or {})}
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(DRIVER), str(dump), entry, *args]
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def rank_facts(dump: Path) -> tuple[dict, dict]:
    return tuple(json.loads((dump / f"rank{r}.json").read_text()) for r in (0, 1))  # type: ignore[return-value]


def assert_same_weights(dump: Path) -> None:
    a = safetensors.torch.load_file(str(dump / "rank0.safetensors"))
    b = safetensors.torch.load_file(str(dump / "rank1.safetensors"))
    assert a.keys() == b.keys() and a
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs between ranks"


def test_opera_classifier_two_ranks_same_weights_rank0_writes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = torchrun(tmp_path / "dump", "opera-classifier", str(run), "4")
    assert res.returncode == 0, res.stderr[-2000:]
    r0, r1 = rank_facts(tmp_path / "dump")
    assert r0["done"] == r1["done"] == 4
    assert_same_weights(tmp_path / "dump")
    assert r1["writes"] == [] and any(w.endswith("state.json") for w in r0["writes"])
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in lines] == [4]  # one line per logged step: rank 0 alone logs


def test_stylegan2_killed_under_torchrun_resumes_and_rank0_writes_checkpoint(tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "G"
    argv = [*SG2, "--run-dir", str(run), "--out", str(out)]
    killed = torchrun(tmp_path / "dump1", "cli", *argv, "--steps", "6",
                      env={"MASQ_TEST_CHECKPOINT_EVERY": "2", "MASQ_TEST_KILL_AT": "3"})
    assert killed.returncode != 0
    assert json.loads((run / "state" / "state.json").read_text())["step"] == 2
    assert not out.with_suffix(".json").exists()

    res = torchrun(tmp_path / "dump2", "cli", *argv, "--steps", "4")
    assert res.returncode == 0, res.stderr[-2000:]
    r0, r1 = rank_facts(tmp_path / "dump2")
    assert r0["resumed_from"] == r1["resumed_from"] == 2
    assert r0["done"] == r1["done"] == 4
    assert_same_weights(tmp_path / "dump2")
    assert r1["writes"] == []
    assert f"checkpoint:{out}" in r0["writes"] and any(w.endswith("samples.png") for w in r0["writes"])
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["extra"]["processes"] == 2 and card["extra"]["device"] == "cpu"
    assert card["extra"]["precision"] == "fp32"  # --amp is a no-op on the CPU
    assert card["extra"]["kimg"] == pytest.approx(4 * 4 * 2 / 1000)


def test_cocosnet_two_ranks_same_weights_rank0_writes_the_card(tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "cc"
    res = torchrun(tmp_path / "dump", "cli", "train", "cocosnet", "--out", str(out), "--run-dir", str(run),
                   "--size", "64", "--steps", "3", "--batch", "2", "--width", "4", "--designs", "4",
                   "--eval-count", "1", "--eval-size", "64", "--device", "cpu", "--amp")
    assert res.returncode == 0, res.stderr[-2000:]
    r0, r1 = rank_facts(tmp_path / "dump")
    assert r0["done"] == r1["done"] == 3
    assert_same_weights(tmp_path / "dump")
    assert r1["writes"] == [] and f"checkpoint:{out}" in r0["writes"]
    extra = json.loads(out.with_suffix(".json").read_text())["extra"]
    assert extra["device"] == "cpu" and extra["processes"] == 2 and extra["batch"] == 4


def test_expression_gan_two_ranks_same_weights_rank0_writes_both_cards(tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "expression_gan_g"
    res = torchrun(tmp_path / "dump", "cli", "train", "expression-gan", "--out", str(out), "--run-dir", str(run),
                   "--seeds", "4", "--size", "32", "--steps", "3", "--batch", "2", "--width", "4", "--code-dim", "8",
                   "--classifier-steps", "2", "--eval-faces", "1", "--device", "cpu", "--amp")
    assert res.returncode == 0, res.stderr[-2000:]
    r0, r1 = rank_facts(tmp_path / "dump")
    assert r0["done"] == r1["done"] == 3
    assert_same_weights(tmp_path / "dump")
    assert r1["writes"] == []
    assert {f"checkpoint:{out}", f"checkpoint:{out.with_name('expression_judge')}"} <= set(r0["writes"])
    assert (run / "data_32.npz").is_file()  # rank 0 built the cache, rank 1 read it


def test_regen_killed_under_torchrun_resumes_with_identical_weights(tmp_path: Path) -> None:
    run = tmp_path / "run"
    killed = torchrun(tmp_path / "dump1", "regen", str(run), "6",
                      env={"MASQ_TEST_CHECKPOINT_EVERY": "2", "MASQ_TEST_KILL_AT": "3"})
    assert killed.returncode != 0
    assert json.loads((run / "state" / "state.json").read_text())["step"] == 2
    res = torchrun(tmp_path / "dump2", "regen", str(run), "5")
    assert res.returncode == 0, res.stderr[-2000:]
    r0, r1 = rank_facts(tmp_path / "dump2")
    assert r0["resumed_from"] == r1["resumed_from"] == 2 and r0["done"] == r1["done"] == 5
    assert_same_weights(tmp_path / "dump2")
    assert r1["writes"] == [] and any(w.endswith("state.json") for w in r0["writes"])
