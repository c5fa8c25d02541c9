"""A labelled float slider bound to one document parameter."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QWidget


class ParamSlider(QWidget):
    """Label + slider + spin box for a float in ``[lo, hi]``.

    ``edited(value, merge_key)`` fires for user edits only; ``merge_key`` is the same for every value
    of one slider drag (so a drag becomes one undo step) and ``None`` for single steps (keys,
    spin box). :meth:`set_value` updates the display with signals blocked.

    Args:
        label: text in front of the slider.
        lo, hi: range.
        decimals: digits shown; the slider has ``steps`` positions across the range.
        log: map the slider logarithmically (for φ-like parameters spanning decades; needs lo > 0).
        tooltip: help text.
    """

    edited = Signal(float, object)

    _drag_counter = 0

    def __init__(self, label: str, lo: float, hi: float, decimals: int = 2, steps: int = 1000,
                 log: bool = False, tooltip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if log and lo <= 0:
            raise ValueError("log sliders need lo > 0")
        self.lo, self.hi, self.log, self.steps = lo, hi, log, steps
        self._merge_key: int | None = None
        self.label = QLabel(label)
        self.label.setMinimumWidth(28)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, steps)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(lo, hi)
        self.spin.setDecimals(decimals)
        self.spin.setSingleStep((hi - lo) / 100)
        self.spin.setKeyboardTracking(False)
        self.spin.setFixedWidth(84)
        for w in (self, self.label, self.slider, self.spin):
            w.setToolTip(tooltip)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.slider.sliderPressed.connect(self._drag_start)
        self.slider.sliderReleased.connect(self._drag_end)
        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.valueChanged.connect(self._spin_changed)

    # -- mapping ----------------------------------------------------------------------------------
    def _to_pos(self, v: float) -> int:
        v = min(self.hi, max(self.lo, v))
        if self.log:
            t = (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return round(t * self.steps)

    def _from_pos(self, pos: int) -> float:
        t = pos / self.steps
        if self.log:
            return math.exp(math.log(self.lo) + t * (math.log(self.hi) - math.log(self.lo)))
        return self.lo + t * (self.hi - self.lo)

    # -- API --------------------------------------------------------------------------------------
    def value(self) -> float:
        return float(self.spin.value())

    def set_value(self, v: float) -> None:
        """Show ``v`` without emitting :attr:`edited`."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.spin.setValue(v)
        self.slider.setValue(self._to_pos(v))
        for w in (self.slider, self.spin):
            w.blockSignals(False)

    # -- signals ----------------------------------------------------------------------------------
    def _drag_start(self) -> None:
        ParamSlider._drag_counter += 1
        self._merge_key = ParamSlider._drag_counter

    def _drag_end(self) -> None:
        self._merge_key = None

    def _slider_moved(self, pos: int) -> None:
        v = round(self._from_pos(pos), self.spin.decimals())
        self.spin.blockSignals(True)
        self.spin.setValue(v)
        self.spin.blockSignals(False)
        self.edited.emit(float(self.spin.value()), self._merge_key)

    def _spin_changed(self, v: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_pos(v))
        self.slider.blockSignals(False)
        self.edited.emit(float(v), None)
