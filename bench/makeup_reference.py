"""Makeup from a reference photo, and makeup removal: colour distances, identity, invariance, latency.

Data: the development MT photos (``../shared/data/makeup/mt``): the 6 made-up photos are the
references, the 8 photos without makeup the inputs (different people), every input × every
reference (48 transfers). Without the shared data the section says so and measures latency only.

* **transfer** — per region (lips, eyeshadow, cheek, eyeliner), the CIELAB ΔE (CIE76) between the
  result's region and the reference's region after removing each face's own skin (region mean −
  skin median, on the renderer's region masks; eyeshadow: mean of the lid and top colours of the
  lash-line → brow profile). Baseline in the same run: the closest preset style for that pair and
  region (the smallest ΔE any preset reaches on that input). Because the masks are the renderer's
  own, lips are also scored on the *dataset's* lip labels (MT segmentation, u_lip + l_lip, on both
  the input — whose landmarks do not move — and the reference), a check that does not share masks.
* **removal** — on the made-up photos, ΔE of each region to the skin-relative bare statistics
  (:data:`engine.studios.makeup.removal.BARE_OFFSETS`, measured on the no-makeup photos) before and
  after ``remove 1.0`` and ``0.8``; on the no-makeup photos, how much removal moves them (should be
  little). Caveat: the bare statistics are both the removal's target and the score's reference.
* **identity** — dlib face-descriptor distance input → result (:mod:`engine.metrics.identity`;
  aim < 0.35, same person < 0.6) for the transfers and the removals.
* **invariance** — pixels outside the painted regions that differ from the input (must be 0).
* **latency** at 512² (``faces/photos``, or the astronaut): a reference change (analyse + measure a
  new photo, then the first edit with it) and the edits after it (intensity changes), medians;
  baseline in the same run: opening the same photos (mirrored, so not cached) as the image to edit.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MT = SHARED / "makeup" / "mt"
PHOTOS = SHARED / "faces" / "photos"
REGIONS = ("lips", "eyeshadow", "cheek", "eyeliner")
IDENTITY_AIM = 0.35
REFERENCE_CHANGE_MS, EDIT_MS = 150.0, 40.0


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def _relative(style: Any, region: str) -> np.ndarray:
    """``[k, 3]`` colours of a measured style's region minus its reference skin."""
    from engine.studios.makeup.classical import colour_lab

    spec = style.regions[region]
    return np.stack([colour_lab(c) for c in spec.colors]) - colour_lab(spec.reference_skin)


def _delta(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.linalg.norm(a - b, axis=-1)))


def _measure_on(editor: Any, rgb: np.ndarray) -> Any:
    """The makeup of ``rgb`` measured on ``editor``'s face geometry (same landmarks and parsing)."""
    from engine.studios.makeup.classical import face_geometry
    from engine.studios.makeup.reference import measure_style

    face = max((f for f in editor.analysis.faces if f.landmarks is not None), key=lambda f: f.width * f.height)
    return measure_style(face_geometry(rgb, editor.analysis.parsing, face.landmarks), "m", REGIONS)


def _label_lips(rgb: np.ndarray, labels: np.ndarray, skin_lab: np.ndarray) -> np.ndarray | None:
    m = np.isin(labels, (11, 12))  # official order: u_lip, l_lip
    if m.sum() < 20:
        return None
    return _lab(rgb)[m].mean(0) - skin_lab


def _load(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    from engine.imageio import load_grey, load_image

    out = []
    for p in sorted(folder.glob("*.jpg")):
        seg = folder / "seg_celebamaskhq" / f"{p.stem}.png"
        out.append((p.stem, load_image(p), load_grey(seg) if seg.is_file() else None))
    return out


def _transfer_and_removal(analyzer: Any) -> dict[str, Any]:
    from engine.metrics.identity import identity_report
    from engine.studios.makeup.editor import MakeupEditor
    from engine.studios.makeup.params import MakeupParams, load_styles
    from engine.studios.makeup.reference import largest_geometry, measure_style

    presets = load_styles(include_user_dir=False)
    made, bare = _load(MT / "makeup"), _load(MT / "no_makeup")
    refs = []
    for name, img, seg in made:
        geo = largest_geometry(img, analyzer)
        refs.append((name, img, seg, geo, measure_style(geo, f"ref_{name}")))
    ours: dict[str, list[float]] = {r: [] for r in REGIONS}
    best_preset: dict[str, list[float]] = {r: [] for r in REGIONS}
    preset_wins: dict[str, dict[str, int]] = {r: {} for r in REGIONS}
    lips_labels: list[tuple[float, float]] = []
    outside_changed, outside_regions = 0, 0
    id_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for _, img, seg in bare:
        ed = MakeupEditor("classical", analyzer=analyzer, styles=presets)
        ed.set_image(img)
        skin_in = ed._faces(1.0, img)[0].skin_lab
        preset_rel: dict[str, dict[str, np.ndarray]] = {}
        for pname, pst in presets.items():
            res = ed.edit(MakeupParams({r: pname for r in REGIONS if r in pst.regions}))
            m = _measure_on(ed, res.image)
            preset_rel[pname] = {r: _relative(m, r) for r in REGIONS if r in pst.regions and r in m.regions}
        for rname, rimg, rseg, rgeo, rstyle in refs:
            ed.styles[rname] = rstyle
            res = ed.edit(MakeupParams({r: rname for r in REGIONS}))
            changed = res.masks["changed"]
            outside_changed += int((res.image[~changed] != img[~changed]).any(-1).sum())
            union = np.zeros(changed.shape, bool)
            for r in REGIONS:
                union |= res.masks[r] > 0
            outside_regions += int((res.image[~union] != img[~union]).any(-1).sum())
            m = _measure_on(ed, res.image)
            for r in REGIONS:
                want = _relative(rstyle, r)
                ours[r].append(_delta(_relative(m, r), want))
                scores = {p: _delta(v[r], want) for p, v in preset_rel.items() if r in v}
                p = min(scores, key=lambda k: scores[k])
                best_preset[r].append(scores[p])
                preset_wins[r][p] = preset_wins[r].get(p, 0) + 1
            if seg is not None and rseg is not None:
                a = _label_lips(res.image, seg, skin_in)
                b = _label_lips(rimg, rseg, rgeo.skin_lab)
                c = _label_lips(img, seg, skin_in)
                if a is not None and b is not None and c is not None:
                    lips_labels.append((float(np.linalg.norm(a - b)), float(np.linalg.norm(c - b))))
            id_pairs.append((img, res.image))
    transfer = {r: {"ours_dE": round(statistics.mean(ours[r]), 2), "closest_preset_dE": round(statistics.mean(best_preset[r]), 2),
                    "ratio": round(statistics.mean(ours[r]) / max(statistics.mean(best_preset[r]), 1e-6), 3),
                    "ours_max_dE": round(max(ours[r]), 2), "closest_presets": preset_wins[r],
                    "pass": statistics.mean(ours[r]) < statistics.mean(best_preset[r])} for r in REGIONS}
    if lips_labels:
        transfer["lips_on_dataset_labels"] = {
            "result_dE": round(statistics.mean(x for x, _ in lips_labels), 2),
            "input_dE": round(statistics.mean(y for _, y in lips_labels), 2), "pairs": len(lips_labels)}

    removal, rm_pairs = _removal(analyzer, made, bare, presets)
    ident_t = identity_report(id_pairs)
    ident_r = identity_report(rm_pairs)
    return {
        "pairs": len(id_pairs), "inputs": len(bare), "references": len(made),
        "transfer": transfer, "removal": removal,
        "identity": {"transfer": ident_t, "removal": ident_r, "aim": IDENTITY_AIM},
        "invariance": {"pixels_changed_outside_changed_mask": outside_changed,
                       "pixels_changed_outside_region_masks": outside_regions},
    }


def _removal(analyzer: Any, made: list[Any], bare: list[Any],
             presets: Any) -> tuple[dict[str, Any], list[tuple[np.ndarray, np.ndarray]]]:
    """Removal ΔE before / after on the made-up photos, and the (input, result) pairs at 1.0."""
    from engine.studios.makeup.classical import face_geometry
    from engine.studios.makeup.editor import MakeupEditor
    from engine.studios.makeup.params import REMOVAL_STYLE, MakeupParams
    from engine.studios.makeup.removal import BARE_OFFSETS, makeup_present

    removal: dict[str, Any] = {}
    rm_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for k in (1.0, 0.8):
        before: dict[str, list[float]] = {r: [] for r in BARE_OFFSETS}
        after: dict[str, list[float]] = {r: [] for r in BARE_OFFSETS}
        for _, img, _seg in made:
            ed = MakeupEditor("classical", analyzer=analyzer, styles=presets)
            ed.set_image(img)
            geo = ed._faces(1.0, img)[0]
            b = makeup_present(geo)
            res = ed.edit(MakeupParams({r: REMOVAL_STYLE for r in BARE_OFFSETS}, {r: k for r in BARE_OFFSETS}))
            face = ed.analysis.faces[0]
            a = makeup_present(face_geometry(res.image, ed.analysis.parsing, face.landmarks))
            for r in BARE_OFFSETS:
                before[r].append(b[r])
                after[r].append(a[r])
            if k == 1.0:
                rm_pairs.append((img, res.image))
        removal[f"remove_{k:g}"] = {r: {"before_dE": round(statistics.mean(before[r]), 2),
                                        "after_dE": round(statistics.mean(after[r]), 2)} for r in BARE_OFFSETS}
    moved: dict[str, list[float]] = {r: [] for r in BARE_OFFSETS}
    for _, img, _seg in bare:
        ed = MakeupEditor("classical", analyzer=analyzer, styles=presets)
        ed.set_image(img)
        b = makeup_present(ed._faces(1.0, img)[0])
        for r in BARE_OFFSETS:
            moved[r].append(b[r])
    removal["no_makeup_photos_dE_to_bare"] = {r: round(statistics.mean(v), 2) for r, v in moved.items()}
    return removal, rm_pairs


def _latency(analyzer: Any, runs: int = 6) -> dict[str, Any]:
    """Reference change (a new photo analysed, measured, first edit) and edits after it, at 512²."""
    from skimage import data

    from engine.imageio import load_image
    from engine.studios.makeup.editor import MakeupEditor
    from engine.studios.makeup.params import MakeupParams, load_styles

    photos = [load_image(p) for p in sorted(PHOTOS.glob("*.jpg"))[: runs + 1]] if PHOTOS.is_dir() else []
    if len(photos) < runs + 1:  # the astronaut, shifted so every reference is new to the analyzer
        base = data.astronaut()
        photos = [np.roll(base, 3 * i, axis=1) for i in range(runs + 1)]
    photos = [cv2.resize(p, (512, 512), interpolation=cv2.INTER_AREA) for p in photos]
    ed = MakeupEditor("classical", analyzer=analyzer, styles=load_styles(include_user_dir=False))
    ed.set_image(photos[0])
    ed.edit(MakeupParams({"lips": "retro"}))
    change, edits = [], []
    for i, ref in enumerate(photos[1:]):
        name = f"ref{i}"
        t = time.perf_counter()
        ed.add_reference(ref, name)
        ed.edit(MakeupParams({r: name for r in REGIONS}))
        change.append((time.perf_counter() - t) * 1000)
        for k in (0.9, 0.7, 0.5):
            t = time.perf_counter()
            ed.edit(MakeupParams({r: name for r in REGIONS}, intensity=k))
            edits.append((time.perf_counter() - t) * 1000)
    ch, ed_ms = statistics.median(change), statistics.median(edits)
    opened = []  # baseline in the same run: opening each photo as the image to edit (512² analysis)
    for ref in photos[1:]:
        other = MakeupEditor("classical", analyzer=analyzer, styles=load_styles(include_user_dir=False))
        shifted = np.ascontiguousarray(ref[:, ::-1])  # new pixels: the analyzer's cache does not answer
        t = time.perf_counter()
        other.set_image(shifted)
        opened.append((time.perf_counter() - t) * 1000)
    op = statistics.median(opened)
    return {"size": 512, "reference_change_ms": round(ch, 1), "reference_change_max_ms": round(max(change), 1),
            "open_image_ms": round(op, 1), "reference_change_vs_open_image": round(ch / op, 3),
            "edit_after_ms": round(ed_ms, 2), "edit_after_max_ms": round(max(edits), 2),
            "reference_change_aim_ms": REFERENCE_CHANGE_MS, "edit_aim_ms": EDIT_MS,
            "pass": ch <= REFERENCE_CHANGE_MS and ed_ms <= EDIT_MS}


def run() -> dict[str, Any]:
    """The ``makeup_reference`` section of the bench JSON."""
    from engine.faces import FaceAnalyzer

    analyzer = FaceAnalyzer(cache_size=48)
    out: dict[str, Any] = {"latency": _latency(analyzer)}
    if MT.is_dir():
        out.update(_transfer_and_removal(analyzer))
    else:
        out["data"] = f"{MT} not present: transfer, removal and identity not measured"
    return out


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines for the summary table."""
    lat = doc["latency"]
    rows = [f"makeup from a photo, 512²: reference change {lat['reference_change_ms']} ms (aim ≤ {lat['reference_change_aim_ms']:.0f}; "
            f"opening a 512² image {lat['open_image_ms']} ms in the same run, ratio {lat['reference_change_vs_open_image']}), "
            f"edits after it {lat['edit_after_ms']} ms (aim ≤ {lat['edit_aim_ms']:.0f}): {'PASS' if lat['pass'] else 'FAIL'}"]
    if "transfer" not in doc:
        rows.append(f"  {doc.get('data')}")
        return rows
    rows.append(f"  transfer ΔE (skin-relative), {doc['pairs']} MT pairs   ours   closest preset   ratio")
    for r in REGIONS:
        t = doc["transfer"][r]
        rows.append(f"    {r:<10} {t['ours_dE']:>30.2f} {t['closest_preset_dE']:>16.2f} {t['ratio']:>7.3f}")
    lab = doc["transfer"].get("lips_on_dataset_labels")
    if lab:
        rows.append(f"    lips on the dataset's labels: result {lab['result_dE']} vs input {lab['input_dE']} ΔE to the reference")
    for k, v in doc["removal"].items():
        if k.startswith("remove_"):
            rows.append(f"  {k}: " + ", ".join(f"{r} {x['before_dE']}→{x['after_dE']}" for r, x in v.items()))
    rows.append("  no-makeup photos, ΔE to bare: " + ", ".join(f"{r} {x}" for r, x in doc["removal"]["no_makeup_photos_dE_to_bare"].items()))
    for k, v in doc["identity"].items():
        if isinstance(v, dict):
            rows.append(f"  identity {k}: {v.get('identity_distance', v.get('reason'))} (aim < {doc['identity']['aim']})")
    inv = doc["invariance"]
    rows.append(f"  pixels changed outside the regions: {inv['pixels_changed_outside_region_masks']}")
    return rows


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the section's JSON here")
    a = ap.parse_args()
    result = run()
    print("\n".join(table(result)))
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1))
