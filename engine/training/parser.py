"""``masquerade train parser``: the learned face parser, cross-validated against the geometric one.

Data: every labelled development face (``--data``, the shared data root), converted to the official
CelebAMask-HQ order (:data:`SOURCES`): the CelebAMask-HQ pairs, the MT 14-class maps (the data's own
``seg_celebamaskhq`` conversion), the Xiqu stage-makeup maps (BiSeNet order) and the Xiqu portraits
(their own code, :data:`XIQU_PLAIN_TO_OFFICIAL`). A class a source does not annotate is not treated
as background: on that source a pixel labelled background may be any of the background class and
the unannotated ones, and the loss is the negative log of their summed probability
(:func:`marginal_cross_entropy`).

Once per run (``RUN_DIR/cache/``): the geometric analysis of each photo (slow), its aligned crop at
1.25× the parser's crop (room for rotation and scale augmentation), the geometric labels and the
ground truth warped onto it. Training is then pure torch on the crops: colour, blur, JPEG, noise,
rotation / scale / shift, horizontal flips with left/right classes swapped (:data:`FLIP_PERMUTATION`),
occluders (their pixels become background) and a small misalignment of the prior.

Loss: marginal cross-entropy with boundary pixels weighted up (:data:`BOUNDARY_WEIGHT`) + soft
Dice over the source's annotated classes.

Protocol (:func:`main`): ``--folds`` k-fold cross-validation by photo (each source split evenly;
a photo is never in its own training set), each fold's held-out photos parsed through the product
path (:func:`engine.faces.learned_parsing.refine_parsing`, full resolution) and scored against the
geometric parsing of the same photos; then the shipped model is trained on every photo and saved
(fp16 safetensors + card with the cross-validated table and the verdict, :data:`VERDICT_RULE`).
Each stage keeps its state under ``RUN_DIR``: a killed run resumes (finished folds are not redone).

``--holdout-source all`` (:func:`_run_holdout`) is the other protocol: each source held out in turn, the
model trained on the other sources only (does a correction learned on other photo styles carry over?);
nothing is saved but ``RUN_DIR/holdout.json``. ``--crop-scale`` / ``--crop-shift`` choose the crop
(written into the card; a taller crop for stage headwear).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import CheckpointError
from engine.faces.learned_parsing import (
    CROP_SCALE,
    CROP_SHIFT,
    FACE_GUARD,
    FEATHER,
    MIRROR_PAIRS,
    add_prior_gain,
    ban_kept,
    bound_to_mesh,
    card_options,
    class_ids,
    crop_and_prior,
    crop_correction,
    edge_radius,
    face_guard,
    feather_mask,
    first_argmax,
    keep_mesh_classes,
    mirror_permutation,
    refine_parsing,
)
from engine.faces.parsing import PRODUCED_CLASSES
from engine.faces.types import Face
from engine.imageio import atomic_write_bytes, load_image
from engine.labels import CELEBAMASK_HQ, bisenet_to_official
from engine.models.parser import FROZEN_STAGES, NUM_CLASSES, STAGES, FaceParserNet
from engine.training.loop import Runtime, TrainConfig, Trainer

XIQU_PLAIN_TO_OFFICIAL = np.array([0, 5, 7, 8, 1, 9, 4, 6, 2, 11, 17, 10, 13, 12], np.uint8)
"""Value ``i`` (0–13) of the Xiqu portrait maps (``opera/xiqu/non-makeup/segs``) is official class
``XIQU_PLAIN_TO_OFFICIAL[i]`` (the code in the shared data README; teeth → mouth)."""

_MT_LIKE = (0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17)


@dataclass(frozen=True)
class Source:
    """One labelled data source.

    Args:
        name: short name used in tables.
        folders: photo folders relative to the data root.
        labels: label sub-folder of each photo folder (``""``: beside the photo).
        convert: ``"official"``, ``"bisenet"`` or ``"xiqu_plain"``.
        annotated: official classes the source labels (the others are ignored in its loss/scores).
        absent: unlabelled classes its photos are known not to show (bare-headed portraits: no hat);
            a background pixel of the source is trained as background, not "background or hat".
    """

    name: str
    folders: tuple[str, ...]
    labels: str
    convert: str
    annotated: tuple[int, ...]
    absent: tuple[int, ...] = ()


SOURCES: tuple[Source, ...] = (
    Source("celebamask", ("faces/parsing",), "", "official", tuple(range(NUM_CLASSES))),
    Source("mt", ("makeup/mt/makeup", "makeup/mt/no_makeup"), "seg_celebamaskhq", "official", _MT_LIKE, (14,)),
    Source("xiqu_makeup", ("opera/xiqu/makeup",), "segs", "bisenet",
           (0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18)),
    Source("xiqu_plain", ("opera/xiqu/non-makeup",), "segs", "xiqu_plain", _MT_LIKE, (14,)),
)
"""Every labelled development source, in the official order after conversion."""

PSEUDO = Source("pseudo", ("faces/photos",), "", "official", tuple(range(NUM_CLASSES)))
"""Unlabelled development photos (``--pseudo-teacher``): their "truth" is a teacher model's confident
labels (:func:`pseudo_truths`), every class counted; never scored."""

HAIR_PHOTOS = Source("hair_photos", (), "", "official", (13,), (14,))
"""Unlabelled everyday photos (``--hair-photos`` names their folders): only the geometric parser's hair away from its edges
and of a hair colour is a label (:func:`hair_truths`), and a pixel of it is not a hat. The labelled
photos show hats only as stage headdresses, mostly black: without these a network calls dark hair a
hat on everyday photos. Never scored."""

HAIR_PER_BATCH = 1
"""Crops of :data:`HAIR_PHOTOS` added to each training batch (on top of ``--batch`` labelled ones)."""

HAIR_CHROMA = 12.0
"""A pixel of :data:`HAIR_PHOTOS` whose CIELAB chroma is at most this is of a hair colour whatever
its hue (black, grey, white hair)."""

HAIR_HUES = (20.0, 110.0)
"""CIELAB hue angles (degrees) of the coloured hair colours (red, brown, blond). The geometric parser
calls a cap of the hair's place hair; a cap of another colour (a blue or green surgical cap, a pink
beanie) gets no label, so the network is not taught that it is hair. On the labelled photos 99.9 % of
the CelebAMask-HQ hair pixels, 98.9 % of MT's and 97.6 % of the Xiqu portraits' are of a hair colour,
and 68 % of the stage headdresses' pixels."""

HAIR_ERODE = 3
"""Pixels (at the cached crop's scale) the geometric hair is eroded by before it is a label of
:data:`HAIR_PHOTOS` (its edges are where the colour models err)."""

PSEUDO_MIN_PROB = 0.7
"""Least teacher probability for a pseudo-label pixel to count (the others carry no supervision)."""

PAIRS = tuple((CELEBAMASK_HQ.index(a), CELEBAMASK_HQ.index(b)) for a, b in MIRROR_PAIRS)
"""Left/right class pairs of the official order (l_eye/r_eye, l_brow/r_brow, l_ear/r_ear:
:data:`engine.faces.learned_parsing.MIRROR_PAIRS`, the product's mirrored parsing uses the same)."""

FLIP_PERMUTATION = np.arange(256, dtype=np.uint8)
FLIP_PERMUTATION[:NUM_CLASSES] = mirror_permutation()
"""Label look-up applied with a horizontal flip: the person's left becomes their right."""

IGNORE = 255
"""Label of pixels that carry no supervision (outside the photo)."""

BOUNDARY_WEIGHT = 2.0
"""Extra cross-entropy weight of pixels on a ground-truth class boundary (3×3 neighbourhood)."""

DICE_WEIGHT = 0.5
"""Weight of the soft Dice term."""

LOVASZ_STRIDE = 2
"""Pixel stride of the Lovász-softmax term in training (``--lovasz``; :func:`lovasz_softmax`)."""

AUG_MARGIN = 1.25
"""The cached crop is this many times the parser's crop (room for rotation / scale)."""

LR = 1e-3
"""Default decoder learning rate of ``train parser`` (``--lr``; the encoder's is 0.2 times it)."""

WORSE_TOLERANCE = 0.02
"""A class is "clearly worse" when its pooled cross-validated IoU is lower by more than this."""

EXTRA_CLASSES: tuple[int, ...] = tuple(i for i, n in enumerate(CELEBAMASK_HQ.classes) if n not in PRODUCED_CLASSES)
"""Classes only the learned parser can output (hat, ear_r, neck_l)."""

FALSE_EXTRA_MAX = 0.005
"""On a source that does not label one of :data:`EXTRA_CLASSES` (MT and the Xiqu portraits: bare-headed
portraits), the share of its pixels the learned parser gives such a class — all false positives, which the
IoU protocol above leaves out of that source's scores — may be at most this."""

VERDICT_RULE = (f"better = the mean over sources of the cross-validated mIoU (classes the geometric parser "
                f"produces and the source annotates) is higher than the geometric parser's on the same "
                f"held-out photos, AND no class's IoU pooled over all held-out photos is lower by more than "
                f"{WORSE_TOLERANCE}, AND on every source that does not label hat / earring / necklace the "
                f"learned parser puts those classes on at most {FALSE_EXTRA_MAX:.1%} of the pixels (false positives "
                f"the IoU protocol does not see)")
"""The rule written into the card."""


# -- data -------------------------------------------------------------------------------------------


def convert_labels(raw: np.ndarray, convert: str) -> np.ndarray:
    """A source's label map → official order (``uint8``)."""
    if convert == "official":
        return raw.astype(np.uint8)
    if convert == "bisenet":
        return bisenet_to_official(raw)
    if convert == "xiqu_plain":
        return XIQU_PLAIN_TO_OFFICIAL[np.minimum(raw, len(XIQU_PLAIN_TO_OFFICIAL) - 1)]
    raise ValueError(f"unknown label conversion {convert!r}")


@dataclass(frozen=True)
class Item:
    """One labelled photo."""

    source: str
    photo: Path
    labels: Path | None
    convert: str


def list_items(root: Path) -> list[Item]:
    """Every labelled photo under the data ``root`` (sorted by source, then path)."""
    items: list[Item] = []
    for src in SOURCES:
        for folder in src.folders:
            d = root / folder
            for photo in sorted(d.glob("*.jpg")):
                lab = (d / src.labels / (photo.stem + ".png")) if src.labels else photo.with_suffix(".png")
                if lab.is_file():
                    items.append(Item(src.name, photo, lab, src.convert))
    return items


def list_unlabelled(root: Path, folders: Sequence[str], source: Source = PSEUDO,
                    flag: str = "--pseudo-data") -> list[Item]:
    """The photos (``.jpg``, ``.png``) of ``folders`` under ``root`` as unlabelled items of ``source``
    (:data:`PSEUDO` or :data:`HAIR_PHOTOS`; sorted by folder, then path); a label map beside a photo
    (``stem.png`` for ``stem.jpg``) is not a photo.

    Raises:
        SystemExit: a folder that is not there (named with the option ``flag``).
    """
    items: list[Item] = []
    for folder in folders:
        d = root / folder
        if not d.is_dir():
            raise SystemExit(f"{flag}: no folder {d}")
        jpgs = sorted(d.glob("*.jpg"))
        stems = {p.stem for p in jpgs}
        for photo in sorted([*jpgs, *(p for p in d.glob("*.png") if p.stem not in stems)]):
            items.append(Item(source.name, photo, None, source.convert))
    return items


def read_truth(item: Item, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The item's ground truth in the official order (an unlabelled item: all :data:`IGNORE`, of
    ``shape``)."""
    from PIL import Image

    if item.labels is None:
        if shape is None:
            raise ValueError(f"{item.photo.name} has no labels")
        return np.full(shape[:2], IGNORE, np.uint8)
    return convert_labels(np.asarray(Image.open(item.labels)), item.convert)


def source_of(name: str) -> Source:
    """The :class:`Source` called ``name`` (:data:`SOURCES`, :data:`PSEUDO` or :data:`HAIR_PHOTOS`)."""
    for s in (*SOURCES, PSEUDO, HAIR_PHOTOS):
        if s.name == name:
            return s
    raise KeyError(name)


def folds_for(items: Sequence[Item], k: int, seed: int = 0) -> list[int]:
    """Fold index of each item: each source's photos shuffled (seeded) and dealt round-robin (the
    labelled sources first, so that :data:`HAIR_PHOTOS` items do not move their folds)."""
    rng = np.random.default_rng(seed)
    fold = [0] * len(items)
    for src in (*SOURCES, HAIR_PHOTOS):
        idx = [i for i, it in enumerate(items) if it.source == src.name]
        for j, i in enumerate(rng.permutation(idx)):
            fold[int(i)] = j % k
    return fold


def build_cache(items: Sequence[Item], cache: Path, size: int, scale: float = CROP_SCALE,
                shift: float = CROP_SHIFT) -> list[dict[str, Any]]:
    """Geometric analysis + aligned crops of every item, computed once (``cache/<index>.npz``).

    The crop is :data:`AUG_MARGIN` times the parser's (``scale``, ``shift``: same centre). Items without a
    face are left out (and said so). Returns the loaded records.
    """
    from engine.faces.analyzer import FaceAnalyzer

    cache.mkdir(parents=True, exist_ok=True)
    big = int(round(size * AUG_MARGIN))
    tag = "" if (scale, shift) == (CROP_SCALE, CROP_SHIFT) else f"_s{scale:g}_u{shift:g}"
    analyzer: FaceAnalyzer | None = None
    records = []
    for i, it in enumerate(items):
        stem = f"{i:03d}_{it.source}_{it.photo.stem}"
        f = cache / f"{stem}_{big}{tag}.npz"
        other = [o for o in sorted(cache.glob(f"{stem}_*.npz")) if _crop_tag(o, stem) == tag]
        if not f.is_file() and other:  # crops cached at another size: augment() resamples them
            f = other[0]
        if not f.is_file():
            done = sorted(cache.glob(f"{stem}_*.npz"))
            if done:  # the slow analysis is cached for another crop: only the crop is made again
                with np.load(done[0]) as z:
                    old = {k: z[k] for k in z.files}
                if len(old["face"]):
                    rgb = load_image(it.photo)
                    face = faces_of(old)[0]
                    crop, prior = crop_and_prior(rgb, face, old["geometric"], big, scale * AUG_MARGIN,
                                                 shift / AUG_MARGIN)
                    gt_crop = cv2.warpAffine(read_truth(it, rgb.shape), crop.matrix, (big, big), flags=cv2.INTER_NEAREST,
                                             borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
                    old.update(image=crop.image, prior=prior, truth=gt_crop)
                atomic_write_bytes(f, _npz(**old))
        if not f.is_file():
            if analyzer is None:
                analyzer = FaceAnalyzer(parser="geometric")
            rgb = load_image(it.photo)
            res = analyzer.analyze(rgb)
            gt = read_truth(it, rgb.shape)
            faces = [fc for fc in res.faces if fc.landmarks is not None]
            if not faces or res.parsing is None:
                print(f"  no face in {it.photo.name}: left out", flush=True)
                atomic_write_bytes(f, _npz(face=np.zeros(0)))
                continue
            face = faces[0]
            crop, prior = crop_and_prior(rgb, face, res.parsing, big, scale * AUG_MARGIN, shift / AUG_MARGIN)
            gt_crop = cv2.warpAffine(gt, crop.matrix, (big, big), flags=cv2.INTER_NEAREST,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
            atomic_write_bytes(f, _npz(
                face=np.zeros(1), image=crop.image, prior=prior, truth=gt_crop, geometric=res.parsing,
                boxes=np.stack([fc.box for fc in faces]), keypoints=np.stack([fc.keypoints for fc in faces]),
                landmarks=np.stack([fc.landmarks for fc in faces if fc.landmarks is not None])))
            print(f"  cached {i + 1}/{len(items)} {it.source}/{it.photo.name}", flush=True)
        with np.load(f) as z:
            if len(z["face"]) == 0:
                continue
            rec = {k: z[k] for k in z.files}
        rec["index"] = i
        records.append(rec)
    return records


def _crop_tag(path: Path, stem: str) -> str:
    """The crop tag of a cache file ``<stem>_<side><tag>.npz`` (``""``: the default crop)."""
    rest = path.stem[len(stem) + 1:]
    return rest[len(rest.split("_")[0]):]


def _npz(**arrays: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    cast(Any, np.savez_compressed)(buf, **arrays)
    return buf.getvalue()


def faces_of(rec: dict[str, Any]) -> list[Face]:
    """The cached faces of a record (boxes, key points, landmarks)."""
    return [Face(rec["boxes"][j], 1.0, rec["landmarks"][j], rec["keypoints"][j]) for j in range(len(rec["boxes"]))]


@torch.no_grad()
def pseudo_truths(teacher: FaceParserNet, records: Sequence[dict[str, Any]], size: int, keep: Sequence[int] = (),
                  mirrored: bool = False, min_prob: float = PSEUDO_MIN_PROB,
                  bounded: Sequence[int] = ()) -> list[dict[str, Any]]:
    """The ``records`` (cached crops of unlabelled photos) with a ``truth`` from ``teacher``.

    The teacher parses the centre ``size``² of each cached crop — the product's own crop (same
    pixel scale and centre, :data:`AUG_MARGIN`) — as the product does (feathered correction plus
    the prior's gain, mirrored too when ``mirrored``, the ``keep`` classes banned from the teacher's
    pick and put back where the mesh drew them, :func:`ban_kept`; the ``bounded`` classes kept inside
    the mesh's regions of them, :func:`bound_to_mesh`). A pixel
    keeps its label when the teacher's probability reaches ``min_prob`` or when putting the mesh's
    classes back changed it, unless the correction is feathered there (:data:`FEATHER`: the prior's
    gain alone passes 0.7); the others, and the margin around the centre, are :data:`IGNORE`. A crop
    cached for another parser size is resampled to this one's first. The edge-aware refinement
    (``--edge-refine``) is not applied: it works on the photo's pixels, these labels are the crop's.
    """
    teacher = teacher.float().eval()
    dev = next(teacher.parameters()).device
    feather = feather_mask(size, FEATHER)
    fade = torch.from_numpy(feather).to(dev)
    inner = feather >= 1.0 - 1e-6
    gain = teacher.prior_gain.detach().float()
    big = int(round(size * AUG_MARGIN))
    o = (big - size) // 2
    out = []
    for rec in records:
        rec = dict(rec)
        if rec["image"].shape[0] != big:  # cached for another crop size: the same crop, resampled
            rec["image"] = cv2.resize(rec["image"], (big, big), interpolation=cv2.INTER_AREA)
            rec["prior"] = cv2.resize(rec["prior"], (big, big), interpolation=cv2.INTER_NEAREST)
        image = np.ascontiguousarray(rec["image"][o:o + size, o:o + size])
        prior = np.ascontiguousarray(rec["prior"][o:o + size, o:o + size])
        logits = crop_correction(teacher, image, prior, mirrored).float() * fade
        ban_kept(logits, keep, fade)
        add_prior_gain(logits, torch.from_numpy(prior).to(dev).long().clamp(0, NUM_CLASSES - 1), gain)
        prob, _ = F.softmax(logits, 0).max(0)
        label = first_argmax(logits).to(torch.uint8).cpu().numpy()
        before = label.copy()
        keep_mesh_classes(label, prior, keep)
        bound_to_mesh(label, prior, bounded)
        # where the correction is feathered the prior's gain alone can pass min_prob: those pixels
        # would only repeat the prior, so they carry no supervision
        sure = ((prob.cpu().numpy() >= min_prob) | (label != before)) & inner
        truth = np.full((big, big), IGNORE, np.uint8)
        truth[o:o + size, o:o + size] = np.where(sure, label, IGNORE)
        out.append(dict(rec, truth=truth))
    return out


def hair_coloured(rgb: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: the pixels of ``rgb`` (``uint8``) of a hair colour (:data:`HAIR_CHROMA`,
    :data:`HAIR_HUES`).

    Example:
        >>> px = np.array([[[20, 20, 22], [110, 70, 40], [230, 200, 140], [40, 90, 200], [60, 160, 90]]], np.uint8)
        >>> hair_coloured(px).tolist()   # black, brown, blond hair; a blue cap, a green one
        [[True, True, True, False, False]]
    """
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).astype(np.float32)
    a, b = lab[..., 1] - 128.0, lab[..., 2] - 128.0
    hue = np.degrees(np.arctan2(b, a)) % 360.0
    return (np.hypot(a, b) <= HAIR_CHROMA) | ((hue >= HAIR_HUES[0]) & (hue <= HAIR_HUES[1]))


def hair_truths(records: Sequence[dict[str, Any]], erode: int = HAIR_ERODE) -> list[dict[str, Any]]:
    """The ``records`` (cached crops of :data:`HAIR_PHOTOS`) with a ``truth``: ``hair`` where the cached
    geometric labels (``prior``) are hair after an erosion by ``erode`` pixels and the photo is of a
    hair colour (:func:`hair_coloured`), :data:`IGNORE` elsewhere.

    Example:
        >>> prior = np.zeros((12, 12), np.uint8); prior[2:10, 2:10] = 13
        >>> image = np.full((12, 12, 3), 30, np.uint8); image[2:4] = (40, 90, 200)  # a blue band on top
        >>> t = hair_truths([{"prior": prior, "image": image}], erode=2)[0]["truth"]
        >>> int((t == 13).sum()), int((t == IGNORE).sum())
        (16, 128)
        >>> image[4:6] = (40, 90, 200)
        >>> int((hair_truths([{"prior": prior, "image": image}], erode=2)[0]["truth"] == 13).sum())
        8
    """
    hair = CELEBAMASK_HQ.index("hair")
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)) if erode > 0 else None
    out = []
    for rec in records:
        mask = (rec["prior"] == hair).astype(np.uint8)
        if kernel is not None:
            mask = cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        label = (mask > 0) & hair_coloured(rec["image"])
        out.append(dict(rec, truth=np.where(label, hair, IGNORE).astype(np.uint8)))
    return out


def load_teacher(path: Path, args: argparse.Namespace) -> FaceParserNet:
    """A finished run's model (``state/parser.safetensors`` of a fold or of ``final``) as a teacher.

    Raises:
        SystemExit: no such file.
    """
    import safetensors.torch

    if not path.is_file():
        raise SystemExit(f"--pseudo-teacher: no {path} (a finished run of `masquerade train parser` with the same "
                         f"--folds and --seed)")
    model = new_model(args)
    model.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    return model.eval()


def split_pseudo(records: Sequence[dict[str, Any]], items: Sequence[Item]) -> tuple[list[dict[str, Any]],
                                                                                  list[dict[str, Any]]]:
    """``(labelled, unlabelled)`` records: those of :data:`PSEUDO` items apart; the records of
    :data:`HAIR_PHOTOS` are in neither (:func:`split_hair`)."""
    labelled: list[dict[str, Any]] = []
    unlabelled: list[dict[str, Any]] = []
    for r in records:
        source = items[int(r["index"])].source
        if source != HAIR_PHOTOS.name:
            (unlabelled if source == PSEUDO.name else labelled).append(r)
    return labelled, unlabelled


def split_hair(records: Sequence[dict[str, Any]], items: Sequence[Item]) -> list[dict[str, Any]]:
    """The records of :data:`HAIR_PHOTOS` items, with their hair labels (:func:`hair_truths`)."""
    return hair_truths([r for r in records if items[int(r["index"])].source == HAIR_PHOTOS.name])


def held_out_names(items: Sequence[Item], test: Sequence[dict[str, Any]]) -> list[str]:
    """``source/photo`` of a fold's held-out records (kept in its ``facts.json``: a teacher fold must
    have held out the same photos as the fold it labels for)."""
    return sorted(f"{items[int(r['index'])].source}/{items[int(r['index'])].photo.name}" for r in test)


def check_teacher_fold(teacher_fold: Path, held_out: list[str]) -> None:
    """Refuse a teacher fold that is not finished, or that did not hold out exactly ``held_out`` (when
    its facts say which it held out).

    Raises:
        SystemExit: no ``result.npz`` in the teacher fold, or it held out other photos (another
            --folds, --seed or data).
    """
    if not (teacher_fold / "result.npz").is_file():
        raise SystemExit(f"--pseudo-teacher: {teacher_fold} is not finished (no result.npz)")
    facts = teacher_fold / "facts.json"
    if facts.is_file():
        theirs = json.loads(facts.read_text()).get("held_out")
        if theirs is not None and sorted(theirs) != held_out:
            raise SystemExit(f"--pseudo-teacher: {teacher_fold} held out other photos than this fold "
                             "(another --folds, --seed or data): it has seen this fold's test photos")


def _with_pseudo(train: list[dict[str, Any]], pseudo: list[dict[str, Any]], teacher: Path | None,
                 args: argparse.Namespace) -> list[dict[str, Any]]:
    """``train`` plus the unlabelled ``pseudo`` records labelled by the model at ``teacher`` (none
    without ``--pseudo-teacher``)."""
    if not pseudo or teacher is None:
        return train
    model = load_teacher(teacher, args)
    labelled = pseudo_truths(model, pseudo, args.size, _keep(args), _mirror(args), _pseudo_min(args), _bounded(args))
    share = np.mean([(r["truth"] != IGNORE).mean() for r in labelled])
    print(f"  + {len(labelled)} pseudo-labelled photos ({teacher}; {share:.0%} of each crop supervised)", flush=True)
    return train + labelled


def _option(args: argparse.Namespace, name: str, default: float) -> float:
    """``args.<name>`` as a number; ``default`` when the option is absent or not given (``None``)."""
    value = getattr(args, name, None)
    return default if value is None else float(value)


def _skin_tone(args: argparse.Namespace) -> float:
    """Share of training crops given a darker skin (``--skin-tone-aug``)."""
    return _option(args, "skin_tone_aug", 0.0)


def _paint(args: argparse.Namespace) -> float:
    """Share of training crops whose skin is painted a pale stage white or pink (``--paint-aug``)."""
    return _option(args, "paint_aug", 0.0)


def _lr(args: argparse.Namespace) -> float:
    """Decoder learning rate (``--lr``; default :data:`LR`)."""
    return _option(args, "lr", LR)


def _pseudo_min(args: argparse.Namespace) -> float:
    return _option(args, "pseudo_min_prob", PSEUDO_MIN_PROB)


def _pseudo_settings(args: argparse.Namespace) -> dict[str, Any] | None:
    """The run's pseudo-label options (``None`` without ``--pseudo-teacher``)."""
    if not getattr(args, "pseudo_teacher", None):
        return None
    return {"folders": _pseudo_folders(args), "teacher_run": str(args.pseudo_teacher), "min_prob": _pseudo_min(args)}


def _frozen(args: argparse.Namespace) -> int:
    """Encoder stages kept at their ImageNet weights (``--frozen-stages``; default
    :data:`FROZEN_STAGES`)."""
    return int(_option(args, "frozen_stages", FROZEN_STAGES))


def new_model(args: argparse.Namespace) -> FaceParserNet:
    """An untrained parser of the run's size (``--width``, ``--prior-gain``, ``--frozen-stages``)."""
    return FaceParserNet(width=args.width, prior_gain=getattr(args, "prior_gain", 4.0), frozen_stages=_frozen(args))


def _training_config(args: argparse.Namespace) -> dict[str, Any]:
    """What a fold's training data, augmentation, trained layers and learning rate were
    (``training.json``: a resumed fold must go on the same way; the frozen stages, the learning rate and
    the painted skin are named only when not the default, so folds trained before they were recorded
    still match)."""
    config: dict[str, Any] = {"skin_tone_aug": _skin_tone(args), "pseudo_labels": _pseudo_settings(args)}
    hair = _hair_settings(args)
    if hair is not None:
        config["hair_photos"] = hair
    for key, value, default in (("frozen_stages", _frozen(args), FROZEN_STAGES), ("lr", _lr(args), LR),
                                ("paint_aug", _paint(args), 0.0), ("lovasz", _lovasz(args), 0.0)):
        if value != default:
            config[key] = value
    return config


def _pseudo_facts(args: argparse.Namespace, n: int) -> dict[str, Any]:
    """What a run's pseudo-labels were (card and fold facts)."""
    settings = _pseudo_settings(args)
    return {} if settings is None else {"pseudo_labels": {"photos": n, **settings}}


def _hair_folders(args: argparse.Namespace) -> list[str]:
    """The ``--hair-photos`` folders (none without the option)."""
    return [f.strip() for f in str(getattr(args, "hair_photos", None) or "").split(",") if f.strip()]


def _hair_settings(args: argparse.Namespace) -> dict[str, Any] | None:
    """The run's hair-photo options (``None`` without ``--hair-photos``)."""
    folders = _hair_folders(args)
    if not folders:
        return None
    return {"folders": folders, "erode": HAIR_ERODE, "chroma": HAIR_CHROMA, "hues": list(HAIR_HUES),
            "per_batch": HAIR_PER_BATCH}


def _hair_facts(args: argparse.Namespace, n: int) -> dict[str, Any]:
    """What a run's hair photos were (card and fold facts)."""
    settings = _hair_settings(args)
    return {} if settings is None else {"hair_photos": {"photos": n, **settings}}


def _pseudo_folders(args: argparse.Namespace) -> list[str]:
    return [f.strip() for f in str(getattr(args, "pseudo_data", None) or ",".join(PSEUDO.folders)).split(",")
            if f.strip()]


# -- augmentation -----------------------------------------------------------------------------------


def flip_sample(image: np.ndarray, prior: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror a sample left-right; the label maps swap their left/right classes (:data:`PAIRS`)."""
    return (np.ascontiguousarray(image[:, ::-1]), FLIP_PERMUTATION[prior[:, ::-1]],
            FLIP_PERMUTATION[truth[:, ::-1]])


SKIN_TONE_CLASSES = tuple(CELEBAMASK_HQ.index(n) for n in ("skin", "nose", "l_ear", "r_ear", "u_lip", "l_lip", "neck"))
"""Classes of the prior whose pixels :func:`darker_skin` darkens."""


def darker_skin(image: np.ndarray, prior: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The crop with the skin the ``prior`` marks (:data:`SKIN_TONE_CLASSES`, soft-edged) made darker
    and warmer: 0.3–0.75 of its brightness, green and blue a little lower than red. The labelled
    development faces are nearly all light-skinned; a parser trained on them broke up the nose and
    neck of the one dark-skinned face among them."""
    hard = np.isin(prior, SKIN_TONE_CLASSES).astype(np.float32)
    mask = cv2.GaussianBlur(hard, (0, 0), max(1.0, 0.02 * image.shape[0]))[..., None]
    tint = np.array([1.0, rng.uniform(0.82, 0.95), rng.uniform(0.7, 0.9)], np.float32) * rng.uniform(0.3, 0.75)
    out = image.astype(np.float32) * (1.0 - mask + mask * tint)
    return np.clip(out, 0, 255).astype(np.uint8)


PAINT_CLASSES = tuple(CELEBAMASK_HQ.index(n) for n in ("skin", "nose", "l_ear", "r_ear", "neck"))
"""Classes of the prior whose pixels :func:`painted_skin` paints (the lips keep their colour)."""


def painted_skin(image: np.ndarray, prior: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The crop with the skin the ``prior`` marks (:data:`PAINT_CLASSES`, soft-edged) painted a
    pale stage white or pink, its shading kept (the paint's colour times the skin's brightness over
    its mean, pulled towards flat by 0.4–0.8). Opera performers' painted faces can be as white as the
    studio backdrop behind them; a parser trained on few of them called such a face background."""
    hard = np.isin(prior, PAINT_CLASSES)
    if not hard.any():
        return image
    mask = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), max(1.0, 0.02 * image.shape[0]))[..., None]
    grey = image.astype(np.float32).mean(2, keepdims=True)
    shade = grey / max(float(grey[hard].mean()), 1.0)
    flat = rng.uniform(0.4, 0.8)
    red, green = rng.uniform(235, 255), rng.uniform(0.85, 1.0)
    paint = np.array([red, red * green, red * green * rng.uniform(0.95, 1.05)], np.float32)
    painted = paint * (flat + (1.0 - flat) * shade)
    out = image.astype(np.float32) * (1.0 - mask) + painted * mask
    return np.clip(out, 0, 255).astype(np.uint8)


def augment(rec: dict[str, Any], size: int, rng: np.random.Generator,
            skin_tone: float = 0.0, paint: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One augmented ``(image, prior, truth)`` crop of ``size`` from a cached record.

    Geometry (rotation ±15°, scale ±12 %, shift ±4 %, flip), photometry (brightness, contrast,
    saturation, hue, grey, blur, noise, JPEG), occluders (background in the truth) and a shift of
    the prior by up to 3 pixels; with probability ``skin_tone`` first a darker skin
    (:func:`darker_skin`), then with probability ``paint`` a painted one (:func:`painted_skin`); at
    0 either option draws nothing, so the crops are those of a run without it.
    """
    big = rec["image"].shape[0]
    ang = rng.uniform(-15, 15)
    sc = rng.uniform(0.88, 1.12) * size * AUG_MARGIN / big  # (the cache may hold another crop size)
    m = cv2.getRotationMatrix2D((big / 2 - 0.5, big / 2 - 0.5), ang, sc)
    m[:, 2] += (size - big) / 2 + rng.uniform(-0.04, 0.04, 2) * size
    image = cv2.warpAffine(rec["image"], m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    prior = cv2.warpAffine(rec["prior"], m, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    truth = cv2.warpAffine(rec["truth"], m, (size, size), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
    if rng.random() < 0.5:
        image, prior, truth = flip_sample(image, prior, truth)
    if skin_tone > 0 and rng.random() < skin_tone:
        image = darker_skin(image, prior, rng)
    if paint > 0 and rng.random() < paint:
        image = painted_skin(image, prior, rng)
    fl = image.astype(np.float32)
    fl = (fl - fl.mean()) * rng.uniform(0.7, 1.3) + fl.mean() + rng.uniform(-25, 25)
    grey = fl.mean(2, keepdims=True)
    fl = grey + (fl - grey) * (0.0 if rng.random() < 0.08 else rng.uniform(0.6, 1.4))
    img: np.ndarray = np.clip(fl * rng.uniform(0.9, 1.1, 3), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(rng.integers(-8, 9))) % 180).astype(np.uint8)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.5))
    if rng.random() < 0.3:
        img = np.clip(img + rng.normal(0, rng.uniform(2, 8), img.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        dec = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED) if ok else None
        if dec is not None:
            img = dec
    if rng.random() < 0.25:  # an occluder: a hand-sized blob of one colour with some texture
        mask = np.zeros((size, size), np.uint8)
        c = rng.uniform(0.15, 0.85, 2) * size
        axes = rng.uniform(0.06, 0.2, 2) * size
        cv2.ellipse(mask, (int(c[0]), int(c[1])), (int(axes[0]), int(axes[1])), float(rng.uniform(0, 180)),
                    0, 360, 1, -1)
        colour = rng.integers(0, 256, 3)
        tex = rng.normal(0, 12, (size, size, 1))
        occ = np.clip(colour[None, None, :] + tex, 0, 255).astype(np.uint8)
        img = np.where(mask[..., None] > 0, occ, img)
        truth = np.where((mask > 0) & (truth != IGNORE), 0, truth).astype(np.uint8)
    if rng.random() < 0.3:
        dx, dy = rng.integers(-3, 4, 2)
        prior = np.roll(prior, (int(dy), int(dx)), (0, 1))
    return np.ascontiguousarray(img), prior, truth


def batch_tensors(samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], absorbs: Sequence[np.ndarray],
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images [N,3,S,S] in [0,1], priors [N,S,S], truths [N,S,S], absorb masks [N,19])``."""
    img = torch.from_numpy(np.stack([s[0] for s in samples])).permute(0, 3, 1, 2).float() / 255.0
    prior = torch.from_numpy(np.stack([s[1] for s in samples])).long()
    truth = torch.from_numpy(np.stack([s[2] for s in samples])).long()
    ab = torch.from_numpy(np.stack(absorbs)).bool()
    return img.to(device), prior.to(device), truth.to(device), ab.to(device)


def absorb_mask(source: Source) -> np.ndarray:
    """``[19]`` bool: the classes a background pixel of ``source`` may stand for (background and
    every class the source does not annotate, except those its photos are known not to show)."""
    m = np.ones(NUM_CLASSES, bool)
    m[list(source.annotated) + list(source.absent)] = False
    m[0] = True
    return m


# -- loss -------------------------------------------------------------------------------------------


def marginal_cross_entropy(logits: torch.Tensor, truth: torch.Tensor, absorb: torch.Tensor,
                           boundary_weight: float = BOUNDARY_WEIGHT,
                           class_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy where a background pixel counts for background **or** any class its source
    does not annotate (``absorb``), boundary pixels weighted ``1 + boundary_weight``; :data:`IGNORE`
    pixels are left out.

    Args:
        logits: ``[N, 19, H, W]``.
        truth: ``[N, H, W]`` labels (official order, :data:`IGNORE` allowed).
        absorb: ``[N, 19]`` bool (:func:`absorb_mask`).
        boundary_weight: extra weight of pixels on a ground-truth class boundary.
        class_weight: ``[19]`` weight of a pixel by its true class (``--class-weight``; all 1 when
            ``None``); the mean is taken over the weights, so it shifts the balance between classes.

    Example:
        >>> lg = torch.zeros(1, 19, 1, 1); lg[0, 18] = 5.0        # confident "cloth"
        >>> t = torch.zeros(1, 1, 1, dtype=torch.long)            # labelled background
        >>> full = torch.ones(1, 19, dtype=torch.bool); none = torch.zeros(1, 19, dtype=torch.bool)
        >>> none[0, 0] = True                                     # a source that annotates cloth
        >>> bool(marginal_cross_entropy(lg, t, full) < marginal_cross_entropy(lg, t, none))
        True
    """
    lp = F.log_softmax(logits.float(), 1)
    valid = truth != IGNORE
    t = truth.clamp(0, NUM_CLASSES - 1)
    picked = lp.gather(1, t[:, None])[:, 0]
    neg = torch.finfo(lp.dtype).min
    bg = torch.logsumexp(lp.masked_fill(~absorb[:, :, None, None], neg), 1)
    ll = torch.where(t == 0, bg, picked)
    tpad = F.pad(t[:, None].float(), (1, 1, 1, 1), mode="replicate")
    edge = (F.max_pool2d(tpad, 3, 1) != -F.max_pool2d(-tpad, 3, 1))[:, 0]
    w = 1.0 + boundary_weight * edge.float()
    if class_weight is not None:
        w = w * class_weight.to(w.device)[t]
    w = w * valid.float()
    return -(ll * w).sum() / w.sum().clamp_min(1.0)


def soft_dice(logits: torch.Tensor, truth: torch.Tensor, absorb: torch.Tensor) -> torch.Tensor:
    """``1 −`` mean soft Dice over the classes each sample's source annotates (background excluded)."""
    p = F.softmax(logits.float(), 1)
    valid = (truth != IGNORE).float()[:, None]
    onehot = F.one_hot(truth.clamp(0, NUM_CLASSES - 1), NUM_CLASSES).permute(0, 3, 1, 2).float() * valid
    p = p * valid
    inter = (p * onehot).sum((2, 3))
    denom = p.sum((2, 3)) + onehot.sum((2, 3))
    dice = (2 * inter + 1.0) / (denom + 1.0)
    use = (~absorb).float() * (onehot.sum((2, 3)) > 0).float()
    return 1.0 - (dice * use).sum() / use.sum().clamp_min(1.0)


def lovasz_softmax(logits: torch.Tensor, truth: torch.Tensor, absorb: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """The Lovász-softmax loss (Berman, Rannen Triki and Blaschko 2018): a convex surrogate of
    ``1 −`` IoU, per sample and class, averaged over the classes each sample's source annotates and
    its truth shows (background excluded, as in :func:`soft_dice`); :data:`IGNORE` pixels are left
    out. The pixels are taken on every ``stride``-th row and column (the IoU of a class barely moves,
    the sort is ``stride²`` times smaller), and the samples' classes are sorted at once.

    Example:
        >>> t = torch.zeros(1, 4, 4, dtype=torch.long); t[0, :2] = 1               # skin on top
        >>> right = torch.full((1, 19, 4, 4), -9.0); right[0, 1, :2] = 9.0; right[0, 0, 2:] = 9.0
        >>> wrong = right.flip(2)
        >>> ab = torch.zeros(1, 19, dtype=torch.bool); ab[0, 0] = True
        >>> float(lovasz_softmax(right, t, ab)) < 0.01 < 0.9 < float(lovasz_softmax(wrong, t, ab))
        True
    """
    n, c = logits.shape[:2]
    truth = truth[:, ::stride, ::stride]
    p = F.softmax(logits.float()[:, :, ::stride, ::stride], 1).reshape(n, c, -1)
    valid = (truth != IGNORE).reshape(n, 1, -1).float()
    fg = F.one_hot(truth.clamp(0, NUM_CLASSES - 1).reshape(n, -1), NUM_CLASSES).permute(0, 2, 1).float() * valid
    use = ~absorb & (fg.sum(2) > 0)  # [N, 19]: the (sample, class) pairs scored
    if not use.any():
        return logits.sum() * 0.0
    errors = ((fg - p).abs() * valid)[use]  # [K, P]; an ignored pixel: no error, no gradient, sorted last
    errors_sorted, order = torch.sort(errors, dim=1, descending=True)
    fg_sorted = fg[use].gather(1, order)
    total = fg_sorted.sum(1, keepdim=True)
    inter = total - fg_sorted.cumsum(1)
    union = total + (1.0 - fg_sorted).cumsum(1)
    jac = 1.0 - inter / union  # the Jaccard loss after each pixel, in decreasing order of error
    grad = torch.cat([jac[:, :1], jac[:, 1:] - jac[:, :-1]], 1)
    return (errors_sorted * grad).sum(1).mean()


# -- evaluation -------------------------------------------------------------------------------------


def score(pred: np.ndarray, truth: np.ndarray, annotated: Sequence[int], inter: np.ndarray, union: np.ndarray) -> None:
    """Accumulate per-class intersections / unions (in place) as ``bench.faces`` does: pixels the
    prediction gives a class the source does not annotate are left out."""
    keep = np.isin(pred, list(annotated))
    for c in annotated:
        p, t = (pred == c) & keep, (truth == c) & keep
        inter[c] += (p & t).sum()
        union[c] += (p | t).sum()


def summarize(inter: np.ndarray, union: np.ndarray, annotated: Sequence[int]) -> dict[str, Any]:
    """Per-class IoU and the mIoU over the classes the geometric parser produces (and the source annotates)."""
    iou = {CELEBAMASK_HQ.classes[c]: round(float(inter[c] / union[c]), 4) for c in annotated if union[c] > 0}
    scored = [v for k, v in iou.items() if k in PRODUCED_CLASSES]
    return {"per_class_iou": iou, "miou": round(float(np.mean(scored)), 4) if scored else 0.0}


def evaluate(model: FaceParserNet, records: Sequence[dict[str, Any]], items: Sequence[Item], size: int,
             sink: dict[str, dict[str, np.ndarray]] | None = None, scale: float = CROP_SCALE,
             shift: float = CROP_SHIFT, keep: Sequence[int] = (), mirrored: bool = False,
             edge: float = 0.0, guard: float = 1.0, hat: bool = False, bounded: Sequence[int] = ()) -> dict[str, Any]:
    """Learned vs geometric on ``records`` (full-resolution photos, product path, crop ``scale`` /
    ``shift``, the mesh's ``keep`` classes kept, each crop also seen mirrored when ``mirrored``, the
    edge-aware refinement of radius ``edge`` when above 0, the face guard ``guard`` when below 1,
    the hair / hat decision carried past the crops when ``hat``); per source.

    ``sink`` (optional) accumulates the raw intersections/unions per source and engine across calls.
    """
    model.eval()
    acc: dict[str, dict[str, np.ndarray]] = {}
    for rec in records:
        it = items[int(rec["index"])]
        src = source_of(it.source)
        rgb = load_image(it.photo)
        truth = read_truth(it)
        learned = refine_parsing(rgb, faces_of(rec), rec["geometric"], model, size, scale, shift, keep, mirrored,
                                 edge=edge, guard=guard, hat=hat, bounded=bounded)
        for eng, pred in (("geometric", rec["geometric"]), ("learned", learned)):
            for a in (acc, sink) if sink is not None else (acc,):
                d = a.setdefault(f"{src.name}/{eng}", _counts())
                score(pred, truth, src.annotated, d["inter"], d["union"])
                d["n"] += 1.0
                unlabelled = [c for c in EXTRA_CLASSES if c not in src.annotated]
                fp = float(np.isin(pred, unlabelled).sum()) if unlabelled else 0.0
                d["extra"] += [fp, float(pred.size), float(fp > 0.001 * pred.size)]
    return tables(acc)


def _counts() -> dict[str, np.ndarray]:
    """Empty accumulators: per-class intersections / unions, photos, and (false extra-class pixels,
    pixels, photos with over 0.1 % of them)."""
    return {"inter": np.zeros(NUM_CLASSES), "union": np.zeros(NUM_CLASSES), "n": np.zeros(1), "extra": np.zeros(3)}


def tables(acc: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Per source and engine: photos, per-class IoU, mIoU (from accumulated counts) and, on sources that
    do not label hat / earring / necklace, the share of pixels given those classes anyway."""
    out: dict[str, Any] = {}
    for key, d in sorted(acc.items()):
        src, eng = key.split("/")
        s = summarize(d["inter"], d["union"], source_of(src).annotated)
        if "extra" in d and any(c not in source_of(src).annotated for c in EXTRA_CLASSES):
            e = d["extra"]
            s["false_extra_share"] = round(float(e[0] / max(e[1], 1.0)), 5)
            s["photos_with_false_extra"] = int(e[2])
        out.setdefault(src, {"photos": int(round(float(d["n"][0])))})[eng] = s
    return out


def pooled(acc: dict[str, dict[str, np.ndarray]], eng: str) -> dict[str, float]:
    """Per-class IoU of ``eng`` pooled over every source that annotates the class."""
    inter = np.zeros(NUM_CLASSES)
    union = np.zeros(NUM_CLASSES)
    for key, d in acc.items():
        if key.endswith("/" + eng):
            inter += d["inter"]
            union += d["union"]
    return {CELEBAMASK_HQ.classes[c]: round(float(inter[c] / union[c]), 4) for c in range(NUM_CLASSES)
            if union[c] > 0 and CELEBAMASK_HQ.classes[c] in PRODUCED_CLASSES}


def verdict_of(table: dict[str, Any], pool: dict[str, dict[str, float]]) -> tuple[bool, dict[str, Any]]:
    """Apply :data:`VERDICT_RULE`; returns ``(better, facts)``."""
    geo = float(np.mean([table[s]["geometric"]["miou"] for s in table]))
    lea = float(np.mean([table[s]["learned"]["miou"] for s in table]))
    worse = {c: round(pool["learned"][c] - pool["geometric"][c], 4) for c in pool["geometric"]
             if c in pool["learned"] and pool["learned"][c] < pool["geometric"][c] - WORSE_TOLERANCE}
    false_extra = {s: table[s]["learned"]["false_extra_share"] for s in table
                   if table[s]["learned"].get("false_extra_share", 0.0) > FALSE_EXTRA_MAX}
    better = lea > geo and not worse and not false_extra
    return better, {"mean_source_miou_geometric": round(geo, 4), "mean_source_miou_learned": round(lea, 4),
                    "classes_clearly_worse": worse, "sources_with_false_extra_classes": false_extra}


# -- training ---------------------------------------------------------------------------------------


def load_imagenet_encoder(model: FaceParserNet) -> str:
    """Copy EfficientNet-Lite0's ImageNet weights into ``model.encoder`` (head and classifier left
    out); returns what was loaded. Raises :class:`~engine.errors.CheckpointError` when absent."""
    from engine.weights.catalog import load_imagenet_features

    feats = load_imagenet_features("efficientnet_lite0")
    state = {k: v for k, v in feats.net.state_dict().items() if not k.startswith(("_conv_head", "_bn1.", "_fc"))}
    model.encoder.load_state_dict(state, strict=True)
    return feats.name


def train_one(rt: Runtime, records: Sequence[dict[str, Any]], items: Sequence[Item], out_dir: Path,
              args: argparse.Namespace) -> tuple[FaceParserNet, dict[str, Any]]:
    """Train a parser on ``records`` (resumable in ``out_dir``); returns it and its training facts."""
    model = new_model(args)
    features = load_imagenet_encoder(model)
    model.to(rt.device)
    net = rt.wrap(model)
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    dec = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    lr = _lr(args)
    opt = torch.optim.AdamW([{"params": enc, "lr": lr * 0.2}, {"params": dec, "lr": lr}],
                            weight_decay=1e-4)
    base = [g["lr"] for g in opt.param_groups]
    rng = rt.rng(args.seed)
    absorbs = [absorb_mask(source_of(items[int(r["index"])].source)) for r in records]
    # sources sampled evenly (the 9 fully labelled pairs would otherwise be rare in a batch); the hair
    # photos come on top, HAIR_PER_BATCH of them, so the labelled photos are seen as often as without them
    by_source: dict[str, list[int]] = {}
    for j, r in enumerate(records):
        by_source.setdefault(items[int(r["index"])].source, []).append(j)
    hair = by_source.pop(HAIR_PHOTOS.name, [])
    groups = list(by_source.values())
    cw = class_weights(getattr(args, "class_weight", None))
    skin_tone = _skin_tone(args)
    paint = _paint(args)
    lovasz = _lovasz(args)

    def step(i: int) -> dict[str, float]:
        frac = i / max(1, args.steps)
        for g, b in zip(opt.param_groups, base, strict=True):
            g["lr"] = float(b * min(1.0, (i + 1) / 20) * (0.5 * (1 + np.cos(np.pi * frac))))  # a numpy scalar in the
            # optimizer state would make the weights-only load of a resumed run fail
        picks = [groups[int(rng.integers(len(groups)))] for _ in range(args.batch)]
        idx = [g[int(rng.integers(len(g)))] for g in picks]
        if hair:
            idx += [hair[int(rng.integers(len(hair)))] for _ in range(HAIR_PER_BATCH)]
        samples = [augment(records[j], args.size, rng, skin_tone, paint) for j in idx]
        img, prior, truth, ab = batch_tensors(samples, [absorbs[j] for j in idx], rt.device)
        net.train()
        with rt.autocast():
            logits = net(img, prior)
        ce = marginal_cross_entropy(logits, truth, ab, class_weight=cw)
        dice = soft_dice(logits, truth, ab)
        loss = ce + DICE_WEIGHT * dice
        out = {"ce": float(ce.detach()), "dice": float(dice.detach())}
        if lovasz > 0:
            lz = lovasz_softmax(logits, truth, ab, LOVASZ_STRIDE)
            loss = loss + lovasz * lz
            out["lovasz"] = float(lz.detach())
        opt.zero_grad(set_to_none=True)
        rt.backward(loss, opt)
        rt.step(opt)
        return {"loss": float(loss.detach()), **out}

    trainer = Trainer(TrainConfig(out_dir, args.steps, log_every=10, checkpoint_every=50, seed=args.seed),
                      {"parser": model}, {"opt": opt}, step, rt)
    t0 = rt.clock()
    done = trainer.run(rt.time_budget(args.time_limit))
    facts = {"steps": done, "steps_planned": args.steps, "train_photos": len(records), "features": features,
             "skin_tone_aug": skin_tone, "paint_aug": paint, "lr": lr, "frozen_stages": model.frozen_stages,
             "last_session_s": round(rt.clock() - t0, 1)}
    if lovasz > 0:
        facts["lovasz"] = lovasz
    return model, facts


def class_weights(specs: Sequence[str] | None) -> torch.Tensor | None:
    """The ``[19]`` per-class cross-entropy weights of ``--class-weight NAME=W`` options (1 for the
    classes not named), or ``None`` without any.

    Example:
        >>> w = class_weights(["l_brow=2", "neck=1.5"])
        >>> float(w[CELEBAMASK_HQ.index("l_brow")]), float(w[CELEBAMASK_HQ.index("neck")]), float(w[0])
        (2.0, 1.5, 1.0)
    """
    if not specs:
        return None
    w = torch.ones(NUM_CLASSES)
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or name.strip() not in CELEBAMASK_HQ.classes:
            raise SystemExit(f"--class-weight {spec!r}: expected NAME=WEIGHT with NAME one of "
                             f"{', '.join(CELEBAMASK_HQ.classes)}")
        try:
            weight = float(value)
        except ValueError:
            raise SystemExit(f"--class-weight {spec!r}: {value!r} is not a number") from None
        if not weight > 0:
            raise SystemExit(f"--class-weight {spec!r}: the weight must be positive")
        w[CELEBAMASK_HQ.index(name.strip())] = weight
    return w


def _run_folds(rt: Runtime, records: list[dict[str, Any]], items: list[Item], args: argparse.Namespace,
               run: Path) -> tuple[dict[str, dict[str, np.ndarray]], list[dict[str, Any]]]:
    fold_of = folds_for(items, args.folds, args.seed)
    acc: dict[str, dict[str, np.ndarray]] = {}
    facts = []
    labelled, pseudo = split_pseudo(records, items)
    hair = split_hair(records, items)
    teachers = Path(args.pseudo_teacher) if getattr(args, "pseudo_teacher", None) else None
    for k in range(args.folds):
        fdir = run / f"fold{k}"
        result = fdir / "result.npz"
        test = [r for r in labelled if fold_of[int(r["index"])] == k]
        train = [r for r in labelled if fold_of[int(r["index"])] != k]
        hair_train = [r for r in hair if fold_of[int(r["index"])] != k]
        hair_test = [r for r in hair if fold_of[int(r["index"])] == k]  # never trained on: false hats measurable
        config = fdir / "training.json"  # (folds run before it existed were trained without these options)
        if config.is_file() and json.loads(config.read_text()) != _training_config(args):
            raise SystemExit(f"fold {k + 1} was trained with {config.read_text()}, not "
                             f"{json.dumps(_training_config(args))}: run with the same --skin-tone-aug / --paint-aug / --pseudo-* / "
                             "--frozen-stages / --lr / --lovasz / --hair-photos options, or use another --run-dir")
        if not result.is_file():
            print(f"fold {k + 1}/{args.folds}: train on {len(train)} photos"
                  + (f" + {len(hair_train)} hair photos" if hair_train else "") + f", test on {len(test)}", flush=True)
            fdir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(config, json.dumps(_training_config(args)).encode())
            if teachers is not None:  # the fold's teacher never saw this fold's held-out photos
                check_teacher_fold(teachers / f"fold{k}", held_out_names(items, test))
            train = _with_pseudo(train, pseudo, teachers / f"fold{k}" / "state" / "parser.safetensors"
                                 if teachers else None, args)
            model, f = train_one(rt, train + hair_train, items, fdir, args)
            if f["steps"] < args.steps:
                print(f"fold {k + 1}: stopped at step {f['steps']} (time limit); run again to continue", flush=True)
                return {}, []
            sink: dict[str, dict[str, np.ndarray]] = {}
            evaluate(model, test, items, args.size, sink, *_crop(args), **_scored_with(args))
            arrays = {f"{key}|{part}": v for key, d in sink.items() for part, v in d.items()}
            atomic_write_bytes(result, _npz(**arrays))
            atomic_write_bytes(fdir / "facts.json", json.dumps(dict(f, test_photos=len(test),
                                                                     held_out=held_out_names(items, test),
                                                                     **_pseudo_facts(args, len(pseudo)),
                                                                     **_hair_facts(args, len(hair_train)),
                                                                     hair_held_out=held_out_names(items, hair_test))).encode())
            atomic_write_bytes(fdir / "scoring.json", json.dumps(_scoring(args)).encode())
        elif not getattr(args, "rescore", False):
            scored = fdir / "scoring.json"  # (runs before it existed were scored as they were run)
            if scored.is_file() and json.loads(scored.read_text()) != _scoring(args):
                raise SystemExit(f"fold {k + 1} was scored with {scored.read_text()}, not {json.dumps(_scoring(args))}: "
                                 "run with the same --mirror-tta / --keep-mesh-classes / --edge-refine / --face-guard / --extend-hat / "
                                 "--mesh-bounded-classes, "
                                 "or add --rescore")
        else:  # the finished fold's model, scored again
            import safetensors.torch

            model = new_model(args)
            model.load_state_dict(safetensors.torch.load_file(str(fdir / "state" / "parser.safetensors")), strict=True)
            print(f"fold {k + 1}/{args.folds}: scoring {len(test)} held-out photos again", flush=True)
            sink = {}
            evaluate(model.to(rt.device), test, items, args.size, sink, *_crop(args), **_scored_with(args))
            atomic_write_bytes(result, _npz(**{f"{key}|{part}": v for key, d in sink.items() for part, v in d.items()}))
            atomic_write_bytes(fdir / "scoring.json", json.dumps(_scoring(args)).encode())
        with np.load(result) as z:
            for name in z.files:
                key, part = name.split("|")
                d = acc.setdefault(key, _counts())
                d[part] = d[part] + z[name]
        facts.append(json.loads((fdir / "facts.json").read_text()))
    return acc, facts


def _crop(args: argparse.Namespace) -> tuple[float, float]:
    """``(crop scale, crop shift)`` of a run (``--crop-scale``, ``--crop-shift``)."""
    return float(getattr(args, "crop_scale", None) or CROP_SCALE), float(getattr(args, "crop_shift", None) or CROP_SHIFT)


def _keep(args: argparse.Namespace) -> tuple[int, ...]:
    """The classes left as the mesh draws them (``--keep-mesh-classes``), as official-order ids."""
    return class_ids(_keep_names(args))


def _bounded(args: argparse.Namespace) -> tuple[int, ...]:
    """The classes bounded by the mesh's regions (``--mesh-bounded-classes``), as official-order ids."""
    return class_ids(_bounded_names(args), "--mesh-bounded-classes")


def _scored_with(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`evaluate`'s ``keep``, ``mirrored``, ``edge``, ``guard``, ``hat`` and ``bounded`` of a run
    (``--keep-mesh-classes``, ``--mirror-tta``, ``--edge-refine``, ``--face-guard``, ``--extend-hat``,
    ``--mesh-bounded-classes``)."""
    return {"keep": _keep(args), "mirrored": _mirror(args), "edge": _edge(args), "guard": _guard(args),
            "hat": _hat(args), "bounded": _bounded(args)}


def _card_inference(args: argparse.Namespace) -> dict[str, Any]:
    """A run's inference options as its card names them (what
    :func:`~engine.faces.learned_parsing.card_options` reads back)."""
    return {"keep_mesh_classes": _keep_names(args), "mirror_tta": _mirror(args), "edge_refine": _edge(args),
            "face_guard": _guard(args), "extend_hat": _hat(args), "mesh_bounded_classes": _bounded_names(args)}


def _scoring(args: argparse.Namespace) -> dict[str, Any]:
    """How a fold's held-out photos are scored (kept beside its result: a resumed run must score
    every fold the same way; ``edge_refine``, ``face_guard``, ``extend_hat`` and
    ``mesh_bounded_classes`` only when on, as folds scored before they existed)."""
    out: dict[str, Any] = {"mirror_tta": _mirror(args), "keep_mesh_classes": _keep_names(args)}
    if _edge(args) > 0:
        out["edge_refine"] = _edge(args)
    if _guard(args) < 1.0:
        out["face_guard"] = _guard(args)
    if _hat(args):
        out["extend_hat"] = True
    if _bounded_names(args):
        out["mesh_bounded_classes"] = _bounded_names(args)
    return out


def _hat(args: argparse.Namespace) -> bool:
    """Whether the learned hair / hat decision is carried past the crops (``--extend-hat``, default on)."""
    return bool(getattr(args, "extend_hat", True))


def _guard(args: argparse.Namespace) -> float:
    """The face guard's share (``--face-guard``, default :data:`FACE_GUARD`; 1: off)."""
    value = _option(args, "face_guard", FACE_GUARD)
    try:
        return face_guard(value)  # the card's own check
    except CheckpointError:
        raise SystemExit(f"--face-guard must be a share above 0 and at most 1, got {value}") from None


def _edge(args: argparse.Namespace) -> float:
    """The edge-aware refinement's radius in crop pixels (``--edge-refine``; 0: off)."""
    value = float(getattr(args, "edge_refine", None) or 0.0)
    try:
        return edge_radius(value)  # the card's own check
    except CheckpointError:
        raise SystemExit(f"--edge-refine must be a radius from 0 to 8 crop pixels, got {value}") from None


def _lovasz(args: argparse.Namespace) -> float:
    """Weight of the Lovász-softmax term in the loss (``--lovasz``; 0: none)."""
    value = _option(args, "lovasz", 0.0)
    if not 0.0 <= value <= 10.0:
        raise SystemExit(f"--lovasz must be a weight from 0 to 10, got {value}")
    return value


def _mirror(args: argparse.Namespace) -> bool:
    """Whether crops are also parsed mirrored (``--mirror-tta``)."""
    return bool(getattr(args, "mirror_tta", False))


def _names(args: argparse.Namespace, option: str) -> list[str]:
    """The class names of a comma-separated option of the run (``args.<option>``)."""
    return [n.strip() for n in str(getattr(args, option, None) or "").split(",") if n.strip()]


def _keep_names(args: argparse.Namespace) -> list[str]:
    """The classes left as the mesh draws them (``--keep-mesh-classes``)."""
    return _names(args, "keep_mesh_classes")


def _bounded_names(args: argparse.Namespace) -> list[str]:
    """The classes the network may shrink but not grow past the mesh's regions (``--mesh-bounded-classes``)."""
    return _names(args, "mesh_bounded_classes")


def unseen_classes(items: Sequence[Item]) -> list[str]:
    """The official classes that no labelled photo of ``items`` shows (not one pixel of its ground
    truth): the network is never taught them, so they are left to the geometric parser (added to
    ``--keep-mesh-classes``). On the development data: ``eye_g`` (the labelled photos hold no
    glasses, and the network erased the frame detector's glasses on the 26 development photos it
    found them on: at most 7 % of their pixels stayed on 25, 69 % on one) and ``neck_l``. A ``--holdout-source`` run asks this of all its labelled photos,
    held-out sources included (a class only a held-out source shows is not added)."""
    seen = np.zeros(256, bool)
    for it in items:
        if it.labels is not None:
            seen[np.unique(read_truth(it))] = True
    return [n for i, n in enumerate(CELEBAMASK_HQ.classes) if not seen[i]]


def _keep_unseen(args: argparse.Namespace, items: Sequence[Item]) -> None:
    """Add the :func:`unseen_classes` of ``items`` to the run's ``--keep-mesh-classes`` (said once)."""
    unseen = [n for n in unseen_classes(items) if n not in _keep_names(args)]
    if unseen:
        print(f"{', '.join(unseen)}: on no labelled photo; left to the geometric parser (--keep-mesh-classes)")
        args.keep_mesh_classes = ",".join(_keep_names(args) + unseen)


def holdout_sources(spec: str) -> list[str]:
    """The sources named by ``--holdout-source`` (``"all"`` or comma-separated :data:`SOURCES` names).

    Example:
        >>> holdout_sources("mt,celebamask")
        ['mt', 'celebamask']
        >>> len(holdout_sources("all")) == len(SOURCES)
        True
    """
    names = [s.name for s in SOURCES] if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in {s.name for s in SOURCES}]
    if unknown or not names:
        raise ValueError(f"--holdout-source: unknown source(s) {unknown or spec!r}; "
                         f"choose from all, {', '.join(s.name for s in SOURCES)}")
    return names


def unlabelled_items(root: Path, args: argparse.Namespace) -> list[Item]:
    """The unlabelled photos a run trains on: ``--pseudo-data`` (with ``--pseudo-teacher``), then
    ``--hair-photos`` (none with ``--rescore``, which trains nothing: the option only says how the
    run's folds were trained, as their ``training.json`` records).

    Raises:
        SystemExit: either option with ``--holdout-source`` or ``--eval-only``; ``--pseudo-teacher``
            with ``--rescore``.
    """
    items: list[Item] = []
    rescore = bool(getattr(args, "rescore", False))
    scores_only = bool(getattr(args, "holdout_source", None) or args.eval_only)
    if getattr(args, "pseudo_teacher", None):
        if scores_only or rescore:
            raise SystemExit("--pseudo-teacher trains folds and the final model; it does not go with "
                             "--holdout-source, --eval-only or --rescore")
        items += list_unlabelled(root, _pseudo_folders(args))
    if _hair_folders(args) and not rescore:
        if scores_only:
            raise SystemExit("--hair-photos trains folds and the final model; it does not go with "
                             "--holdout-source or --eval-only")
        items += list_unlabelled(root, _hair_folders(args), HAIR_PHOTOS, "--hair-photos")
    return items


def _run_holdout(rt: Runtime, records: list[dict[str, Any]], items: list[Item], args: argparse.Namespace,
                 run: Path) -> int:
    """``--holdout-source``: for each named source, train on every other source's photos and parse the
    held-out source's photos (product path, full resolution), learned vs geometric on the same photos.

    Each source's model and result live in ``RUN_DIR/holdout_<source>/`` (a killed run resumes); the
    table of every finished source goes to ``RUN_DIR/holdout.json``. Nothing is written to a checkpoint.
    """
    names = holdout_sources(args.holdout_source)
    acc: dict[str, dict[str, np.ndarray]] = {}
    facts: dict[str, Any] = {}
    for name in names:
        hdir = run / f"holdout_{name}"
        result = hdir / "result.npz"
        test = [r for r in records if items[int(r["index"])].source == name]
        train = [r for r in records if items[int(r["index"])].source != name]
        if not test or not train:
            print(f"held out {name}: {len(test)} test / {len(train)} training photos, skipped", flush=True)
            continue
        if not result.is_file():
            print(f"held out {name}: train on {len(train)} photos of the other sources, test on {len(test)}",
                  flush=True)
            hdir.mkdir(parents=True, exist_ok=True)
            model, f = train_one(rt, train, items, hdir, args)
            if f["steps"] < args.steps:
                print(f"held out {name}: stopped at step {f['steps']} (time limit); run again to continue", flush=True)
                return 0
            sink: dict[str, dict[str, np.ndarray]] = {}
            evaluate(model, test, items, args.size, sink, *_crop(args), **_scored_with(args))
            atomic_write_bytes(result, _npz(**{f"{key}|{part}": v for key, d in sink.items() for part, v in d.items()}))
            atomic_write_bytes(hdir / "facts.json", json.dumps(dict(f, test_photos=len(test))).encode())
        with np.load(result) as z:
            for fname in z.files:
                key, part = fname.split("|")
                d = acc.setdefault(key, _counts())
                d[part] = d[part] + z[fname]
        facts[name] = json.loads((hdir / "facts.json").read_text())
    table = tables(acc)
    doc = {"protocol": "each source held out in turn: trained on the other sources' photos only, scored on the "
                       "held-out source's photos (full resolution, classes the geometric parser produces and the "
                       "source annotates)",
           "holdout": table, "training": facts,
           "mean_source_miou": {eng: round(float(np.mean([table[s][eng]["miou"] for s in table])), 4)
                                for eng in ("geometric", "learned")} if table else {},
           "settings": {**{k: getattr(args, k, None) for k in ("size", "steps", "batch", "width", "lr", "seed")},
                        "crop_scale": _crop(args)[0], "crop_shift": _crop(args)[1]}}
    atomic_write_bytes(run / "holdout.json", json.dumps(doc, indent=1).encode())
    print(json.dumps(doc, indent=1), flush=True)
    print(f"wrote {run / 'holdout.json'}", flush=True)
    return 0


def main(args: argparse.Namespace) -> int:
    """``masquerade train parser``: cross-validate, then train and save the shipped model."""
    from engine.weights.card import Verdict
    from engine.weights.store import save_checkpoint

    if getattr(args, "holdout_source", None):
        holdout_sources(args.holdout_source)  # a wrong name fails before the slow cache
    _keep(args)  # a wrong --keep-mesh-classes name fails before any training
    _bounded(args)  # and so does a wrong --mesh-bounded-classes name
    _edge(args)  # nor a wrong --edge-refine radius
    _guard(args)  # nor a wrong --face-guard share
    class_weights(getattr(args, "class_weight", None))  # nor a wrong --class-weight
    if not 0 <= _frozen(args) <= len(STAGES):
        raise SystemExit(f"--frozen-stages must be 0-{len(STAGES)}, got {_frozen(args)}")
    if not _lr(args) > 0:
        raise SystemExit(f"--lr must be above 0, got {_lr(args)}")
    _lovasz(args)  # nor a wrong --lovasz weight
    for flag, value in (("--skin-tone-aug", _skin_tone(args)), ("--paint-aug", _paint(args)),
                        ("--pseudo-min-prob", _pseudo_min(args))):
        if not 0.0 <= value <= 1.0:
            raise SystemExit(f"{flag} must be between 0 and 1, got {value}")
    torch.set_num_threads(max(1, args.threads))
    rt = Runtime.create(getattr(args, "device", "auto"), getattr(args, "amp", False))
    root = Path(args.data)
    items = list_items(root)
    if not items:
        print(f"no labelled photos under {root}")
        return 2
    items += unlabelled_items(root, args)  # after the labelled ones: their cache files keep their names
    _keep_unseen(args, items)
    run = Path(args.run_dir)
    t_start = time.time()
    unlabelled = sum(it.source == PSEUDO.name for it in items)
    hair_items = sum(it.source == HAIR_PHOTOS.name for it in items)
    print(f"{len(items) - unlabelled - hair_items} labelled photos"
          + (f" + {unlabelled} to pseudo-label" if unlabelled else "")
          + (f" + {hair_items} with geometric hair labels" if hair_items else "")
          + "; caching geometric analyses and crops", flush=True)
    records = build_cache(items, run / "cache", args.size, *_crop(args))
    if args.eval_only:
        return _eval_only(rt, records, items, args)
    if getattr(args, "holdout_source", None):
        return _run_holdout(rt, records, items, args, run)
    acc, fold_facts = _run_folds(rt, records, items, args, run)
    if not acc:
        return 0
    table = tables(acc)
    pool = {eng: pooled(acc, eng) for eng in ("geometric", "learned")}
    better, vfacts = verdict_of(table, pool)
    print(json.dumps({"cv": table, "pooled": pool, **vfacts, "better": better}, indent=1), flush=True)
    if not rt.is_main:
        return 0
    if getattr(args, "rescore", False):
        return _rewrite_card(args, table, pool, vfacts, better, fold_facts)
    labelled, pseudo = split_pseudo(records, items)
    hair = split_hair(records, items)
    print(f"final model: train on all {len(labelled)} photos" + (f" + {len(hair)} hair photos" if hair else ""),
          flush=True)
    teacher = Path(args.pseudo_teacher) / "final" / "state" / "parser.safetensors" if pseudo else None
    model, facts = train_one(rt, _with_pseudo(labelled, pseudo, teacher, args) + hair, items, run / "final", args)
    if facts["steps"] < args.steps:
        print(f"final: stopped at step {facts['steps']} (time limit); run again to continue", flush=True)
        return 0
    model = model.cpu().half()
    measure = (f"{args.folds}-fold cross-validation by photo on {len(labelled)} labelled dev photos "
               f"(CelebAMask-HQ pairs, MT, Xiqu stage makeup, Xiqu portraits), full-resolution IoU, "
               f"mean over sources of mIoU on the classes the geometric parser produces")
    card = save_checkpoint(
        model, args.out, task="faces", input_size=(args.size, args.size), label_scheme="celebamask_hq",
        training_data=("shared dev data: faces/parsing (9 CelebAMask-HQ pairs), makeup/mt (14), opera/xiqu makeup "
                       "and non-makeup (30 + 30); labels converted to the official order, unannotated classes "
                       "ignored per source; ImageNet EfficientNet-Lite0 encoder"
                       + (f"; pseudo-labels on {len(pseudo)} unlabelled photos ({', '.join(_pseudo_folders(args))}) "
                          f"by the teacher run {args.pseudo_teacher}" if pseudo else "")
                       + (f"; the geometric hair (eroded {HAIR_ERODE} px, hair-coloured pixels) of {len(hair)} unlabelled everyday photos "
                          f"({', '.join(_hair_folders(args))}) as hair, not hat" if hair else "")),
        licence="research / non-commercial (CelebAMask-HQ, MT, Xiqu terms); encoder weights Apache-2.0",
        metrics={"cv_miou_learned": vfacts["mean_source_miou_learned"],
                 "cv_miou_geometric": vfacts["mean_source_miou_geometric"]},
        extra={**facts, "crop_scale": _crop(args)[0], "crop_shift": _crop(args)[1],
               **_card_inference(args), "folds": args.folds,
               **_pseudo_facts(args, len(pseudo)), **_hair_facts(args, len(hair)),
               "class_weight": list(getattr(args, "class_weight", None) or []),
               "cv": table, "cv_pooled_iou": pool,
               "cv_folds": fold_facts, "verdict_rule": VERDICT_RULE, **vfacts, "budget_s": args.time_limit,
               "clock": rt.clock_name, "runtime": rt.describe(), "batch": args.batch, "size": args.size,
               "weights_dtype": "float16", "wall_s_last_session": round(time.time() - t_start, 1)},
        verdict=Verdict("geometric", measure, better))
    print(f"wrote {card} (verdict: {'better' if better else 'not better'} than the geometric parser)", flush=True)
    return 0


def _rewrite_card(args: argparse.Namespace, table: dict[str, Any], pool: dict[str, dict[str, float]],
                  vfacts: dict[str, Any], better: bool, fold_facts: list[dict[str, Any]]) -> int:
    """``--rescore``: the shipped checkpoint's card with the cross-validation scored again (same weights);
    what the card said before (how it was scored, its mean over sources and pooled per-class IoU) is
    kept in ``scored_before``, so a rescore records the comparison it makes."""
    from engine.weights.card import Verdict
    from engine.weights.store import load_checkpoint, save_checkpoint

    model, old = load_checkpoint(args.out, device="cpu")
    before = {"mirror_tta": bool(old.extra.get("mirror_tta", False)),
              "keep_mesh_classes": list(old.extra.get("keep_mesh_classes", [])),
              "edge_refine": float(old.extra.get("edge_refine", 0.0)),
              "face_guard": float(old.extra.get("face_guard", 1.0)),
              "extend_hat": bool(old.extra.get("extend_hat", False)),
              "mesh_bounded_classes": list(old.extra.get("mesh_bounded_classes", [])),
              "mean_source_miou_learned": old.extra.get("mean_source_miou_learned"),
              "cv_pooled_iou_learned": (old.extra.get("cv_pooled_iou") or {}).get("learned")}
    extra = dict(old.extra, cv=table, cv_pooled_iou=pool, cv_folds=fold_facts, verdict_rule=VERDICT_RULE,
                 **_card_inference(args), scored_before=[*old.extra.get("scored_before", []), before], **vfacts)
    v = old.verdict
    card = save_checkpoint(
        model.half(), args.out, task=old.task, input_size=old.input_size, label_scheme=old.label_scheme,
        training_data=old.training_data, licence=old.licence,
        metrics={"cv_miou_learned": vfacts["mean_source_miou_learned"],
                 "cv_miou_geometric": vfacts["mean_source_miou_geometric"]},
        extra=extra, verdict=Verdict("geometric", v.measure if v else "cross-validation", better))
    print(f"rewrote {card} (verdict: {'better' if better else 'not better'} than the geometric parser)", flush=True)
    return 0


def _eval_only(rt: Runtime, records: list[dict[str, Any]], items: list[Item], args: argparse.Namespace) -> int:
    """Score the shipped checkpoint on every cached photo (these are its training photos: a
    sanity check of the product path, not a held-out number)."""
    from engine.weights.store import load_checkpoint

    model, card = load_checkpoint(args.out, device=rt.device)
    assert isinstance(model, FaceParserNet)
    res = evaluate(model.float(), records, items, int(card.input_size[0]) if card.input_size else args.size,
                   scale=float(card.extra.get("crop_scale", CROP_SCALE)),
                   shift=float(card.extra.get("crop_shift", CROP_SHIFT)),
                   **card_options(card.extra))
    print(json.dumps({"training_photos_not_held_out": res}, indent=1))
    return 0
