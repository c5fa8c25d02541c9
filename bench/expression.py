"""Expression bench section: classical rig latency at 512², generator and detection speed, part accuracy.

Latency: ``ExpressionEditor.edit`` (smile 0.7 + angry 0.3) on a 512² procedural face after
``set_image``; ``generate_anime_face`` at 512²; anime detection + part location at 512².
Quality: detection rate and part-centre error (÷ inter-ocular distance) on 60 held-out procedural
faces (ground truth from the generator); cascade hit rate on ``../shared/data/anime/emotions``
(tight greyscale crops) when present, with how many of the detected faces' parts were found in the
pixels vs estimated; judged accuracy per label of the rig (and of the GAN checkpoint) with
:func:`engine.training.expression.evaluate` (40 held-out neutral faces × 4 labels at 1.0) when the
judge checkpoint is present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import latency

EDIT_TARGET_MS = 60.0
SHARED_EMOTIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "anime" / "emotions"



def _centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def part_accuracy(n_seeds: int = 12) -> dict[str, Any]:
    """Detection rate and part-centre errors on procedural faces (seeds 1000+, 5 expressions each)."""
    from engine.faces.anime import PART_NAMES, analyze_anime
    from engine.procedural.anime_faces import generate_anime_face

    errs: dict[str, list[float]] = {k: [] for k in PART_NAMES}
    hits = total = 0
    for sd in range(1000, 1000 + n_seeds):
        for e in (None, {"smile": 1.0}, {"angry": 1.0}, {"surprised": 1.0}, {"sad": 1.0}):
            f = generate_anime_face(sd, 256, e)
            total += 1
            faces = analyze_anime(f.image)
            if not faces:
                continue
            hits += 1
            iod = float(np.linalg.norm(_centre(f.boxes["left_eye"]) - _centre(f.boxes["right_eye"])))
            for k in PART_NAMES:
                errs[k].append(float(np.linalg.norm(_centre(faces[0].parts[k]) - _centre(f.boxes[k]))) / iod)
    return {"faces": total, "detection_rate": round(hits / total, 3),
            "centre_error_iod_median": {k: round(float(np.median(v)), 3) for k, v in errs.items()},
            "within_0.15_iod": {k: round(float(np.mean(np.array(v) < 0.15)), 3) for k, v in errs.items()}}


def run() -> dict[str, Any]:
    """Measure; returns the JSON section."""
    from engine.faces.anime import analyze_anime
    from engine.imageio import load_image
    from engine.procedural.anime_faces import generate_anime_face
    from engine.studios.expression.editor import ExpressionEditor
    from engine.studios.expression.params import ExpressionParams

    face = generate_anime_face(5, 512)
    ed = ExpressionEditor()
    ed.set_image(face.image)
    params = ExpressionParams(smile=0.7, angry=0.3)
    doc: dict[str, Any] = {
        "edit_512": latency(lambda: ed.edit(params), 20),
        "analyze_512": latency(lambda: analyze_anime(face.image), 5),
        "generate_512": latency(lambda: generate_anime_face(9, 512), 5),
        "parts_procedural": part_accuracy(),
    }
    doc["target"] = {"edit_limit_ms": EDIT_TARGET_MS, "edit_pass": doc["edit_512"]["median_ms"] <= EDIT_TARGET_MS}
    if SHARED_EMOTIONS.is_dir():
        files = sorted(SHARED_EMOTIONS.glob("*/*.png"))
        found = parts_found = parts_total = 0
        for p in files:
            faces = analyze_anime(load_image(p))
            if faces:
                found += 1
                parts_found += sum(faces[0].found.values())
                parts_total += len(faces[0].found)
        doc["emotions_cascade_hit_rate"] = {"found": found, "images": len(files), "parts_found": parts_found,
                                            "parts_estimated": parts_total - parts_found}
    doc["judged"] = judged()
    return doc


def judged() -> Any:
    """Judge accuracy of rig and GAN edits (see the module docstring); ``None`` without checkpoints."""
    from engine.studios.expression.learned import GAN_MODEL
    from engine.weights.store import checkpoint_roots, find_checkpoint, load_checkpoint

    g_path = find_checkpoint(GAN_MODEL)
    j_path = next((Path(r) / "expression_judge.json" for r in checkpoint_roots()
                   if (Path(r) / "expression_judge.json").is_file()), None)
    if g_path is None or j_path is None:
        return None
    import torch

    from engine.training.expression import evaluate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g, _ = load_checkpoint(g_path, device="cpu")
        j, _ = load_checkpoint(j_path, device="cpu")
        m = evaluate(g, j, n_faces=40, size=64)
    finally:
        torch.set_num_threads(threads)
    return {k: v for k, v in m.items() if k.startswith(("rig_", "gan_")) or k in ("faces", "drawn_target_accuracy")}


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines for the summary table."""
    t = doc["target"]
    q = doc["parts_procedural"]
    rows = ["expression (classical)     median ms   p90 ms",
            f"  rig edit 512²  {doc['edit_512']['median_ms']:>15.1f} {doc['edit_512']['p90_ms']:>8.1f}"
            f"   ≤ {t['edit_limit_ms']:.0f}: {'PASS' if t['edit_pass'] else 'FAIL'}",
            f"  analyze 512²   {doc['analyze_512']['median_ms']:>15.1f} {doc['analyze_512']['p90_ms']:>8.1f}",
            f"  generate 512²  {doc['generate_512']['median_ms']:>15.1f} {doc['generate_512']['p90_ms']:>8.1f}",
            f"  procedural faces detected {q['detection_rate']:.1%} of {q['faces']}; part centre error "
            f"(median ÷ IOD) {q['centre_error_iod_median']}"]
    e = doc.get("emotions_cascade_hit_rate")
    if e:
        rows.append(f"  cascade on real greyscale crops: {e['found']}/{e['images']}"
                    + (f"; parts found {e['parts_found']}, estimated {e['parts_estimated']}" if "parts_found" in e else ""))
    j = doc.get("judged")
    if j:
        for who in ("rig", "gan"):
            per = ", ".join(f"{n} {j[f'{who}_accuracy_{n}']:.3f}" for n in ("angry", "sad", "smile", "surprised"))
            rows.append(f"  judge accepts {who} edits {j[f'{who}_accuracy']:.3f} ({per})")
    return rows
