"""Aligned square face crops (FFHQ-style) and feathered paste-back.

The crop is the FFHQ alignment of Karras et al.: an oriented square built from the eye centres and
the mouth centre (side = max(2 × eye distance, 1.8 × eye-to-mouth distance), centre slightly below
the eyes), mapped to ``size × size`` by an affine transform. :func:`paste_back` maps an edited
crop back with the inverse transform and a feathered mask. When it is given the unedited crop it
pastes only the *change* (``edited − original``), so an unedited crop returns the image
bit-for-bit and an edit keeps the full-resolution detail it did not touch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from engine.faces.types import Face


@dataclass(frozen=True)
class AlignedCrop:
    """A crop and how it maps to the image.

    Args:
        image: ``uint8`` ``[size, size, 3]`` crop.
        matrix: ``[2, 3]`` affine transform image → crop.
        size: crop side in pixels.
    """

    image: np.ndarray
    matrix: np.ndarray
    size: int

    @property
    def inverse(self) -> np.ndarray:
        """``[2, 3]`` affine transform crop → image."""
        return cv2.invertAffineTransform(self.matrix)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Map image points ``[N, 2]`` into crop coordinates."""
        p = np.asarray(points, np.float64)
        return (p @ self.matrix[:, :2].T + self.matrix[:, 2]).astype(np.float32)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Map crop points ``[N, 2]`` back to image coordinates."""
        inv = self.inverse
        p = np.asarray(points, np.float64)
        return (p @ inv[:, :2].T + inv[:, 2]).astype(np.float32)

    def vector_to_crop(self, vectors: np.ndarray) -> np.ndarray:
        """Map image displacements ``[N, 2]`` (no translation) into the crop."""
        return (np.asarray(vectors, np.float64) @ self.matrix[:, :2].T).astype(np.float32)

    def face_to_crop(self, face: Face) -> Face:
        """``face`` in the crop's pixels: key points and landmarks mapped, the box around its mapped
        corners."""
        x0, y0, x1, y1 = (float(v) for v in face.box)
        corners = self.to_crop(np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64))
        box = np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)
        return replace(face, box=box, keypoints=self.to_crop(face.keypoints),
                       landmarks=None if face.landmarks is None else self.to_crop(face.landmarks[:, :2]))


def ffhq_quad(keypoints: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """The FFHQ crop square ``[4, 2]`` (top-left, bottom-left, bottom-right, top-right).

    Args:
        keypoints: ``[3, 2]`` right eye centre, left eye centre, mouth centre (image pixels).
        scale: grow (> 1) or shrink the square about its centre.
    """
    k = np.asarray(keypoints, np.float64)
    eye_avg = (k[0] + k[1]) / 2
    eye_to_eye = k[1] - k[0]
    eye_to_mouth = k[2] - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    norm = np.hypot(*x)
    if norm < 1e-6:
        raise ValueError("degenerate face keypoints (eyes and mouth coincide)")
    x /= norm
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8) * scale
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def align_face(image: np.ndarray, keypoints: np.ndarray, size: int = 512, scale: float = 1.0) -> AlignedCrop:
    """Crop an aligned ``size × size`` face (FFHQ layout) from ``image``.

    Args:
        image: ``uint8`` ``[H, W, 3]``.
        keypoints: ``[3, 2]`` right eye, left eye, mouth centre (see :class:`~engine.faces.types.Face`).
        size: output side.
        scale: widen the crop (> 1) to include more context.

    Returns:
        :class:`AlignedCrop`; pixels outside the image are filled by reflection.
    """
    if size < 8:
        raise ValueError(f"crop size must be >= 8, got {size}")
    quad = ffhq_quad(keypoints, scale)
    src = quad[[0, 1, 3]].astype(np.float32)  # top-left, bottom-left, top-right
    dst = np.array([[0, 0], [0, size], [size, 0]], np.float32)
    m = cv2.getAffineTransform(src, dst)
    shrink = np.hypot(*(quad[3] - quad[0])) / size
    interp = cv2.INTER_AREA if shrink > 1.5 else cv2.INTER_CUBIC
    crop = cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT)
    return AlignedCrop(crop, m, size)


def feather_mask(size: int, feather: float = 0.08) -> np.ndarray:
    """``float32`` ``[size, size]`` mask: 1 inside, falling smoothly to 0 at the border."""
    f = max(1, int(round(size * feather)))
    m = np.zeros((size, size), np.float32)
    m[f:-f, f:-f] = 1.0
    k = 2 * f + 1
    return cv2.GaussianBlur(m, (k, k), f / 2.0)


def paste_back(image: np.ndarray, crop: AlignedCrop, edited: np.ndarray, *,
               feather: float = 0.08, mask: np.ndarray | None = None, mode: str = "delta") -> np.ndarray:
    """Put an edited crop back into ``image`` with a feathered seam.

    ``mode="delta"`` warps back the *difference* between ``edited`` and ``crop.image`` and adds it,
    so untouched pixels stay exactly as they were (an unedited crop returns ``image`` unchanged)
    and full-resolution detail survives colour edits. ``mode="replace"`` blends the warped edited
    crop over the image instead (for edits that move content: regenerated hair, new glasses).

    Args:
        image: the full ``uint8`` ``[H, W, 3]`` image the crop came from.
        crop: the :class:`AlignedCrop` returned by :func:`align_face`.
        edited: ``uint8`` ``[size, size, 3]`` edited crop.
        feather: width of the seam as a fraction of the crop side.
        mask: optional ``float`` ``[size, size]`` in [0, 1]: where the edit applies (multiplied with
            the feathered border).
        mode: ``"delta"`` or ``"replace"`` (see above).

    Returns:
        New ``uint8`` image; ``image`` is not modified.
    """
    if edited.shape != crop.image.shape:
        raise ValueError(f"edited crop must be {crop.image.shape}, got {edited.shape}")
    if mode not in ("delta", "replace"):
        raise ValueError(f"mode must be 'delta' or 'replace', got {mode!r}")
    h, w = image.shape[:2]
    weight = feather_mask(crop.size, feather)
    if mask is not None:
        weight = weight * np.clip(np.asarray(mask, np.float32), 0, 1)
    inv = crop.inverse
    if mode == "replace":
        wimg = cv2.warpAffine(weight, inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[:, :, None]
        eimg = cv2.warpAffine(edited, inv, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        blend = image.astype(np.float32) * (1 - wimg) + eimg.astype(np.float32) * wimg
        out = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
        out[wimg[:, :, 0] <= 0] = image[wimg[:, :, 0] <= 0]
        return out
    delta = edited.astype(np.float32) - crop.image.astype(np.float32)
    d_img = cv2.warpAffine(delta * weight[:, :, None], inv, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    changed = np.abs(d_img).max(axis=2) > 0
    out = image.copy()
    if changed.any():
        vals = image[changed].astype(np.float32) + d_img[changed]
        out[changed] = np.clip(np.rint(vals), 0, 255).astype(np.uint8)
    return out
