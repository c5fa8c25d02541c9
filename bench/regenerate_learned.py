"""The learned inpainting regenerator on the regenerate benchmark's ground truth, beside the
classical engine and Telea in the same run.

``python -m bench.regenerate_learned [--checkpoint CARD] [--sheet PNG] [--write-card] [--out JSON]``
(``--looks PNG [--faces N]``: only the looks sheet of :func:`looks_sheet`)

On every ``../shared/data/faces/parsing`` photo with its true label map (faces the network never
saw in training), the two ground-truth tests of :mod:`bench.regenerate` — *grow hair* and
*un-fringe*, built by its :func:`~bench.regenerate.grow_hair_case` / :func:`~bench.regenerate.unfringe_case`
— are run through

* the learned engine, :func:`engine.studios.regenerate.learned.regenerate_learned` — the studio's
  product path: the face's key points from the project's analysis of the damaged picture, the
  project parser's map of it as the source, the band set to the wanted label and passed as the
  painted strokes (and once more from the label maps alone, ``learned_labels_only``);
* the classical engine, :func:`engine.studios.regenerate.classical.regenerate`, on the same inputs;
* OpenCV Telea inpainting of the band (:func:`bench.regenerate.telea`).

Inside the band each is scored by :func:`bench.regenerate.band_scores` (MAE, SSIM, texture ratio).
Also: the identity distance input → result of every learned result, and the median time of one
learned and one classical call on these photos (one torch thread; the machine is shared: compare
the ratio).

Verdict (:func:`verdict`): the learned engine measured *better* only if on **both** tests its MAE
is below and its SSIM above the classical engine's, and its texture ratio is at least as near 1
(in log terms). ``--write-card`` records the numbers and that verdict in the checkpoint's card
(weights untouched), which is what ``auto`` reads.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.regenerate import SHARED_PARSING, TEXTURE_AIM, band_scores, damaged_cases, telea

TESTS: dict[str, str] = {"grow_hair": "hair", "unfringe": "skin"}
"""Ground-truth test → the label the band is set back to."""
ENGINES: tuple[str, ...] = ("learned", "learned_no_seam", "learned_labels_only", "classical", "telea")
"""What is scored on every case: the learned engine as the studio runs it, without its seam correction
(:func:`~engine.studios.regenerate.learned.seam_offset`), from the label maps alone (no strokes), the
classical engine and Telea."""


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]}


def verdict(doc: dict[str, Any]) -> bool:
    """Better than classical: on every test MAE lower, SSIM higher and texture ratio at least as
    near 1 (``|log ratio|``), for the learned engine with the painted band.

    Example:
        >>> t = {"learned": {"mae": 10, "ssim": 0.7, "texture_ratio": 0.9},
        ...      "classical": {"mae": 12, "ssim": 0.6, "texture_ratio": 1.3}}
        >>> verdict({"grow_hair": t, "unfringe": t})
        True
        >>> verdict({"grow_hair": t, "unfringe": {**t, "learned": {**t["learned"], "mae": 13}}})
        False
    """
    tests = [doc[t] for t in TESTS if t in doc]
    if len(tests) != len(TESTS):
        return False
    return all(t["learned"]["mae"] < t["classical"]["mae"] and t["learned"]["ssim"] > t["classical"]["ssim"]
               and abs(math.log(max(1e-6, t["learned"]["texture_ratio"])))
               <= abs(math.log(max(1e-6, t["classical"]["texture_ratio"]))) for t in tests)


def _crop_box(band: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The band's bounding box, squared, with a 4 % margin (as bench.regenerate's sheet)."""
    ys, xs = np.nonzero(band)
    m = int(0.04 * max(shape[:2]))
    half = max(ys.max() - ys.min(), xs.max() - xs.min()) // 2 + m
    cy, cx = (ys.max() + ys.min()) // 2, (xs.max() + xs.min()) // 2
    return max(0, cy - half), max(0, cx - half), min(shape[0], cy + half), min(shape[1], cx + half)


def _sheet_row(tiles: list[np.ndarray], band: np.ndarray, side: int = 256) -> np.ndarray:
    import cv2

    y0, x0, y1, x1 = _crop_box(band, tiles[0].shape)
    return np.hstack([cv2.resize(np.ascontiguousarray(t[y0:y1, x0:x1]), (side, side), interpolation=cv2.INTER_AREA)
                      for t in tiles])


def run(checkpoint: Path | None = None, folder: Path = SHARED_PARSING, sheet: Path | None = None) -> dict[str, Any]:
    """Score the learned engine, the classical engine and Telea on the ground-truth bands.

    Args:
        checkpoint: the network's card (default: the ``regen_inpaint`` checkpoint the studio finds).
        folder: photo + label-map pairs (the benchmark's faces).
        sheet: optional PNG of (damaged, Telea, classical, learned without and with the seam
            correction, truth) crops per case.

    Returns:
        Per test the mean scores of every engine of :data:`ENGINES` and the number of faces; the
        identity distance input → learned result; median milliseconds per call; ``better``.

    Raises:
        ValueError: no usable checkpoint.
    """
    import torch

    from engine.faces import FaceAnalyzer
    from engine.faces.cli import quiet_native_stderr
    from engine.imageio import save_image
    from engine.labels import CELEBAMASK_HQ
    from engine.metrics.identity import identity_report
    from engine.studios.regenerate.classical import regenerate
    from engine.studios.regenerate.learned import BACKEND, LEARNED_MODEL, regenerate_learned
    from engine.weights.store import load_checkpoint

    torch.set_num_threads(1)  # a small network on a shared 2-core machine: 2 threads were ~15x slower here
    path, card, problem = BACKEND.status(checkpoint)
    if path is None or problem:
        raise ValueError(f"no usable {LEARNED_MODEL} checkpoint: {problem}")
    model, card = load_checkpoint(path, device="cpu")
    scores: dict[str, dict[str, list[dict[str, float]]]] = {t: {e: [] for e in ENGINES} for t in TESTS}
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    ms: dict[str, list[float]] = {"learned": [], "classical": []}
    rows: list[np.ndarray] = []
    with quiet_native_stderr():
        analyzer = FaceAnalyzer()
        for test, img, damaged, band in damaged_cases(folder):
            res = analyzer.analyze(damaged)
            if res.parsing is None:
                continue
            src = res.parsing
            kp = res.faces[0].keypoints if res.faces else None
            target = src.copy()
            target[band] = CELEBAMASK_HQ.index(TESTS[test])
            t0 = time.perf_counter()
            learned, _, _ = regenerate_learned(model, damaged, src, target, keypoints=kp, painted=band)
            t1 = time.perf_counter()
            classical, _, _ = regenerate(damaged, src, target, painted=band)
            t2 = time.perf_counter()
            ms["learned"].append((t1 - t0) * 1000)
            ms["classical"].append((t2 - t1) * 1000)
            plain, _, _ = regenerate_learned(model, damaged, src, target, keypoints=kp)
            raw, _, _ = regenerate_learned(model, damaged, src, target, keypoints=kp, painted=band, seam=False)
            base = telea(damaged, band)
            for name, out in (("learned", learned), ("learned_no_seam", raw), ("learned_labels_only", plain),
                              ("classical", classical), ("telea", base)):
                scores[test][name].append(band_scores(out, img, band))
            pairs.append((img, learned))
            if sheet is not None:
                rows.append(_sheet_row([damaged, base, classical, raw, learned, img], band))
    if sheet is not None and rows:
        save_image(sheet, np.vstack(rows))
    doc: dict[str, Any] = {"checkpoint": f"{path.parent.name}/{path.name}", "weights_sha256": card.sha256[:12]}
    for test, per in scores.items():
        if per["learned"]:
            entry: dict[str, Any] = {e: _mean(per[e]) for e in ENGINES}
            entry["faces"] = len(per["learned"])
            lt = entry["learned"]
            entry["aims"] = {"mae_below_telea": lt["mae"] < entry["telea"]["mae"],
                             "ssim_above_telea": lt["ssim"] > entry["telea"]["ssim"],
                             "texture_in_range": TEXTURE_AIM[0] <= lt["texture_ratio"] <= TEXTURE_AIM[1]}
            doc[test] = entry
    doc["identity_vs_input_learned"] = identity_report(pairs)
    doc["median_ms"] = {k: round(float(np.median(v)), 1) for k, v in ms.items() if v}
    doc["better"] = verdict(doc)
    return doc


def looks_sheet(path: Path, folder: Path = SHARED_PARSING, faces: int = 4, checkpoint: Path | None = None,
                side: int = 256) -> int:
    """Write a sheet to look at: per face, photo | (classical, learned) for each of
    :data:`bench.regenerate.LOOK_EDITS` (fringe, hat, longer hair, painted as a user would), head
    crops; returns the number of faces.
    """
    import torch

    from bench.regenerate import LOOK_EDITS, look_edits, looks_row
    from engine.faces import FaceAnalyzer
    from engine.faces.cli import quiet_native_stderr
    from engine.imageio import load_image, save_image
    from engine.studios.regenerate.classical import regenerate
    from engine.studios.regenerate.learned import BACKEND, regenerate_learned
    from engine.weights.store import load_checkpoint

    torch.set_num_threads(1)
    card_path, _card, problem = BACKEND.status(checkpoint)
    if card_path is None or problem:
        raise ValueError(f"no usable checkpoint: {problem}")
    model, _ = load_checkpoint(card_path, device="cpu")
    rows = []
    with quiet_native_stderr():
        analyzer = FaceAnalyzer()
        for jpg in sorted(folder.glob("*.jpg"))[:faces]:
            img = load_image(jpg)
            res = analyzer.analyze(img)
            if not res.faces or res.parsing is None:
                continue
            lab, kp = res.parsing, res.faces[0].keypoints
            edits = look_edits(lab)
            tiles = [img]
            for name in LOOK_EDITS:
                if name not in edits:
                    tiles += [np.zeros_like(img)] * 2
                    continue
                e, paint = edits[name]
                tiles.append(regenerate(img, lab, e, painted=paint)[0])
                tiles.append(regenerate_learned(model, img, lab, e, keypoints=kp, painted=paint)[0])
            rows.append(looks_row(tiles, lab, side))
    if rows:
        save_image(path, np.vstack(rows))
    return len(rows)


def write_card(path: Path, doc: dict[str, Any]) -> Path:
    """Record ``doc``'s numbers and verdict in the checkpoint's card (weights untouched, atomic).

    Returns:
        The card written.
    """
    from datetime import datetime, timezone

    from engine.imageio import atomic_write_bytes
    from engine.training.regen_inpaint import VERDICT_MEASURE

    card = json.loads(path.read_text(encoding="utf-8"))
    metrics: dict[str, float] = {}
    for test in TESTS:
        if test not in doc:
            continue
        for engine, prefix in (("learned", ""), ("learned_no_seam", "no_seam_"), ("learned_labels_only", "labels_only_"),
                               ("classical", "classical_"), ("telea", "telea_")):
            for k, v in doc[test][engine].items():
                metrics[f"{prefix}{test}_{k}"] = v
    ident = doc.get("identity_vs_input_learned", {}).get("identity_distance")
    if ident is not None:
        metrics["identity_distance"] = ident
    card["metrics"] = metrics
    card["verdict"] = {"compared_with": "classical", "measure": VERDICT_MEASURE, "better": bool(doc["better"])}
    card.setdefault("extra", {})["benchmark"] = doc
    card["extra"]["measured"] = (f"{datetime.now(timezone.utc).date().isoformat()}: python -m bench.regenerate_learned "
                                 "--write-card (classical engine and Telea in the same run)")
    atomic_write_bytes(path, (json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module doc)."""
    from engine.weights.card import card_path_for

    ap = argparse.ArgumentParser(description="Learned vs classical vs Telea on the regenerate ground-truth bands")
    ap.add_argument("--checkpoint", type=Path, help="card of the network (default: the one the studio finds)")
    ap.add_argument("--folder", type=Path, default=SHARED_PARSING, help="photo + label-map pairs")
    ap.add_argument("--sheet", type=Path, help="PNG of damaged | Telea | classical | learned (no seam) | learned | truth per case")
    ap.add_argument("--out", type=Path, help="write the JSON here too")
    ap.add_argument("--write-card", action="store_true", help="record the numbers and the verdict in the card")
    ap.add_argument("--looks", type=Path, help="only write a PNG of photo | (classical, learned) × (fringe, hat, "
                                               "longer hair) for the first --faces photos, then exit")
    ap.add_argument("--faces", type=int, default=4, help="faces on the --looks sheet")
    a = ap.parse_args(argv)
    if not a.folder.is_dir():
        print(f"skipped: {a.folder} absent")
        return 0
    if a.looks is not None:
        print(f"looks sheet: {looks_sheet(a.looks, a.folder, a.faces, a.checkpoint)} faces → {a.looks}")
        return 0
    doc = run(a.checkpoint, a.folder, a.sheet)
    text = json.dumps(doc, indent=1)
    print(text)
    if a.out is not None:
        a.out.write_text(text + "\n", encoding="utf-8")
    if a.write_card:
        from engine.studios.regenerate.learned import BACKEND

        path = card_path_for(a.checkpoint) if a.checkpoint is not None else BACKEND.status()[0]
        if path is None:
            raise SystemExit("no checkpoint to write to")
        print(f"wrote {write_card(path, doc)} (better: {doc['better']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
