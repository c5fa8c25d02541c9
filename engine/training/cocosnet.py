"""Training entry of the CoCosNet-style exemplar colouring network (:mod:`engine.models.cocosnet`).

Data (all made on the fly, nothing downloaded):

* **procedural self pairs** — a procedural lianpu's line art (sketch) and colour image (ground
  truth); the exemplar is a pseudo exemplar, a random geometric deformation of the ground truth
  (:func:`pseudo_exemplar`), as in the paper;
* **procedural cross pairs** — design *A* painted with palette *P* is the ground truth of *A*'s
  sketch, and design *B* painted with the same palette *P* is the exemplar: a real cross-exemplar
  pair *with* ground truth, which only the procedural generator can give;
* **dev lianpu** (``--data`` folder of colour lianpu PNGs, e.g. ``shared/data/opera/lianpu``) —
  composited on white, padded to a square, line art by the project's XDoG
  (:func:`engine.studios.opera.classical.xdog`, thresholded), self pairs with pseudo exemplars and mirror
  flips. Every third file (sorted by name) is held out and never trained on.

Step (:func:`train_step`): one hinge update of the patch discriminator, then one generator update on
L1 reconstruction, perceptual and contextual (:func:`engine.nn.losses.contextual_loss`) losses on
ImageNet features — the paper reads VGG-19; here EfficientNet-Lite0, whose ImageNet weights ship
with the requirements (:mod:`engine.nn.features`), or VGG-19 from a user-imported file
(``loss_features="vgg19"``); only when no ImageNet file is present the exemplar encoder's own
features stand in —, domain alignment, cycle and the hinge adversarial term. The weights are the arguments
of :class:`CoCosLoss`; the defaults are this module's choice, not the paper's eq. 20 values.

Evaluation (:func:`evaluate`): self-colouring SSIM (:func:`engine.metrics.ssim`, Gaussian window,
RGB, 0–255) of the coloured sketch against its ground truth on held-out procedural lianpu and the
held-out dev lianpu, for the network *and* the classical :func:`engine.studios.opera.classical.colorize` on the
very same (sketch, exemplar) pairs. The exemplar is one seeded pseudo exemplar per pair (the same
deformation for both engines). Cross-exemplar SSIM on held-out procedural cross pairs is measured
too. Both engines' outputs are compared at the network side ``--size``.

Devices (``--device``, ``--amp``, torchrun): :func:`train` runs on a
:class:`~engine.training.loop.Runtime` — the networks on its device, DDP-wrapped copies trained under
torchrun (each rank draws its own batches), forward passes under autocast; rank 0 alone evaluates
and writes the checkpoint and its card.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.device import CPU
from engine.geometry import letterbox
from engine.models.cocosnet import CoCosNet, PatchDiscriminator
from engine.nn.features import ImageNetFeatures, perceptual_distance
from engine.nn.losses import contextual_loss, hinge_loss
from engine.training.loop import Runtime

DEV_HOLDOUT_EVERY = 3
"""Every third dev lianpu (sorted by file name, starting with the first) is held out."""

EVAL_SEED_BASE = 900_000
"""Procedural seeds of the held-out evaluation designs (training uses seeds below this)."""


def dev_pairs(folder: Path, size: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]],
                                                  list[str], list[str]]:
    """(sketch, colour) pairs of the dev lianpu in ``folder``: ``(train, held_out, train_names, held_names)``.

    Line art: XDoG (default parameters scaled to a 256-pixel working side, threshold 0.5) of the
    square colour image at 256², then area-resized to ``size``.
    """
    from engine.imageio import load_image
    from engine.studios.opera.classical import XDoGParams, xdog

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    train, held, tn, hn = [], [], [], []
    for i, f in enumerate(files):
        rgb = letterbox(load_image(f))  # transparent pixels on white, padded to a square
        work = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_AREA)
        line = xdog(work, XDoGParams(threshold=0.5).scaled(256 / 512))
        pair = (cv2.resize(line, (size, size), interpolation=cv2.INTER_AREA),
                cv2.resize(work, (size, size), interpolation=cv2.INTER_AREA))
        if i % DEV_HOLDOUT_EVERY == 0:
            held.append(pair)
            hn.append(f.name)
        else:
            train.append(pair)
            tn.append(f.name)
    return train, held, tn, hn


def procedural_pair(seed: int, size: int, colour_seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(line art [S, S] uint8, colour [S, S, 3] uint8)`` of a procedural design at side ``size``."""
    from engine.procedural.lianpu import generate_lianpu

    d = generate_lianpu(seed, size=max(64, size), colour_seed=colour_seed)
    if d.image.shape[0] == size:
        return d.line_art, d.image
    return (cv2.resize(d.line_art, (size, size), interpolation=cv2.INTER_AREA),
            cv2.resize(d.image, (size, size), interpolation=cv2.INTER_AREA))


def _t_sketch(lines: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(lines)).float().div(127.5).sub(1.0)[:, None]


def _t_rgb(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).float().div(127.5).sub(1.0).permute(0, 3, 1, 2)


def _u8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def eval_exemplars(truths: list[np.ndarray], seed: int = 1234) -> list[np.ndarray]:
    """One seeded pseudo exemplar (same deformation for every engine) per ground truth."""
    g = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return list(_u8(pseudo_exemplar(_t_rgb(truths))))
    finally:
        torch.random.set_rng_state(g)


def compare(model: CoCosNet | None, triples: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
            size: int) -> dict[str, float]:
    """Mean SSIM of neural and classical colouring over ``(sketch, exemplar, truth)`` triples."""
    from engine.metrics import ssim
    from engine.studios.opera.classical import colorize
    from engine.studios.opera.learned import colorize_neural

    neural, classical = [], []
    for sketch, exemplar, truth in triples:
        classical.append(ssim(colorize(sketch, exemplar).image, truth))
        if model is not None:
            neural.append(ssim(colorize_neural(sketch, exemplar, model, size)[0], truth))
    out = {"classical": float(np.mean(classical)), "n": float(len(triples))}
    if model is not None:
        out["neural"] = float(np.mean(neural))
    return out


def evaluate(model: CoCosNet, size: int, n_procedural: int = 40,
             dev_held: list[tuple[np.ndarray, np.ndarray]] | None = None,
             eval_side: int | None = None) -> dict[str, Any]:
    """Held-out SSIM table (see the module docstring); ``model`` is put in eval mode.

    Args:
        model: the network (trained at ``size``).
        size: the network side.
        n_procedural: held-out procedural designs (self and cross pairs each).
        dev_held: held-out dev (sketch, colour) pairs at ``eval_side``.
        eval_side: side of the pairs both engines colour (default ``size``); the network runs at
            ``size`` inside :func:`~engine.studios.opera.learned.colorize_neural`.
    """
    model.eval()
    side = eval_side or size
    proc = [procedural_pair(EVAL_SEED_BASE + i, side) for i in range(n_procedural)]
    proc_ex = eval_exemplars([t for _, t in proc])
    self_triples = [(s, e, t) for (s, t), e in zip(proc, proc_ex, strict=True)]
    res: dict[str, Any] = {"side": side, "procedural_self": compare(model, self_triples, size)}
    cross = []
    for i in range(n_procedural):
        palette = EVAL_SEED_BASE + 5000 + i
        sketch, truth = procedural_pair(EVAL_SEED_BASE + i, side, colour_seed=palette)
        _, exemplar = procedural_pair(EVAL_SEED_BASE + 2000 + i, side, colour_seed=palette)
        cross.append((sketch, exemplar, truth))
    res["procedural_cross"] = compare(model, cross, size)
    if dev_held:
        ex = eval_exemplars([t for _, t in dev_held], seed=4321)
        res["dev_self"] = compare(model, [(s, e, t) for (s, t), e in zip(dev_held, ex, strict=True)], size)
    return res


def logged_train_seconds(run_dir: Path) -> float:
    """Training time over every (resumed) segment of a run, from its ``log.jsonl`` (0 when absent)."""
    import json

    log = Path(run_dir) / "log.jsonl"
    if not log.is_file():
        return 0.0
    total, seg_max, prev = 0.0, 0.0, -1.0
    for line in log.read_text(encoding="utf-8").splitlines():
        e = float(json.loads(line).get("elapsed_s", 0.0))
        if e < prev:  # a new segment (resumed run) started
            total += seg_max
            seg_max = 0.0
        seg_max, prev = max(seg_max, e), e
    return round(total + seg_max, 1)


def pseudo_exemplar(image: torch.Tensor, strength: float = 0.15) -> torch.Tensor:
    """Random affine deformation (+ mirror) of ground-truth images (white outside).

    Args:
        image: ``[N, 3, H, W]`` in [-1, 1].
        strength: largest rotation (radians), relative scale change and translation (in
            half-sides) of the deformation.

    Returns:
        ``[N, 3, H, W]`` deformed images, white (1) where the deformation leaves the image.
    """
    n = image.shape[0]
    a = (torch.rand(n) * 2 - 1) * strength
    s = 1 + (torch.rand(n) * 2 - 1) * strength
    t = (torch.rand(n, 2) * 2 - 1) * strength
    flip = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = s * torch.cos(a) * flip, -s * torch.sin(a)
    theta[:, 1, 0], theta[:, 1, 1] = s * torch.sin(a) * flip, s * torch.cos(a)
    theta[:, :, 2] = t
    grid = F.affine_grid(theta.to(image), list(image.shape), align_corners=False)
    return F.grid_sample(image - 1, grid, align_corners=False, padding_mode="zeros") + 1  # white outside


class CoCosLoss:
    """Loss weights of one training step.

    Args:
        l1: reconstruction L1 weight.
        perceptual: perceptual-loss weight (ImageNet features of generated vs ground truth).
        contextual: contextual loss weight (ImageNet features of generated vs exemplar).
        domain: domain-alignment weight (sketch vs ground-truth features in W).
        cycle: cycle correspondence weight.
        adversarial: hinge adversarial weight.
    """

    def __init__(self, l1: float = 1.0, perceptual: float = 1.0, contextual: float = 1.0, domain: float = 10.0,
                 cycle: float = 1.0, adversarial: float = 0.1) -> None:
        self.l1, self.perceptual, self.contextual = l1, perceptual, contextual
        self.domain, self.cycle, self.adversarial = domain, cycle, adversarial


def train_step(net: CoCosNet, disc: PatchDiscriminator, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
               sketch: torch.Tensor, truth: torch.Tensor, w: CoCosLoss | None = None,
               exemplar: torch.Tensor | None = None, features: ImageNetFeatures | None = None,
               runtime: Runtime | None = None, net_train: nn.Module | None = None,
               disc_train: nn.Module | None = None) -> dict[str, float]:
    """One discriminator then one generator step on (sketch, ground truth) pairs.

    Args:
        net: the colouring network (the plain module: its exemplar encoder gives the domain and
            fallback feature terms).
        disc: its patch discriminator.
        opt_g: optimiser of ``net``.
        opt_d: optimiser of ``disc``.
        sketch: ``[N, 1, H, W]`` in [-1, 1].
        truth: ``[N, 3, H, W]`` ground-truth colourings in [-1, 1].
        w: loss weights (``None``: :class:`CoCosLoss` defaults).
        exemplar: ``[N, 3, H, W]`` exemplars; ``None`` uses pseudo exemplars
            (:func:`pseudo_exemplar` of the ground truth). Pass cross-exemplar images (another
            design in the ground truth's colours) to train on those.
        features: frozen ImageNet features (inputs in [-1, 1]) for the perceptual loss (its five
            taps, pix2pixHD weights) and the contextual loss (its mid-level taps, averaged);
            ``None``: the exemplar encoder's features stand in (no ImageNet weights present).
        runtime: device, ``--amp`` and torchrun rank (:class:`~engine.training.loop.Runtime`);
            ``None``: one fp32 process on the tensors' device. The batch tensors must be on its device.
        net_train: the module trained through (``runtime.wrap(net)``: DDP under torchrun); ``None``: ``net``.
        disc_train: likewise for ``disc``.

    Returns:
        Every weighted term by name, plus ``d_loss`` and ``g_loss``.
    """
    w = CoCosLoss() if w is None else w
    rt = runtime or Runtime(device=sketch.device)
    g_fw, d_fw = net_train or net, disc_train or disc
    if exemplar is None:
        exemplar = pseudo_exemplar(truth)
    with rt.autocast():
        out = {k: v.float() for k, v in g_fw(sketch, exemplar).items()}
    fake = out["image"]
    with rt.autocast():
        d_real, d_fake = d_fw(sketch, truth).float(), d_fw(sketch, fake.detach()).float()
    d_loss = hinge_loss(d_real, True) + hinge_loss(d_fake, False)
    opt_d.zero_grad(set_to_none=True)
    rt.backward(d_loss, opt_d)
    rt.step(opt_d)
    # forward passes under autocast, losses in float32 (same order of operations as in one fp32 process)
    with rt.autocast():
        f_fake, f_truth = net.enc_b(fake).float(), net.enc_b(truth).float().detach()
    if features is None:
        perceptual = F.l1_loss(f_fake, f_truth)
        with rt.autocast():
            f_exemplar = net.enc_b(exemplar).float().detach()
        contextual = contextual_loss(F.avg_pool2d(f_fake, 2), F.avg_pool2d(f_exemplar, 2))
    else:
        with rt.autocast():
            perceptual = perceptual_distance(features, fake, truth).float()
            cx_fake = [f.float() for f in features(fake, features.contextual_layers)]
            with torch.no_grad():
                cx_exemplar = [f.float() for f in features(exemplar, features.contextual_layers)]
        contextual = torch.stack([contextual_loss(a, b) for a, b in zip(cx_fake, cx_exemplar, strict=True)]).mean()
    l1 = F.l1_loss(fake, truth)
    domain = F.l1_loss(out["fa"], f_truth)
    cycle = F.l1_loss(out["cycle"], out["exemplar_small"])
    with rt.autocast():
        g_adv_logits = d_fw(sketch, fake).float()
    parts = {"l1": l1, "perceptual": perceptual, "contextual": contextual, "domain": domain, "cycle": cycle,
             "adversarial": hinge_loss(g_adv_logits, True, for_discriminator=False)}
    g_loss = sum(getattr(w, k) * v for k, v in parts.items())
    opt_g.zero_grad(set_to_none=True)
    rt.backward(g_loss, opt_g)
    rt.step(opt_g)
    logs = {k: float(v.detach()) for k, v in parts.items()}
    logs.update(d_loss=float(d_loss.detach()), g_loss=float(g_loss.detach()))
    return logs


class CoCosData:
    """Training minibatches: procedural self + cross pairs and dev self pairs.

    Args:
        size: side.
        designs: procedural designs rendered for training.
        dev_train: dev (sketch, colour) pairs to mix in.
        seed: numpy seed.
        rng: the generator batches are drawn from (``None``: one seeded with ``seed``); under torchrun
            :meth:`~engine.training.loop.Runtime.rng` gives every rank its own stream.
    """

    def __init__(self, size: int, designs: int = 400, dev_train: list[tuple[np.ndarray, np.ndarray]] | None = None,
                 seed: int = 0, rng: np.random.Generator | None = None) -> None:
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.size = size
        self.designs = designs
        self.self_pairs = [procedural_pair(i, size) for i in range(designs)]
        # cross pairs: design i and design i + designs painted with palette i + 2·designs
        self.cross = []
        for i in range(designs // 2):
            pal = 2 * designs + i
            s, t = procedural_pair(i, size, colour_seed=pal)
            _, e = procedural_pair(designs + i, size, colour_seed=pal)
            self.cross.append((s, t, e))
        self.dev = list(dev_train or [])

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(sketch, truth, exemplar)``: about half self pairs (dev lianpu a quarter when given), half cross."""
        sketches, truths, exemplars, pseudo = [], [], [], []
        for _ in range(n):
            u = self.rng.random()
            if u < 0.5:
                s, t, e = self.cross[self.rng.integers(len(self.cross))]
                pseudo.append(False)
            else:
                src = self.dev if (self.dev and u < 0.75) else self.self_pairs
                s, t = src[self.rng.integers(len(src))]
                e = t
                pseudo.append(True)
            if self.rng.random() < 0.5:
                s, t = s[:, ::-1], t[:, ::-1]
            sketches.append(np.ascontiguousarray(s))
            truths.append(np.ascontiguousarray(t))
            exemplars.append(np.ascontiguousarray(e))
        x, y, r = _t_sketch(sketches), _t_rgb(truths), _t_rgb(exemplars)
        mask = torch.tensor(pseudo)
        if mask.any():
            r[mask] = pseudo_exemplar(y[mask])
        return x, y, r


def train(out_dir: Path, size: int = 64, steps: int = 400, batch: int = 8, width: int = 16, designs: int = 400,
          dev_train: list[tuple[np.ndarray, np.ndarray]] | None = None, lr: float = 2e-4,
          time_limit_s: float | None = None, seed: int = 0,
          loss_features: str = "auto", runtime: Runtime | None = None) -> tuple[CoCosNet, dict[str, Any]]:
    """Train on the shared loop (JSONL log, resumable state in ``out_dir``); returns the net and a summary.

    ``runtime`` (:class:`~engine.training.loop.Runtime`) gives the device, ``--amp`` and the torchrun
    rank (DDP-wrapped training copies, per-rank batches, rank 0 alone writes); ``None``: one fp32
    process on the CPU. The returned net is the plain module on the runtime's device.

    ``loss_features`` picks the ImageNet features of the perceptual and contextual losses:
    ``"auto"`` (EfficientNet-Lite0, else a local VGG-19, else the exemplar encoder's features),
    ``"efficientnet_lite0"`` or ``"vgg19"`` (an explicit choice that cannot be loaded raises
    :class:`~engine.errors.CheckpointError`). The summary names what was used.
    """
    from engine.training.loop import TrainConfig, Trainer

    if size % 16:
        raise ValueError(f"size must be a multiple of 16, got {size}")
    rt = runtime or Runtime(device=CPU)
    torch.manual_seed(seed)
    data = CoCosData(size, designs, dev_train, seed, rng=rt.rng(seed))  # under torchrun: a stream per rank
    net = CoCosNet(width=width, feat_channels=4 * width, corr_down=2 if size <= 128 else 4).to(rt.device)
    disc = PatchDiscriminator(width=width).to(rt.device)
    net_train, disc_train = rt.wrap(net), rt.wrap(disc)  # DDP under torchrun
    opt_g = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.0, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=4 * lr, betas=(0.0, 0.999))
    weights = CoCosLoss()
    features, features_name = _loss_features(loss_features)
    if features is not None:
        features.to(rt.device)

    def step_fn(step: int) -> dict[str, float]:
        x, y, r = (rt.to_device(t) for t in data.batch(batch))
        return train_step(net, disc, opt_g, opt_d, x, y, weights, exemplar=r, features=features, runtime=rt,
                          net_train=net_train, disc_train=disc_train)

    t0, c0 = time.perf_counter(), rt.clock()
    cancel = rt.time_budget(time_limit_s)
    done = Trainer(TrainConfig(out_dir=Path(out_dir), steps=steps, log_every=10, checkpoint_every=50, seed=seed),
                   {"G": net, "D": disc}, {"G": opt_g, "D": opt_d}, step_fn, runtime=rt).run(cancel)
    summary = {"steps": done, "train_s": round(time.perf_counter() - t0, 1),
               "budget_s": round(rt.clock() - c0, 1), "budget_clock": rt.clock_name, "batch": batch * rt.world, "lr": lr,
               "designs": designs, "dev_train": len(data.dev), "loss_weights": vars(weights),
               "loss_features": features_name, **rt.describe(),
               "threads": torch.get_num_threads()}
    return net.eval(), summary


def _loss_features(kind: str) -> tuple[ImageNetFeatures | None, str]:
    """The ImageNet features for ``kind`` and their name; ``auto`` without any file: ``(None, why)``."""
    from engine.errors import CheckpointError
    from engine.weights.catalog import load_imagenet_features

    try:
        features = load_imagenet_features(kind, value_range="[-1,1]")
    except CheckpointError as exc:
        if kind != "auto":
            raise
        return None, f"exemplar-encoder features (no ImageNet weights: {exc})"
    return features, features.name


def main(args: argparse.Namespace) -> int:
    """``masquerade train cocosnet``: train, measure against classical colouring, write checkpoint + card."""
    from engine.weights.store import save_checkpoint

    torch.set_num_threads(max(1, args.threads))
    dev_train: list[tuple[np.ndarray, np.ndarray]] = []
    dev_held: list[tuple[np.ndarray, np.ndarray]] = []
    tn: list[str] = []
    hn: list[str] = []
    if args.data:
        folder = Path(args.data)
        if not folder.is_dir():
            raise ValueError(f"--data {folder} is not a folder")
        dev_train, dev_held, tn, hn = dev_pairs(folder, args.size)
    rt = Runtime.create(getattr(args, "device", "auto"), getattr(args, "amp", False))
    net, summary = train(Path(args.run_dir), args.size, args.steps, args.batch, args.width, args.designs,
                         dev_train, time_limit_s=args.time_limit, seed=args.seed,
                         loss_features=getattr(args, "loss_features", "auto"), runtime=rt)
    if not rt.is_main:
        return 0  # rank 0 alone measures and writes the checkpoint and its card
    if summary["steps"] == 0:
        raise ValueError("no training step was run (time limit too short?)")
    summary["train_s"] = max(summary["train_s"], logged_train_seconds(Path(args.run_dir)))
    print(f"trained {summary['steps']} steps, {summary['train_s']} s of training in all")
    t0 = time.perf_counter()
    tables = {args.size: evaluate(net, args.size, args.eval_count, dev_held)}
    if args.eval_size != args.size:
        held_big = dev_pairs(Path(args.data), args.eval_size)[1] if args.data else None
        tables[args.eval_size] = evaluate(net, args.size, args.eval_count, held_big, eval_side=args.eval_size)
    eval_s = round(time.perf_counter() - t0, 1)
    metrics: dict[str, float] = {}
    for side, table in tables.items():
        suffix = "" if side == args.eval_size else f"_{side}"
        for key, name in (("procedural_self", ""), ("procedural_cross", "_cross"), ("dev_self", "_dev")):
            if key in table:
                metrics[f"ssim{name}_neural{suffix}"] = round(table[key]["neural"], 4)
                metrics[f"ssim{name}_classical{suffix}"] = round(table[key]["classical"], 4)
    wins = [metrics["ssim_neural"] > metrics["ssim_classical"]]
    if "ssim_dev_neural" in metrics:
        wins.append(metrics["ssim_dev_neural"] > metrics["ssim_dev_classical"])
    better = all(wins)
    data_desc = (f"{args.designs} procedural lianpu (self pairs with pseudo exemplars) + {args.designs // 2} procedural "
                 f"cross-exemplar pairs (same palette, other design), x-flips, at {args.size}²")
    if tn:
        data_desc += f"; {len(tn)} dev lianpu (XDoG line art, pseudo exemplars): {', '.join(tn)}"
    card = save_checkpoint(
        net, args.out, task="opera exemplar colouring (CoCosNet-style)", input_size=(args.size, args.size),
        training_data=data_desc, licence="project-generated data and weights; dev lianpu for research use only",
        metrics=metrics,
        extra={**summary, "better_than_classical": better, "eval_s": eval_s,
               "dev_held_out": hn,
               "eval_protocol": (f"held-out self-colouring: {args.eval_count} procedural lianpu (seeds ≥ {EVAL_SEED_BASE}) "
                                 f"and {len(hn)} held-out dev lianpu; exemplar = one seeded pseudo exemplar (affine "
                                 "deformation + mirror of the ground truth), the same for both engines; cross: design "
                                 "A's sketch, design B with A's palette as exemplar, A with that palette as truth; "
                                 f"SSIM (Gaussian 11×11, RGB) of the coloured sketch vs ground truth; headline metrics "
                                 f"at {args.eval_size}² (the network runs at {args.size}² inside, its output resized and "
                                 f"darkened by the full-size line art), '_{args.size}' metrics with both engines at "
                                 f"{args.size}²; classical = engine.studios.opera.classical.colorize on the same pairs; "
                                 "better_than_classical = neural beats classical on held-out procedural self pairs "
                                 "and on held-out dev lianpu at the headline side"),
               "paper_ssim": 0.850,
               "paper_note": ("the paper's 0.850 was measured on its own lianpu data at 256²; ours uses procedural "
                              "and 19 dev lianpu at a CPU-sized resolution: not comparable"),
               "eval_tables": {str(k): v for k, v in tables.items()}})
    print(f"SSIM at {args.eval_size}², procedural self: neural {metrics['ssim_neural']:.4f} vs classical {metrics['ssim_classical']:.4f}; "
          f"cross: {metrics['ssim_cross_neural']:.4f} vs {metrics['ssim_cross_classical']:.4f}"
          + (f"; dev: {metrics['ssim_dev_neural']:.4f} vs {metrics['ssim_dev_classical']:.4f}"
             if "ssim_dev_neural" in metrics else "")
          + f"; better_than_classical {better}; wrote {card}")
    return 0
