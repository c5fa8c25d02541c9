"""Expression bench section: part location, real crops, judged edits, edge crispness, latency.

``python -m bench.expression --out FILE`` runs this section alone (``python -m bench`` runs it with
the others).

* **Latency**: ``ExpressionEditor.edit`` at 512² after ``set_image``: an emotion mix (smile 0.7 +
  angry 0.3) and a low-level slider edit (blink left 1 + aaa 0.6 + brow raise 0.5) on a procedural
  face; ``generate_anime_face`` and anime detection + part location at 512².
* **Parts on procedural faces**: 60 held-out faces (seeds 1000–1011 × neutral and the four emotions
  at 1.0, ground truth from the generator): detection rate, share of faces with all 5 parts found in
  the pixels, median part-centre error ÷ the inter-ocular distance per part.
* **Real crops**: the 61 greyscale development crops in ``../shared/data/anime/emotions`` (when
  present): how many are processed automatically (a face found without ``assume_crop``: by the
  cascade or as a tight crop) and how many of those have all 5 parts found.
* **Judge**: acceptance of rig (and GAN) edits per emotion by ``checkpoints/expression_judge`` with
  :func:`engine.training.expression.evaluate` (40 held-out neutral faces × 4 labels at 1.0) when the
  checkpoints are present.
* **Refusals**: 20 procedural faces turned by 180° and four generated non-faces must give no face.
* **Grid** (``--grid PNG``): 4 procedural + 4 real development crops × neutral / smile / angry / sad /
  surprised / blink / aaa, to look at.
* **Edge crispness**: on 12 procedural faces with their ground-truth parts, for angry / sad /
  surprised / smile / brow raise / brow furrow at 1.0: the 95th percentile of the grey gradient
  magnitude inside each edited brow and eye (its box grown to cover the move) in the result ÷ the
  same in the input. Beside it, in the same run, the baseline the rig replaced: the same warp
  resampled bilinearly (``warp_linear``).
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
    """Detection rate, share with 5/5 parts found and part-centre errors on procedural faces (seeds
    1000+, 5 expressions each)."""
    from engine.faces.anime import PART_NAMES, analyze_anime
    from engine.procedural.anime_faces import generate_anime_face

    errs: dict[str, list[float]] = {k: [] for k in PART_NAMES}
    hits = total = five = 0
    for sd in range(1000, 1000 + n_seeds):
        for e in (None, {"smile": 1.0}, {"angry": 1.0}, {"surprised": 1.0}, {"sad": 1.0}):
            f = generate_anime_face(sd, 256, e)
            total += 1
            faces = analyze_anime(f.image)
            if not faces:
                continue
            hits += 1
            five += all(faces[0].found.get(k, False) for k in PART_NAMES)
            iod = float(np.linalg.norm(_centre(f.boxes["left_eye"]) - _centre(f.boxes["right_eye"])))
            for k in PART_NAMES:
                errs[k].append(float(np.linalg.norm(_centre(faces[0].parts[k]) - _centre(f.boxes[k]))) / iod)
    return {"faces": total, "detection_rate": round(hits / total, 3), "all_5_parts_found": round(five / total, 3),
            "centre_error_iod_median": {k: round(float(np.median(v)), 3) for k, v in errs.items()},
            "within_0.15_iod": {k: round(float(np.mean(np.array(v) < 0.15)), 3) for k, v in errs.items()}}


def crispness(n_faces: int = 12, size: int = 256) -> dict[str, Any]:
    """Edge crispness of edited brows and eyes (see the module docstring)."""
    import cv2

    from engine.procedural.anime_faces import generate_anime_face
    from engine.studios.expression.classical import apply_rig
    from engine.studios.expression.editor import parts_from_generated
    from engine.studios.expression.params import ExpressionParams

    def p95(img: np.ndarray, box: np.ndarray) -> float:
        h, w = img.shape[:2]
        x0, y0 = int(max(0, box[0])), int(max(0, box[1]))
        x1, y1 = int(min(w, box[2])), int(min(h, box[3]))
        g = img[y0:y1, x0:x1].astype(np.float32).mean(-1)
        if g.shape[0] < 3 or g.shape[1] < 3:
            return 0.0
        gy, gx = np.gradient(g)
        return float(np.percentile(np.hypot(gx, gy), 95))

    edits = {"angry": ExpressionParams(angry=1.0), "sad": ExpressionParams(sad=1.0),
             "surprised": ExpressionParams(surprised=1.0), "smile": ExpressionParams(smile=1.0),
             "brow_raise": ExpressionParams(brow_raise=1.0), "brow_furrow": ExpressionParams(brow_furrow=1.0)}
    ratios: dict[str, dict[str, list[float]]] = {k: {"brows": [], "eyes": []} for k in edits}
    linear: dict[str, dict[str, list[float]]] = {k: {"brows": [], "eyes": []} for k in edits}
    for i in range(n_faces):
        f = generate_anime_face(1000 + i, size)
        parts = parts_from_generated(f)
        for name, params in edits.items():
            out, flow, weight = apply_rig(f.image, parts, params)
            h, w = f.image.shape[:2]
            gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
            lin = cv2.remap(f.image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
            for kind, keys in (("brows", ("left_brow", "right_brow")), ("eyes", ("left_eye", "right_eye"))):
                for k in keys:
                    b = f.boxes[k].astype(np.float64)
                    m = np.abs(flow[int(b[1]):int(b[3]) + 1, int(b[0]):int(b[2]) + 1]).max(initial=0.0)
                    grown = b + np.array([-3 - m, -3 - m, 3 + m, 3 + m])
                    base = p95(f.image, grown)
                    if base <= 0:
                        continue
                    ratios[name][kind].append(p95(out, grown) / base)
                    linear[name][kind].append(p95(lin, grown) / base)

    def med(d: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
        return {k: {kind: round(float(np.median(v)), 3) for kind, v in per.items() if v} for k, per in d.items()}
    rig, lin_doc = med(ratios), med(linear)
    worst = min(v for per in rig.values() for v in per.values())
    return {"faces": n_faces, "rig": rig, "warp_linear": lin_doc, "rig_min": round(worst, 3),
            "aim": 0.85, "pass": worst >= 0.85}


def real_crops() -> dict[str, Any] | None:
    """Real greyscale development crops processed automatically (see the module docstring)."""
    if not SHARED_EMOTIONS.is_dir():
        return None
    from engine.faces.anime import analyze_anime
    from engine.imageio import load_image

    files = sorted(SHARED_EMOTIONS.glob("*/*.png"))
    processed = cascade = five = 0
    for p in files:
        faces = analyze_anime(load_image(p))
        if faces:
            processed += 1
            cascade += faces[0].score > 0
            five += all(faces[0].found.values())
    return {"images": len(files), "processed": processed, "by_cascade": cascade, "as_tight_crop": processed - cascade,
            "all_5_parts_found": five, "aim_processed": 55}


def upside_down_and_non_faces(n_seeds: int = 20) -> dict[str, Any]:
    """Pictures that must give "no anime face found": procedural faces turned by 180° (seeds 1000+)
    and generated non-faces (noise, flat, a gradient, a checkerboard)."""
    from engine.faces.anime import analyze_anime
    from engine.procedural.anime_faces import generate_anime_face

    turned = sum(bool(analyze_anime(np.ascontiguousarray(generate_anime_face(sd, 256).image[::-1, ::-1])))
                 for sd in range(1000, 1000 + n_seeds))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]
    others = {"noise": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
              "flat": np.full((256, 256, 3), 200, np.uint8),
              "gradient": np.repeat(((xx + yy) // 2).astype(np.uint8)[..., None], 3, -1),
              "checkerboard": np.repeat((((xx // 32) + (yy // 32)) % 2 * 255).astype(np.uint8)[..., None], 3, -1)}
    return {"upside_down_faces": n_seeds, "upside_down_accepted": int(turned),
            "non_faces_accepted": [k for k, v in others.items() if analyze_anime(v)], "aim_accepted": 0}


GRID_EDITS: tuple[tuple[str, dict[str, float]], ...] = (
    ("neutral", {}), ("smile", {"smile": 1.0}), ("angry", {"angry": 1.0}), ("sad", {"sad": 1.0}),
    ("surprised", {"surprised": 1.0}), ("blink", {"blink_left": 1.0, "blink_right": 1.0}), ("aaa", {"aaa": 1.0}))
"""The columns of the expression grid (:func:`grid`)."""


def grid(path: Path, seeds: tuple[int, ...] = (3, 1000, 1005, 1007), tile: int = 192) -> Path:
    """Write the expression grid: 4 procedural faces and (when present) the first real development crop
    of four emotion folders × :data:`GRID_EDITS`, automatic detection (no ``assume_crop``); a row
    whose picture has no face found is grey."""
    import cv2

    from engine.errors import NoFaceError
    from engine.imageio import load_image, save_image
    from engine.procedural.anime_faces import generate_anime_face
    from engine.studios.expression.editor import ExpressionEditor
    from engine.studios.expression.params import ExpressionParams

    pictures = [generate_anime_face(sd, 256).image for sd in seeds]
    if SHARED_EMOTIONS.is_dir():
        for label in ("angry", "happy", "neutral", "surprised"):
            files = sorted((SHARED_EMOTIONS / label).glob("*.png"))
            if files:
                img = load_image(files[0])
                pictures.append(img if img.ndim == 3 else np.repeat(img[..., None], 3, -1))
    rows = []
    for img in pictures:
        ed = ExpressionEditor("classical")
        tiles = []
        try:
            ed.set_image(img[..., :3])
            for _, sliders in GRID_EDITS:
                tiles.append(ed.edit(ExpressionParams(**sliders)).image)
        except NoFaceError:
            tiles = [np.full_like(img[..., :3], 128) for _ in GRID_EDITS]
        rows.append(np.concatenate([cv2.resize(t, (tile, tile), interpolation=cv2.INTER_AREA) for t in tiles], 1))
    return save_image(path, np.concatenate(rows, 0))


def run() -> dict[str, Any]:
    """Measure; returns the JSON section."""
    from engine.faces.anime import analyze_anime
    from engine.procedural.anime_faces import generate_anime_face
    from engine.studios.expression.editor import ExpressionEditor
    from engine.studios.expression.params import ExpressionParams

    face = generate_anime_face(5, 512)
    ed = ExpressionEditor("classical")
    ed.set_image(face.image)
    params = ExpressionParams(smile=0.7, angry=0.3)
    sliders = ExpressionParams(blink_left=1.0, aaa=0.6, brow_raise=0.5)
    doc: dict[str, Any] = {
        "edit_512": latency(lambda: ed.edit(params), 20),
        "slider_edit_512": latency(lambda: ed.edit(sliders), 20),
        "analyze_512": latency(lambda: analyze_anime(face.image), 5),
        "generate_512": latency(lambda: generate_anime_face(9, 512), 5),
        "parts_procedural": part_accuracy(),
        "crispness": crispness(),
        "refusals": upside_down_and_non_faces(),
    }
    doc["target"] = {"edit_limit_ms": EDIT_TARGET_MS,
                     "edit_pass": max(doc["edit_512"]["median_ms"], doc["slider_edit_512"]["median_ms"]) <= EDIT_TARGET_MS}
    real = real_crops()
    if real is not None:
        doc["real_crops"] = real
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
            f"  emotion edit 512² {doc['edit_512']['median_ms']:>12.1f} {doc['edit_512']['p90_ms']:>8.1f}",
            f"  slider edit 512²  {doc['slider_edit_512']['median_ms']:>12.1f} {doc['slider_edit_512']['p90_ms']:>8.1f}"
            f"   ≤ {t['edit_limit_ms']:.0f}: {'PASS' if t['edit_pass'] else 'FAIL'}",
            f"  analyze 512²   {doc['analyze_512']['median_ms']:>15.1f} {doc['analyze_512']['p90_ms']:>8.1f}",
            f"  generate 512²  {doc['generate_512']['median_ms']:>15.1f} {doc['generate_512']['p90_ms']:>8.1f}",
            f"  procedural faces detected {q['detection_rate']:.1%} of {q['faces']}, 5/5 parts {q['all_5_parts_found']:.1%};"
            f" part centre error (median ÷ IOD) {q['centre_error_iod_median']}"]
    c = doc["crispness"]
    rows.append(f"  edge crispness (p95 gradient out ÷ in, aim ≥ {c['aim']}): worst {c['rig_min']:.3f} "
                f"{'PASS' if c['pass'] else 'FAIL'}; rig {c['rig']}; bilinear warp {c['warp_linear']}")
    u = doc.get("refusals")
    if u:
        rows.append(f"  upside-down procedural faces accepted: {u['upside_down_accepted']}/{u['upside_down_faces']}; "
                    f"non-faces accepted: {u['non_faces_accepted'] or 'none'} (aim 0)")
    r = doc.get("real_crops")
    if r:
        rows.append(f"  real greyscale crops processed: {r['processed']}/{r['images']} (cascade {r['by_cascade']}, "
                    f"tight crop {r['as_tight_crop']}; 5/5 parts {r['all_5_parts_found']}; aim ≥ {r['aim_processed']})")
    j = doc.get("judged")
    if j:
        for who in ("rig", "gan"):
            per = ", ".join(f"{n} {j[f'{who}_accuracy_{n}']:.3f}" for n in ("angry", "sad", "smile", "surprised"))
            rows.append(f"  judge accepts {who} edits {j[f'{who}_accuracy']:.3f} ({per})")
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.expression --out FILE``: this section alone (JSON + table).

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).

    Returns:
        Exit code 0.
    """
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m bench.expression", description="Expression bench section")
    p.add_argument("--out", required=True, help="results JSON file to write")
    p.add_argument("--grid", help="also write the expression grid (faces × neutral / smile / angry / sad / "
                                  "surprised / blink / aaa) to this PNG")
    args = p.parse_args(argv)
    if args.grid:
        print(f"wrote {grid(Path(args.grid))}")
    doc = run()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print("\n".join(table(doc)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
