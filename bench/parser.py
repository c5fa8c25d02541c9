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

* ``--guard``: the learned parser's face guard over the development photos on the analysis path
  (:func:`guard_report`): every face's share of the eye band the network takes out of the face, how
  many faces got their geometric skin back, the largest shares and their photos.

* ``--downstream``: the parser choice (geometric vs learned, same run, same photos) in the photo
  studios that read the parsing (:func:`downstream`):

  - **makeup**: IoU of the classical makeup's lips region (``region_mask(…, "lips")`` > 0.5, default
    :class:`~engine.studios.makeup.params.RegionStyle`) against the true lips (u_lip + l_lip), pooled
    over the 9 CelebAMask-HQ pairs and over the 14 MT photos (the parsing cuts the open mouth out of
    it); and the share of the ``base`` (foundation) region > 0.5 that truly is skin or nose (the
    parsing cuts hair, ears, neck, background and cloth out of it). On these labelled photos the
    learned parsing comes from the cross-validation fold model that never saw the photo
    (``--run-dir``), so it is a held-out number;
  - **regenerate**: the identity distance input → result (dlib descriptor,
    :func:`engine.metrics.identity.identity_report`) of each edit chain of ``bench.regenerate.EDITS``,
    run on the geometric and on the learned parsing (the shipped model through ``FaceAnalyzer``) of
    astronaut + the first 5 ``faces/photos`` (unlabelled, never trained on: the regenerate bench's
    photos) and of the first 5 Xiqu stage-makeup photos (:data:`STAGE_PHOTOS`, where the learned
    parser changes most; training photos of the shipped model), with the share of label pixels the
    parser choice changes;
  - **mask-wear**: ``bench.maskwear``'s coverage of lips + mouth, nose, eyes and neck (surgical-blue
    and KN95, key-point fit) on the 9 pairs, with the faces of a full analysis by each parser.
    ``put_mask`` takes the faces only (their landmarks), never the label map, so the two columns can
    only differ if the parser changed the faces: the section says whether they are identical.

* ``--holdout RUN_DIR/holdout.json``: the table of ``masquerade train parser --holdout-source all`` (each
  source held out in turn: trained on the other sources only), printed and put in the JSON.

``python -m bench.parser [--sheet /tmp/parser_sheet.png] [--run-dir runs/parser] [--downstream] [--holdout J]``
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
STAGE_PHOTOS = "opera/xiqu/makeup"
"""Stage-makeup photos (under the shared data root) for the regenerate check: where the learned parser
changes the most (the headwear); they are among its training photos."""


LATENCY_ROUNDS = 3
"""Rounds of :func:`_latency`: the analyzers take turns, each timed on a block of runs per round."""


def _latency(analyzers: dict[str, Any], image: np.ndarray, runs: int) -> dict[str, dict[str, float]]:
    """Each analyzer's analysis of ``image``, timed ``runs`` times in all: the analyzers take turns
    over :data:`LATENCY_ROUNDS` rounds (a machine whose speed drifts moves them all alike), each
    timed on a block of runs after one untimed run per turn (run by run, with six analyzers, each
    turn found the caches and thread pools of another: auto measured 146 ms instead of ~120)."""
    times: dict[str, list[list[float]]] = {name: [[], [], []] for name in analyzers}
    for r in range(LATENCY_ROUNDS):
        block = runs // LATENCY_ROUNDS + (1 if r < runs % LATENCY_ROUNDS else 0)
        if block == 0:  # fewer runs than rounds
            continue
        for name, analyzer in analyzers.items():
            analyzer._cache.clear()
            analyzer.analyze(image)  # warm-up (model start-up, weights loaded, this turn's caches)
            wall, cpu, parse = times[name]
            for _ in range(block):
                analyzer._cache.clear()
                t, c = time.perf_counter(), time.process_time()
                res = analyzer.analyze(image)
                wall.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
                parse.append(float(res.info["parse_ms"]))
    out: dict[str, dict[str, float]] = {}
    for name, (wall, cpu, parse) in times.items():
        out[name] = {"median_ms": round(float(np.median(wall)), 1), "p90_ms": round(float(np.percentile(wall, 90)), 1),
                     "cpu_median_ms": round(float(np.median(cpu)), 1),
                     "parse_median_ms": round(float(np.median(parse)), 1)}
        if analyzers[name]._learned is not None:
            out[name]["learned_step_threads"] = analyzers[name]._learned.last_threads
    return out


def latency(runs: int = 5) -> dict[str, Any]:
    """Geometric vs ``auto`` analysis latency at 512² and 2048² (same run, same images, the
    analyzers taking turns), ``auto`` with the learned step on torch's own thread count instead of
    :func:`parse_threads` (``auto_torch_threads``: what the step cost before it followed the load),
    ``auto`` with the learned step's encoder run after the geometric labels instead of beside them
    (``auto_sequential``: what it cost before
    :meth:`~engine.faces.learned_parsing.LearnedParser.begin`), ``auto`` with the face mesh's views
    fitted one after the other on one thread (``auto_mesh_one_thread``: what it cost before
    :func:`~engine.faces.detect.mesh_beside`), ``auto`` with the person mask drawn after the face
    search (``auto_person_mask_after``: what it cost before
    :attr:`~engine.faces.analyzer.FaceAnalyzer.segment_beside`), and, when the card names an
    edge-aware refinement,
    ``auto`` without it (``auto_without_edge_refine``: what the refinement costs)."""
    import torch
    from skimage import data

    from engine.faces.analyzer import FaceAnalyzer

    img = data.astronaut()
    out: dict[str, Any] = {"load_average_before": [round(v, 2) for v in os.getloadavg()]}
    analyzers = {"geometric": FaceAnalyzer(parser="geometric"), "auto": FaceAnalyzer(parser="auto")}
    out["auto_parser"] = analyzers["auto"].info.get("parser")
    if analyzers["auto"]._learned_path is not None:  # auto picks the learned parser
        variants = {"auto_torch_threads": lambda p: setattr(p, "threads", torch.get_num_threads()),
                    "auto_sequential": lambda p: setattr(p, "overlap", False)}
        if analyzers["auto"]._learned_parser().edge > 0:
            variants["auto_without_edge_refine"] = lambda p: setattr(p, "edge", 0.0)
        for name, change in variants.items():
            a = FaceAnalyzer(parser="auto")
            change(a._learned_parser())
            analyzers[name] = a
    one = FaceAnalyzer(parser="auto")
    one.mesh.beside = lambda: False
    analyzers["auto_mesh_one_thread"] = one
    after = FaceAnalyzer(parser="auto")
    after.segment_beside = lambda: False
    analyzers["auto_person_mask_after"] = after
    for s in (512, 2048):
        im = cv2.resize(img, (s, s), interpolation=cv2.INTER_CUBIC)
        row: dict[str, Any] = _latency(analyzers, im, runs)
        row["auto_over_geometric"] = round(row["auto"]["median_ms"] / row["geometric"]["median_ms"], 3)
        row["auto_extra_ms"] = round(row["auto"]["median_ms"] - row["geometric"]["median_ms"], 1)
        out[str(s)] = row
    learned = analyzers["auto"]._learned
    out["device"] = str(next(learned.model.parameters()).device) if learned is not None else "cpu"
    out["torch_threads"] = torch.get_num_threads()
    out["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return out


def run(runs: int = 5) -> dict[str, Any]:
    """The ``parser`` section of the bench JSON."""
    from engine.faces.learned_parsing import MODEL_NAME
    from engine.weights.card import read_card
    from engine.weights.store import find_checkpoint

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
    doc["target"] = {"metric": "auto analysis 512x512 median_ms", "limit_ms": TARGET_512_MS,
                     "value_ms": doc["latency"]["512"]["auto"]["median_ms"],
                     "pass": doc["latency"]["512"]["auto"]["median_ms"] <= TARGET_512_MS}
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
    rows.append(f"  auto runs: {lat['auto_parser']}")
    for s in ("512", "2048"):
        r = lat[s]
        rows.append(f"  analysis {s}²: geometric {r['geometric']['median_ms']:.0f} ms wall / "
                    f"{r['geometric']['cpu_median_ms']:.0f} ms CPU, auto {r['auto']['median_ms']:.0f} ms wall / "
                    f"{r['auto']['cpu_median_ms']:.0f} ms CPU (wall x{r['auto_over_geometric']:.2f}, "
                    f"+{r['auto_extra_ms']:.0f} ms; learned step on {r['auto'].get('learned_step_threads', '-')} "
                    f"thread(s))")
        variants = (("auto_torch_threads", f"auto with the learned step on torch's {lat['torch_threads']} threads"),
                    ("auto_sequential", "auto with the encoder after the geometric labels (not beside them)"),
                    ("auto_without_edge_refine", "auto without the edge-aware refinement"),
                    ("auto_mesh_one_thread", "auto with the face mesh's views fitted one after the other"),
                    ("auto_person_mask_after", "auto with the person mask drawn after the face search"))
        for key, label in variants:
            if key in r:
                v = r[key]
                rows.append(f"    {label}: {v['median_ms']:.0f} ms wall (p90 {v['p90_ms']:.0f}) / "
                            f"{v['cpu_median_ms']:.0f} ms CPU")
    rows.append(f"  on {lat['device']}, load average {lat['load_average_before'][0]} before, "
                f"{lat['load_average'][0]} after")
    t = doc["target"]
    rows.append(f"  target auto 512² <= {t['limit_ms']:.0f} ms: {'PASS' if t['pass'] else 'FAIL'}")
    return rows


def sheet(out: Path, run_dir: Path, size: int, folds: int, per_source: int = 3, seed: int = 0,
          crop: tuple[float, float] | None = None) -> Path:
    """Photo | geometric | learned | truth rows for held-out photos (fold models, product path); ``crop``:
    the run's crop scale and shift (default: the shipped checkpoint's)."""
    from engine.faces.learned_parsing import refine_parsing
    from engine.imageio import load_image, save_image
    from engine.labels import colorize_labels
    from engine.training.parser import SOURCES, faces_of, read_truth

    scale, shift = crop or _run_crop()
    opts = _run_options()
    items, records, fold_of, models = _fold_models(run_dir, size, folds, seed, (scale, shift))
    tile = 160
    rows = []
    for src in SOURCES:
        recs = [r for r in records if items[int(r["index"])].source == src.name
                and fold_of[int(r["index"])] in models][:per_source]
        for rec in recs:
            it = items[int(rec["index"])]
            rgb = load_image(it.photo)
            learned = refine_parsing(rgb, faces_of(rec), rec["geometric"], models[fold_of[int(rec["index"])]], size,
                                     scale, shift, **opts)
            cells = [rgb, colorize_labels(rec["geometric"]), colorize_labels(learned), colorize_labels(read_truth(it))]
            rows.append(np.concatenate([cv2.resize(c, (tile, tile), interpolation=cv2.INTER_AREA if c is rgb
                                                   else cv2.INTER_NEAREST) for c in cells], 1))
    return save_image(out, np.concatenate(rows, 0))


def _fold_models(run_dir: Path, size: int, folds: int, seed: int = 0, crop: tuple[float, float] | None = None
                 ) -> tuple[list[Any], list[Any], list[int], dict[int, Any]]:
    """``(items, records, fold of each item, {fold: model})`` of a training run's finished folds;
    ``crop``: the run's crop scale and shift (default: the shipped checkpoint's)."""
    import safetensors.torch

    from engine.models.parser import FaceParserNet
    from engine.training.parser import build_cache, folds_for, list_items

    items = list_items(SHARED)
    scale, shift = crop or _run_crop()
    records = build_cache(items, run_dir / "cache", size, scale, shift)
    fold_of = folds_for(items, folds, seed)
    models = {}
    for k in range(folds):
        f = run_dir / f"fold{k}" / "result.npz"  # a finished fold (its state is the final one)
        if f.is_file():
            m = FaceParserNet()
            m.load_state_dict(safetensors.torch.load_file(str(f.parent / "state" / "parser.safetensors")))
            models[k] = m.eval()
    return items, records, fold_of, models


def _shipped_extra() -> dict[str, Any]:
    """The shipped checkpoint's card ``extra`` (its fold models were trained and scored with it)."""
    from engine.faces.learned_parsing import MODEL_NAME
    from engine.weights.card import read_card
    from engine.weights.store import find_checkpoint

    path = find_checkpoint(MODEL_NAME)
    return dict(read_card(path).extra) if path is not None else {}


def _run_crop() -> tuple[float, float]:
    """Crop scale and shift of the shipped checkpoint."""
    from engine.faces.learned_parsing import CROP_SCALE, CROP_SHIFT

    extra = _shipped_extra()
    return float(extra.get("crop_scale", CROP_SCALE)), float(extra.get("crop_shift", CROP_SHIFT))


def _run_options() -> dict[str, Any]:
    """The shipped checkpoint's inference options, as :func:`~engine.faces.learned_parsing.refine_parsing`
    takes them (:func:`~engine.faces.learned_parsing.card_options`)."""
    from engine.faces.learned_parsing import card_options

    return card_options(_shipped_extra())


GUARD_PHOTOS = (("opera/xiqu/makeup", 1), ("opera/xiqu/non-makeup", 1), ("faces/photos", 1), ("faces/parsing", 1),
                ("maskwear/real_masked", 4), ("makeup/mt/makeup", 3), ("makeup/mt/no_makeup", 3))
"""Development photo folders (and every how-many-th photo) of :func:`guard_report`."""


def guard_report(root: Path = SHARED) -> dict[str, Any]:
    """The shipped parser's face guard on the analysis path (``FaceAnalyzer(parser="learned")``) over
    the development photos of :data:`GUARD_PHOTOS`: every face's eye-band share
    (``info["band_shares"]``), how many faces got their geometric skin back, the largest shares."""
    from engine.faces.analyzer import FaceAnalyzer
    from engine.imageio import load_image

    analyzer = FaceAnalyzer(parser="learned")
    rows: list[tuple[float, str]] = []
    for folder, every in GUARD_PHOTOS:
        for path in sorted((root / folder).glob("*.jpg"))[::every]:
            res = analyzer.analyze(load_image(path))
            rows += [(float(v), f"{folder}/{path.name}") for v in res.info.get("band_shares", [])]
    rows.sort(reverse=True)
    guard = analyzer._learned.guard if analyzer._learned is not None else 1.0
    shares = np.array([v for v, _ in rows]) if rows else np.zeros(1)
    return {"faces": len(rows), "face_guard": guard, "given_back": int((shares > guard).sum()),
            "median": round(float(np.median(shares)), 4), "p90": round(float(np.percentile(shares, 90)), 4),
            "largest": [{"share": round(v, 4), "photo": n} for v, n in rows[:10]]}


def makeup_masks(rgb: np.ndarray, labels: np.ndarray, faces: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The classical makeup's ``lips`` and ``base`` regions (> 0.5, default region style) of the
    largest face with landmarks, as full-image boolean masks (both empty without such a face)."""
    from engine.studios.makeup.classical import face_geometry, region_mask
    from engine.studios.makeup.params import RegionStyle

    out = [np.zeros(labels.shape, bool), np.zeros(labels.shape, bool)]
    lm = [f for f in faces if f.landmarks is not None]
    if not lm:
        return out[0], out[1]
    face = max(lm, key=lambda f: f.area)
    geo = face_geometry(rgb, labels, face.landmarks)
    x0, y0, x1, y1 = geo.box
    for i, region in enumerate(("lips", "base")):
        m, _, _ = region_mask(geo, region, RegionStyle())
        out[i][y0:y1, x0:x1] = m > 0.5
    return out[0], out[1]


def _makeup_section(run_dir: Path, size: int, folds: int) -> dict[str, Any]:
    from engine.faces.learned_parsing import refine_parsing
    from engine.imageio import load_image
    from engine.training.parser import faces_of, read_truth

    items, records, fold_of, models = _fold_models(run_dir, size, folds)
    if not models:
        return {"skipped": f"no finished cross-validation folds under {run_dir}"}
    scale, shift = _run_crop()
    opts = _run_options()
    acc: dict[str, np.ndarray] = {}
    for rec in records:
        it = items[int(rec["index"])]
        k = fold_of[int(rec["index"])]
        if it.source not in ("celebamask", "mt") or k not in models:
            continue
        rgb = load_image(it.photo)
        truth = read_truth(it)
        lips_t = np.isin(truth, (11, 12))
        faces = faces_of(rec)
        parsings = {"geometric": rec["geometric"],
                    "learned": refine_parsing(rgb, faces, rec["geometric"], models[k], size, scale, shift, **opts)}
        for eng, lab in parsings.items():
            lips, base = makeup_masks(rgb, lab, faces)
            a = acc.setdefault(f"{it.source}/{eng}", np.zeros(5))
            a += [(lips & lips_t).sum(), (lips | lips_t).sum(), (base & np.isin(truth, (1, 2))).sum(), base.sum(), 1]
    out: dict[str, Any] = {}
    for key, a in sorted(acc.items()):
        src, eng = key.split("/")
        out.setdefault(src, {"photos": int(a[4])})[eng] = {
            "lips_iou": round(float(a[0] / max(a[1], 1.0)), 4), "base_on_skin": round(float(a[2] / max(a[3], 1.0)), 4)}
    out["parsing"] = "learned = the held-out fold model of the shipped model's cross-validation"
    return out


def _regenerate_section(analyzers: dict[str, Any]) -> dict[str, Any]:
    from skimage import data

    from bench.regenerate import EDITS, SHARED_PHOTOS
    from engine.imageio import load_image
    from engine.metrics.identity import identity_report
    from engine.studios.regenerate.classical import regenerate
    from engine.studios.regenerate.edits import apply_edits

    sets = {"faces": [data.astronaut()] + [load_image(p) for p in sorted(SHARED_PHOTOS.glob("*.jpg"))[:5]],
            "stage": [load_image(p) for p in sorted((SHARED / STAGE_PHOTOS).glob("*.jpg"))[:5]]}
    out: dict[str, Any] = {}
    for name, photos in sets.items():
        if not photos:
            continue
        parsed = {eng: [a.analyze(img).parsing for img in photos] for eng, a in analyzers.items()}
        doc: dict[str, Any] = {"photos": len(photos), "labels_changed_share": round(float(np.mean(
            [(g != lr).mean() for g, lr in zip(parsed["geometric"], parsed["learned"], strict=True)])), 5)}
        for eng, labs in parsed.items():
            per_edit: dict[str, Any] = {}
            for edit, spec in EDITS.items():
                pairs = []
                for img, lab in zip(photos, labs, strict=True):
                    res, _, _ = regenerate(img, lab, apply_edits(lab, spec))
                    pairs.append((img, res))
                per_edit[edit] = identity_report(pairs)
            ok = [float(v) for v in (r.get("identity_distance") for r in per_edit.values()) if v is not None]
            doc[eng] = {"per_edit": {k: r.get("identity_distance", r.get("reason")) for k, r in per_edit.items()},
                        "mean": round(float(np.mean(ok)), 4) if ok else None}
        out[name] = doc
    return out


def _maskwear_section(analyzers: dict[str, Any]) -> dict[str, Any]:
    from PIL import Image

    from bench.maskwear import PARSING, _coverage_of
    from engine.imageio import load_image

    files = sorted(PARSING.glob("*.jpg"))
    if not files:
        return {"skipped": "no ../shared/data/faces/parsing"}
    out: dict[str, Any] = {"pairs": len(files)}
    for eng, a in analyzers.items():
        pairs = []
        for jpg in files:
            img = load_image(jpg)
            pairs.append((img, np.asarray(Image.open(jpg.with_suffix(".png"))), a.analyze(img).faces))
        out[eng] = {t: _coverage_of(pairs, t, "keypoint") for t in ("surgical-blue", "kn95")}
    out["identical"] = out["geometric"] == out["learned"]
    return out


def downstream(run_dir: Path, size: int, folds: int) -> dict[str, Any]:
    """The parser choice in makeup, regenerate and mask-wear (module docstring, ``--downstream``)."""
    import os

    from engine.faces.analyzer import FaceAnalyzer

    analyzers = {"geometric": FaceAnalyzer(parser="geometric"), "learned": FaceAnalyzer(parser="learned")}
    doc: dict[str, Any] = {"makeup": _makeup_section(run_dir, size, folds) if SHARED.is_dir() else
                           {"skipped": "no ../shared/data"}}
    doc["regenerate"] = _regenerate_section(analyzers)
    doc["maskwear"] = _maskwear_section(analyzers)
    doc["load_average"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return doc


def downstream_table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines of :func:`downstream`."""
    rows = ["parser choice downstream (geometric -> learned, same run):"]
    mk = doc["makeup"]
    for src in ("celebamask", "mt"):
        if src in mk:
            g, lr = mk[src]["geometric"], mk[src]["learned"]
            rows.append(f"  makeup on {src} ({mk[src]['photos']} photos, learned = held-out fold model): lips IoU "
                        f"{g['lips_iou']:.4f} -> {lr['lips_iou']:.4f}; base region on true skin/nose "
                        f"{g['base_on_skin']:.4f} -> {lr['base_on_skin']:.4f}")
    if "skipped" in mk:
        rows.append(f"  makeup: skipped ({mk['skipped']})")
    for name, rg in doc["regenerate"].items():
        rows.append(f"  regenerate on {name} ({rg['photos']} photos, {rg['labels_changed_share']:.2%} of label pixels "
                    f"differ): mean identity distance {rg['geometric']['mean']} -> {rg['learned']['mean']} "
                    f"(same person < 0.6)")
        for k in rg["geometric"]["per_edit"]:
            rows.append(f"    {k}: {rg['geometric']['per_edit'][k]} -> {rg['learned']['per_edit'][k]}")
    mw = doc["maskwear"]
    if "skipped" in mw:
        rows.append(f"  mask-wear: skipped ({mw['skipped']})")
    else:
        for t in ("surgical-blue", "kn95"):
            g, lr = mw["geometric"][t], mw["learned"][t]
            rows.append(f"  mask-wear {t} coverage on {mw['pairs']} pairs: " + "  ".join(
                f"{k} {g[k]}->{lr[k]}" for k in ("lips_mouth", "nose", "eyes", "neck")))
        rows.append(f"  mask-wear identical with either parser: {mw['identical']} (put_mask reads the faces, not the labels)")
    rows.append(f"  load average {doc['load_average']}")
    return rows


def holdout_table(doc: dict[str, Any]) -> list[str]:
    """Lines of a ``train parser --holdout-source`` result (``RUN_DIR/holdout.json``): per held-out source,
    mIoU and per-class IoU geometric -> learned."""
    rows = [f"each source held out in turn (trained on the other sources; {doc['settings']}):"]
    for src, r in doc["holdout"].items():
        g, lr = r["geometric"], r["learned"]
        extra = f", false hat/earring/necklace {lr['false_extra_share']:.2%}" if "false_extra_share" in lr else ""
        rows.append(f"  {src} held out ({r['photos']} photos): mIoU {g['miou']:.4f} -> {lr['miou']:.4f}{extra}")
        cls = [c for c in g["per_class_iou"] if c in lr["per_class_iou"]]
        rows.append("    " + "  ".join(f"{c} {g['per_class_iou'][c]:.3f}->{lr['per_class_iou'][c]:.3f}" for c in cls))
    m = doc.get("mean_source_miou") or {}
    if m:
        rows.append(f"  mean over held-out sources: {m['geometric']:.4f} -> {m['learned']:.4f}")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the section's JSON here")
    ap.add_argument("--sheet", default=None, help="write a photo | geometric | learned | truth sheet (PNG)")
    ap.add_argument("--run-dir", default="runs/parser", help="the training run (fold models, cache) for --sheet")
    ap.add_argument("--size", type=int, default=160, help="crop side of that run (--sheet)")
    ap.add_argument("--folds", type=int, default=3, help="folds of that run (--sheet)")
    ap.add_argument("--per-source", type=int, default=3, help="photos per source on the sheet")
    ap.add_argument("--crop", type=float, nargs=2, default=None, metavar=("SCALE", "SHIFT"),
                    help="crop scale and shift of that run (--sheet; default: the shipped checkpoint's)")
    ap.add_argument("--no-latency", action="store_true", help="only the sheet / card table")
    ap.add_argument("--holdout", default=None, metavar="JSON",
                    help="also print (and put in --out) a `train parser --holdout-source` result (RUN_DIR/holdout.json)")
    ap.add_argument("--guard", action="store_true", help="the face guard over the development photos (guard_report)")
    ap.add_argument("--downstream", action="store_true",
                    help="the parser choice in makeup, regenerate and mask-wear (see the module docstring)")
    args = ap.parse_args(argv)
    from engine.faces.cli import quiet_native_stderr

    with quiet_native_stderr():
        if args.sheet:
            crop = (float(args.crop[0]), float(args.crop[1])) if args.crop else None
            made = sheet(Path(args.sheet), Path(args.run_dir), args.size, args.folds, args.per_source, crop=crop)
            print(f"sheet: {made}")
        held = json.loads(Path(args.holdout).read_text()) if args.holdout else None
        if held is not None:
            print("\n".join(holdout_table(held)), flush=True)
        down = downstream(Path(args.run_dir), args.size, args.folds) if args.downstream else None
        if down is not None:
            print("\n".join(downstream_table(down)), flush=True)
        guard = guard_report() if args.guard else None
        if guard is not None:
            print(f"face guard over {guard['faces']} development faces: {guard['given_back']} above {guard['face_guard']} "
                  f"(skin given back); median {guard['median']}, 90th percentile {guard['p90']}; largest: "
                  + ", ".join(f"{r['share']} {r['photo']}" for r in guard["largest"][:5]), flush=True)
        if args.no_latency:
            if args.out and (down is not None or held is not None or guard is not None):
                Path(args.out).write_text(json.dumps({"downstream": down, "holdout": held, "guard": guard}, indent=1))
            return 0
        doc = run(args.runs)
        if down is not None:
            doc["downstream"] = down
        if held is not None:
            doc["holdout"] = held
        if guard is not None:
            doc["guard"] = guard
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1))
    print("\n".join(table(doc)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
