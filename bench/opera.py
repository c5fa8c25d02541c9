"""Opera bench section: classical colouring and procedural generation at 512², plus quality.

Latency: ``colorize`` of a generated 512² sketch from another design — ``colorize_512`` with the
reference's analysis cached (what every stroke in the window costs once a reference is chosen) and
``colorize_512_new_reference`` with the cache cleared before each call (a newly chosen reference),
their ratio beside them — ``generate_lianpu`` at 512², and the two line extractors at 512² (XDoG and
HED, HED's ratio to XDoG in the same run). The load average of the machine is recorded.
``python -m bench.opera [--out FILE]`` runs this section alone.
Quality (when ``../shared/data/opera/lianpu`` is present): self-colouring SSIM / mean colour error
of ``colorize(lines(X), X)`` against X for each extractor (XDoG binarised at 0.5, HED thinned) with
the ceiling those lines allow (X itself with the lines drawn on top, what a perfect colouring
scores), the share of cross-colouring pairs whose result histogram is closer to the reference Y than to X (XDoG
line art), and classification of the dev masks.
Generation (:func:`generation_quality`, with the dev masks): realism as the Fréchet distance on
ImageNet EfficientNet-Lite0 pooled features (``fd_effnet_lite0``, not FID) between the dev lianpu
and 200 designs of each generator — the classic template (``role=None``, the generator before the
role types) and the role-type grammars (``role="any"``) — and variety as the mean pairwise
feature distance within each set of 200 (seeds 0–199, 256², on white paper).
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


def self_colouring(images: dict[str, np.ndarray], lines: dict[str, np.ndarray], extractor: str = "xdog") -> dict[str, Any]:
    """SSIM / mean absolute error of ``colorize(lines[k], images[k])`` against ``images[k]``, the
    sketch's extractor named to the colouring (``ColorizeParams.extractor``), and the ceiling the
    line art allows: the SSIM of ``images[k]`` itself with those lines drawn on top (a perfect
    colouring; the lines are part of every result and of none of the originals)."""
    from skimage.metrics import structural_similarity

    from engine.studios.opera.classical import ColorizeParams, as_rgb, colorize, line_grey

    ssim, err, ceiling = {}, [], []
    params = ColorizeParams(extractor=extractor)
    for k, x in images.items():
        out = colorize(lines[k], x, params).image
        ssim[k] = round(float(structural_similarity(x, out, channel_axis=2, data_range=255)), 4)
        err.append(float(np.abs(x.astype(np.float64) - out).mean()))
        # a perfect colouring with these lines on top, as colorize draws them (darkened by the grey)
        ink = line_grey(lines[k]).astype(np.float64)[..., None] / 255.0
        perfect = np.clip(as_rgb(x, "lianpu") * ink + 0.5, 0, 255).astype(np.uint8)
        ceiling.append(float(structural_similarity(x, perfect, channel_axis=2, data_range=255)))
    values = list(ssim.values())
    return {"self_ssim_mean": round(float(np.mean(values)), 4), "self_ssim_min": round(float(np.min(values)), 4),
            "self_ssim_below_0_80": sum(v < 0.80 for v in values),
            "self_mean_abs_error": round(float(np.mean(err)), 2),
            "lines_ceiling_ssim_mean": round(float(np.mean(ceiling)), 4),
            "lines_ceiling_ssim_min": round(float(np.min(ceiling)), 4), "per_mask": ssim}


def quality(folder: Path, hed: bool = True) -> dict[str, Any]:
    """Self-colouring (per extractor), cross-colouring and classification on the lianpu PNGs of
    ``folder``."""
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
    per_extractor = {"xdog": self_colouring(images, lines)}
    if hed:
        from engine.studios.opera.hed import hed_line_art

        per_extractor["hed"] = self_colouring(images, {k: hed_line_art(v) for k, v in images.items()}, "hed")
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
    x = per_extractor["xdog"]
    return {
        "masks": len(images),
        "self_ssim_mean": x["self_ssim_mean"],
        "self_ssim_min": x["self_ssim_min"],
        "self_mean_abs_error": x["self_mean_abs_error"],
        "extractors": per_extractor,
        "cross_pairs": total,
        "cross_closer_to_reference": round(wins / max(total, 1), 4),
        "classes": {k: classify_main_colour(v).colour for k, v in images.items()},
    }


def generation_quality(folder: Path, count: int = 200, size: int = 256) -> dict[str, Any]:
    """Realism (FD to the dev lianpu) and variety (mean pairwise distance) of the two generators on
    EfficientNet-Lite0 features."""
    from engine.imageio import load_image
    from engine.metrics.distribution import EffNetLite0Extractor, frechet_distance
    from engine.procedural.lianpu import generate_lianpu
    from engine.studios.opera.classical import as_rgb

    ext = EffNetLite0Extractor()
    real = ext([as_rgb(load_image(p), "lianpu") for p in sorted(folder.glob("*.png"))])

    def pairwise(f: np.ndarray) -> float:
        sq = (f * f).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * f @ f.T, 0.0)
        iu = np.triu_indices(len(f), 1)
        return float(np.sqrt(d2[iu]).mean())

    doc: dict[str, Any] = {"designs": count, "size": size, "real": int(len(real)),
                           "extractor": "efficientnet_lite0 pooled (1280-d)",
                           "real_pairwise": round(pairwise(real), 3)}
    for name, role in (("classic", None), ("role_types", "any")):
        fake = ext([generate_lianpu(seed, None, size, role=role).image for seed in range(count)])
        doc[name] = {"fd_effnet_lite0": round(frechet_distance(real, fake), 2),
                     "mean_pairwise_distance": round(pairwise(fake), 3)}
    doc["fd_lower"] = doc["role_types"]["fd_effnet_lite0"] < doc["classic"]["fd_effnet_lite0"]
    doc["variety_higher"] = doc["role_types"]["mean_pairwise_distance"] > doc["classic"]["mean_pairwise_distance"]
    return doc


def run(runs: int = 10) -> dict[str, Any]:
    """The ``opera`` section of the bench JSON."""
    import os

    import torch

    from engine.procedural.lianpu import generate_lianpu
    from engine.studios.opera.classical import clear_reference_cache, colorize, xdog
    from engine.studios.opera.hed import hed_line_art, load_hed

    sketch, ref = generate_lianpu(1, size=512), generate_lianpu(2, size=512)
    load_before = os.getloadavg()
    col = latency(lambda: colorize(sketch.line_art, ref.image), runs)

    def cold() -> None:
        clear_reference_cache()
        colorize(sketch.line_art, ref.image)

    col_cold = latency(cold, runs)
    gen = latency(lambda: generate_lianpu(3, size=512), runs)
    xd = latency(lambda: xdog(ref.image), runs)
    net = load_hed()
    hd = latency(lambda: hed_line_art(ref.image, net=net), max(2, runs // 4))
    doc: dict[str, Any] = {
        "colorize_512": col,
        "colorize_512_new_reference": col_cold,
        "colorize_cached_over_new_reference": round(col["median_ms"] / max(col_cold["median_ms"], 1e-6), 3),
        "load_average_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "generate_512": gen,
        "lineart_512": {"xdog": xd, "hed": hd, "hed_over_xdog": round(hd["median_ms"] / max(xd["median_ms"], 1e-6), 1),
                        "torch_threads": torch.get_num_threads()},
        "target": {
            "colorize_limit_ms": COLORIZE_TARGET_MS, "colorize_pass": col["median_ms"] <= COLORIZE_TARGET_MS,
            "generate_limit_ms": GENERATE_TARGET_MS, "generate_pass": gen["median_ms"] <= GENERATE_TARGET_MS,
        },
        "quality": quality(SHARED_LIANPU) if SHARED_LIANPU.is_dir() else None,
        "generation": generation_quality(SHARED_LIANPU) if SHARED_LIANPU.is_dir() else None,
    }
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines for the summary table."""
    t = doc["target"]
    rows = ["opera (classical)          median ms   p90 ms",
            f"  colorize 512²  {doc['colorize_512']['median_ms']:>15.1f} {doc['colorize_512']['p90_ms']:>8.1f}"
            f"   ≤ {t['colorize_limit_ms']:.0f}: {'PASS' if t['colorize_pass'] else 'FAIL'}",
            f"  colorize 512², new reference {doc['colorize_512_new_reference']['median_ms']:.1f} "
            f"(cached ×{doc['colorize_cached_over_new_reference']}); load average {doc['load_average_1min']}",
            f"  generate 512²  {doc['generate_512']['median_ms']:>15.1f} {doc['generate_512']['p90_ms']:>8.1f}"
            f"   ≤ {t['generate_limit_ms']:.0f}: {'PASS' if t['generate_pass'] else 'FAIL'}"]
    q = doc.get("quality")
    la = doc.get("lineart_512")
    if la:
        rows.append(f"  line art 512²: XDoG {la['xdog']['median_ms']:.1f} ms, HED {la['hed']['median_ms']:.0f} ms "
                    f"(×{la['hed_over_xdog']:.0f}, {la['torch_threads']} torch threads)")
    if q:
        for name, e in q.get("extractors", {}).items():
            rows.append(f"  self-colouring SSIM with {name} lines {e['self_ssim_mean']:.3f} (min {e['self_ssim_min']:.3f}, "
                        f"{e['self_ssim_below_0_80']} below 0.80), mean |error| {e['self_mean_abs_error']:.1f} "
                        f"on {q['masks']} masks; a perfect colouring under these lines "
                        f"{e.get('lines_ceiling_ssim_mean', float('nan')):.3f} (min {e.get('lines_ceiling_ssim_min', float('nan')):.3f})")
        rows.append(f"  cross-colouring closer to the reference: {q['cross_closer_to_reference']:.1%} "
                    f"of {q['cross_pairs']} pairs")
    g = doc.get("generation")
    if g:
        for name in ("classic", "role_types"):
            rows.append(f"  generator {name:<10}: fd_effnet_lite0 to {g['real']} dev lianpu {g[name]['fd_effnet_lite0']:.1f}, "
                        f"mean pairwise distance of {g['designs']} {g[name]['mean_pairwise_distance']:.2f}")
        rows.append(f"  role types vs classic: FD lower {g['fd_lower']}, variety higher {g['variety_higher']} "
                    f"(dev lianpu pairwise {g['real_pairwise']:.2f})")
    return rows


def sheet(folder: Path, generator: Path | None = None, tile: int = 176) -> np.ndarray:
    """The sheet to look at: 4 dev sketches, each coloured from 3 other dev lianpu with XDoG line art
    and with HED line art (sketch, then its three colourings, per extractor); one procedural design
    per role type; and, with a conditional ``generator`` card, 4 samples per class (ψ 0.7, shown at
    2× nearest-neighbour).

    Args:
        folder: the dev lianpu folder.
        generator: a ``stylegan2_generator`` card trained ``--by-role`` (optional).
        tile: tile side in pixels.

    Returns:
        ``uint8`` RGB sheet.
    """
    import cv2

    from engine.geometry import letterbox
    from engine.imageio import load_image
    from engine.procedural.lianpu import ROLE_KEYS, generate_lianpu
    from engine.studios.opera.classical import ColorizeParams, colorize, xdog
    from engine.studios.opera.hed import hed_line_art
    from engine.studios.opera.params import XDoGParams

    images = {p.stem: load_image(p) for p in sorted(folder.glob("*.png"))}
    keys = sorted(images)
    sketches = [keys[i] for i in (0, 5, 9, 14)]
    refs = [keys[i] for i in (2, 8, 12)]

    def t(img: np.ndarray) -> np.ndarray:
        rgb = np.dstack([img] * 3) if img.ndim == 2 else img
        return letterbox(rgb, tile)

    rows = []
    for k in sketches:
        row = []
        for name, lines in (("xdog", xdog(images[k], XDoGParams(threshold=0.5))), ("hed", hed_line_art(images[k]))):
            row.append(t(lines))
            row += [t(colorize(lines, images[r], ColorizeParams(extractor=name)).image) for r in refs]
        rows.append(np.concatenate(row, 1))
    width = rows[0].shape[1]
    blank = np.full((tile, tile, 3), 255, np.uint8)
    head = np.concatenate(([blank] + [t(images[r]) for r in refs]) * 2, 1)
    small = width // len(ROLE_KEYS)  # the nine role types across the sheet's width
    roles = np.concatenate([letterbox(generate_lianpu(7, size=small, role=r).image, small) for r in ROLE_KEYS], 1)
    parts = [head, *rows, np.full((12, width, 3), 255, np.uint8), np.pad(roles, ((0, 0), (0, max(0, width - roles.shape[1])), (0, 0)),
                                                                       constant_values=255)[:, :width]]
    if generator is not None:
        from engine.models.stylegan2 import Generator
        from engine.weights.store import load_checkpoint

        g, card = load_checkpoint(generator, device="cpu")
        if not isinstance(g, Generator) or not g.c_dim:
            raise ValueError(f"{generator}: not a StyleGAN2 generator conditioned on role type")
        classes = [str(c) for c in card.extra.get("classes", [])]
        side = 2 * int(g.img_resolution)
        for c in range(len(classes)):
            samples = g.eval().sample_images(list(range(4)), psi=0.7, labels=[c] * 4)
            strip = np.concatenate([cv2.resize(s, (side, side), interpolation=cv2.INTER_NEAREST) for s in samples], 1)
            strip = np.pad(strip, ((0, 0), (0, max(0, width - strip.shape[1])), (0, 0)), constant_values=255)[:, :width]
            cv2.putText(strip, classes[c], (4 * side + 8, side // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
            parts.append(strip)
    return np.concatenate(parts, 0)


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m bench.opera", description="The opera bench section alone.")
    ap.add_argument("--out", default=None, help="also write the section's JSON here")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per latency (default 10)")
    ap.add_argument("--sheet", default=None, help="write the look-at sheet (colourings, role types) here instead")
    ap.add_argument("--generator", default=None, help="with --sheet: a --by-role StyleGAN2 card to add samples of")
    a = ap.parse_args()
    if a.sheet:
        from engine.imageio import save_image

        save_image(a.sheet, sheet(SHARED_LIANPU, Path(a.generator) if a.generator else None))
        raise SystemExit(0)
    result = run(a.runs)
    print("\n".join(table(result)))
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
