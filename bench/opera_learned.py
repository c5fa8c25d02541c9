"""Opera learned-engines bench section: CoCosNet colouring and StyleGAN2 generation latency.

* ``cocosnet_forward`` — one forward pass of the network (sketch + exemplar → image, warped
  exemplar) at 64² and 256², with the shipped checkpoint's architecture when there is one (its
  weights do not change the cost), else the default architecture; ``torch`` threads as set by the
  environment (the number is recorded).
* ``colorize_neural_512`` — the studio's neural colouring of a 512² sketch (network at its trained
  side + resize + line darkening), only with a trained checkpoint, on the device the studio loads it
  on (:func:`engine.device.select_device`; recorded as ``colorize_neural_device``).
* ``stylegan2_generate`` — one seeded sample of the shipped generator at its resolution, only
  with a trained checkpoint, on the studio's device (``stylegan2_device``).
The shipped cards' measured quality (self-colouring SSIM, FID/KID/IS) is repeated for reference.
"""

from __future__ import annotations

from typing import Any

from bench.timing import latency


def run(runs: int = 10) -> dict[str, Any]:
    """The ``opera_learned`` section of the bench JSON."""
    import torch

    from engine.device import module_device_name
    from engine.models.registry import build_model
    from engine.procedural.lianpu import generate_lianpu
    from engine.studios.base import LEARNED
    from engine.studios.opera.generate import load_lianpu_generator
    from engine.studios.opera.learned import COCOSNET, colorize_neural, model_side

    _path, card, problem = COCOSNET.status()
    trained = card if not problem else None
    why = problem or COCOSNET.resolve("auto").reason
    net = build_model("cocosnet", **(trained.kwargs if trained is not None else {})).eval()
    threads = torch.get_num_threads()
    doc: dict[str, Any] = {"torch_threads": 1, "cocosnet_checkpoint": why}
    for side in (64, 256):
        x = torch.zeros(1, 1, side, side)
        y = torch.zeros(1, 3, side, side)

        def fwd(x: torch.Tensor = x, y: torch.Tensor = y) -> None:
            with torch.inference_mode():
                net(x, y)

        # one thread (what the app's worker gets on a busy 2-core machine) and all threads, side by side
        torch.set_num_threads(1)
        try:
            doc[f"cocosnet_forward_{side}"] = latency(fwd, runs)
        finally:
            torch.set_num_threads(threads)
        all_threads = latency(fwd, runs)
        doc[f"cocosnet_forward_{side}_{threads}_threads"] = all_threads
        doc[f"cocosnet_forward_{side}_ratio_{threads}_vs_1_threads"] = round(
            all_threads["median_ms"] / max(doc[f"cocosnet_forward_{side}"]["median_ms"], 1e-9), 3)
    torch.set_num_threads(1)
    if trained is not None:
        model = COCOSNET.load(COCOSNET.resolve(LEARNED))
        sketch, ref = generate_lianpu(1, size=512), generate_lianpu(2, size=512)
        doc["colorize_neural_512"] = latency(lambda: colorize_neural(sketch.line_art, ref.image, model,
                                                                      model_side(trained)), runs)
        doc["colorize_neural_device"] = module_device_name(model)
        doc["cocosnet_metrics"] = dict(trained.metrics)
    gen, gwhy = load_lianpu_generator()
    doc["stylegan2_checkpoint"] = gwhy
    if gen is not None:
        doc["stylegan2_resolution"] = gen.resolution
        doc["stylegan2_device"] = str(gen.device)
        doc["stylegan2_generate"] = latency(lambda: gen.generate(7), runs)
        doc["stylegan2_metrics"] = dict(gen.card.get("metrics", {}))
    torch.set_num_threads(threads)
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines for the summary table."""
    rows = ["opera learned (1 torch thread)       median ms   p90 ms"]
    for key, label in (("cocosnet_forward_64", "CoCosNet forward 64²"), ("cocosnet_forward_256", "CoCosNet forward 256²"),
                       ("colorize_neural_512", "neural colorize 512²")):
        if key in doc:
            rows.append(f"  {label:<24} {doc[key]['median_ms']:>9.1f} {doc[key]['p90_ms']:>8.1f}")
            ratio = next((v for k, v in doc.items() if k.startswith(key + "_ratio_")), None)
            if ratio is not None:
                rows.append(f"    all threads vs 1: ×{ratio}")
    if "colorize_neural_device" in doc:
        rows.append(f"    neural colorize ran on {doc['colorize_neural_device']}")
    if "stylegan2_generate" in doc:
        r = doc["stylegan2_generate"]
        rows.append(f"  {'StyleGAN2 sample ' + str(doc['stylegan2_resolution']) + '²':<24} "
                    f"{r['median_ms']:>9.1f} {r['p90_ms']:>8.1f}   on {doc.get('stylegan2_device', '?')}")
    else:
        rows.append(f"  StyleGAN2: {doc['stylegan2_checkpoint']}")
    return rows
