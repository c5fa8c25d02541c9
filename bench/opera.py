"""Opera bench section: classical colouring and procedural generation at 512², plus quality.

Latency: ``colorize`` of a generated 512² sketch from another design, ``generate_lianpu`` at 512².
Quality (when ``../shared/data/opera/lianpu`` is present): self-colouring SSIM / mean colour error
of ``colorize(xdog(X), X)`` against X, the share of cross-colouring pairs whose result histogram is
closer to the reference Y than to X, and classification of the dev masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import latency

COLORIZE_TARGET_MS = 150.0
GENERATE_TARGET_MS = 50.0
SHARED_LIANPU = Path(__file__).resolve().parents[2] / "shared" / "data" / "opera" / "lianpu"


def _hist(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    q = (img[mask] >> 5).astype(np.int64)
    h = np.bincount((q[:, 0] * 8 + q[:, 1]) * 8 + q[:, 2], minlength=512).astype(float)
    return h / h.sum()


def quality(folder: Path) -> dict[str, Any]:
    """Self-colouring, cross-colouring and classification on the lianpu PNGs of ``folder``."""
    from skimage.metrics import structural_similarity

    from engine.imageio import load_image
    from engine.studios.opera.classical import (
        classify_main_colour,
        colorize,
        face_mask_from_image,
        xdog,
    )
    from engine.studios.opera.params import XDoGParams

    images = {p.stem: load_image(p) for p in sorted(folder.glob("*.png"))}
    lines = {k: xdog(v, XDoGParams(threshold=0.5)) for k, v in images.items()}
    ssim, err = [], []
    for k, x in images.items():
        out = colorize(lines[k], x).image
        ssim.append(structural_similarity(x, out, channel_axis=2, data_range=255))
        err.append(float(np.abs(x.astype(np.float64) - out).mean()))
    hists = {k: _hist(v, face_mask_from_image(v)) for k, v in images.items()}
    wins = total = 0
    for kx in images:
        for ky, y in images.items():
            if kx == ky:
                continue
            res = colorize(lines[kx], y)
            hr = _hist(res.image, res.face_mask)
            wins += int(np.abs(hr - hists[ky]).sum() < np.abs(hr - hists[kx]).sum())
            total += 1
    return {
        "masks": len(images),
        "self_ssim_mean": round(float(np.mean(ssim)), 4),
        "self_ssim_min": round(float(np.min(ssim)), 4),
        "self_mean_abs_error": round(float(np.mean(err)), 2),
        "cross_pairs": total,
        "cross_closer_to_reference": round(wins / max(total, 1), 4),
        "classes": {k: classify_main_colour(v).colour for k, v in images.items()},
    }


def run(runs: int = 10) -> dict[str, Any]:
    """The ``opera`` section of the bench JSON."""
    from engine.procedural.lianpu import generate_lianpu
    from engine.studios.opera.classical import colorize

    sketch, ref = generate_lianpu(1, size=512), generate_lianpu(2, size=512)
    col = latency(lambda: colorize(sketch.line_art, ref.image), runs)
    gen = latency(lambda: generate_lianpu(3, size=512), runs)
    doc: dict[str, Any] = {
        "colorize_512": col,
        "generate_512": gen,
        "target": {
            "colorize_limit_ms": COLORIZE_TARGET_MS, "colorize_pass": col["median_ms"] <= COLORIZE_TARGET_MS,
            "generate_limit_ms": GENERATE_TARGET_MS, "generate_pass": gen["median_ms"] <= GENERATE_TARGET_MS,
        },
        "quality": quality(SHARED_LIANPU) if SHARED_LIANPU.is_dir() else None,
    }
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines for the summary table."""
    t = doc["target"]
    rows = ["opera (classical)          median ms   p90 ms",
            f"  colorize 512²  {doc['colorize_512']['median_ms']:>15.1f} {doc['colorize_512']['p90_ms']:>8.1f}"
            f"   ≤ {t['colorize_limit_ms']:.0f}: {'PASS' if t['colorize_pass'] else 'FAIL'}",
            f"  generate 512²  {doc['generate_512']['median_ms']:>15.1f} {doc['generate_512']['p90_ms']:>8.1f}"
            f"   ≤ {t['generate_limit_ms']:.0f}: {'PASS' if t['generate_pass'] else 'FAIL'}"]
    q = doc.get("quality")
    if q:
        rows.append(f"  self-colouring SSIM {q['self_ssim_mean']:.3f} (min {q['self_ssim_min']:.3f}), "
                    f"mean |error| {q['self_mean_abs_error']:.1f} on {q['masks']} masks")
        rows.append(f"  cross-colouring closer to the reference: {q['cross_closer_to_reference']:.1%} "
                    f"of {q['cross_pairs']} pairs")
    return rows
