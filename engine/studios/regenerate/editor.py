"""The Regenerate studio's editor: analyse a face once, regenerate it for each edited label map.

:class:`RegenerateEditor` follows the studio editor contract (:class:`~engine.studios.base.Editor`):
``set_image`` parses the face (or takes a given label map), ``edit`` renders an edited map with the
classical engine (:mod:`engine.studios.regenerate.classical`) or the learned generator
(:mod:`engine.studios.regenerate.learned`). Constructing an editor and asking for its
:attr:`~engine.studios.base.Editor.resolution` read cards only; the generator is loaded on the
first learned edit (in the worker), on :func:`engine.device.select_device`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.cancel import CancelToken
from engine.device import CLASSICAL_DEVICE, module_device_name
from engine.errors import EditorStateError, NoFaceError
from engine.imageio import validate_rgb
from engine.studios.base import Editor, EditResult, LearnedBackend
from engine.studios.regenerate.classical import regenerate, resize_labels
from engine.studios.regenerate.edits import check_labels
from engine.studios.regenerate.learned import BACKEND, regenerate_learned
from engine.studios.regenerate.params import RegenerateParams


class RegenerateEditor(Editor[RegenerateParams]):
    """Regenerate a face from an edited semantic label map.

    Args:
        backend: ``"classical"``, ``"neural"`` (the trained learned generator; a one-line
            :class:`~engine.errors.LearnedBackendError` at edit time when none is usable) or
            ``"auto"`` (the learned one only when its card says it measured better than classical,
            and falling back to classical with the reason when its checkpoint cannot be loaded).
        analyzer: a :class:`~engine.faces.FaceAnalyzer` to share; one is created on first use.

    Example:
        >>> from skimage import data                                           # doctest: +SKIP
        >>> ed = RegenerateEditor(); ed.set_image(data.astronaut())            # doctest: +SKIP
        >>> m = ed.source_labels.copy(); m[m == 4] = 1                         # doctest: +SKIP
        >>> ed.edit(RegenerateParams(m)).info["regions"]                       # doctest: +SKIP
        {'skin': 'continued from source'}
    """

    backends = ("classical", "neural")
    learned: LearnedBackend = BACKEND

    def __init__(self, backend: str = "auto", analyzer: Any = None) -> None:
        super().__init__(backend)
        self.analyzer = analyzer
        self.analysis: Any = None
        self._labels: np.ndarray | None = None
        self._given: np.ndarray | None = None
        self._small_labels: dict[tuple[int, int], np.ndarray] = {}
        self.reference: np.ndarray | None = None
        self.reference_labels: np.ndarray | None = None
        self.progress: Callable[[float], None] | None = None
        """Told the share (0–1) of each classical render done (previews and the full render each
        count from 0 to 1); set it in the thread that edits, None = not reported."""

    def _get_analyzer(self) -> Any:
        if self.analyzer is None:
            from engine.faces import FaceAnalyzer

            self.analyzer = FaceAnalyzer()
        return self.analyzer

    def set_image(self, image: np.ndarray, labels: np.ndarray | None = None) -> None:
        """Analyse ``image`` (faces + parsing), or take its label map as given.

        Args:
            image: ``uint8`` RGB ``[H, W, 3]``.
            labels: optional official-order parsing of ``image`` (skips face analysis).

        Raises:
            NoFaceError: no face found (the editor then holds no image).
        """
        self._given = None if labels is None else check_labels(labels, "source labels")
        if self._given is not None and self._given.shape != np.asarray(image).shape[:2]:
            raise ValueError("source labels must match the image size")
        super().set_image(image)

    def _prepare(self, image: np.ndarray) -> None:
        self._small_labels = {}
        if self._given is not None:
            self._labels, self.analysis = self._given, None
            return
        self.analysis = self._get_analyzer().analyze(image)
        if not self.analysis.faces:
            raise NoFaceError("no face found")
        self._labels = self.analysis.parsing

    @property
    def source_labels(self) -> np.ndarray:
        """Official-order parsing of the current image (the painter's starting mask)."""
        if self._labels is None:
            raise EditorStateError("RegenerateEditor: call set_image() first")
        return self._labels

    def set_reference(self, image: np.ndarray | None, labels: np.ndarray | None = None) -> None:
        """Set (or clear with ``None``) the style reference face; it is parsed unless ``labels`` is given.

        Raises:
            NoFaceError: the reference has no face (the previous reference is kept).
        """
        if image is None:
            self.reference = self.reference_labels = None
            return
        rgb = validate_rgb(image, "reference")
        if labels is None:
            res = self._get_analyzer().analyze(rgb)
            if not res.faces:
                raise NoFaceError("no face found in the reference")
            labels = res.parsing
        lab = check_labels(labels, "reference labels")
        if lab.shape != rgb.shape[:2]:
            raise ValueError("reference labels must match the reference image")
        self.reference, self.reference_labels = rgb, lab

    def _run(self, image: np.ndarray, params: RegenerateParams, scale: float,
             cancel: CancelToken | None) -> EditResult:
        p = params.validate()
        hw = image.shape[:2]
        mh, mw = p.mask.shape
        if abs(mh / mw - hw[0] / hw[1]) > 0.02:
            raise ValueError(f"edited mask {mw}x{mh} does not have the image's aspect ({hw[1]}x{hw[0]})")
        if hw not in self._small_labels:
            self._small_labels = {hw: resize_labels(self.source_labels, hw)}
        model, ran = self.learned.load_or_fallback(self.resolution)  # loads on the first learned edit
        edited = resize_labels(check_labels(p.mask), hw)
        painted = None if p.painted is None else resize_labels(np.asarray(p.painted, np.uint8), hw).astype(bool)
        if model is not None:
            faces = getattr(self.analysis, "faces", None)
            kp = None if not faces else faces[0].keypoints * scale
            result, masks, info = regenerate_learned(
                model, image, self._small_labels[hw], edited, keypoints=kp, reference=self.reference,
                reference_labels=self.reference_labels, reference_regions=p.reference_regions, blend=p.blend,
                painted=painted)
            device = module_device_name(model)
        else:
            result, masks, info = regenerate(
                image, self._small_labels[hw], edited,
                reference=self.reference, reference_labels=self.reference_labels,
                reference_regions=p.reference_regions, blend=p.blend, feather=p.feather * scale, painted=painted,
                cancel=cancel, progress=self.progress)
            device = CLASSICAL_DEVICE
        info.update(backend=ran.backend, note=ran.reason, device=device, reference=self.reference is not None)
        return EditResult(result, masks, info)
