"""The edited state as a small observable model; widgets bind to it both ways."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal


class Document(QObject):
    """Source image plus per-studio parameters.

    Signals:
        image_changed(): a new source image was set.
        param_changed(studio, key, value): one parameter changed (by a widget, undo or redo).
        modified_changed(bool): the document got (or lost) unsaved work.
    """

    image_changed = Signal()
    param_changed = Signal(str, str, object)
    modified_changed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self.path: Path | None = None
        self.image: np.ndarray | None = None
        self._params: dict[str, dict[str, Any]] = {}
        self._modified = False

    # -- unsaved work ----------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        """Some studio holds editable state (sketch, label map, anchors, parameters) not saved yet."""
        return self._modified

    def set_modified(self, on: bool) -> None:
        """Mark the document modified or saved; emits ``modified_changed`` when that changes."""
        on = bool(on)
        if on != self._modified:
            self._modified = on
            self.modified_changed.emit(on)

    def namespaces(self) -> list[str]:
        """Every declared parameter namespace (one or more per studio)."""
        return list(self._params)

    # -- image ---------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray, path: Path | None = None) -> None:
        """Replace the source image (``uint8`` RGB) and announce it."""
        self.image = image
        self.path = Path(path) if path is not None else None
        self.image_changed.emit()

    @property
    def has_image(self) -> bool:
        return self.image is not None

    # -- parameters ----------------------------------------------------------------------------
    def declare(self, studio: str, defaults: Mapping[str, Any]) -> None:
        """Register a studio's parameters with their defaults (existing values are kept)."""
        current = self._params.setdefault(studio, {})
        for k, v in defaults.items():
            current.setdefault(k, v)

    def params(self, studio: str) -> dict[str, Any]:
        """A copy of a studio's parameters."""
        return dict(self._params[studio])

    def param(self, studio: str, key: str) -> Any:
        return self._params[studio][key]

    def set_param(self, studio: str, key: str, value: Any) -> None:
        """Set one parameter; emits ``param_changed`` only when the value really changes."""
        table = self._params[studio]
        if key not in table:
            raise KeyError(f"{studio} has no parameter {key!r}")
        if table[key] == value:
            return
        table[key] = value
        self.param_changed.emit(studio, key, value)
