"""Draw the application icon with the project's own lianpu generator.

``python packaging/make_icon.py`` rewrites ``packaging/masquerade.png`` (256², RGBA): a seeded red
lianpu, transparent outside the face. The generator is deterministic, so the icon is reproducible
and carries no third-party licence.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.imageio import save_image
from engine.procedural.lianpu import generate_lianpu

ICON_PATH = ROOT / "packaging" / "masquerade.png"
ICON_SEED = 7
"""Seed of the lianpu design used for the icon."""
ICON_COLOUR = "red"
"""Main-colour class of the icon (the colour of loyalty in opera masks)."""


def make_icon(size: int = 256, seed: int = ICON_SEED, colour: str = ICON_COLOUR) -> np.ndarray:
    """The icon as RGBA ``uint8`` ``[size, size, 4]``.

    Args:
        size: side in pixels (64–4096).
        seed: lianpu design seed.
        colour: main-colour class of the mask.

    Returns:
        The mask painted on a transparent background, with an anti-aliased outline.
    """
    big = generate_lianpu(seed, colour=colour, size=2 * size)
    alpha = np.where(big.regions > 0, 255, 0).astype(np.uint8)
    alpha = cv2.dilate(alpha, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))  # keep the outline
    rgba = np.dstack([big.image, alpha])
    return cv2.resize(rgba, (size, size), interpolation=cv2.INTER_AREA)


if __name__ == "__main__":
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else ICON_SEED
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ICON_PATH
    print(save_image(out, make_icon(seed=seed)))
