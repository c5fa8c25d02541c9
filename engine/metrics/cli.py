"""``masquerade metrics --real DIR --fake DIR``: FID/KID, ``fd_effnet_lite0`` (and paired SSIM/MS-SSIM/PSNR/LPIPS) as JSON.

``fd_effnet_lite0`` is the Fréchet distance on ImageNet EfficientNet-Lite0 features
(:func:`engine.metrics.distribution.fd_effnet_lite0`), reported beside the FID/KID of the chosen
extractor; it is not FID and is never compared with FID values.

Examples::

    masquerade metrics --real data/real --fake runs/samples              # FID/KID, auto extractor
    masquerade metrics --real A --fake B --extractor domain --paired     # + per-pair SSIM, PSNR ...
    masquerade metrics --real inputs --fake edited --identity            # + dlib identity distance per face pair
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``metrics`` command.

    Args:
        subparsers: the ``masquerade`` parser's sub-parsers.

    Returns:
        The ``metrics`` parser.
    """
    p = subparsers.add_parser("metrics", help="FID/KID and fd_effnet_lite0 between two image folders (+ paired SSIM/PSNR), JSON",
                              description="Image-set metrics. Numbers name the feature extractor used: compare "
                                          "only numbers from the same extractor.")
    p.add_argument("--real", required=True, help="folder of real images")
    p.add_argument("--fake", required=True, help="folder of generated images")
    p.add_argument("--extractor", choices=("auto", "inception", "domain"), default="auto",
                   help="FID/KID features: local Inception weights, the opera domain classifier, or auto "
                        "(Inception if present, else domain)")
    p.add_argument("--weights", default=None, help="weights file / checkpoint card for the chosen extractor")
    p.add_argument("--paired", action="store_true",
                   help="also compare images with the same file name: SSIM, MS-SSIM, PSNR, LPIPS")
    p.add_argument("--kid-subset", type=int, default=100, help="KID subset size (default 100)")
    p.add_argument("--identity", action="store_true",
                   help="also the identity distance of same-name face images (dlib's ResNet face descriptor; "
                        "same person < 0.6)")
    p.set_defaults(func=cmd_metrics)
    return p


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    from engine.imageio import LOAD_EXTENSIONS, load_image

    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    out = {p.stem: load_image(p) for p in sorted(folder.iterdir())
           if p.suffix.lower() in LOAD_EXTENSIONS}
    if len(out) < 2:
        raise ValueError(f"{folder}: need at least 2 images, found {len(out)}")
    return out


def paired_scores(real: dict[str, np.ndarray], fake: dict[str, np.ndarray]) -> dict[str, object]:
    """Mean SSIM (Gaussian and scikit-image-default windows), MS-SSIM, PSNR and LPIPS over same-name pairs.

    Pairs of different sizes compare the generated image resized to the real one.

    Args:
        real: real images by file stem.
        fake: generated images by file stem.

    Returns:
        The mean of each score (rounded), ``pairs`` (how many) and ``lpips_status``.

    Raises:
        ValueError: no file name in common.
    """
    import cv2

    from engine.metrics.distribution import MetricUnavailable
    from engine.metrics.image import MS_SSIM_WEIGHTS, ms_ssim, psnr, ssim
    from engine.metrics.perceptual import load_lpips

    names = sorted(set(real) & set(fake))
    if not names:
        raise ValueError("--paired: no file names in common")
    try:
        lp = load_lpips()
        lpips_info: dict[str, object] = {"available": True, "weights": lp.name}
    except MetricUnavailable as exc:
        lp, lpips_info = None, {"available": False, "reason": str(exc)}
    rows: dict[str, list[float]] = {"ssim": [], "ssim_uniform7": [], "ms_ssim": [], "psnr": [], "lpips": []}
    for n in names:
        a, b = real[n], fake[n]
        if a.shape != b.shape:
            b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        rows["ssim"].append(ssim(a, b))
        rows["ssim_uniform7"].append(ssim(a, b, window="uniform"))
        scales = max(1, min(5, int(np.log2(min(a.shape[:2]) / 11)) + 1))
        rows["ms_ssim"].append(ms_ssim(a, b, weights=MS_SSIM_WEIGHTS[:scales]))
        rows["psnr"].append(min(psnr(a, b), 100.0))
        if lp is not None:
            rows["lpips"].append(lp.distance(a, b))
    out: dict[str, object] = {k: round(float(np.mean(v)), 5) for k, v in rows.items() if v}
    out["pairs"] = len(names)
    out["lpips_status"] = lpips_info
    return out


def identity_scores(real: dict[str, np.ndarray], fake: dict[str, np.ndarray]) -> dict[str, object]:
    """Identity distance (dlib ResNet descriptor, :mod:`engine.metrics.identity`) of same-name pairs.

    Args:
        real: input faces by file stem.
        fake: edited faces by file stem.

    Returns:
        ``mean``, ``same_person_rate`` (share below 0.6), ``pairs``, ``per_pair`` distances,
        ``no_face`` (names where either image has no usable face) and ``threshold``; or
        ``{"available": False, "reason": ...}`` when dlib or its model file is missing.

    Raises:
        ValueError: no file name in common.
    """
    from engine.errors import NoFaceError
    from engine.metrics.distribution import MetricUnavailable
    from engine.metrics.identity import SAME_PERSON, identity_distance

    names = sorted(set(real) & set(fake))
    if not names:
        raise ValueError("--identity: no file names in common")
    per_pair: dict[str, float] = {}
    no_face: list[str] = []
    try:
        for n in names:
            try:
                per_pair[n] = round(identity_distance(real[n], fake[n]), 5)
            except NoFaceError:
                no_face.append(n)
    except MetricUnavailable as exc:
        return {"available": False, "reason": str(exc)}
    d = np.array(list(per_pair.values()), np.float64)
    return {"mean": round(float(d.mean()), 5) if d.size else None,
            "same_person_rate": round(float((d < SAME_PERSON).mean()), 5) if d.size else None,
            "pairs": int(d.size), "per_pair": per_pair, "no_face": no_face, "threshold": SAME_PERSON}


def cmd_metrics(args: argparse.Namespace) -> int:
    """Print the metrics of ``--real`` vs ``--fake`` as one JSON object.

    Args:
        args: parsed ``metrics`` options.

    Returns:
        0, or 2 when a folder cannot be read (the reason goes to stderr).
    """
    from engine.errors import ImageLoadError
    from engine.metrics.distribution import (
        EffNetLite0Extractor,
        MetricUnavailable,
        fd_effnet_lite0,
        fid_kid,
        get_extractor,
    )

    try:
        real, fake = _read_folder(Path(args.real)), _read_folder(Path(args.fake))
        result: dict[str, object] = {"real": str(args.real), "fake": str(args.fake)}
        try:
            ext = get_extractor(args.extractor, args.weights)
            result.update(fid_kid(list(real.values()), list(fake.values()), ext,
                                  subset_size=args.kid_subset).to_dict())
        except MetricUnavailable as exc:
            result["fid_kid_status"] = {"available": False, "reason": str(exc)}
        try:
            lite = EffNetLite0Extractor()
            result["fd_effnet_lite0"] = fd_effnet_lite0(list(real.values()), list(fake.values()), lite)
            result["fd_effnet_lite0_extractor"] = lite.name
        except MetricUnavailable as exc:
            result["fd_effnet_lite0_status"] = {"available": False, "reason": str(exc)}
        if args.paired:
            result["paired"] = paired_scores(real, fake)
        if args.identity:
            result["identity"] = identity_scores(real, fake)
    except (ValueError, ImageLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
