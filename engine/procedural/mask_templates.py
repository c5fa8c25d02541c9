"""Face-mask templates drawn by the project: surgical, KN95, N95 and cloth masks as RGBA + anchors.

Every template is an RGBA image (straight alpha) with six anchor points, named as in MaskTheFace's
``masks.cfg``: ``a`` top-left, ``b`` top-centre (nose bridge), ``c`` top-right, ``d`` bottom-left,
``e`` bottom-centre (under the chin), ``f`` bottom-right — "left" meaning the image left, i.e. the
wearer's right cheek. :mod:`engine.studios.maskwear.classical` maps them onto face landmarks.

User templates: an RGBA PNG plus a JSON anchor file ``{"a": [x, y], ..., "f": [x, y]}`` with the
same stem (:func:`load_user_template`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import cv2
import numpy as np

from engine.cache import load_arrays, save_arrays
from engine.errors import ImageLoadError
from engine.imageio import load_image, load_rgba, open_image

ANCHORS: tuple[str, ...] = ("a", "b", "c", "d", "e", "f")

W, H = 512, 400
"""Template canvas (the mask body spans about x 40–472, y 30–370)."""

SS = 2  # supersampling for smooth edges

GRAIN = 0.035
"""Relative brightness spread of the drawn templates' fabric grain."""


@dataclass
class MaskTemplate:
    """An RGBA mask picture and where its anchor points are.

    Args:
        name: template id, e.g. ``"surgical-blue"``.
        rgba: ``uint8`` ``[H, W, 4]`` straight-alpha image.
        anchors: anchor name → ``(x, y)`` in template pixels.
        kind: family (``surgical``, ``kn95``, ``n95``, ``cloth``, ``user``).
    """

    name: str
    rgba: np.ndarray
    anchors: dict[str, tuple[float, float]]
    kind: str = "user"
    meta: dict = field(default_factory=dict)

    def anchor_array(self) -> np.ndarray:
        """``[6, 2]`` float32 anchors in :data:`ANCHORS` order."""
        return np.array([self.anchors[k] for k in ANCHORS], np.float32)


def parse_color(text: str) -> tuple[int, int, int]:
    """``"#3a7bd5"`` / ``"3a7bd5"`` → RGB tuple; ``ValueError`` with the accepted form otherwise."""
    t = text.strip().lstrip("#")
    if len(t) != 6:
        raise ValueError(f"colour must look like #RRGGBB, got {text!r}")
    try:
        return int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16)
    except ValueError:
        raise ValueError(f"colour must look like #RRGGBB, got {text!r}") from None


def _shade(rgb: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    r, g, b = (int(np.clip(c * f, 0, 255)) for c in rgb)
    return r, g, b


def _canvas() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((H * SS, W * SS, 3), np.uint8), np.zeros((H * SS, W * SS), np.uint8)


def _pts(points: list[tuple[float, float]]) -> np.ndarray:
    return np.round(np.array(points) * SS).astype(np.int32)


def _curve(p0, p1, p2, n: int = 40) -> list[tuple[float, float]]:
    """Quadratic Bézier from p0 to p2 with control p1."""
    t = np.linspace(0, 1, n)[:, None]
    a, b, c = (np.array(p, float) for p in (p0, p1, p2))
    return [tuple(v) for v in ((1 - t) ** 2 * a + 2 * (1 - t) * t * b + t ** 2 * c)]


@functools.lru_cache(maxsize=8)
def _material(kind: str) -> np.ndarray:
    """The supersampled ``float32 [H·SS, W·SS, 1]`` factor every template of ``kind`` is multiplied
    by: soft shading, darker towards the sides like fabric wrapping round a face, times a fine
    non-woven grain (seeded by ``kind``: every template is drawn the same way each time). Made once
    per kind and process: drawing it was most of a template's cost, paid again by every batch
    worker for every template of the kind."""
    xs = np.linspace(-1, 1, W * SS, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, H * SS, dtype=np.float32)[:, None]
    shade = 1.0 - 0.18 * xs ** 2 - 0.08 * ys ** 2
    rng = np.random.default_rng(sum(map(ord, kind)))
    noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, (H * SS, W * SS)).astype(np.float32), (0, 0), 0.8 * SS)
    grain = np.asarray(noise, np.float32) * np.float32(GRAIN / max(float(np.std(noise)), 1e-6))
    factor = (shade * (1.0 + grain))[:, :, None].astype(np.float32)
    factor.flags.writeable = False
    return factor


def _finish(name: str, kind: str, rgb: np.ndarray, alpha: np.ndarray, anchors: dict, body: np.ndarray) -> MaskTemplate:
    rgb = np.clip(rgb.astype(np.float32) * _material(kind), 0, 255).astype(np.uint8)
    rgba = np.dstack([rgb, alpha])
    rgba = cv2.resize(rgba, (W, H), interpolation=cv2.INTER_AREA)
    return MaskTemplate(name, rgba, anchors, kind)


def surgical(color: tuple[int, int, int] = (120, 170, 220), name: str = "surgical",
             ear_loops: bool = True) -> MaskTemplate:
    """Pleated surgical mask with edge binding and (unless ``ear_loops`` is false) ear loops."""
    rgb, alpha = _canvas()
    top = _curve((40, 80), (256, 10), (472, 80))
    bottom = _curve((472, 300), (256, 400), (40, 300))
    body = _pts(top + bottom)
    cv2.fillPoly(rgb, [body], color, cv2.LINE_AA)
    cv2.fillPoly(alpha, [body], 255, cv2.LINE_AA)
    dark = _shade(color, 0.78)
    light = _shade(color, 1.12)
    for y in (130, 185, 240):  # straight pleats: a shadow line under a highlight
        line = _pts(_curve((44, y), (256, y), (468, y)))
        cv2.polylines(rgb, [line + [0, 6 * SS]], False, dark, 5 * SS, cv2.LINE_AA)
        cv2.polylines(rgb, [line], False, light, 3 * SS, cv2.LINE_AA)
    for edge in (top, bottom):  # binding
        cv2.polylines(rgb, [_pts(edge)], False, _shade(color, 0.9), 10 * SS, cv2.LINE_AA)
    cv2.polylines(rgb, [_pts(_curve((150, 40), (256, 18), (362, 40)))], False, (200, 200, 205), 4 * SS, cv2.LINE_AA)  # nose wire
    loop_colour = (235, 235, 235)
    for side in (-1, 1) if ear_loops else ():  # ear loops leave the corners towards the ears
        x0 = 256 + side * 216
        loop = _pts(_curve((x0, 86), (x0 + side * 40, 190), (x0, 296)))
        cv2.polylines(rgb, [loop], False, loop_colour, 4 * SS, cv2.LINE_AA)
        cv2.polylines(alpha, [loop], False, 255, 4 * SS, cv2.LINE_AA)
    anchors = {"a": (40, 86), "b": (256, 45), "c": (472, 86), "d": (40, 300), "e": (256, 350), "f": (472, 300)}
    return _finish(name, "surgical", rgb, alpha, anchors, body)


def kn95(color: tuple[int, int, int] = (238, 238, 236), name: str = "kn95") -> MaskTemplate:
    """Folded KN95: peaked top at the nose, pointed chin, centre fold, welded dotted seams."""
    rgb, alpha = _canvas()
    outline = [(40, 110), (256, 16), (472, 110), (430, 290), (256, 390), (82, 290)]
    body = _pts(_curve(outline[0], (150, 40), outline[1]) + _curve(outline[1], (362, 40), outline[2])
                + _curve(outline[2], (470, 220), outline[3]) + _curve(outline[3], (340, 370), outline[4])
                + _curve(outline[4], (172, 370), outline[5]) + _curve(outline[5], (42, 220), outline[0]))
    cv2.fillPoly(rgb, [body], color, cv2.LINE_AA)
    cv2.fillPoly(alpha, [body], 255, cv2.LINE_AA)
    # the right panel faces away from the light
    right = _pts([(256, 16), (472, 110), (430, 290), (256, 390)])
    shadow = rgb.copy()
    cv2.fillPoly(shadow, [right], _shade(color, 0.86), cv2.LINE_AA)
    inside = alpha > 0
    rgb[inside] = shadow[inside]
    cv2.polylines(rgb, [_pts([(256, 20), (256, 386)])], False, _shade(color, 0.7), 3 * SS, cv2.LINE_AA)
    for t in np.linspace(0.08, 0.92, 22):  # dotted welds along the edges
        for a, b in (((60, 118), (256, 38)), ((256, 38), (452, 118)), ((256, 370), (100, 285)), ((256, 370), (412, 285))):
            x, y = (1 - t) * np.array(a) + t * np.array(b)
            cv2.circle(rgb, (int(x * SS), int(y * SS)), 2 * SS, _shade(color, 0.55), -1, cv2.LINE_AA)
    anchors = {"a": (40, 112), "b": (256, 26), "c": (472, 112), "d": (82, 290), "e": (256, 384), "f": (430, 290)}
    return _finish(name, "kn95", rgb, alpha, anchors, body)


def n95(color: tuple[int, int, int] = (236, 234, 226), name: str = "n95") -> MaskTemplate:
    """Moulded N95 cup: arched top over the nose, round bottom, moulded rim, nose clip, straps."""
    rgb, alpha = _canvas()
    top = _curve((40, 120), (256, 10), (472, 120))
    body = _pts(top + _curve((472, 120), (470, 330), (256, 392)) + _curve((256, 392), (42, 330), (40, 120)))
    cv2.fillPoly(rgb, [body], color, cv2.LINE_AA)
    cv2.fillPoly(alpha, [body], 255, cv2.LINE_AA)
    rim = _pts(_curve((90, 140), (256, 50), (422, 140)) + _curve((422, 140), (420, 310), (256, 350))
               + _curve((256, 350), (92, 310), (90, 140)))
    cv2.polylines(rgb, [rim], True, _shade(color, 0.88), 3 * SS, cv2.LINE_AA)
    cv2.polylines(rgb, [_pts(_curve((170, 92), (256, 58), (342, 92)))], False, (170, 170, 175), 8 * SS, cv2.LINE_AA)
    for y in (140, 300):
        for side in (-1, 1):
            x = 256 + side * 214
            cv2.line(rgb, (x * SS, y * SS), ((x + side * 34) * SS, (y - 10) * SS), (230, 200, 40), 8 * SS, cv2.LINE_AA)
            cv2.line(alpha, (x * SS, y * SS), ((x + side * 34) * SS, (y - 10) * SS), 255, 8 * SS, cv2.LINE_AA)
    anchors = {"a": (40, 120), "b": (256, 65), "c": (472, 120), "d": (106, 306), "e": (256, 388), "f": (406, 306)}
    return _finish(name, "n95", rgb, alpha, anchors, body)


PATTERNS = ("plain", "checkered", "dotted", "striped")


def cloth(color: tuple[int, int, int] = (40, 40, 46), pattern: str = "plain", name: str = "cloth") -> MaskTemplate:
    """Contoured cloth mask; ``pattern`` is one of :data:`PATTERNS` (drawn in a lighter tone)."""
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    rgb, alpha = _canvas()
    body = _pts(_curve((40, 100), (150, 30), (256, 20)) + _curve((256, 20), (362, 30), (472, 100))
                + _curve((472, 100), (480, 290), (330, 360)) + _curve((330, 360), (256, 392), (182, 360))
                + _curve((182, 360), (32, 290), (40, 100)))
    cv2.fillPoly(rgb, [body], color, cv2.LINE_AA)
    cv2.fillPoly(alpha, [body], 255, cv2.LINE_AA)
    lum = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    accent = _shade(color, 0.6) if lum > 140 else tuple(int(c + (255 - c) * 0.45) for c in color)
    pat = np.zeros(alpha.shape, np.uint8)
    step = 36 * SS
    yy, xx = np.mgrid[0:H * SS, 0:W * SS]
    if pattern == "checkered":
        pat[((yy // step) + (xx // step)) % 2 == 0] = 1
    elif pattern == "dotted":
        for y in range(step // 2, H * SS, step):
            for x in range((y // step % 2) * step // 2 + step // 4, W * SS, step):
                cv2.circle(pat, (x, y), 6 * SS, 1, -1, cv2.LINE_AA)
    elif pattern == "striped":
        pat[(yy // (step // 2)) % 2 == 0] = 1
    sel = (pat > 0) & (alpha > 0)
    rgb[sel] = accent
    cv2.polylines(rgb, [_pts([(256, 22), (256, 388)])], False, _shade(color, 0.75), 3 * SS, cv2.LINE_AA)  # centre seam
    anchors = {"a": (40, 102), "b": (256, 22), "c": (472, 102), "d": (87, 285), "e": (256, 376), "f": (425, 285)}
    t = _finish(name, "cloth", rgb, alpha, anchors, body)
    t.meta["pattern"] = pattern
    return t


PHOTOGRAPHED_DIR = Path(__file__).resolve().parents[2] / "resources" / "mask_templates" / "masktheface"
"""MaskTheFace's photographed templates (MIT, © 2020 Aqeel Anwar; ``LICENSE.MaskTheFace`` travels
with them): ``X.png`` + ``X.json`` anchors, ``X_left`` / ``X_right`` the same mask seen from the side."""

SIDES = ("left", "right")
"""Side views of a photographed template: ``left`` shows the mask's image-left half larger (the
head turned so that its image-left cheek faces the camera), ``right`` the other."""


def _decontaminate(rgba: np.ndarray) -> np.ndarray:
    """Drop the one-pixel light halo photographed cut-outs carry: the outermost ring of the alpha
    is removed and the colours of the new edge pixels come from inside the mask."""
    out = rgba.copy()
    a = out[:, :, 3]
    eroded = cv2.erode(a, np.ones((3, 3), np.uint8))
    out[:, :, 3] = eroded
    inner = cv2.erode(eroded, np.ones((3, 3), np.uint8)) > 250
    if inner.any():
        # each edge pixel takes the colour of the nearest solid pixel (distance transform labels)
        _, labels = cv2.distanceTransformWithLabels((~inner).astype(np.uint8), cv2.DIST_L2, 3,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
        ys, xs = np.nonzero(inner)
        lut = np.zeros((int(labels.max()) + 1, 3), np.uint8)
        lut[labels[ys, xs]] = out[ys, xs, :3]
        edge = (eroded > 0) & ~inner
        out[edge, :3] = lut[labels[edge]]
    return out


def photographed(stem: str = "surgical", color: tuple[int, int, int] | None = None,
                 name: str = "mtf-surgical") -> MaskTemplate:
    """One of MaskTheFace's photographed templates (:data:`PHOTOGRAPHED_DIR`), halo removed.

    Args:
        stem: file stem in :data:`PHOTOGRAPHED_DIR` (``surgical``, ``KN95``, ``cloth_left`` ...).
        color: ``None`` keeps the photographed colours; an RGB colour tints the mask (its
            brightness pattern — grain, pleats, seams — times the colour over the mask's light tone).
        name: the template's id.

    Raises:
        ImageLoadError: the file or its anchors are missing (a broken install).
    """
    t = load_user_template(PHOTOGRAPHED_DIR / f"{stem}.png")
    rgba = _decontaminate(t.rgba)
    if color is not None:
        luma = cv2.cvtColor(np.ascontiguousarray(rgba[:, :, :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
        body = rgba[:, :, 3] > 200
        ref = max(float(np.percentile(luma[body], 90)) if body.any() else 255.0, 1.0)
        rgba[:, :, :3] = np.clip(luma[:, :, None] / ref * np.array(color, np.float32), 0, 255).astype(np.uint8)
    kind = {"KN95": "kn95", "N95": "n95", "cloth": "cloth"}.get(stem.split("_")[0], "surgical")
    out = MaskTemplate(name, rgba, t.anchors, kind, {"photographed": True, "stem": stem,
                                                     "licence": "MIT, (c) 2020 Aqeel Anwar (MaskTheFace)"})
    return out


_Factory = Callable[[tuple[int, int, int] | None], MaskTemplate]

BUILTIN: dict[str, tuple[str, dict]] = {
    "surgical-blue": ("surgical", {"color": (120, 170, 220)}),
    "surgical-white": ("surgical", {"color": (240, 240, 238)}),
    "surgical-black": ("surgical", {"color": (38, 38, 42)}),
    "surgical-pink": ("surgical", {"color": (236, 170, 190)}),
    "kn95": ("kn95", {"color": (238, 238, 236)}),
    "n95": ("n95", {"color": (236, 234, 226)}),
    "cloth-plain": ("cloth", {"color": (40, 40, 46), "pattern": "plain"}),
    "cloth-checkered": ("cloth", {"color": (150, 40, 50), "pattern": "checkered"}),
    "cloth-dotted": ("cloth", {"color": (30, 60, 120), "pattern": "dotted"}),
    "cloth-patterned": ("cloth", {"color": (50, 110, 80), "pattern": "striped"}),
    "mtf-surgical": ("masktheface", {"stem": "surgical"}),
    "mtf-surgical-blue": ("masktheface", {"stem": "surgical_blue"}),
    "mtf-surgical-green": ("masktheface", {"stem": "surgical_green"}),
    "mtf-kn95": ("masktheface", {"stem": "KN95"}),
    "mtf-n95": ("masktheface", {"stem": "N95"}),
    "mtf-cloth": ("masktheface", {"stem": "cloth"}),
}
"""Built-in template names → (family, default arguments). ``mtf-*`` are MaskTheFace's photographed
templates (:func:`photographed`), the others are drawn here."""

_FAMILIES: dict[str, Callable[..., MaskTemplate]] = {"surgical": surgical, "kn95": kn95, "n95": n95, "cloth": cloth,
                                                      "masktheface": photographed}


def side_variant(template: MaskTemplate, side: str) -> MaskTemplate | None:
    """The ``side`` view (:data:`SIDES`) of a photographed template, in the same colour, or
    ``None`` when it has none (drawn and user templates)."""
    stem = template.meta.get("stem")
    if side not in SIDES or not template.meta.get("photographed") or not isinstance(stem, str) \
            or stem.endswith(tuple(f"_{s}" for s in SIDES)):
        return None
    color = template.meta.get("tint")
    return _cached_side(stem, side, template.name, None if color is None else tuple(color))


@functools.lru_cache(maxsize=32)
def _cached_side(stem: str, side: str, name: str, color: tuple[int, int, int] | None) -> MaskTemplate | None:
    if not (PHOTOGRAPHED_DIR / f"{stem}_{side}.png").is_file():
        return None
    return _from_disk_cache(("side", stem, side, name, color),
                            lambda: photographed(f"{stem}_{side}", color, f"{name}-{side}"))


DISK_CACHE_KIND = "mask-templates"
"""The templates' folder in the per-user cache (:mod:`engine.cache`)."""


@functools.lru_cache(maxsize=1)
def _code_digest() -> str | None:
    """What the templates are made from: the source of this module and of the image reader, the
    photographed templates' files and the versions of the libraries that draw, resample and decode
    them (a change to any makes every cached template stale). ``None`` when a source cannot be
    read (a frozen build ships none): then nothing is cached."""
    import PIL

    from engine import imageio

    h = hashlib.sha256(f"{W}x{H}x{SS} numpy {np.__version__} cv2 {cv2.__version__} PIL {PIL.__version__}".encode())
    try:
        for source in (Path(__file__), Path(imageio.__file__)):
            h.update(source.read_bytes())
        for f in sorted(PHOTOGRAPHED_DIR.glob("*")):
            if f.is_file():
                h.update(f.name.encode())
                h.update(f.read_bytes())
    except (OSError, TypeError):
        return None
    return h.hexdigest()


def _from_disk_cache(what: tuple, make: Callable[[], MaskTemplate]) -> MaskTemplate:
    """The template ``make`` makes, read back from the per-user cache when an earlier process made
    it from the same code and files (``what`` names it), saved there otherwise; read-only pixels."""
    digest = _code_digest()
    if digest is None:
        t = make()
        t.rgba.flags.writeable = False
        return t
    key = hashlib.sha256(repr((what, digest)).encode()).hexdigest()[:40]
    hit = load_arrays(DISK_CACHE_KIND, key)
    if hit is not None and "rgba" in hit and "record" in hit:
        try:
            rec = json.loads(bytes(hit["record"]).decode())
            anchors = {k: (float(x), float(y)) for k, (x, y) in rec["anchors"].items()}
            rgba = np.ascontiguousarray(hit["rgba"], np.uint8)
            if rgba.ndim == 3 and rgba.shape[2] == 4 and set(anchors) == set(ANCHORS):
                meta = {k: tuple(v) if k in rec["tuples"] else v for k, v in rec["meta"].items()}
                t = MaskTemplate(str(rec["name"]), rgba, anchors, str(rec["kind"]), meta)
                t.rgba.flags.writeable = False
                return t
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            pass  # a damaged entry: made again below, and replaced
    t = make()
    record = {"name": t.name, "anchors": {k: [float(x), float(y)] for k, (x, y) in t.anchors.items()},
              "kind": t.kind, "meta": {k: list(v) if isinstance(v, tuple) else v for k, v in t.meta.items()},
              "tuples": [k for k, v in t.meta.items() if isinstance(v, tuple)]}
    save_arrays(DISK_CACHE_KIND, key, {"rgba": t.rgba, "record": np.frombuffer(json.dumps(record).encode(), np.uint8)})
    t.rgba.flags.writeable = False
    return t


_DERIVED: OrderedDict[tuple[int, Hashable], tuple[np.ndarray, Any]] = OrderedDict()
"""(id(template.rgba), what) → (that array, what was made from it); the entry keeps the array
alive, so its id cannot be reused while cached."""

_DERIVED_LOCK = threading.Lock()

T = TypeVar("T")

DERIVED_MAX = 128
"""Entries :func:`derived` keeps (least recently used dropped first): a batch with random templates
uses up to 84 (16 templates, 28 pictures with the side views, three each); at 48 it made a third
of those it used again."""


def derived(template: MaskTemplate, what: Hashable, make: Callable[[MaskTemplate], T]) -> T:
    """``make(template)``, made once per template picture and ``what`` (a key naming what is made
    and anything else it depends on) and kept: built-in templates are cached objects, so a batch
    premultiplies, shrinks or resizes each one once. Safe from several threads (a value made twice
    at once is simply made twice).

    Example:
        >>> t = get_template("n95")
        >>> derived(t, "height", lambda t: t.rgba.shape[0]) == derived(t, "height", lambda t: -1)
        True
    """
    key = (id(template.rgba), what)
    with _DERIVED_LOCK:
        hit = _DERIVED.get(key)
        if hit is not None and hit[0] is template.rgba:
            _DERIVED.move_to_end(key)
            return cast(T, hit[1])
    value = make(template)
    with _DERIVED_LOCK:
        _DERIVED[key] = (template.rgba, value)
        while len(_DERIVED) > DERIVED_MAX:
            _DERIVED.popitem(last=False)
    return value


def template_names() -> list[str]:
    return list(BUILTIN)


def get_template(name: str, color: tuple[int, int, int] | None = None, ear_loops: bool = True) -> MaskTemplate:
    """A built-in template by name, optionally recoloured (``color`` replaces its main colour).

    ``ear_loops=False`` leaves the drawn surgical masks' ear loops out (photographed templates keep
    theirs: they are part of the picture). Templates are drawn once and cached; the returned pixels
    are read-only.
    """
    return _cached_template(name, None if color is None else tuple(int(c) for c in color), bool(ear_loops))


@functools.lru_cache(maxsize=64)
def _cached_template(name: str, color: tuple[int, int, int] | None, ear_loops: bool = True) -> MaskTemplate:
    if name not in BUILTIN:
        raise ValueError(f"unknown mask template {name!r}; available: {', '.join(BUILTIN)}")
    family, kwargs = BUILTIN[name]
    kwargs = dict(kwargs)
    if color is not None:
        kwargs["color"] = color
    if family == "surgical":
        kwargs["ear_loops"] = ear_loops

    def make() -> MaskTemplate:
        t = _FAMILIES[family](name=name, **kwargs)
        if color is not None:
            t.meta["tint"] = color
        return t

    return _from_disk_cache(("builtin", name, color, family == "surgical" and ear_loops), make)


def load_user_template(png: str | Path) -> MaskTemplate:
    """A user RGBA template ``X.png`` with anchors in ``X.json`` (``{"a": [x, y], ... "f": [x, y]}``)."""
    p = Path(png)
    with open_image(p) as im:  # missing / folder / not an image / oversized: one clear ImageLoadError
        if "A" not in im.getbands() and "transparency" not in im.info:
            raise ImageLoadError(f"{p}: a mask template needs an alpha channel (RGBA PNG)")
    js = p.with_suffix(".json")
    if not js.is_file():
        raise ImageLoadError(f"{p}: anchor file {js.name} not found (needs points a–f)")
    try:
        pts = json.loads(js.read_text())
        anchors = {k: (float(pts[k][0]), float(pts[k][1])) for k in ANCHORS}
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ImageLoadError(f"{js}: anchors must be {{'a': [x, y], ..., 'f': [x, y]}} ({exc})") from None
    rgb = load_image(p, background=(0, 0, 0))
    a = load_rgba(p)[:, :, 3]
    return MaskTemplate(p.stem, np.dstack([rgb, a]), anchors, "user")
