"""``masquerade analyze``: files, JSON layout, no-face exit code 3, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from engine.imageio import save_image

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True,
                          timeout=180, cwd=REPO, env=dict(os.environ))


def test_analyze_writes_landmarks_and_parsing(tmp_path: Path) -> None:
    img = save_image(tmp_path / "astro.png", data.astronaut())
    out = tmp_path / "out"
    r = run("analyze", str(img), "--out", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "landmarks.json").read_text())
    assert len(doc["faces"]) == 1
    face = doc["faces"][0]
    assert len(face["box"]) == 4 and 0 < face["score"] <= 1
    assert len(face["landmarks"]) == 478 and len(face["landmarks"][0]) == 2
    parsing = Image.open(out / "parsing.png")
    assert parsing.mode == "L" and parsing.size == (512, 512)
    assert np.asarray(parsing).max() <= 18
    color = Image.open(out / "parsing_color.png")
    assert color.mode == "RGB" and color.size == (512, 512)
    assert r.stderr.strip() == ""  # native library chatter is kept off the terminal


def test_no_face_exits_3(tmp_path: Path) -> None:
    img = save_image(tmp_path / "wall.png", np.full((80, 80, 3), 120, np.uint8))
    r = run("analyze", str(img), "--out", str(tmp_path / "o"))
    assert r.returncode == 3
    assert r.stderr.strip() == f"no face found in {img}"
    assert not (tmp_path / "o" / "landmarks.json").exists()


def test_unreadable_image_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    r = run("analyze", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and r.stderr.strip().startswith("masquerade: error:")
    assert len(r.stderr.strip().splitlines()) == 1
