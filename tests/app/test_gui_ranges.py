"""Every slider the panels offer stays inside the engine's valid range of its parameter
(``RANGES`` in each studio's params module), so the window can never ask for a refused value."""

from __future__ import annotations

from app.widgets.param_slider import ParamSlider
from engine.studios.expression.params import RANGES as EXPRESSION
from engine.studios.maskwear.params import RANGES as MASKWEAR
from engine.studios.opera.params import RANGES as OPERA
from engine.studios.ranges import Range
from engine.studios.regenerate.params import RANGES as REGENERATE


def _inside(slider: ParamSlider, r: Range) -> bool:
    low_ok = slider.lo > r.lo if r.lo_open else slider.lo >= r.lo
    return low_ok and slider.hi <= r.hi


def test_sliders_stay_inside_the_engine_ranges(make_window) -> None:
    w = make_window((1100, 720), "opera", persist=False)
    lineart = w.panels["opera"].findChildren(ParamSlider)
    checked = 0
    for s in lineart:
        key = s.objectName().removeprefix("slider_")
        if key in OPERA:
            assert _inside(s, OPERA[key]), (key, s.lo, s.hi, OPERA[key])
            checked += 1
    assert checked >= 5  # σ, k, γ, ε, φ
    for key, s in w.panels["expression"].sliders.items():
        assert _inside(s, EXPRESSION[key]), (key, s.lo, s.hi)
    assert _inside(w.panels["maskwear"].lighting, MASKWEAR["lighting"])
    assert _inside(w.panels["regenerate"].blend, REGENERATE["blend"])
