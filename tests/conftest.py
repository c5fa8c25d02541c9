"""Shared test setup: offscreen Qt, isolated QSettings, small generated images, ../shared/data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MASQUERADE_DEVICE", "cpu")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    # Keep the developer's real settings out of tests: QSettings go to a throw-away INI folder.
    import tempfile

    settings_dir = tempfile.mkdtemp(prefix="masquerade-settings-")
    os.environ["MASQUERADE_TEST_SETTINGS"] = settings_dir
    try:
        from PySide6.QtCore import QCoreApplication, QSettings
    except ImportError:  # engine-only environments
        return
    QCoreApplication.setOrganizationName("MasqueradeTests")
    QCoreApplication.setApplicationName("MasqueradeTests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)


@pytest.fixture
def clean_settings():
    """Empty QSettings for one test."""
    from PySide6.QtCore import QSettings

    QSettings().clear()
    yield
    QSettings().clear()


@pytest.fixture
def make_window(qtbot, clean_settings):
    """Factory for main windows: ``make_window(size=(1000, 700), studio=None, persist=True)`` → a
    shown ``MainWindow`` (``persist=False``: it does not save its settings on close), closed at the
    end of the test."""
    from app.main_window import MainWindow

    made = []

    def make(size: tuple[int, int] = (1000, 700), studio: str | None = None, persist: bool = True):
        w = MainWindow()
        w.persist_settings = persist
        qtbot.addWidget(w)
        w.resize(*size)
        w.show()
        if studio:
            w.set_studio(studio)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Checkpoint search limited to an empty temporary folder (the project's own checkpoints
    hidden) with every learned-engine cache cleared before and after."""
    import engine.weights.store as store
    from engine.studios.base import forget_learned

    folder = tmp_path / "ckpts"
    folder.mkdir()
    monkeypatch.setattr(store, "PROJECT_CHECKPOINTS", folder)
    monkeypatch.delenv(store.ENV_VAR, raising=False)
    forget_learned()
    yield folder
    forget_learned()


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` or skip (a user's fresh clone has no shared folder)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


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


@pytest.fixture
def shapes() -> np.ndarray:
    return shapes_image()


sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def one_torch_thread():
    """One torch thread for tiny networks: on a busy 2-core machine several threads fight over the
    cores (a small training step took seconds instead of a fraction of one)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
