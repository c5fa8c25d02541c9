"""Mask-wear bench section: single fit after analysis at 512², dataset export throughput.

Throughput runs ``batch wear-mask`` (analysis included) on 300 256² images made from
``skimage.data.astronaut()`` (flips, shifts and brightness changes, so every image is analysed
anew) with 1 and 2 worker processes; start-up is included in ``faces_per_s``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

TARGET_FIT_MS = 30.0
TARGET_FACES_PER_S = 25.0


def _fit_ms(runs: int = 20) -> dict[str, float]:
    from skimage import data

    from engine.faces import FaceAnalyzer
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.params import MaskWearParams

    img = data.astronaut()
    faces = FaceAnalyzer().analyze(img, parse=False).faces
    put_mask(img, faces, MaskWearParams(method="keypoint"))
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        put_mask(img, faces, MaskWearParams(method="keypoint"))
        t.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(float(np.median(t)), 2), "p90_ms": round(float(np.percentile(t, 90)), 2)}


def _inputs(folder: Path, count: int) -> None:
    from skimage import data

    from engine.imageio import save_image

    base = data.astronaut()
    rng = np.random.default_rng(0)
    for i in range(count):
        img = base[:, ::-1] if i % 2 else base
        dx, dy = rng.integers(-30, 30, 2)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (512, 512), borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img * rng.uniform(0.8, 1.1), 0, 255).astype(np.uint8)
        save_image(folder / f"img{i:03d}.png", cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA))


def run(images: int = 300) -> dict[str, Any]:
    """The ``maskwear`` section of the bench JSON."""
    from engine.batch import JobSpec, run_batch

    doc: dict[str, Any] = {"fit_512": _fit_ms()}
    with tempfile.TemporaryDirectory(prefix="masquerade-bench-mw-") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        _inputs(work / "in", images)
        for workers in (1, 2):
            t0 = time.perf_counter()
            s = run_batch(JobSpec("wear-mask", work / "in", work / f"out{workers}", params={"size": 144},
                                  workers=workers))
            wall = time.perf_counter() - t0
            doc[f"batch_workers_{workers}"] = {"faces": s.done, "failed": s.failed, "wall_s": round(wall, 2),
                                               "faces_per_s": round(s.done / wall, 2)}
    one, two = doc["batch_workers_1"]["faces_per_s"], doc["batch_workers_2"]["faces_per_s"]
    doc["speedup_2_vs_1"] = round(two / one, 3) if one else None
    doc["targets"] = {"fit_ms": TARGET_FIT_MS, "fit_pass": doc["fit_512"]["median_ms"] <= TARGET_FIT_MS,
                      "faces_per_s": TARGET_FACES_PER_S, "throughput_pass": max(one, two) >= TARGET_FACES_PER_S}
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    f = doc["fit_512"]
    rows = [f"mask-wear fit 512² (after analysis): {f['median_ms']:.1f} ms median "
            f"({'PASS' if doc['targets']['fit_pass'] else 'FAIL'} ≤ {doc['targets']['fit_ms']:.0f} ms)"]
    for w in (1, 2):
        b = doc[f"batch_workers_{w}"]
        rows.append(f"  wear-mask dataset, {w} worker(s): {b['faces_per_s']:.1f} faces/s ({b['faces']} faces, {b['wall_s']} s)")
    rows.append(f"  2 vs 1 workers ×{doc['speedup_2_vs_1']} · target ≥ {doc['targets']['faces_per_s']:.0f} faces/s: "
                f"{'PASS' if doc['targets']['throughput_pass'] else 'FAIL'}")
    return rows
