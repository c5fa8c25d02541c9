"""Optional facexlib backends, used only when their weight files are present locally.

Nothing is downloaded. Where the files are looked for and under which names is
:mod:`engine.weights.known_files` (``MASQUERADE_FACEXLIB_DIR``, then ``checkpoints/third_party/``).
They are read with ``torch.load(weights_only=True)`` (never unpickling code) and loaded with
``strict=True``.

* **RetinaFace mobilenet0.25** — face boxes + 5 points. The Face-Detector-1MB weights
  (sha256 ``ed6fa7d4…``) were trained with anchor sizes ``[[10, 20], [32, 64], [128, 256]]`` at
  about 320 px, not facexlib's defaults; known files get their own anchors and input size.
* **ParseNet** (official CelebAMask-HQ order) / **BiSeNet** (face-parsing.PyTorch order, converted
  with :func:`engine.labels.bisenet_to_official`) — 19-class parsing of a 512² aligned face crop,
  pasted back into the image.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine.errors import CheckpointError
from engine.faces.align import align_face
from engine.faces.types import Face
from engine.labels import bisenet_to_official
from engine.weights.known_files import (
    BISENET_FILES,
    ENV_VAR,
    KNOWN_RETINAFACE,
    PARSENET_FILES,
    RETINAFACE_FILES,
    THIRD_PARTY_DIR,
    find_weights,
    import_facexlib,
    search_dirs,
)

if TYPE_CHECKING:  # torch is imported only when a facexlib model is really built
    import torch

__all__ = [
    # the backends
    "FacexlibParser", "RetinaFaceBoxDetector",
    # where their files are found (defined in engine.weights.known_files, named here for the face code)
    "BISENET_FILES", "ENV_VAR", "KNOWN_RETINAFACE", "PARSENET_FILES", "RETINAFACE_FILES", "THIRD_PARTY_DIR",
    "find_weights", "search_dirs",
]

_facexlib = import_facexlib
"""facexlib, imported on first use (:func:`engine.weights.known_files.import_facexlib`)."""


def _load_strict(model: torch.nn.Module, path: Path) -> None:
    from engine.weights.thirdparty import load_state_dict_file

    sd = load_state_dict_file(path)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{path}: weights do not match {type(model).__name__} ({first[1].strip() if len(first) > 1 else first[0]})") from None


class RetinaFaceBoxDetector:
    """facexlib RetinaFace (mobilenet0.25) as a :class:`~engine.faces.detect.BoxDetector`.

    Args:
        path: weight file (state dict with facexlib's key names).
        device: torch device (CPU by default).
        min_score: confidence threshold.
    """

    name = "retinaface"

    def __init__(self, path: Path, device: torch.device | None = None, min_score: float = 0.7) -> None:

        from engine.device import CPU
        from engine.weights.store import sha256_file

        _facexlib()
        from facexlib.detection.retinaface import RetinaFace

        self.device = device or CPU
        self.min_score = min_score
        self.model = RetinaFace(network_name="mobile0.25", half=False, device=self.device)
        _load_strict(self.model, path)
        known = KNOWN_RETINAFACE.get(sha256_file(path), {})
        if "min_sizes" in known:
            self.model.cfg = dict(self.model.cfg, min_sizes=known["min_sizes"])
        self.input_side: int | None = known.get("input_side")
        self.model.to(self.device).eval()
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray | None]]:
        """Face boxes of one image.

        Args:
            rgb: ``uint8`` RGB ``[H, W, 3]``.

        Returns:
            ``(box [x0, y0, x1, y1], score, key points [3, 2]: eyes and mouth centre)`` per face,
            in input pixels.
        """
        h, w = rgb.shape[:2]
        s = 1.0
        img = rgb
        if self.input_side is not None and max(h, w) != self.input_side:
            s = self.input_side / max(h, w)
            img = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(img[:, :, ::-1])
        import torch

        with self._lock, torch.no_grad():
            dets = self.model.detect_faces(bgr, conf_threshold=self.min_score, nms_threshold=0.4)
        out: list[tuple[np.ndarray, float, np.ndarray | None]] = []
        for d in np.asarray(dets):
            box = (d[:4] / s).astype(np.float32)
            p = (d[5:15].reshape(5, 2) / s).astype(np.float32)  # eyes (image left, right), nose, mouth corners
            keys = np.stack([p[0], p[1], (p[3] + p[4]) / 2]).astype(np.float32)
            out.append((box, float(d[4]), keys))
        return out


class FacexlibParser:
    """19-class parsing with facexlib ParseNet or BiSeNet on an aligned 512² crop per face.

    Args:
        kind: ``"parsenet"`` (official order) or ``"bisenet"`` (converted to the official order).
        path: weight file.
        device: torch device.
    """

    SIZE = 512

    def __init__(self, kind: str, path: Path, device: torch.device | None = None) -> None:
        from engine.device import CPU

        _facexlib()
        if kind == "parsenet":
            from facexlib.parsing.parsenet import ParseNet

            self.model = ParseNet(in_size=self.SIZE, out_size=self.SIZE, parsing_ch=19)
            self.mean, self.std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
        elif kind == "bisenet":
            from facexlib.parsing.bisenet import BiSeNet

            self.model = BiSeNet(num_class=19)
            self.mean, self.std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        else:
            raise ValueError(f"kind must be 'parsenet' or 'bisenet', got {kind!r}")
        self.kind = kind
        self.device = device or CPU
        _load_strict(self.model, path)
        self.model.to(self.device).eval()
        self._lock = threading.Lock()

    def parse_crop(self, crop: np.ndarray) -> np.ndarray:
        """Labels of an aligned face crop.

        Args:
            crop: ``uint8`` RGB ``[512, 512, 3]`` (:func:`engine.faces.align.align_face`).

        Returns:
            ``uint8`` ``[512, 512]`` labels, official CelebAMask-HQ order.
        """
        import torch

        x = torch.from_numpy(crop.astype(np.float32) / 255.0).permute(2, 0, 1)  # [CHW]
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        x = ((x - mean) / std).unsqueeze(0).to(self.device)  # [NCHW]
        with self._lock, torch.no_grad():
            out = self.model(x)[0]
        lab = out.argmax(1)[0].cpu().numpy().astype(np.uint8)
        return bisenet_to_official(lab) if self.kind == "bisenet" else lab

    def parse(self, rgb: np.ndarray, faces: list[Face], base: np.ndarray | None = None) -> np.ndarray:
        """Label map of the whole image: each face's crop labels pasted back (nearest).

        Args:
            rgb: ``uint8`` RGB ``[H, W, 3]``.
            faces: the faces to parse (smaller ones are pasted first, larger ones win).
            base: labels to paste onto (copied), else background.

        Returns:
            ``uint8`` ``[H, W]`` labels, official order.
        """
        h, w = rgb.shape[:2]
        labels = np.zeros((h, w), np.uint8) if base is None else base.copy()
        for face in sorted(faces, key=lambda f: f.area):
            crop = align_face(rgb, face.keypoints, self.SIZE, scale=1.0)
            lab = self.parse_crop(crop.image)
            back = cv2.warpAffine(lab, crop.inverse, (w, h), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=255)
            inside = cv2.warpAffine(np.ones_like(lab), crop.inverse, (w, h), flags=cv2.INTER_NEAREST,
                                    borderValue=0).astype(bool)
            labels[inside & (back != 255)] = back[inside & (back != 255)]
        return labels
