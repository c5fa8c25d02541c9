"""Training entry of the mask-wearing refiner (:mod:`engine.models.maskwear_stn`).

Data (built once into an ``.npz`` cache in the run folder, no pickles):

* **clean faces** — unmasked photos, aligned to 144² FFHQ-style crops, with the key-point fit of
  the six mask anchors in crop coordinates (from the face mesh);
* **real masked faces** — photos of people wearing masks, aligned from the detector's eye/mouth
  key points (the mesh often fails under a mask).

Step: a random project template (random colour) is placed on a clean face with the key-point fit
disturbed by a random perspective jitter; the generator sees face + warped mask and predicts a
homography residual. Losses: a pull towards the key-point fit (the jitter must be undone — the
key-point fit is the pseudo ground truth) plus the WGAN-div adversarial term against real masked
faces (realism), with the critic trained alternately.

Evaluation: anchor error after undoing held-out jitters, and mask coverage on faces with ground
truth parsing (lips+mouth, nose, eyes), compared with the key-point fit on the same faces; the
outcome of :func:`is_better` is the card's verdict, which the studio's ``auto`` reads. Inference (the
:class:`~engine.studios.maskwear.learned.LearnedRefiner` and its crop / homography helpers) lives in
:mod:`engine.studios.maskwear.learned`.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from engine.device import CPU
from engine.faces.align import align_face
from engine.imageio import LOAD_EXTENSIONS, load_image
from engine.models.maskwear_stn import (
    MaskWearDiscriminator,
    MaskWearGenerator,
    composite,
    matrix_to_params,
    params_to_matrix,
    warp_rgba,
)
from engine.nn.losses import wgan_div_penalty
from engine.procedural.mask_templates import MaskTemplate, get_template, template_names
from engine.studios.maskwear.learned import (
    CROP,
    LearnedRefiner,
    apply_homography,
    faces_to_tensor,
    from_normalised,
    keypoint_homography,
    small_template,
    to_normalised,
)
from engine.training.loop import Runtime, TrainConfig, Trainer

# -- data ------------------------------------------------------------------------------------------

def _images(folders: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for f in folders:
        if f.is_dir():
            out += sorted(p for p in f.iterdir() if p.suffix.lower() in LOAD_EXTENSIONS)
    return out


def prepare_faces(paths: Sequence[Path], with_targets: bool, analyzer=None,
                  size: int = CROP) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops ``[N, S, S, 3]`` and (if ``with_targets``) anchor targets ``[N, 6, 2]``.

    Images without a usable face (or without landmarks when targets are needed) are skipped.
    """
    from engine.faces import FaceAnalyzer
    from engine.studios.maskwear.classical import face_targets

    analyzer = analyzer or FaceAnalyzer()
    crops, targets = [], []
    for p in paths:
        try:
            img = load_image(p)
        except Exception:  # a bad training file is skipped, not fatal
            continue
        faces = analyzer.analyze(img, parse=False).faces
        if not faces or faces[0].width < 40:
            continue
        f = faces[0]
        if with_targets and f.landmarks is None:
            continue
        try:
            crop = align_face(img, f.keypoints, size)
        except ValueError:
            continue
        crops.append(crop.image)
        targets.append(crop.to_crop(face_targets(f)) if with_targets else np.zeros((6, 2), np.float32))
    if not crops:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, 6, 2), np.float32)
    return np.stack(crops), np.stack(targets).astype(np.float32)


def build_dataset(clean_dirs: Sequence[Path], masked_dirs: Sequence[Path], cache: Path) -> dict[str, np.ndarray]:
    """Build (or load from ``cache``) the clean/real-masked crop arrays."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    clean, targets = prepare_faces(_images(clean_dirs), with_targets=True)
    real, _ = prepare_faces(_images(masked_dirs), with_targets=False)
    data = {"clean": clean, "targets": targets, "real": real}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".partial.npz")
    np.savez(tmp, **cast(dict[str, Any], data))
    tmp.replace(cache)
    return data


def template_pool(rng: np.random.Generator, count: int = 24) -> list[MaskTemplate]:
    """Built-in templates in their own and in random colours, resized for the network."""
    names = template_names()
    pool = []
    for i in range(count):
        r, g, b = (int(c) for c in rng.integers(20, 240, 3))
        colour = None if i < len(names) else (r, g, b)
        pool.append(small_template(get_template(names[i % len(names)], colour)))
    return pool


def jitter(rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A random perspective disturbance in normalised crop coordinates (translate, scale, rotate, tilt)."""
    a = rng.uniform(-0.1, 0.1) * strength
    s = 1 + rng.uniform(-0.1, 0.1) * strength
    tx, ty = rng.uniform(-0.08, 0.08, 2) * strength
    px, py = rng.uniform(-0.04, 0.04, 2) * strength
    return np.array([[s * math.cos(a), -s * math.sin(a), tx], [s * math.sin(a), s * math.cos(a), ty], [px, py, 1.0]])


# -- training --------------------------------------------------------------------------------------

def train(data: dict[str, np.ndarray], out_dir: Path, steps: int = 300, batch: int = 16, lr: float = 2e-4,
          adv_weight: float = 0.02, seed: int = 0, device: torch.device | None = None,
          width: int = 16, runtime: Runtime | None = None) -> tuple[MaskWearGenerator, dict[str, Any]]:
    """Train the refiner on prepared data; returns the generator and the training summary.

    ``runtime`` (:class:`~engine.training.loop.Runtime`) gives the device, ``--amp`` and the torchrun
    rank; without it the run is one fp32 process on ``device`` (default the CPU).
    """
    rt = runtime or Runtime(device=device or CPU)
    device = rt.device
    rng = rt.rng(seed)
    clean, targets, real = data["clean"], data["targets"], data["real"]
    if len(clean) < 4:
        raise ValueError(f"need at least 4 clean faces with landmarks, got {len(clean)}")
    pool = template_pool(rng)
    rgba = [torch.from_numpy(np.asarray(t.rgba)).permute(2, 0, 1).float().div(255.0) for t in pool]
    g = MaskWearGenerator(in_channels=7, width=width).to(device)
    d = MaskWearDiscriminator(in_channels=3, width=width).to(device)
    g_train, d_train = rt.wrap(g), rt.wrap(d)  # DDP under torchrun
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    use_adv = len(real) >= batch and adv_weight > 0

    def sample(n: int):
        idx = rng.integers(0, len(clean), n)
        faces = clean[idx].copy()
        flip = rng.random(n) < 0.5
        tgt = targets[idx].copy()
        faces[flip] = faces[flip][:, :, ::-1]
        tgt[flip, :, 0] = CROP - 1 - tgt[flip, :, 0]
        tgt[flip] = tgt[flip][:, [2, 1, 0, 5, 4, 3]]  # mirrored: left and right anchors swap
        tids = rng.integers(0, len(pool), n)
        kp_list, in_list = [], []
        for i in range(n):
            hk = keypoint_homography(pool[tids[i]], tgt[i])
            kp_list.append(hk)
            in_list.append(jitter(rng) @ hk)
        tmpl = torch.stack([rgba[t] for t in tids])
        h_kp = torch.tensor(np.stack(kp_list), dtype=torch.float32)
        h_in = torch.tensor(np.stack(in_list), dtype=torch.float32)
        return faces_to_tensor(faces, device), tmpl.to(device), h_kp.to(device), h_in.to(device)

    def step_fn(step: int) -> dict[str, float]:
        face, tmpl, h_kp, h_in = sample(batch)
        warped_in = warp_rgba(tmpl, h_in, CROP)
        x = torch.cat([face, warped_in[:, :3], warped_in[:, 3:4]], 1)
        with rt.autocast():
            residual = g_train(x).float()
        h = params_to_matrix(matrix_to_params(h_in) + residual)
        fake = composite(face, warp_rgba(tmpl, h, CROP))
        logs: dict[str, float] = {}
        if use_adv:
            ridx = rng.integers(0, len(real), batch)
            real_t = faces_to_tensor(real[ridx], device)
            with rt.autocast():
                d_loss = d_train(fake.detach()).float().mean() - d_train(real_t).float().mean()
            d_loss = d_loss + wgan_div_penalty(d_train, real_t, fake.detach())
            opt_d.zero_grad()
            rt.backward(d_loss, opt_d)
            rt.step(opt_d)
            logs["d_loss"] = float(d_loss.detach())
        # pull: anchor positions under h vs the key-point fit (pixels at the crop scale)
        corners = torch.tensor([[-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=torch.float32, device=device)
        def proj(hm):
            p = corners @ hm.transpose(1, 2)
            return p[..., :2] / p[..., 2:3]
        sup = (proj(h) - proj(h_kp)).pow(2).sum(-1).mean()
        g_loss = sup
        if use_adv:
            with rt.autocast():
                adv = -d_train(fake).float().mean()
            g_loss = g_loss + adv_weight * adv
            logs["g_adv"] = float(adv.detach())
        opt_g.zero_grad()
        rt.backward(g_loss, opt_g)
        rt.step(opt_g)
        logs["pull"] = float(sup.detach())
        return logs

    trainer = Trainer(TrainConfig(out_dir=out_dir, steps=steps, log_every=10, checkpoint_every=100, seed=seed),
                      {"generator": g, "critic": d}, {"generator": opt_g, "critic": opt_d}, step_fn,
                      runtime=rt)
    t0 = time.perf_counter()
    done = trainer.run()
    return g.eval(), {"steps": done, "batch": batch * rt.world, **rt.describe(), "train_s": round(time.perf_counter() - t0, 1),
                      "clean_faces": int(len(clean)), "real_masked_faces": int(len(real)), "adversarial": use_adv}


# -- evaluation --------------------------------------------------------------------------------------

def coverage(parsing_dir: Path, refiner: LearnedRefiner | None, templates: Sequence[str] = ("surgical-blue", "kn95", "n95", "cloth-plain"),
             analyzer=None) -> dict[str, float]:
    """Fractions of ground-truth lips+mouth, nose, eye and neck pixels under the mask (alpha > 0.5).

    ``refiner=None`` measures the key-point fit.
    """
    from PIL import Image

    from engine.faces import FaceAnalyzer
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.params import MaskWearParams

    analyzer = analyzer or FaceAnalyzer()
    counts = {"lips": [0, 0], "nose": [0, 0], "eyes": [0, 0], "neck": [0, 0]}
    for jpg in sorted(parsing_dir.glob("*.jpg")):
        img = load_image(jpg)
        gt = np.asarray(Image.open(jpg.with_suffix(".png")))
        faces = analyzer.analyze(img, parse=False).faces
        for name in templates:
            params = MaskWearParams(template=name, method="keypoint")
            _, alpha, _ = put_mask(img, faces, params, refiner=refiner)
            covered = alpha > 0.5
            for k, ids in (("lips", (10, 11, 12)), ("nose", (2,)), ("eyes", (4, 5)), ("neck", (17,))):
                m = np.isin(gt, ids)
                counts[k][0] += int((covered & m).sum())
                counts[k][1] += int(m.sum())
    return {k: round(v[0] / max(1, v[1]), 4) for k, v in counts.items()}


def jitter_recovery(model: MaskWearGenerator, clean: np.ndarray, targets: np.ndarray, trials: int = 64,
                    seed: int = 123) -> dict[str, float]:
    """Mean anchor error (crop pixels) of jittered fits before and after the refiner, vs the key-point fit."""
    rng = np.random.default_rng(seed)
    pool = template_pool(rng, count=len(template_names()))
    before, after = [], []
    device = next(model.parameters()).device
    with torch.no_grad():
        for _ in range(trials):
            i = int(rng.integers(0, len(clean)))
            t = pool[int(rng.integers(0, len(pool)))]
            hk = keypoint_homography(t, targets[i])
            hin = jitter(rng) @ hk
            tmpl = torch.from_numpy(np.ascontiguousarray(t.rgba)).permute(2, 0, 1).float().div(255.0)[None].to(device)
            h_in = torch.tensor(hin, dtype=torch.float32)[None].to(device)
            warped = warp_rgba(tmpl, h_in, CROP)
            x = torch.cat([faces_to_tensor(clean[i:i + 1], device), warped[:, :3], warped[:, 3:4]], 1)
            h = params_to_matrix(matrix_to_params(h_in) + model(x))[0].cpu().numpy().astype(np.float64)
            sh, sw = t.rgba.shape[:2]
            a = to_normalised(t.anchor_array(), sw, sh)
            ref = from_normalised(apply_homography(hk, a), CROP, CROP)
            before.append(np.linalg.norm(from_normalised(apply_homography(hin, a), CROP, CROP) - ref, axis=1).mean())
            after.append(np.linalg.norm(from_normalised(apply_homography(h, a), CROP, CROP) - ref, axis=1).mean())
    return {"anchor_error_px_before": round(float(np.mean(before)), 3),
            "anchor_error_px_after": round(float(np.mean(after)), 3)}


NECK_AIM = 0.05
"""The most of the ground-truth neck a fitted mask may cover (MaskTheFace covers ~3 %)."""


def is_better(learned: dict[str, float], keypoint: dict[str, float]) -> bool:
    """The card's verdict: better only if the refiner keeps the aims (lips covered, eyes clear, the
    neck within :data:`NECK_AIM` and not more than 0.005 above the key-point fit's, when measured)
    and improves nose coverage."""
    neck_ok = "neck" not in learned or learned["neck"] <= min(NECK_AIM, keypoint.get("neck", 0.0) + 0.005)
    return (learned["lips"] >= max(0.95, keypoint["lips"] - 0.002) and learned["eyes"] <= min(0.02, keypoint["eyes"] + 0.002)
            and neck_ok and learned["nose"] > keypoint["nose"] + 0.01)


VERDICT_MEASURE = ("nose coverage of the fitted mask on the 9 labelled dev parsing pairs, against the key-point fit "
                   "(lips kept, eyes clear, neck within 5 %)")


def reevaluate(args: argparse.Namespace) -> int:
    """``masquerade train maskwear-stn --eval-only``: re-measure the refiner ``--out`` against today's
    key-point fit on the same labelled pairs and rewrite its card's numbers and verdict (weights
    untouched; the card notes the date)."""
    import json
    from datetime import datetime, timezone

    from engine.device import parse_device
    from engine.imageio import atomic_write_bytes
    from engine.weights.card import card_path_for
    from engine.weights.store import load_checkpoint

    card_path = card_path_for(args.out)
    model, _card = load_checkpoint(card_path, device=parse_device(getattr(args, "device", "auto")))
    if not isinstance(model, MaskWearGenerator):
        raise ValueError(f"{card_path} is not a maskwear_stn_g checkpoint")
    parsing = Path(args.data) / "faces" / "parsing"
    kp = coverage(parsing, None)
    learned = coverage(parsing, LearnedRefiner(model))
    better = is_better(learned, kp)
    doc = json.loads(card_path.read_text(encoding="utf-8"))
    doc["metrics"] = {**{k: v for k, v in doc.get("metrics", {}).items() if "coverage" not in k},
                      **{f"coverage_{k}": v for k, v in learned.items()},
                      **{f"keypoint_coverage_{k}": v for k, v in kp.items()}}
    doc["verdict"] = {"compared_with": "keypoint", "measure": VERDICT_MEASURE, "better": better}
    doc.setdefault("extra", {})["better_than_keypoint"] = better
    doc["extra"]["re_evaluated"] = (f"{datetime.now(timezone.utc).date().isoformat()}: coverage re-measured with "
                                    "`masquerade train maskwear-stn --eval-only` against the current key-point fit "
                                    "(same pairs, neck added); weights unchanged")
    atomic_write_bytes(card_path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    print(f"key-point coverage {kp}\nlearned coverage  {learned}\nbetter than key-point: {better}\nrewrote {card_path}")
    return 0


def main(args: argparse.Namespace) -> int:
    """``masquerade train maskwear-stn``: build data, train, evaluate, write the checkpoint + card."""
    from engine.weights.card import Verdict
    from engine.weights.store import save_checkpoint

    if getattr(args, "eval_only", False):
        return reevaluate(args)
    root = Path(args.data)
    clean_dirs = [root / "faces" / "photos", root / "makeup" / "mt" / "makeup", root / "makeup" / "mt" / "no_makeup"]
    masked_dirs = [root / "maskwear" / "real_masked"]
    run = Path(args.run_dir)
    rt = Runtime.create(getattr(args, "device", "auto"), getattr(args, "amp", False))
    if not rt.is_main:
        rt.barrier()  # under torchrun rank 0 builds the data cache, the others then read it
    data = build_dataset(clean_dirs, masked_dirs, run / "data.npz")
    if rt.is_main:
        rt.barrier()
    print(f"data: {len(data['clean'])} clean faces with landmarks, {len(data['real'])} real masked faces")
    model, summary = train(data, run, steps=args.steps, batch=args.batch, width=args.width, seed=args.seed,
                           runtime=rt)
    if not rt.is_main:
        return 0  # rank 0 alone measures and writes the checkpoint and its card
    parsing = root / "faces" / "parsing"
    kp = coverage(parsing, None)
    learned = coverage(parsing, LearnedRefiner(model))
    rec = jitter_recovery(model, data["clean"], data["targets"])
    better = is_better(learned, kp)
    metrics = {**{f"coverage_{k}": v for k, v in learned.items()},
               **{f"keypoint_coverage_{k}": v for k, v in kp.items()}, **rec}
    card = save_checkpoint(
        model, args.out, task="maskwear refiner (homography residual on the key-point fit)",
        input_size=(CROP, CROP),
        training_data=(f"{summary['clean_faces']} clean aligned faces from shared/data faces/photos (CelebA-HQ via "
                       f"stargan-v2 / SEAN) and makeup/mt (MT-Dataset), {summary['real_masked_faces']} real masked "
                       "faces from maskwear/real_masked (RMFD); project-drawn mask templates; pull towards the "
                       "key-point fit + WGAN-div realism term"),
        licence="weights: derived from non-commercial research data (CelebA/CelebA-HQ, MT-Dataset) and RMFD "
                "(no licence stated) — research use only",
        metrics=metrics,
        verdict=Verdict("keypoint", VERDICT_MEASURE, better),
        extra={"better_than_keypoint": better, "train": summary,
               "evaluation": "coverage on shared/data/faces/parsing (9 ground-truth pairs, not used in training); "
                             "jitter recovery on 64 jittered fits of training faces"})
    print(f"key-point coverage {kp}\nlearned coverage  {learned}\njitter recovery {rec}\n"
          f"better than key-point: {better}\nwrote {card}")
    return 0
