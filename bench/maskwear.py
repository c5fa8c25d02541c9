"""Mask-wear bench section: single fit after analysis at 512², dataset export throughput.

Throughput runs ``batch wear-mask`` (analysis included) on 300 256² images made from
``skimage.data.astronaut()`` (flips, shifts and brightness changes, so every image is analysed
anew) with 1 and 2 worker processes; start-up is included in ``faces_per_s``.

Identity: the distance input → masked result (dlib's ResNet face descriptor,
:mod:`engine.metrics.identity`, same person < 0.6) per fitting method on astronaut + the first
``../shared/data/faces/photos`` when present: how much of the person a masked face still shows
(the mask hides the lower face, so it is higher than for makeup; results with no face found are
counted as ``skipped``).
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
SHARED_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "photos"
IDENTITY_TEMPLATES = ("surgical-blue", "kn95")


def _identity(photos: int = 5) -> dict[str, Any]:
    """Mean identity distance input → result per method (``keypoint``, ``auto``) over the templates."""
    from skimage import data

    from engine.errors import LearnedBackendError, NoFaceError
    from engine.faces import FaceAnalyzer
    from engine.imageio import load_image
    from engine.metrics.identity import identity_report
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.params import MaskWearParams

    analyzer = FaceAnalyzer()
    images = [data.astronaut()] + [load_image(p) for p in sorted(SHARED_PHOTOS.glob("*.jpg"))[:photos]]
    out: dict[str, Any] = {"images": len(images), "templates": list(IDENTITY_TEMPLATES)}
    for method in ("keypoint", "auto"):
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for img in images:
            faces = analyzer.analyze(img, parse=False).faces
            for template in IDENTITY_TEMPLATES:
                try:
                    result, _, _ = put_mask(img, faces, MaskWearParams(template=template, method=method))
                except (NoFaceError, LearnedBackendError):
                    continue
                pairs.append((img, result))
        out[method] = identity_report(pairs)
    return out


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

    doc: dict[str, Any] = {"fit_512": _fit_ms(), "identity_vs_input": _identity()}
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
    for method in ("keypoint", "auto"):
        r = doc.get("identity_vs_input", {}).get(method, {})
        if r.get("identity_distance") is not None:
            rows.append(f"  identity distance input → masked ({method}): {r['identity_distance']:.3f} mean, "
                        f"same person (< 0.6) {r['same_person_rate']:.0%} of {r['pairs']}")
    rows.append(f"  2 vs 1 workers ×{doc['speedup_2_vs_1']} · target ≥ {doc['targets']['faces_per_s']:.0f} faces/s: "
                f"{'PASS' if doc['targets']['throughput_pass'] else 'FAIL'}")
    return rows
