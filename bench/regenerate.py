"""Regenerate bench section: classical regeneration latency at 512² and quality.

Latency: ``skimage.data.astronaut()`` (512²), its parsing edited by each edit chain of
:data:`EDITS`, median of several runs of :func:`engine.studios.regenerate.classical.regenerate` (analysis not
included: it is cached per image in the studio). Quality: identity PSNR (unchanged mask) and the
edited-region agreement — the project parser's labels of the result against the edited mask, mean
IoU over the labels the edit changed (``result_miou``), next to the same score of the unedited
parsing (``source_miou``: what doing nothing scores), and the identity distance input → result per
edit (dlib's ResNet face descriptor, :mod:`engine.metrics.identity`: same person < 0.6). Photos:
astronaut + the first ``../shared/data/faces/photos`` images when present.

Glasses: ``eye_g`` follows CelebAMask-HQ (whole spectacles: frames + lenses, eyes and brows on
top), and the parser's own glasses detector is one classical heuristic, so the section also reports
a parser-free check of the drawn spectacles (``glasses_frames``), on the edited ``eye_g`` region
with its holes (the eyes inside the lenses) filled: ``ring_recall`` = share of the region's second
pixel layer inside its outer border (where any frame ≥ 2 px thick is fully drawn) that is dark in
the result (luma < :data:`FRAME_LUMA`); ``precision`` = share of the newly dark pixels (dark in the
result, not in the source) that lie in the region grown by 1 px; ``lens_corr`` = correlation of
result and source luma in the lens interior (the region eroded by :data:`LENS_MARGIN` px): the
face must stay visible through the lenses (1 = unchanged up to a gain/offset). It checks that
frames are drawn where the mask says and the face shows through, not that they look real.

No FID here: there is no local Inception weight file, so an FID comparable to SEAN's 17.66 on
CelebAMask-HQ cannot be computed; the regen_g card records what the only offline extractor
(opera-domain ResNet-18) gives and why it says nothing about quality.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET_512_MS = 400.0
EDITS: dict[str, str] = {
    "longer hair": "dilate:hair:14",
    "bigger eyes": "scale:l_eye+r_eye:1.4",
    "smile": "smile:6",
    "bigger lips": "scale:u_lip+l_lip:1.3",
    "glasses": "add:glasses",
}
FRAME_LUMA = 90.0
"""Luma (0–255) below which a pixel counts as part of a dark spectacle frame."""
LENS_MARGIN = 7
"""Pixels of the lens interior this far from the region's border count for ``lens_corr``."""
SHARED_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "photos"


def _miou(a: np.ndarray, b: np.ndarray, ids: list[int]) -> float:
    v = [((a == i) & (b == i)).sum() / max(1, ((a == i) | (b == i)).sum()) for i in ids]
    return float(np.mean(v)) if v else float("nan")


def _luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    import cv2

    pad = np.pad(mask, 1).astype(np.uint8)
    flood = pad.copy()
    cv2.floodFill(flood, None, (0, 0), 1)  # everything reachable from outside
    return (pad | (flood == 0))[1:-1, 1:-1].astype(bool)


def frame_scores(source: np.ndarray, result: np.ndarray, labels: np.ndarray,
                 edited: np.ndarray) -> tuple[float, float, float]:
    """(ring recall, precision, lens correlation) of the drawn glasses (see the module doc)."""
    import cv2

    from engine.labels import CELEBAMASK_HQ

    gi = CELEBAMASK_HQ.index("eye_g")
    g = _fill_holes((edited == gi) & (labels != gi))
    k = np.ones((3, 3), np.uint8)
    e1 = cv2.erode(g.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    ring = e1.astype(bool) & ~cv2.erode(e1, k, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    dark = _luma(result) < FRAME_LUMA
    new_dark = dark & ~(_luma(source) < FRAME_LUMA)
    grown = cv2.dilate(g.astype(np.uint8), k).astype(bool)
    recall = float(dark[ring].mean()) if ring.any() else float("nan")
    precision = float(grown[new_dark].mean()) if new_dark.any() else float("nan")
    core = cv2.erode(g.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * LENS_MARGIN + 1,) * 2),
                     borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    if core.sum() >= 20:
        a, b = _luma(source)[core], _luma(result)[core]
        corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    else:
        corr = float("nan")
    return recall, precision, corr


def run() -> dict[str, Any]:
    from skimage import data

    from engine.faces import FaceAnalyzer
    from engine.faces.cli import quiet_native_stderr
    from engine.imageio import load_image
    from engine.metrics.identity import identity_report
    from engine.studios.regenerate.classical import regenerate
    from engine.studios.regenerate.edits import apply_edits

    with quiet_native_stderr():
        analyzer = FaceAnalyzer()
        astro = data.astronaut()
        lab = analyzer.analyze(astro).parsing
        latency = {}
        for name, spec in EDITS.items():
            edited = apply_edits(lab, spec)
            regenerate(astro, lab, edited)
            times = []
            for _ in range(5):
                t = time.perf_counter()
                regenerate(astro, lab, edited)
                times.append((time.perf_counter() - t) * 1000)
            latency[name] = round(float(np.median(times)), 1)
        photos = [astro] + [load_image(p) for p in sorted(SHARED_PHOTOS.glob("*.jpg"))[:5]]
        psnrs, agree = [], {k: {"result": [], "source": []} for k in EDITS}
        frames: list[tuple[float, float, float]] = []
        pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in EDITS}
        for img in photos:
            lab = analyzer.analyze(img).parsing
            out, _, _ = regenerate(img, lab, lab.copy())
            mse = float(((out.astype(float) - img) ** 2).mean())
            psnrs.append(float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse))
            for name, spec in EDITS.items():
                edited = apply_edits(lab, spec)
                out, _, _ = regenerate(img, lab, edited)
                ids = [i for i in range(19) if ((edited == i) != (lab == i)).any()]
                agree[name]["result"].append(_miou(analyzer.analyze(out).parsing, edited, ids))
                agree[name]["source"].append(_miou(lab, edited, ids))
                pairs[name].append((img, out))
                if name == "glasses":
                    frames.append(frame_scores(img, out, lab, edited))
    worst = max(latency.values())
    return {
        "latency_512_ms": latency,
        "target": {"limit_ms": TARGET_512_MS, "worst_ms": worst, "pass": worst <= TARGET_512_MS},
        "identity_exact": all(np.isinf(psnrs)),
        "identity_psnr_db_min": None if all(np.isinf(psnrs)) else round(float(min(psnrs)), 2),
        "photos": len(photos),
        "edited_region_agreement": {k: {"result_miou": round(float(np.nanmean(v["result"])), 3),
                                        "source_miou": round(float(np.nanmean(v["source"])), 3)}
                                    for k, v in agree.items()},
        "identity_vs_input": {k: identity_report(p) for k, p in pairs.items()},
        "glasses_frames": {"ring_recall": round(float(np.nanmean([f[0] for f in frames])), 3),
                           "precision": round(float(np.nanmean([f[1] for f in frames])), 3),
                           "lens_corr": round(float(np.nanmean([f[2] for f in frames])), 3),
                           "luma_below": FRAME_LUMA},
        "fid": "not computed here: no local Inception weights (SEAN's 17.66 is not comparable); see the regen_g card",
    }


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines for the summary table."""
    rows = ["regenerate (classical, 512²)      median ms   parse agreement result / unedited   identity dist."]
    ident = doc.get("identity_vs_input", {})
    for k, ms in doc["latency_512_ms"].items():
        a = doc["edited_region_agreement"][k]
        d = ident.get(k, {}).get("identity_distance")
        rows.append(f"  {k:<20} {ms:>14.1f}   {a['result_miou']:.3f} / {a['source_miou']:.3f}"
                    f"{'' if d is None else f'{d:>25.3f}'}")
    if "glasses_frames" in doc:
        f = doc["glasses_frames"]
        rows.append(f"  glasses (no parser): frame ring dark {f['ring_recall']:.3f}, new-dark precision "
                    f"{f['precision']:.3f}, face through lenses corr {f['lens_corr']:.3f}")
    t = doc["target"]
    rows.append(f"  target 512² ≤ {t['limit_ms']:.0f} ms: {'PASS' if t['pass'] else 'FAIL'} (worst {t['worst_ms']:.0f} ms)")
    ident = "exact (∞ dB)" if doc["identity_exact"] else f"{doc['identity_psnr_db_min']} dB"
    rows.append(f"  identity (unchanged mask), min over {doc['photos']} photos: {ident}")
    return rows
