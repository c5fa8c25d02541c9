"""Batch export (engine.batch): manifest, grid, resume after a kill, shards, errors, cancel, CLI."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine.batch.core as batch_core
from engine.batch import (
    JOB_NAME,
    MANIFEST_NAME,
    BatchCancelled,
    BatchError,
    BatchOp,
    BatchProgress,
    JobSpec,
    get_op,
    plan_job,
    register_op,
    run_batch,
)
from engine.batch.cli import parse_grid_arg, parse_shard_arg
from engine.cancel import CancelToken
from engine.errors import Cancelled
from engine.imageio import load_image, save_image

REPO = Path(__file__).resolve().parents[2]
GRID = {"sigma": [0.6, 1.2], "phi": [100, 200]}


# --- helpers -------------------------------------------------------------------------------------

def make_image(seed: int, size: int = 48) -> np.ndarray:
    """Random rectangles and a disc on a grey background: strong edges for XDoG."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 200, np.uint8)
    for _ in range(3):
        y, x = rng.integers(0, size - 12, 2)
        h, w = rng.integers(6, 16, 2)
        img[y:y + h, x:x + w] = rng.integers(0, 256, 3)
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < (size // 6) ** 2] = (20, 20, 20)
    return img


def make_inputs(folder: Path, n: int, size: int = 48) -> list[str]:
    """Write ``n`` PNGs ``img00.png ...`` and return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"img{i:02d}.png" for i in range(n)]
    for i, name in enumerate(names):
        save_image(folder / name, make_image(i, size))
    return names


def manifest_lines(out: Path) -> list[str]:
    return (out / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()


def manifest_records(out: Path) -> list[dict[str, Any]]:
    """Parsed manifest lines (unparseable lines skipped)."""
    recs = []
    for line in manifest_lines(out):
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
    return recs


def output_files(out: Path) -> set[str]:
    """Image files in the output folder (manifest/job/temps excluded)."""
    return {p.name for p in out.iterdir() if p.suffix == ".png" and not p.name.startswith(".")}


def planned_ids(spec: JobSpec) -> set[str]:
    return {t.id for t in plan_job(spec, get_op(spec.op)).tasks}


# --- manifest, grid, naming ----------------------------------------------------------------------

def test_manifest_one_line_per_task_with_fields(tmp_path: Path) -> None:
    names = make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    summary = run_batch(JobSpec("lineart", tmp_path / "in", out, grid=GRID))
    assert (summary.total, summary.done, summary.skipped, summary.failed) == (12, 12, 0, 0)
    assert summary.manifest_path == out.resolve() / MANIFEST_NAME
    recs = manifest_records(out)
    assert len(recs) == len(manifest_lines(out)) == 12
    assert len({r["id"] for r in recs}) == 12
    combos = {(r["input"], r["params"]["sigma"], r["params"]["phi"]) for r in recs}
    assert combos == {(n, s, p) for n in names for s in (0.6, 1.2) for p in (100.0, 200.0)}
    for r in recs:
        assert set(r) == {"id", "input", "params", "output", "status", "error", "elapsed_ms", "finished_at", "input_stat"}
        assert r["input_stat"][0] == (tmp_path / "in" / r["input"]).stat().st_size
        assert r["status"] == "done" and r["error"] is None and r["elapsed_ms"] >= 0
        assert not Path(r["output"]).is_absolute()
        line = load_image(out / r["output"])
        assert line.shape == (48, 48, 3)
    assert "img00__phi100_sigma0.6.png" in output_files(out)
    assert len(output_files(out)) == 12
    job = json.loads((out / JOB_NAME).read_text())
    assert job["op"] == "lineart" and job["grid"] == {"phi": [100.0, 200.0], "sigma": [0.6, 1.2]}
    assert job["input_dir"] == str((tmp_path / "in").resolve())


def test_single_combo_names_and_stem_collisions(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 1)
    save_image(tmp_path / "in" / "face.png", make_image(7))
    save_image(tmp_path / "in" / "face.jpg", make_image(8))
    run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / "out", params={"sigma": 1.0}))
    assert output_files(tmp_path / "out") == {"img00.png", "face.png.png", "face.jpg.png"}


def test_ids_do_not_depend_on_value_spelling_or_grid_order(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    a = JobSpec("lineart", tmp_path / "in", tmp_path / "o", grid={"sigma": ["0.6", 1.2], "phi": [100]})
    b = JobSpec("lineart", tmp_path / "in", tmp_path / "o", grid={"phi": [100.0], "sigma": [0.6, "1.2"]})
    assert planned_ids(a) == planned_ids(b)
    c = JobSpec("lineart", tmp_path / "in", tmp_path / "o", grid={"sigma": [0.6, 1.2], "phi": [100]},
                params={"sigma": 3.0})                                 # overridden by the grid: same job
    assert plan_job(c, get_op("lineart")).identity == plan_job(a, get_op("lineart")).identity


@pytest.mark.parametrize("grid, match", [
    ({"sigma": []}, "non-empty"),
    ({"sigma": [0.6, "0.6"]}, "twice"),
    ({"sigmaa": [1]}, "unknown"),
    ({"sigma": [-1]}, "sigma must be > 0"),
    ({"sigma": [1e9]}, "sigma must be > 0 and ≤ 20 px"),
    ({"k": [1.6, 1e9]}, "k must be > 1 and ≤ 10"),
])
def test_bad_grid_is_refused_before_anything_is_written(tmp_path: Path, grid: dict, match: str) -> None:
    make_inputs(tmp_path / "in", 1)
    with pytest.raises(ValueError, match=match):
        run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / "out", grid=grid))
    assert not (tmp_path / "out").exists()


# --- resume --------------------------------------------------------------------------------------

def test_second_run_of_a_finished_job_does_nothing(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 3)
    spec = JobSpec("lineart", tmp_path / "in", tmp_path / "out", grid={"sigma": [0.6, 1.2]})
    run_batch(spec)
    before = manifest_lines(tmp_path / "out")
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    seen: list[BatchProgress] = []
    summary = run_batch(spec, progress=seen.append)
    assert (summary.done, summary.skipped, summary.failed) == (0, 6, 0)
    assert manifest_lines(tmp_path / "out") == before
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items() if p.name != JOB_NAME)
    assert seen == [BatchProgress(0, 0, 6, 6, seen[0].elapsed_s)]


def _killed_run(input_dir: str, output_dir: str, kill_after: int, workers: int) -> None:
    """Child process: run the job and die abruptly (no cleanup) after ``kill_after`` recorded tasks."""

    def die(p: BatchProgress) -> None:
        if p.done >= kill_after:
            os._exit(3)

    run_batch(JobSpec("lineart", input_dir, output_dir, grid={"sigma": [0.6, 1.2]}, workers=workers), progress=die)


@pytest.mark.parametrize("workers", [1, 2])
def test_resume_after_kill_loses_and_duplicates_nothing(tmp_path: Path, workers: int) -> None:
    make_inputs(tmp_path / "in", 5)
    out = tmp_path / "out"
    child = multiprocessing.get_context("spawn").Process(
        target=_killed_run, args=(str(tmp_path / "in"), str(out), 4, workers))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    spec = JobSpec("lineart", tmp_path / "in", out, grid={"sigma": [0.6, 1.2]})
    tasks = plan_job(spec, get_op("lineart")).tasks
    recorded = manifest_records(out)
    # a pool job's writer thread may have recorded one more task than the progress had counted
    assert 4 <= len(recorded) <= (4 if workers == 1 else 6)
    # Tear the last manifest line as a kill mid-write would, and leave debris of a killed write.
    data = (out / MANIFEST_NAME).read_bytes()
    (out / MANIFEST_NAME).write_bytes(data[:-25])
    torn = recorded[-1]
    unrecorded = next(t for t in tasks if t.id not in {r["id"] for r in recorded})
    (out / unrecorded.output).write_bytes(b"half an image")           # output without a manifest line
    stale = out / f".{unrecorded.output}.k3j_x9q2.tmp"
    stale.write_bytes(b"partial")
    foreign = out / ".other_shard.png.abcdefgh.tmp"                    # not one of this job's outputs
    foreign.write_bytes(b"x")

    summary = run_batch(spec)

    skipped = len(recorded) - 1  # all but the torn line
    assert (summary.skipped, summary.done, summary.failed) == (skipped, len(tasks) - skipped, 0)
    lines = manifest_lines(out)
    parsed = manifest_records(out)
    assert len(lines) == len(parsed) + 1                               # only the torn line is unreadable
    done_per_id = {t.id: sum(r["id"] == t.id and r["status"] == "done" for r in parsed) for t in tasks}
    assert set(done_per_id.values()) == {1}, done_per_id
    assert any(r["id"] == torn["id"] for r in parsed)                  # torn task was redone
    for t in tasks:
        assert load_image(out / t.output).shape == (48, 48, 3)
    assert not stale.exists() and foreign.exists()
    assert output_files(out) == {t.output for t in tasks}


# --- shards --------------------------------------------------------------------------------------

def test_shards_cover_every_task_exactly_once(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 7)
    out = tmp_path / "out"
    whole = planned_ids(JobSpec("lineart", tmp_path / "in", out, grid=GRID))
    parts = [planned_ids(JobSpec("lineart", tmp_path / "in", out, grid=GRID, shard=(i, 3))) for i in range(3)]
    assert sum(len(p) for p in parts) == len(whole) == 28
    assert set().union(*parts) == whole
    assert all(p for p in parts)
    for i in range(3):
        s = run_batch(JobSpec("lineart", tmp_path / "in", out, grid=GRID, shard=(i, 3)))
        assert s.total == len(parts[i]) and s.done == s.total
    recs = manifest_records(out)
    assert sorted(r["id"] for r in recs) == sorted(whole)


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0)])
def test_bad_shard_is_refused(tmp_path: Path, shard: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="shard"):
        JobSpec("lineart", tmp_path, tmp_path / "o", shard=shard)


# --- errors --------------------------------------------------------------------------------------

def test_unreadable_image_is_an_error_line_and_is_retried(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 3)
    (tmp_path / "in" / "broken.png").write_bytes(b"this is not a png")
    spec = JobSpec("lineart", tmp_path / "in", tmp_path / "out", grid={"sigma": [0.6, 1.2]})
    summary = run_batch(spec)
    assert (summary.done, summary.failed) == (6, 2)
    errors = [r for r in manifest_records(tmp_path / "out") if r["status"] == "error"]
    assert {r["input"] for r in errors} == {"broken.png"}
    assert all("not an image" in r["error"] and "\n" not in r["error"] for r in errors)
    assert not any(n.startswith("broken") for n in output_files(tmp_path / "out"))

    save_image(tmp_path / "in" / "broken.png", make_image(99))
    again = run_batch(spec)
    assert (again.done, again.skipped, again.failed) == (2, 6, 0)


def test_missing_input_and_unwritable_output_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="does not exist"):
        run_batch(JobSpec("lineart", tmp_path / "nope", tmp_path / "out"))
    make_inputs(tmp_path / "in", 1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(BatchError, match="not writable"):
        run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / "file" / "out"))
    with pytest.raises(BatchError, match="must differ"):
        run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / "in"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchError, match="no images"):
        run_batch(JobSpec("lineart", tmp_path / "empty", tmp_path / "out2"))
    with pytest.raises(BatchError, match="unknown batch op"):
        run_batch(JobSpec("nosuchop", tmp_path / "in", tmp_path / "out3"))


def test_disk_full_records_the_error_and_stops_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_inputs(tmp_path / "in", 4)
    spec = JobSpec("lineart", tmp_path / "in", tmp_path / "out")
    real_save = batch_core.save_image
    from testkit import disk_full_after  # (not at the top: Ray workers import this module without it)

    disk_full_after(monkeypatch, batch_core, 2)
    with pytest.raises(BatchError, match="disk full") as info:
        run_batch(spec)
    assert (info.value.summary.done, info.value.summary.failed, info.value.summary.remaining) == (2, 1, 1)
    recs = manifest_records(tmp_path / "out")
    assert [r["status"] for r in recs] == ["done", "done", "error"]
    assert "No space left" in recs[-1]["error"]
    monkeypatch.setattr(batch_core, "save_image", real_save)
    again = run_batch(spec)
    assert (again.done, again.skipped) == (2, 2)


def test_job_mismatch_is_refused_unless_forced(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    run_batch(JobSpec("lineart", tmp_path / "in", out, grid={"sigma": [0.6, 1.2]}))
    with pytest.raises(BatchError, match="different job"):
        run_batch(JobSpec("lineart", tmp_path / "in", out, grid={"sigma": [0.6, 1.3]}))
    with pytest.raises(BatchError, match="different job"):
        run_batch(JobSpec("lineart", tmp_path / "in", out, grid={"sigma": [0.6, 1.2]}, params={"phi": 50}))
    s = run_batch(JobSpec("lineart", tmp_path / "in", out, grid={"sigma": [0.6, 1.3]}, force=True))
    assert (s.done, s.skipped) == (4, 0)
    assert len(manifest_records(out)) == 4 and (out / (MANIFEST_NAME + ".old")).exists()
    assert json.loads((out / JOB_NAME).read_text())["grid"] == {"sigma": [0.6, 1.3]}


def test_folder_without_job_is_not_overwritten_unless_forced(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "img00.png").write_bytes(b"precious")
    with pytest.raises(BatchError, match="would overwrite"):
        run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / "out"))
    assert (tmp_path / "out" / "img00.png").read_bytes() == b"precious"
    assert run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / "out", force=True)).done == 2


# --- cancel, progress, workers -------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_stops_early_and_manifest_lists_only_real_outputs(tmp_path: Path, workers: int) -> None:
    make_inputs(tmp_path / "in", 10)
    out = tmp_path / "out"
    token = CancelToken()

    def cancel_after_three(p: BatchProgress) -> None:
        if p.done >= 3:
            token.cancel()

    with pytest.raises(BatchCancelled) as info:
        run_batch(JobSpec("lineart", tmp_path / "in", out, grid={"sigma": [0.6, 1.2]}, workers=workers),
                  progress=cancel_after_three, cancel=token)
    assert isinstance(info.value, Cancelled)
    s = info.value.summary
    assert s.cancelled and 3 <= s.done < 20 and s.remaining > 0
    if workers == 1:
        assert s.done == 3
    recs = manifest_records(out)
    assert len(recs) == s.done and all(r["status"] == "done" for r in recs)
    assert output_files(out) == {r["output"] for r in recs}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_progress_counts_and_eta(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 4)
    spec = JobSpec("lineart", tmp_path / "in", tmp_path / "out", grid={"sigma": [0.6, 1.2]})
    run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / "out", grid={"sigma": [0.6, 1.2]}, shard=(0, 2)))
    seen: list[BatchProgress] = []
    summary = run_batch(spec, progress=seen.append)
    first, last = seen[0], seen[-1]
    assert first.eta_s is None and first.skipped == summary.skipped > 0 and first.done == 0
    assert len(seen) == 1 + summary.done
    assert summary.done >= 3
    # no ETA until two tasks are processed: the first one carries the start-up (worker start,
    # models loading), which says nothing about the rate
    assert seen[1].eta_s is None
    assert all(p.eta_s is not None and p.eta_s >= 0 for p in seen[2:])
    assert [p.completed for p in seen] == list(range(summary.skipped, 9))
    assert last.eta_s == 0 and last.fraction == 1.0 and last.last_item is not None
    # ETA follows the processed tasks after the first only: (time since the first / intervals) × left.
    b = seen[3]
    assert b.eta_s == pytest.approx((b.elapsed_s - seen[1].elapsed_s) / (b.done + b.failed - 1)
                                    * (b.total - b.completed), abs=0.05)


def test_eta_ignores_a_slow_start_up(tmp_path: Path) -> None:
    """A runner that takes 1.5 s to build (a model loading) and 10 ms per image: the ETA after a
    few images follows the 10 ms, not the start-up."""
    make_inputs(tmp_path / "in", 6)
    register_op(BatchOp("slow-start", _slow_start_runner, get_op("lineart").normalize, ".png"))
    seen: list[BatchProgress] = []
    run_batch(JobSpec("slow-start", tmp_path / "in", tmp_path / "out"), progress=seen.append)
    third = seen[3]
    assert third.elapsed_s > 1.5
    assert third.eta_s is not None and third.eta_s < 1.0  # 3 images left at ~10 ms, not ~0.5 s each


def test_two_workers_write_the_same_bytes_as_one(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 4)
    for w in (1, 2):
        s = run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / f"out{w}", grid=GRID, workers=w))
        assert s.done == 16
    names = output_files(tmp_path / "out1")
    assert names == output_files(tmp_path / "out2") and len(names) == 16
    for n in names:
        assert (tmp_path / "out1" / n).read_bytes() == (tmp_path / "out2" / n).read_bytes()


_THREAD_RUNNERS_BUILT: list[str] = []


def _threaded_runner():  # one per worker thread (and one for the calling thread)
    import threading

    _THREAD_RUNNERS_BUILT.append(threading.current_thread().name)
    return get_op("lineart").runner()


def test_a_threads_op_runs_its_extra_workers_as_threads_with_their_own_runners(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 4)
    register_op(BatchOp("lineart-threads", _threaded_runner, get_op("lineart").normalize, ".png", threads=True))
    _THREAD_RUNNERS_BUILT.clear()
    s = run_batch(JobSpec("lineart-threads", tmp_path / "in", tmp_path / "out2", grid=GRID, workers=3))
    assert s.done == 16 and s.failed == 0
    # this process built every runner (no worker process), one per thread that ran tasks
    assert 2 <= len(_THREAD_RUNNERS_BUILT) <= 3 and len(set(_THREAD_RUNNERS_BUILT)) == len(_THREAD_RUNNERS_BUILT)
    assert any(n.startswith("batch-worker") for n in _THREAD_RUNNERS_BUILT)
    run_batch(JobSpec("lineart", tmp_path / "in", tmp_path / "out1", grid=GRID, workers=1))
    names = output_files(tmp_path / "out1")
    assert names == output_files(tmp_path / "out2") and len(names) == 16
    for n in names:
        assert (tmp_path / "out1" / n).read_bytes() == (tmp_path / "out2" / n).read_bytes()


# --- CLI -----------------------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "batch", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_runs_a_grid_and_resumes(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    args = ("lineart", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
            "--grid", "sigma=0.6,1.2", "--threshold", "0.5", "--workers", "2")
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "4 done" in r.stdout
    assert output_files(tmp_path / "out") == {f"img0{i}__sigma{s}.png" for i in (0, 1) for s in ("0.6", "1.2")}
    assert all(rec["params"]["threshold"] == 0.5 for rec in manifest_records(tmp_path / "out"))
    assert set(np.unique(load_image(tmp_path / "out" / "img00__sigma0.6.png"))) <= {0, 255}
    r2 = run_cli(*args)
    assert r2.returncode == 0 and "4 skipped" in r2.stdout


def test_cli_failures_are_one_line(tmp_path: Path) -> None:
    r = run_cli("lineart", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "out"))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("masquerade: error: input folder")
    make_inputs(tmp_path / "in", 1)
    (tmp_path / "in" / "bad.png").write_bytes(b"nope")
    r = run_cli("lineart", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"))
    assert r.returncode == 1 and "1 failed" in r.stdout and "bad.png" in r.stderr
    r = run_cli("lineart", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o2"), "--shard", "2/2")
    assert r.returncode == 2 and "shard" in r.stderr


def test_cli_ctrl_c_stops_cleanly_with_130(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 120, size=160)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "engine", "batch", "lineart", "--input", str(tmp_path / "in"),
                             "--output", str(out)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ((out / MANIFEST_NAME).exists() and manifest_lines(out)):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    recs = manifest_records(out)
    assert 0 < len(recs) < 120 and f"{len(recs)} done" in stdout
    assert output_files(out) == {r["output"] for r in recs}


def test_grid_and_shard_argument_parsing() -> None:
    assert parse_grid_arg("sigma=0.6,0.8, 1") == ("sigma", [0.6, 0.8, 1])
    assert parse_grid_arg("threshold=none,0.5") == ("threshold", [None, 0.5])
    assert parse_grid_arg("style=retro") == ("style", ["retro"])
    assert parse_shard_arg("1/4") == (1, 4)
    for bad in ("sigma", "=1", "sigma=1,,2"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected|empty"):
            parse_grid_arg(bad)
    for bad in ("4/4", "a/b", "1"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected i/n|out of range"):
            parse_shard_arg(bad)


def _slow_start_runner():  # module level: the op is pickled by reference
    time.sleep(1.5)
    base = get_op("lineart").runner()

    def run(image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        time.sleep(0.01)
        return base(image, params)

    return run


# --- write-behind (a pool job's files are written on a background thread) -------------------------

def _threaded_lineart_runner():
    return get_op("lineart").runner()


def _threaded_lineart_params(params: dict[str, Any]) -> dict[str, Any]:
    return get_op("lineart").normalize(params)


THREADED_OP = register_op(BatchOp("threaded-lineart", _threaded_lineart_runner, _threaded_lineart_params, ".png",
                                  threads=True))


def test_a_pool_job_writes_behind_and_records_a_task_only_once_its_file_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers compute the next task while the writer thread writes (and fsyncs) the last one; a
    task reaches the manifest only after its file is on disk, from the writer thread."""
    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    real_save = batch_core.save_image
    seen: list[tuple[str, bool, str]] = []

    def slow_save(path: Path, array: np.ndarray) -> Path:
        listed = Path(path).name in {r["output"] for r in manifest_records(out)}
        seen.append((Path(path).name, listed, __import__("threading").current_thread().name))
        time.sleep(0.02)
        return real_save(path, array)

    monkeypatch.setattr(batch_core, "save_image", slow_save)
    s = run_batch(JobSpec(THREADED_OP.name, tmp_path / "in", out, workers=2))
    assert (s.done, s.failed) == (6, 0)
    assert len(seen) == 6 and not any(listed for _, listed, _ in seen)  # no line before its file
    assert {name for *_, name in seen} == {"batch-writer_0"}
    recs = manifest_records(out)
    assert len(recs) == 6 and all(r["status"] == "done" for r in recs)
    assert output_files(out) == {r["output"] for r in recs}


def test_a_pool_job_stops_writing_once_the_disk_is_full_and_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a write finds the disk full, the tasks queued behind it are not tried (they stay to
    do, no error line each); the next run does them."""
    make_inputs(tmp_path / "in", 8)
    spec = JobSpec(THREADED_OP.name, tmp_path / "in", tmp_path / "out", workers=2)
    real_save = batch_core.save_image
    # a slow disk: computed tasks queue up behind the writes
    from testkit import disk_full_after

    calls = disk_full_after(monkeypatch, batch_core, 2, delay=0.05)
    with pytest.raises(BatchError, match="disk full") as info:
        run_batch(spec)
    assert calls["n"] == 3  # nothing tried after the write that found the disk full
    summary = info.value.summary
    assert (summary.done, summary.failed) == (2, 1) and summary.remaining == 5
    recs = manifest_records(tmp_path / "out")
    assert [r["status"] for r in recs] == ["done", "done", "error"]
    monkeypatch.setattr(batch_core, "save_image", real_save)
    again = run_batch(spec)
    assert (again.done, again.skipped) == (6, 2)
