"""Label schemes: the one source of truth for class names, orders, palettes and conversions.

Masquerade's canonical face-parsing scheme is the **official CelebAMask-HQ order** (19 classes,
:data:`CELEBAMASK_HQ`). Other tools use other orders; convert at the boundary with
:func:`convert_labels` (or the named helpers) and never mix orders inside the engine.

``l_``/``r_`` are the *person's* left/right, so ``l_`` classes lie on the right half of a frontal
image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelScheme:
    """An ordered list of class names; the index of a name is its value in a label map.

    Args:
        name: short identifier, e.g. ``"celebamask_hq"``.
        classes: class names in index order.
    """

    name: str
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.classes)

    def index(self, cls: str) -> int:
        """Index of class ``cls``; ``KeyError`` with the known names if it is not in the scheme."""
        try:
            return self.classes.index(cls)
        except ValueError:
            raise KeyError(f"{cls!r} is not a class of {self.name} ({', '.join(self.classes)})") from None


CELEBAMASK_HQ = LabelScheme(
    "celebamask_hq",
    (
        "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear",
        "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
    ),
)
"""Official CelebAMask-HQ order (also facexlib ``parsenet``): Masquerade's canonical scheme."""

BISENET = LabelScheme(
    "bisenet",
    (
        "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
        "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
    ),
)
"""face-parsing.PyTorch / facexlib ``bisenet`` order."""

MT14 = LabelScheme(
    "mt14",
    (
        "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "u_lip", "teeth",
        "l_lip", "hair", "l_ear", "r_ear", "neck",
    ),
)
"""BeautyGAN MT-Dataset makeup segmentation (14 classes; ``teeth`` maps to ``mouth``)."""

SCHEMES: dict[str, LabelScheme] = {s.name: s for s in (CELEBAMASK_HQ, BISENET, MT14)}

_ALIASES: dict[str, str] = {"teeth": "mouth"}
"""Classes with no exact counterpart, mapped to the nearest canonical class."""


def conversion_table(src: LabelScheme, dst: LabelScheme, missing: str = "background") -> np.ndarray:
    """Lookup table ``t`` with ``dst_map = t[src_map]`` (``uint8``, 256 entries).

    Classes of ``src`` that ``dst`` lacks go through :data:`_ALIASES` (``teeth → mouth``), else to
    ``missing``. Values beyond ``len(src)`` map to ``missing`` too.
    """
    miss = dst.index(missing)
    table = np.full(256, miss, dtype=np.uint8)
    for i, cls in enumerate(src.classes):
        name = cls if cls in dst.classes else _ALIASES.get(cls, missing)
        table[i] = dst.index(name) if name in dst.classes else miss
    return table


def convert_labels(label_map: np.ndarray, src: LabelScheme | str, dst: LabelScheme | str) -> np.ndarray:
    """Re-code an integer label map from scheme ``src`` to scheme ``dst``.

    Args:
        label_map: integer array ``[H, W]`` (any int dtype, values < 256).
        src: scheme (or its name) the map is in.
        dst: scheme (or its name) to convert to.

    Returns:
        ``uint8`` array ``[H, W]`` in ``dst``.

    Raises:
        ValueError: the map is not 2-D integers or holds values outside 0–255.

    Example:
        >>> m = np.array([[2, 17]], dtype=np.uint8)          # bisenet: l_brow, hair
        >>> convert_labels(m, "bisenet", "celebamask_hq").tolist()
        [[6, 13]]
    """
    s = SCHEMES[src] if isinstance(src, str) else src
    d = SCHEMES[dst] if isinstance(dst, str) else dst
    arr = np.asarray(label_map)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"label map must be a 2-D integer array, got {arr.dtype} {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError("label values must lie in 0..255")
    return conversion_table(s, d)[arr.astype(np.intp)]


def bisenet_to_official(label_map: np.ndarray) -> np.ndarray:
    """facexlib BiSeNet / face-parsing.PyTorch order → official CelebAMask-HQ order."""
    return convert_labels(label_map, BISENET, CELEBAMASK_HQ)


def official_to_bisenet(label_map: np.ndarray) -> np.ndarray:
    """Official CelebAMask-HQ order → BiSeNet order."""
    return convert_labels(label_map, CELEBAMASK_HQ, BISENET)


def mt14_to_official(label_map: np.ndarray) -> np.ndarray:
    """MT-Dataset 14-class makeup segmentation → official order (teeth become ``mouth``)."""
    return convert_labels(label_map, MT14, CELEBAMASK_HQ)


CELEBAMASK_HQ_PALETTE: np.ndarray = np.array(
    [
        [0, 0, 0], [204, 0, 0], [76, 153, 0], [204, 204, 0], [51, 51, 255], [204, 0, 204],
        [0, 255, 255], [255, 204, 204], [102, 51, 0], [255, 0, 0], [102, 204, 0], [255, 255, 0],
        [0, 0, 153], [0, 0, 204], [255, 51, 153], [0, 204, 204], [0, 51, 0], [255, 153, 51],
        [0, 204, 0],
    ],
    dtype=np.uint8,
)
"""The CelebAMask-HQ colour palette (RGB per official class), as used by MaskGAN / SEAN."""


def colorize_labels(label_map: np.ndarray, palette: np.ndarray = CELEBAMASK_HQ_PALETTE) -> np.ndarray:
    """RGB ``uint8`` ``[H, W, 3]`` rendering of a label map; unknown values render black."""
    arr = np.asarray(label_map).astype(np.intp)
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    return lut[np.clip(arr, 0, 255)]


def labels_from_colors(rgb: np.ndarray, palette: np.ndarray = CELEBAMASK_HQ_PALETTE) -> np.ndarray:
    """Inverse of :func:`colorize_labels`: nearest palette colour per pixel → label ``uint8``."""
    flat = np.asarray(rgb, dtype=np.int32).reshape(-1, 3)
    pal = palette.astype(np.int32)
    d = ((flat[:, None, :] - pal[None, :, :]) ** 2).sum(-1)
    return d.argmin(1).astype(np.uint8).reshape(rgb.shape[:2])


# --- region groups -----------------------------------------------------------------------------

MAKEUP_INVARIANT: tuple[str, ...] = (
    "background", "hair", "hat", "l_ear", "r_ear", "ear_r", "l_eye", "r_eye", "eye_g", "mouth",
    "neck", "neck_l", "cloth",
)
"""Classes makeup must never change (the makeup paper's invariant region; ``mouth`` = teeth)."""

LIPS: tuple[str, ...] = ("u_lip", "l_lip")
BROWS: tuple[str, ...] = ("l_brow", "r_brow")
EYES: tuple[str, ...] = ("l_eye", "r_eye")
FACE_SKIN: tuple[str, ...] = ("skin", "nose")


def region_mask(label_map: np.ndarray, classes: Sequence[str], scheme: LabelScheme = CELEBAMASK_HQ) -> np.ndarray:
    """Boolean ``[H, W]`` mask of the pixels whose class is one of ``classes``."""
    ids = [scheme.index(c) for c in classes]
    return np.isin(np.asarray(label_map), ids)


# --- other label sets --------------------------------------------------------------------------

EXPRESSIONS: tuple[str, ...] = ("angry", "sad", "smile", "surprised")
"""Expression studio labels (the anime-expression paper's four)."""

OPERA_COLOURS: tuple[str, ...] = ("red", "purple", "black", "white", "blue", "green", "yellow")
"""The opera paper's seven main-colour classes (``yellow`` = yellow/gold)."""

OPERA_COLOUR_RGB: Mapping[str, tuple[int, int, int]] = {
    "red": (200, 30, 35),
    "purple": (120, 40, 110),
    "black": (20, 20, 22),
    "white": (245, 242, 235),
    "blue": (35, 70, 160),
    "green": (30, 130, 70),
    "yellow": (225, 170, 30),
}
"""Representative paint colour of each opera class (used by the procedural generators)."""


EXPRESSION_LABELS: tuple[str, ...] = ("angry", "sad", "smile", "surprised")
"""The expression paper's four emotion labels, in the order of every label vector."""
