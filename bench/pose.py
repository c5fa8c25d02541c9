"""``python -m bench.pose [--build] [--out FILE]``: head pose against each face's own 3-D mesh.

MediaPipe's face mesh gives every point a depth; the anatomical frame of that 3-D mesh
(:func:`engine.faces.pose.head_frame`) is the reference pose of the face. The product only keeps the
2-D points, so :func:`engine.faces.pose.head_pose` estimates the pose from them and the head model;
this bench reports its error against the 3-D reference on the development faces, beside the
baseline the records used before (a generic six-point head fitted with a perspective
``cv2.solvePnP`` to nose tip, chin, outer eye corners and mouth corners), plus two checks that need
no reference: turning the picture in its plane must change roll by the same angle and nothing else,
and mirroring it must negate yaw and roll.

``--build`` first rebuilds ``resources/face_pose_model.json`` from two public-domain portraits
(skimage's astronaut, matplotlib's Grace Hopper) and their mirror images.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.faces.pose import (
    POSE_MODEL_FILE,
    build_head_model,
    head_frame,
    head_pose,
    load_head_model,
    rotation_angles,
    save_head_model,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ANGLES = ("yaw", "pitch", "roll")

SIX_POINTS: tuple[int, ...] = (1, 152, 33, 263, 61, 291)
SIX_MODEL = np.array([[0.0, 0.0, 0.0], [0.0, 330.0, 65.0], [-225.0, -170.0, 135.0], [225.0, -170.0, 135.0],
                      [-150.0, 150.0, 125.0], [150.0, 150.0, 125.0]])
"""The baseline: the classic six-point head and the mesh points it was fitted to."""


class Mesher:
    """MediaPipe's face mesh with depth (x, y in pixels; depth on x's scale)."""

    def __init__(self) -> None:
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                                     max_num_faces=1)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        h, w = rgb.shape[:2]
        res = self._mesh.process(np.ascontiguousarray(rgb))
        if not res.multi_face_landmarks:
            return None
        return np.array([(p.x * w, p.y * h, p.z * w) for p in res.multi_face_landmarks[0].landmark])


def public_portraits() -> dict[str, np.ndarray]:
    """The two public-domain portraits the head model is built from."""
    import matplotlib
    from PIL import Image
    from skimage import data

    with Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg") as im:
        hopper = np.array(im.convert("RGB"))
    return {"astronaut": data.astronaut(), "grace_hopper": hopper}


def dev_faces() -> Iterator[tuple[str, np.ndarray]]:
    """Development portraits (aligned CelebA-HQ, MT, Xiqu non-makeup, parsing pairs) when present."""
    from engine.imageio import load_image

    for pattern in ("faces/photos/*.jpg", "faces/parsing/*.jpg", "makeup/mt/*/*.jpg", "opera/xiqu/non-makeup/*.jpg"):
        for p in sorted(SHARED.glob(pattern)):
            yield p.name, load_image(p)


def six_point_pose(landmarks: np.ndarray, width: int, height: int) -> dict[str, float]:
    """The baseline: perspective solvePnP of :data:`SIX_MODEL` (focal length = the longer side)."""
    img = np.ascontiguousarray(landmarks[list(SIX_POINTS), :2], np.float64)
    f = float(max(width, height))
    camera = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float64)
    tz = f / max(np.ptp(img[:, 0]) / np.ptp(SIX_MODEL[:, 0]), 1e-6)
    t0 = np.array([(img[0, 0] - width / 2) * tz / f, (img[0, 1] - height / 2) * tz / f, tz])
    _, rvec, _ = cv2.solvePnP(SIX_MODEL, img, camera, None, np.zeros(3), t0, useExtrinsicGuess=True,
                              flags=cv2.SOLVEPNP_ITERATIVE)
    return rotation_angles(cv2.Rodrigues(rvec)[0])


def _errors(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {a: round(statistics.fmean(abs(r[key][a] - r["mesh3d"][a]) for r in rows), 2) for a in ANGLES}


def _turned(rgb: np.ndarray, degrees: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def run(build: bool = False) -> dict[str, Any]:
    """Measure (and with ``build`` first rebuild the shipped model); returns the JSON document."""
    mesher = Mesher()
    portraits = public_portraits()
    doc: dict[str, Any] = {"model": str(POSE_MODEL_FILE.name)}
    if build:
        meshes = [m for m in (mesher(rgb) for rgb in portraits.values()) if m is not None]
        save_head_model(build_head_model(meshes), POSE_MODEL_FILE)
        load_head_model.cache_clear()
        doc["built_from"] = list(portraits)
    rows: list[dict[str, Any]] = []
    for name, rgb in dev_faces():
        mesh = mesher(rgb)
        if mesh is None:
            continue
        rows.append({"face": name, "mesh3d": rotation_angles(head_frame(mesh[:468])),
                     "head_pose": head_pose(mesh[:, :2]),
                     "six_point": six_point_pose(mesh, rgb.shape[1], rgb.shape[0])})
    if rows:
        doc["dev_faces"] = {
            "n": len(rows),
            "mean_abs_error_deg": {"head_pose": _errors(rows, "head_pose"), "six_point": _errors(rows, "six_point")},
            "pitch_mean_std": {k: [round(statistics.fmean(r[k]["pitch"] for r in rows), 2),
                                   round(statistics.pstdev(r[k]["pitch"] for r in rows), 2)]
                               for k in ("mesh3d", "head_pose", "six_point")},
        }
    checks: dict[str, Any] = {}
    for name, rgb in portraits.items():
        mesh = mesher(rgb)
        if mesh is None:
            continue
        h, w = rgb.shape[:2]
        one: dict[str, Any] = {"mesh3d": rotation_angles(head_frame(mesh[:468])), "head_pose": head_pose(mesh[:, :2]),
                               "six_point": six_point_pose(mesh, w, h)}
        turns = {}
        for deg in (-30, -15, 15, 30):
            turned = mesher(_turned(rgb, deg))
            if turned is not None:
                p = head_pose(turned[:, :2])
                # cv2 turns the picture counter-clockwise for positive angles: roll falls by deg
                turns[str(deg)] = {a: round(p[a] - one["head_pose"][a] + (deg if a == "roll" else 0), 2) for a in ANGLES}
        one["turned_in_plane_error"] = turns
        flipped = mesher(np.ascontiguousarray(rgb[:, ::-1]))
        if flipped is not None:
            p = head_pose(flipped[:, :2])
            one["mirrored_error"] = {"yaw": round(p["yaw"] + one["head_pose"]["yaw"], 2),
                                     "pitch": round(p["pitch"] - one["head_pose"]["pitch"], 2),
                                     "roll": round(p["roll"] + one["head_pose"]["roll"], 2)}
        checks[name] = one
    doc["portraits"] = checks
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    """Human-readable lines for the summary table."""
    rows = ["head pose (2-D mesh vs its own 3-D frame)   yaw    pitch   roll  (mean abs °)"]
    dev = doc.get("dev_faces")
    if dev:
        for k, e in dev["mean_abs_error_deg"].items():
            rows.append(f"  {k:<10} on {dev['n']} dev faces {e['yaw']:>14.2f} {e['pitch']:>7.2f} {e['roll']:>6.2f}")
    for name, one in doc.get("portraits", {}).items():
        p, b = one["head_pose"], one["six_point"]
        rows.append(f"  {name}: pitch {p['pitch']:.1f}° (3-D mesh {one['mesh3d']['pitch']:.1f}°, six-point {b['pitch']:.1f}°)")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pose", description=__doc__.splitlines()[0])
    ap.add_argument("--build", action="store_true", help="rebuild resources/face_pose_model.json first")
    ap.add_argument("--out", type=Path, help="write the JSON here too")
    args = ap.parse_args(argv)
    doc = run(build=args.build)
    text = json.dumps(doc, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
