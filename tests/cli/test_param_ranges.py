"""Numeric parameters at and past their limits, for every studio (issue 21 #3), and non-regular input
files on the command line (issue 21 #6).

Every params module's ``RANGES`` table is walked: each value at its limits is accepted by the code
that validates it (params dataclasses, the flat batch forms, the edit-chain parser), each value past
them is refused with one ``ValueError`` line naming the parameter. A few representative commands run
through the real ``python -m engine`` entry point: one error line, exit 1, nothing written, fast.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.imageio import save_image
from engine.studios.expression.batch import express_procedural_params
from engine.studios.expression.params import RANGES as EXPRESSION_RANGES
from engine.studios.expression.params import ExpressionParams
from engine.studios.makeup.params import RANGES as MAKEUP_RANGES
from engine.studios.makeup.params import normalize_flat
from engine.studios.maskwear.batch import wear_mask_params
from engine.studios.maskwear.params import RANGES as MASKWEAR_RANGES
from engine.studios.maskwear.params import MaskWearParams
from engine.studios.opera.batch import colorize_batch_params
from engine.studios.opera.params import COLORIZE_RANGES, XDOG_RANGES, ColorizeParams, XDoGParams
from engine.studios.opera.params import RANGES as OPERA_RANGES
from engine.studios.ranges import Range, check_ranges, ranges_table
from engine.studios.regenerate.batch import regenerate_params
from engine.studios.regenerate.edits import apply_edits, dilate, erode, parse_edits
from engine.studios.regenerate.params import RANGES as REGENERATE_RANGES
from engine.studios.regenerate.params import RegenerateParams

REPO = Path(__file__).resolve().parents[2]
OPERA_SAMPLE = REPO / "resources" / "samples" / "opera_sample.png"


# --- the checker ----------------------------------------------------------------------------------

def test_range_accepts_its_limits_and_refuses_what_lies_past_them() -> None:
    r = Range(0.0, 20.0, lo_open=True, unit="px")
    assert r.check("sigma", 20) == 20.0 and r.check("sigma", "1e-3") == 0.001
    for bad in (0, -1, 20.0001, 1e9, math.nan, math.inf, -math.inf, True, None, "abc", [1]):
        with pytest.raises(ValueError, match=r"^sigma must be (a number )?> 0 and ≤ 20 px, got "):
            r.check("sigma", bad)
    n = Range(1, 64, integer=True)
    assert n.check("size", 1) == 1 and n.check("size", "64") == 64 and n.check("size", 3.0) == 3
    assert isinstance(n.check("size", 3.0), int)
    for bad in (0, 65, 3.5, "2.5"):
        with pytest.raises(ValueError, match=r"^size must be (a whole number )?in \[1, 64\], got "):
            n.check("size", bad)
    assert str(r) == "(0, 20]" and r.describe() == "(0, 20] px" and str(n) == "[1, 64]"


def test_check_ranges_allows_none_only_where_optional() -> None:
    table = {"gap": Range(0, 32, integer=True), "level": Range(1, 254, integer=True)}
    check_ranges(table, {"gap": None, "level": 5, "other": "not checked"}, optional=("gap",))
    with pytest.raises(ValueError, match="level must be a number"):
        check_ranges(table, {"level": None}, optional=("gap",))
    assert ranges_table(table) == [("gap", "[0, 32]"), ("level", "[1, 254]")]


# --- every table, at and past its limits ----------------------------------------------------------

def _mask() -> np.ndarray:
    m = np.zeros((64, 64), np.uint8)
    m[8:56, 8:56] = 1
    m[4:16, 10:54] = 13
    return m


def _reference(tmp: Path) -> str:
    return str(save_image(tmp / "ref.png", np.zeros((16, 16, 3), np.uint8)))


VALIDATORS: dict[str, tuple[Range, Callable[[Any, Path], object]]] = {
    **{f"lineart {n}": (r, lambda v, _t, n=n: XDoGParams(**{n: v}).validate()) for n, r in XDOG_RANGES.items()},
    **{f"colorize {n}": (r, lambda v, _t, n=n: ColorizeParams(**{n: v}).validate())
       for n, r in COLORIZE_RANGES.items()},
    "batch colorize gap": (COLORIZE_RANGES["gap"],
                           lambda v, t: colorize_batch_params({"reference": _reference(t), "gap": v})),
    **{f"express {n}": (r, lambda v, _t, n=n: ExpressionParams.from_dict({n: v}))
       for n, r in EXPRESSION_RANGES.items() if n != "size"},
    "batch express size": (EXPRESSION_RANGES["size"], lambda v, _t: express_procedural_params({"size": v})),
    **{f"makeup {n}": (r, lambda v, _t, n=n: normalize_flat({n: v})) for n, r in MAKEUP_RANGES.items()},
    "wear-mask lighting": (MASKWEAR_RANGES["lighting"], lambda v, _t: MaskWearParams(lighting=v).validate()),
    "batch wear-mask lighting": (MASKWEAR_RANGES["lighting"], lambda v, _t: wear_mask_params({"lighting": v})),
    "wear-mask offset": (MASKWEAR_RANGES["offset"],
                         lambda v, _t: MaskWearParams(offsets=(("a", v, 0.0), ("b", 0.0, v))).validate()),
    "batch wear-mask size": (MASKWEAR_RANGES["size"], lambda v, _t: wear_mask_params({"size": v})),
    "regenerate blend": (REGENERATE_RANGES["blend"], lambda v, _t: RegenerateParams(_mask(), blend=v).validate()),
    "batch regenerate blend": (REGENERATE_RANGES["blend"], lambda v, _t: regenerate_params({"blend": v})),
    "regenerate feather": (REGENERATE_RANGES["feather"],
                           lambda v, _t: RegenerateParams(_mask(), feather=v).validate()),
    "edits dilate": (REGENERATE_RANGES["edits dilate"], lambda v, _t: parse_edits(f"dilate:hair:{v}")),
    "edits erode": (REGENERATE_RANGES["edits erode"], lambda v, _t: parse_edits(f"erode:skin:{v}")),
    "edits scale": (REGENERATE_RANGES["edits scale"], lambda v, _t: parse_edits(f"scale:l_eye+r_eye:{v}")),
    "edits smile": (REGENERATE_RANGES["edits smile"], lambda v, _t: parse_edits(f"smile:{v}")),
    "batch regenerate edits": (REGENERATE_RANGES["edits dilate"],
                               lambda v, _t: regenerate_params({"edits": f"dilate:hair:{v}"})),
}
"""What validates each numeric parameter → (its range, a call that validates one value)."""


def test_every_range_table_entry_is_exercised() -> None:
    tables = {"lineart": XDOG_RANGES, "colorize": COLORIZE_RANGES, "express": EXPRESSION_RANGES,
              "makeup": MAKEUP_RANGES, "wear-mask": MASKWEAR_RANGES, "regenerate": REGENERATE_RANGES}
    assert set(OPERA_RANGES) == set(XDOG_RANGES) | set(COLORIZE_RANGES)
    covered = {r for r, _ in VALIDATORS.values()}
    for table in tables.values():
        for rng in table.values():
            assert rng in covered


def _inside(r: Range) -> list[float]:
    step = 1.0 if r.integer else 1e-6 * max(1.0, abs(r.hi - r.lo))
    return [r.lo + step if r.lo_open else r.lo, r.hi]


def _outside(r: Range) -> list[float]:
    step = 1.0 if r.integer else 1e-3 * max(1.0, abs(r.hi - r.lo))
    out = [r.lo if r.lo_open else r.lo - step, r.hi + step, 1e9, -1e9]
    return out + ([r.lo + 0.5] if r.integer else [])


@pytest.mark.parametrize("what", sorted(VALIDATORS))
def test_values_at_the_limits_are_accepted(what: str, tmp_path: Path) -> None:
    rng, validate = VALIDATORS[what]
    for v in _inside(rng):
        validate(int(v) if rng.integer else v, tmp_path)


@pytest.mark.parametrize("what", sorted(VALIDATORS))
def test_values_past_the_limits_are_refused_with_one_line(what: str, tmp_path: Path) -> None:
    rng, validate = VALIDATORS[what]
    for v in [*_outside(rng), math.nan]:
        if rng.integer and math.isfinite(v) and v == int(v):
            v = int(v)
        with pytest.raises(ValueError) as info:
            validate(v, tmp_path)
        msg = str(info.value)
        assert "\n" not in msg and ("must be" in msg or "not a" in msg), msg


# --- huge radii never take minutes ----------------------------------------------------------------

def test_large_dilate_and_erode_radii_cost_no_more_than_small_ones() -> None:
    m = np.zeros((512, 512), np.uint8)
    m[100:420, 120:400] = 1        # skin
    m[60:140, 140:380] = 13        # hair
    m[240:260, 180:220] = 4        # l_eye
    start = time.monotonic()
    grown = dilate(m, ["hair"], 1024)
    shrunk = erode(m, ["skin"], 1024)
    assert time.monotonic() - start < 5
    # the whole background is reachable: the hair takes all of it; skin and the eye stay
    assert not (grown == 0).any() and ((grown == 1) == (m == 1)).all() and ((grown == 4) == (m == 4)).all()
    assert not (shrunk == 1).any()            # the skin is gone, its pixels took their neighbours' labels
    near = dilate(m, ["hair"], 40)            # the distance-transform path agrees with the disk above 32 px
    assert ((near == 13) & (m == 0)).any() and not ((near == 13) & (m == 1)).any()
    small = apply_edits(m, "dilate:hair:12")  # small radii: the elliptical kernel, as before
    assert ((small == 13).sum() > (m == 13).sum()) and ((small == 13).sum() < (near == 13).sum())


# --- through the real command line ------------------------------------------------------------------

def _engine(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("masquerade: error:")
    return lines[0]


@pytest.mark.parametrize("args, needle", [
    (["--sigma", "1e9"], "sigma must be > 0 and ≤ 20 px, got 1000000000.0"),
    (["--k", "1e9"], "k must be > 1 and ≤ 10, got 1000000000.0"),
    (["--phi", "inf"], "phi must be a number > 0 and ≤ 10000, got inf"),
    (["--epsilon", "nan"], "epsilon must be a number in [-1, 1], got nan"),
])
def test_lineart_refuses_out_of_range_numbers(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "o.png"
    start = time.monotonic()
    line = _one_error_line(_engine("lineart", str(OPERA_SAMPLE), "--out", str(out), *args))
    assert needle in line and not out.exists()
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("edits, needle", [
    ("dilate:hair:100000", "dilate radius must be in [1, 1024] px, got 100000"),
    ("dilate:hair:5000", "dilate radius must be in [1, 1024] px, got 5000"),
    ("smile:1e9", "smile must be in [-256, 256] px"),
])
def test_regenerate_refuses_huge_edit_numbers_before_any_work(tmp_path: Path, edits: str, needle: str) -> None:
    out = tmp_path / "o.png"
    start = time.monotonic()
    line = _one_error_line(_engine("regenerate", str(OPERA_SAMPLE), "--out", str(out), "--edits", edits))
    assert needle in line and not out.exists()
    assert time.monotonic() - start < 60  # refused when parsed: no face analysis, no dilation


def test_batch_grid_out_of_range_is_refused_at_job_start(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    save_image(tmp_path / "in" / "a.png", np.full((16, 16, 3), 128, np.uint8))
    line = _one_error_line(_engine("batch", "lineart", "--input", str(tmp_path / "in"),
                                   "--output", str(tmp_path / "out"), "--grid", "sigma=0.8,1e9"))
    assert "sigma must be > 0 and ≤ 20 px" in line
    assert not (tmp_path / "out").exists()  # no manifest, no per-task error records


# --- a FIFO as input never blocks (issue 21 #6) -----------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("command", [
    ["lineart", "{fifo}", "--out", "{d}/o.png"],
    ["makeup", "{fifo}", "--out", "{d}/o.png", "--style", "retro"],
    ["opera", "classify", "{fifo}"],
])
def test_a_fifo_input_fails_at_once(tmp_path: Path, command: list[str]) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    start = time.monotonic()
    r = _engine(*[a.format(fifo=fifo, d=tmp_path) for a in command], timeout=60)  # a blocked open times out
    line = _one_error_line(r)
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in line
    assert not (tmp_path / "o.png").exists()
    assert time.monotonic() - start < 60
