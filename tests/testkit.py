"""Pictures the tests draw, shared by test files in several folders.

A module of its own (not ``conftest``): ``from conftest import …`` resolves to whichever
``conftest.py`` pytest imported first under that name, and ``tests/nn`` has its own.
``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import numpy as np


def shapes_image(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A small RGB test picture with strong edges (rectangles and a disc on a gradient)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), np.full_like(xx, 128)], -1)
    img = img.astype(np.uint8)
    for _ in range(3):
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
        img[y0:y0 + h // 3, x0:x0 + w // 3] = rng.integers(0, 255, 3)
    cy, cx, r = h // 2, w // 2, min(h, w) // 5
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = (250, 250, 250)
    return img


def tiny_labelled_face(side: int = 32, texture: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A drawn face (skin disc, hair, eyes, lips) and its exact official-order label map; with
    ``texture`` a little seeded noise on the pixels (for tests whose engines copy texture)."""
    from engine.labels import CELEBAMASK_HQ

    idx = CELEBAMASK_HQ.index
    yy, xx = np.mgrid[0:side, 0:side] / side
    lab = np.zeros((side, side), np.uint8)
    img = np.full((side, side, 3), 90, np.uint8)
    face = (yy - 0.55) ** 2 / 0.3 ** 2 + (xx - 0.5) ** 2 / 0.25 ** 2 < 1
    hair = ((yy - 0.4) ** 2 / 0.36 ** 2 + (xx - 0.5) ** 2 / 0.34 ** 2 < 1) & ~face & (yy < 0.6)
    lab[hair], img[hair] = idx("hair"), (70, 45, 25)
    lab[face], img[face] = idx("skin"), (220, 170, 140)
    for cx, name in ((0.38, "r_eye"), (0.62, "l_eye")):
        eye = (yy - 0.48) ** 2 / 0.04 ** 2 + (xx - cx) ** 2 / 0.07 ** 2 < 1
        lab[eye], img[eye] = idx(name), (240, 240, 240)
    lips = (np.abs(yy - 0.72) < 0.04) & (np.abs(xx - 0.5) < 0.12)
    lab[lips], img[lips] = idx("u_lip"), (180, 80, 80)
    if texture:
        noise = np.random.default_rng(side).integers(-6, 7, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
    return img, lab


def disk_full_after(monkeypatch, module, saves: int, delay: float = 0.0) -> dict[str, int]:
    """Make ``module.save_image`` (a batch core's) write ``saves`` files, each after ``delay``
    seconds (a slow disk), then fail every later one as a full disk does (an
    :class:`~engine.errors.ImageSaveError` from ``ENOSPC``); returns the call counter ``{"n": …}``."""
    import errno
    import time

    from engine.errors import ImageSaveError

    real_save = module.save_image
    calls = {"n": 0}

    def save_until_full(path, array):
        calls["n"] += 1
        if calls["n"] > saves:
            raise ImageSaveError(f"{path}: cannot write (No space left on device)") from OSError(
                errno.ENOSPC, "No space left on device")
        time.sleep(delay)
        return real_save(path, array)

    monkeypatch.setattr(module, "save_image", save_until_full)
    return calls
