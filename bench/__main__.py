"""``python -m bench --out bench/results.json``: XDoG latency and batch line-art throughput.

See ``bench/README.md`` for what each JSON field means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PIL

from engine.batch import JobSpec, run_batch
from engine.imageio import save_image
from engine.studios.opera.classical import XDoGParams, xdog

XDOG_TARGET_MS: float = 25.0
"""Issue target: median XDoG latency at 512² on the project's 2-core CPU, in milliseconds."""


SECTIONS: tuple[str, ...] = ("faces", "pose", "parser", "opera", "opera_learned", "expression", "makeup", "makeup_reference", "regenerate",
                             "maskwear")
"""Modules of ``bench/`` that add a section (each has ``run() -> dict`` and ``table(doc) -> list[str]``)."""


def machine_info() -> dict[str, Any]:
    """CPU, OS and library versions the numbers were measured with."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "pillow": PIL.__version__,
    }


def synthetic_image(size: int, seed: int) -> np.ndarray:
    """A photo-like RGB ``uint8`` ``[size, size, 3]``: gradient, shapes and mild sensor noise.

    Args:
        size: side in pixels.
        seed: random seed (the same seed gives the same picture).

    Returns:
        The image.
    """
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 215, size, dtype=np.float32)
    img = np.stack([ramp[None, :].repeat(size, 0), ramp[:, None].repeat(size, 1),
                    np.full((size, size), 128, np.float32)], axis=-1)
    for _ in range(8):
        x0, y0, x1, y1 = (int(v) for v in rng.integers(0, size, 4))
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
        else:
            cv2.circle(img, (x0, y0), max(4, abs(x1 - x0) // 3), colour, -1)
    img += rng.normal(0.0, 4.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def time_xdog(size: int, runs: int, warmup: int) -> dict[str, Any]:
    """Latency of :func:`xdog` (default parameters) on one ``size``² RGB image.

    Args:
        size: image side in pixels.
        runs: timed repetitions.
        warmup: untimed repetitions first (caches, thread pools).

    Returns:
        ``size``, ``runs``, ``warmup`` and ``median_ms``, ``p90_ms``, ``mean_ms``, ``min_ms``.
    """
    img = synthetic_image(size, seed=size)
    params = XDoGParams()
    for _ in range(warmup):
        xdog(img, params)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        xdog(img, params)
        times.append((time.perf_counter() - t0) * 1e3)
    return {
        "size": size,
        "runs": runs,
        "warmup": warmup,
        "median_ms": round(statistics.median(times), 3),
        "p90_ms": round(float(np.percentile(times, 90)), 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "min_ms": round(min(times), 3),
    }


def write_inputs(folder: Path, count: int, size: int) -> None:
    """Write ``count`` synthetic ``size``² PNGs into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        save_image(folder / f"bench{i:03d}.png", synthetic_image(size, seed=i))


def _timed_run(input_dir: Path, output_dir: Path, workers: int) -> float:
    """Wall seconds of one fresh ``lineart`` batch run (output folder emptied first)."""
    shutil.rmtree(output_dir, ignore_errors=True)
    t0 = time.perf_counter()
    summary = run_batch(JobSpec("lineart", input_dir, output_dir, workers=workers))
    elapsed = time.perf_counter() - t0
    if summary.failed or summary.done != summary.total:
        raise RuntimeError(f"bench batch run failed: {summary}")
    return elapsed


def time_batch(work: Path, images: int, size: int, workers: int, repeats: int) -> dict[str, Any]:
    """Throughput of ``lineart`` batch runs with ``workers`` processes.

    The start-up cost (planning, folder set-up, spawning and importing the workers) is measured
    as the wall time of a job of one tiny image per worker.

    Args:
        work: scratch folder holding ``in/`` (the bench images); ``tiny<workers>/`` is made here.
        images: number of input images (for the throughput).
        size: their side in pixels (recorded only).
        workers: worker processes (1 = in-process).
        repeats: runs of each measurement; the median is reported.

    Returns:
        ``workers``, ``images``, ``size``, ``repeats``, ``wall_s``, ``startup_s``,
        ``images_per_s`` and ``images_per_s_excl_startup``.
    """
    tiny = work / f"tiny{workers}"
    if not tiny.exists():
        write_inputs(tiny, workers, 8)
    startup = statistics.median(_timed_run(tiny, work / "out_tiny", workers) for _ in range(repeats))
    wall = statistics.median(_timed_run(work / "in", work / "out", workers) for _ in range(repeats))
    steady = wall - startup
    return {
        "workers": workers,
        "images": images,
        "size": size,
        "repeats": repeats,
        "wall_s": round(wall, 4),
        "startup_s": round(startup, 4),
        "images_per_s": round(images / wall, 2),
        "images_per_s_excl_startup": round(images / steady, 2) if steady > 0 else None,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def run_all(images: int, size: int, repeats: int, xdog_runs: int) -> dict[str, Any]:
    """Every measurement, as the JSON document written by :func:`main`."""
    xdog_results = {
        "512": time_xdog(512, runs=xdog_runs, warmup=5),
        "2048": time_xdog(2048, runs=max(5, xdog_runs // 5), warmup=2),
    }
    with tempfile.TemporaryDirectory(prefix="masquerade-bench-") as tmp:
        work = Path(tmp)
        write_inputs(work / "in", images, size)
        batch = {f"workers_{w}": time_batch(work, images, size, w, repeats) for w in (1, 2)}
    one, two = batch["workers_1"], batch["workers_2"]
    batch["speedup_2_vs_1"] = _ratio(two["images_per_s"], one["images_per_s"])
    batch["speedup_2_vs_1_excl_startup"] = _ratio(two["images_per_s_excl_startup"], one["images_per_s_excl_startup"])
    median_512 = xdog_results["512"]["median_ms"]
    return {
        "schema": 1,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "xdog": xdog_results,
        "target": {
            "metric": "xdog 512x512 median_ms",
            "limit_ms": XDOG_TARGET_MS,
            "value_ms": median_512,
            "pass": median_512 <= XDOG_TARGET_MS,
        },
        "batch_lineart": batch,
        **{name: module.run() for name, module in _sections()},
    }


def _sections():
    """Bench sections that live in their own module: ``(json key, module with run() and table())``."""
    import importlib

    return [(name, importlib.import_module(f"bench.{name}")) for name in SECTIONS]


def format_table(doc: dict[str, Any]) -> str:
    """Short human-readable summary of a results document."""
    m, t = doc["machine"], doc["target"]
    rows = [f"machine: {m['cpus_usable']} CPUs usable, numpy {m['numpy']}, opencv {m['opencv']}",
            "xdog        median ms   p90 ms"]
    for key, r in doc["xdog"].items():
        rows.append(f"  {key + '²':<9} {r['median_ms']:>9.2f} {r['p90_ms']:>8.2f}")
    rows.append(f"  target 512² ≤ {t['limit_ms']:.0f} ms: {'PASS' if t['pass'] else 'FAIL'}")
    rows.append("batch lineart   wall s   start-up s   img/s   img/s excl. start-up")
    b = doc["batch_lineart"]
    for w in (1, 2):
        r = b[f"workers_{w}"]
        excl = r["images_per_s_excl_startup"]
        rows.append(f"  {w} worker(s)  {r['wall_s']:>7.2f} {r['startup_s']:>12.3f} {r['images_per_s']:>7.1f} "
                    f"{excl if excl is not None else float('nan'):>10.1f}")
    rows.append(f"  2 vs 1 workers: ×{b['speedup_2_vs_1']} (×{b['speedup_2_vs_1_excl_startup']} excl. start-up)")
    for name, module in _sections():
        if doc.get(name) is not None:
            rows.extend(module.table(doc[name]))
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, write the JSON file, print the table.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).

    Returns:
        Exit code 0.
    """
    p = argparse.ArgumentParser(prog="python -m bench", description="Masquerade benchmarks (XDoG, batch export).")
    p.add_argument("--out", required=True, help="results JSON file to write")
    p.add_argument("--images", type=int, default=120,
                   help="batch input images (default 120: enough to amortise worker start-up)")
    p.add_argument("--size", type=int, default=512, help="batch image side in pixels (default 512)")
    p.add_argument("--repeats", type=int, default=3, help="batch runs per setting; the median is kept (default 3)")
    p.add_argument("--xdog-runs", type=int, default=100, help="timed XDoG runs at 512² (2048²: a fifth) (default 100)")
    args = p.parse_args(argv)
    doc = run_all(args.images, args.size, args.repeats, args.xdog_runs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(format_table(doc))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
