"""``python -m bench.gpu [--out bench/results-gpu.json]``: the learned models on a CUDA GPU.

For each learned model at 256² (the expression GAN at 128²): training steps/s and images/s at batch
8 and 32, in fp32 and with AMP (bf16 where the GPU supports it, else fp16 with a gradient scaler),
peak GPU memory, and inference milliseconds per image. A training step is the model's generator
(or classifier) forward + backward + Adam step, and for GANs the discriminator on a real and a
fake batch with its own backward + Adam step; gradient penalties and perceptual terms are left out,
so the numbers are an upper bound of each entry's full step. StyleGAN2 runs its real training step
(:class:`engine.training.stylegan2.StyleGAN2Training`, lazy R1 included) and also reports seconds
per thousand images (s/kimg), the unit of stylegan2-ada's published V100 table.

Without CUDA it prints one line saying so and exits 0 (nothing is written).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.device import autocast, needs_grad_scaler, parse_device

BATCHES: tuple[int, ...] = (8, 32)
SIDE: int = 256
EXPRESSION_SIDE: int = 128

# a model under test: (generator or classifier, discriminator or None, inputs(n) -> (g_args, real, d_cond))
Inputs = Callable[[int], tuple[tuple[Any, ...], torch.Tensor, torch.Tensor | None]]


def _first(out: Any) -> torch.Tensor:
    """The image (or logits) of a model's output: a tensor, the first of a tuple, ``["image"]`` of a dict."""
    if isinstance(out, dict):
        return out["image"]
    if isinstance(out, (tuple, list)):
        return _first(out[0])
    return out


def _score(out: Any) -> torch.Tensor:
    """A discriminator's outputs (tensor, tuple, nested lists of multi-scale maps) as one mean score."""
    if isinstance(out, torch.Tensor):
        return out.float().mean()
    parts = [_score(o) for o in out if o is not None]
    return torch.stack(parts).mean()


def build_models(dev: torch.device) -> dict[str, tuple[nn.Module, nn.Module | None, Inputs, int]]:
    """Every learned model with the widths of its training entry's defaults and a random-input builder."""
    from engine.models.cocosnet import CoCosNet, PatchDiscriminator
    from engine.models.expression_gan import LABELS, ExpressionDiscriminator, ExpressionGenerator
    from engine.models.makeup_gan import MakeupCritic, MakeupGenerator
    from engine.models.maskwear_stn import MaskWearGenerator
    from engine.models.opera_classifier import OperaColourResNet18
    from engine.models.regen import NUM_LABELS, MultiscaleDiscriminator, RegenGenerator

    s, e = SIDE, EXPRESSION_SIDE

    def img(n: int, side: int = s, c: int = 3) -> torch.Tensor:
        return torch.rand(n, c, side, side, device=dev) * 2 - 1

    def seg(n: int) -> torch.Tensor:
        lab = torch.randint(0, NUM_LABELS, (n, s, s), device=dev)
        return F.one_hot(lab, NUM_LABELS).permute(0, 3, 1, 2).float()

    mk = MakeupGenerator(width=16)

    def makeup_in(n: int) -> tuple[tuple[Any, ...], torch.Tensor, None]:
        cond = mk.condition(torch.zeros(n, dtype=torch.long, device=dev), torch.ones(n, 4, device=dev),
                            torch.zeros(n, dtype=torch.long, device=dev), None)
        return (img(n), cond), img(n), None

    def regen_in(n: int) -> tuple[tuple[Any, ...], torch.Tensor, torch.Tensor]:
        sg = seg(n)
        return (sg, img(n), sg), img(n), sg

    def cocos_in(n: int) -> tuple[tuple[Any, ...], torch.Tensor, torch.Tensor]:
        sk = img(n, c=1)
        return (sk, img(n)), img(n), sk

    labels = lambda n: torch.rand(n, len(LABELS), device=dev)  # noqa: E731 - one-line input builder
    return {
        "cocosnet": (CoCosNet(width=16), PatchDiscriminator(width=16), cocos_in, s),
        "regen": (RegenGenerator(width=16, style_dim=32), MultiscaleDiscriminator(width=16), regen_in, s),
        "makeup_gan": (mk, MakeupCritic(width=16, depth=3), makeup_in, s),
        "expression_gan": (ExpressionGenerator(width=16, code_dim=128), ExpressionDiscriminator(image_size=e, width=16),
                           lambda n: ((img(n, e), labels(n)), img(n, e), None), e),
        "maskwear_stn": (MaskWearGenerator(in_channels=7, width=16), None, lambda n: ((img(n, c=7),), img(n), None), s),
        "opera_classifier": (OperaColourResNet18(num_classes=7, input_size=s), None,
                             lambda n: ((img(n),), img(n), None), s),
    }


def _time_steps(step: Callable[[], None], dev: torch.device, warmup: int = 3, seconds: float = 3.0,
                max_steps: int = 50) -> float:
    """Seconds per call of ``step`` after ``warmup`` calls (CUDA synchronised)."""
    for _ in range(warmup):
        step()
    torch.cuda.synchronize(dev)
    n, t0 = 0, time.perf_counter()
    while n < max_steps and (n < 3 or time.perf_counter() - t0 < seconds):
        step()
        n += 1
    torch.cuda.synchronize(dev)
    return (time.perf_counter() - t0) / n


def bench_model(name: str, g: nn.Module, d: nn.Module | None, inputs: Inputs, dev: torch.device,
                batch: int, amp: bool) -> dict[str, Any]:
    """One model, one batch size, one precision: training steps/s, images/s, peak memory."""
    g, d = g.to(dev).train(), (d.to(dev).train() if d is not None else None)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-4) if d is not None else None
    scaler = torch.amp.GradScaler(dev.type, enabled=needs_grad_scaler(dev, amp))
    args, real, dcond = inputs(batch)

    def d_call(x: torch.Tensor) -> Any:
        assert d is not None
        return d(dcond, x) if dcond is not None else d(x)

    def step() -> None:
        with autocast(dev, amp):
            out = _first(g(*args))
        if d is None:  # a classifier, or a generator whose output is not an image (the maskwear STN's homography)
            loss = out.float().logsumexp(1).mean()
        else:
            assert opt_d is not None
            with autocast(dev, amp):
                d_loss = F.softplus(_score(d_call(out.detach()))) + F.softplus(-_score(d_call(real)))
            opt_d.zero_grad(set_to_none=True)
            scaler.scale(d_loss).backward()
            scaler.step(opt_d)
            with autocast(dev, amp):
                loss = F.softplus(-_score(d_call(out))) + (out.float() - real).abs().mean()
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt_g)
        scaler.update()

    torch.cuda.reset_peak_memory_stats(dev)
    sec = _time_steps(step, dev)
    return {"model": name, "batch": batch, "precision": _precision(dev, amp), "steps_per_s": round(1 / sec, 3),
            "images_per_s": round(batch / sec, 1), "peak_memory_mib": round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)}


def inference_ms(g: nn.Module, inputs: Inputs, dev: torch.device, amp: bool) -> float:
    """Milliseconds per image of the model's forward at batch 1 (no gradients)."""
    g = g.to(dev).eval()
    args, _, _ = inputs(1)

    def fwd() -> None:
        with torch.no_grad(), autocast(dev, amp):
            g(*args)

    return round(_time_steps(fwd, dev, seconds=1.0, max_steps=100) * 1000, 3)


def bench_stylegan2(dev: torch.device, batch: int, amp: bool) -> dict[str, Any]:
    """StyleGAN2's real training step at 256² (ADA), with s/kimg."""
    from engine.training.loop import Runtime
    from engine.training.stylegan2 import StyleGAN2Training

    tr = StyleGAN2Training(resolution=SIDE, aug="ada", batch=batch, channel_base=16384, channel_max=256,
                           runtime=Runtime(device=dev, amp=amp))
    reals = torch.rand(batch, 3, SIDE, SIDE, device=dev) * 2 - 1
    torch.cuda.reset_peak_memory_stats(dev)
    sec = _time_steps(lambda: tr.step(reals), dev, warmup=2)
    return {"model": "stylegan2", "batch": batch, "precision": _precision(dev, amp), "steps_per_s": round(1 / sec, 3),
            "images_per_s": round(batch / sec, 1), "s_per_kimg": round(sec * 1000 / batch, 2),
            "peak_memory_mib": round(torch.cuda.max_memory_allocated(dev) / 2**20, 1),
            "widths": {"channel_base": 16384, "channel_max": 256}}


def _precision(dev: torch.device, amp: bool) -> str:
    from engine.device import autocast_dtype

    dtype = autocast_dtype(dev) if amp else None
    return "fp32" if dtype is None else ("bf16" if dtype == torch.bfloat16 else "fp16")


def run(dev: torch.device) -> dict[str, Any]:
    """Every model × batch × precision on ``dev`` (a CUDA device)."""
    rows: list[dict[str, Any]] = []
    infer: dict[str, float] = {}
    for batch in BATCHES:
        for amp in (False, True):
            for name, (g, d, inputs, _side) in build_models(dev).items():
                try:
                    rows.append(bench_model(name, g, d, inputs, dev, batch, amp))
                except torch.cuda.OutOfMemoryError:
                    rows.append({"model": name, "batch": batch, "precision": _precision(dev, amp), "error": "out of memory"})
                torch.cuda.empty_cache()
            try:
                rows.append(bench_stylegan2(dev, batch, amp))
            except torch.cuda.OutOfMemoryError:
                rows.append({"model": "stylegan2", "batch": batch, "precision": _precision(dev, amp), "error": "out of memory"})
            torch.cuda.empty_cache()
    for name, (g, _d, inputs, _side) in build_models(dev).items():
        infer[name] = inference_ms(g, inputs, dev, amp=False)
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": torch.cuda.get_device_name(dev),
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "sides": {"default": SIDE, "expression_gan": EXPRESSION_SIDE}, "training": rows, "inference_ms_per_image": infer,
            "note": ("training step = generator forward/backward/Adam + discriminator on real and fake "
                     "(no gradient penalties or perceptual terms) except stylegan2, which runs its full step")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the GPU check and write its JSON; one line and exit 0 without CUDA."""
    ap = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results-gpu.json", help="JSON file to write")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench.gpu: no CUDA GPU on this machine; nothing measured")
        return 0
    dev = parse_device("cuda")
    torch.backends.cudnn.benchmark = True
    result = run(dev)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"bench.gpu: {len(result['training'])} training rows on {result['device']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
