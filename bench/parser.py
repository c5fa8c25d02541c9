"""Learned face parser bench section: cross-validated quality (from its card) and what it costs.

* **Quality**: the per-class IoU and mIoU of the geometric and the learned parser on the same
  held-out development photos, per source, as ``masquerade train parser`` measured them by k-fold
  cross-validation (each photo parsed by a model that never saw it) and wrote into the card of
  ``checkpoints/face_parser``; also the verdict and the rule. The shipped model itself was trained
  on every labelled development photo, so re-scoring it here on them would not be a held-out number.
* **Latency**: ``FaceAnalyzer`` with ``parser="geometric"`` and ``parser="learned"`` on
  ``skimage.data.astronaut()`` resized to 512² and 2048², cache cleared before each run, in the same
  run (the ratio is the learned path's cost); wall and process CPU milliseconds, the torch thread
  count and the load average (on a shared machine torch's thread pool waits on busy cores: there
  the CPU figure is the one that says what the work costs).
* ``--sheet PNG``: photo | geometric | learned | truth for held-out photos of each source, parsed by
  the cross-validation fold model that did not train on them (``--run-dir`` of the training run).

``python -m bench.parser [--sheet /tmp/parser_sheet.png] [--run-dir runs/parser]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TARGET_512_MS = 120.0


def _latency(analyzer: Any, image: np.ndarray, runs: int) -> dict[str, float]:
    analyzer.analyze(image)  # warm-up (model start-up, weights loaded)
    times, cpu, parse = [], [], []
    for _ in range(runs):
        analyzer._cache.clear()
        t, c = time.perf_counter(), time.process_time()
        res = analyzer.analyze(image)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        parse.append(float(res.info["parse_ms"]))
    return {"median_ms": round(float(np.median(times)), 1), "p90_ms": round(float(np.percentile(times, 90)), 1),
            "cpu_median_ms": round(float(np.median(cpu)), 1), "parse_median_ms": round(float(np.median(parse)), 1)}


def latency(runs: int = 5) -> dict[str, Any]:
    """Geometric vs learned analysis latency at 512² and 2048² (same run, same images)."""
    import torch
    from skimage import data

    from engine.faces.analyzer import FaceAnalyzer

    img = data.astronaut()
    out: dict[str, Any] = {}
    analyzers = {"geometric": FaceAnalyzer(parser="geometric"), "learned": FaceAnalyzer(parser="learned")}
    for s in (512, 2048):
        im = cv2.resize(img, (s, s), interpolation=cv2.INTER_CUBIC)
        row = {name: _latency(a, im, runs) for name, a in analyzers.items()}
        row["learned_over_geometric"] = round(row["learned"]["median_ms"] / row["geometric"]["median_ms"], 3)
        row["learned_extra_ms"] = round(row["learned"]["median_ms"] - row["geometric"]["median_ms"], 1)
        out[str(s)] = row
    out["device"] = str(next(analyzers["learned"]._learned_parser().model.parameters()).device)
    out["torch_threads"] = torch.get_num_threads()
    out["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return out


def run(runs: int = 5) -> dict[str, Any]:
    """The ``parser`` section of the bench JSON."""
    from engine.faces.learned_parsing import MODEL_NAME
    from engine.weights.store import find_checkpoint, read_card

    path = find_checkpoint(MODEL_NAME)
    if path is None:
        return {"available": False, "reason": "no face_parser checkpoint (masquerade train parser)"}
    card = read_card(path)
    doc: dict[str, Any] = {
        "available": True, "card": str(path.name),
        "verdict": {"better": card.better, "measure": card.verdict.measure if card.verdict else None,
                    "rule": card.extra.get("verdict_rule")},
        "cv": card.extra.get("cv"), "cv_pooled_iou": card.extra.get("cv_pooled_iou"),
        "mean_source_miou": {"geometric": card.extra.get("mean_source_miou_geometric"),
                             "learned": card.extra.get("mean_source_miou_learned")},
        "classes_clearly_worse": card.extra.get("classes_clearly_worse"),
        "training": {k: card.extra.get(k) for k in ("steps", "folds", "size", "batch", "budget_s", "clock")},
    }
    doc["latency"] = latency(runs)
    doc["target"] = {"metric": "learned analysis 512x512 median_ms", "limit_ms": TARGET_512_MS,
                     "value_ms": doc["latency"]["512"]["learned"]["median_ms"],
                     "pass": doc["latency"]["512"]["learned"]["median_ms"] <= TARGET_512_MS}
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines: the per-class CV table per source, then latency."""
    if not doc.get("available"):
        return [f"parser: {doc.get('reason')}"]
    rows = [f"learned face parser ({doc['card']}): verdict {'BETTER' if doc['verdict']['better'] else 'not better'} "
            f"than geometric; mean over sources of CV mIoU geometric {doc['mean_source_miou']['geometric']:.3f} "
            f"-> learned {doc['mean_source_miou']['learned']:.3f}"]
    for src, r in (doc.get("cv") or {}).items():
        g, lr = r["geometric"], r["learned"]
        rows.append(f"  {src} ({r['photos']} photos, held out): mIoU {g['miou']:.3f} -> {lr['miou']:.3f}")
        cls = [c for c in g["per_class_iou"] if c in lr["per_class_iou"]]
        rows.append("    " + "  ".join(f"{c} {g['per_class_iou'][c]:.2f}->{lr['per_class_iou'][c]:.2f}" for c in cls))
    pool = doc.get("cv_pooled_iou") or {}
    if pool:
        rows.append("  pooled: " + "  ".join(f"{c} {pool['geometric'][c]:.3f}->{pool['learned'].get(c, float('nan')):.3f}"
                                             for c in pool["geometric"]))
    rows.append(f"  clearly worse classes: {doc.get('classes_clearly_worse') or 'none'}")
    lat = doc["latency"]
    for s in ("512", "2048"):
        r = lat[s]
        rows.append(f"  analysis {s}²: geometric {r['geometric']['median_ms']:.0f} ms wall / "
                    f"{r['geometric']['cpu_median_ms']:.0f} ms CPU, learned {r['learned']['median_ms']:.0f} ms wall / "
                    f"{r['learned']['cpu_median_ms']:.0f} ms CPU (wall x{r['learned_over_geometric']:.2f}, "
                    f"+{r['learned_extra_ms']:.0f} ms) on {lat['device']}, {lat['torch_threads']} torch threads, "
                    f"load {lat['load_average'][0]}")
    t = doc["target"]
    rows.append(f"  target learned 512² <= {t['limit_ms']:.0f} ms: {'PASS' if t['pass'] else 'FAIL'}")
    return rows


def sheet(out: Path, run_dir: Path, size: int, folds: int, per_source: int = 3, seed: int = 0) -> Path:
    """Photo | geometric | learned | truth rows for held-out photos (fold models, product path)."""
    import safetensors.torch

    from engine.faces.learned_parsing import refine_parsing
    from engine.imageio import load_image, save_image
    from engine.labels import colorize_labels
    from engine.models.parser import FaceParserNet
    from engine.training.parser import (
        SOURCES,
        build_cache,
        faces_of,
        folds_for,
        list_items,
        read_truth,
    )

    items = list_items(SHARED)
    records = build_cache(items, run_dir / "cache", size)
    fold_of = folds_for(items, folds, seed)
    models = {}
    for k in range(folds):
        f = run_dir / f"fold{k}" / "result.npz"  # a finished fold (its state is the final one)
        if f.is_file():
            m = FaceParserNet()
            m.load_state_dict(safetensors.torch.load_file(str(f.parent / "state" / "parser.safetensors")))
            models[k] = m.eval()
    tile = 160
    rows = []
    for src in SOURCES:
        recs = [r for r in records if items[int(r["index"])].source == src.name
                and fold_of[int(r["index"])] in models][:per_source]
        for rec in recs:
            it = items[int(rec["index"])]
            rgb = load_image(it.photo)
            learned = refine_parsing(rgb, faces_of(rec), rec["geometric"], models[fold_of[int(rec["index"])]], size)
            cells = [rgb, colorize_labels(rec["geometric"]), colorize_labels(learned), colorize_labels(read_truth(it))]
            rows.append(np.concatenate([cv2.resize(c, (tile, tile), interpolation=cv2.INTER_AREA if c is rgb
                                                   else cv2.INTER_NEAREST) for c in cells], 1))
    return save_image(out, np.concatenate(rows, 0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the section's JSON here")
    ap.add_argument("--sheet", default=None, help="write a photo | geometric | learned | truth sheet (PNG)")
    ap.add_argument("--run-dir", default="runs/parser", help="the training run (fold models, cache) for --sheet")
    ap.add_argument("--size", type=int, default=160, help="crop side of that run (--sheet)")
    ap.add_argument("--folds", type=int, default=3, help="folds of that run (--sheet)")
    ap.add_argument("--per-source", type=int, default=3, help="photos per source on the sheet")
    ap.add_argument("--no-latency", action="store_true", help="only the sheet / card table")
    args = ap.parse_args(argv)
    from engine.faces.cli import quiet_native_stderr

    with quiet_native_stderr():
        if args.sheet:
            print(f"sheet: {sheet(Path(args.sheet), Path(args.run_dir), args.size, args.folds, args.per_source)}")
        if args.no_latency:
            return 0
        doc = run(args.runs)
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1))
    print("\n".join(table(doc)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
