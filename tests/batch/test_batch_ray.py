"""``--engine ray`` on a local 2-CPU Ray cluster (one per module: Ray starts slowly): the same
outputs, manifest and dataset files as the local engine; a killed driver and a Ctrl+C resume."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_batch_robustness import (
    GRID,
    REPO,
    SLOW_OP,
    audit,
    make_inputs,
    manifest_line_count,
    start_driver,
    wait_for,
)

from engine.batch import BatchCancelled, JobSpec, read_manifest, run_batch
from engine.batch.plan import DatasetOptions
from engine.cancel import CancelToken

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A private 2-CPU cluster for the module; yields the address other drivers join."""
    if ray.is_initialized():
        ray.shutdown()
    # the actors import the test's op from its module (pickled by reference), as pool workers do
    here = str(Path(__file__).resolve().parent)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([here, str(REPO)])}})
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def files_of(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.name not in ("manifest.jsonl", "job.json")}


def test_ray_engine_cancels_resumes_and_writes_what_the_local_engine_writes(tmp_path: Path, cluster: str) -> None:
    """Cancel (Ctrl+C in the CLI sets the same token): nothing new is sent, the tasks already on the
    actors finish and are recorded; the next run does only the rest, and the folder ends with the
    local engine's files byte for byte (images, dataset card, COCO-less ops: no annotations)."""
    make_inputs(tmp_path / "in", 5)
    opts = DatasetOptions(licence="CC0-1.0", val_fraction=0.5)
    grid = {**GRID, "delay": [0.05]}
    local = run_batch(JobSpec(SLOW_OP, tmp_path / "in", tmp_path / "local", grid=grid, dataset=opts))
    spec = JobSpec(SLOW_OP, tmp_path / "in", tmp_path / "ray", grid=grid, engine="ray", workers=2, dataset=opts)
    token = CancelToken()

    def progress(p) -> None:
        if p.done >= 2:
            token.cancel()

    with pytest.raises(BatchCancelled) as info:
        run_batch(spec, progress=progress, cancel=token)
    stopped = info.value.summary
    assert 2 <= stopped.done <= 2 + 2 * 2 and stopped.remaining > 0  # at most the tasks already sent
    assert json.loads((tmp_path / "ray" / "dataset.json").read_text())["complete"] is False

    summary = run_batch(spec)

    assert summary.skipped == stopped.done and summary.done == 10 - stopped.done and local.done == 10
    assert files_of(tmp_path / "ray") == files_of(tmp_path / "local")
    recs = read_manifest(tmp_path / "ray" / "manifest.jsonl")
    assert set(recs) == set(read_manifest(tmp_path / "local" / "manifest.jsonl"))
    assert audit(tmp_path / "ray", spec)["max_done_lines"] == 1
    # the same job again, on either engine, does nothing
    assert run_batch(spec).skipped == 10
    assert run_batch(JobSpec(SLOW_OP, tmp_path / "in", tmp_path / "ray", grid=grid, dataset=opts)).done == 0


def test_killed_ray_driver_resumes_byte_identical(tmp_path: Path, cluster: str) -> None:
    """The driver (the real CLI, joining the cluster by address) is killed (kill -9) mid-run; the
    re-run skips what was recorded, redoes the rest, and the folder ends as an uninterrupted run's."""
    make_inputs(tmp_path / "in", 8)
    out = tmp_path / "out"
    proc = start_driver(tmp_path, "--input", str(tmp_path / "in"), "--output", str(out), "--grid", "sigma=0.6,1.2",
                        "--engine", "ray", "--address", cluster, "--workers", "2", "--grid", "delay=0.15")
    wait_for(lambda: manifest_line_count(out) >= 3, proc, timeout=90)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)  # the cluster ends the actors of a dead driver; one may finish its task first
    spec = JobSpec(SLOW_OP, tmp_path / "in", out, grid={**GRID, "delay": [0.15]}, engine="ray", workers=2)
    before = audit(out, spec)
    assert 3 <= before["done"] < before["total"] == 16 and before["torn"] == 0 and before["max_done_lines"] == 1

    summary = run_batch(spec)

    assert summary.skipped == before["done"] and summary.done == 16 - before["done"]
    after = audit(out, spec)
    assert after["done"] == 16 and after["max_done_lines"] == 1 and after["unlisted"] == [] and after["temps"] == []
    whole = run_batch(JobSpec(SLOW_OP, tmp_path / "in", tmp_path / "whole", grid={**GRID, "delay": [0.0]}))
    pngs = {k: v for k, v in files_of(out).items() if k.endswith(".png")}
    assert whole.done == len(pngs) == 16 and pngs == {k: v for k, v in files_of(tmp_path / "whole").items() if k.endswith(".png")}
    card = json.loads((out / "dataset.json").read_text())
    assert card["complete"] and card["counts"]["done"] == 16
