"""Batch jobs under abuse: kill -9, Ctrl+C to the process group, concurrent shards, full disk,
changed jobs, odd input folders. Small images and a slowed-down lineart op keep every test fast."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine.batch.manifest as batch_manifest
from engine.batch import (
    JOB_NAME,
    MANIFEST_NAME,
    BatchError,
    BatchOp,
    JobSpec,
    get_op,
    plan_job,
    read_manifest,
    register_op,
    run_batch,
)
from engine.batch.manifest import ManifestWriter, TaskOutcome, claim_shard, folder_lock
from engine.batch.plan import Task, check_unique_outputs
from engine.imageio import load_image, save_image

REPO = Path(__file__).resolve().parents[2]
SLOW_OP = "slow-lineart"
GRID = {"sigma": [0.6, 1.2]}

# A driver run as a script (spawn workers re-import it as __mp_main__, so its functions pickle):
# registers SLOW_OP (lineart that sleeps per task) and runs the real CLI on it.
DRIVER = textwrap.dedent(f'''
    import sys, time
    sys.path.insert(0, {str(REPO)!r})
    from engine.batch import BatchOp, get_op, register_op

    def slow_runner():
        base = get_op("lineart").runner()
        def run(image, params):
            time.sleep(float(params["delay"]))
            return base(image, {{k: v for k, v in params.items() if k != "delay"}})
        return run

    def slow_params(params):
        p = dict(params)
        delay = p.pop("delay", 0.03)
        return {{**get_op("lineart").normalize(p), "delay": float(delay)}}

    register_op(BatchOp({SLOW_OP!r}, slow_runner, slow_params, ".png"))

    if __name__ == "__main__":
        from engine.cli import main
        sys.exit(main(["batch"] + sys.argv[1:]))
''')


def _slow_runner():  # the same op in this process (no delay needed for the re-runs here)
    base = get_op("lineart").runner()

    def run(image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        return base(image, {k: v for k, v in params.items() if k != "delay"})

    return run


def _slow_params(params: dict[str, Any]) -> dict[str, Any]:
    p = dict(params)
    delay = p.pop("delay", 0.03)
    return {**get_op("lineart").normalize(p), "delay": float(delay)}


register_op(BatchOp(SLOW_OP, _slow_runner, _slow_params, ".png"))


# --- helpers -------------------------------------------------------------------------------------

def make_inputs(folder: Path, n: int, size: int = 40) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.full((size, size, 3), 210, np.uint8)
        y, x = rng.integers(0, size // 2, 2)
        img[y:y + size // 3, x:x + size // 3] = rng.integers(0, 120, 3)
        save_image(folder / f"img{i:02d}.png", img)


def start_driver(tmp_path: Path, *args: str) -> subprocess.Popen:
    driver = tmp_path / "driver.py"
    if not driver.exists():
        driver.write_text(DRIVER)
    return subprocess.Popen([sys.executable, str(driver), SLOW_OP, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def manifest_line_count(out: Path) -> int:
    try:
        return (out / MANIFEST_NAME).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for(cond, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"process ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.003)


def audit(out: Path, spec: JobSpec) -> dict[str, Any]:
    """The promises of an output folder, checked from the outside.

    Returns counts: ``done`` (tasks whose last record is done), ``done_lines`` per id, ``torn``
    (unparseable manifest lines), ``unlisted`` (output files no done record names), ``temps``.
    Asserts that every output a done record names decodes.
    """
    raw = (out / MANIFEST_NAME).read_bytes().split(b"\n") if (out / MANIFEST_NAME).exists() else []
    recs, torn = [], 0
    for line in raw:
        if not line:
            continue
        try:
            recs.append(json.loads(line))
        except ValueError:
            torn += 1
    last = {r["id"]: r for r in recs}
    done_lines: dict[str, int] = {}
    for r in recs:
        if r["status"] == "done":
            done_lines[r["id"]] = done_lines.get(r["id"], 0) + 1
    listed = set()
    for r in last.values():
        if r["status"] == "done":
            for o in r.get("outputs", {}).values() or [r["output"]]:
                listed.add(o)
                assert load_image(out / o).ndim == 3, o                    # decodes
    files = {p.name for p in out.iterdir() if p.is_file() and p.suffix == ".png" and not p.name.startswith(".")}
    tasks = plan_job(spec, get_op(spec.op)).tasks
    return {
        "done": sum(last.get(t.id, {}).get("status") == "done" for t in tasks),
        "total": len(tasks),
        "max_done_lines": max(done_lines.values(), default=0),
        "torn": torn,
        "unlisted": sorted(files - listed),
        "temps": sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")),
        "recorded": len(last),
    }


# --- 1. kill -9 mid-run --------------------------------------------------------------------------

def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("workers, target", [(1, "group"), (2, "group"), (2, "parent")])
def test_sigkill_mid_run_then_rerun_does_only_the_missing_work(tmp_path: Path, workers: int, target: str) -> None:
    make_inputs(tmp_path / "in", 12)
    out = tmp_path / "out"
    proc = start_driver(tmp_path, "--input", str(tmp_path / "in"), "--output", str(out), "--workers", str(workers),
                        "--grid", "sigma=0.6,1.2")
    wait_for(lambda: manifest_line_count(out) >= 5, proc)
    if target == "group":
        os.killpg(proc.pid, signal.SIGKILL)                                # parent and workers at once
    else:
        os.kill(proc.pid, signal.SIGKILL)                                  # workers must notice and quit
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while not group_gone(proc.pid):                                        # no orphaned worker goes on writing
        assert time.monotonic() < deadline, "worker processes outlived their killed parent"
        time.sleep(0.01)
    spec = JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID)
    before = audit(out, spec)
    assert 5 <= before["done"] < before["total"] == 24
    assert before["torn"] == 0 and before["max_done_lines"] == 1
    # a worker may have renamed an output in place just before its parent died: it is whole
    # (decodes) but unrecorded, and the re-run redoes it under the same name

    summary = run_batch(spec)

    assert (summary.skipped, summary.done, summary.failed) == (before["done"], 24 - before["done"], 0)
    after = audit(out, spec)
    assert after["done"] == after["total"] == 24 and after["max_done_lines"] == 1 and after["torn"] == 0
    assert after["unlisted"] == [] and after["temps"] == []


# --- 2. Ctrl+C -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sig, when", [(signal.SIGINT, "workers starting"), (signal.SIGINT, "running"),
                                       (signal.SIGTERM, "running")])
def test_ctrl_c_to_the_process_group_is_a_clean_resumable_stop(tmp_path: Path, sig: int, when: str) -> None:
    """A terminal's Ctrl+C reaches the workers too; while they were still starting it used to kill
    them with a KeyboardInterrupt traceback and end in 'a worker process died'. SIGTERM (kill, a
    scheduler, docker stop) used to end the job silently; now it stops it like Ctrl+C."""
    make_inputs(tmp_path / "in", 12)
    out = tmp_path / "out"
    proc = start_driver(tmp_path, "--input", str(tmp_path / "in"), "--output", str(out), "--workers", "2",
                        "--grid", "sigma=0.6,1.2")
    if when == "running":
        wait_for(lambda: manifest_line_count(out) >= 3, proc)
    else:
        wait_for(lambda: (out / JOB_NAME).exists(), proc)                 # planned; pool not up yet
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "worker process died" not in stderr
    assert stderr.strip().splitlines()[-1] == "masquerade: cancelled; run the same command again to resume"
    spec = JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID)
    before = audit(out, spec)
    assert before["done"] < 24 and before["torn"] == 0
    if sig == signal.SIGINT:  # workers ignore it and finish their task; SIGTERM kills them mid-task
        assert before["unlisted"] == []
    assert f"{before['done']} done" in stdout
    summary = run_batch(spec)
    assert summary.skipped == before["done"] and summary.done == 24 - before["done"]
    after = audit(out, spec)
    assert after["max_done_lines"] == 1 and after["unlisted"] == [] and after["temps"] == []


# --- 3. shards -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_shards_of_any_count_cover_each_task_once(tmp_path: Path, n: int) -> None:
    make_inputs(tmp_path / "in", 7)
    grid = {"sigma": [0.6, 0.9, 1.2]}
    whole = [t.id for t in plan_job(JobSpec(SLOW_OP, tmp_path / "in", tmp_path / "o", grid=grid), get_op(SLOW_OP)).tasks]
    parts = [t.id for i in range(n)
             for t in plan_job(JobSpec(SLOW_OP, tmp_path / "in", tmp_path / "o", grid=grid, shard=(i, n)),
                               get_op(SLOW_OP)).tasks]
    assert sorted(parts) == sorted(whole) and len(set(whole)) == 21


def test_two_shard_processes_share_one_folder_without_torn_or_duplicate_lines(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 12)
    out = tmp_path / "out"
    args = ("--input", str(tmp_path / "in"), "--output", str(out), "--grid", "sigma=0.6,1.2")
    procs = [start_driver(tmp_path, *args, "--shard", f"{i}/2") for i in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    a = audit(out, JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID))
    assert a["done"] == a["total"] == 24 and a["recorded"] == 24
    assert a["torn"] == 0 and a["max_done_lines"] == 1 and a["unlisted"] == []
    assert len(batch_manifest.read_manifest(out / MANIFEST_NAME)) == 24


@pytest.mark.parametrize("held, mine, ok", [((0, 2), (1, 2), True), ((0, 2), (0, 2), False),
                                            ((0, 2), (1, 3), False), ((0, 1), (0, 1), False)])
def test_overlapping_live_runs_are_refused(tmp_path: Path, held: tuple, mine: tuple, ok: bool) -> None:
    """A live run holds its shard lock; a run that would redo its tasks is refused with a reason."""
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    claim = claim_shard(out, held)                                         # as a live run would
    try:
        spec = JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID, shard=mine)
        if ok:
            assert run_batch(spec).failed == 0
        else:
            with pytest.raises(BatchError, match=r"another batch run .* in "):
                run_batch(spec)
            assert not (out / MANIFEST_NAME).exists()
    finally:
        claim.release()
    run_batch(JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID, shard=mine))  # released: runs
    assert not [p.name for p in out.iterdir() if p.name.endswith(".lock")]  # runs tidy their locks


def test_lock_files_of_killed_runs_neither_block_nor_stay(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    for name in (".batch.lock", ".batch-shard-0-of-1.lock", ".batch-shard-1-of-3.lock"):
        (out / name).write_bytes(b"")                                       # unlocked: their runs died
    assert run_batch(JobSpec(SLOW_OP, tmp_path / "in", out)).done == 2
    assert not [p.name for p in out.iterdir() if p.name.endswith(".lock")]


def test_run_set_up_waits_for_the_folder_lock(tmp_path: Path) -> None:
    """Set-up (job check, temp clean-up) of two runs never interleaves: the second one waits (before,
    one shard could delete the job.json temp of another starting shard, which then failed)."""
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    result: list[Any] = []
    with folder_lock(out):
        t = threading.Thread(target=lambda: result.append(run_batch(JobSpec(SLOW_OP, tmp_path / "in", out))))
        t.start()
        time.sleep(0.3)
        assert not (out / JOB_NAME).exists() and not result
    t.join(30)
    assert result and result[0].done == 2


def test_a_job_still_running_is_not_replaced_even_with_force(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    run_batch(JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID, shard=(0, 2)))
    claim = claim_shard(out, (0, 2))                                       # shard 0/2 of that job runs again
    try:
        with pytest.raises(BatchError, match="still running"):
            run_batch(JobSpec(SLOW_OP, tmp_path / "in", out, grid={"sigma": [0.7]}, shard=(1, 2), force=True))
    finally:
        claim.release()


# --- 4. full disk --------------------------------------------------------------------------------

def test_manifest_write_cut_short_by_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short manifest write is reported as a full disk, the torn line is ignored, the next line
    starts fresh, and a re-run completes with each task recorded done once."""
    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    spec = JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID)
    real_write = os.write
    calls = {"n": 0}

    def short_write(fd: int, data: bytes) -> int:
        if data.startswith(b'{"'):                                         # a manifest record
            calls["n"] += 1
            if calls["n"] == 4:                                            # the 4th: half of it fits
                return real_write(fd, data[: len(data) // 2])
        return real_write(fd, data)

    monkeypatch.setattr(batch_manifest.os, "write", short_write)
    with pytest.raises(BatchError, match=r"disk full: cannot append to .*manifest\.jsonl.*free some space"):
        run_batch(spec)
    monkeypatch.setattr(batch_manifest.os, "write", real_write)
    before = audit(out, spec)
    assert before["torn"] == 1 and before["done"] == 3
    summary = run_batch(spec)
    assert summary.skipped == 3 and summary.done == 9
    after = audit(out, spec)
    assert after["done"] == 12 and after["torn"] == 1 and after["max_done_lines"] == 1
    assert after["unlisted"] == [] and after["temps"] == []


def test_writer_after_a_failed_write_starts_a_fresh_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / MANIFEST_NAME
    task = Task("a.png@000000000001", tmp_path / "a.png", {}, "a.png")
    task2 = Task("b.png@000000000002", tmp_path / "b.png", {}, "b.png")
    real_write = os.write
    with ManifestWriter(path) as writer:
        monkeypatch.setattr(batch_manifest.os, "write", lambda fd, data: real_write(fd, data[:10]))
        with pytest.raises(BatchError, match="disk full"):
            writer.append(task, TaskOutcome("done"))
        monkeypatch.setattr(batch_manifest.os, "write", real_write)
        writer.append(task2, TaskOutcome("done"))
    assert list(read_manifest(path)) == [task2.id]
    assert path.read_bytes().count(b"\n") == 2


def test_no_space_while_appending_says_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with ManifestWriter(tmp_path / MANIFEST_NAME) as writer:
        monkeypatch.setattr(batch_manifest.os, "write", full)
        with pytest.raises(BatchError, match=r"^disk full: .*No space left.*run again to resume$"):
            writer.append(Task("a@1", None, {}, "a.png", seed=1), TaskOutcome("done"))


# --- 5. a changed job ----------------------------------------------------------------------------

def test_changed_grid_or_op_is_refused_and_force_keeps_every_old_manifest(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    run_batch(JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID))
    for other in (JobSpec(SLOW_OP, tmp_path / "in", out, grid={"sigma": [0.6, 1.0]}),
                  JobSpec("lineart", tmp_path / "in", out, grid=GRID),
                  JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID, params={"phi": 100})):
        with pytest.raises(BatchError, match=r"holds a different job .*--force"):
            run_batch(other)
    first = (out / MANIFEST_NAME).read_bytes()
    run_batch(JobSpec(SLOW_OP, tmp_path / "in", out, grid={"sigma": [0.6, 1.0]}, force=True))
    second = (out / MANIFEST_NAME).read_bytes()
    run_batch(JobSpec(SLOW_OP, tmp_path / "in", out, grid=GRID, force=True))
    assert (out / (MANIFEST_NAME + ".old")).read_bytes() == first          # not clobbered by the 2nd force
    assert (out / (MANIFEST_NAME + ".old2")).read_bytes() == second
    assert len(read_manifest(out / MANIFEST_NAME)) == 4


# --- 6. odd input folders ------------------------------------------------------------------------

def test_odd_input_folder_never_overwrites_an_output(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    img = np.full((32, 32, 3), 200, np.uint8)
    img[8:20, 10:24] = 30
    names = ["a.jpg", "a.png", "a.jpg.png", "b.png", "B.jpg", "c.png"]
    for i, name in enumerate(names):
        save_image(src / name, np.roll(img, 3 * i, axis=1))                # distinct content per input
    (src / "sub").mkdir()
    save_image(src / "sub" / "d.png", img)                                 # not recursive
    (src / "notes.txt").write_text("not an image")
    (src / "empty.png").write_bytes(b"")
    (src / "fake.jpg").write_text("not a jpeg")
    (src / "dir.png").mkdir()
    (src / "broken.png").symlink_to(tmp_path / "nowhere.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(src / "fifo.png")                                        # reading it would block
    out = tmp_path / "out"
    summary = run_batch(JobSpec(SLOW_OP, src, out))
    assert (summary.done, summary.failed) == (len(names), 3)
    recs = read_manifest(out / MANIFEST_NAME)
    done = {r["input"]: r["output"] for r in recs.values() if r["status"] == "done"}
    assert sorted(done) == sorted(names)
    assert len({o.casefold() for o in done.values()}) == len(names)        # distinct even ignoring case
    assert done["c.png"] == "c.png" and done["a.jpg"] == "a.jpg.png" and done["a.jpg.png"] == "a.jpg.png.png"
    for name, output in done.items():                                      # each output is its own input's
        expected = get_op("lineart").runner()(load_image(src / name), get_op("lineart").normalize({}))
        assert np.array_equal(load_image(out / output)[..., 0], expected), name
    errors = {r["input"] for r in recs.values() if r["status"] == "error"}
    assert errors == {"empty.png", "fake.jpg", "broken.png"}  # a broken link gets its error line


def test_a_plan_with_two_tasks_on_one_file_is_refused() -> None:
    a = Task("x.png@1", Path("/i/x.png"), {}, "x.png")
    b = Task("x.jpg@2", Path("/i/x.jpg"), {}, "X.png")
    with pytest.raises(BatchError, match="would both write X.png"):
        check_unique_outputs([a, b])
    with pytest.raises(BatchError, match="job's own"):
        check_unique_outputs([Task("j@1", None, {}, "job.json", seed=1)])
    check_unique_outputs([a, Task("y.png@3", Path("/i/y.png"), {}, "y.png")])


def test_append_after_another_runs_torn_line_and_under_the_manifest_lock(tmp_path: Path) -> None:
    """Another shard's run may tear a line (killed, disk full) between two of ours: our next line
    still starts fresh. Appends wait for the manifest's flock (whole lines on any file system)."""
    import fcntl

    path = tmp_path / MANIFEST_NAME
    tasks = [Task(f"{c}.png@00000000000{i}", tmp_path / f"{c}.png", {}, f"{c}.png") for i, c in enumerate("abc")]
    with ManifestWriter(path) as writer:
        writer.append(tasks[0], TaskOutcome("done"))
        with open(path, "ab") as other:                                     # the other run, killed mid-line
            other.write(b'{"id":"x.png@1","status":"do')
        writer.append(tasks[1], TaskOutcome("done"))
        with open(path, "rb") as other:
            fcntl.flock(other.fileno(), fcntl.LOCK_EX)                      # another run is appending
            t = threading.Thread(target=writer.append, args=(tasks[2], TaskOutcome("done")))
            t.start()
            time.sleep(0.2)
            assert tasks[2].id not in read_manifest(path)
        t.join(10)
    assert list(read_manifest(path)) == [t.id for t in tasks]


def test_cli_on_a_full_disk_prints_what_was_done_then_one_error_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import engine.batch.core as batch_core
    from engine.cli import main

    make_inputs(tmp_path / "in", 4)
    real_save = batch_core.save_image
    from testkit import disk_full_after  # (not at the top: Ray workers import this module without it)

    disk_full_after(monkeypatch, batch_core, 2)
    args = ["batch", "lineart", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "batch lineart: 2 done, 0 skipped, 1 failed of 4" in captured.out
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("masquerade: error: disk full while writing to") and last.endswith("run again to resume")
    monkeypatch.setattr(batch_core, "save_image", real_save)
    assert main(args) == 0
    assert "2 done, 2 skipped, 0 failed of 4" in capsys.readouterr().out


def test_multi_output_task_writes_all_files_or_none(tmp_path, monkeypatch) -> None:
    """A full disk while writing the second file of a task leaves no file of the set."""
    import errno

    import numpy as np

    from engine import imageio
    from engine.batch import core
    from engine.batch.plan import Task

    task = Task(id="t", input_path=None, output="a.png", params={}, seed=3,
                outputs=(("img", "a.png"), ("meta.json", "a.json"), ("mask", "a_mask.png")))
    runner = lambda seed, params: {"img": np.zeros((8, 8, 3), np.uint8), "meta.json": {"seed": seed},
                                   "mask": np.zeros((8, 8), np.uint8)}
    real = imageio.tempfile.mkstemp
    calls = {"n": 0}

    def full_on_second(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(imageio.tempfile, "mkstemp", full_on_second)
    res = core.process_task(runner, task, tmp_path)
    assert res.status == "error" and "No space left" in res.error, res
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.setattr(imageio.tempfile, "mkstemp", real)
    assert core.process_task(runner, task, tmp_path).status == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.png", "a_mask.png"]


def test_an_input_replaced_under_the_same_name_is_done_again(tmp_path) -> None:
    import os

    import numpy as np

    from engine.batch import JobSpec, read_manifest, run_batch
    from engine.imageio import load_image, save_image

    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i in range(3):
        save_image(inp / f"p{i}.png", np.full((24, 32, 3), 40 * i, np.uint8))
    spec = JobSpec(op="lineart", input_dir=inp, output_dir=out, params={}, workers=1)
    assert run_batch(spec).done == 3
    first = load_image(out / "p1.png")
    picture = np.zeros((24, 32, 3), np.uint8)
    picture[:, 16:] = 255  # an edge: its line art differs from the flat picture's
    save_image(inp / "p1.png", picture)
    st = (inp / "p1.png").stat()
    os.utime(inp / "p1.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # coarse file-system clocks
    again = run_batch(spec)
    assert (again.done, again.skipped) == (1, 2)
    assert (load_image(out / "p1.png") != first).any()
    assert run_batch(spec).skipped == 3  # nothing changed since
    # records written before inputs were recorded are trusted as before
    lines = (out / "manifest.jsonl").read_text().splitlines()
    import json
    stripped = [json.dumps({k: v for k, v in json.loads(ln).items() if k != "input_stat"}) for ln in lines]
    (out / "manifest.jsonl").write_text("\n".join(stripped) + "\n")
    save_image(inp / "p2.png", picture)
    assert run_batch(spec).skipped == 3
    assert all("input_stat" not in r for r in read_manifest(out / "manifest.jsonl").values())
