"""The set-level files of a batch output folder: the ``dataset.json`` card and COCO annotations.

The driver (the process that records the manifest) writes them at the end of every run — finished,
with failures, or cancelled — from the manifest, which holds every shard's records; each file is
replaced atomically under the folder lock, so drivers of several shards never interleave and a
killed driver leaves the previous version whole. Nothing in them depends on timing or on which run
did which task: a job killed and resumed ends with files byte-identical to an uninterrupted run's.

``dataset.json``
    What the set is: the op and its summary, the job's parameters and grid, the Masquerade version,
    the licence the user states (``""`` until one is given), counts (tasks of the job, done, failed,
    inputs, files, annotations), whether the job is complete, the files each task writes and the
    train/val split.

``annotations.json`` (and ``annotations_train.json`` / ``annotations_val.json`` with a split)
    COCO-style, for ops whose tasks write a JSON record holding a ``"coco"`` entry (``wear-mask``:
    one masked face per task). That entry names the output the annotation is on (``"image"``, an
    output name like ``"masked"``), optionally its pixel label (``"label"``), the picture's
    ``width`` / ``height``, the ``category`` name, optional ``keypoint_names``, and the COCO fields
    ``bbox`` ``[x, y, w, h]``, ``segmentation`` (polygons), ``area``, ``keypoints``; anything under
    ``"attributes"`` is copied onto the annotation. The driver reads only these small records: no
    image is decoded.

Train/val split
    By input file: an input goes to ``val`` when the first 8 hex digits of the SHA-256 of its name,
    read as a fraction of 2³², are below :attr:`~engine.batch.plan.DatasetOptions.val_fraction`.
    Every output of one input (all grid combinations) lands in the same split, and any machine or
    run computes the same one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.batch.manifest import MANIFEST_NAME, read_manifest
from engine.batch.ops import BatchOp
from engine.batch.plan import DatasetOptions, JobPlan, readable_json
from engine.errors import ImageSaveError
from engine.imageio import atomic_write_bytes

CARD_NAME = "dataset.json"
"""The set's card, beside ``job.json``."""

ANNOTATIONS_NAME = "annotations.json"
"""The whole set's COCO annotations."""

CARD_FORMAT = "masquerade-dataset/1"
"""``format`` of the card."""


def split_of(input_name: str, val_fraction: float) -> str:
    """The split of an input file.

    Args:
        input_name: the input's file name (or ``seed<NNNNNN>`` for a procedural task).
        val_fraction: share of inputs in ``val``, in ``[0, 1)``.

    Returns:
        ``"train"`` or ``"val"`` (always ``"train"`` when ``val_fraction`` is 0).

    Example:
        >>> split_of("face.png", 0.0), split_of("face.png", 0.999999)
        ('train', 'val')
    """
    if val_fraction <= 0:
        return "train"
    h = int(hashlib.sha256(input_name.encode("utf-8")).hexdigest()[:8], 16)
    return "val" if h / 2**32 < val_fraction else "train"


def _version() -> str:
    from engine import __version__

    return __version__


def _write_json(path: Path, doc: Any) -> None:
    """Replace ``path`` atomically with ``doc``; a file that already holds it is left untouched
    (a finished job run again changes nothing in its folder)."""
    data = (readable_json(doc) + "\n").encode()
    try:
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    try:
        atomic_write_bytes(path, data)
    except ImageSaveError as exc:
        raise OSError(f"cannot write {path} ({exc})") from None


def _done_records(output_dir: Path) -> list[dict[str, Any]]:
    """The manifest's done records whose outputs all exist, sorted by input then id."""
    records = read_manifest(output_dir / MANIFEST_NAME)
    out = []
    for rec in records.values():
        if rec.get("status") != "done":
            continue
        files = list(rec.get("outputs", {}).values()) or [rec["output"]]
        if all((output_dir / f).is_file() for f in files):
            out.append(rec)
    return sorted(out, key=lambda r: (str(r["input"]), str(r["id"])))


def _read_record(path: Path) -> Mapping[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def coco_document(output_dir: Path, records: list[dict[str, Any]], options: DatasetOptions,
                  description: str, split: str | None = None) -> dict[str, Any] | None:
    """The COCO document of the done records (those of ``split`` only, when given).

    Args:
        output_dir: the output folder.
        records: done manifest records (see :func:`_done_records`), in a stable order.
        options: licence and split.
        description: the ``info.description``.
        split: ``"train"``, ``"val"`` or ``None`` (all).

    Returns:
        ``{"info", "licenses", "images", "annotations", "categories"}``, or ``None`` when no
        record carries a ``"coco"`` entry (the op writes no annotations).
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    categories: dict[str, dict[str, Any]] = {}
    any_coco = False
    licence_id = 1 if options.licence else None
    for rec in records:
        outputs: dict[str, str] = rec.get("outputs", {})
        json_files = [f for name, f in outputs.items() if name.endswith(".json")]
        doc = _read_record(output_dir / json_files[0]) if json_files else None
        coco = doc.get("coco") if doc is not None else None
        if not isinstance(coco, dict) or str(coco.get("image")) not in outputs:
            continue
        any_coco = True
        part = split_of(str(rec["input"]), options.val_fraction)
        if split is not None and part != split:
            continue
        image_id = len(images) + 1
        image: dict[str, Any] = {"id": image_id, "file_name": outputs[str(coco["image"])],
                                 "width": int(coco.get("width", 0)), "height": int(coco.get("height", 0)),
                                 "input": rec["input"], "task": rec["id"], "split": part}
        if coco.get("label") in outputs:
            image["label_file"] = outputs[str(coco["label"])]
        if licence_id is not None:
            image["license"] = licence_id
        images.append(image)
        name = str(coco.get("category", "object"))
        cat = categories.setdefault(name, {"id": len(categories) + 1, "name": name, "supercategory": name})
        if coco.get("keypoint_names"):
            cat["keypoints"] = list(coco["keypoint_names"])
            cat["skeleton"] = []
        ann: dict[str, Any] = {"id": len(annotations) + 1, "image_id": image_id, "category_id": cat["id"],
                               "iscrowd": 0}
        for key in ("bbox", "segmentation", "area", "keypoints"):
            if key in coco:
                ann[key] = coco[key]
        if "keypoints" in ann:
            ann["num_keypoints"] = sum(1 for v in ann["keypoints"][2::3] if v > 0)
        if isinstance(coco.get("attributes"), dict):
            ann["attributes"] = coco["attributes"]
        annotations.append(ann)
    if not any_coco:
        return None
    return {
        "info": {"description": description, "version": _version(), "contributor": "Masquerade"},
        "licenses": [{"id": licence_id, "name": options.licence, "url": ""}] if licence_id is not None else [],
        "images": images,
        "annotations": annotations,
        "categories": sorted(categories.values(), key=lambda c: int(c["id"])),
    }


def write_dataset_files(output_dir: Path, op: BatchOp, plan: JobPlan, options: DatasetOptions | None) -> dict[str, Any]:
    """Write ``dataset.json`` and, for ops with COCO records, the annotation files (atomically).

    Call it holding the folder lock (:func:`engine.batch.manifest.folder_lock`).

    Args:
        output_dir: absolute output folder.
        op: the job's op.
        plan: the job's plan (identity and task count of all shards).
        options: licence, split, description; ``None``: the defaults.

    Returns:
        The card written.

    Raises:
        OSError: a file could not be written (the previous version stays whole).
    """
    options = options or DatasetOptions()
    records = _done_records(output_dir)
    failed = sum(1 for r in read_manifest(output_dir / MANIFEST_NAME).values() if r.get("status") == "error")
    description = options.description or op.summary or op.name
    inputs = sorted({str(r["input"]) for r in records})
    splits = {"train": 0, "val": 0}
    for name in inputs:
        splits[split_of(name, options.val_fraction)] += 1
    coco = coco_document(output_dir, records, options, description)
    files_written: dict[str, str] = {"manifest": MANIFEST_NAME, "job": "job.json"}
    if coco is not None:
        _write_json(output_dir / ANNOTATIONS_NAME, coco)
        files_written["annotations"] = ANNOTATIONS_NAME
        if options.val_fraction > 0:
            for part in ("train", "val"):
                doc = coco_document(output_dir, records, options, f"{description} ({part})", part)
                assert doc is not None
                _write_json(output_dir / f"annotations_{part}.json", doc)
                files_written[f"annotations_{part}"] = f"annotations_{part}.json"
    per_task = [name for name, _ in plan.tasks[0].outputs] if plan.tasks and plan.tasks[0].outputs else [op.extension]
    card = {
        "format": CARD_FORMAT,
        "description": description,
        "op": op.name,
        "masquerade_version": _version(),
        "licence": options.licence,
        "params": plan.identity.get("params", {}),
        "grid": plan.identity.get("grid", {}),
        "input_dir": plan.identity.get("input_dir"),
        "counts": {"tasks": plan.total_all_shards, "done": len(records), "failed": failed,
                   "inputs": len(inputs), "files": sum(len(r.get("outputs", {})) or 1 for r in records),
                   "annotations": len(coco["annotations"]) if coco is not None else 0},
        "complete": len(records) >= plan.total_all_shards,
        "outputs_per_task": per_task,
        "split": {"by": "input file", "val_fraction": options.val_fraction, "inputs": splits},
        "files": files_written,
    }
    _write_json(output_dir / CARD_NAME, card)
    return card
