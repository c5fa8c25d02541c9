"""Expression studio parameters: the four emotion sliders, the overall intensity and the low-level
sliders (blink, eye openness, gaze, brows, mouth, vowels, head roll). An expression is the vector of
all of them; presets store it as a small JSON object (:mod:`engine.studios.expression.presets`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from engine.labels import EXPRESSION_LABELS
from engine.studios.ranges import Range, check_ranges

LOW_LEVEL: tuple[str, ...] = ("blink_left", "blink_right", "eye_open", "gaze_x", "gaze_y", "brow_raise",
                              "brow_furrow", "mouth_open", "mouth_width", "aaa", "eee", "ooo", "head_roll")
"""The low-level sliders, each in [−1, 1] with 0 = unchanged (``left``/``right`` as seen in the image):
blink (1 closes the eye, −1 opens it wide), eye openness (both eyes), gaze (irises move inside the
eyes: +x right, +y down), brow raise, brow furrow (inner ends down and together; −1 apart and up),
mouth open, mouth width, the vowel mouth shapes (a negative vowel presses the mouth the opposite
way: aaa < 0 closed tight, eee < 0 narrow, ooo < 0 wide) and head roll (+1 = 12° clockwise)."""

RANGES: dict[str, Range] = {**{name: Range(0.0, 1.0) for name in EXPRESSION_LABELS},
                            "intensity": Range(0.0, 2.0),
                            **{name: Range(-1.0, 1.0) for name in LOW_LEVEL},
                            "size": Range(64, 1024, integer=True, unit="px")}
"""Valid range of each :class:`ExpressionParams` field (CLI, batch grids, the panel's sliders) and
of ``size``, the side of generated anime faces (``batch express --procedural``)."""


@dataclass(frozen=True)
class ExpressionParams:
    """Slider values of the expression studio.

    Args:
        angry: intensity of "angry" in [0, 1].
        sad: intensity of "sad" in [0, 1].
        smile: intensity of "smile" in [0, 1].
        surprised: intensity of "surprised" in [0, 1].
        intensity: overall multiplier in [0, 2] applied to all four (1 = as set).
        blink_left, blink_right, eye_open, gaze_x, gaze_y, brow_raise, brow_furrow, mouth_open,
            mouth_width, aaa, eee, ooo, head_roll: the low-level sliders in [−1, 1] (see
            :data:`LOW_LEVEL`; not scaled by ``intensity``).
    """

    angry: float = 0.0
    sad: float = 0.0
    smile: float = 0.0
    surprised: float = 0.0
    intensity: float = 1.0
    blink_left: float = 0.0
    blink_right: float = 0.0
    eye_open: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0
    brow_raise: float = 0.0
    brow_furrow: float = 0.0
    mouth_open: float = 0.0
    mouth_width: float = 0.0
    aaa: float = 0.0
    eee: float = 0.0
    ooo: float = 0.0
    head_roll: float = 0.0

    def validate(self) -> ExpressionParams:
        """Check the ranges.

        Returns:
            ``self``.

        Raises:
            ValueError: a value is out of range or not finite (one line naming it).
        """
        check_ranges(RANGES, {f.name: getattr(self, f.name) for f in fields(self)})
        return self

    def weights(self) -> np.ndarray:
        """Effective label weights.

        Returns:
            ``float64`` ``[4]``: label × intensity, in :data:`EXPRESSION_LABELS` order.
        """
        return np.array([getattr(self, n) for n in EXPRESSION_LABELS], np.float64) * self.intensity

    @property
    def is_identity(self) -> bool:
        """True when the edit changes nothing."""
        return not np.any(self.weights() > 0) and not any(getattr(self, n) for n in LOW_LEVEL)

    def low_level(self) -> dict[str, float]:
        """The low-level slider values by name (:data:`LOW_LEVEL` order)."""
        return {n: float(getattr(self, n)) for n in LOW_LEVEL}

    def to_dict(self) -> dict[str, float]:
        """The values by name (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExpressionParams:
        """Build from a mapping, rejecting unknown keys (typos in batch grids fail loudly).

        Args:
            d: some of the field names; the others keep their defaults.

        Returns:
            The validated parameters.

        Raises:
            ValueError: an unknown key or a value out of range.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown expression parameter(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(names))}")
        values: dict[str, Any] = {}
        for k, v in d.items():
            try:
                values[k] = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{k} must be a number {RANGES[k].requirement()}, got {v!r}") from None
        return cls(**values).validate()
