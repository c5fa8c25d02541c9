"""``masquerade opera generate|colorize|classify``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.imageio import load_image
from engine.procedural.lianpu import generate_lianpu

REPO = Path(__file__).resolve().parents[3]


def test_generate_writes_transparent_png_lineart_and_regions(tmp_path: Path) -> None:
    out, line, reg = tmp_path / "m.png", tmp_path / "l.png", tmp_path / "r.png"
    assert main(["opera", "generate", "--seed", "4", "--color", "purple", "--size", "128", "--out", str(out),
                 "--lineart", str(line), "--regions", str(reg)]) == 0
    d = generate_lianpu(4, "purple", 128)
    rgba = np.asarray(Image.open(out))
    assert rgba.shape == (128, 128, 4) and rgba[0, 0, 3] == 0 and rgba[64, 64, 3] == 255
    assert np.array_equal(rgba[..., :3], d.image)
    assert np.array_equal(np.asarray(Image.open(line)), d.line_art)
    assert np.array_equal(np.asarray(Image.open(reg)), d.regions)


def test_colorize_and_classify_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sketch, ref = tmp_path / "s.png", tmp_path / "ref.png"
    main(["opera", "generate", "--seed", "1", "--size", "160", "--out", str(tmp_path / "x.png"),
          "--lineart", str(sketch)])
    main(["opera", "generate", "--seed", "2", "--color", "blue", "--size", "200", "--out", str(ref)])
    out, warped = tmp_path / "c.jpg", tmp_path / "w.png"
    assert main(["opera", "colorize", str(sketch), "--reference", str(ref), "--out", str(out),
                 "--warped", str(warped)]) == 0
    assert load_image(out).shape == (160, 160, 3) and load_image(warped).shape == (160, 160, 3)
    capsys.readouterr()
    assert main(["opera", "classify", str(out), "--scores"]) == 0
    engine, text = capsys.readouterr().out.split("\n", 1)
    assert engine.startswith("engine: classical (")  # which engine ran and why, first (issue 21)
    assert text.startswith("blue: ") and "valour" in text and "red" in text


def test_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "engine", "opera", "classify", str(tmp_path / "missing.png")],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("masquerade: error:")
    r = subprocess.run([sys.executable, "-m", "engine", "opera", "generate", "--seed", "1", "--color", "pink",
                        "--out", str(tmp_path / "x.png")], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and not (tmp_path / "x.png").exists()


def _colorize_job(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two generated sketches, a green reference and the output folder of a ``batch colorize``."""
    sketches = tmp_path / "in"
    sketches.mkdir()
    for s in (1, 2):
        Image.fromarray(generate_lianpu(s, size=96).line_art).save(sketches / f"s{s}.png")
    ref = tmp_path / "ref.png"
    Image.fromarray(generate_lianpu(5, colour="green", size=128).image).save(ref)
    return sketches, ref, tmp_path / "out"


def test_batch_colorize(tmp_path: Path) -> None:
    sketches, ref, out = _colorize_job(tmp_path)
    assert main(["batch", "colorize", "--input", str(sketches), "--reference", str(ref), "--output", str(out)]) == 0
    from engine.studios.opera.classical import classify_main_colour

    results = sorted(out.glob("*.png"))
    assert len(results) == 2 and (out / "manifest.jsonl").is_file()
    assert all(classify_main_colour(load_image(p)).colour == "green" for p in results)
    assert main(["batch", "colorize", "--input", str(sketches), "--reference", str(tmp_path / "nope.png"),
                 "--output", str(out)]) == 1


def test_batch_colorize_passes_the_extractor_and_resumes(tmp_path: Path, monkeypatch) -> None:
    """``batch colorize --extractor hed`` colours with ``ColorizeParams(extractor="hed")`` (the HED
    net replaced by a recording stand-in: the wiring, not HED), a second run resumes, and an XDoG
    job keeps the identity it had before the option (no ``extractor`` in its parameters)."""
    from engine.batch import JobSpec, run_batch
    from engine.batch.plan import BatchError
    from engine.studios.opera import hed as hed_module
    from engine.studios.opera.batch import colorize_batch_params
    from engine.studios.opera.classical import colorize, xdog
    from engine.studios.opera.params import ColorizeParams, XDoGParams

    calls: list[tuple[int, ...]] = []

    def fake_hed(image: np.ndarray, *args, **kwargs) -> np.ndarray:
        calls.append(image.shape)
        return xdog(image, XDoGParams(sigma=2.0, threshold=0.5))

    monkeypatch.setattr(hed_module, "hed_line_art", fake_hed)
    sketches, ref, out = _colorize_job(tmp_path)
    assert main(["batch", "colorize", "--input", str(sketches), "--reference", str(ref), "--output", str(out),
                 "--extractor", "hed", "--workers", "1"]) == 0
    assert calls  # the reference's strokes were found with HED
    for s in (1, 2):
        expected = colorize(load_image(sketches / f"s{s}.png"), load_image(ref), ColorizeParams(extractor="hed"))
        assert np.array_equal(load_image(out / f"s{s}.png"), expected.image)
    spec = JobSpec("colorize", sketches, out, params={"reference": str(ref), "extractor": "hed"})
    again = run_batch(spec)
    assert (again.done, again.skipped, again.failed) == (0, 2, 0)
    with pytest.raises(BatchError, match="different job"):
        run_batch(JobSpec("colorize", sketches, out, params={"reference": str(ref)}))
    assert colorize_batch_params({"reference": str(ref), "extractor": "xdog"}) == {"reference": str(ref.resolve()),
                                                                                   "gap": None}
    with pytest.raises(ValueError, match="extractor"):
        colorize_batch_params({"reference": str(ref), "extractor": "canny"})
