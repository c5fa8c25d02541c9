"""The Makeup studio's editor: analyse a photo's faces once, paint makeup on them for each parameter set.

:class:`MakeupEditor` follows the studio editor contract (:class:`~engine.studios.base.Editor`):
``set_image`` finds the faces, their landmarks and parsing; ``edit`` paints with the classical
renderer (:mod:`engine.studios.makeup.classical`) or the makeup GAN
(:mod:`engine.studios.makeup.learned`). Constructing an editor and asking for its
:attr:`resolution` read cards only; the GAN is loaded on the first learned edit (in the worker), on
:func:`engine.device.select_device`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.cancel import CancelToken
from engine.device import CLASSICAL_DEVICE
from engine.errors import NoFaceError
from engine.studios.base import LEARNED, Editor, EditResult, LearnedBackend, Resolution
from engine.studios.makeup.classical import FaceGeometry, face_geometry, render_face
from engine.studios.makeup.learned import BACKEND, MakeupGAN
from engine.studios.makeup.params import REMOVAL_STYLE, MakeupParams, MakeupStyle, load_styles
from engine.studios.makeup.reference import MEASURED_REGIONS, measure_style, style_from_photo
from engine.studios.makeup.removal import removal_style


class MakeupEditor(Editor[MakeupParams]):
    """Makeup on every face of a photo: the classical renderer or the makeup GAN.

    Args:
        backend: ``"classical"``, ``"neural"`` (the makeup GAN; a one-line
            :class:`~engine.errors.LearnedBackendError` when there is no usable checkpoint) or
            ``"auto"`` (the GAN only when its card marks it measured better than the classical
            renderer and the edit is within what it knows, else classical, with the reason).
        analyzer: a :class:`~engine.faces.FaceAnalyzer` to share; one is created on first use.
        styles: style table; default :func:`~engine.studios.makeup.params.load_styles` (built-in +
            user folder). The removal style (:data:`~engine.studios.makeup.params.REMOVAL_STYLE`)
            is added when the table lacks it; :meth:`add_reference` adds styles measured on photos.
        checkpoint: a specific makeup GAN card (default: found on the checkpoint search path).

    Raises:
        LearnedBackendError: ``"neural"`` requested without a usable checkpoint (read from the
            cards only; nothing is loaded here).

    Example:
        >>> from skimage import data                                          # doctest: +SKIP
        >>> ed = MakeupEditor(); ed.set_image(data.astronaut())               # doctest: +SKIP
        >>> res = ed.edit(MakeupParams({"lips": "retro"}, intensity=0.8))    # doctest: +SKIP
        >>> res.image.shape, sorted(res.masks)                               # doctest: +SKIP
        ((512, 512, 3), ['changed', 'lips'])
    """

    backends = ("classical", "neural")
    learned: LearnedBackend = BACKEND
    preview_sides = (384,)

    def __init__(self, backend: str = "auto", analyzer: Any = None,
                 styles: Mapping[str, MakeupStyle] | None = None,
                 checkpoint: str | Path | None = None) -> None:
        super().__init__(backend)
        self.analyzer = analyzer
        self.styles: dict[str, MakeupStyle] = dict(styles) if styles is not None else load_styles()
        self.styles.setdefault(REMOVAL_STYLE, removal_style())
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.analysis: Any = None
        self._geometry: dict[float, list[FaceGeometry]] = {}
        self._given: tuple[MakeupGAN, str] | None = None
        if backend == LEARNED:
            _ = self.resolution  # an explicit learned request without a checkpoint fails here, in one line

    @property
    def resolution(self) -> Resolution:
        """Which backend runs and why, from the cards only (or the model given to :meth:`use_model`).

        Raises:
            LearnedBackendError: ``"neural"`` requested and no usable checkpoint.
        """
        if self._given is not None:
            return Resolution(LEARNED, self._given[1], requested=self.requested_backend, available=True)
        return self.learned.resolve(self.requested_backend, self.checkpoint)

    @property
    def backend_reason(self) -> str:
        """Why :attr:`backend` runs, in one sentence for people (never parsed)."""
        return self.resolution.reason

    def use_model(self, model: Any, styles: Sequence[str], size: int, reason: str = "model given directly") -> None:
        """Run the neural backend with ``model`` (a :class:`~engine.models.makeup_gan.MakeupGenerator`)
        instead of a checkpoint (training's evaluation does this).

        Args:
            model: the generator (put in eval mode; it stays on its device).
            styles: style names in the order of its style one-hot.
            size: aligned crop side it works at (a multiple of ``2 ** model.n_down``).
            reason: why it runs (reported in ``info["note"]``).

        Raises:
            ValueError: the style list does not match the model, or a bad size.
        """
        self._given = (MakeupGAN.wrap(model, styles, size), reason)
        if self.requested_backend == "classical":
            self.requested_backend = LEARNED

    def _analyzer(self) -> Any:
        if self.analyzer is None:
            from engine.faces import FaceAnalyzer

            self.analyzer = FaceAnalyzer()
        return self.analyzer

    def add_reference(self, image: np.ndarray, name: str,
                      regions: Sequence[str] = MEASURED_REGIONS) -> MakeupStyle:
        """Measure the makeup of a reference photo's largest face and add it to :attr:`styles`.

        The reference is analysed by this editor's analyzer (the same detector and parser as the
        image); the style's colours are relative to the reference's skin
        (:mod:`engine.studios.makeup.reference`). Use ``name`` in :class:`MakeupParams` afterwards.

        Args:
            image: ``uint8`` RGB reference photo.
            name: its name in :attr:`styles` (replaces a style of that name).
            regions: regions to measure.

        Returns:
            The measured style.

        Raises:
            NoFaceError: no usable face in the reference.
        """
        if self.has_image and image.shape == self.image.shape and np.array_equal(image, self.image):
            geos = self._faces(1.0, self.image)  # the photo being edited: its analysis is at hand
            style = measure_style(max(geos, key=lambda g: g.width), name, regions)
        else:
            style = style_from_photo(image, self._analyzer(), name, regions)
        self.styles[name] = style
        return style

    def _prepare(self, image: np.ndarray) -> None:
        self.analysis = self._analyzer().analyze(image)
        self._geometry = {}
        if not any(f.landmarks is not None for f in self.analysis.faces):
            raise NoFaceError("no face found" if not self.analysis.faces else
                              "no face found (a face was detected but its landmarks could not be fitted)")

    @property
    def faces(self) -> int:
        """Faces that get makeup (those with landmarks)."""
        return len(self._faces(1.0, self.image))

    def _faces(self, scale: float, image: np.ndarray) -> list[FaceGeometry]:
        if scale not in self._geometry:
            labels = self.analysis.parsing
            if labels.shape[:2] != image.shape[:2]:
                labels = cv2.resize(labels, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
            self._geometry[scale] = [face_geometry(image, labels, f.landmarks * np.float32(scale))
                                     for f in self.analysis.faces if f.landmarks is not None]
        return self._geometry[scale]

    def _gan(self, params: MakeupParams) -> tuple[MakeupGAN | None, str, str]:
        """``(GAN or None, backend, reason)`` for this edit: loads the checkpoint on the first learned
        edit; ``auto`` falls back to classical when it cannot be loaded or the edit is beyond it.

        Raises:
            LearnedBackendError: ``"neural"`` requested and the checkpoint cannot be loaded.
            ValueError: ``"neural"`` requested and the GAN cannot render ``params``.
        """
        if self._given is not None:
            gan: MakeupGAN | None = self._given[0]
            ran = self.resolution
        else:
            gan, ran = self.learned.load_or_fallback(self.resolution)
        if gan is None:
            return None, ran.backend, ran.reason
        why_not = gan.support(params)
        if why_not is None:
            return gan, ran.backend, ran.reason
        if self.requested_backend == LEARNED:
            raise ValueError(f"neural makeup backend: {why_not}; use the classical backend")
        return None, "classical", f"{why_not}, so the classical renderer runs"

    def _run(self, image: np.ndarray, params: MakeupParams, scale: float,
             cancel: CancelToken | None) -> EditResult:
        params.validate(self.styles)
        gan, backend, reason = self._gan(params)
        out = image.copy()
        h, w = image.shape[:2]
        masks = {r: np.zeros((h, w), np.uint8) for r in params.enabled()}
        changed = np.zeros((h, w), bool)
        geos = self._faces(scale, image)
        faces = [f for f in self.analysis.faces if f.landmarks is not None]
        for face, geo in zip(faces, geos, strict=True):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if gan is not None:
                gan.paint_face(face.keypoints * np.float32(scale), geo, params, self.styles, out, masks, changed)
            else:
                render_face(image, geo, params, self.styles, out, masks, changed)
        masks["changed"] = changed
        info = {"backend": backend, "method": "makeup-gan" if gan is not None else "cielab-regions",
                "note": reason, "backend_reason": reason,
                "device": gan.device if gan is not None else CLASSICAL_DEVICE, "faces": len(geos),
                "regions": {r: params.regions[r] for r in params.enabled()},
                "analysis": {k: self.analysis.info.get(k) for k in ("detector", "parser")}}
        return EditResult(out, masks, info)
