"""What every studio editor shares: results, the set_image/edit/edit_stream contract, previews."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Generic, Iterator, Optional, Sequence, TypeVar

import cv2
import numpy as np

from engine.cancel import CancelToken
from engine.errors import EditorStateError

P = TypeVar("P")


@dataclass
class EditResult:
    """Output of one edit.

    Args:
        image: ``uint8`` ``[H, W, 3]`` RGB (or ``[H, W]`` grey for line art).
        masks: named ``[H, W]`` masks (bool or ``uint8``) the edit used or produced.
        info: what ran: ``backend`` (``"classical"``/``"neural"``), ``device``, ``scale`` (1.0 =
            full resolution, < 1 for a preview), ``elapsed_ms`` and editor-specific facts.
    """

    image: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_preview(self) -> bool:
        """True for a reduced-resolution preview from :meth:`Editor.edit_stream`."""
        return float(self.info.get("scale", 1.0)) < 1.0


def validate_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an engine input image: ``uint8`` ``[H, W, 3]`` (grey ``[H, W]`` is expanded).

    Raises:
        ValueError: wrong dtype, rank or channel count, or an empty image.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name} must be [H, W, 3] RGB, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty ({arr.shape})")
    return np.ascontiguousarray(arr)


def downscale_to(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the long side is at most ``max_side`` (INTER_AREA); returns (image, scale ≤ 1)."""
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1.0:
        return image, 1.0
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), s


class Editor(ABC, Generic[P]):
    """Base of the studio editors (SAM-predictor shape).

    ``set_image`` does the expensive analysis once; ``edit`` is cheap and repeatable;
    ``edit_stream`` yields low-resolution previews first, then the full-resolution result.

    Args:
        backend: ``"classical"``, ``"neural"`` or ``"auto"`` (learned when its checkpoint is
            present and loadable, else classical).
    """

    backends: tuple[str, ...] = ("classical",)
    preview_sides: tuple[int, ...] = (384,)
    """Long sides of the previews :meth:`edit_stream` yields before the full result."""

    def __init__(self, backend: str = "auto") -> None:
        if backend not in ("auto",) + self.backends:
            raise ValueError(f"backend must be one of {('auto',) + self.backends}, got {backend!r}")
        self.requested_backend = backend
        self._image: Optional[np.ndarray] = None
        self._previews: dict[int, tuple[np.ndarray, float]] = {}

    # -- image ----------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray) -> None:
        """Analyse ``image`` (``uint8`` RGB ``[H, W, 3]``; grey is expanded) for later edits."""
        self._image = validate_rgb(image)
        self._previews = {}
        self._prepare(self._image)

    def _prepare(self, image: np.ndarray) -> None:  # noqa: B027 - optional hook
        """Expensive per-image analysis; subclasses cache what they need."""

    @property
    def image(self) -> np.ndarray:
        """The image given to :meth:`set_image`."""
        if self._image is None:
            raise EditorStateError(f"{type(self).__name__}: call set_image() before editing")
        return self._image

    @property
    def has_image(self) -> bool:
        return self._image is not None

    def _preview_source(self, side: int) -> tuple[np.ndarray, float]:
        if side not in self._previews:
            self._previews[side] = downscale_to(self.image, side)
        return self._previews[side]

    # -- editing ---------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """The backend that actually runs (``auto`` resolved)."""
        return "classical" if self.requested_backend == "auto" else self.requested_backend

    @abstractmethod
    def _run(self, image: np.ndarray, params: P, scale: float, cancel: Optional[CancelToken]) -> EditResult:
        """Apply ``params`` to ``image`` (which is the source shrunk by ``scale``)."""

    def edit(self, params: P, cancel: Optional[CancelToken] = None) -> EditResult:
        """Full-resolution edit of the current image."""
        return self._timed(self.image, params, 1.0, cancel)

    def edit_stream(self, params: P, cancel: Optional[CancelToken] = None,
                    preview_sides: Optional[Sequence[int]] = None) -> Iterator[EditResult]:
        """Yield previews (smallest first) whose side is smaller than the image, then the full edit.

        Checks ``cancel`` between steps and raises :class:`~engine.errors.Cancelled` when set.
        """
        img = self.image
        sides = self.preview_sides if preview_sides is None else preview_sides
        for side in sorted(sides):
            if side >= max(img.shape[:2]):
                continue
            if cancel is not None:
                cancel.raise_if_cancelled()
            small, s = self._preview_source(side)
            yield self._timed(small, params, s, cancel)
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield self.edit(params, cancel)

    def _timed(self, image: np.ndarray, params: P, scale: float, cancel: Optional[CancelToken]) -> EditResult:
        t0 = time.perf_counter()
        res = self._run(image, params, scale, cancel)
        res.info.setdefault("backend", self.backend)
        res.info.setdefault("device", "cpu")
        res.info["scale"] = scale
        res.info["elapsed_ms"] = (time.perf_counter() - t0) * 1000.0
        return res
