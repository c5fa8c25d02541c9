"""Shared test setup: offscreen Qt, isolated QSettings, small generated images, ../shared/data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from testkit import shapes_image  # pytest put this folder on sys.path before importing this file

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MASQUERADE_DEVICE", "cpu")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    # Keep the developer's real settings out of tests: QSettings go to a throw-away INI folder.
    import tempfile

    settings_dir = tempfile.mkdtemp(prefix="masquerade-settings-")
    os.environ["MASQUERADE_TEST_SETTINGS"] = settings_dir
    # and the per-user cache (engine.cache) to a throw-away folder, shared by the processes tests start
    os.environ["MASQUERADE_CACHE_DIR"] = tempfile.mkdtemp(prefix="masquerade-cache-")
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






sys.path.insert(0, str(Path(__file__).parent))  # test files in subfolders import testkit by name


@pytest.fixture
def shapes() -> np.ndarray:
    return shapes_image()




@pytest.fixture
def one_torch_thread():
    """One torch thread for tiny networks: on a busy 2-core machine several threads fight over the
    cores (a small training step took seconds instead of a fraction of one)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
