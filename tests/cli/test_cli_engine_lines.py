"""Issue 21, command-line leftovers, through the real command line (``python -m engine``):

* ``analyze --out DIR`` and ``makeup --masks-out DIR`` refuse to write over the input unless ``--overwrite``;
* ``batch`` jobs of studios with a learned engine print ``engine: <backend> (<reason>)`` once at start
  (an ``auto`` fall-back says why; an explicit learned request that cannot run fails in one line);
* ``makeup --style smoky --lips none`` leaves the lips alone, and the manifest says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from engine.imageio import load_image, save_image
from engine.weights.store import PROJECT_CHECKPOINTS

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "samples" / "opera_sample.png"


def masquerade(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=300,
                          env=full, cwd=REPO)


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("masquerade: error: "), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def engine_lines(proc: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [ln for ln in proc.stdout.splitlines() if ln.startswith("engine: ")]


def override(folder: Path, stem: str, *, flip: bool = False) -> dict[str, str]:
    """A ``MASQUERADE_CHECKPOINTS`` folder holding ``stem`` marked better (weights flipped when asked)."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".safetensors"):
        shutil.copyfile(PROJECT_CHECKPOINTS / f"{stem}{suffix}", folder / f"{stem}{suffix}")
    card = json.loads((folder / f"{stem}.json").read_text())
    card["verdict"] = dict(card.get("verdict") or {"compared_with": "classical", "measure": "test"}, better=True)
    (folder / f"{stem}.json").write_text(json.dumps(card))
    if flip:
        w = folder / f"{stem}.safetensors"
        raw = bytearray(w.read_bytes())
        raw[-100] ^= 0xFF
        w.write_bytes(bytes(raw))
    return {"MASQUERADE_CHECKPOINTS": str(folder)}


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """A folder with one 256² face photo (``astro.png``)."""
    d = tmp_path_factory.mktemp("faces")
    save_image(d / "astro.png", cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA))
    return d


@pytest.fixture(scope="module")
def blank(tmp_path_factory) -> Path:
    """A folder with one small picture without a face (tasks fail fast with ``no face found``)."""
    d = tmp_path_factory.mktemp("blank")
    save_image(d / "flat.png", np.full((48, 48, 3), 128, np.uint8))
    return d


# --- outputs that are the input ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "anime"), [("parsing.png", False), ("parsing_color.png", False),
                                             ("anime_parts.png", True)])
def test_analyze_refuses_an_output_file_that_is_the_input(tmp_path: Path, name: str, anime: bool) -> None:
    image = tmp_path / name
    save_image(image, np.full((48, 48, 3), 90, np.uint8))
    before = image.read_bytes()
    extra = ["--anime"] if anime else []
    line = assert_one_line_error(masquerade("analyze", str(image), "--out", str(tmp_path), *extra),
                                 "is the input file", "--overwrite")
    assert name in line and image.read_bytes() == before
    # with --overwrite the check lets it through (this picture has no face: exit 3, nothing written)
    r = masquerade("analyze", str(image), "--out", str(tmp_path), "--overwrite", *extra)
    assert r.returncode == 3 and "no face found" in r.stderr and image.read_bytes() == before


def test_makeup_masks_out_refuses_a_mask_file_that_is_the_input(tmp_path: Path, blank: Path) -> None:
    for name in ("lips.png", "changed.png"):
        image = tmp_path / name
        shutil.copyfile(blank / "flat.png", image)
        before = image.read_bytes()
        args = ["makeup", str(image), "--out", str(tmp_path / "out.png"), "--lips", "retro",
                "--masks-out", str(tmp_path)]
        assert_one_line_error(masquerade(*args), "--masks-out is the input file", name)
        assert image.read_bytes() == before and not (tmp_path / "out.png").exists()
        r = masquerade(*args, "--overwrite")  # allowed: goes on to the face search
        assert r.returncode == 3 and "no face found" in r.stderr
    # a region that is not painted writes no mask: its name is no conflict
    image = tmp_path / "cheek.png"
    shutil.copyfile(blank / "flat.png", image)
    r = masquerade("makeup", str(image), "--out", str(tmp_path / "out.png"), "--lips", "retro",
                   "--masks-out", str(tmp_path))
    assert r.returncode == 3 and "no face found" in r.stderr


# --- makeup: an explicit none switches the region off ---------------------------------------------

def test_makeup_explicit_none_leaves_the_lips_alone(tmp_path: Path, faces: Path) -> None:
    astro = faces / "astro.png"
    off = masquerade("makeup", str(astro), "--out", str(tmp_path / "off.png"), "--style", "smoky",
                     "--regions", "lips+eyeshadow", "--lips", "none", "--masks-out", str(tmp_path / "m"))
    assert off.returncode == 0, off.stderr
    assert "eyeshadow=smoky" in off.stdout and "lips=" not in off.stdout
    assert not (tmp_path / "m" / "lips.png").exists() and (tmp_path / "m" / "eyeshadow.png").exists()
    alone = masquerade("makeup", str(astro), "--out", str(tmp_path / "alone.png"), "--eyeshadow", "smoky")
    assert alone.returncode == 0, alone.stderr
    assert np.array_equal(load_image(tmp_path / "off.png"), load_image(tmp_path / "alone.png"))
    lips = masquerade("makeup", str(astro), "--out", str(tmp_path / "lips.png"), "--style", "smoky",
                      "--regions", "lips+eyeshadow")
    assert lips.returncode == 0 and "lips=smoky" in lips.stdout  # not given: the global style paints it

    # batch: --lips none and a grid value none are off too, the manifest says so, the images agree
    out = tmp_path / "batch"
    r = masquerade("batch", "makeup", "--input", str(faces), "--output", str(out), "--style", "smoky",
                   "--regions", "lips+eyeshadow", "--grid", "lips=none,retro")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    done = {row["params"]["lips"]: row for row in rows if row.get("status") == "done"}
    assert set(done) == {"none", "retro"}
    assert done["none"]["params"]["eyeshadow"] == "smoky" and done["none"]["params"]["style"] == "smoky"
    assert np.array_equal(load_image(out / done["none"]["output"]), load_image(tmp_path / "alone.png"))
    assert not np.array_equal(load_image(out / done["retro"]["output"]), load_image(tmp_path / "alone.png"))
    out2 = tmp_path / "batch2"
    r = masquerade("batch", "makeup", "--input", str(faces), "--output", str(out2), "--style", "smoky",
                   "--regions", "lips+eyeshadow", "--lips", "none")
    assert r.returncode == 0, r.stderr
    (row,) = [json.loads(x) for x in (out2 / "manifest.jsonl").read_text().splitlines()
              if json.loads(x).get("status") == "done"]
    assert row["params"]["lips"] == "none"
    assert np.array_equal(load_image(out2 / row["output"]), load_image(tmp_path / "alone.png"))


# --- batch: the engine line -----------------------------------------------------------------------

def test_batch_ops_with_a_learned_twin_print_their_engine_once(tmp_path: Path, blank: Path) -> None:
    sketches = tmp_path / "sketches"
    sketches.mkdir()
    assert masquerade("opera", "generate", "--seed", "3", "--size", "128", "--out", str(tmp_path / "ref.png"),
                      "--lineart", str(sketches / "s.png")).returncode == 0
    jobs = {
        "colorize": (["--input", str(sketches), "--reference", str(tmp_path / "ref.png")],
                     "classical region correspondence: batch colorize runs the classical engine only"),
        "makeup": (["--input", str(blank), "--grid", "style=retro,smoky"],
                   "the classical renderer: batch makeup runs the classical engine only"),
        "regenerate": (["--input", str(blank), "--grid", "edits=dilate:hair:3,erode:hair:3"],
                       "classical region warping: batch regenerate runs the classical engine only"),
        "express": (["--input", str(blank)], "the classical warp rig: the learned expression GAN did not measure"),
    }
    for op, (args, reason) in jobs.items():
        r = masquerade("batch", op, "--output", str(tmp_path / op), *args)
        assert r.returncode in (0, 1), (op, r.stderr)
        assert engine_lines(r) == [engine_lines(r)[0]] and engine_lines(r)[0].startswith("engine: classical ("), op
        assert reason in engine_lines(r)[0], (op, engine_lines(r))
        assert r.stdout.index("engine: ") < r.stdout.index(f"batch {op}: "), op  # at start, before the summary
    r = masquerade("batch", "express", "--procedural", "1", "--size", "64", "--output", str(tmp_path / "proc"))
    assert r.returncode == 0, r.stderr
    assert engine_lines(r) == ["engine: classical (the classical warp rig: batch express --procedural runs "
                               "the classical engine only)"]
    r = masquerade("batch", "lineart", "--input", str(blank), "--output", str(tmp_path / "la"))
    assert r.returncode == 0 and engine_lines(r) == []  # no learned twin, no line


def test_batch_wear_mask_says_which_fitting_runs(tmp_path: Path, blank: Path) -> None:
    r = masquerade("batch", "wear-mask", "--input", str(blank), "--output", str(tmp_path / "a"))
    (line,) = engine_lines(r)
    assert line.startswith("engine: neural (the learned mask refiner measured better"), line  # its card says so
    r = masquerade("batch", "wear-mask", "--input", str(blank), "--output", str(tmp_path / "b"),
                   "--grid", "method=auto,keypoint")
    assert engine_lines(r) == [line + " [method=auto]",
                               "engine: classical (the key-point fit requested) [method=keypoint]"]
    r = masquerade("batch", "wear-mask", "--input", str(blank), "--output", str(tmp_path / "c"), "--method", "keypoint")
    assert engine_lines(r) == ["engine: classical (the key-point fit requested)"]


def test_batch_auto_falls_back_from_a_corrupt_checkpoint_and_explicit_fails(tmp_path: Path, blank: Path) -> None:
    env = override(tmp_path / "ck", "maskwear_stn_g", flip=True)
    r = masquerade("batch", "wear-mask", "--input", str(blank), "--output", str(tmp_path / "auto"), env=env)
    (line,) = engine_lines(r)
    assert line.startswith("engine: classical (the key-point fit: the learned mask refiner cannot be loaded"), line
    assert (tmp_path / "auto" / "manifest.jsonl").exists()  # the job ran, on the key-point fit
    r = masquerade("batch", "wear-mask", "--input", str(blank), "--output", str(tmp_path / "explicit"),
                   "--method", "learned", env=env)
    assert_one_line_error(r, "cannot be loaded")
    assert not (tmp_path / "explicit").exists()  # refused before any work

    env = override(tmp_path / "ck2", "expression_gan_g", flip=True)
    r = masquerade("batch", "express", "--input", str(blank), "--output", str(tmp_path / "expr"), env=env)
    (line,) = engine_lines(r)
    assert line.startswith("engine: classical (the classical warp rig: the learned expression GAN cannot be "
                           "loaded"), line
