"""Training entry of the opera main-colour classifier (:mod:`engine.models.opera_classifier`).

Data: procedural lianpu (:func:`engine.procedural.lianpu.generate_lianpu`) with the main colour
forced to a balanced class and an independent palette seed, augmented on the fly (scale and shift
in the frame, aspect squeeze, mirror, small hue / saturation / brightness jitter, blur) so the
network sees more than one drawing style. No ImageNet weights exist here: the whole ResNet-18 is
trained from scratch (the paper fine-tunes only the last layer of an ImageNet model).

Evaluation: accuracy on held-out procedural designs (seeds never used in training) and — as a
held-out check only, never trained on — on the dev lianpu of ``shared/data/opera/lianpu`` with the
labels a person gave them (the ones the classical classifier's tests use), next to the classical
classifier on the same images. ``auto`` uses the network only when its card says it beat the
classical classifier on both.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.device import CPU
from engine.labels import OPERA_COLOURS
from engine.models.opera_classifier import OperaColourResNet18, square_on_white
from engine.procedural.lianpu import generate_lianpu
from engine.training.loop import Runtime, TrainConfig, Trainer

DEV_LABELS: Mapping[str, str] = {
    "weipeixian_1": "green", "weipeixian_3": "yellow", "weipeixian_5": "blue", "weipeixian_7": "white",
    "xujing_01": "red", "xujing_02": "blue", "xujing_03": "white", "xujing_04": "white",
    "xujing_06": "red", "xujing_07": "red", "xujing_08": "white", "xujing_10": "white",
    "xujing_11": "red", "xujing_12": "white", "xujing_13": "white", "xujing_14": "red",
    "xujing_15": "yellow",
}
"""The main colour a person sees in each dev lianpu (same labels as tests/studios/opera/test_opera_colorize.py;
xujing_05 and xujing_09 are ambiguous and left out)."""

TEST_SEED_BASE = 1_000_000
"""Held-out procedural designs use seeds from here on (training uses seeds below it)."""


def augment(image: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random view of a lianpu on white: scale/shift/squeeze, mirror, colour jitter, blur.

    Args:
        image: ``uint8`` RGB lianpu on white.
        rng: random generator.
        size: output side.

    Returns:
        ``uint8`` ``[size, size, 3]``.
    """
    h, w = image.shape[:2]
    s = rng.uniform(0.7, 1.0)
    sx, sy = s * rng.uniform(0.85, 1.0), s * rng.uniform(0.85, 1.0)
    tx = (1 - sx) * w * rng.uniform(0, 1)
    ty = (1 - sy) * h * rng.uniform(0, 1)
    m = np.array([[sx, 0, tx], [0, sy, ty]], np.float32)
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_AREA, borderValue=(255, 255, 255))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    hsv = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + int(rng.integers(-5, 6))) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.75, 1.15), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.85, 1.1), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.2))
    return square_on_white(out, size)


def procedural_set(count: int, seed_base: int, size: int = 128) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` lianpu with balanced forced main colours; returns (images, labels)."""
    images, labels = [], []
    for i in range(count):
        c = i % len(OPERA_COLOURS)
        d = generate_lianpu(seed_base + i, OPERA_COLOURS[c], size, colour_seed=seed_base + 7919 * i + 13)
        images.append(d.image)
        labels.append(c)
    return images, np.asarray(labels, np.int64)


class AugmentedPool(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """The rendered designs, re-augmented every time one is drawn (:func:`augment`).

    Args:
        images: rendered designs ``uint8`` ``[H, W, 3]``.
        labels: their class indices.
        size: network input side.
        seed: seed of the augmentation streams (each draw also takes a number from torch's
            generator, which a ``DataLoader`` seeds per worker).
    """

    def __init__(self, images: list[np.ndarray], labels: np.ndarray, size: int, seed: int) -> None:
        self.images, self.labels, self.size, self.seed = images, labels, size, seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        draw = int(torch.randint(0, 2**31 - 1, ()).item())
        rng = np.random.default_rng([self.seed, i, draw])
        x = augment(self.images[i], rng, self.size)
        return torch.from_numpy(x).permute(2, 0, 1), int(self.labels[i])  # [3, S, S] uint8


def train(out_dir: Path, steps: int = 150, batch: int = 32, input_size: int = 64, pool: int = 1400,
          lr: float = 2e-3, seed: int = 0, time_limit_s: float | None = None,
          runtime: Runtime | None = None) -> tuple[OperaColourResNet18, dict[str, Any]]:
    """Train the classifier on procedural lianpu (on ``runtime``'s device, one shard per torchrun rank).

    Args:
        out_dir: run folder (logs, resumable state).
        steps: optimisation steps.
        batch: images per step.
        input_size: network input side.
        pool: procedural designs rendered once and re-augmented every step.
        lr: Adam learning rate (cosine decay to 5 %).
        seed: seed of the data and the weights.
        time_limit_s: stop early (state saved) after this many seconds.
        runtime: device, AMP and torchrun rank (:meth:`Runtime.create`; ``None``: the CPU, alone).

    Returns:
        ``(model, summary)`` (the plain module, on the runtime's device).
    """

    rt = runtime or Runtime(device=CPU)
    images, labels = procedural_set(pool, 0)
    model = OperaColourResNet18(num_classes=len(OPERA_COLOURS), input_size=input_size).to(rt.device)
    net = rt.wrap(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    batches = rt.loader(AugmentedPool(images, labels, input_size, seed), batch, seed=seed)
    t0 = time.perf_counter()

    def step_fn(step: int) -> dict[str, float]:
        model.train()
        x, y = batches.next()
        xt = rt.to_device(x).float().div(127.5).sub(1.0)
        y = rt.to_device(y)
        with rt.autocast():
            logits = net(xt)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=0.05)
        opt.zero_grad()
        rt.backward(loss, opt)
        rt.step(opt)
        sched.step()
        return {"loss": float(loss.detach()), "acc": float((logits.argmax(1) == y).float().mean()),
                "lr": float(sched.get_last_lr()[0])}

    cancel = rt.time_budget(time_limit_s)
    trainer = Trainer(TrainConfig(out_dir=out_dir, steps=steps, log_every=10, checkpoint_every=50, seed=seed),
                      {"classifier": model}, {"classifier": opt}, step_fn, runtime=rt)
    start = trainer.resume()
    for _ in range(start):  # the learning-rate schedule continues where the resumed run stopped
        sched.step()
    done = trainer.run(cancel)
    return model.eval(), {"steps": done, "batch": batch * rt.world, "input_size": input_size, "pool": pool,
                          "train_s": round(time.perf_counter() - t0, 1), **rt.describe()}


def accuracy_procedural(model: OperaColourResNet18 | None, count: int = 210) -> float:
    """Accuracy on held-out procedural designs (``model=None``: the classical classifier)."""
    from engine.studios.opera.classical import classify_main_colour

    images, labels = procedural_set(count, TEST_SEED_BASE)
    if model is None:
        pred = np.array([OPERA_COLOURS.index(classify_main_colour(im).colour) for im in images])
    else:
        pred = model.predict_proba(images).argmax(1)
    return float((pred == labels).mean())


def accuracy_dev(model: OperaColourResNet18 | None, folder: Path) -> float | None:
    """Accuracy on the labelled dev lianpu in ``folder`` (``None`` when it is absent)."""
    from engine.imageio import load_image
    from engine.studios.opera.classical import classify_main_colour

    paths = [folder / f"{k}.png" for k in DEV_LABELS if (folder / f"{k}.png").is_file()]
    if not paths:
        return None
    truth = np.array([OPERA_COLOURS.index(DEV_LABELS[p.stem]) for p in paths])
    if model is None:
        pred = np.array([OPERA_COLOURS.index(classify_main_colour(load_image(p)).colour) for p in paths])
    else:
        pred = model.predict_proba([load_image(p) for p in paths]).argmax(1)
    return float((pred == truth).mean())


def evaluate_and_save(model: OperaColourResNet18, summary: Mapping[str, Any], out: Path,
                      dev: Path | None) -> tuple[Path, dict[str, float], bool]:
    """Round the weights to float16 (the stored precision), measure them, write checkpoint + card.

    Args:
        model: the trained classifier.
        summary: training facts from :func:`train` (written to the card).
        out: checkpoint stem.
        dev: labelled dev lianpu folder for the held-out check, or ``None``.

    Returns:
        ``(card path, metrics, better_than_classical)``.
    """
    from engine.weights.store import save_checkpoint

    model = model.half().float().eval()  # evaluate exactly what is stored
    metrics: dict[str, float] = {
        "procedural_accuracy": round(accuracy_procedural(model), 4),
        "classical_procedural_accuracy": round(accuracy_procedural(None), 4),
    }
    if dev is not None:
        d_l, d_c = accuracy_dev(model, dev), accuracy_dev(None, dev)
        if d_l is not None and d_c is not None:
            metrics["dev_accuracy"] = round(d_l, 4)
            metrics["classical_dev_accuracy"] = round(d_c, 4)
    better = (metrics["procedural_accuracy"] > metrics["classical_procedural_accuracy"]
              and "dev_accuracy" in metrics and metrics["dev_accuracy"] > metrics["classical_dev_accuracy"])
    size = int(summary["input_size"])
    card = save_checkpoint(
        model.half(), out, task="opera main-colour classification (7 classes); domain features for FID/KID",
        input_size=(size, size),
        training_data=(f"{summary['pool']} procedural lianpu (engine.procedural.lianpu, seeds 0..{int(summary['pool']) - 1}, "
                       "balanced forced main colours), random scale/shift/squeeze/mirror/hue-saturation-value/blur "
                       "augmentation; no pretrained weights (torchvision resnet18(weights=None), trained from scratch)"),
        licence="project-generated data and weights (same licence as the project)",
        metrics=metrics,
        extra={"better_than_classical": better, "train": dict(summary), "stored_dtype": "float16",
               "evaluation": (f"procedural: 210 held-out designs (seeds from {TEST_SEED_BASE}, 30 per class); "
                              f"dev: {len(DEV_LABELS)} labelled lianpu of shared/data/opera/lianpu (never trained on)")})
    model.float()
    return card, metrics, better


def main(args: argparse.Namespace) -> int:
    """``masquerade train opera-classifier``: train, evaluate against the classical classifier, save."""
    rt = Runtime.create(getattr(args, "device", "auto"), getattr(args, "amp", False))
    model, summary = train(Path(args.run_dir), steps=args.steps, batch=args.batch, input_size=args.size,
                           pool=args.pool, seed=args.seed, time_limit_s=args.time_limit, runtime=rt)
    if not rt.is_main:
        return 0  # rank 0 alone measures and writes the checkpoint and its card
    card, metrics, better = evaluate_and_save(model, summary, Path(args.out), Path(args.dev) if args.dev else None)
    print(f"metrics {metrics}\nbetter than classical: {better}\nwrote {card}")
    return 0
