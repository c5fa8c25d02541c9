"""Training entry of StyleGAN2 (:mod:`engine.models.stylegan2`) with ADA / APA / Diffusion-GAN.

One :meth:`StyleGAN2Training.step` is one minibatch of the StyleGAN2 schedule: a D step
(non-saturating logistic loss, lazy R1 every ``r1_every`` steps), then a G step (non-saturating
loss, optional lazy path-length regularisation), then the exponential moving average of G.
The augmentation mode decides what D sees:

* ``ada`` — reals and fakes both through :class:`~engine.models.augment.ADA`;
* ``apa`` — reals partly replaced by fakes (:class:`~engine.models.augment.APA`);
* ``diffusion`` — reals and fakes diffused, D conditioned on ``t``
  (:class:`~engine.models.augment.DiffusionNoise`);
* ``none`` — plain StyleGAN2.

In every mode ``r_t = E[sign(D(x_real))]`` is observed, so logs show how much D overfits.

Conditioned on role type (``num_classes`` > 0, ``masquerade train stylegan2 --by-role``; the
TC-StyleGAN2 idea): G maps ``(z, class)`` and D adds a projection term for the class
(:mod:`engine.models.stylegan2`). The D step gives the fakes the batch's real labels (so APA's
real↔fake swaps keep their labels), the G step a shuffled copy — the label distribution of the
data. Classes: the nine procedural role types (:data:`engine.procedural.lianpu.ROLE_KEYS`) and a
tenth, ``traditional``, for the development lianpu, whose role type nobody labelled; batches draw
the classes evenly.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.device import CPU
from engine.models.augment import ADA, APA, DiffusionNoise
from engine.models.stylegan2 import Discriminator, Generator
from engine.nn.losses import r1_penalty
from engine.training.loop import Runtime

AUG_MODES: tuple[str, ...] = ("none", "ada", "apa", "diffusion")


TRADITIONAL = "traditional"
"""The class of the development lianpu (real designs of unlabelled role type) in a ``--by-role`` run."""


def role_classes() -> tuple[str, ...]:
    """Class names of a ``--by-role`` generator, in label order: the nine role types, then ``traditional``."""
    from engine.procedural.lianpu import ROLE_KEYS

    return (*ROLE_KEYS, TRADITIONAL)


def path_length_penalty(g: Generator, ws: torch.Tensor, mean: torch.Tensor,
                        decay: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Path-length regulariser: ``(‖J_wᵀ y‖ − a)²`` with ``a`` a running mean.

    Args:
        g: the generator.
        ws: styles ``[N, num_ws, w_dim]`` with ``requires_grad``.
        mean: running mean ``a`` (a 0-d tensor).
        decay: update rate of ``a``.

    Returns:
        ``(penalty, new_mean)``.
    """
    img = g.synthesis(ws)
    noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    lengths = grad.pow(2).sum(2).mean(1).sqrt()
    new_mean = mean.lerp(lengths.detach().mean(), decay)
    return (lengths - new_mean).pow(2).mean(), new_mean


class StyleGAN2Training:
    """Modules, optimisers and the per-minibatch step.

    Args:
        resolution: image side.
        aug: one of :data:`AUG_MODES`.
        batch: minibatch size.
        z_dim: latent (and style) size.
        channel_base: network width (channels at resolution r: ``channel_base / r``).
        channel_max: channel cap.
        lr: Adam learning rate (β = 0, 0.99 as in the paper).
        r1_gamma: R1 weight γ.
        r1_every: lazy R1 interval.
        pl_weight: path-length weight (0 = off).
        pl_every: lazy path-length interval.
        ema_beta: decay of G's moving average.
        aug_kimg: speed of the adaptive strength.
        device: torch device (ignored when ``runtime`` is given).
        runtime: device, AMP and torchrun rank (:class:`~engine.training.loop.Runtime`); ``None``:
            ``device`` (default the CPU), fp32, one process.
        num_classes: class-conditional G and projection D over this many classes (0 = unconditional);
            :meth:`step` then needs the reals' labels.
    """

    def __init__(self, resolution: int = 32, aug: str = "ada", batch: int = 16, z_dim: int = 64,
                 channel_base: int = 2048, channel_max: int = 128, lr: float = 2.5e-3, r1_gamma: float = 0.5,
                 r1_every: int = 16, pl_weight: float = 0.0, pl_every: int = 4, ema_beta: float = 0.999,
                 aug_kimg: float = 100.0, device: torch.device | None = None,
                 runtime: Runtime | None = None, num_classes: int = 0) -> None:
        if aug not in AUG_MODES:
            raise ValueError(f"aug must be one of {', '.join(AUG_MODES)}, got {aug!r}")
        self.rt = runtime or Runtime(device=device or CPU)
        self.device = self.rt.device
        self.aug_mode, self.batch = aug, batch
        self.num_classes = num_classes
        self.G = Generator(z_dim=z_dim, w_dim=z_dim, img_resolution=resolution, channel_base=channel_base,
                           channel_max=channel_max, c_dim=num_classes).to(self.device)
        self.D = Discriminator(img_resolution=resolution, channel_base=channel_base, channel_max=channel_max,
                               cond_dim=32 if aug == "diffusion" else 0, num_classes=num_classes).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.G_train, self.D_train = self.rt.wrap(self.G), self.rt.wrap(self.D)  # DDP under torchrun
        # lazy regularisation: Adam hyper-parameters rescaled by c = k / (k + 1)
        cd, cg = r1_every / (r1_every + 1), (pl_every / (pl_every + 1)) if pl_weight > 0 else 1.0
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr * cg, betas=(0.0, 0.99 ** cg))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr * cd, betas=(0.0, 0.99 ** cd))
        self.augment: ADA | APA | DiffusionNoise | None = (
            ADA(kimg=aug_kimg) if aug == "ada" else APA(kimg=aug_kimg) if aug == "apa"
            else DiffusionNoise(kimg=aug_kimg) if aug == "diffusion" else None)
        if self.augment is not None:
            self.augment.to(self.device)
        self.r1_gamma, self.r1_every = r1_gamma, r1_every
        self.pl_weight, self.pl_every = pl_weight, pl_every
        self.pl_mean = torch.zeros((), device=self.device)
        self.ema_beta = ema_beta
        self.steps = 0

    def modules(self) -> dict[str, torch.nn.Module]:
        """Named modules whose state is saved and resumed."""
        out = {"G": self.G, "D": self.D, "G_ema": self.G_ema}
        if self.augment is not None:
            out["augment"] = self.augment
        return out

    def _d(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        with self.rt.autocast():
            if isinstance(self.augment, ADA):
                out = self.D_train(self.augment(x), None, c)
            elif isinstance(self.augment, DiffusionNoise):
                xt, t = self.augment(x)
                out = self.D_train(xt, t, c)
            else:
                out = self.D_train(x, None, c)
        return out.float()

    def step(self, reals: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
        """One D + G minibatch on ``reals`` ``[N, 3, R, R]`` in [-1, 1] (with their class indices
        ``labels`` ``[N]`` when conditional); returns scalar logs.

        Raises:
            ValueError: labels missing on a conditional run or given to an unconditional one.
        """
        n = reals.shape[0]
        reals = reals.to(self.device)
        if (labels is None) != (self.num_classes == 0):
            raise ValueError("pass labels exactly when the run is class-conditional")
        c = None if labels is None else labels.to(self.device).long()
        c_g = None if c is None else c[torch.randperm(n, device=self.device)]
        z = torch.randn(n, self.G.z_dim, device=self.device)
        # -- D
        with torch.no_grad(), self.rt.autocast():
            fakes = self.G(z, update_w_avg=True, c=c).float()
        d_reals = self.augment(reals, fakes) if isinstance(self.augment, APA) else reals
        do_r1 = self.r1_gamma > 0 and self.steps % self.r1_every == 0
        d_reals = d_reals.detach().requires_grad_(do_r1)
        real_logits = self._d(d_reals, c)
        fake_logits = self._d(fakes, c)
        d_loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        logs = {"d_loss": float(d_loss.detach()), "real_sign": float(torch.sign(real_logits.detach()).mean())}
        if do_r1:
            r1 = r1_penalty(real_logits, d_reals)
            d_loss = d_loss + r1 * (self.r1_gamma / 2) * self.r1_every
            logs["r1"] = float(r1.detach())
        self.opt_d.zero_grad(set_to_none=True)
        self.rt.backward(d_loss, self.opt_d)
        self.rt.step(self.opt_d)
        if self.augment is not None:
            self.augment.observe(self.rt.gather(real_logits.detach()))  # every rank adapts p alike
            logs["p"] = self.augment.p
            if isinstance(self.augment, DiffusionNoise):
                logs["T"] = float(self.augment.T)
        # -- G
        z = torch.randn(n, self.G.z_dim, device=self.device)
        with self.rt.autocast():
            fakes = self.G_train(z, c=c_g).float()
        g_loss = F.softplus(-self._d(fakes, c_g)).mean()
        logs["g_loss"] = float(g_loss.detach())
        if self.pl_weight > 0 and self.steps % self.pl_every == 0:
            m = max(1, n // 2)
            ws = self.G.ws(torch.randn(m, self.G.z_dim, device=self.device),
                           c=None if c_g is None else c_g[:m]).detach().requires_grad_(True)
            pl, self.pl_mean = path_length_penalty(self.G, ws, self.pl_mean)
            g_loss = g_loss + pl * self.pl_weight * self.pl_every
            logs["pl"] = float(pl.detach())
        self.opt_g.zero_grad(set_to_none=True)
        self.rt.backward(g_loss, self.opt_g)
        self.rt.step(self.opt_g)
        self.rt.average_buffers(self.G)  # w_avg follows every rank's latents
        with torch.no_grad():
            for pe, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                pe.lerp_(p, 1 - self.ema_beta)
            for be, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                be.copy_(b)
        self.steps += 1
        return logs


def lianpu_images(count: int, size: int, seed_base: int = 0, by_role: bool = False) -> np.ndarray:
    """``uint8`` ``[N, size, size, 3]`` procedural lianpu (the training set of the demo runs):
    the classic template, or with ``by_role`` design ``i`` of role type ``ROLE_KEYS[i % 9]``
    (:func:`role_labels` gives the labels)."""
    import cv2

    from engine.procedural.lianpu import ROLE_KEYS, generate_lianpu

    out = []
    for i in range(count):
        role = ROLE_KEYS[i % len(ROLE_KEYS)] if by_role else None
        img = generate_lianpu(seed_base + i, size=max(64, size), role=role).image
        out.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) if img.shape[0] != size else img)
    return np.stack(out)


def role_labels(count: int) -> np.ndarray:
    """Class indices of ``lianpu_images(count, …, by_role=True)`` (``i % 9``)."""
    from engine.procedural.lianpu import ROLE_KEYS

    return np.arange(count) % len(ROLE_KEYS)


def balanced_indices(rng: np.random.Generator, labels: np.ndarray, n: int) -> np.ndarray:
    """``n`` sample indices drawing the classes of ``labels`` evenly, then an example of the class."""
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == k) for k in classes]
    picks = rng.integers(0, len(classes), n)
    return np.array([members[k][rng.integers(0, len(members[k]))] for k in picks])


def dev_images(folder: Path, size: int) -> np.ndarray:
    """``uint8`` ``[N, size, size, 3]`` colour lianpu of a folder: on white, padded square, area-resized."""
    import cv2

    from engine.geometry import letterbox
    from engine.imageio import load_image

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    if not files:
        raise ValueError(f"no images in {folder}")
    return np.stack([cv2.resize(letterbox(load_image(f)), (size, size), interpolation=cv2.INTER_AREA)
                     for f in files])


def main(args: argparse.Namespace) -> int:
    """``masquerade train stylegan2``: train on procedural lianpu (+ a dev folder), measure FID/KID/IS."""
    from engine.imageio import save_image
    from engine.metrics.distribution import MetricUnavailable, fid_kid, get_extractor
    from engine.metrics.inception_score import get_classifier, score_images
    from engine.training.loop import TrainConfig, Trainer
    from engine.weights.store import save_checkpoint

    rt = Runtime.create(getattr(args, "device", "auto"), getattr(args, "amp", False))
    torch.set_num_threads(max(1, getattr(args, "threads", 1)))
    torch.manual_seed(args.seed)
    by_role = bool(getattr(args, "by_role", False))
    classes = role_classes() if by_role else ()
    data = lianpu_images(args.images, args.size, by_role=by_role)
    labels = role_labels(args.images) if by_role else np.zeros(args.images, np.int64)
    n_dev = 0
    if getattr(args, "data", None):
        dev = dev_images(Path(args.data), args.size)
        n_dev = len(dev)
        data = np.concatenate([data, dev])
        labels = np.concatenate([labels, np.full(n_dev, classes.index(TRADITIONAL) if by_role else 0)])
    x_all = torch.from_numpy(data).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    tr = StyleGAN2Training(resolution=args.size, aug=args.aug, batch=args.batch,
                           channel_base=getattr(args, "channel_base", 2048), channel_max=getattr(args, "channel_max", 128),
                           aug_kimg=getattr(args, "aug_kimg", 100.0), runtime=rt, num_classes=len(classes))
    rng = rt.rng(args.seed)  # under torchrun every rank draws its own batches
    p_trace: list[float] = []

    def step_fn(step: int) -> dict[str, float]:
        idx = balanced_indices(rng, labels, args.batch) if by_role else rng.integers(0, len(x_all), args.batch)
        reals = x_all[idx]
        flip = torch.from_numpy(rng.random(args.batch) < 0.5)
        reals[flip] = reals[flip].flip(3)
        logs = tr.step(reals, torch.from_numpy(labels[idx]) if by_role else None)
        if "p" in logs:
            p_trace.append(logs["p"])
        return logs

    out = Path(args.run_dir)
    t0 = time.perf_counter()
    limit = getattr(args, "time_limit", None)
    cancel = rt.time_budget(limit)
    done = Trainer(TrainConfig(out_dir=out, steps=args.steps, log_every=10, checkpoint_every=200, seed=args.seed),
                   tr.modules(), {"G": tr.opt_g, "D": tr.opt_d}, step_fn, runtime=rt).run(cancel)
    if not rt.is_main:
        return 0  # rank 0 alone measures and writes the checkpoint, its card and the samples
    from engine.training.cocosnet import logged_train_seconds

    train_s = max(round(time.perf_counter() - t0, 1), logged_train_seconds(out))  # all resumed segments
    p_trace.extend(float(json.loads(line)["p"]) for line in (out / "log.jsonl").read_text().splitlines()
                   if '"p"' in line)
    n_roles = len(classes) - 1  # held-out procedural designs have role labels i % 9

    def sample(count: int, n_classes: int) -> np.ndarray:
        return np.concatenate([tr.G_ema.sample_images(list(range(i, min(i + 32, count))),
                                                      labels=[k % n_classes for k in range(i, min(i + 32, count))]
                                                      if by_role else None) for i in range(0, count, 32)])

    fakes = sample(args.eval_images, n_roles)
    if by_role:  # one row per class, 8 seeds, shown at 2× so a 64² design is readable
        import cv2

        rows = [np.concatenate([cv2.resize(t, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
                                for t in tr.G_ema.sample_images(list(range(8)), labels=[k] * 8)], 1)
                for k in range(len(classes))]
        save_image(out / "samples.png", np.concatenate(rows, 0))
    else:
        save_image(out / "samples.png", np.concatenate([np.concatenate(list(fakes[r * 8:(r + 1) * 8]), 1)
                                                       for r in range(min(4, len(fakes) // 8))], 0))
    metrics: dict[str, float] = {}
    extractor, classifier = "unavailable", "unavailable"
    try:
        ext = get_extractor(args.extractor)
        real_eval = lianpu_images(args.eval_images, args.size, seed_base=1_000_000, by_role=by_role)
        s = fid_kid(list(real_eval), list(fakes), ext)
        metrics = {"fid": round(s.fid, 3), "kid": round(s.kid, 5), "kid_std": round(s.kid_std, 5)}
        extractor = s.extractor
    except MetricUnavailable as exc:
        print(f"FID/KID not measured: {exc}")
    try:
        sc = score_images(list(fakes), get_classifier("domain"))
        metrics.update(inception_score=round(float(sc["is"]), 4), inception_score_std=round(float(sc["is_std"]), 4))
        classifier = str(sc["classifier"])
    except MetricUnavailable as exc:
        print(f"IS not measured: {exc}")
    comparison: dict[str, object] = {}
    keep = getattr(args, "keep_if_better", None)
    if by_role and n_dev:
        comparison = dev_comparison(tr.G_ema, Path(args.data), args.eval_images, len(classes), keep)
        metrics.update({k: v for k, v in comparison.items() if isinstance(v, float)})
    data_desc = (f"{args.images} procedural lianpu at {args.size}², role type i % 9 "
                 "(engine.procedural.lianpu role grammars)" if by_role else
                 f"{args.images} procedural lianpu at {args.size}² (engine.procedural.lianpu)")
    if n_dev:
        data_desc += f" + {n_dev} dev lianpu ({args.data}, on white, padded square)"
    card = save_checkpoint(
        tr.G_ema, args.out, task="opera lianpu generation (StyleGAN2)", input_size=(args.size, args.size),
        training_data=data_desc + ", x-flips", licence="project-generated data and weights; dev lianpu for research use only",
        metrics=metrics,
        extra={"aug": args.aug, "steps": done, "batch": args.batch, "train_s": train_s, **rt.describe(),
               "budget_s": limit, "clock": rt.clock_name,
               **({"classes": list(classes), "conditioning": "class embedding into the mapping network + "
                   "projection discriminator; batches draw the classes evenly", **comparison} if by_role else {}),
               "threads": torch.get_num_threads(), "kimg": round(done * args.batch * rt.world / 1000, 3),
               "extractor": extractor, "is_classifier": classifier,
               "p_final": None if tr.augment is None else round(tr.augment.p, 4),
               "p_max": round(max(p_trace), 4) if p_trace else None,
               "T_final": int(tr.augment.T) if isinstance(tr.augment, DiffusionNoise) else None,
               "aug_kimg": getattr(args, "aug_kimg", 100.0),
               "widths": {"channel_base": getattr(args, "channel_base", 2048), "channel_max": getattr(args, "channel_max", 128)},
               "eval": f"{args.eval_images} G_ema samples (ψ = 1) vs {args.eval_images} held-out procedural lianpu "
                       "(seeds ≥ 1,000,000, never trained on)"})
    print(f"steps {done} in {train_s}s; {metrics} ({extractor}); wrote {card} and {out / 'samples.png'}")
    if keep and comparison.get("better_than_previous"):
        kept = save_checkpoint(tr.G_ema, keep, task="opera lianpu generation by role type (conditional StyleGAN2)",
                               input_size=(args.size, args.size), training_data=data_desc + ", x-flips",
                               licence="project-generated data and weights; dev lianpu for research use only",
                               metrics=metrics, extra={**read_card_extra(card), "kept_over_previous": True})
        print(f"better than the previous checkpoint: wrote {kept}")
    elif keep:
        print(f"not better than the previous checkpoint ({comparison.get('verdict')}): {keep} left as it was")
    return 0


def read_card_extra(card: Path) -> dict[str, object]:
    """The ``extra`` table of a written card (copied to the kept checkpoint's card)."""
    from engine.weights.card import read_card

    return dict(read_card(card).extra)


def dev_comparison(g: Generator, folder: Path, count: int, n_classes: int, previous: str | None) -> dict[str, object]:
    """Fréchet distance on ImageNet EfficientNet-Lite0 features (``fd_effnet_lite0``) of ``count``
    samples of the conditional generator ``g`` (classes drawn evenly, ψ = 1) to the development
    lianpu in ``folder``, beside the same measure of the checkpoint ``previous`` (its own samples,
    unconditional or conditional alike) and of the role-type procedural generator.

    Returns:
        ``fd_effnet_lite0_dev`` (every class), ``fd_effnet_lite0_dev_traditional`` (the dev class
        only), ``previous_fd_effnet_lite0_dev``, ``procedural_fd_effnet_lite0_dev``,
        ``better_than_previous`` and a ``verdict`` sentence.
    """
    from engine.imageio import load_image
    from engine.metrics.distribution import EffNetLite0Extractor, MetricUnavailable, frechet_distance
    from engine.procedural.lianpu import generate_lianpu
    from engine.studios.opera.classical import as_rgb
    from engine.weights.store import load_checkpoint

    try:
        ext = EffNetLite0Extractor()
    except MetricUnavailable as exc:
        return {"verdict": f"not measured: {exc}", "better_than_previous": False}
    real = ext([as_rgb(load_image(p), "lianpu") for p in sorted(folder.iterdir())
                if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")])
    seeds = list(range(count))

    def fd(images: np.ndarray) -> float:
        return round(frechet_distance(real, ext(list(images))), 2)

    def samples(gen: Generator, labels: list[int] | None) -> np.ndarray:
        return np.concatenate([gen.sample_images(seeds[i:i + 32], labels=None if labels is None else labels[i:i + 32])
                               for i in range(0, count, 32)])

    new_fd = fd(samples(g, [k % n_classes for k in seeds]))
    out: dict[str, object] = {
        "dev_eval": f"fd_effnet_lite0 of {count} samples (seeds 0..{count - 1}, ψ = 1) to the {len(real)} dev lianpu",
        "fd_effnet_lite0_dev": new_fd,
        "fd_effnet_lite0_dev_traditional": fd(samples(g, [n_classes - 1] * count)),
        "procedural_fd_effnet_lite0_dev": fd(np.stack([generate_lianpu(s, size=256, role="any").image for s in seeds])),
    }
    prev_fd = None
    if previous is not None and Path(previous).with_suffix(".json").is_file():
        prev, prev_card = load_checkpoint(Path(previous).with_suffix(".json"), device="cpu")
        if not isinstance(prev, Generator):
            raise ValueError(f"{previous}: not a StyleGAN2 generator")
        prev_c = int(prev.c_dim)
        prev_fd = fd(samples(prev.eval(), [k % prev_c for k in seeds] if prev_c else None))
        out["previous"] = f"{previous} ({prev_card.extra.get('steps')} steps, {prev.img_resolution}²)"
        out["previous_fd_effnet_lite0_dev"] = prev_fd
    out["better_than_previous"] = prev_fd is None or new_fd < prev_fd
    out["verdict"] = ("no previous checkpoint" if prev_fd is None else
                      f"{'better' if new_fd < prev_fd else 'not better'}: fd_effnet_lite0 to the dev lianpu "
                      f"{new_fd} vs {prev_fd} (previous)")
    return out


def select_best(cards: list[Path], out: Path, notes: dict | None = None) -> Path:
    """Copy the run with the lowest FID to ``out`` (stem), its card holding the whole comparison table.

    Args:
        cards: cards written by :func:`main` for the same data and extractor (one per mode).
        out: checkpoint stem to write (e.g. ``checkpoints/stylegan2_lianpu``).
        notes: extra facts for the card (e.g. reference FIDs of real sets with the same extractor).

    Raises:
        ValueError: fewer than one measured card, or cards measured with different extractors.
    """
    from engine.weights.card import read_card
    from engine.weights.store import load_checkpoint, save_checkpoint

    rows = []
    for c in cards:
        card = read_card(c)
        if "fid" not in card.metrics:
            raise ValueError(f"{c}: no FID on the card")
        rows.append((c, card))
    if len({card.extra.get("extractor") for _, card in rows}) != 1:
        raise ValueError("the cards were measured with different extractors: their FIDs are not comparable")
    table = [{"aug": card.extra["aug"], "steps": card.extra["steps"], "kimg": card.extra.get("kimg"),
              "train_s": card.extra["train_s"], **card.metrics, "p_final": card.extra.get("p_final"),
              "p_max": card.extra.get("p_max"), "T_final": card.extra.get("T_final")} for _, card in rows]
    best_path, best = min(rows, key=lambda r: r[1].metrics["fid"])
    model, _ = load_checkpoint(best_path, device=str(CPU))
    return save_checkpoint(model, out, task=best.task, input_size=best.input_size, training_data=best.training_data,
                           licence=best.licence, metrics=best.metrics,
                           extra={**best.extra, "selected_from": "lowest FID of the augmentation comparison",
                                  "comparison": table, **(notes or {}),
                                  "comparison_note": ("same data, steps, widths and seed for every mode; FID/KID with "
                                                      "the named domain extractor (not Inception: not comparable with "
                                                      "published numbers); IS with the 7-class domain classifier")})
