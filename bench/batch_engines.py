"""``python -m bench.batch_engines --out bench/results-batch-engines.json``: batch engines compared.

Images per second of ``batch wear-mask`` and ``batch makeup`` (classical, analysis included) on the
same inputs with ``--engine local`` (1 and 2 worker processes) and ``--engine ray`` on a private
2-CPU Ray cluster started by this bench on this machine (2 actors): the cluster's overhead on
one machine, reported as it is. Each setting writes a fresh output folder; ``images_per_s`` counts
the whole run (planning, workers or actors starting, models loading), ``images_per_s_steady`` the
rate after the first finished image (what the dialog's ETA uses). Ratios are to ``local_1`` of
the same op in the same run. ``cluster_start_s`` is ``ray.init`` once (not in the runs).

Resume: a ``batch wear-mask`` driver (the real CLI, ``kill -9`` once ``--kill-after`` images are
recorded) is re-run; ``resume_to_first_new_s`` is the re-run's time until its first new image is
recorded (planning, reading the manifest, removing stale temporaries, starting the engine),
``resume_total_s`` the whole re-run. Measured for the local engine (1 process) and Ray (2 actors,
the driver joining the bench's cluster by address).

Also a section module: ``run() -> dict`` and ``table(doc) -> list[str]`` like the others.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
OPS: dict[str, dict[str, Any]] = {"wear-mask": {"template": "surgical-blue", "size": 144}, "makeup": {}}
"""The ops measured and their parameters."""


def make_inputs(folder: Path, count: int, side: int = 256) -> None:
    """``count`` photos of one face (astronaut), flipped, shifted and re-lit so each is analysed anew."""
    from skimage import data

    from engine.imageio import save_image

    folder.mkdir(parents=True, exist_ok=True)
    base = data.astronaut()
    rng = np.random.default_rng(0)
    for i in range(count):
        img = base[:, ::-1] if i % 2 else base
        dx, dy = rng.integers(-30, 30, 2)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (512, 512), borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img * rng.uniform(0.8, 1.1), 0, 255).astype(np.uint8)
        save_image(folder / f"img{i:03d}.png", cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA))


def timed_run(op: str, inputs: Path, out: Path, engine: str, workers: int) -> dict[str, Any]:
    """One fresh run: wall time, whole-run and steady images/s."""
    from engine.batch import BatchProgress, JobSpec, run_batch

    firsts: list[float] = []

    def progress(p: BatchProgress) -> None:
        if p.done + p.failed == 1 and not firsts:
            firsts.append(time.perf_counter())

    t0 = time.perf_counter()
    s = run_batch(JobSpec(op, inputs, out, params=OPS[op], engine=engine, workers=workers), progress=progress)
    wall = time.perf_counter() - t0
    n = s.done + s.failed
    steady = (n - 1) / (t0 + wall - firsts[0]) if firsts and n > 1 and t0 + wall > firsts[0] else None
    return {"images": n, "failed": s.failed, "wall_s": round(wall, 3), "images_per_s": round(n / wall, 3),
            "images_per_s_steady": round(steady, 3) if steady else None,
            "startup_s": round(firsts[0] - t0, 3) if firsts else None}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _manifest_lines(out: Path) -> int:
    try:
        return (out / "manifest.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def resume_after_kill(inputs: Path, out: Path, engine: str, address: str | None, kill_after: int) -> dict[str, Any]:
    """Kill a CLI driver (``kill -9``) after ``kill_after`` recorded images, then time the re-run."""
    from engine.batch import BatchProgress, JobSpec, run_batch

    cmd = [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main(sys.argv[1:]))",
           "batch", "wear-mask", "--input", str(inputs), "--output", str(out),
           "--template", "surgical-blue", "--size", "144", "--engine", engine,
           "--workers", "2" if engine == "ray" else "1"]
    if address:
        cmd += ["--address", address]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while _manifest_lines(out) < kill_after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    recorded = _manifest_lines(out)
    time.sleep(0.5)  # a dead driver's actors are ended by the cluster
    first: list[float] = []

    def progress(p: BatchProgress) -> None:
        if p.done + p.failed >= 1 and not first:
            first.append(time.perf_counter())

    t0 = time.perf_counter()
    s = run_batch(JobSpec("wear-mask", inputs, out, params=OPS["wear-mask"], engine=engine,
                          workers=2 if engine == "ray" else 1), progress=progress)
    total = time.perf_counter() - t0
    return {"killed_after_recorded": recorded, "skipped": s.skipped, "redone": s.done + s.failed,
            "resume_to_first_new_s": round(first[0] - t0, 3) if first else None, "resume_total_s": round(total, 3)}


def run(images: int = 24, kill_after: int = 8) -> dict[str, Any]:
    """The ``batch_engines`` section."""
    import ray

    doc: dict[str, Any] = {"images": images, "side": 256, "cluster_cpus": 2}
    with tempfile.TemporaryDirectory(prefix="masquerade-bench-engines-") as tmp:
        work = Path(tmp)
        make_inputs(work / "in", images)
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
        doc["cluster_start_s"] = round(time.perf_counter() - t0, 3)
        try:
            address = ray.get_runtime_context().gcs_address
            for op in OPS:
                r: dict[str, Any] = {
                    "local_1": timed_run(op, work / "in", work / f"{op}-l1", "local", 1),
                    "local_2": timed_run(op, work / "in", work / f"{op}-l2", "local", 2),
                    "ray_2": timed_run(op, work / "in", work / f"{op}-r2", "ray", 2),
                }
                for key in ("local_2", "ray_2"):
                    r[f"{key}_vs_local_1"] = _ratio(r[key]["images_per_s"], r["local_1"]["images_per_s"])
                    r[f"{key}_vs_local_1_steady"] = _ratio(r[key]["images_per_s_steady"],
                                                           r["local_1"]["images_per_s_steady"])
                doc[op] = r
            doc["resume_after_kill"] = {
                "local_1": resume_after_kill(work / "in", work / "resume-local", "local", None, kill_after),
                "ray_2": resume_after_kill(work / "in", work / "resume-ray", "ray", address, kill_after),
            }
        finally:
            ray.shutdown()
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable rows of the section."""
    rows = [f"batch engines ({doc['images']} images {doc['side']}², Ray cluster of {doc['cluster_cpus']} CPUs "
            f"started in {doc['cluster_start_s']:.1f} s)",
            "  op          engine    wall s  start-up s   img/s  img/s steady"]
    for op in OPS:
        for key in ("local_1", "local_2", "ray_2"):
            r = doc[op][key]
            steady = r["images_per_s_steady"]
            rows.append(f"  {op:<11} {key:<8} {r['wall_s']:>7.2f} {r['startup_s'] or float('nan'):>10.2f} "
                        f"{r['images_per_s']:>7.2f} {steady if steady is not None else float('nan'):>12.2f}")
        rows.append(f"  {op:<11} vs local_1: local_2 ×{doc[op]['local_2_vs_local_1']} "
                    f"(steady ×{doc[op]['local_2_vs_local_1_steady']}), ray_2 ×{doc[op]['ray_2_vs_local_1']} "
                    f"(steady ×{doc[op]['ray_2_vs_local_1_steady']})")
    for key, r in doc["resume_after_kill"].items():
        rows.append(f"  resume after kill -9 ({key}): {r['skipped']} skipped, {r['redone']} redone, first new image "
                    f"after {r['resume_to_first_new_s']} s, whole re-run {r['resume_total_s']} s")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the section, write the JSON, print the table."""
    p = argparse.ArgumentParser(prog="python -m bench.batch_engines", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="results JSON file to write")
    p.add_argument("--images", type=int, default=24, help="input images (default 24)")
    p.add_argument("--kill-after", type=int, default=8, help="resume bench: kill the driver after N recorded")
    args = p.parse_args(argv)
    from bench.__main__ import machine_info

    doc = {"machine": machine_info(), "batch_engines": run(args.images, args.kill_after)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print("\n".join(table(doc["batch_engines"])))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
