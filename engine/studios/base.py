"""What every studio editor shares: results, the set_image/edit/edit_stream contract, previews,
and the one learned-backend layer (:class:`LearnedBackend`) every studio's learned engine goes through.

The learned-backend rules, the same in every studio:

* ``resolve(requested)`` reads the card only (cheap, safe on the GUI thread) and returns a
  :class:`Resolution` — which backend runs, why, and the card it read.
* ``auto`` takes the learned engine only when its card's :class:`~engine.weights.card.Verdict`
  says it measured better than its classical twin; a missing, corrupt, refused or unloadable
  checkpoint falls back to classical with the reason.
* An explicit learned request without a usable checkpoint raises one
  :class:`~engine.errors.LearnedBackendError` line.
* ``load()`` runs in the worker, on :func:`engine.device.select_device` (``MASQUERADE_DEVICE``
  overrides), verifies the hash and caches by ``(card path, sha256)``; :func:`forget_learned`
  (called by the Model manager after an import) drops every cache.
"""

from __future__ import annotations

import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from engine.cancel import CancelToken
from engine.device import CLASSICAL_DEVICE, select_device
from engine.errors import EditorStateError, LearnedBackendError
from engine.imageio import downscale_to, validate_rgb
from engine.weights.card import ModelCard

# -- learned backends -------------------------------------------------------------------------------

LEARNED = "neural"
"""Backend name of a learned engine (what ``EditResult.info["backend"]`` says when one ran)."""
CLASSICAL = "classical"
"""Backend name of a classical engine."""


@dataclass(frozen=True)
class Resolution:
    """Which backend runs for a request, and why (what the GUI's engine box and status bar show).

    Args:
        backend: ``"classical"`` or ``"neural"`` — the engine that runs.
        reason: one sentence for people: why this backend (never parsed by the GUI).
        card: the learned model's card when one was read, else ``None``.
        requested: what was asked for: ``"auto"``, ``"classical"`` or ``"neural"``.
        available: a learned checkpoint is present and usable (so the GUI may offer it).
        path: the card file read, else ``None``.
    """

    backend: str
    reason: str
    card: ModelCard | None = None
    requested: str = "auto"
    available: bool = False
    path: Path | None = None

    @property
    def learned(self) -> bool:
        """The learned engine runs."""
        return self.backend == LEARNED

    @property
    def measured_better(self) -> bool:
        """The learned model's card says it measured better than the classical engine."""
        return self.card is not None and self.card.better


_BACKENDS: weakref.WeakSet[LearnedBackend] = weakref.WeakSet()


class LearnedBackend:
    """The learned engine of one studio task: find its card, decide, load on the device, cache.

    Args:
        model: registry name in the card's ``model`` field (e.g. ``"regen_g"``).
        title: what people call it, e.g. ``"the learned SEAN-style generator"``.
        classical: what the classical twin is called in reasons, e.g. ``"classical region warping"``.
        train_hint: the command that trains one (quoted when none is found).
        require_steps: a card must record ``extra["steps"] > 0`` (models that also ship untrained
            configurations).
        describe: optional ``card → str`` adding the measured numbers to the reason.
        roots: checkpoint folders to search (default :func:`engine.weights.store.checkpoint_roots`).
        load: optional ``(card path, device) → model`` replacing :func:`load_checkpoint` (for models
            wrapped in an inference helper).
        cpu_only: the ``load`` helper runs the model on the CPU without torch (a network too small
            for a GPU to help): no device is selected (that would import torch) and ``"cpu"`` is
            passed.

    Example:
        >>> b = LearnedBackend("no_such_model", title="a test model", classical="the rules")
        >>> b.resolve("auto").backend
        'classical'
        >>> b.resolve("classical").reason
        'the rules requested'
    """

    def __init__(self, model: str, *, title: str, classical: str = "classical engine",
                 train_hint: str = "", require_steps: bool = False,
                 describe: Callable[[ModelCard], str] | None = None,
                 roots: Sequence[Path] | None = None,
                 load: Callable[[Path, Any], Any] | None = None, cpu_only: bool = False) -> None:
        if cpu_only and load is None:
            raise ValueError("cpu_only needs a load helper that runs without torch")
        self.model = model
        self.cpu_only = cpu_only
        self.title = title
        self.classical = classical
        self.train_hint = train_hint
        self.require_steps = require_steps
        self.describe = describe
        self.roots = list(roots) if roots is not None else None
        self._loader = load
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str, str], Any] = {}
        self._failed: dict[tuple[str, str], str] = {}
        self._probe: tuple[tuple[Any, ...], Any] | None = None
        _BACKENDS.add(self)

    # -- cheap: cards only -----------------------------------------------------------------------
    def status(self, card: Path | None = None) -> tuple[Path | None, ModelCard | None, str]:
        """``(card path, card, problem)`` without loading weights; ``problem`` is ``""`` when usable."""
        from engine.weights.store import find_checkpoint, probe_checkpoint

        path = Path(card) if card is not None else find_checkpoint(
            self.model, [Path(r) for r in self.roots] if self.roots is not None else None)
        if path is None:
            hint = f" (train one with `{self.train_hint}`)" if self.train_hint else ""
            return None, None, f"no trained {self.model} checkpoint{hint}"
        st = probe_checkpoint(path, check_architecture=not self.cpu_only)
        if not st.loadable or st.card is None:
            return st.path, st.card, st.reason
        c = st.card
        if c.model != self.model:
            return st.path, c, f"{path.name} holds a {c.model!r}, not {self.model!r}"
        if self.require_steps and int(c.extra.get("steps", 0) or 0) <= 0:
            return st.path, c, "the card records no training steps (an untrained model is never used)"
        failed = self._failed.get((str(st.path), c.sha256))
        if failed:
            return st.path, c, failed
        return st.path, c, ""

    def resolve(self, requested: str = "auto", card: Path | None = None) -> Resolution:
        """Which backend runs for ``requested`` (``auto`` | ``classical`` | ``neural``); reads cards only.

        Raises:
            ValueError: unknown ``requested``.
            LearnedBackendError: ``neural`` requested but no usable checkpoint.
        """
        if requested == CLASSICAL:
            return Resolution(CLASSICAL, f"{self.classical} requested", requested=requested)
        if requested not in ("auto", LEARNED):
            raise ValueError(f"backend must be one of auto, {CLASSICAL}, {LEARNED}; got {requested!r}")
        path, c, problem = self.status(card)
        if problem or c is None:
            if requested == LEARNED:
                raise LearnedBackendError(f"{self.title} is not available: {problem}")
            return Resolution(CLASSICAL, f"{self.classical}: {problem}", c, requested, False, path)
        detail = ""
        if self.describe is not None:
            try:
                detail = self.describe(c)
            except (KeyError, TypeError, ValueError):
                detail = ""
        detail = f" ({detail})" if detail else ""
        v = c.verdict
        if v is None:
            verdict = f"{self.title} was never measured against {self.classical}"
        elif v.better:
            verdict = f"{self.title} measured better than {v.compared_with}{detail}"
        else:
            verdict = f"{self.title} did not measure better than {v.compared_with}{detail}"
        if requested == LEARNED:
            return Resolution(LEARNED, f"{verdict}; learned engine requested", c, requested, True, path)
        if c.better:
            return Resolution(LEARNED, verdict, c, requested, True, path)
        return Resolution(CLASSICAL, f"{self.classical}: {verdict}", c, requested, True, path)

    # -- expensive: in the worker ----------------------------------------------------------------
    def load(self, resolution: Resolution, device: str | None = None) -> Any:
        """The model for a learned ``resolution``, on ``device`` (default :func:`select_device`).

        Hash-verified, built with ``strict=True``, cached by ``(card path, sha256, device)``.

        Raises:
            LearnedBackendError: the checkpoint cannot be loaded (corrupt, replaced, refused);
                the failure is remembered so later ``auto`` resolutions fall back with it.
        """
        if resolution.path is None or resolution.card is None:
            raise LearnedBackendError(f"{self.title} is not available: {resolution.reason}")
        target = "cpu" if self.cpu_only else str(select_device(device).device)
        key = (str(resolution.path), resolution.card.sha256, target)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            from engine.weights.store import load_checkpoint

            try:
                if self._loader is not None:
                    model = self._loader(resolution.path, target)
                else:
                    model, _card = load_checkpoint(resolution.path, device=target, verify_hash=True)
            except Exception as exc:  # any failure to build or load is the checkpoint's: fall back / one line
                reason = f"checkpoint unusable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                self._failed[(str(resolution.path), resolution.card.sha256)] = reason
                raise LearnedBackendError(f"{self.title} cannot be loaded: {reason}") from None
            self._loaded.clear()
            self._loaded[key] = model
            return model

    def load_or_fallback(self, resolution: Resolution, device: str | None = None) -> tuple[Any, Resolution]:
        """``(model or None, resolution that really runs)``: on ``auto`` a load failure falls back to
        classical with the reason; an explicit learned request raises it.

        Raises:
            LearnedBackendError: ``neural`` was requested and the checkpoint cannot be loaded.
        """
        if not resolution.learned:
            return None, resolution
        try:
            return self.load(resolution, device), resolution
        except LearnedBackendError as exc:
            if resolution.requested == LEARNED:
                raise
            return None, Resolution(CLASSICAL, f"{self.classical}: {exc}", resolution.card,
                                    resolution.requested, False, resolution.path)

    def forget(self) -> None:
        """Drop cached models and remembered failures (after a checkpoint was added or replaced)."""
        with self._lock:
            self._loaded.clear()
            self._failed.clear()


def forget_learned() -> None:
    """Forget every learned backend's cached models and failures (the Model manager calls this
    after an import, so a new checkpoint is seen without restarting)."""
    for backend in list(_BACKENDS):
        backend.forget()
    for hook in list(_FORGET_HOOKS):
        hook()


_FORGET_HOOKS: list[Callable[[], None]] = []


def on_forget(hook: Callable[[], None]) -> Callable[[], None]:
    """Register a cache-clearing ``hook`` that :func:`forget_learned` also calls; returns it."""
    _FORGET_HOOKS.append(hook)
    return hook


def classical_resolution(reason: str = "classical engine (no learned engine for this task)") -> Resolution:
    """The resolution of an editor that has only a classical engine."""
    return Resolution(CLASSICAL, reason, requested=CLASSICAL)


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


class Editor(ABC, Generic[P]):
    """Base of the studio editors (SAM-predictor shape).

    ``set_image`` does the expensive analysis once; ``edit`` is cheap and repeatable;
    ``edit_stream`` yields low-resolution previews first, then the full-resolution result.

    Args:
        backend: ``"classical"``, ``"neural"`` or ``"auto"`` (learned when its checkpoint is
            present and loadable, else classical).
    """

    backends: tuple[str, ...] = ("classical",)
    learned: LearnedBackend | None = None
    """The studio's learned engine (``None``: classical only); see :attr:`resolution`."""
    preview_sides: tuple[int, ...] = (384,)
    """Long sides of the previews :meth:`edit_stream` yields before the full result."""

    def __init__(self, backend: str = "auto") -> None:
        if backend not in ("auto",) + self.backends:
            raise ValueError(f"backend must be one of {('auto',) + self.backends}, got {backend!r}")
        self.requested_backend = backend
        self._image: np.ndarray | None = None
        self._previews: dict[int, tuple[np.ndarray, float]] = {}

    # -- image ----------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray) -> None:
        """Analyse ``image`` (``uint8`` RGB ``[H, W, 3]``; grey is expanded) for later edits.

        When the analysis fails (e.g. :class:`~engine.errors.NoFaceError`) the editor holds no image,
        so a later ``edit`` says "call set_image() first" instead of editing a half-analysed image.
        """
        self._image = validate_rgb(image)
        self._previews = {}
        try:
            self._prepare(self._image)
        except BaseException:
            self._image = None
            raise

    def _prepare(self, image: np.ndarray) -> None:
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
    def resolution(self) -> Resolution:
        """Which backend runs and why, from the cards only (cheap; safe on the GUI thread).

        Raises:
            LearnedBackendError: the learned engine was requested explicitly and is unavailable.
        """
        if self.learned is None:
            return classical_resolution()
        return self.learned.resolve(self.requested_backend)

    @property
    def backend(self) -> str:
        """The backend that actually runs (``auto`` resolved)."""
        if self.learned is None:
            return "classical" if self.requested_backend == "auto" else self.requested_backend
        return self.resolution.backend

    @abstractmethod
    def _run(self, image: np.ndarray, params: P, scale: float, cancel: CancelToken | None) -> EditResult:
        """Apply ``params`` to ``image`` (which is the source shrunk by ``scale``)."""

    def edit(self, params: P, cancel: CancelToken | None = None) -> EditResult:
        """Full-resolution edit of the current image."""
        return self._timed(self.image, params, 1.0, cancel)

    def edit_stream(self, params: P, cancel: CancelToken | None = None,
                    preview_sides: Sequence[int] | None = None) -> Iterator[EditResult]:
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

    def _timed(self, image: np.ndarray, params: P, scale: float, cancel: CancelToken | None) -> EditResult:
        t0 = time.perf_counter()
        res = self._run(image, params, scale, cancel)
        if "backend" not in res.info:  # (setdefault would resolve the cards on every edit)
            res.info["backend"] = self.backend
        res.info.setdefault("device", CLASSICAL_DEVICE)
        res.info["scale"] = scale
        res.info["elapsed_ms"] = (time.perf_counter() - t0) * 1000.0
        return res
