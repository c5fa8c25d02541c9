"""Regenerate bench section: classical regeneration latency at 512², quality, and the ground-truth test.

Ground truth (:func:`ground_truth`, also ``python -m bench.regenerate [--sheet PNG]`` alone): on every
``../shared/data/faces/parsing`` photo with its true label map, (a) *grow hair*: the hair within
4 % of the side from the background is painted over with the nearest background colour, the
project parser's parsing of that picture is the source map and the band is set to hair in the
target map; (b) *un-fringe*: forehead skin (above the eyes and brows) within 4 % of the side from
the hair is painted with the nearest hair colour and set back to skin. Inside the band: mean
absolute error against the photo, SSIM (grey, 7-px windows, averaged over the band) and texture
ratio (std of the Laplacian, result / truth), beside OpenCV Telea inpainting of the same band,
plus the identity distance input → result. The band is what the user paints, so the engine gets it
as the ``painted`` mask (pixels the parser already gave the wanted label but that belong to the
damaged band are the user's strokes too); ``engine_labels_only`` is the same test with the label
maps alone (no strokes known: a mask file or an edit chain).

Looks (``--looks PNG``): the first :data:`LOOK_FACES` development photos × (photo, fringe, hat,
longer hair), each edit drawn as a user would paint it (:func:`look_edits`), to look at.

Latency: ``skimage.data.astronaut()`` (512²), its parsing edited by each edit chain of
:data:`EDITS`, median of several runs of :func:`engine.studios.regenerate.classical.regenerate` (analysis not
included: it is cached per image in the studio), beside OpenCV Telea inpainting of the same changed
pixels timed in the same run (``telea_512_ms``) and the 1-minute load average (the project's
2-core machine is shared: compare ratios, not absolute times). Quality: identity PSNR (unchanged mask) and the
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

import os
import time
from collections.abc import Iterator
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
        latency, telea_ms = {}, {}
        for name, spec in EDITS.items():
            edited = apply_edits(lab, spec)
            regenerate(astro, lab, edited)
            times = []
            for _ in range(5):
                t = time.perf_counter()
                regenerate(astro, lab, edited)
                times.append((time.perf_counter() - t) * 1000)
            latency[name] = round(float(np.median(times)), 1)
            changed = (edited != lab).astype(np.uint8)
            base = []
            for _ in range(5):  # same-run baseline: OpenCV Telea inpainting of the changed pixels
                t = time.perf_counter()
                telea(astro, changed.astype(bool))
                base.append((time.perf_counter() - t) * 1000)
            telea_ms[name] = round(float(np.median(base)), 1)
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
        "telea_512_ms": telea_ms,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
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
        "ground_truth": ground_truth() if SHARED_PARSING.is_dir() else "skipped: ../shared/data/faces/parsing absent",
        "fid": "not computed here: no local Inception weights (SEAN's 17.66 is not comparable); see the regen_g card",
    }


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines for the summary table."""
    rows = ["regenerate (classical, 512²)      median ms   parse agreement result / unedited   identity dist."
            "   Telea ms (same run)"]
    ident = doc.get("identity_vs_input", {})
    for k, ms in doc["latency_512_ms"].items():
        a = doc["edited_region_agreement"][k]
        d = ident.get(k, {}).get("identity_distance")
        tm = doc.get("telea_512_ms", {}).get(k)
        rows.append(f"  {k:<20} {ms:>14.1f}   {a['result_miou']:.3f} / {a['source_miou']:.3f}"
                    f"{'' if d is None else f'{d:>25.3f}'}{'' if tm is None else f'{tm:>21.1f}'}")
    if "glasses_frames" in doc:
        f = doc["glasses_frames"]
        rows.append(f"  glasses (no parser): frame ring dark {f['ring_recall']:.3f}, new-dark precision "
                    f"{f['precision']:.3f}, face through lenses corr {f['lens_corr']:.3f}")
    gt = doc.get("ground_truth")
    if isinstance(gt, dict):
        for test in ("grow_hair", "unfringe"):
            if test in gt:
                e, b = gt[test]["engine"], gt[test]["telea"]
                rows.append(f"  {test} ({gt[test]['faces']} faces) MAE {e['mae']:.1f} vs Telea {b['mae']:.1f}, SSIM "
                            f"{e['ssim']:.3f} vs {b['ssim']:.3f}, texture {e['texture_ratio']:.2f} vs {b['texture_ratio']:.2f}")
                lo = gt[test].get("engine_labels_only")
                if lo:
                    rows.append(f"    labels only (no strokes): MAE {lo['mae']:.1f}, SSIM {lo['ssim']:.3f}, "
                                f"texture {lo['texture_ratio']:.2f}")
    t = doc["target"]
    rows.append(f"  target 512² ≤ {t['limit_ms']:.0f} ms: {'PASS' if t['pass'] else 'FAIL'} (worst {t['worst_ms']:.0f} ms)")
    ident = "exact (∞ dB)" if doc["identity_exact"] else f"{doc['identity_psnr_db_min']} dB"
    rows.append(f"  identity (unchanged mask), min over {doc['photos']} photos: {ident}")
    return rows


# --- ground truth: grow hair / un-fringe ------------------------------------------------------

SHARED_PARSING = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "parsing"
"""Development photos with ground-truth 19-label maps (official order)."""
BAND_FRACTION = 0.04
"""Band width as a fraction of the image side (the issue's 4 %)."""
TEXTURE_AIM = (0.8, 1.25)
"""Texture ratio range the issue asks for (std of the Laplacian, result / truth, in the band)."""


def _grey(img: np.ndarray) -> np.ndarray:
    return _luma(img)


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest ``mask`` pixel (inf-like when empty)."""
    import cv2

    if not mask.any():
        return np.full(mask.shape, 1e9, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)


def _fill_from(img: np.ndarray, band: np.ndarray, donor: np.ndarray) -> np.ndarray:
    """``img`` with every ``band`` pixel set to the colour of the nearest ``donor`` pixel."""
    from engine.studios.regenerate.classical import nearest_fill_index

    out = img.copy()
    near = nearest_fill_index(donor)
    out[band] = img.reshape(-1, 3)[near[band]]
    return out


def grow_hair_case(img: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(damaged picture, band) of the grow-hair test: hair within 4 % of the side from the
    background, filled with the nearest background colour; None when the face has no such band."""
    from engine.labels import CELEBAMASK_HQ

    width = BAND_FRACTION * max(img.shape[:2])
    bg = truth == CELEBAMASK_HQ.index("background")
    band = (truth == CELEBAMASK_HQ.index("hair")) & (_distance_to(bg) <= width)
    if band.sum() < 50 or bg.sum() < 50:
        return None
    return _fill_from(img, band, bg), band


def unfringe_case(img: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(damaged picture, band) of the un-fringe test: forehead skin (above the eyes and brows)
    within 4 % of the side from the hair, filled with the nearest hair colour; None without one."""
    from engine.labels import CELEBAMASK_HQ

    ix = CELEBAMASK_HQ.index
    width = BAND_FRACTION * max(img.shape[:2])
    hair = truth == ix("hair")
    parts = np.isin(truth, [ix(n) for n in ("l_eye", "r_eye", "l_brow", "r_brow")])
    if not parts.any() or hair.sum() < 50:
        return None
    top = int(np.nonzero(parts)[0].min())
    band = (truth == ix("skin")) & (_distance_to(hair) <= width)
    band[top:] = False
    if band.sum() < 50:
        return None
    return _fill_from(img, band, hair), band


def band_scores(result: np.ndarray, truth_img: np.ndarray, band: np.ndarray) -> dict[str, float]:
    """MAE (grey levels, RGB mean), SSIM (grey, 7-px windows, mean over the band) and texture
    ratio (std of the Laplacian of the grey result / of the truth, in the band)."""
    import cv2
    from skimage.metrics import structural_similarity

    mae = float(np.abs(result.astype(np.float32) - truth_img.astype(np.float32))[band].mean())
    a, b = _grey(result), _grey(truth_img)
    _, smap = structural_similarity(a, b, data_range=255.0, win_size=7, full=True)
    la = cv2.Laplacian(a, cv2.CV_32F, ksize=3)
    lb = cv2.Laplacian(b, cv2.CV_32F, ksize=3)
    tex = float(la[band].std() / max(1e-6, lb[band].std()))
    return {"mae": mae, "ssim": float(smap[band].mean()), "texture_ratio": tex}


def telea(damaged: np.ndarray, band: np.ndarray) -> np.ndarray:
    """OpenCV Telea inpainting of ``band`` (radius 5 px): the baseline."""
    import cv2

    return cv2.inpaint(damaged, band.astype(np.uint8), 5, cv2.INPAINT_TELEA)


CASES = {"grow_hair": (grow_hair_case, "hair"), "unfringe": (unfringe_case, "skin")}
"""Ground-truth test → (the case maker, the label its band is set back to)."""


def damaged_cases(folder: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """``(test, photo, damaged photo, band)`` for every photo of ``folder`` with its label map
    (``X.jpg`` + ``X.png``) and every test of :data:`CASES` that applies to it."""
    from engine.imageio import load_image
    from engine.studios.regenerate.edits import load_label_map

    for jpg in sorted(folder.glob("*.jpg")):
        png = jpg.with_suffix(".png")
        if not png.exists():
            continue
        img, truth = load_image(jpg), load_label_map(png)
        for name, (case, _label) in CASES.items():
            got = case(img, truth)
            if got is not None:
                yield name, img, got[0], got[1]


def ground_truth(folder: Path = SHARED_PARSING, sheet: Path | None = None) -> dict[str, Any]:
    """The issue's ground-truth synthesis test on every photo + label pair of ``folder``.

    For each case the source map is the project parser's parsing of the damaged picture and the
    target map is that parsing with the band set to the wanted label; the classical engine
    regenerates with the band as the painted mask (and again from the label maps alone), OpenCV
    Telea inpaints the same band. ``sheet``: optional PNG of (damaged, Telea,
    engine, truth) crops per case, to look at.

    Returns:
        per test: mean ``mae`` / ``ssim`` / ``texture_ratio`` for ``engine``, ``engine_labels_only``
        and ``telea``, the number of faces, whether the aims are reached (``aims``, and
        ``aims_labels_only`` without strokes); plus the identity distance input → result.
    """
    from engine.faces import FaceAnalyzer
    from engine.faces.cli import quiet_native_stderr
    from engine.labels import CELEBAMASK_HQ
    from engine.metrics.identity import identity_report
    from engine.studios.regenerate.classical import regenerate

    scores: dict[str, dict[str, list[dict[str, float]]]] = {
        k: {"engine": [], "engine_labels_only": [], "telea": []} for k in CASES}
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    tiles: list[np.ndarray] = []
    with quiet_native_stderr():
        analyzer = FaceAnalyzer()
        for name, img, damaged, band in damaged_cases(folder):
            src = analyzer.analyze(damaged).parsing
            target = src.copy()
            target[band] = CELEBAMASK_HQ.index(CASES[name][1])
            out, _, _ = regenerate(damaged, src, target, painted=band)
            plain, _, _ = regenerate(damaged, src, target)
            base = telea(damaged, band)
            scores[name]["engine"].append(band_scores(out, img, band))
            scores[name]["engine_labels_only"].append(band_scores(plain, img, band))
            scores[name]["telea"].append(band_scores(base, img, band))
            pairs.append((img, out))
            if sheet is not None:
                tiles.append(_sheet_row(damaged, base, out, img, band))
    if sheet is not None and tiles:
        from engine.imageio import save_image

        save_image(sheet, np.vstack(tiles))
    doc: dict[str, Any] = {}
    for name, per in scores.items():
        if not per["engine"]:
            continue
        e, lo, t = ({k: round(float(np.mean([s[k] for s in rows])), 3) for k in rows[0]}
                    for rows in (per["engine"], per["engine_labels_only"], per["telea"]))
        doc[name] = {"engine": e, "engine_labels_only": lo, "telea": t, "faces": len(per["engine"]),
                     "aims": _aims(e, t), "aims_labels_only": _aims(lo, t)}
    doc["identity_vs_input"] = identity_report(pairs)
    return doc


def _aims(e: dict[str, float], t: dict[str, float]) -> dict[str, bool]:
    """The issue's aims for one engine's mean scores ``e`` against Telea's ``t``."""
    return {"mae_below_telea": e["mae"] < t["mae"], "ssim_above_telea": e["ssim"] > t["ssim"],
            "texture_in_range": TEXTURE_AIM[0] <= e["texture_ratio"] <= TEXTURE_AIM[1]}


def _sheet_row(damaged: np.ndarray, base: np.ndarray, out: np.ndarray, truth: np.ndarray,
               band: np.ndarray, side: int = 320) -> np.ndarray:
    """One row of the look-at sheet: damaged | Telea | engine | truth, cropped around the band."""
    import cv2

    ys, xs = np.nonzero(band)  # the band's bounding box, squared, with a margin
    m = int(0.04 * max(truth.shape[:2]))
    half = max(ys.max() - ys.min(), xs.max() - xs.min()) // 2 + m
    cy, cx = (ys.max() + ys.min()) // 2, (xs.max() + xs.min()) // 2
    y0, x0 = max(0, cy - half), max(0, cx - half)
    y1, x1 = min(truth.shape[0], cy + half), min(truth.shape[1], cx + half)
    crops = [cv2.resize(np.ascontiguousarray(im[y0:y1, x0:x1]), (side, side), interpolation=cv2.INTER_AREA)
             for im in (damaged, base, out, truth)]
    return np.hstack(crops)


# --- looks: fringe, hat, longer hair painted on development faces -------------------------------

LOOK_EDITS: tuple[str, ...] = ("fringe", "hat", "longer hair")


def look_edits(labels: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The three edits of the looks sheet, drawn on a parsing as a user would paint them.

    ``fringe``: hair over the forehead (skin above the brows) down to 55 % of the way from its top
    to the brows, the lower edge wavy as a brush would paint it; ``hat``: a dome over the head from a line 30 % down the forehead to just
    above the hair, 8 % wider than the head there, with a brim along its lower edge; ``longer hair``: the hair grown by 3 % of the
    side. Returns name → (edited map, painted mask); an edit the face cannot take is left out.
    """
    import cv2

    from engine.labels import CELEBAMASK_HQ
    from engine.studios.regenerate.edits import dilate

    ix = CELEBAMASK_HQ.index
    h, w = labels.shape
    hair, skin = labels == ix("hair"), labels == ix("skin")
    brows = np.isin(labels, [ix("l_brow"), ix("r_brow")])
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if brows.any() and hair.any():
        top = int(np.nonzero(brows)[0].min())
        forehead = skin.copy()
        forehead[top:] = False
        if forehead.sum() > 50:
            fy, fx = np.nonzero(forehead)
            line = fy.min() + 0.55 * (top - fy.min())  # the fringe ends 55 % of the way to the brows
            xx = np.arange(w, dtype=np.float32)[None, :]
            yy = np.arange(h, dtype=np.float32)[:, None]
            tips = 0.06 * (top - fy.min()) * np.sin(xx / max(3.0, 0.05 * w) * np.pi)  # a brushed, wavy edge
            paint = forehead & (yy <= line + tips)
            e = labels.copy()
            e[paint] = ix("hair")
            out["fringe"] = (e, paint)
    if hair.any() and skin.any():
        ys = np.nonzero(hair)[0]
        sy = np.nonzero(skin)[0]
        low = int(np.nonzero(brows)[0].min()) if brows.any() else int(np.percentile(sy, 30))
        brim_y = int(sy.min() + 0.3 * max(1, low - sy.min()))
        rows = (hair | skin)[max(0, brim_y - 3):brim_y + 4]
        cols = np.nonzero(rows.any(0))[0]
        cx, half = 0.5 * (cols.min() + cols.max()), 0.54 * (cols.max() - cols.min() + 1)
        crown = np.zeros((h, w), np.uint8)
        depth = max(8, brim_y - int(ys.min()) + int(0.08 * half))
        cv2.ellipse(crown, (int(cx), brim_y), (int(half), depth), 0, 180, 360, 1, -1)
        cv2.ellipse(crown, (int(cx), brim_y), (int(1.18 * half), max(3, int(0.1 * half))), 0, 0, 360, 1, -1)
        paint = crown.astype(bool) & ~np.isin(labels, [ix(n) for n in ("l_eye", "r_eye", "l_brow", "r_brow")])
        e = labels.copy()
        e[paint] = ix("hat")
        out["hat"] = (e, paint)
        e = dilate(labels, ["hair"], max(2, int(round(0.03 * max(h, w)))))
        out["longer hair"] = (e, e != labels)
    return out


def looks_sheet(folder: Path, path: Path, side: int = 256) -> int:
    """Write the looks sheet (photo | fringe | hat | longer hair per face, head crops) to ``path``;
    returns the number of faces."""
    from engine.faces import FaceAnalyzer
    from engine.faces.cli import quiet_native_stderr
    from engine.imageio import load_image, save_image
    from engine.studios.regenerate.classical import regenerate

    rows = []
    with quiet_native_stderr():
        analyzer = FaceAnalyzer()
        for jpg in sorted(folder.glob("*.jpg")):
            img = load_image(jpg)
            lab = analyzer.analyze(img).parsing
            edits = look_edits(lab)
            tiles = [img]
            for name in LOOK_EDITS:
                if name in edits:
                    e, paint = edits[name]
                    tiles.append(regenerate(img, lab, e, painted=paint)[0])
                else:
                    tiles.append(np.zeros_like(img))
            rows.append(looks_row(tiles, lab, side))
    if rows:
        save_image(path, np.vstack(rows))
    return len(rows)


def looks_row(tiles: list[np.ndarray], labels: np.ndarray, side: int) -> np.ndarray:
    """One row of a looks sheet: each tile cut to the head and shoulders (the labelled pixels'
    box, squared) and resized to ``side``²."""
    import cv2

    ys, xs = np.nonzero(labels > 0)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    half = max(ys.max() - ys.min(), xs.max() - xs.min()) // 2
    y0, x0 = max(0, cy - half), max(0, cx - half)
    y1, x1 = min(labels.shape[0], cy + half), min(labels.shape[1], cx + half)
    return np.hstack([cv2.resize(np.ascontiguousarray(t[y0:y1, x0:x1]), (side, side), interpolation=cv2.INTER_AREA)
                      for t in tiles])


if __name__ == "__main__":  # python -m bench.regenerate [--sheet PNG]: the ground-truth test alone
    import argparse
    import json

    ap = argparse.ArgumentParser(description="Regenerate ground-truth synthesis test (grow hair, un-fringe)")
    ap.add_argument("--sheet", type=Path, help="PNG of damaged | Telea | engine | truth crops to look at")
    ap.add_argument("--folder", type=Path, default=SHARED_PARSING, help="photo + label-map pairs")
    ap.add_argument("--looks", type=Path, help="PNG of photo | fringe | hat | longer hair per face, then exit")
    a = ap.parse_args()
    if a.looks is not None:
        print(f"looks sheet: {looks_sheet(a.folder, a.looks)} faces → {a.looks}")
    else:
        print(json.dumps(ground_truth(a.folder, a.sheet), indent=1))
