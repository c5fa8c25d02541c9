"""Training entry of the anime expression GAN (:mod:`engine.models.expression_gan`).

Data: procedural anime faces (:mod:`engine.procedural.anime_faces`, project-drawn, so the labels are
exact and the data is unlimited), drawn once into an ``.npz`` cache in the run folder. Each training
seed is drawn with :data:`VIEWS_PER_SEED` random expressions (neutral, one label, or two labels
mixed); label vectors are distributions over :data:`~engine.models.expression_gan.LABELS`.

Three networks are trained, in order:

1. the **features of the contextual loss**: the paper reads VGG-19; here ImageNet EfficientNet-Lite0
   (its weights ship with the requirements, :mod:`engine.nn.features`; mid-level taps, strides 8 and
   16), or VGG-19 relu3_2/relu4_2 from a user-imported file (``loss_features="vgg19"``). Only when no
   ImageNet file is present a small :class:`ExpressionClassifier` (init seed ``seed + 1``, half the
   judge's steps) is trained and its mid-level features stand in;
2. a **judge** (:class:`ExpressionClassifier`, init seed ``seed + 2``) that only measures results;
3. the **GAN**, StarGAN-style: a random training face, a random target label vector; the critic
   step uses WGAN-GP (``λ_gp``) + classification of real faces (``λ_cls``); the generator step uses
   the adversarial term + classification of fakes (``λ_cls``) + the contextual loss to the input
   (``λ_cx = 0.1``), plus two terms that are **not** in the paper and are recorded on the card:
   an attention-mask sparsity/smoothness term (``λ_mask``, as in GANimation) and, because the
   generator can draw the same identity with the target expression for free, an L1 pull towards
   that paired target (``λ_pair``; 0 gives the paper's unpaired objective).

Evaluation on held-out seeds (never drawn for training): every neutral face is edited to each of
the four labels at 1.0 by the GAN (at the training size) and by the classical rig (at 4× the size,
area-downsampled); the judge classifies the results. Identity = mean absolute difference to the
input weighted by ``1 − M`` (0–255 units; the rig's is 0 by construction outside its regions).
The judge's own accuracy on held-out drawn faces is reported beside. :func:`is_better` on these
numbers is written to the card's verdict, and ``auto`` in the studio uses the GAN only when that
verdict says better.

Devices (``--device``, ``--amp``, torchrun): :func:`train_gan` runs on a
:class:`~engine.training.loop.Runtime` — generator, critic and contextual features on its device,
DDP-wrapped copies trained under torchrun (each rank draws its own batches), forward passes under
autocast. The classifiers train on the same device (one process each; the judge on rank 0 only).
Rank 0 builds the data cache before the other ranks read it, and alone evaluates and writes the
checkpoints and their cards; evaluation follows the networks' devices.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.device import CPU, module_device
from engine.labels import EXPRESSION_LABELS
from engine.models.expression_gan import (
    LABELS,
    ExpressionClassifier,
    ExpressionDiscriminator,
    ExpressionGenerator,
    label_vector,
)
from engine.nn.features import ImageNetFeatures
from engine.nn.losses import contextual_loss, gradient_penalty, soft_cross_entropy
from engine.procedural.anime_faces import generate_anime_face
from engine.training.loop import Runtime, TrainConfig, Trainer

VIEWS_PER_SEED = 3
"""Expressions drawn per training identity (pairs for the optional paired term come from these)."""
EVAL_SEED_BASE = 900_000
"""Held-out identities start here; training seeds are ``0 .. n_seeds − 1``."""
MIN_ACCURACY_GAIN = 0.05
"""The GAN must beat the rig's judged accuracy by at least this much ..."""
MAX_IDENTITY_DIFF = 3.0
"""... while changing pixels outside its mask by at most this mean (0–255) to be "better"."""


def random_expression(rng: np.random.Generator) -> np.ndarray:
    """Random slider weights ``[4]``: 20 % neutral, 60 % one label (0.6–1), 20 % two labels mixed."""
    w = np.zeros(len(EXPRESSION_LABELS))
    r = rng.random()
    if r < 0.2:
        return w
    if r < 0.8:
        w[int(rng.integers(len(w)))] = rng.uniform(0.6, 1.0)
        return w
    i, j = rng.choice(len(w), 2, replace=False)
    w[i] = rng.uniform(0.5, 0.9)
    w[j] = rng.uniform(0.1, 1.0 - w[i])
    return w


def _label(w: np.ndarray) -> np.ndarray:
    return label_vector(w.tolist()).numpy()


def build_dataset(n_seeds: int, size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Draw ``n_seeds`` identities × :data:`VIEWS_PER_SEED` random expressions.

    Returns:
        ``images`` ``uint8`` ``[n_seeds, V, S, S, 3]`` and ``labels`` ``float32`` ``[n_seeds, V, 5]``.
    """
    rng = np.random.default_rng(seed)
    images = np.zeros((n_seeds, VIEWS_PER_SEED, size, size, 3), np.uint8)
    labels = np.zeros((n_seeds, VIEWS_PER_SEED, len(LABELS)), np.float32)
    for s in range(n_seeds):
        for v in range(VIEWS_PER_SEED):
            w = random_expression(rng)
            images[s, v] = generate_anime_face(s, size, dict(zip(EXPRESSION_LABELS, map(float, w), strict=True))).image
            labels[s, v] = _label(w)
    return {"images": images, "labels": labels}


def load_or_build(cache: Path, n_seeds: int, size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """:func:`build_dataset` cached in ``cache`` (``.npz``, no pickles; rebuilt if the shape differs)."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        if data["images"].shape[:1] + data["images"].shape[2:4] == (n_seeds, size, size):
            return data
    data = build_dataset(n_seeds, size, seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".partial.npz")
    np.savez(tmp, **cast(dict[str, Any], data))
    tmp.replace(cache)
    return data


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8`` ``[N, S, S, 3]`` → ``float32`` ``[N, 3, S, S]`` in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``[N, 3, S, S]`` in [-1, 1] → ``uint8`` ``[N, S, S, 3]``."""
    return ((x.detach().clamp(-1, 1) + 1) * 127.5 + 0.5).permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()


# -- classifier ------------------------------------------------------------------------------------

def train_classifier(data: dict[str, np.ndarray], steps: int = 300, batch: int = 32, width: int = 16,
                     seed: int = 0, lr: float = 1e-3, device: torch.device = CPU) -> ExpressionClassifier:
    """Train an :class:`ExpressionClassifier` on the drawn faces (soft labels, horizontal flips), on ``device``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = data["images"].reshape((-1,) + data["images"].shape[2:])
    labels = data["labels"].reshape(-1, len(LABELS))
    model = ExpressionClassifier(width=width, image_size=images.shape[1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in range(steps):
        idx = rng.integers(0, len(images), batch)
        x = to_tensor(images[idx])
        flip = torch.from_numpy(rng.random(batch) < 0.5)
        x[flip] = x[flip].flip(3)
        loss = soft_cross_entropy(model(x.to(device)), torch.from_numpy(labels[idx]).to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def classify(model: ExpressionClassifier, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """Predicted label indices (:data:`LABELS`) of ``uint8`` images ``[N, S, S, 3]`` (on the model's device)."""
    dev = module_device(model)
    out = [model(to_tensor(images[i:i + batch]).to(dev)).argmax(1).cpu().numpy() for i in range(0, len(images), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


# -- GAN -------------------------------------------------------------------------------------------

def contextual_term(feature_net: ExpressionClassifier | ImageNetFeatures, fake: torch.Tensor,
                    source: torch.Tensor, runtime: Runtime | None = None) -> torch.Tensor:
    """Contextual loss between the generated faces and their inputs on ``feature_net``'s features.

    Args:
        feature_net: frozen ImageNet features (the mean over their contextual taps) or the
            fallback expression classifier (its mid-level features).
        fake: generated faces ``[N, 3, H, W]`` in [-1, 1].
        source: the input faces, same shape (their features are taken without gradient).
        runtime: the features are taken under its autocast (``--amp``); the loss itself in float32.

    Returns:
        Scalar loss.
    """
    amp = runtime.autocast() if runtime is not None else contextlib.nullcontext()
    if isinstance(feature_net, ImageNetFeatures):
        layers = feature_net.contextual_layers
        with amp:
            with torch.no_grad():
                target = [f.float() for f in feature_net(source, layers)]
            ours = [f.float() for f in feature_net(fake, layers)]
        return torch.stack([contextual_loss(a, b) for a, b in zip(ours, target, strict=True)]).mean()
    with amp:
        a, b = feature_net.features(fake).float(), feature_net.features(source).float()
    return contextual_loss(a, b)


def train_gan(data: dict[str, np.ndarray], feature_net: ExpressionClassifier | ImageNetFeatures, out_dir: Path,
              steps: int = 600,
              batch: int = 16, width: int = 16, code_dim: int = 128, attention_width: int = 16,
              lr: float = 2e-4, n_critic: int = 1, lambda_adv: float = 1.0, lambda_gp: float = 10.0,
              lambda_cls: float = 1.0,
              lambda_cx: float = 0.1, lambda_mask: float = 0.02, lambda_pair: float = 10.0,
              seed: int = 0,
              runtime: Runtime | None = None) -> tuple[ExpressionGenerator, ExpressionDiscriminator, dict[str, Any]]:
    """Train generator and critic with the shared loop (JSONL logs, resumable state in ``out_dir``).

    Args:
        data: from :func:`build_dataset`.
        feature_net: frozen ImageNet features (or the fallback classifier) of the contextual loss.
        out_dir: run folder.
        steps: critic steps (the generator steps every ``n_critic``).
        batch: faces per step.
        width: generator/critic base width.
        code_dim: mapping-network width (the paper: 512).
        attention_width: attention-network width.
        lr: Adam learning rate (β = 0.5, 0.999).
        n_critic: critic steps per generator step.
        lambda_adv: weight of the generator's adversarial term (the paper: 1).
        lambda_gp, lambda_cls, lambda_cx: the paper's weights.
        lambda_mask: attention sparsity + smoothness weight (addition, GANimation-style).
        lambda_pair: L1 pull towards the drawn target expression (addition; 0 = unpaired).
        seed: sampling and init seed.
        runtime: device, ``--amp`` and torchrun rank (:class:`~engine.training.loop.Runtime`;
            DDP-wrapped training copies, per-rank batches, rank 0 alone writes); ``None``: one fp32
            process on the CPU. ``feature_net`` is moved to its device.

    Returns:
        ``(generator, critic, summary)`` (plain modules on the runtime's device).
    """
    images, labels = data["images"], data["labels"]
    n, v = images.shape[:2]
    size = images.shape[2]
    rt = runtime or Runtime(device=CPU)
    dev = rt.device
    rng = rt.rng(seed)  # under torchrun every rank draws its own batches
    torch.manual_seed(seed)
    g = ExpressionGenerator(width=width, code_dim=code_dim, attention_width=attention_width).to(dev)
    d = ExpressionDiscriminator(image_size=size, width=width).to(dev)
    g_train, d_train = rt.wrap(g), rt.wrap(d)  # DDP under torchrun
    for p in feature_net.parameters():
        p.requires_grad_(False)
    feature_net.to(dev).eval()
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))

    def sample() -> tuple[torch.Tensor, ...]:
        s = rng.integers(0, n, batch)
        a = rng.integers(0, v, batch)
        b = (a + rng.integers(1, v, batch)) % v  # a different drawn expression of the same face
        x, y_true = to_tensor(images[s, a]), to_tensor(images[s, b])
        flip = torch.from_numpy(rng.random(batch) < 0.5)
        x[flip], y_true[flip] = x[flip].flip(3), y_true[flip].flip(3)
        return tuple(rt.to_device(t) for t in (x, torch.from_numpy(labels[s, a]), torch.from_numpy(labels[s, b]),
                                               y_true))

    def step_fn(step: int) -> dict[str, float]:
        x, c_src, c_trg, y_true = sample()
        with torch.no_grad(), rt.autocast():
            fake = g_train(x, c_trg)[0].float()
        with rt.autocast():
            real_patch, real_cls = (t.float() for t in d_train(x))
            fake_patch = d_train(fake)[0].float()
        d_adv = fake_patch.mean() - real_patch.mean()
        d_cls = soft_cross_entropy(real_cls, c_src)
        d_loss = d_adv + lambda_gp * gradient_penalty(d_train, x, fake) + lambda_cls * d_cls  # the penalty in fp32
        opt_d.zero_grad()
        rt.backward(d_loss, opt_d)
        rt.step(opt_d)
        logs = {"d_loss": float(d_loss.detach()), "d_adv": float(d_adv.detach()), "d_cls": float(d_cls.detach())}
        if step % n_critic:
            return logs
        with rt.autocast():
            fake, _, m = (t.float() for t in g_train(x, c_trg))
            fake_patch, fake_cls = (t.float() for t in d_train(fake))
        g_adv = -fake_patch.mean()
        g_cls = soft_cross_entropy(fake_cls, c_trg)
        g_cx = contextual_term(feature_net, fake, x, rt)
        tv = (m[:, :, 1:] - m[:, :, :-1]).abs().mean() + (m[:, :, :, 1:] - m[:, :, :, :-1]).abs().mean()
        g_mask = m.mean() + tv
        g_loss = lambda_adv * g_adv + lambda_cls * g_cls + lambda_cx * g_cx + lambda_mask * g_mask
        if lambda_pair > 0:
            g_pair = F.l1_loss(fake, y_true)
            g_loss = g_loss + lambda_pair * g_pair
            logs["g_pair"] = float(g_pair.detach())
        opt_g.zero_grad()
        rt.backward(g_loss, opt_g)
        rt.step(opt_g)
        logs.update(g_adv=float(g_adv.detach()), g_cls=float(g_cls.detach()), g_cx=float(g_cx.detach()),
                    mask_mean=float(m.mean().detach()))
        return logs

    cfg = TrainConfig(out_dir=out_dir, steps=steps, log_every=10, checkpoint_every=200, seed=seed)
    trainer = Trainer(cfg, {"generator": g, "critic": d}, {"generator": opt_g, "critic": opt_d}, step_fn, runtime=rt)
    t0 = time.perf_counter()
    done = trainer.run()
    summary = {"steps": done, "batch": batch * rt.world, **rt.describe(), "n_critic": n_critic, "train_s": round(time.perf_counter() - t0, 1),
               "identities": int(n), "images": int(n * v), "size": int(size),
               "lambdas": {"adv": lambda_adv, "gp": lambda_gp, "cls": lambda_cls, "cx": lambda_cx, "mask": lambda_mask,
                           "pair": lambda_pair}}
    return g.eval(), d.eval(), summary


# -- evaluation --------------------------------------------------------------------------------------

def held_out_faces(n: int, size: int, rig_scale: int = 4) -> list[tuple[Any, Any]]:
    """``n`` held-out neutral identities as ``(face at size, face at size·rig_scale)``."""
    return [(generate_anime_face(EVAL_SEED_BASE + i, size), generate_anime_face(EVAL_SEED_BASE + i, size * rig_scale))
            for i in range(n)]


def evaluate(generator: ExpressionGenerator, judge: ExpressionClassifier, n_faces: int = 40, size: int = 64,
             rig_scale: int = 4) -> dict[str, Any]:
    """Judge GAN and rig edits (and the drawn targets) on held-out faces; see the module docstring.

    The GAN and the judge run on the devices their weights are on.

    Returns:
        Metrics: ``gan_accuracy``, ``rig_accuracy``, ``drawn_target_accuracy``, per-label
        accuracies, ``gan_identity_diff`` / ``rig_identity_diff`` (0–255), ``gan_mask_mean``,
        ``judge_heldout_accuracy`` (random drawn expressions), ``faces``.
    """
    from engine.studios.expression.classical import apply_rig
    from engine.studios.expression.editor import parts_from_generated
    from engine.studios.expression.params import ExpressionParams

    faces = held_out_faces(n_faces, size, rig_scale)
    gan_pred, rig_pred, drawn_pred, target = [], [], [], []
    id_num = id_den = rig_num = rig_den = mask_sum = 0.0
    srcs = np.stack([f.image for f, _ in faces])
    dev = module_device(generator)
    x = to_tensor(srcs).to(dev)
    for li, name in enumerate(EXPRESSION_LABELS):
        w = np.zeros(len(EXPRESSION_LABELS))
        w[li] = 1.0
        c = label_vector(w.tolist())[None].expand(len(faces), -1).to(dev)
        with torch.no_grad():
            y_star, _, m = generator(x, c)
        out = to_uint8(y_star)
        keep = (1 - m[:, 0]).cpu().numpy()
        diff = np.abs(out.astype(np.float32) - srcs.astype(np.float32)).mean(-1)
        id_num += float((keep * diff).sum())
        id_den += float(keep.sum())
        mask_sum += float(m.mean()) * len(faces)
        gan_pred.append(classify(judge, out))
        rigs = []
        for small, big in faces:
            res, _, weight = apply_rig(big.image, parts_from_generated(big), ExpressionParams(**{name: 1.0}))
            r = cv2.resize(res, (size, size), interpolation=cv2.INTER_AREA)
            k = 1 - cv2.resize(weight, (size, size), interpolation=cv2.INTER_AREA)
            rig_num += float((k * np.abs(r.astype(np.float32) - small.image.astype(np.float32)).mean(-1)).sum())
            rig_den += float(k.sum())
            rigs.append(r)
        rig_pred.append(classify(judge, np.stack(rigs)))
        drawn = np.stack([generate_anime_face(EVAL_SEED_BASE + i, size, {name: 1.0}).image for i in range(n_faces)])
        drawn_pred.append(classify(judge, drawn))
        target.append(np.full(n_faces, li))
    tg, gp, rp, dp = (np.concatenate(a) for a in (target, gan_pred, rig_pred, drawn_pred))
    rng = np.random.default_rng(7)
    ws = [random_expression(rng) for _ in range(4 * n_faces)]
    imgs = np.stack([generate_anime_face(EVAL_SEED_BASE + 10_000 + i, size, dict(zip(EXPRESSION_LABELS, map(float, w), strict=True))).image
                     for i, w in enumerate(ws)])
    truth = np.array([int(np.argmax(_label(w))) for w in ws])
    return {
        "faces": n_faces,
        "gan_accuracy": round(float((gp == tg).mean()), 4),
        "rig_accuracy": round(float((rp == tg).mean()), 4),
        "drawn_target_accuracy": round(float((dp == tg).mean()), 4),
        **{f"gan_accuracy_{n}": round(float((gp[tg == i] == i).mean()), 4) for i, n in enumerate(EXPRESSION_LABELS)},
        **{f"rig_accuracy_{n}": round(float((rp[tg == i] == i).mean()), 4) for i, n in enumerate(EXPRESSION_LABELS)},
        "gan_identity_diff": round(id_num / max(id_den, 1e-9), 3),
        "rig_identity_diff": round(rig_num / max(rig_den, 1e-9), 3),
        "gan_mask_mean": round(mask_sum / (len(EXPRESSION_LABELS) * n_faces), 4),
        "judge_heldout_accuracy": round(float((classify(judge, imgs) == truth).mean()), 4),
    }


def is_better(metrics: dict[str, float]) -> bool:
    """The GAN counts as better than the rig when the judge accepts clearly more of its edits
    (≥ :data:`MIN_ACCURACY_GAIN`) and it keeps identity outside its mask (≤ :data:`MAX_IDENTITY_DIFF`)."""
    return (metrics["gan_accuracy"] >= metrics["rig_accuracy"] + MIN_ACCURACY_GAIN
            and metrics["gan_identity_diff"] <= MAX_IDENTITY_DIFF)


def verdict(metrics: dict[str, Any], better: bool) -> str:
    """One human-readable line for the card: who wins on the judged measurement and what ``auto`` does."""
    head = (f"the judge accepts {metrics['gan_accuracy']:.0%} of the GAN's edits and {metrics['rig_accuracy']:.0%} of "
            f"the rig's (drawn targets: {metrics['drawn_target_accuracy']:.0%})")
    if better:
        return head + "; the GAN measured better, so auto uses it"
    return head + "; the GAN did not measure better, so auto keeps the classical rig"


def real_set_accuracy(judge: ExpressionClassifier, root: Path, size: int) -> dict[str, Any] | None:
    """Judge accuracy on the real greyscale crops (folders angry/happy→smile/sad/surprised/neutral)."""
    from engine.imageio import load_image

    names = {"angry": 0, "sad": 1, "happy": 2, "surprised": 3, "neutral": 4}
    imgs, truth = [], []
    for folder, idx in names.items():
        for p in sorted((root / folder).glob("*.png")) if (root / folder).is_dir() else []:
            imgs.append(cv2.resize(load_image(p), (size, size), interpolation=cv2.INTER_AREA))
            truth.append(idx)
    if not imgs:
        return None
    pred = classify(judge, np.stack(imgs))
    return {"images": len(imgs), "accuracy": round(float((pred == np.array(truth)).mean()), 4),
            "chance_majority": round(float(np.mean(np.array(truth) == np.bincount(truth).argmax())), 4)}


def loss_features(data: dict[str, np.ndarray], kind: str, classifier_steps: int,
                  seed: int, device: torch.device = CPU) -> tuple[ExpressionClassifier | ImageNetFeatures, str]:
    """The contextual loss's feature network and a sentence for the card.

    Args:
        data: from :func:`build_dataset` (trains the fallback classifier when needed).
        kind: ``"auto"`` (EfficientNet-Lite0, else a local VGG-19, else the fallback classifier),
            ``"efficientnet_lite0"`` or ``"vgg19"``.
        classifier_steps: the judge's steps (the fallback gets half).
        seed: the run's seed (the fallback's init seed is ``seed + 1``).
        device: where the network goes (the fallback is trained there).

    Returns:
        ``(network, description)``.

    Raises:
        CheckpointError: an explicitly requested network cannot be loaded.
    """
    from engine.errors import CheckpointError
    from engine.weights.catalog import load_imagenet_features

    try:
        feats = load_imagenet_features(kind, value_range="[-1,1]").to(device)
        return feats, f"{feats.name}, taps {', '.join(feats.contextual_layers)} (ImageNet-pretrained)"
    except CheckpointError as exc:
        if kind != "auto":
            raise
        why = str(exc)
    net = train_classifier(data, steps=max(1, classifier_steps // 2), seed=seed + 1, device=device)
    return net, (f"no ImageNet features ({why}): features of a small expression classifier trained on procedural "
                 "labels (2 conv blocks, init seed differs from the judge)")


def main(args: argparse.Namespace) -> int:
    """``masquerade train expression-gan``: data, feature net, judge, GAN, evaluation, checkpoints + cards."""
    from engine.weights.card import Verdict
    from engine.weights.store import save_checkpoint

    torch.set_num_threads(max(1, args.threads))
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    run = Path(args.run_dir)
    size = args.size
    rt = Runtime.create(getattr(args, "device", "auto"), getattr(args, "amp", False))
    if not rt.is_main:
        rt.barrier()  # under torchrun rank 0 builds the data cache, the others then read it
    data = load_or_build(run / f"data_{size}.npz", args.seeds, size)
    if rt.is_main:
        rt.barrier()
        print(f"data: {data['images'].shape[0]} identities × {VIEWS_PER_SEED} expressions at {size}² "
              f"({time.perf_counter() - t_start:.0f} s)")
    feature_net, contextual_features = loss_features(data, getattr(args, "loss_features", "auto"),
                                                     args.classifier_steps, args.seed, device=rt.device)
    if rt.is_main:  # the judge only measures: rank 0 alone trains it
        judge = train_classifier(data, steps=args.classifier_steps, seed=args.seed + 2, device=rt.device)
        print(f"classifiers trained ({time.perf_counter() - t_start:.0f} s)")
    g, _, summary = train_gan(data, feature_net, run, steps=args.steps, batch=args.batch, width=args.width,
                              code_dim=args.code_dim, lambda_pair=args.pair_weight, lambda_mask=args.mask_weight,
                              lambda_adv=args.adv_weight,
                              seed=args.seed, runtime=rt)
    if not rt.is_main:
        return 0  # rank 0 alone measures and writes the checkpoints and their cards
    print(f"GAN trained: {summary['steps']} steps in {summary['train_s']} s")
    metrics = evaluate(g, judge, n_faces=args.eval_faces, size=size)
    better = is_better(metrics)
    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "anime" / "emotions"
    real = real_set_accuracy(judge, shared, size) if shared.is_dir() else None
    data_text = (f"{summary['identities']} procedural anime identities × {VIEWS_PER_SEED} random expressions "
                 f"(engine.procedural.anime_faces, seeds 0..{summary['identities'] - 1}) at {size}²")
    judge_card = save_checkpoint(
        judge, Path(args.out).with_name("expression_judge"), task="expression judge (classifies anime-face expressions)",
        input_size=(size, size), training_data=data_text, licence="project-owned (weights and procedural data)",
        metrics={"heldout_accuracy": metrics["judge_heldout_accuracy"],
                 "drawn_target_accuracy": metrics["drawn_target_accuracy"]},
        extra={"labels": list(LABELS), "steps": args.classifier_steps, "real_greyscale_set": real,
               "evaluation": f"held-out procedural seeds from {EVAL_SEED_BASE}"})
    card = save_checkpoint(
        g, args.out, task="expression (anime faces, label sliders)", input_size=(size, size),
        training_data=data_text + "; paired L1 to the drawn target expression "
                                  f"(λ_pair = {args.pair_weight}, not in the paper) besides the paper's losses",
        licence="project-owned (weights and procedural data)", metrics=metrics,
        verdict=Verdict("classical", "judge classifier acceptance of edits on held-out procedural anime faces "
                                     "(gan_accuracy vs rig_accuracy) and change outside the attention mask", better),
        extra={"better_than_classical": better, "verdict": verdict(metrics, better), "train": summary,
               "labels": list(LABELS),
               "contextual_features": contextual_features,
               "judge": judge_card.name, "real_greyscale_set": real,
               "rule": f"better = gan_accuracy ≥ rig_accuracy + {MIN_ACCURACY_GAIN} and gan_identity_diff ≤ "
                       f"{MAX_IDENTITY_DIFF} (0–255)",
               "evaluation": (f"{args.eval_faces} held-out neutral identities (seeds {EVAL_SEED_BASE}+) edited to each "
                              f"label at 1.0; GAN at {size}², rig at {4 * size}² area-downsampled; the judge classifies "
                              "both; identity = mean |result − input| weighted by 1 − M"),
               "total_wall_s": round(time.perf_counter() - t_start, 1),
               "total_cpu_s": round(time.process_time() - cpu_start, 1)})
    print(f"metrics {metrics}\nreal greyscale set {real}\nbetter than classical: {better}\n"
          f"wrote {card} and {judge_card} ({time.perf_counter() - t_start:.0f} s total)")
    return 0
