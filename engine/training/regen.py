"""Training entry and evaluation of the learned regenerator (:mod:`engine.models.regen`).

Data (built once into an ``.npz`` cache in the run folder, no pickles): every face of the dev data
— ``faces/photos`` parsed by the project's :class:`~engine.faces.FaceAnalyzer`, plus the
ground-truth pairs of ``faces/parsing`` and ``makeup/mt/*/seg_celebamaskhq`` — aligned to
FFHQ-style square crops (the label map warped with the same transform, nearest neighbour). A fixed
split holds out every fifth face (sorted by file name) for evaluation; it is never trained on.

Step (SEAN's training scheme): the generator rebuilds a face from its label map with the style
codes of the same face; random horizontal flips swap the left/right labels. The discriminator is
trained with the hinge loss and a lazy R1 penalty (every ``r1_every`` steps); the generator with
hinge + feature matching (:mod:`engine.nn.losses`) + perceptual (:class:`PerceptualLoss`, SEAN's
VGG loss with pix2pixHD's layer weights on ImageNet features: EfficientNet-Lite0's five taps, whose
weights ship with the requirements, or VGG-19 relu1_1…relu5_1 from a user-imported
``vgg19-dcbb9e9d.pth`` (``loss_features="vgg19"``); only when neither file is present a documented
fallback, an L1 image pyramid — no ImageNet features are invented).

Evaluation on the held-out faces, the same measurement for both backends:

* **reconstruction** — unchanged label map, style from the face itself: PSNR / SSIM against the crop
  (the classical backend returns the source exactly here);
* **edited-region agreement** — each edit of :data:`EVAL_EDITS` applied to the crop's labels; the
  output is parsed by the project parser (up-scaled to :data:`PARSE_SIDE` first) and the mean IoU
  over the labels the edit changed is taken against the edited map. ``parser_ceiling`` is the same
  score of the unedited crop against its own labels (what the parser reaches on real faces there).

``better_than_classical`` in the card is :func:`is_better` of the two summaries; ``auto`` reads
only that flag.

Devices (``--device``, ``--amp``, torchrun): :func:`train` runs on a
:class:`~engine.training.loop.Runtime` — generator, critic and perceptual features on its device,
DDP-wrapped copies trained under torchrun (each rank draws its own batches), forward passes under
autocast. Rank 0 builds the data cache before the other ranks read it, and alone evaluates and
writes the checkpoint and its card; evaluation follows the generator's device.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.device import CPU, module_device
from engine.imageio import load_image
from engine.labels import CELEBAMASK_HQ
from engine.models.regen import MultiscaleDiscriminator, RegenGenerator, one_hot
from engine.nn.features import ImageNetFeatures, perceptual_distance
from engine.nn.losses import feature_matching_loss, gan_loss, r1_penalty
from engine.training.loop import Runtime, TrainConfig, Trainer

CROP = 128
"""Side of the cached aligned crops (training and evaluation resize from these)."""

PARSE_SIDE = 256
"""Outputs are up-scaled to this side before the project parser labels them."""

FLIP_LABELS = np.arange(19, dtype=np.uint8)
for _a, _b in (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")):
    FLIP_LABELS[CELEBAMASK_HQ.index(_a)], FLIP_LABELS[CELEBAMASK_HQ.index(_b)] = (
        CELEBAMASK_HQ.index(_b), CELEBAMASK_HQ.index(_a))
"""Label permutation that goes with a left-right flip of the image."""

EVAL_EDITS: dict[str, str] = {
    "longer hair": "dilate:hair:{hair}",
    "bigger eyes": "scale:l_eye+r_eye:1.4",
    "smile": "smile:{smile}",
    "bigger lips": "scale:u_lip+l_lip:1.3",
    "glasses": "add:glasses",
}
"""The bench's edit chains; pixel amounts are scaled to the evaluation side (bench: 512 px)."""


def pair_r1_penalty(discriminator: nn.Module, seg: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 of the multi-scale pair critic on real pairs: ``½ E[‖∇_x Σ_scales D(seg, x)‖²]``.

    Args:
        discriminator: the critic (a :class:`~engine.models.regen.MultiscaleDiscriminator`, or its DDP wrapper).
        seg: one-hot label maps ``[N, L, S, S]``.
        real: real images ``[N, 3, S, S]``.

    Returns:
        Scalar penalty (:func:`engine.nn.losses.r1_penalty` of the summed logits of every scale, halved).
    """
    x = real.detach().requires_grad_(True)
    logits = torch.stack([feats[-1].sum() for feats in discriminator(seg, x)]).sum()
    return 0.5 * r1_penalty(logits, x)


class PerceptualLoss(nn.Module):
    """Perceptual loss on ImageNet features, else an L1 image pyramid (stated in :attr:`kind`).

    With features, pix2pixHD's loss ``Σ_l w_l · L1(φ_l(fake), φ_l(real))`` over the network's five
    perceptual taps (:func:`engine.nn.features.perceptual_distance`): EfficientNet-Lite0 strides
    2…32 by default (its ImageNet weights ship with the requirements), or VGG-19 relu1_1…relu5_1
    when the user imported ``vgg19-dcbb9e9d.pth`` and asked for it.

    Args:
        features: the frozen ImageNet feature network (inputs in [-1, 1]), or ``None`` for the
            fallback. Use :meth:`from_local_weights` to load one.
        levels: pyramid levels of the fallback (full, ½, ¼ … resolution).
        reason: why the fallback is used (written into :attr:`kind`).
    """

    def __init__(self, features: ImageNetFeatures | None = None, levels: int = 3, reason: str = "") -> None:
        super().__init__()
        self.features = features
        self.levels = levels
        self.kind = (f"{features.name}: {', '.join(features.perceptual_layers)}, pix2pixHD weights"
                     if features is not None else
                     f"fallback: L1 over a {levels}-level image pyramid ({reason or 'no ImageNet features'})")

    @classmethod
    def from_local_weights(cls, kind: str = "auto") -> PerceptualLoss:
        """ImageNet features chosen by ``kind`` (see :func:`engine.weights.catalog.load_imagenet_features`:
        ``auto`` = EfficientNet-Lite0, else a local VGG-19), else the pyramid fallback (``auto`` only).

        Raises:
            CheckpointError: an explicitly requested network cannot be loaded.
        """
        from engine.errors import CheckpointError
        from engine.weights.catalog import load_imagenet_features

        try:
            return cls(load_imagenet_features(kind, value_range="[-1,1]"))
        except CheckpointError as exc:
            if kind != "auto":
                raise
            return cls(None, reason=str(exc))

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            total = torch.zeros((), device=fake.device)
            a, b = fake, real
            for i in range(self.levels):
                if i:
                    a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
                total = total + F.l1_loss(a, b)
            return total / self.levels
        return perceptual_distance(self.features, fake, real)


def edit_specs(side: int) -> dict[str, str]:
    """:data:`EVAL_EDITS` with pixel amounts scaled from 512 px to ``side``."""
    f = side / 512.0
    return {k: v.format(hair=max(1, round(14 * f)), smile=max(1, round(6 * f))) for k, v in EVAL_EDITS.items()}


# -- data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FaceSource:
    """One training/evaluation photo and, when known, its ground-truth label map."""

    image: Path
    labels: Path | None = None


def dev_sources(root: Path) -> list[FaceSource]:
    """Face photos of the dev data (``faces/photos``, ``faces/parsing``, ``makeup/mt``), sorted by name."""
    out = [FaceSource(p) for p in sorted((root / "faces" / "photos").glob("*.jpg"))]
    out += [FaceSource(p, p.with_suffix(".png")) for p in sorted((root / "faces" / "parsing").glob("*.jpg"))
            if p.with_suffix(".png").is_file()]
    for part in ("makeup", "no_makeup"):
        d = root / "makeup" / "mt" / part
        out += [FaceSource(p, d / "seg_celebamaskhq" / (p.stem + ".png")) for p in sorted(d.glob("*.jpg"))
                if (d / "seg_celebamaskhq" / (p.stem + ".png")).is_file()]
    return sorted(out, key=lambda s: s.image.name)


def aligned_pair(image: np.ndarray, labels: np.ndarray, keypoints: np.ndarray, size: int = CROP) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crop of ``image`` and of its label map (nearest neighbour, same transform)."""
    from engine.faces.align import align_face

    crop = align_face(image, keypoints, size)
    lab = cv2.warpAffine(labels, crop.matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    return crop.image, lab


def prepare(sources: Sequence[FaceSource], analyzer: Any = None, size: int = CROP) -> dict[str, np.ndarray]:
    """Aligned crops ``[N, S, S, 3]``, labels ``[N, S, S]``, ``gt`` flags and names of usable faces."""
    from PIL import Image

    from engine.faces import FaceAnalyzer

    analyzer = analyzer or FaceAnalyzer()
    imgs, labs, gt, names = [], [], [], []
    for s in sources:
        try:
            img = load_image(s.image)
        except Exception:  # a bad training file is skipped, not fatal
            continue
        res = analyzer.analyze(img, parse=s.labels is None)
        if not res.faces:
            continue
        lab = res.parsing if s.labels is None else np.asarray(Image.open(s.labels))
        if lab is None or lab.shape != img.shape[:2]:
            continue
        ci, cl = aligned_pair(img, lab.astype(np.uint8), res.faces[0].keypoints, size)
        imgs.append(ci)
        labs.append(cl)
        gt.append(s.labels is not None)
        names.append(s.image.name)
    return {"images": np.stack(imgs), "labels": np.stack(labs), "gt": np.array(gt), "names": np.array(names)}


def build_dataset(root: Path, cache: Path) -> dict[str, np.ndarray]:
    """Build (or load from ``cache``) the aligned dev faces."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    data = prepare(dev_sources(root))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".partial.npz")
    np.savez(tmp, allow_pickle=False, **data)
    tmp.replace(cache)
    return data


def split(n: int, every: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)``: every ``every``-th face (from the third) is held out."""
    held = np.arange(2, n, every)
    return np.setdiff1d(np.arange(n), held), held


def resize_pair(images: np.ndarray, labels: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize crops (area) and label maps (nearest) to ``side``."""
    if images.shape[1] == side:
        return images, labels
    ri = np.stack([cv2.resize(i, (side, side), interpolation=cv2.INTER_AREA) for i in images])
    rl = np.stack([cv2.resize(m, (side, side), interpolation=cv2.INTER_NEAREST) for m in labels])
    return ri, rl


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8`` ``[N, H, W, 3]`` → float ``[N, 3, H, W]`` in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_image(t: torch.Tensor) -> np.ndarray:
    """Float ``[N, 3, H, W]`` in [-1, 1] → ``uint8`` ``[N, H, W, 3]``."""
    return ((t.detach().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


# -- training --------------------------------------------------------------------------------------

def train(images: np.ndarray, labels: np.ndarray, out_dir: Path, *, steps: int = 300, batch: int = 4,
          side: int = 64, width: int = 16, style_dim: int = 32, lr: float = 2e-4, fm_weight: float = 10.0,
          perceptual_weight: float = 10.0, r1_weight: float = 1.0, r1_every: int = 4, seed: int = 0,
          time_limit_s: float | None = None, loss_features: str = "auto",
          runtime: Runtime | None = None) -> tuple[RegenGenerator, dict[str, Any]]:
    """Train the generator on aligned faces.

    Args:
        images: ``uint8`` ``[N, S, S, 3]`` training crops.
        labels: ``uint8`` ``[N, S, S]`` their label maps (official order).
        out_dir: run folder (logs, resumable state).
        steps: optimisation steps.
        batch: faces per step.
        side: training side (a multiple of 8).
        width: generator stem channels (the discriminator uses the same).
        style_dim: style code length.
        lr: Adam learning rate (β = 0, 0.999 as SEAN).
        fm_weight: feature-matching weight (SEAN: 10).
        perceptual_weight: perceptual-loss weight (SEAN: 10).
        r1_weight: R1 penalty γ.
        r1_every: lazy R1 interval (the penalty is scaled by it).
        seed: random seed.
        time_limit_s: stop early (state saved; running again resumes) after this many seconds.
        loss_features: ImageNet features of the perceptual loss: ``"auto"`` (EfficientNet-Lite0,
            else a local VGG-19, else the pyramid fallback), ``"efficientnet_lite0"`` or ``"vgg19"``.
        runtime: device, ``--amp`` and torchrun rank (:class:`~engine.training.loop.Runtime`;
            DDP-wrapped training copies, per-rank batches, rank 0 alone writes); ``None``: one fp32
            process on the CPU.

    Returns:
        (generator in eval mode on the runtime's device, summary).
    """
    if len(images) < 2:
        raise ValueError(f"need at least 2 training faces, got {len(images)}")
    imgs, labs = resize_pair(images, labels, side)
    rt = runtime or Runtime(device=CPU)
    rng = rt.rng(seed)  # under torchrun every rank draws its own batches
    g = RegenGenerator(width=width, n_down=3, n_blocks=4, style_dim=style_dim, encoder_width=max(8, width // 2),
                       max_width=8 * width, side=side).to(rt.device)
    d = MultiscaleDiscriminator(width=width, n_layers=3, num_scales=2).to(rt.device)
    g_train, d_train = rt.wrap(g), rt.wrap(d)  # DDP under torchrun
    perceptual = PerceptualLoss.from_local_weights(loss_features).to(rt.device)
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.0, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr * 2, betas=(0.0, 0.999))  # TTUR as SEAN/SPADE

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = rng.integers(0, len(imgs), n)
        im, lb = imgs[idx].copy(), labs[idx].copy()
        flip = rng.random(n) < 0.5
        im[flip] = im[flip][:, :, ::-1]
        lb[flip] = FLIP_LABELS[lb[flip][:, :, ::-1]]
        return rt.to_device(to_tensor(im)), rt.to_device(one_hot(torch.from_numpy(lb)))

    def critic(seg: torch.Tensor, image: torch.Tensor) -> list[list[torch.Tensor]]:
        """The critic's per-scale features under autocast, back in float32 for the losses."""
        with rt.autocast():
            return [[f.float() for f in feats] for feats in d_train(seg, image)]

    def step_fn(step: int) -> dict[str, float]:
        real, seg = sample(batch)
        with rt.autocast():
            fake = g_train(seg, real, seg).float()
        d_loss = gan_loss(critic(seg, fake.detach()), False, True) + gan_loss(critic(seg, real), True, True)
        logs: dict[str, float] = {"d_hinge": float(d_loss.detach())}
        if r1_weight > 0 and step % r1_every == 0:
            r1 = pair_r1_penalty(d_train, seg, real)  # fp32: a gradient penalty is not autocast
            d_loss = d_loss + r1_weight * r1_every * r1
            logs["r1"] = float(r1.detach())
        opt_d.zero_grad()
        rt.backward(d_loss, opt_d)
        rt.step(opt_d)
        fo, ro = critic(seg, fake), critic(seg, real)
        adv = gan_loss(fo, True, False)
        fm = feature_matching_loss(fo, ro)
        with rt.autocast():
            per = perceptual(fake, real).float()
        g_loss = adv + fm_weight * fm + perceptual_weight * per
        opt_g.zero_grad()
        rt.backward(g_loss, opt_g)
        rt.step(opt_g)
        logs.update(g_adv=float(adv.detach()), fm=float(fm.detach()), perceptual=float(per.detach()))
        return logs

    t0, c0 = time.perf_counter(), rt.clock()
    cancel = rt.time_budget(time_limit_s)
    trainer = Trainer(TrainConfig(out_dir=out_dir, steps=steps, log_every=10, checkpoint_every=100, seed=seed),
                      {"generator": g, "discriminator": d}, {"generator": opt_g, "discriminator": opt_d}, step_fn,
                      runtime=rt)
    done = trainer.run(cancel)
    return g.eval(), {"steps": done, "batch": batch * rt.world, **rt.describe(), "side": side, "train_s": round(time.perf_counter() - t0, 1),
                      "budget_s": round(rt.clock() - c0, 1), "budget_clock": rt.clock_name,
                      "faces": int(len(images)), "perceptual": perceptual.kind,
                      "threads": torch.get_num_threads()}


@torch.no_grad()
def render(model: RegenGenerator, images: np.ndarray, labels: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """Learned renders of ``edited`` maps with each face's own style codes (``uint8`` ``[N, S, S, 3]``),
    on the device the model's weights are on."""
    model.eval()
    dev = module_device(model)
    codes = model.encode_style(to_tensor(images).to(dev), one_hot(torch.from_numpy(labels)).to(dev))
    return to_image(model.render(one_hot(torch.from_numpy(edited)).to(dev), codes))


# -- evaluation --------------------------------------------------------------------------------------

def _miou(pred: np.ndarray, target: np.ndarray, ids: Sequence[int]) -> float:
    v = [((pred == i) & (target == i)).sum() / max(1, ((pred == i) | (target == i)).sum()) for i in ids]
    return float(np.mean(v)) if v else float("nan")


def _upscale(image: np.ndarray) -> np.ndarray:
    """A small crop up-scaled to :data:`PARSE_SIDE` (the face analysis and the identity descriptor need it)."""
    return cv2.resize(image, (PARSE_SIDE, PARSE_SIDE), interpolation=cv2.INTER_CUBIC)


def _parse(analyzer: Any, image: np.ndarray) -> np.ndarray | None:
    """Project parsing of a small crop (up-scaled to :data:`PARSE_SIDE`, labels brought back); None = no face."""
    side = image.shape[0]
    res = analyzer.analyze(_upscale(image))
    if not res.faces or res.parsing is None:
        return None
    return cv2.resize(res.parsing, (side, side), interpolation=cv2.INTER_NEAREST)


def evaluate(backend: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], images: np.ndarray,
             labels: np.ndarray, analyzer: Any) -> dict[str, Any]:
    """Reconstruction and edited-region agreement of one backend on held-out crops.

    Args:
        backend: ``f(image, labels, edited) -> uint8 image`` (one face at a time).
        images: ``uint8`` ``[N, S, S, 3]`` held-out crops.
        labels: ``uint8`` ``[N, S, S]`` their label maps.
        analyzer: the project's :class:`~engine.faces.FaceAnalyzer`.

    Returns:
        ``{"psnr_db", "ssim", "edit_miou": {edit: mean}, "edit_miou_mean", "parse_failures",
        "identity_recon", "identity_edit"}`` (PSNR capped at 100 dB for exact copies; the identity
        entries are :func:`~engine.metrics.identity.identity_report` of input → output, both
        up-scaled to :data:`PARSE_SIDE`, for the unchanged and the edited maps).
    """
    from engine.metrics import psnr, ssim
    from engine.metrics.identity import identity_report
    from engine.studios.regenerate.edits import apply_edits

    side = images.shape[1]
    ps, ss, fails = [], [], 0
    agree: dict[str, list[float]] = {k: [] for k in EVAL_EDITS}
    recon_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    edit_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for img, lab in zip(images, labels, strict=True):
        out = backend(img, lab, lab.copy())
        big = _upscale(img)
        recon_pairs.append((big, _upscale(out)))
        ps.append(min(100.0, psnr(img, out, data_range=255)) if not np.array_equal(img, out) else 100.0)
        ss.append(float(ssim(img, out, data_range=255)))
        for name, spec in edit_specs(side).items():
            edited = apply_edits(lab, spec)
            ids = [i for i in range(19) if ((edited == i) != (lab == i)).any()]
            if not ids:
                continue
            result = backend(img, lab, edited)
            edit_pairs.append((big, _upscale(result)))
            parsed = _parse(analyzer, result)
            if parsed is None:
                fails += 1
                agree[name].append(0.0)
                continue
            agree[name].append(_miou(parsed, edited, ids))
    per = {k: round(float(np.mean(v)), 4) if v else None for k, v in agree.items()}
    vals = [v for v in per.values() if v is not None]
    return {"psnr_db": round(float(np.mean(ps)), 3), "ssim": round(float(np.mean(ss)), 4), "edit_miou": per,
            "edit_miou_mean": round(float(np.mean(vals)), 4) if vals else None, "parse_failures": fails,
            "identity_recon": identity_report(recon_pairs), "identity_edit": identity_report(edit_pairs)}


def parser_ceiling(images: np.ndarray, labels: np.ndarray, analyzer: Any) -> float:
    """Mean IoU (all labels present) of the parser on the unedited crops against their label maps."""
    vals = []
    for img, lab in zip(images, labels, strict=True):
        parsed = _parse(analyzer, img)
        ids = [int(i) for i in np.unique(lab)]
        vals.append(0.0 if parsed is None else _miou(parsed, lab, ids))
    return round(float(np.mean(vals)), 4)


def classical_backend(image: np.ndarray, labels: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """The classical regeneration as an :func:`evaluate` backend."""
    from engine.studios.regenerate.classical import regenerate

    return regenerate(image, labels, edited)[0]


def learned_backend(model: RegenGenerator) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """A trained generator as an :func:`evaluate` backend (style from the face itself)."""
    def f(image: np.ndarray, labels: np.ndarray, edited: np.ndarray) -> np.ndarray:
        return render(model, image[None], labels[None], edited[None])[0]

    return f


def is_better(learned: dict[str, Any], classical: dict[str, Any]) -> bool:
    """``auto`` may use the learned model only if it is not worse on reconstruction (PSNR and SSIM,
    with the classical PSNR capped at 40 dB, the issue's aim) and agrees better with edited masks
    (mean IoU at least 0.02 higher)."""
    la, ca = learned.get("edit_miou_mean"), classical.get("edit_miou_mean")
    if la is None or ca is None:
        return False
    return (learned["psnr_db"] >= min(40.0, classical["psnr_db"]) and learned["ssim"] >= classical["ssim"] - 0.01
            and la >= ca + 0.02)


def compare(model: RegenGenerator, images: np.ndarray, labels: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate the learned model and the classical engine on the same held-out crops.

    Returns:
        ``(metrics, extra)`` for the card: the headline numbers, and ``better_than_classical`` plus
        both backends' full :func:`evaluate` results.
    """
    from engine.faces import FaceAnalyzer

    analyzer = FaceAnalyzer()
    learned = evaluate(learned_backend(model), images, labels, analyzer)
    classical = evaluate(classical_backend, images, labels, analyzer)
    ceiling = parser_ceiling(images, labels, analyzer)
    metrics = {"recon_psnr_db": learned["psnr_db"], "recon_ssim": learned["ssim"],
               "edit_miou": learned["edit_miou_mean"] or 0.0,
               "classical_recon_psnr_db": classical["psnr_db"], "classical_recon_ssim": classical["ssim"],
               "classical_edit_miou": classical["edit_miou_mean"] or 0.0, "parser_ceiling_miou": ceiling}
    for name, ev in (("", learned), ("classical_", classical)):
        for kind in ("recon", "edit"):
            dist = ev[f"identity_{kind}"].get("identity_distance")
            if dist is not None:  # absent when dlib's descriptor is not installed or no face was found
                metrics[f"{name}identity_{kind}"] = dist
    return metrics, {"better_than_classical": is_better(learned, classical), "learned_eval": learned,
                     "classical_eval": classical}


def reevaluate(args: argparse.Namespace) -> int:
    """``masquerade train regen --eval-only``: re-measure a trained checkpoint against today's classical
    engine and parser and rewrite its card's numbers (weights untouched; the card notes the date)."""
    import json
    from datetime import datetime, timezone

    from engine.device import parse_device
    from engine.imageio import atomic_write_bytes
    from engine.weights.card import card_path_for
    from engine.weights.store import load_checkpoint

    card_path = card_path_for(args.out)
    model, card = load_checkpoint(card_path, device=parse_device(getattr(args, "device", "auto")))
    if not isinstance(model, RegenGenerator) or card.input_size is None:
        raise ValueError(f"{card_path} is not a regen_g checkpoint with an input size")
    side = int(card.input_size[0])
    data = build_dataset(Path(args.data), Path(args.run_dir) / "data.npz")
    _tr, held = split(len(data["images"]))
    himg, hlab = resize_pair(data["images"][held], data["labels"][held], side)
    metrics, extra = compare(model, himg, hlab)
    doc = json.loads(card_path.read_text(encoding="utf-8"))
    doc["metrics"] = metrics
    doc["extra"].update(extra)
    doc["extra"]["re_evaluated"] = (f"{datetime.now(timezone.utc).date().isoformat()}: numbers re-measured with "
                                    "`masquerade train regen --eval-only` (same held-out faces and protocol; "
                                    "current classical engine, edits and parser); weights unchanged")
    atomic_write_bytes(card_path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    print(f"learned   {extra['learned_eval']}\nclassical {extra['classical_eval']}\n"
          f"parser ceiling mIoU {metrics['parser_ceiling_miou']}\n"
          f"better than classical: {extra['better_than_classical']}\nrewrote {card_path}")
    return 0


def main(args: argparse.Namespace) -> int:
    """``masquerade train regen``: build data, train, evaluate both backends, write checkpoint + card."""
    from engine.weights.store import save_checkpoint

    torch.set_num_threads(max(1, args.threads))
    if getattr(args, "eval_only", False):
        return reevaluate(args)
    root = Path(args.data)
    run = Path(args.run_dir)
    rt = Runtime.create(getattr(args, "device", "auto"), getattr(args, "amp", False))
    if not rt.is_main:
        rt.barrier()  # under torchrun rank 0 builds the data cache, the others then read it
    data = build_dataset(root, run / "data.npz")
    if rt.is_main:
        rt.barrier()
    tr, held = split(len(data["images"]))
    print(f"data: {len(data['images'])} aligned faces ({int(data['gt'].sum())} with ground-truth labels); "
          f"{len(tr)} train, {len(held)} held out")
    model, summary = train(data["images"][tr], data["labels"][tr], run, steps=args.steps, batch=args.batch,
                           side=args.size, width=args.width, style_dim=args.style_dim, seed=args.seed,
                           time_limit_s=args.time_limit, loss_features=getattr(args, "loss_features", "auto"),
                           runtime=rt)
    if not rt.is_main:
        return 0  # rank 0 alone measures and writes the checkpoint and its card
    print(f"trained: {summary}")
    himg, hlab = resize_pair(data["images"][held], data["labels"][held], args.size)
    metrics, cmp = compare(model, himg, hlab)
    learned, classical, better = cmp["learned_eval"], cmp["classical_eval"], cmp["better_than_classical"]
    card = save_checkpoint(
        model, args.out, task="regenerate: render an edited 19-label map with per-region style (SEAN-style)",
        input_size=(args.size, args.size), label_scheme="celebamask_hq",
        training_data=(f"{len(tr)} aligned dev faces (shared/data faces/photos parsed by the project's FaceAnalyzer; "
                       "ground-truth label maps of faces/parsing and makeup/mt seg_celebamaskhq), "
                       f"{args.size}² crops, CPU; {len(held)} faces held out for the card's numbers"),
        licence="weights: derived from non-commercial research data (CelebA/CelebA-HQ, CelebAMask-HQ, SEAN, "
                "MT-Dataset) — research use only",
        metrics=metrics,
        extra={"better_than_classical": better, "train": summary, "learned_eval": learned,
               "classical_eval": classical,
               "evaluation": (f"held-out faces {args.size}²: reconstruction with the unchanged label map (PSNR 100 = "
                              "exact copy); edits " + ", ".join(edit_specs(args.size).values()) +
                              f"; outputs up-scaled to {PARSE_SIDE}² and parsed by the project parser, mIoU over "
                              "the labels each edit changed"),
               "fid": "not computed: no local Inception or face-feature weights; SEAN's 17.66 is not comparable"})
    print(f"learned   {learned}\nclassical {classical}\nparser ceiling mIoU {metrics['parser_ceiling_miou']}\n"
          f"better than classical: {better}\nwrote {card}")
    return 0
