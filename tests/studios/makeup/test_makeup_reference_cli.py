"""``masquerade makeup --reference / --<region>-reference / --remove / --save-style`` and
``masquerade batch makeup --reference`` (resume)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

from engine.cli import main
from engine.imageio import load_image, save_image
from engine.studios.makeup.params import load_style_file


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A face, two made-up versions of it as references, and a faceless picture."""
    from engine.studios.makeup.editor import MakeupEditor
    from engine.studios.makeup.params import MakeupParams, load_styles

    d = tmp_path_factory.mktemp("mkref")
    astro = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    ed = MakeupEditor("classical", styles=load_styles(include_user_dir=False))
    ed.set_image(astro)
    save_image(d / "astro.png", astro)
    save_image(d / "red.png", ed.edit(MakeupParams({"lips": "retro", "eyeshadow": "smoky"})).image)
    save_image(d / "pink.png", ed.edit(MakeupParams({"lips": "korean", "eyeshadow": "colorful"})).image)
    save_image(d / "flat.png", np.full((64, 64, 3), 128, np.uint8))
    return d


def test_makeup_cli_reference_per_region_and_save_style(folder, tmp_path, capfd):
    out, masks, styles = tmp_path / "out.png", tmp_path / "masks", tmp_path / "mine.json"
    rc = main(["makeup", str(folder / "astro.png"), "--reference", str(folder / "red.png"),
               "--regions", "lips,eyeshadow", "--eyeshadow-reference", str(folder / "pink.png"),
               "--out", str(out), "--masks-out", str(masks), "--save-style", "red_pink", "--styles-out", str(styles)])
    cap = capfd.readouterr()
    assert rc == 0, cap.err
    assert "lips=photo red.png" in cap.out and "eyeshadow=photo pink.png" in cap.out
    src, res = load_image(folder / "astro.png"), load_image(out)
    changed = load_image(masks / "changed.png")[..., 0] > 0
    assert np.array_equal(res[~changed], src[~changed]) and (res != src).any()
    assert sorted(p.name for p in masks.glob("*.png")) == ["changed.png", "eyeshadow.png", "lips.png"]
    saved = load_style_file(styles)["red_pink"]
    assert sorted(saved.regions) == ["eyeshadow", "lips"] and saved.regions["lips"].relative
    # the saved style paints what the photos painted
    again = tmp_path / "again.png"
    assert main(["makeup", str(folder / "astro.png"), "--lips", "red_pink", "--eyeshadow", "red_pink",
                 "--styles-file", str(styles), "--out", str(again)]) == 0
    assert np.abs(load_image(again).astype(int) - res).max() <= 1


def test_makeup_cli_remove(folder, tmp_path):
    out, masks = tmp_path / "bare.png", tmp_path / "m"
    assert main(["makeup", str(folder / "red.png"), "--remove", "1", "--out", str(out), "--masks-out", str(masks)]) == 0
    assert sorted(p.stem for p in masks.glob("*.png")) == ["changed", "cheek", "eyeliner", "eyeshadow", "lips"]
    lips = load_image(masks / "lips.png")[..., 0] > 128
    red, bare = (cv2.cvtColor(load_image(p).astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[lips].mean(0)
                 for p in (folder / "red.png", out))
    assert np.linalg.norm(bare - red) > 5  # the lips moved (towards bare: tested in test_makeup_reference)
    changed = load_image(masks / "changed.png")[..., 0] > 0
    assert np.array_equal(load_image(out)[~changed], load_image(folder / "red.png")[~changed])


def test_makeup_cli_reference_errors(folder, tmp_path, capfd):
    out = tmp_path / "x.png"
    assert main(["makeup", str(folder / "astro.png"), "--reference", str(folder / "flat.png"), "--out", str(out)]) == 3
    assert "no face found in the reference" in capfd.readouterr().err
    assert main(["makeup", str(folder / "astro.png"), "--reference", str(tmp_path / "nope.jpg"), "--out", str(out)]) == 1
    assert "reference photo" in capfd.readouterr().err
    assert main(["makeup", str(folder / "astro.png"), "--lips", "retro", "--save-style", "x", "--out", str(out)]) == 1
    assert "--save-style needs" in capfd.readouterr().err
    assert main(["makeup", str(folder / "astro.png"), "--reference", str(folder / "red.png"),
                 "--out", str(folder / "red.png")]) == 1  # never overwrites an input
    capfd.readouterr()
    assert not out.exists()


def test_batch_makeup_reference_resumes(folder, tmp_path, capfd):
    inp = tmp_path / "in"
    inp.mkdir()
    for name in ("astro.png", "flat.png"):
        (inp / name).write_bytes((folder / name).read_bytes())
    out = tmp_path / "b"
    args = ["batch", "makeup", "--input", str(inp), "--output", str(out), "--grid",
            f"reference={folder / 'red.png'},{folder / 'pink.png'}", "--regions", "lips", "--remove", "0.5"]
    assert main(args) == 1  # the faceless picture fails, the face is done with both references
    capfd.readouterr()
    made = sorted(out.glob("astro__*.png"))
    assert len(made) == 2
    a, b = (load_image(p) for p in made)
    assert (a != b).any()
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sum(r["status"] == "done" for r in rows) == 2
    stamp = [p.stat().st_mtime_ns for p in made]
    assert main(args) == 1  # resumed: nothing done twice
    assert "0 done, 2 skipped" in capfd.readouterr().out
    assert [p.stat().st_mtime_ns for p in made] == stamp
