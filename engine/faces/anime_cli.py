"""``masquerade analyze IMAGE --out DIR --anime``: anime faces and their parts to files.

Called by :mod:`engine.faces.cli` when ``--anime`` is given. Writes ``DIR/anime.json``
(``{"image", "size", "faces": [{"box", "score", "parts", "keypoints", "found"}]}``, pixels of the
input, see :class:`engine.faces.anime.AnimeFaceParts`) and ``DIR/anime_parts.png`` (the input with
the face and part boxes drawn: green face, blue parts found in the pixels, red parts at their prior
position). No face → nothing is written (:mod:`engine.faces.cli` then exits with code 3 and
``no face found in IMAGE`` on stderr).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from engine.faces.anime import AnimeFaceParts
from engine.faces.anime import analyze_anime as _analyze
from engine.imageio import atomic_write_files, encode_for_path


def draw_anime_parts(image: np.ndarray, faces: list[AnimeFaceParts]) -> np.ndarray:
    """The picture with face boxes (green) and part boxes (blue found / red prior) drawn.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        faces: result of :func:`engine.faces.anime.analyze_anime`.

    Returns:
        ``uint8`` RGB copy of ``image`` with the boxes.
    """
    out = np.ascontiguousarray(image.copy())
    t = max(1, round(max(image.shape[:2]) / 400))
    for f in faces:
        cv2.rectangle(out, tuple(int(v) for v in f.box[:2]), tuple(int(v) for v in f.box[2:]), (40, 200, 60), t)
        for name, b in f.parts.items():
            col = (40, 90, 255) if f.found.get(name) else (230, 40, 40)
            cv2.rectangle(out, tuple(int(v) for v in b[:2]), tuple(int(v) for v in b[2:]), col, t)
    return out


def analyze_anime(image: np.ndarray, name: str, out: Path) -> int:
    """Analyse anime faces of ``image`` and write ``anime.json`` + ``anime_parts.png`` into ``out``.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        name: the input's name for the JSON.
        out: output folder (created when a face is found).

    Returns:
        The number of faces found; 0: nothing was written.
    """
    faces = _analyze(image)
    if not faces:
        return 0
    doc = {"image": str(name), "size": [int(image.shape[1]), int(image.shape[0])],
           "detector": "lbpcascade_animeface", "faces": [f.to_json() for f in faces]}
    Path(out).mkdir(parents=True, exist_ok=True)
    parts = Path(out) / "anime_parts.png"
    atomic_write_files({Path(out) / "anime.json": json.dumps(doc, indent=1).encode(),
                        parts: encode_for_path(parts, draw_anime_parts(image, faces))})
    print(f"{len(faces)} anime face(s) → {out}")
    return len(faces)
