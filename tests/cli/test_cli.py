"""The ``masquerade`` command line: lineart, errors, GUI --screenshot (offscreen)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.imageio import load_image, save_image
from engine.procedural.samples import OPERA_SAMPLE
from engine.studios.opera.classical import XDoGParams, xdog

REPO = Path(__file__).resolve().parents[2]


def masq(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["XDG_CONFIG_HOME"] = env.get("MASQUERADE_TEST_SETTINGS", "/tmp")  # keep user settings out
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def test_lineart_command_matches_engine(tmp_path: Path) -> None:
    out = tmp_path / "line.png"
    r = masq("lineart", str(OPERA_SAMPLE), "--out", str(out), "--sigma", "1.2", "--threshold", "0.5")
    assert r.returncode == 0, r.stderr
    expected = xdog(load_image(OPERA_SAMPLE), XDoGParams(sigma=1.2, threshold=0.5))
    assert np.array_equal(load_image(out)[:, :, 0], expected)


@pytest.mark.parametrize("setup,args,needle", [
    ("missing", ["lineart", "{d}/nope.png", "--out", "{d}/o.png"], "file not found"),
    ("garbage", ["lineart", "{d}/bad.png", "--out", "{d}/o.png"], "not an image"),
    ("ok", ["lineart", "{d}/ok.png", "--out", "{d}/o.xyz"], "unknown image extension"),
    ("ok", ["lineart", "{d}/ok.png", "--out", "{d}/o.png", "--sigma", "-1"], "sigma must be > 0"),
])
def test_lineart_errors_are_one_line(tmp_path: Path, setup: str, args: list[str], needle: str) -> None:
    (tmp_path / "bad.png").write_bytes(b"garbage")
    save_image(tmp_path / "ok.png", np.zeros((8, 8, 3), np.uint8))
    r = masq(*[a.format(d=tmp_path) for a in args])
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("masquerade: error:") and needle in lines[0], r.stderr
    assert not (tmp_path / "o.png").exists()


def test_screenshot_of_the_main_window(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    r = masq("--open", str(OPERA_SAMPLE), "--studio", "opera", "--screenshot", str(shot), "--size", "900x600")
    assert r.returncode == 0, r.stderr
    img = load_image(shot)
    assert img.shape == (600, 900, 3)
    # the canvas shows line art: plenty of white paper and some black lines
    assert (img > 240).all(axis=2).mean() > 0.2 and (img < 40).all(axis=2).mean() > 0.005


def test_screenshot_with_unreadable_image_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 nope")
    r = masq("--open", str(bad), "--screenshot", str(tmp_path / "s.png"))
    assert r.returncode == 1
    assert "bad.jpg" in r.stderr and not (tmp_path / "s.png").exists()


def test_unknown_studio_is_refused(tmp_path: Path) -> None:
    r = masq("--studio", "nope", "--screenshot", str(tmp_path / "s.png"))
    assert r.returncode == 2 and "available: opera" in r.stderr
