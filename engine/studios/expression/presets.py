"""Expression presets: an expression (the vector of all sliders) as a small JSON file.

A preset file is ``{"name": "...", "sliders": {"smile": 1.0, "blink_left": 1.0, ...}}``; sliders it
leaves out are 0 (``intensity`` 1). Built-in presets ship in ``resources/expression_presets/``: the
four emotions at 0.5 and 1.0, ``wink``, ``shout`` and ``pout``.

:func:`expression_from_parts` reads slider values back from located part shapes, so the expression
of one analysed picture can be applied to another (:func:`copy_expression`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.faces.anime import AnimeFaceParts
from engine.studios.expression.params import ExpressionParams

PRESET_DIR = Path(__file__).resolve().parents[3] / "resources" / "expression_presets"
"""Folder of the built-in presets (one ``NAME.json`` each)."""

MAX_PRESET_BYTES = 64 * 1024
"""Larger files are refused (a preset is a few hundred bytes)."""


def preset_to_json(params: ExpressionParams, name: str) -> str:
    """A preset's JSON text: the sliders that differ from their defaults.

    Args:
        params: the expression.
        name: shown in lists.

    Returns:
        Indented JSON text.
    """
    d = params.validate().to_dict()
    default = ExpressionParams().to_dict()
    sliders = {k: round(float(v), 4) for k, v in d.items() if v != default[k]}
    return json.dumps({"name": name, "sliders": sliders}, indent=1) + "\n"


def preset_from_json(text: str) -> tuple[str, ExpressionParams]:
    """Parse a preset.

    Args:
        text: the file's content.

    Returns:
        ``(name, params)``.

    Raises:
        ValueError: not JSON, not the preset layout, an unknown slider or a value out of range (one line).
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a preset (bad JSON: {exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sliders"), dict):
        raise ValueError('not a preset: expected {"name": ..., "sliders": {...}}')
    return str(doc.get("name", "")), ExpressionParams.from_dict(doc["sliders"])


def load_preset(path: str | Path) -> tuple[str, ExpressionParams]:
    """Read a preset file, or a built-in preset by name (``smile_1.0``, ``wink`` ...).

    Args:
        path: a file path or a built-in name.

    Returns:
        ``(name, params)``.

    Raises:
        ValueError: missing, too large or not a preset (one line).
    """
    p = Path(path)
    if not p.is_file() and (PRESET_DIR / f"{path}.json").is_file():
        p = PRESET_DIR / f"{path}.json"
    if not p.is_file():
        raise ValueError(f"no preset {path} (a JSON file, or one of: {', '.join(builtin_presets())})")
    if p.stat().st_size > MAX_PRESET_BYTES:
        raise ValueError(f"{p} is too large for a preset ({p.stat().st_size} bytes)")
    try:
        return preset_from_json(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{p}: {exc}") from None


def save_preset(path: str | Path, params: ExpressionParams, name: str) -> Path:
    """Write a preset atomically.

    Args:
        path: the file to write.
        params: the expression.
        name: its name.

    Returns:
        The written path.
    """
    from engine.imageio import atomic_write_files

    return atomic_write_files({Path(path): preset_to_json(params, name).encode()})[0]


def builtin_presets() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def _centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], np.float64)


# neutral proportions of the procedural faces: eye height / width, brow height above the eye top and
# mouth height / width, each ÷ the eye distance where a length
_NEUTRAL_EYE_RATIO, _NEUTRAL_BROW_GAP, _NEUTRAL_MOUTH_RATIO = 0.85, 0.16, 0.15


def read_sliders(face: AnimeFaceParts) -> dict[str, float]:
    """The low-level sliders that can be read from ``face``'s found parts (see
    :func:`expression_from_parts`), unclipped; sliders of estimated parts are absent."""
    f, P = face.found, {k: np.asarray(v, np.float64) for k, v in face.parts.items()}
    vals: dict[str, float] = {}
    le, re = _centre(P["left_eye"]), _centre(P["right_eye"])
    iod = max(1e-6, float(np.linalg.norm(re - le)))
    if f.get("left_eye") and f.get("right_eye"):
        roll = float(np.degrees(np.arctan2(re[1] - le[1], re[0] - le[0])))
        vals["head_roll"] = roll / 12.0
        for side in ("left", "right"):
            e = P[f"{side}_eye"]
            ratio = (e[3] - e[1]) / max(1e-6, e[2] - e[0])
            vals[f"blink_{side}"] = (_NEUTRAL_EYE_RATIO - ratio) / (0.6 * _NEUTRAL_EYE_RATIO)
    if f.get("left_brow") or f.get("right_brow"):
        gaps = [(P[f"{s}_eye"][1] - _centre(P[f"{s}_brow"])[1]) / iod for s in ("left", "right") if f.get(f"{s}_brow")]
        vals["brow_raise"] = (float(np.mean(gaps)) - _NEUTRAL_BROW_GAP) / 0.12
    if f.get("mouth"):
        m = P["mouth"]
        mw = max(1e-6, m[2] - m[0])
        vals["mouth_open"] = ((m[3] - m[1]) / mw - _NEUTRAL_MOUTH_RATIO) / 0.9
        vals["mouth_width"] = (mw / iod - 0.4) / 0.25
    return vals


def expression_from_parts(face: AnimeFaceParts) -> ExpressionParams:
    """Low-level slider values read back from part shapes (relative to neutral proportions).

    Eye openness from each eye's height ÷ width (a thin eye reads as a blink), brow raise from the
    brows' height above the eyes ÷ the eye distance, mouth open from the mouth's height ÷ width,
    mouth width from its width ÷ the eye distance, head roll from the slope of the eye line. Only
    parts found in the pixels are read; estimated ones leave their sliders at 0.

    Args:
        face: located parts.

    Returns:
        The expression (emotion sliders 0, low-level sliders set).
    """
    vals = read_sliders(face)
    clipped: dict[str, Any] = {k: float(np.clip(v, -1.0, 1.0)) for k, v in vals.items()}
    return ExpressionParams.from_dict(clipped)


def copy_expression(source: AnimeFaceParts, target: AnimeFaceParts) -> ExpressionParams:
    """The sliders that give ``target`` the expression of ``source``: the difference of the values
    read back from both (each clipped to [−1, 1]); a slider whose part was estimated in either picture
    stays 0.

    Args:
        source: parts of the picture whose expression is copied.
        target: parts of the picture to edit.

    Returns:
        Slider values for ``target``.
    """
    s, t = read_sliders(source), read_sliders(target)
    return ExpressionParams.from_dict({k: float(np.clip(s[k] - t[k], -1.0, 1.0)) for k in s if k in t})
