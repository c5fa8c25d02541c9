"""Geometric 19-class face parsing from the 478-point mesh (the offline default backend).

Output is a ``uint8`` label map in the official CelebAMask-HQ order (:mod:`engine.labels`).

Method, per face (smaller faces first so the largest wins where they overlap):

1. **Inner face, from the mesh** — skin = the face oval (jaw line up to mid-forehead); then nose
   (convex hull of bridge + alae points), brows (mesh brow polygon plus the dark pixels of a thin
   band above and below it, the darkness threshold adapted to faint brows), eyes (eyelid
   contours, filled at sub-pixel precision), upper / lower lip (outer lip contour to the inner contours' midline, filled at
   sub-pixel precision, minus the mouth) and the inner mouth (inner lip contour, only when the
   lips are apart) are drawn over it; the
   outer lip contours are rescaled vertically to the CelebAMask-HQ convention (:data:`LIP_OUT`).
2. **Around the face, from a person mask + colour** — the person/background split comes from
   MediaPipe selfie segmentation. Two skin colour models (mean and covariance in YCrCb) — one of
   the whole oval without its parts, a stricter "core" one of the cheeks and lower forehead — and
   a hair model of the crown band label the person pixels: skin-coloured above the oval (core
   model) → forehead ``skin``, beside it at eye-to-mouth height → ``l_ear`` / ``r_ear``, under the
   jaw → ``neck``; other person pixels near the head are ``hair`` (also where it clearly falls over
   the upper oval, and strands of unmistakable hair colour lower down the sides); person pixels
   at shoulder height and below that are neither → ``cloth`` — except bare skin (left background)
   and "hair" below the jaw that is far smoother than the crown hair (a plain jacket). Hair is
   grown a little past the person mask where its colour is far more typical of the crown hair
   than of the background. A majority filter (:data:`SMOOTH`) removes pixel noise from these
   colour decisions.

3. **Glasses** — ``eye_g`` only where the classical detector of :mod:`engine.faces.glasses` is
   confident (bridge bar over the nasion + consistent rims); eyes, brows and lips are drawn over it.

Limits: ``hat``, ``ear_r`` (earrings) and ``neck_l`` (necklace) are never produced; rimless or
skin-coloured glasses are missed; hair of skin-like colour (blond, shaved heads) and skin-coloured clothes confuse the
colour model; profile faces without a mesh get no parts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import cv2
import numpy as np

from engine.faces import topology as T
from engine.faces.glasses import detect_glasses
from engine.faces.types import Face
from engine.labels import CELEBAMASK_HQ

L = {name: i for i, name in enumerate(CELEBAMASK_HQ.classes)}

PRODUCED_CLASSES: tuple[str, ...] = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth",
    "u_lip", "l_lip", "hair", "neck", "cloth",
)
"""Classes the geometric parser can output (quality is measured on these)."""


def _poly(lm: np.ndarray, idx: Sequence[int]) -> np.ndarray:
    return np.round(lm[list(idx)] * 4).astype(np.int32)  # 2 fractional bits for cv2 shift=2


SUBPIXEL = 4
"""Samples per pixel side for :func:`_region_subpixel`."""


def _region_subpixel(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    """Pixels at least half covered by the polygon ``pts`` (``[N, 2]`` x, y at pixel centres):
    the polygon is filled on a :data:`SUBPIXEL`-times finer grid over its bounding box and the
    coverage counted. ``cv2.fillPoly`` alone takes every pixel the outline touches (about half a
    pixel of dilation, a large share of a thin lip on a small face)."""
    h, w = shape
    k = SUBPIXEL
    x0 = int(np.clip(np.floor(pts[:, 0].min()) - 1, 0, w))
    y0 = int(np.clip(np.floor(pts[:, 1].min()) - 1, 0, h))
    x1 = int(np.clip(np.ceil(pts[:, 0].max()) + 2, x0, w))
    y1 = int(np.clip(np.ceil(pts[:, 1].max()) + 2, y0, h))
    out = np.zeros(shape, bool)
    if x1 <= x0 or y1 <= y0:
        return out
    fine = np.zeros(((y1 - y0) * k, (x1 - x0) * k), np.uint8)
    # sub-sample j of pixel x sits at x - 1/2 + (j + 1/2) / k, i.e. fine index k·x + (k - 1) / 2
    p = (pts - np.array([x0, y0])) * k + (k - 1) / 2.0
    cv2.fillPoly(fine, [np.round(p * 4).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=2)
    cover = fine.reshape(y1 - y0, k, x1 - x0, k).sum((1, 3), dtype=np.int32)
    out[y0:y1, x0:x1] = cover * 2 >= k * k
    return out


def _fill(mask: np.ndarray, pts: np.ndarray, value: int = 1) -> None:
    cv2.fillPoly(mask, [pts], value, lineType=cv2.LINE_8, shift=2)


def _region(shape: tuple[int, int], lm: np.ndarray, idx: Sequence[int], hull: bool = False) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    pts = _poly(lm, idx)
    if hull:
        pts = cv2.convexHull(pts)
    _fill(m, pts)
    return m.astype(bool)


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
        self._cov = np.cov(ycc.T)  # before the slack
        self.icov = np.linalg.inv(self._cov + np.diag([luma_slack, 2.0, 2.0]))

    def with_slack(self, luma_slack: float) -> ColourModel:
        """The same samples' model with another ``luma_slack`` (equal to fitting them again)."""
        other = copy.copy(self)
        other.icov = np.linalg.inv(self._cov + np.diag([luma_slack, 2.0, 2.0]))
        return other

    def distance(self, rgb: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of every pixel (``[H, W]`` float32)."""
        return self.distance_ycc(cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32))

    def distance_ycc(self, ycc: np.ndarray) -> np.ndarray:
        """:meth:`distance` of pixels already in YCrCb (``float32 [H, W, 3]``: one conversion for
        several models)."""
        # d² = |W (x - mean)|² with Wᵀ W = icov (Cholesky), as one 3×4 affine cv2.transform
        wt = np.linalg.cholesky(self.icov).T
        aff = np.hstack([wt, -(wt @ self.mean)[:, None]]).astype(np.float32)
        z = cv2.transform(ycc, aff)
        np.multiply(z, z, out=z)
        d2 = cv2.transform(z, np.ones((1, 3), np.float32))
        return np.sqrt(d2, out=d2)


# Tuned on the 9 CelebAMask-HQ pairs and cross-checked on MT and the Xiqu non-makeup maps (a
# change was kept only when it did not lower the other sets), all relative to the face size.
SKIN_T = 4.0
"""Mahalanobis distance under which a pixel is skin-coloured."""
SKIN_MARGIN = 1.0
"""A skin-coloured pixel must also be this much closer to the skin model than to the hair model."""
EAR_T = 5.0
"""Ears (beside the oval, :data:`EAR_REACH`, :data:`EAR_ALONG`) are a little redder or
darker than the face, so their skin threshold is looser than :data:`SKIN_T`."""
EAR_CHROMA = (2000.0, 4.0, 1.0)
"""(luma slack, threshold, margin) of the chroma test for ears: a pixel of the ear band whose
chroma (luma almost ignored) is skin-like — within the threshold of the skin model and the margin
closer to it than to the hair model — is ear even where shading makes it fail the full colour test
(shadowed or lit ears beside dark hair were labelled hair). Measured: Xiqu non-makeup ears
0.435/0.376 → 0.514/0.459, mIoU 0.769 → 0.781; MT mIoU 0.700 → 0.704; 9 pairs 0.7541 → 0.7537
(one ear next to red-brown hair grows into it)."""
EAR_TOUCH = 0.04
"""Chroma-found ear pixels count only in blobs that reach within this distance (× face height)
of the face oval (red flowers or clothes beside the head have skin chroma too)."""
EAR_REACH = 0.16
"""Ears are looked for up to this distance (× face height) outside the face oval ..."""
EAR_ALONG = (-0.16, 0.3)
"""... between these heights (chin = -0.5, mid-forehead = +0.5): mouth line to above the eyes."""
NOSE_TOP = 0.3
"""The nose hull reaches this fraction of the way from the nasion towards each inner eye corner."""
NECK_T = 5.0
"""Neck pixels must be within this distance of the (whole-face) skin model; collars are not neck."""
NECK_W = 0.4
"""Half-width (× jaw width) of the zone under the jaw where the neck is looked for ..."""
NECK_SHIFT = -1.0
"""... whose centre moves by this × the yaw (nose-tip offset from the jaw-corner midpoint, in jaw
widths): a turned face's neck stays behind, on the side opposite to the nose."""
CLOTH_ALONG = -0.3
"""Person pixels below this height (chin = -0.5) that are not neck, hair or skin are ``cloth``
(CelebA-style framing puts the shoulders beside the chin)."""
CLOTH_VS_HAIR = True
"""Re-label as cloth the "hair" pixels below :data:`CLOTH_HAIR_ALONG` whose colour is more typical
of the clothes than of the crown hair (:data:`CLOTH_HAIR_RATIO`)."""
CLOTH_HAIR_ALONG = -0.3
"""Height (chin = -0.5) below which hair pixels are checked against the clothes' colours."""
CLOTH_HAIR_RATIO = 4.0
"""Likelihood ratio (clothes histogram / crown-hair histogram) above which such a pixel is cloth."""
CLOTH_BARE_T = 5.0
"""Cloth candidates this close to the (whole-face) skin model — and closer to it than to the hair
model — are bare shoulders or chest, which CelebAMask-HQ leaves as background (0 = off)."""
OVER_STRONG = (-0.2, 8.0, 3.0)
"""Hair over the face oval anywhere above this height (chin = -0.5) and away from the parts when
the core-skin distance exceeds the 2nd value and the hair distance is below the 3rd (and that much
below the skin distance), connected to the hair outside the oval (side strands over a cheek)."""
SMOOTH_CLOTH = 0.12
"""Below :data:`CLOTH_HAIR_ALONG`, a "hair" pixel whose local luma standard deviation (window
:data:`SMOOTH_CLOTH_WIN`) is under this × the crown hair's median one is plain cloth (0 = off)."""
SMOOTH_CLOTH_WIN = 0.03
"""Window (× face height) of that texture measure."""
EDGE_REACH = 0.06
"""Hair is grown this far (× face height) past the person mask's edge ..."""
EDGE_RATIO = 4.0
"""... into pixels this many times more likely under the crown-hair histogram than under the
background's (and within distance 4 of the hair model)."""
HIST_MIN_SAMPLES = 200
"""Fewest seed pixels for a histogram colour model."""
HANG_BAND = (-0.35, -0.15)
"""Jaw-height band (chin = -0.5) where hanging hair is looked for, column by column."""
HANG_FRAC = 0.5
"""A face-frame column (0.05 face widths) whose jaw band is more than this fraction hair holds
hanging hair."""
SMOOTH = 0.03
"""Window (× face height) of the majority filter over the labels outside the face oval."""
BROW_BAND = 0.035
"""Search band (× face height) around the mesh brow polygon for dark brow pixels, grown along
the face's up axis only (not past the brow ends)."""
BROW_DARK = 4.0
"""Distance from the core skin model above which a pixel in the band counts as brow ..."""
BROW_DARK_FRAC = 0.8
BROW_DARK_MIN = 3.0
"""... lowered for faint brows to :data:`BROW_DARK_FRAC` × the median distance inside the mesh brow
polygon, but not below :data:`BROW_DARK_MIN`."""
LIP_OUT = (1.05, 0.95)
"""Vertical scale of the outer upper / lower lip contours about the mouth-corner midpoint."""
MOUTH_SHRINK = (0.9, 0.8)
"""Scale of an open mouth's inner contour about its centre along / across the mouth axis (the band
outside is lip). Measured: 9 GT pairs mouth 0.703 -> 0.778, MT 0.709 -> 0.763, Xiqu 0.617 -> 0.779."""
DETECT_GLASSES = True
"""Label ``eye_g`` where :func:`engine.faces.glasses.detect_glasses` is confident."""
OUTER_CLASSES = tuple(L[n] for n in ("background", "skin", "l_ear", "r_ear", "hair", "neck", "cloth"))
_OUTER_LUT = np.isin(np.arange(256), OUTER_CLASSES)
"""Label → whether it is one of :data:`OUTER_CLASSES` (a look-up instead of ``np.isin`` per pixel)."""


def _drop_cloth_from_hair(rgb: np.ndarray, bins: np.ndarray, hair: np.ndarray, outside: np.ndarray,
                          neck: np.ndarray, skin_like: np.ndarray, crown: np.ndarray, along: np.ndarray,
                          across: np.ndarray, unit: float) -> None:
    """Below the jaw, clear (in place) the ``hair`` pixels that are really clothes: by colour
    (clothes histogram vs crown hair) and by texture (a plain jacket vs textured hair). ``bins``:
    the image's histogram bins (:func:`_bin_index`)."""
    if CLOTH_VS_HAIR:
        # dark clothes read as hair: below the jaw, a "hair" pixel is cloth when its colour is
        # clearly more typical of the clothes (histogram of the confident cloth pixels) than of
        # the crown hair AND its column holds no hair at jaw height (hair that falls on the
        # shoulders hangs down beside the jaw; a suit's shoulder under short hair does not)
        cloth_seed = outside & (along < CLOTH_ALONG) & ~neck & ~hair & ~skin_like
        if cloth_seed.sum() >= HIST_MIN_SAMPLES:
            low = hair & (along < CLOTH_HAIR_ALONG)
            low &= ~_hair_columns(hair, along, across)
            if low.any():
                q = bins[low]
                p_cloth = _hist_likelihood(bins[cloth_seed], q)
                p_hair = _hist_likelihood(bins[crown], q)
                hair[low] = ~(p_cloth > CLOTH_HAIR_RATIO * p_hair)
    if SMOOTH_CLOTH > 0:
        # hair is textured (strands, curls), a jacket is plain: below the jaw, "hair" whose local
        # luma spread is far below the crown hair's is cloth (dark jackets under short hair)
        k = max(3, int(round(unit * SMOOTH_CLOTH_WIN)) | 1)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        m1 = cv2.blur(grey, (k, k))
        spread = np.sqrt(np.maximum(cv2.blur(grey * grey, (k, k)) - m1 * m1, 0.0))
        plain = hair & (along < CLOTH_HAIR_ALONG) & (spread < SMOOTH_CLOTH * float(np.median(spread[crown])))
        hair[plain] = False


def parse_face(rgb: np.ndarray, face: Face, labels: np.ndarray, person: np.ndarray | None) -> None:
    """Draw one face's labels into ``labels`` (in place). See the module docstring for the method."""
    lm = face.landmarks
    if lm is None:
        return
    h, w = labels.shape
    shape = (h, w)
    oval = _region(shape, lm, T.FACE_OVAL)
    nose = _nose(shape, lm)
    eyes = {"l_eye": _eye(shape, lm, T.LEFT_EYE), "r_eye": _eye(shape, lm, T.RIGHT_EYE)}
    brows = {"l_brow": _region(shape, lm, T.LEFT_BROW), "r_brow": _region(shape, lm, T.RIGHT_BROW)}
    u_lip, l_lip, mouth = _lips_and_mouth(shape, lm)

    # geometry of the head
    up = lm[T.FOREHEAD] - lm[T.CHIN]
    face_h = float(np.hypot(*up))
    up_u = up / max(face_h, 1e-6)
    right_u = np.array([-up_u[1], up_u[0]])  # image-right direction for an upright face
    face_w = float(abs(np.dot(lm[T.JAW_LEFT] - lm[T.JAW_RIGHT], right_u)))
    centre = (lm[T.FOREHEAD] + lm[T.CHIN]) / 2
    # yaw proxy: nose tip offset from the jaw-corner midpoint, in jaw widths (+ = nose to image right)
    yaw = float(np.dot(lm[1] - (lm[T.JAW_LEFT] + lm[T.JAW_RIGHT]) / 2, right_u)) / max(face_w, 1.0)
    unit = max(face_h, 1.0)

    if person is None:
        person = np.ones(shape, bool)

    # coordinates relative to the face: along = towards the forehead, across = towards image right
    xs = np.arange(w, dtype=np.float32)[None, :] - np.float32(centre[0])  # [1,W]
    ys = np.arange(h, dtype=np.float32)[:, None] - np.float32(centre[1])  # [H,1]
    along = (xs * np.float32(up_u[0] / unit) + ys * np.float32(up_u[1] / unit))  # chin at -0.5, mesh top (mid-forehead) at +0.5
    fw = max(face_w, 1.0)
    across = (xs * np.float32(right_u[0] / fw) + ys * np.float32(right_u[1] / fw))  # jaw corners at about ±0.5

    # colour models: skin from the mesh region without its parts (and a "core" model from the
    # cheeks / lower forehead only, free of beard and fringe); hair from the crown band
    parts = nose | eyes["l_eye"] | eyes["r_eye"] | brows["l_brow"] | brows["r_brow"] | u_lip | l_lip | mouth
    grow = max(3, int(round(unit * 0.03)))
    sample_zone = oval & ~cv2.dilate(parts.astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)
    skin_samples = rgb[sample_zone]
    core = sample_zone & (np.abs(across) < 0.33) & (along > -0.12) & (along < 0.42)
    core_samples = rgb[core] if core.sum() >= 50 else skin_samples
    no_model = np.full(shape, np.inf, np.float32)
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ycc_f = ycc.astype(np.float32)
    bins = _bin_index(ycc)  # histogram colour models (clothes, crown hair, background)
    skin_model = ColourModel(skin_samples) if len(skin_samples) >= 20 else None
    skin_d = skin_model.distance_ycc(ycc_f) if skin_model is not None else no_model
    core_d = ColourModel(core_samples).distance_ycc(ycc_f) if len(core_samples) >= 20 else skin_d
    crown = person & ~oval & (along > 0.55) & (along < 0.95) & (np.abs(across) < 0.55) & (skin_d > 3.0)
    hair_samples = rgb[crown]
    has_hair = len(hair_samples) >= 50
    hair_model = ColourModel(hair_samples, luma_slack=60.0) if has_hair else None
    hair_d = hair_model.distance_ycc(ycc_f) if hair_model is not None else no_model
    # (without hair samples — bald or cropped — hair_d is infinite and the margins always hold)
    skin_like = (skin_d < SKIN_T) & (skin_d + SKIN_MARGIN < hair_d)
    fore_skin = (core_d < SKIN_T) & (core_d + SKIN_MARGIN < hair_d)  # hairline: the stricter core model
    hair_like = ~skin_like & (hair_d < 5.0) if has_hair else ~skin_like

    outside = person & ~oval
    head_zone = outside & (along > -0.35) & (along < 1.2) & (np.abs(across) < 1.05)
    # ears: beside the oval, within EAR_REACH face heights of its edge (in face heights, not
    # widths: a turned head's far-side ear is well outside the narrowed jaw width)
    off_oval = cv2.distanceTransform((~oval).astype(np.uint8), cv2.DIST_L2, 3)
    ear_band = (along > EAR_ALONG[0]) & (along < EAR_ALONG[1]) & (np.abs(across) > 0.4)
    ear_band &= off_oval < EAR_REACH * unit
    neck_zone = outside & (along <= -0.2) & (along > -0.85) & (np.abs(across - NECK_SHIFT * yaw) < NECK_W)

    clearly_hair = hair_like & (hair_d + 1.0 < skin_d)
    neck = _largest_component_touching(neck_zone & ~clearly_hair & (skin_d < NECK_T), oval)
    ears = head_zone & ear_band & (skin_d < EAR_T) & (skin_d + SKIN_MARGIN < hair_d)
    if hair_model is not None and skin_model is not None:
        ears |= _ears_by_chroma(rgb, head_zone & ear_band, ears, oval, skin_model, hair_model, unit)
    forehead = head_zone & fore_skin & (along > 0.2)
    # below the jaw only pixels close to the hair colour count (collars and dark clothes do not)
    hair = outside & hair_like & ~neck & (np.abs(across) < 1.4) & ((along > -0.45) | ((along > -1.6) & (hair_d < 2.5)))
    hair |= head_zone & ~fore_skin & ~neck
    # hair below the chin must hang from the head (dark clothes look like dark hair)
    hair = _largest_component_touching(hair, hair & (along > -0.3)) | (hair & (along > -0.3))
    # torso: widening below the neck; clothes are often missed by the person mask at the frame edge
    torso = (along < -0.7) & (np.abs(across) < 0.6 + (-0.7 - along) * 1.6)
    if has_hair:
        _drop_cloth_from_hair(rgb, bins, hair, outside, neck, skin_like, crown, along, across, unit)
    cloth = ((outside & (along < CLOTH_ALONG)) | (torso & ~oval)) & ~neck & ~hair & ~skin_like
    if CLOTH_BARE_T > 0:  # bare shoulders / chest: skin-coloured under the looser threshold
        cloth &= ~((skin_d < CLOTH_BARE_T) & (skin_d + SKIN_MARGIN < hair_d))

    if has_hair:
        # the person mask cuts the outer hair edge (curls, flyaways): near the hair, above the jaw,
        # background pixels whose colour is far more typical of the crown hair than of the
        # background (histogram of the other non-person pixels beside the head) are hair
        g = max(3, int(round(unit * EDGE_REACH)) | 1)
        near_hair = cv2.dilate(hair.astype(np.uint8), np.ones((g, g), np.uint8)).astype(bool)
        cand = near_hair & ~person & ~oval & (along > -0.3) & (hair_d < 4.0)
        bg_seed = ~person & ~near_hair & (along > -0.3) & (np.abs(across) < 2.0)
        if cand.any() and bg_seed.sum() >= HIST_MIN_SAMPLES:
            q = bins[cand]
            edge = np.zeros(shape, bool)
            edge[cand] = _hist_likelihood(bins[crown], q) > EDGE_RATIO * _hist_likelihood(bins[bg_seed], q)
            hair |= _largest_component_touching(edge, hair)
    labels[cloth] = L["cloth"]
    labels[hair] = L["hair"]
    labels[neck] = L["neck"]
    labels[forehead] = L["skin"]
    for name, side in (("l_ear", 1), ("r_ear", -1)):
        labels[ears & (np.sign(across) == side)] = L[name]
    # majority filter around this head (colour decisions are noisy pixel by pixel)
    near = ~oval & (np.abs(across) < 1.6) & (along > -1.7) & (along < 1.4) & _OUTER_LUT[labels]
    _mode_filter(labels, near, max(3, int(round(unit * SMOOTH)) | 1))
    labels[oval] = L["skin"]
    if has_hair:  # hair falling over the upper face oval (fringes, side partings), away from the parts
        inner = cv2.dilate(parts.astype(np.uint8), np.ones((grow * 3, grow * 3), np.uint8)).astype(bool)
        over = oval & ~inner & (along > 0.05) & (hair_d + 1.0 < core_d) & (core_d > SKIN_T)
        # strands of unmistakable hair colour (far from the skin, close to the crown hair) also
        # reach down the side of the face and close to the eyes and brows (not past the nose tip)
        near_parts = cv2.dilate(parts.astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)
        over |= (oval & ~near_parts & (along > OVER_STRONG[0]) & (core_d > OVER_STRONG[1])
                 & (hair_d < OVER_STRONG[2]) & (hair_d + OVER_STRONG[2] < core_d))
        labels[_largest_component_touching(over, hair & ~oval)] = L["hair"]
    labels[nose] = L["nose"]
    if DETECT_GLASSES:
        glasses = detect_glasses(rgb, lm)
        if glasses.present and glasses.mask is not None:  # eyes, brows and lips are drawn over it
            labels[glasses.mask & oval] = L["eye_g"]
    bk = max(3, int(round(unit * BROW_BAND)) | 1)
    # the band grows across the brow only (along the face's up axis), not past its ends, where
    # the dark pixels are hair at the temples or the shadow of the nose bridge
    brow_kernel = np.zeros((bk, bk), np.uint8)
    half = (bk - 1) / 2 * up_u
    cv2.line(brow_kernel, tuple(int(round(v)) for v in (bk // 2 - half[0], bk // 2 - half[1])),
             tuple(int(round(v)) for v in (bk // 2 + half[0], bk // 2 + half[1])), 1)
    for name, m in brows.items():
        # the mesh polygon plus the dark pixels of a band around it that connect to it
        band = cv2.dilate(m.astype(np.uint8), brow_kernel).astype(bool)
        # faint brows: the threshold follows how far from the skin this face's brow polygon is
        thr = BROW_DARK
        if m.any():
            thr = float(np.clip(BROW_DARK_FRAC * np.median(core_d[m]), BROW_DARK_MIN, BROW_DARK))
        dark = _largest_component_touching(band & (core_d > thr) & ~eyes["l_eye"] & ~eyes["r_eye"], m)
        brow = cv2.morphologyEx((m | dark).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        labels[brow.astype(bool)] = L[name]
    for name, m in eyes.items():
        labels[m] = L[name]
    labels[u_lip] = L["u_lip"]
    labels[l_lip] = L["l_lip"]
    labels[mouth] = L["mouth"]


EYE_SCALE = 0.97
"""The eyelid contour is shrunk about its centre by this factor (CelebAMask-HQ's eye is the
visible opening, slightly inside the mesh contour; measured on the labelled pairs, MT and Xiqu)."""


def _eye(shape: tuple[int, int], lm: np.ndarray, idx: Sequence[int]) -> np.ndarray:
    """One eye's mask: its mesh eyelid contour scaled by :data:`EYE_SCALE` about its centroid,
    filled at sub-pixel precision."""
    pts = lm[list(idx)].astype(np.float64)
    c = pts.mean(0)
    return _region_subpixel(shape, c + (pts - c) * EYE_SCALE)


def _nose(shape: tuple[int, int], lm: np.ndarray) -> np.ndarray:
    """Convex hull of the bridge and alae points, widened at the top towards the inner eye corners
    (CelebAMask-HQ's nose starts as a band between the eyes, not at a point)."""
    top = lm[168]
    extra = np.array([top + NOSE_TOP * (lm[133] - top), top + NOSE_TOP * (lm[362] - top)])
    ext = np.concatenate([lm[list(T.NOSE)], extra]).astype(np.float32)
    return _region(shape, ext, range(len(ext)), hull=True)


CLOSED_MOUTH = 0.04
"""Inner-lip gap / mouth width below which the mouth counts as closed (no ``mouth`` label)."""




def _lip_adjusted(lm: np.ndarray) -> np.ndarray:
    """Landmarks with the outer lip contours rescaled vertically (:data:`LIP_OUT`) to
    CelebAMask-HQ's lip convention (thicker upper lip, thinner lower lip). (Shrinking the inner
    contour as well measured +0.005 mIoU on the 9 pairs but moved teeth into the lip region of an
    open smile, which the makeup studio's lip edits rely on; not done.)"""
    lm = lm.copy().astype(np.float64)
    c = lm[list(T.MOUTH_CORNERS)].mean(0)
    up = lm[T.FOREHEAD] - lm[T.CHIN]
    up = up / max(float(np.hypot(*up)), 1e-6)
    for idx, f in ((T.LIPS_OUTER_UPPER, LIP_OUT[0]), (T.LIPS_OUTER_LOWER, LIP_OUT[1])):
        inner = sorted(set(idx) - set(T.MOUTH_CORNERS) - {78, 308})
        d = lm[inner] - c
        lm[inner] = c + d + np.outer(d @ up * (f - 1.0), up)
    return lm


def _lips_and_mouth(shape: tuple[int, int], lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper lip, lower lip and inner mouth masks. A closed mouth has no inner-mouth region: the
    thin sliver between the inner contours is split between the lips along its midline."""
    upper_in = lm[list(T.LIPS_INNER_UPPER)]
    lower_in = lm[list(T.LIPS_INNER_LOWER)]
    width = float(np.hypot(*(lm[T.MOUTH_CORNERS[1]] - lm[T.MOUTH_CORNERS[0]])))
    gap = float(np.mean(np.hypot(*(upper_in - lower_in).T)))
    closed = gap < CLOSED_MOUTH * max(width, 1.0)
    lm = _lip_adjusted(lm)
    upper_in = lm[list(T.LIPS_INNER_UPPER)]
    lower_in = lm[list(T.LIPS_INNER_LOWER)]
    if closed:
        u, low = _split_lips(shape, lm, (upper_in + lower_in) / 2)
        return u, low & ~u, np.zeros(shape, bool)
    # open mouth: the inner contour (integer fill, which takes its boundary pixels) is the mouth;
    # the lips are the sub-pixel regions from the outer contours to the inner contours' midline
    # minus the mouth.
    # The mesh's inner contour runs on the lips' wet inner edge: CelebAMask-HQ gives that band to the
    # lips, so the mouth is the contour shrunk about its centre (MOUTH_SHRINK along / across).
    inner = lm[list(T.LIPS_INNER_UPPER) + list(T.LIPS_INNER_LOWER[::-1][1:-1])]
    axis = lm[T.MOUTH_CORNERS[1]] - lm[T.MOUTH_CORNERS[0]]
    axis = axis / max(float(np.hypot(*axis)), 1e-6)
    normal = np.array([-axis[1], axis[0]])
    centre = inner.mean(0)
    rel = inner - centre
    along, across = MOUTH_SHRINK
    inner = centre + np.outer(rel @ axis * along, axis) + np.outer(rel @ normal * across, normal)
    mouth = _region(shape, inner.astype(np.float32), range(len(inner)))
    u, low = _split_lips(shape, lm, (upper_in + lower_in) / 2)
    return u & ~mouth, low & ~mouth & ~u, mouth


def _split_lips(shape: tuple[int, int], lm: np.ndarray, mid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper / lower lip regions from the outer contours to the line ``mid`` (corner to corner),
    filled at sub-pixel precision (:func:`_region_subpixel`)."""
    ext = np.concatenate([lm, mid])
    mid_idx = list(range(len(lm), len(lm) + len(mid)))
    u = _region_subpixel(shape, ext[list(T.LIPS_OUTER_UPPER) + mid_idx[::-1]])
    low = _region_subpixel(shape, ext[list(T.LIPS_OUTER_LOWER) + mid_idx[::-1]])
    return u, low




HIST_BINS = (8, 12, 12)
"""Bins (Y, Cr, Cb) of the histogram colour models (clothes, crown hair)."""


def _bin_lut() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel look-ups whose sum is a YCrCb pixel's :data:`HIST_BINS` histogram bin."""
    v = np.arange(256, dtype=np.int32)
    b = [(v * n) >> 8 for n in HIST_BINS]
    return (b[0] * (HIST_BINS[1] * HIST_BINS[2])).astype(np.uint16), (b[1] * HIST_BINS[2]).astype(np.uint16), b[2].astype(np.uint16)


_BIN_LUT = _bin_lut()


def _bin_index(ycc: np.ndarray) -> np.ndarray:
    """The :data:`HIST_BINS` histogram bin of every pixel of a ``uint8`` YCrCb image (``uint16``
    ``[H, W]``): computed once per face, then every histogram model only counts and looks up."""
    ly, lr, lb = _BIN_LUT
    return ly[ycc[..., 0]] + lr[ycc[..., 1]] + lb[ycc[..., 2]]


def _hist_likelihood(samples: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Likelihood of the ``query`` pixels under the normalised histogram (:data:`HIST_BINS`,
    floored at 1e-5) of the ``samples``, both given by their bins (:func:`_bin_index`): a
    multi-modal colour model (patterned clothes, highlights in hair)."""
    hist = np.bincount(samples, minlength=int(np.prod(HIST_BINS))).astype(np.float64)
    hist = hist / max(float(hist.sum()), 1.0) + 1e-5
    return hist[query]


def _ears_by_chroma(rgb: np.ndarray, band: np.ndarray, ears: np.ndarray, oval: np.ndarray,
                    skin: ColourModel, hair: ColourModel, unit: float) -> np.ndarray:
    """Ear pixels of ``band`` found by chroma alone (:data:`EAR_CHROMA`: the ``skin`` and ``hair``
    models with its luma slack), in blobs (with the ears already found) that reach the face oval
    (:data:`EAR_TOUCH`)."""
    slack, thr, margin = EAR_CHROMA
    q = rgb[band].reshape(-1, 1, 3)
    if len(q) == 0:
        return np.zeros(band.shape, bool)
    sc = skin.with_slack(slack).distance(q)[:, 0]
    hc = hair.with_slack(slack).distance(q)[:, 0]
    extra = np.zeros(band.shape, bool)
    extra[band] = (sc < thr) & (sc + margin < hc)
    g = max(3, int(round(unit * EAR_TOUCH)) | 1)
    near_oval = cv2.dilate(oval.astype(np.uint8), np.ones((g, g), np.uint8)).astype(bool)
    return _largest_component_touching(extra | ears, near_oval)


def _hair_columns(hair: np.ndarray, along: np.ndarray, across: np.ndarray) -> np.ndarray:
    """Pixels whose face-frame column (``across`` bin of 0.05, within ±3) is mostly hair in the
    jaw-height band :data:`HANG_BAND` (more than :data:`HANG_FRAC`)."""
    inband = (along > HANG_BAND[0]) & (along < HANG_BAND[1])
    col = lambda m: np.clip(np.round((across[m] + 3.0) / 0.05), 0, 120).astype(np.int32)
    tot = np.bincount(col(inband), minlength=121).astype(np.float64)
    hit = np.bincount(col(inband & hair), minlength=121).astype(np.float64)
    frac = np.where(tot > 0, hit / np.maximum(tot, 1.0), 0.0)
    out = np.zeros(hair.shape, bool)
    out[hair] = (frac > HANG_FRAC)[col(hair)]  # only hair pixels are ever asked about
    return out


def _mode_filter(labels: np.ndarray, where: np.ndarray, k: int) -> None:
    """Replace ``labels`` inside ``where`` by the most frequent label of its ``k``×``k`` window
    (votes from pixels inside ``where`` only)."""
    classes = np.unique(labels[where])
    if len(classes) < 2:
        return
    # work on the bounding box of ``where`` plus a margin wider than the window's half: pixels
    # outside ``where`` cast no vote, so the result is the same as on the whole image
    bx, by, bw, bh = cv2.boundingRect(where.view(np.uint8))
    m = k // 2 + 1
    y0, y1 = max(0, by - m), min(labels.shape[0], by + bh + m)
    x0, x1 = max(0, bx - m), min(labels.shape[1], bx + bw + m)
    lab, wh = labels[y0:y1, x0:x1], where[y0:y1, x0:x1]
    # vote counts (exact integers: the same arg-max, ties to the first class, as the window means)
    depth = cv2.CV_16U if k * k <= np.iinfo(np.uint16).max else cv2.CV_32S
    votes = np.stack([cv2.boxFilter(((lab == c) & wh).view(np.uint8), depth, (k, k), normalize=False)[wh]
                      for c in classes])
    # arg-max over the classes, ties to the first (as np.argmax), one class at a time (faster
    # than np.argmax across the first axis)
    best, pick = votes[0].copy(), np.zeros(votes.shape[1], np.intp)
    for i in range(1, len(classes)):
        pick[votes[i] > best] = i
        np.maximum(best, votes[i], out=best)
    lab[wh] = classes[pick].astype(np.uint8)


def _largest_component_touching(mask: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Keep the connected components of ``mask`` that touch the dilated ``anchor``."""
    if not mask.any() or not anchor.any():
        return mask
    n, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    near = cv2.dilate(anchor.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    keep = np.unique(comp[near & mask])
    keep = keep[keep > 0]
    return np.isin(comp, keep)


def geometric_parsing(rgb: np.ndarray, faces: Sequence[Face], person: np.ndarray | None = None) -> np.ndarray:
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
