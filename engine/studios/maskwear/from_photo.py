"""Mask templates taken from a photo of a person wearing a mask.

The mask is found on the face's lower half as the pixels whose colour differs from the person's
skin (measured on the forehead, which a mask never covers), cleaned up, kept as the one region round
the mouth, then unwarped into template space with the same anchors the fit uses
(:data:`~engine.studios.maskwear.classical.FACE_ANCHORS` and the jaw pins): warping the saved
template back onto the same face puts the mask where it was. The photo's own shading is flattened
(the fit shades the mask like its new face). :func:`save_template` writes ``X.png`` + ``X.json`` in the
user-template format (:func:`~engine.procedural.mask_templates.load_user_template`).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from engine.errors import NoFaceError
from engine.faces import topology as T
from engine.faces.types import Face
from engine.geometry import fit_tps
from engine.imageio import atomic_write_files, encode_for_path
from engine.procedural.mask_templates import ANCHORS, MaskTemplate
from engine.studios.maskwear.classical import JAW_SAMPLES, LOWER_OVAL, face_targets, jaw_targets

TEMPLATE_SIZE = (512, 400)
"""``(W, H)`` of a template made from a photo."""
TEMPLATE_ANCHORS: dict[str, tuple[float, float]] = {
    "a": (40.0, 120.0), "b": (256.0, 50.0), "c": (472.0, 120.0),
    "d": (90.0, 300.0), "e": (256.0, 370.0), "f": (422.0, 300.0)}
"""Where the face's anchor points land in a template made from a photo."""

FOREHEAD: tuple[int, ...] = (67, 109, 10, 338, 297, 299, 9, 69)
"""Mesh points round the forehead patch the skin colour is measured on."""

SKIN_DISTANCE = 3.0
"""A pixel belongs to the mask when its Lab colour is this many skin standard deviations (per
channel, combined) from the forehead's mean (and at least :data:`MIN_DISTANCE` Lab units away)."""
MIN_DISTANCE = 14.0
"""Least Lab distance from the skin colour for a mask pixel (a very even forehead has a tiny spread)."""
MIN_COVER = 0.25
"""A mask must cover at least this share of the lower face (nose to chin) to be taken."""


def _template_jaw() -> np.ndarray:
    """The jaw pins' template points: :data:`JAW_SAMPLES` along the straight lines d→e and e→f."""
    d, e, f = (np.array(TEMPLATE_ANCHORS[k]) for k in ("d", "e", "f"))
    return np.array([p + t * (q - p) for p, q in ((d, e), (e, f)) for t in JAW_SAMPLES])


def mask_region(image: np.ndarray, face: Face) -> np.ndarray:
    """Where the face wears a mask: lower-face pixels whose colour is far from the forehead's skin.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        face: the face, with landmarks.

    Returns:
        ``float32`` ``[H, W]`` coverage in [0, 1] (soft edges).

    Raises:
        NoFaceError: the face has no landmarks, or no mask is found on it (one line).
    """
    if face.landmarks is None:
        raise NoFaceError("no face landmarks: cannot find a mask on this face")
    lm = face.landmarks.astype(np.float64)
    h, w = image.shape[:2]
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    fore = np.zeros((h, w), np.uint8)
    cv2.fillPoly(fore, [np.round(lm[list(FOREHEAD)]).astype(np.int32)], 1)
    skin = lab[fore > 0]
    if len(skin) < 20:
        raise NoFaceError("the forehead is not visible: cannot tell the mask from the skin")
    mean = skin.mean(0)
    std = np.maximum(skin.std(0), 2.0)
    dist_n = np.sqrt((((lab - mean) / std) ** 2).sum(-1) / 3.0)
    dist = np.sqrt(((lab - mean) ** 2).sum(-1))
    # the search region: the lower face from the nose bridge down to the jaw, a little wider
    up = lm[T.FOREHEAD] - lm[T.CHIN]
    height = max(float(np.hypot(*up)), 1.0)
    up /= height
    region_pts = np.concatenate([lm[list(LOWER_OVAL)], [lm[T.JAW_LEFT] + up * 0.02 * height,
                                                        lm[168] + up * 0.0, lm[T.JAW_RIGHT] + up * 0.02 * height]])
    centre = region_pts.mean(0)
    region_pts = centre + (region_pts - centre) * 1.08
    region = np.zeros((h, w), np.uint8)
    cv2.fillPoly(region, [np.round(region_pts).astype(np.int32)], 1)
    eyes = np.zeros((h, w), np.uint8)
    for loop in (T.LEFT_EYE, T.RIGHT_EYE, T.LEFT_BROW, T.RIGHT_BROW):
        pts = lm[list(loop)]
        c = pts.mean(0)
        cv2.fillPoly(eyes, [np.round(c + (pts - c) * 1.5).astype(np.int32)], 1)
    cand = ((dist_n > SKIN_DISTANCE) & (dist > MIN_DISTANCE) & (region > 0) & (eyes == 0)).astype(np.uint8)
    k = max(3, int(round(height * 0.03)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    cand = cv2.morphologyEx(cand, cv2.MORPH_OPEN, kernel)
    cand = cv2.morphologyEx(cand, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    seeds = [lm[13], lm[14], lm[T.NOSE_TIP], lm[2], lm[T.CHIN] + up * 0.1 * height]
    best, best_area = 0, 0
    for x, y in seeds:
        xi, yi = int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))
        lab_id = int(labels[yi, xi])
        if lab_id > 0 and stats[lab_id, cv2.CC_STAT_AREA] > best_area:
            best, best_area = lab_id, int(stats[lab_id, cv2.CC_STAT_AREA])
    lower = np.zeros((h, w), np.uint8)
    cv2.fillPoly(lower, [np.round(np.concatenate([lm[list(LOWER_OVAL)][3:-3], [lm[T.NOSE_TIP]]])).astype(np.int32)], 1)
    if best == 0 or best_area < MIN_COVER * max(int(lower.sum()), 1):
        raise NoFaceError("no mask found on the face (its lower half looks like the skin)")
    mask = (labels == best).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    centroid = np.array([xs.mean(), ys.mean()])
    if float(np.dot(centroid - lm[T.NOSE_TIP], -up)) < -0.1 * height:
        raise NoFaceError("no mask found on the face (the region that differs from the skin lies above the nose)")
    # fill holes (printing, a logo, a shadowed fold inside the mask)
    inv = (1 - mask).astype(np.uint8)
    n2, lab2 = cv2.connectedComponents(inv, connectivity=4)
    border = set(np.unique(np.concatenate([lab2[0], lab2[-1], lab2[:, 0], lab2[:, -1]])).tolist())
    for i in range(1, n2):
        if i not in border:
            mask[lab2 == i] = 1
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.6, height * 0.004))
    return np.clip(soft, 0, 1)


def template_from_photo(image: np.ndarray, face: Face, name: str = "from-photo",
                        flatten: float = 0.8) -> MaskTemplate:
    """A reusable template made from the mask the face wears in ``image``.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        face: the face (with landmarks) wearing the mask.
        name: the template's name.
        flatten: 0–1, how much of the photo's shading is taken out (the fit shades it again).

    Returns:
        A ``user`` :class:`MaskTemplate` of :data:`TEMPLATE_SIZE` with :data:`TEMPLATE_ANCHORS`.

    Raises:
        NoFaceError: no landmarks, or no mask found (one line).
    """
    alpha = mask_region(image, face)
    targets = face_targets(face).astype(np.float64)
    jaw = jaw_targets(face)
    src = np.concatenate([np.array([TEMPLATE_ANCHORS[k] for k in ANCHORS]), _template_jaw()])
    dst = np.concatenate([targets, jaw])
    to_image = fit_tps(src, dst)  # template → image
    tw, th = TEMPLATE_SIZE
    step = 4
    nx, ny = -(-tw // step) + 1, -(-th // step) + 1
    gx = (np.arange(nx) + 0.5) * step - 0.5
    gy = (np.arange(ny) + 0.5) * step - 0.5
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    coarse = to_image(grid).reshape(ny, nx, 2).astype(np.float32)
    full = cv2.resize(coarse, (nx * step, ny * step), interpolation=cv2.INTER_LINEAR)[:th, :tw]
    mx, my = np.ascontiguousarray(full[:, :, 0]), np.ascontiguousarray(full[:, :, 1])
    rgb = image.astype(np.float32)
    if flatten > 0:
        luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        inside = alpha > 0.5
        ref = float(np.median(luma[inside])) if inside.any() else 128.0
        lm = face.landmarks
        assert lm is not None  # mask_region checked
        sigma = max(2.0, 0.06 * float(np.hypot(*(lm[T.FOREHEAD] - lm[T.CHIN]))))
        shade = cv2.GaussianBlur(luma, (0, 0), sigma)
        gain = (ref / np.maximum(shade, 1.0)) ** flatten
        rgb = np.clip(rgb * np.clip(gain, 0.6, 1.8)[:, :, None], 0, 255)
    out_rgb = cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out_a = cv2.remap(alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    rgba = np.dstack([np.clip(np.rint(out_rgb), 0, 255), np.clip(np.rint(out_a * 255), 0, 255)]).astype(np.uint8)
    return MaskTemplate(name, rgba, dict(TEMPLATE_ANCHORS), "user", {"from_photo": True})


def save_template(template: MaskTemplate, png: str | Path) -> tuple[Path, Path]:
    """Write ``template`` as ``X.png`` (RGBA) + ``X.json`` (anchors), both or neither.

    Args:
        template: the template.
        png: the ``.png`` path; the anchors go beside it with the same stem.

    Returns:
        The two paths written.

    Raises:
        ValueError: ``png`` does not end in ``.png``.
    """
    p = Path(png)
    if p.suffix.lower() != ".png":
        raise ValueError(f"{p}: a mask template is saved as a .png (its anchors go beside it as .json)")
    js = p.with_suffix(".json")
    anchors = {k: [round(float(template.anchors[k][0]), 2), round(float(template.anchors[k][1]), 2)] for k in ANCHORS}
    atomic_write_files({p: encode_for_path(p, template.rgba), js: (json.dumps(anchors) + "\n").encode()})
    return p, js
