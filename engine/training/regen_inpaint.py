"""Training entry of the inpainting-contract regenerator (:mod:`engine.models.regen_inpaint`).

Data (built once into an ``.npz`` cache in the run folder, no pickles): the development faces that
the regenerate benchmark never uses — ``faces/photos`` (labels from the project's
:class:`~engine.faces.FaceAnalyzer`), ``makeup/mt`` (ground-truth maps) and the plain portraits of
``opera/xiqu/non-makeup`` (ground truth, converted to the official order). ``faces/parsing`` — the
benchmark's faces (``bench/regenerate.py``, ``bench/regenerate_learned.py``) — is left out
entirely, and so is any photo whose name appears there. The photos are aligned square faces; they
are squeezed to the model's side as a whole (the studio does the same with the aligned crop).

Every step draws **random region edits** (:func:`random_hole`) on random faces — the kinds of edit
the studio makes and the benchmark measures, drawn on the true label map:

* ``band``: the pixels of one label within a random distance of another (hair next to the
  background: grow / shrink hair; skin next to hair: remove / add a fringe; hair next to skin);
* ``forehead``: the forehead skin above the brows within a random distance of the hair (un-fringe);
* ``region``: a whole small part (an eye, a brow, the lips, the nose …) grown by a few pixels;
* ``blob``: random ellipses.

The hole is blanked, the target map is the true map and the truth is the photo; the loss is
``hole_l1 · L1 (hole pixels) + perceptual · pix2pixHD perceptual distance + style · Gram-matrix
distance`` on the composited result, with the EfficientNet-Lite0 ImageNet features of the
learned-engines issue (:class:`engine.training.regen.PerceptualLoss`). No adversarial term: on
this CPU budget it would not converge (stated in the card).

Resumable (:class:`~engine.training.loop.Trainer` state in the run folder), ``--time-limit`` in CPU
seconds of the process (:meth:`~engine.training.loop.Runtime.clock`), ``--device``. The card is
written with verdict "not better" until ``python -m bench.regenerate_learned --write-card``
measures it on the benchmark faces against the classical engine and Telea and records the numbers
and the verdict (the bench owns the measure functions).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.device import CPU
from engine.imageio import load_image
from engine.labels import CELEBAMASK_HQ
from engine.models.regen import one_hot
from engine.models.regen_inpaint import RegenInpaintNet
from engine.training.loop import Runtime, TrainConfig, Trainer
from engine.training.regen import FLIP_LABELS, PerceptualLoss, to_tensor

IX = CELEBAMASK_HQ.index
HOLE_KINDS: tuple[str, ...] = ("band", "forehead", "region", "blob")
"""The random edits a training hole is drawn from (see the module doc)."""
HOLE_WEIGHTS = np.array([0.4, 0.25, 0.15, 0.2])
"""How often each kind of :data:`HOLE_KINDS` is drawn."""
BAND_PAIRS: tuple[tuple[str, str], ...] = (("hair", "background"), ("skin", "hair"), ("hair", "skin"),
                                           ("background", "hair"), ("hair", "cloth"), ("neck", "hair"))
"""(label that becomes the hole, label it borders) of the ``band`` edits."""
SMALL_PARTS: tuple[str, ...] = ("l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "nose", "mouth", "eye_g",
                                "l_ear", "r_ear")
"""Parts a ``region`` edit may take whole."""
BAND_FRACTION = (0.015, 0.07)
"""Band widths of the ``band`` / ``forehead`` edits, as fractions of the side (the bench: 0.04)."""
BENCH_FOLDER = "faces/parsing"
"""The benchmark's faces: never trained on."""
VERDICT_MEASURE = ("bench.regenerate_learned: grow-hair and un-fringe bands of the regenerate benchmark's faces "
                   "(faces/parsing, never trained on) — better = MAE below and SSIM above the classical engine's on "
                   "both tests and the texture ratio nearer 1")
"""The card's verdict measure, in words."""


# -- data -------------------------------------------------------------------------------------------

def training_sources(root: Path) -> list[tuple[Path, Path | None, str]]:
    """``(photo, label map or None, conversion)`` of every training face, sorted by photo path.

    ``faces/parsing`` (the benchmark's faces) and any photo sharing a name with one of them are
    left out.
    """
    bench = {p.stem for p in (root / BENCH_FOLDER).glob("*.jpg")}
    out: list[tuple[Path, Path | None, str]] = [(p, None, "official") for p in sorted((root / "faces" / "photos").glob("*.jpg"))]
    for part in ("makeup", "no_makeup"):
        d = root / "makeup" / "mt" / part
        out += [(p, d / "seg_celebamaskhq" / f"{p.stem}.png", "official") for p in sorted(d.glob("*.jpg"))]
    d = root / "opera" / "xiqu" / "non-makeup"
    out += [(p, d / "segs" / f"{p.stem}.png", "xiqu_plain") for p in sorted(d.glob("*.png")) + sorted(d.glob("*.jpg"))]
    return sorted([s for s in out if s[0].stem not in bench and (s[1] is None or s[1].is_file())],
                  key=lambda s: str(s[0]))


def prepare(sources: Sequence[tuple[Path, Path | None, str]], size: int, analyzer: Any = None) -> dict[str, np.ndarray]:
    """Whole photos squeezed to ``size`` (area) with their label maps (nearest), names; unreadable or
    unparsable photos are skipped."""
    from PIL import Image

    from engine.faces import FaceAnalyzer
    from engine.training.parser import convert_labels

    imgs, labs, names = [], [], []
    for photo, labels, convert in sources:
        try:
            img = load_image(photo)
            if labels is None:
                analyzer = analyzer or FaceAnalyzer()
                res = analyzer.analyze(img)
                if not res.faces or res.parsing is None:
                    continue
                lab = res.parsing
            else:
                lab = convert_labels(np.asarray(Image.open(labels)), convert)
        except (OSError, ValueError):  # a bad training file is skipped, not fatal
            continue
        if lab.shape != img.shape[:2]:
            continue
        imgs.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
        labs.append(cv2.resize(lab.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST))
        names.append(f"{photo.parent.name}/{photo.name}")
    if not imgs:
        raise ValueError("no usable training faces")
    return {"images": np.stack(imgs), "labels": np.stack(labs), "names": np.array(names)}


def build_dataset(root: Path, cache: Path, size: int) -> dict[str, np.ndarray]:
    """Build (or load from ``cache``) the training faces at ``size``."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        if data["images"].shape[1] == size:
            return data
    data = prepare(training_sources(root), size)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".partial.npz")
    np.savez(tmp, allow_pickle=False, **data)
    tmp.replace(cache)
    return data


# -- random region edits ----------------------------------------------------------------------------

def _distance_to(mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return np.full(mask.shape, 1e9, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)


def random_hole(labels: np.ndarray, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """One random region edit's hole (``bool`` ``[S, S]``) on a true label map (see the module doc).

    Falls back to a ``blob`` when the drawn edit finds no pixels on this face; never empty.

    Args:
        labels: ``uint8`` ``[S, S]`` official-order labels.
        rng: random generator.
        kind: one of :data:`HOLE_KINDS`; ``None`` draws one by :data:`HOLE_WEIGHTS`.
    """
    s = labels.shape[0]
    kind = kind or str(rng.choice(HOLE_KINDS, p=HOLE_WEIGHTS))
    width = rng.uniform(*BAND_FRACTION) * s
    hole = np.zeros(labels.shape, bool)
    if kind == "band":
        a, b = BAND_PAIRS[int(rng.integers(len(BAND_PAIRS)))]
        hole = (labels == IX(a)) & (_distance_to(labels == IX(b)) <= width)
    elif kind == "forehead":
        brows = np.isin(labels, [IX("l_brow"), IX("r_brow"), IX("l_eye"), IX("r_eye")])
        if brows.any():
            hole = (labels == IX("skin")) & (_distance_to(labels == IX("hair")) <= width)
            hole[int(np.nonzero(brows)[0].min()):] = False
    elif kind == "region":
        present = [p for p in SMALL_PARTS if (labels == IX(p)).any()]
        if present:
            part = labels == IX(present[int(rng.integers(len(present)))])
            grow = int(rng.integers(1, max(2, s // 24)))
            hole = cv2.dilate(part.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)).astype(bool)
    if hole.sum() < 4:  # "blob", or an edit this face cannot take
        m = np.zeros(labels.shape, np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            c = (int(rng.integers(s // 8, s - s // 8)), int(rng.integers(s // 8, s - s // 8)))
            axes = (int(rng.integers(s // 24 + 1, s // 6)), int(rng.integers(s // 24 + 1, s // 6)))
            cv2.ellipse(m, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        hole = m.astype(bool)
    return hole


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``[N, C, C]`` of ``[N, C, H, W]`` features, normalised by ``C·H·W``."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


# -- training ---------------------------------------------------------------------------------------

def train(images: np.ndarray, labels: np.ndarray, out_dir: Path, *, steps: int = 4000, batch: int = 6,
          width: int = 16, style_dim: int = 32, lr: float = 5e-4, hole_l1: float = 6.0,
          perceptual_weight: float = 1.0, style_weight: float = 50.0, seed: int = 0,
          time_limit_s: float | None = None, loss_features: str = "auto",
          runtime: Runtime | None = None) -> tuple[RegenInpaintNet, dict[str, Any]]:
    """Train the inpainting regenerator on square faces with random region edits.

    Args:
        images: ``uint8`` ``[N, S, S, 3]`` training faces (``S`` = the model side, a multiple of 8).
        labels: ``uint8`` ``[N, S, S]`` their label maps (official order).
        out_dir: run folder (logs, resumable state).
        steps: optimisation steps (an upper bound when ``time_limit_s`` is set).
        batch: faces per step.
        width: first-stage channels of the network.
        style_dim: style code length.
        lr: Adam learning rate.
        hole_l1: weight of the L1 over hole pixels.
        perceptual_weight: weight of the perceptual distance of the composite.
        style_weight: weight of the Gram-matrix distance of the composite's first three feature taps.
        seed: random seed.
        time_limit_s: stop early (state saved; running again resumes) after this many seconds of
            the runtime's clock.
        loss_features: ImageNet features of the losses (see :meth:`PerceptualLoss.from_local_weights`).
        runtime: device and rank (:class:`~engine.training.loop.Runtime`); ``None``: one CPU process.

    Returns:
        (network in eval mode, summary for the card).
    """
    if len(images) < 2:
        raise ValueError(f"need at least 2 training faces, got {len(images)}")
    side = int(images.shape[1])
    rt = runtime or Runtime(device=CPU)
    rng = rt.rng(seed)
    net = RegenInpaintNet(width=width, n_down=3, n_blocks=2, style_dim=style_dim, encoder_width=16,
                          max_width=8 * width, side=side).to(rt.device)
    net_train = rt.wrap(net)
    perceptual = PerceptualLoss.from_local_weights(loss_features).to(rt.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.999))

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = rng.integers(0, len(images), n)
        im, lb = images[idx].copy(), labels[idx].copy()
        flip = rng.random(n) < 0.5
        im[flip] = im[flip][:, :, ::-1]
        lb[flip] = FLIP_LABELS[lb[flip][:, :, ::-1]]
        holes = np.stack([random_hole(m, rng) for m in lb]).astype(np.float32)[:, None]
        return (rt.to_device(to_tensor(im)), rt.to_device(torch.from_numpy(holes)),
                rt.to_device(one_hot(torch.from_numpy(lb))))

    def step_fn(step: int) -> dict[str, float]:
        real, hole, seg = sample(batch)
        with rt.autocast():
            comp = net_train(real, hole, seg).float()  # composited: exact outside the hole
        area = hole.sum().clamp(min=1.0)
        l1_hole = ((comp - real).abs() * hole).sum() / (3 * area)
        loss = hole_l1 * l1_hole
        logs = {"l1_hole": float(l1_hole.detach())}
        if perceptual.features is not None:
            with rt.autocast():
                fc = perceptual.features(comp)
                fr = perceptual.features(real)
            per = sum((F.l1_loss(a.float(), b.float()) for a, b in zip(fc, fr, strict=True)),
                      torch.zeros((), device=comp.device))
            sty = sum((F.l1_loss(gram(a.float()), gram(b.float())) for a, b in zip(fc[:3], fr[:3], strict=True)),
                      torch.zeros((), device=comp.device))
            loss = loss + perceptual_weight * per + style_weight * sty
            logs.update(perceptual=float(per.detach()), style=float(sty.detach()))
        else:
            per = perceptual(comp, real)
            loss = loss + perceptual_weight * per
            logs["perceptual_fallback"] = float(per.detach())
        opt.zero_grad()
        rt.backward(loss, opt)
        rt.step(opt)
        return logs

    t0, c0 = time.perf_counter(), rt.clock()
    cancel = rt.time_budget(time_limit_s)
    trainer = Trainer(TrainConfig(out_dir=out_dir, steps=steps, log_every=10, checkpoint_every=50, seed=seed),
                      {"net": net}, {"net": opt}, step_fn, runtime=rt)
    state = Path(out_dir) / "state" / "state.json"
    start = int(json.loads(state.read_text(encoding="utf-8")).get("step", 0)) if state.is_file() else 0
    done = trainer.run(cancel)
    segments = record_segment(Path(out_dir), {"from_step": start, "to_step": done,
                                              "budget_s": round(rt.clock() - c0, 1),
                                              "wall_s": round(time.perf_counter() - t0, 1)}) if rt.is_main else []
    return net.eval(), {"steps": done, "batch": batch * rt.world, **rt.describe(), "side": side,
                        "train_s": round(time.perf_counter() - t0, 1), "budget_s": round(rt.clock() - c0, 1),
                        "budget_s_total": round(sum(float(g.get("budget_s", 0.0)) for g in segments), 1),
                        "segments": segments,
                        "budget_clock": rt.clock_name, "faces": int(len(images)), "perceptual": perceptual.kind,
                        "losses": (f"{hole_l1} L1(hole) + {perceptual_weight} perceptual (L1 of the feature taps) + "
                                   f"{style_weight} Gram distance (first three taps), on the composite; "
                                   "no adversarial term"),
                        "threads": torch.get_num_threads()}


def record_segment(out_dir: Path, segment: dict[str, Any]) -> list[dict[str, Any]]:
    """Append one training run's ``segment`` (steps, budget seconds) to ``out_dir/segments.json``
    (atomic) and return every segment so far: a resumed training's card then sums all its runs."""
    from engine.imageio import atomic_write_bytes

    path = out_dir / "segments.json"
    try:
        segments = list(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else []
    except (OSError, ValueError):
        segments = []
    segments.append(segment)
    atomic_write_bytes(path, (json.dumps(segments, indent=1) + "\n").encode("utf-8"))
    return segments


def main(args: argparse.Namespace) -> int:
    """``masquerade train regen-inpaint``: build data, train, write checkpoint + card (verdict "not
    better" until ``python -m bench.regenerate_learned --write-card`` measures it)."""
    from engine.weights.card import Verdict
    from engine.weights.store import save_checkpoint

    torch.set_num_threads(max(1, args.threads))
    rt = Runtime.create(getattr(args, "device", "auto"), getattr(args, "amp", False))
    run = Path(args.run_dir)
    if not rt.is_main:
        rt.barrier()  # under torchrun rank 0 builds the data cache, the others then read it
    data = build_dataset(Path(args.data), run / f"data_{args.size}.npz", args.size)
    if rt.is_main:
        rt.barrier()
    print(f"data: {len(data['images'])} faces at {args.size}² (the benchmark's {BENCH_FOLDER} left out)")
    model, summary = train(data["images"], data["labels"], run, steps=args.steps, batch=args.batch,
                           width=args.width, style_dim=args.style_dim, seed=args.seed, time_limit_s=args.time_limit,
                           loss_features=getattr(args, "loss_features", "auto"), runtime=rt)
    if not rt.is_main:
        return 0
    print(f"trained: {summary}")
    card = save_checkpoint(
        model, args.out, task="regenerate: inpaint the changed pixels of an edited 19-label map (label- and "
                              "style-conditioned, SEAN-style codes, SFT decoder)",
        input_size=(args.size, args.size), label_scheme="celebamask_hq",
        training_data=(f"{len(data['images'])} development faces squeezed to {args.size}² (shared/data faces/photos "
                       "parsed by the project's FaceAnalyzer; makeup/mt and opera/xiqu/non-makeup with their "
                       f"ground-truth maps), random region edits; {BENCH_FOLDER} (the benchmark's faces) never used"),
        licence="weights: derived from non-commercial research data (CelebA/CelebA-HQ, SEAN, MT-Dataset, OperaGAN "
                "Xiqu portraits) — research use only",
        metrics={},
        extra={"train": summary, "hole_kinds": list(HOLE_KINDS), "band_fraction": list(BAND_FRACTION),
               "measured": "not yet: run python -m bench.regenerate_learned --write-card"},
        verdict=Verdict("classical", VERDICT_MEASURE, False))
    print(f"wrote {card} (verdict 'not better' until measured by bench.regenerate_learned --write-card)")
    return 0
