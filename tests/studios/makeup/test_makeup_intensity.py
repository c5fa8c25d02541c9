"""Makeup intensities and batch parameters (issue 21, item 14).

One model everywhere (engine, CLI, panel): a region is painted at its own intensity × the global
one. The panel's region sliders show that effective strength, so the master slider visibly moves
them; the batch job and its manifest name exactly the regions and styles that were rendered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from app.studios.makeup import RELATION_TEXT, STUDIO, params_from_doc
from engine.imageio import load_image, save_image
from engine.studios.makeup.batch import makeup_params
from engine.studios.makeup.params import REGIONS, params_from_flat

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def panel(make_window):
    win = make_window((1100, 760), "makeup")
    return win, win.panels[STUDIO]


def test_region_sliders_show_the_effective_strength(panel):
    win, p = panel
    lips = p.rows["lips"].slider
    assert p.relation_label.text() == RELATION_TEXT and p.relation_label.isVisible()
    g = win.doc.param(STUDIO, "intensity")
    assert lips.value() == pytest.approx(1.0 * g, abs=0.005), "the region slider shows what is painted"

    p.intensity.spin.setValue(0.5)  # the master moves every region slider with it
    assert win.doc.param(STUDIO, "lips_intensity") == 1.0
    assert lips.value() == pytest.approx(0.5) and p.rows["cheek"].slider.value() == pytest.approx(0.5)
    assert "0.50 = its own 1.00 × the master intensity 0.50" in lips.toolTip()

    lips.spin.setValue(0.3)  # the region's own value is stored so that 0.3 is painted
    assert win.doc.param(STUDIO, "lips_intensity") == pytest.approx(0.6)
    assert lips.value() == pytest.approx(0.3)
    assert params_from_doc(win.doc.params(STUDIO), p.styles).strength("lips") == pytest.approx(0.3)
    assert win.undo.text(win.undo.index() - 1) == "Change lip intensity"

    p.intensity.spin.setValue(1.0)  # the balance between regions is kept by the master
    assert lips.value() == pytest.approx(0.6) and p.rows["eyeshadow"].slider.value() == pytest.approx(1.0)
    p.intensity.spin.setValue(0.4)
    lips.spin.setValue(0.9)  # above the master: capped at it, and the slider says so
    assert win.doc.param(STUDIO, "lips_intensity") == 1.0 and lips.value() == pytest.approx(0.4)

    p.intensity.spin.setValue(0.0)  # master 0: nothing painted, region sliders rest at 0
    assert lips.value() == 0.0 and not lips.isEnabled()
    win.undo.undo()
    assert lips.isEnabled() and lips.value() == pytest.approx(0.4)


def test_batch_parameters_from_the_panel_name_what_is_rendered(panel):
    win, p = panel
    p.rows["eyeliner"].check.setChecked(True)
    p.rows["brows"].check.setChecked(True)
    p.rows["cheek"].check.setChecked(False)
    p.intensity.spin.setValue(0.5)
    p.rows["lips"].slider.spin.setValue(0.25)
    d = win.doc.params(STUDIO)
    flat = p.batch_params()
    shown = ", ".join(f"{k}={v}" for k, v in flat.items() if v is not None)  # the batch dialog's line
    assert "regions=" not in shown and "style=" not in shown
    rendered = params_from_doc(d, p.styles)
    assert rendered.enabled() == ["eyeshadow", "eyeliner", "brows", "lips"]
    for r in REGIONS:
        assert flat[r] == rendered.regions[r], r  # a disabled region names no style
        assert (f"{r}={flat[r]}" in shown) == (r in rendered.enabled())
    assert flat["cheek"] is None and d["cheek_style"]  # the off cheek keeps its style in the panel only
    assert flat["lips_intensity"] == pytest.approx(0.25) and flat["intensity"] == 1.0
    batch = params_from_flat(makeup_params(flat), p.styles)
    for r in rendered.enabled():
        assert batch.regions[r] == rendered.regions[r]
        assert batch.strength(r) == rendered.strength(r), r  # the batch paints exactly what the panel paints
    assert batch.enabled() == rendered.enabled()
    assert makeup_params(flat) == makeup_params(makeup_params(flat))


def test_makeup_params_resolve_the_global_style():
    flat = makeup_params({"style": "smoky", "regions": "lips+eyeshadow", "eyeliner": "korean", "lips": "retro"})
    assert (flat["lips"], flat["eyeshadow"], flat["eyeliner"]) == ("retro", "smoky", "korean")
    assert flat["cheek"] is None and flat["base"] is None and flat["brows"] is None
    assert (flat["style"], flat["regions"]) == ("smoky", "lips+eyeshadow")  # grid axes stay as asked
    assert makeup_params(flat) == flat


def test_batch_manifest_is_true_to_what_was_rendered(tmp_path):
    """Through the real CLI: the manifest's per-region styles reproduce the batch's image exactly."""
    inp = tmp_path / "in"
    inp.mkdir()
    save_image(inp / "astro.png", cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA))
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "engine", "batch", "makeup", "--input", str(inp), "--output", str(out),
                        "--style", "smoky", "--regions", "lips+eyeshadow", "--eyeliner", "korean",
                        "--intensity", "0.7", "--workers", "1"],
                       capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    (row,) = [x for x in rows if x.get("status") == "done"]
    params = row["params"]
    assert (params["lips"], params["eyeshadow"], params["eyeliner"]) == ("smoky", "smoky", "korean")
    assert params["cheek"] is None and params["base"] is None and params["brows"] is None

    # the regions and styles the manifest names, alone, give the same picture
    ref = tmp_path / "ref.png"
    per_region = [a for reg in REGIONS if params[reg] for a in (f"--{reg}", params[reg])]
    r = subprocess.run([sys.executable, "-m", "engine", "makeup", str(inp / "astro.png"), "--out", str(ref),
                        "--regions", "", *per_region, "--intensity", str(params["intensity"])],
                       capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr
    assert "lips=smoky" in r.stdout and "eyeliner=korean" in r.stdout and "cheek" not in r.stdout
    assert np.array_equal(load_image(out / row["output"]), load_image(ref))
