"""Geometric 19-class face parsing from the 478-point mesh (the offline default backend).

Output is a ``uint8`` label map in the official CelebAMask-HQ order (:mod:`engine.labels`).

Method, per face (smaller faces first so the largest wins where they overlap):

1. **Inner face, from the mesh** — skin = the face oval (jaw line up to mid-forehead); then nose
   (convex hull of bridge + alae points), brows (mesh brow polygons, slightly thickened), eyes
   (eyelid contours), upper / lower lip (outer lip contour minus the inner one) and the inner mouth
   (inner lip contour) are drawn over it. These are precise wherever the mesh fits.
2. **Around the face, from a person mask + colour** — the person/background split comes from
   MediaPipe selfie segmentation. A skin colour model (mean and covariance in YCrCb of the cheeks
   and forehead) labels skin-coloured person pixels: above the oval → forehead ``skin``, beside it at
   eye-to-mouth height → ``l_ear`` / ``r_ear``, under the jaw → ``neck``. Other person pixels near
   the head are ``hair``; person pixels below the neck that are not hair-coloured are ``cloth``.

Limits: ``eye_g`` (glasses), ``hat``, ``ear_r`` (earrings) and ``neck_l`` (necklace) are never
produced; hair of skin-like colour (blond, shaved heads) and skin-coloured clothes confuse the
colour model; profile faces without a mesh get no parts.
"""

from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np

from engine.faces import topology as T
from engine.faces.types import Face
from engine.labels import CELEBAMASK_HQ

L = {name: i for i, name in enumerate(CELEBAMASK_HQ.classes)}

PRODUCED_CLASSES: tuple[str, ...] = (
    "background", "skin", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth",
    "u_lip", "l_lip", "hair", "neck", "cloth",
)
"""Classes the geometric parser can output (quality is measured on these)."""


def _poly(lm: np.ndarray, idx: Sequence[int]) -> np.ndarray:
    return np.round(lm[list(idx)] * 4).astype(np.int32)  # 2 fractional bits for cv2 shift=2


def _fill(mask: np.ndarray, pts: np.ndarray, value: int = 1) -> None:
    cv2.fillPoly(mask, [pts], value, lineType=cv2.LINE_8, shift=2)


def _region(shape: tuple[int, int], lm: np.ndarray, idx: Sequence[int], hull: bool = False) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    pts = _poly(lm, idx)
    if hull:
        pts = cv2.convexHull(pts)
    _fill(m, pts)
    return m.astype(bool)


def _lip(shape: tuple[int, int], lm: np.ndarray, outer: Sequence[int], inner: Sequence[int]) -> np.ndarray:
    """Region between an outer and an inner lip contour (both from corner to corner)."""
    loop = list(outer) + list(inner)[::-1]
    return _region(shape, lm, loop)


class ColourModel:
    """Gaussian colour model in YCrCb fitted to sample pixels (skin or hair).

    Args:
        samples: ``uint8`` ``[N, 3]`` RGB pixels (N ≥ 20).
        luma_slack: variance added to luma (Y), which shading changes more than chroma.
    """

    def __init__(self, samples: np.ndarray, luma_slack: float = 30.0) -> None:
        ycc = cv2.cvtColor(samples.reshape(-1, 1, 3), cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float64)
        y = ycc[:, 0]
        lo, hi = np.percentile(y, [5, 95])  # drop specular highlights and deep shadows
        keep = (y >= lo) & (y <= hi)
        if keep.sum() > 10:
            ycc = ycc[keep]
        self.mean = ycc.mean(0)
        cov = np.cov(ycc.T) + np.diag([luma_slack, 2.0, 2.0])
        self.icov = np.linalg.inv(cov)

    def distance(self, rgb: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of every pixel (``[H, W]`` float32)."""
        ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32) - self.mean.astype(np.float32)
        d = np.einsum("hwi,ij,hwj->hw", ycc, self.icov.astype(np.float32), ycc)
        return np.sqrt(np.maximum(d, 0))


def parse_face(rgb: np.ndarray, face: Face, labels: np.ndarray, person: Optional[np.ndarray]) -> None:
    """Draw one face's labels into ``labels`` (in place). See the module docstring for the method."""
    lm = face.landmarks
    if lm is None:
        return
    h, w = labels.shape
    shape = (h, w)
    oval = _region(shape, lm, T.FACE_OVAL)
    nose = _region(shape, lm, T.NOSE, hull=True)
    eyes = {"l_eye": _region(shape, lm, T.LEFT_EYE), "r_eye": _region(shape, lm, T.RIGHT_EYE)}
    brows = {"l_brow": _region(shape, lm, T.LEFT_BROW), "r_brow": _region(shape, lm, T.RIGHT_BROW)}
    u_lip, l_lip, mouth = _lips_and_mouth(shape, lm)

    # geometry of the head
    up = lm[T.FOREHEAD] - lm[T.CHIN]
    face_h = float(np.hypot(*up))
    up_u = up / max(face_h, 1e-6)
    right_u = np.array([-up_u[1], up_u[0]])  # image-right direction for an upright face
    face_w = float(abs(np.dot(lm[T.JAW_LEFT] - lm[T.JAW_RIGHT], right_u)))
    centre = (lm[T.FOREHEAD] + lm[T.CHIN]) / 2
    unit = max(face_h, 1.0)

    if person is None:
        person = np.ones(shape, bool)

    # coordinates relative to the face: along = towards the forehead, across = towards image right
    rel = np.stack(np.mgrid[0:h, 0:w][::-1], -1).astype(np.float32) - centre.astype(np.float32)  # [H,W,2] (x,y)
    along = (rel @ up_u.astype(np.float32)) / unit      # chin at -0.5, mesh top (mid-forehead) at +0.5
    across = (rel @ right_u.astype(np.float32)) / max(face_w, 1.0)  # jaw corners at about ±0.5

    # colour models: skin from the mesh region without its parts; hair from the crown band
    parts = nose | eyes["l_eye"] | eyes["r_eye"] | brows["l_brow"] | brows["r_brow"] | u_lip | l_lip | mouth
    grow = max(3, int(round(unit * 0.03)))
    skin_samples = rgb[oval & ~cv2.dilate(parts.astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)]
    skin_d = ColourModel(skin_samples).distance(rgb) if len(skin_samples) >= 20 else np.full(shape, np.inf, np.float32)
    crown = person & ~oval & (along > 0.55) & (along < 0.95) & (np.abs(across) < 0.55) & (skin_d > 3.0)
    hair_samples = rgb[crown]
    if len(hair_samples) >= 50:
        hair_d = ColourModel(hair_samples, luma_slack=60.0).distance(rgb)
        skin_like = (skin_d < 3.5) & (skin_d < hair_d)
    else:  # bald or cropped: no hair colour to compare with
        hair_d = np.full(shape, np.inf, np.float32)
        skin_like = skin_d < 3.5
    hair_like = ~skin_like & (hair_d < 5.0) if len(hair_samples) >= 50 else ~skin_like

    outside = person & ~oval
    head_zone = outside & (along > -0.35) & (along < 1.2) & (np.abs(across) < 1.05)
    ear_band = (along > -0.22) & (along < 0.2) & (np.abs(across) > 0.4) & (np.abs(across) < 0.75)
    neck_zone = outside & (along <= -0.2) & (along > -0.85) & (np.abs(across) < 0.4)

    clearly_hair = hair_like & (hair_d + 1.0 < skin_d)
    neck = _largest_component_touching(neck_zone & ~clearly_hair, oval)
    ears = head_zone & ear_band & skin_like
    forehead = head_zone & skin_like & (along > 0.2)
    # below the jaw only pixels close to the hair colour count (collars and dark clothes do not)
    hair = outside & hair_like & ~neck & (np.abs(across) < 1.4) & ((along > -0.45) | ((along > -1.6) & (hair_d < 2.5)))
    hair |= head_zone & ~skin_like & ~neck
    # hair below the chin must hang from the head (dark clothes look like dark hair)
    hair = _largest_component_touching(hair, hair & (along > -0.3)) | (hair & (along > -0.3))
    # torso: widening below the neck; clothes are often missed by the person mask at the frame edge
    torso = (along < -0.7) & (np.abs(across) < 0.6 + (-0.7 - along) * 1.6)
    cloth = ((outside & (along < -0.5)) | (torso & ~oval)) & ~neck & ~hair & ~skin_like

    labels[cloth] = L["cloth"]
    labels[hair] = L["hair"]
    labels[neck] = L["neck"]
    labels[forehead] = L["skin"]
    for name, side in (("l_ear", 1), ("r_ear", -1)):
        labels[ears & (np.sign(across) == side)] = L[name]
    labels[oval] = L["skin"]
    labels[nose] = L["nose"]
    thick = max(3, int(round(unit * 0.02)) | 1)
    for name, m in brows.items():
        labels[cv2.dilate(m.astype(np.uint8), np.ones((thick, thick), np.uint8)).astype(bool)] = L[name]
    for name, m in eyes.items():
        labels[m] = L[name]
    labels[u_lip] = L["u_lip"]
    labels[l_lip] = L["l_lip"]
    labels[mouth] = L["mouth"]


CLOSED_MOUTH = 0.06
"""Inner-lip gap / mouth width below which the mouth counts as closed (no ``mouth`` label)."""


def _lips_and_mouth(shape: tuple[int, int], lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper lip, lower lip and inner mouth masks. A closed mouth has no inner-mouth region: the
    thin sliver between the inner contours is split between the lips along its midline."""
    upper_in = lm[list(T.LIPS_INNER_UPPER)]
    lower_in = lm[list(T.LIPS_INNER_LOWER)]
    width = float(np.hypot(*(lm[T.MOUTH_CORNERS[1]] - lm[T.MOUTH_CORNERS[0]])))
    gap = float(np.mean(np.hypot(*(upper_in - lower_in).T)))
    if gap < CLOSED_MOUTH * max(width, 1.0):
        mid = (upper_in + lower_in) / 2
        ext = np.concatenate([lm, mid]).astype(np.float32)
        mid_idx = list(range(len(lm), len(lm) + len(mid)))
        u = _region(shape, ext, list(T.LIPS_OUTER_UPPER) + mid_idx[::-1])
        low = _region(shape, ext, list(T.LIPS_OUTER_LOWER) + mid_idx[::-1])
        return u, low & ~u, np.zeros(shape, bool)
    mouth = _region(shape, lm, T.LIPS_INNER_UPPER + T.LIPS_INNER_LOWER[::-1][1:-1])
    u = _lip(shape, lm, T.LIPS_OUTER_UPPER, T.LIPS_INNER_UPPER)
    low = _lip(shape, lm, T.LIPS_OUTER_LOWER, T.LIPS_INNER_LOWER)
    return u & ~mouth, low & ~mouth & ~u, mouth


def _largest_component_touching(mask: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Keep the connected components of ``mask`` that touch the dilated ``anchor``."""
    if not mask.any() or not anchor.any():
        return mask
    n, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    near = cv2.dilate(anchor.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    keep = np.unique(comp[near & mask])
    keep = keep[keep > 0]
    return np.isin(comp, keep)


def geometric_parsing(rgb: np.ndarray, faces: Sequence[Face], person: Optional[np.ndarray] = None) -> np.ndarray:
    """19-class label map (official order) of ``rgb`` from the faces' landmarks.

    Args:
        rgb: ``uint8`` ``[H, W, 3]``.
        faces: faces with landmarks (faces without are skipped).
        person: optional boolean ``[H, W]`` person mask (selfie segmentation); without it, the
            surroundings of the head are labelled by colour alone.

    Returns:
        ``uint8`` ``[H, W]`` label map; all background when no face has landmarks.
    """
    labels = np.zeros(rgb.shape[:2], np.uint8)
    for face in sorted(faces, key=lambda f: f.area):
        parse_face(rgb, face, labels, person)
    return labels
