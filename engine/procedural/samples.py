"""The bundled sample pictures, drawn from code so the project owns them.

``python -m engine.procedural.samples`` regenerates ``resources/samples/``. The opera sample is a
simple symmetric Peking-opera-style face (lianpu): white base, red forehead and cheeks, black eye
patches and brows, bold black contours. The full seeded lianpu generator lives in its own module
(Opera studio issue); this one only has to make a clean, recognisable picture for the first run.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.imageio import save_image
from engine.labels import OPERA_COLOUR_RGB

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "samples"
OPERA_SAMPLE = SAMPLES_DIR / "opera_sample.png"

_BLACK = OPERA_COLOUR_RGB["black"]
_WHITE = OPERA_COLOUR_RGB["white"]
_RED = OPERA_COLOUR_RGB["red"]
_GOLD = OPERA_COLOUR_RGB["yellow"]


def _mirror_poly(pts: np.ndarray, cx: float) -> np.ndarray:
    out = pts.copy()
    out[:, 0] = 2 * cx - out[:, 0]
    return out


def _chaikin(pts: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Closed Chaikin corner cutting: turns a polygon into a smooth curve."""
    for _ in range(iterations):
        nxt = np.roll(pts, -1, axis=0)
        pts = np.stack([0.75 * pts + 0.25 * nxt, 0.25 * pts + 0.75 * nxt], axis=1).reshape(-1, 2)
    return pts


def opera_sample(size: int = 512) -> np.ndarray:
    """A symmetric lianpu-style face, RGB ``uint8`` ``[size, size, 3]`` on a paper background."""
    ss = 4  # draw at 4× and downsample for smooth edges
    n = size * ss
    img = np.full((n, n, 3), (236, 228, 214), np.uint8)
    cx, cy = n / 2, n * 0.52
    u = n / 512.0

    def P(xy: list[tuple[float, float]]) -> np.ndarray:
        """A smooth shape from control points; shapes starting on the axis become one symmetric shape."""
        pts = np.array([(cx + x * u, cy + y * u) for x, y in xy], np.float64)
        if xy[0][0] == 0 and xy[-1][0] == 0:
            pts = np.concatenate([pts, _mirror_poly(pts, cx)[::-1][1:-1]])
            return _chaikin(pts)
        return _chaikin(pts)

    def on_axis(poly: np.ndarray) -> bool:
        return bool(np.isclose(poly[:, 0].min() + poly[:, 0].max(), 2 * cx, atol=2 * u))

    def fill(poly: np.ndarray, colour: tuple[int, int, int], mirror: bool = True) -> None:
        polys = [poly, _mirror_poly(poly, cx)] if mirror and not on_axis(poly) else [poly]
        cv2.fillPoly(img, [np.round(p).astype(np.int32) for p in polys], colour, cv2.LINE_AA)

    def line(poly: np.ndarray, width: float, mirror: bool = True, closed: bool = True) -> None:
        polys = [poly, _mirror_poly(poly, cx)] if mirror and not on_axis(poly) else [poly]
        cv2.polylines(img, [np.round(p).astype(np.int32) for p in polys], closed, _BLACK,
                      max(1, int(width * u)), cv2.LINE_AA)

    face = np.asarray(cv2.ellipse2Poly((int(cx), int(cy)), (int(175 * u), int(225 * u)), 0, 0, 360, 2))
    cv2.fillPoly(img, [face], _WHITE, cv2.LINE_AA)
    forehead = P([(0, -215), (60, -200), (90, -150), (60, -95), (20, -70), (0, -60)])
    fill(forehead, _RED)
    flame = P([(0, -175), (18, -140), (10, -110), (0, -95)])
    fill(flame, _GOLD)
    eye = P([(25, -55), (80, -80), (140, -70), (165, -35), (140, 0), (95, 10), (45, -5)])
    fill(eye, _BLACK)
    white_eye = P([(70, -42), (100, -55), (128, -42), (100, -28)])
    fill(white_eye, _WHITE)
    brow = P([(35, -95), (90, -125), (160, -110), (150, -95), (90, -105), (45, -82)])
    fill(brow, _BLACK)
    cheek = P([(60, 30), (120, 10), (165, 40), (150, 110), (100, 130), (60, 90)])
    fill(cheek, _RED)
    nose = P([(0, -30), (18, 20), (30, 55), (12, 62), (0, 58)])
    fill(nose, _BLACK)
    mouth = P([(0, 95), (45, 100), (75, 120), (40, 140), (0, 138)])
    fill(mouth, _RED)
    chin = P([(0, 160), (50, 165), (80, 195), (0, 222)])
    fill(chin, _BLACK)
    for poly in (forehead, flame, eye, white_eye, brow, cheek, nose, mouth, chin):
        line(poly, 5)
    cv2.polylines(img, [face], True, _BLACK, int(9 * u), cv2.LINE_AA)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def write_samples(folder: Path = SAMPLES_DIR) -> list[Path]:
    """Regenerate every bundled sample into ``folder``; returns the written files."""
    folder.mkdir(parents=True, exist_ok=True)
    return [save_image(folder / OPERA_SAMPLE.name, opera_sample())]


if __name__ == "__main__":  # pragma: no cover
    for path in write_samples():
        print(f"wrote {path}")
