"""Smoke test of the frozen build (``make package-test``).

Runs the bundled executable, never the source tree, headless (``QT_QPA_PLATFORM=offscreen``):

1. the GUI: ``--open SAMPLE --studio opera --screenshot FILE`` → a 1280×800 PNG of the window with
   the opera line art of the sample on the canvas;
2. ``lineart`` → a grey PNG that is mostly paper with some ink, and ``batch lineart`` with 2 worker
   processes (``spawn`` re-runs the executable: proves ``freeze_support`` in the entry script);
3. ``analyze`` on the public-domain astronaut photo (written here from scikit-image) → one face with
   478 landmarks, found by MediaPipe: proves its ``.tflite`` models and native bindings are bundled;
4. ``weights list``, ``weights import`` of a generated LPIPS-heads file, ``weights verify`` → the
   model manager runs frozen (facexlib and torchvision architectures import from the bundle) and
   imports go to the user's weights folder, not into the bundle.

Each step prints its time; the script exits 1 at the first failure with the reason and the end of
the executable's output. The user's weights folder is replaced by a temporary one.

Usage: ``python packaging/smoke_test.py [dist/masquerade/masquerade]``
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXE = ROOT / "dist" / "masquerade" / ("masquerade.exe" if os.name == "nt" else "masquerade")
SAMPLE = ROOT / "resources" / "samples" / "opera_sample.png"
STEP_TIMEOUT_S = 300


class SmokeFailure(Exception):
    """One check failed; the message says which and why."""


def run(exe: Path, args: list[str], env: dict[str, str], expect_rc: int = 0) -> str:
    """Run the executable; return its combined output, or raise when the exit code differs."""
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    out = proc.stdout + proc.stderr
    print(f"  {' '.join(args[:2])}: exit {proc.returncode} in {time.perf_counter() - t0:.1f} s", flush=True)
    if proc.returncode != expect_rc:
        raise SmokeFailure(f"`{' '.join(args)}` exited {proc.returncode} (expected {expect_rc}):\n{out[-3000:]}")
    return out


def check_screenshot(path: Path) -> None:
    """The window: right size, not blank, the canvas shows mostly-white line art with ink."""
    if not path.is_file():
        raise SmokeFailure(f"{path} was not written")
    img = np.asarray(Image.open(path).convert("RGB"))
    if img.shape[:2] != (800, 1280):
        raise SmokeFailure(f"screenshot is {img.shape[1]}x{img.shape[0]}, expected 1280x800")
    if img.std() < 20:
        raise SmokeFailure(f"screenshot looks blank (pixel std {img.std():.1f})")
    canvas = img[100:700, 200:800].astype(int)  # inside the canvas, away from the panels
    grey = canvas.mean(2)
    ink, paper = (grey < 80).mean(), (grey > 200).mean()
    if not (0.005 < ink < 0.5 and paper > 0.2):
        raise SmokeFailure(f"canvas does not show line art (ink {ink:.3f}, paper {paper:.3f})")


def check_lineart(path: Path) -> None:
    """A grey image the size of the sample, mostly paper, with some ink."""
    img = np.asarray(Image.open(path).convert("L"))
    src = Image.open(SAMPLE)
    if img.shape != (src.height, src.width):
        raise SmokeFailure(f"lineart is {img.shape}, expected {(src.height, src.width)}")
    ink = (img < 128).mean()
    if not (0.005 < ink < 0.5):
        raise SmokeFailure(f"lineart ink fraction {ink:.3f} is implausible")


def check_analysis(folder: Path) -> None:
    """One face, 478 landmarks, detected by MediaPipe, and a non-empty parsing map."""
    doc = json.loads((folder / "landmarks.json").read_text())
    if len(doc["faces"]) != 1:
        raise SmokeFailure(f"expected 1 face in the astronaut, got {len(doc['faces'])}")
    face = doc["faces"][0]
    n = len(face.get("landmarks") or [])
    if n != 478:
        raise SmokeFailure(f"expected 478 landmarks, got {n}")
    if "mediapipe" not in str(doc["backends"].get("detector")):
        raise SmokeFailure(f"detector was {doc['backends']}, expected MediaPipe")
    parsing = np.asarray(Image.open(folder / "parsing.png"))
    if (parsing > 0).mean() < 0.02:
        raise SmokeFailure("parsing map is (almost) empty")


def main(argv: list[str]) -> int:
    exe = Path(argv[0]) if argv else DEFAULT_EXE
    if not exe.is_file():
        print(f"smoke test: {exe} not found; run `make package` first", file=sys.stderr)
        return 1
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="masquerade-smoke-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MASQUERADE_WEIGHTS_DIR=str(tmp / "weights"),
                   XDG_CONFIG_HOME=str(tmp / "config"), MASQUERADE_DEVICE="cpu")
        for var in ("MASQUERADE_CHECKPOINTS", "MASQUERADE_FACEXLIB_DIR"):
            env.pop(var, None)
        try:
            print(f"smoke test of {exe}")
            shot = tmp / "window.png"
            run(exe, ["--open", str(SAMPLE), "--studio", "opera", "--screenshot", str(shot)], env)
            check_screenshot(shot)

            line = tmp / "line.png"
            run(exe, ["lineart", str(SAMPLE), "--out", str(line)], env)
            check_lineart(line)

            batch_in, batch_out = tmp / "batch_in", tmp / "batch_out"
            batch_in.mkdir()
            for i in range(3):
                (batch_in / f"s{i}.png").write_bytes(SAMPLE.read_bytes())
            run(exe, ["batch", "lineart", "--input", str(batch_in), "--output", str(batch_out), "--workers", "2"], env)
            made = sorted(p.name for p in batch_out.glob("*.png"))
            if made != ["s0.png", "s1.png", "s2.png"]:
                raise SmokeFailure(f"batch lineart with 2 worker processes wrote {made}")

            from skimage import (
                data,  # the public-domain astronaut photo, shipped by scikit-image
            )

            photo = tmp / "astronaut.png"
            Image.fromarray(data.astronaut()).save(photo)
            run(exe, ["analyze", str(photo), "--out", str(tmp / "faces")], env)
            check_analysis(tmp / "faces")

            listing = run(exe, ["weights", "list"], env)
            if "RetinaFace" not in listing or "ParseNet" not in listing:
                raise SmokeFailure(f"`weights list` does not list the facexlib models:\n{listing[-2000:]}")
            import torch  # a user-downloaded file: LPIPS v0.1 heads, made here with its real tensor names

            heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
            download = tmp / "vgg.pth"
            torch.save(heads, download)
            run(exe, ["weights", "import", str(download)], env)
            installed = tmp / "weights" / "third_party" / "lpips_vgg_v0.1.pth"  # the user's folder, not the bundle
            if not installed.is_file():
                raise SmokeFailure(f"`weights import` did not write {installed}")
            verified = run(exe, ["weights", "verify"], env)  # also checks the checkpoints bundled from checkpoints/
            if not re.search(r"verified \d+ present file\(s\): 0 failed", verified) or str(installed) not in verified:
                raise SmokeFailure(f"`weights verify` after the import:\n{verified[-2000:]}")
        except (SmokeFailure, subprocess.TimeoutExpired) as exc:
            print(f"smoke test FAILED: {exc}", file=sys.stderr)
            return 1
    print(f"smoke test passed in {time.perf_counter() - t_all:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
