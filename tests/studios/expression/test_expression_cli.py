"""``masquerade express``, ``masquerade anime generate`` and ``masquerade analyze --anime``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main
from engine.imageio import load_grey, load_image, save_image
from engine.procedural.anime_faces import generate_anime_face


def test_anime_generate(tmp_path, capsys):
    out, parts = tmp_path / "face.png", tmp_path / "face.json"
    assert main(["anime", "generate", "--seed", "4", "--size", "96", "--smile", "0.5",
                 "--out", str(out), "--parts-out", str(parts)]) == 0
    img = load_image(out)
    assert np.array_equal(img, generate_anime_face(4, 96, {"smile": 0.5}).image)
    doc = json.loads(parts.read_text())
    assert doc["expression"]["smile"] == 0.5 and len(doc["keypoints"]["mouth"]) == 4
    assert "wrote" in capsys.readouterr().out


def test_express_writes_result_and_attention(tmp_path):
    src = tmp_path / "in.png"
    save_image(src, generate_anime_face(3, 192).image)
    out, att = tmp_path / "out.png", tmp_path / "att.png"
    assert main(["express", str(src), "--out", str(out), "--smile", "1", "--attention-out", str(att)]) == 0
    before, after, mask = load_image(src), load_image(out), load_grey(att)
    assert after.shape == before.shape and mask.shape == before.shape[:2]
    changed = np.any(after != before, axis=-1)
    assert changed.any() and not np.any(changed & (mask == 0))


def test_express_no_face_exit_3(tmp_path, capsys):
    src = tmp_path / "flat.png"
    save_image(src, np.full((80, 80, 3), 120, np.uint8))
    assert main(["express", str(src), "--out", str(tmp_path / "o.png"), "--sad", "1"]) == 3
    assert f"no face found in {src}" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    assert main(["express", str(src), "--out", str(tmp_path / "o.png"), "--assume-crop"]) == 0


def test_express_bad_values(tmp_path):
    with pytest.raises(SystemExit):
        main(["express", "x.png", "--out", str(tmp_path / "o.png"), "--smile", "3"])
    assert main(["express", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o.png")]) == 1


def test_analyze_anime(tmp_path, capsys):
    src = tmp_path / "in.png"
    save_image(src, generate_anime_face(2, 160).image)
    out = tmp_path / "an"
    assert main(["analyze", str(src), "--out", str(out), "--anime"]) == 0
    doc = json.loads((out / "anime.json").read_text())
    assert len(doc["faces"]) >= 1 and set(doc["faces"][0]["parts"]) >= {"left_eye", "mouth"}
    assert load_image(out / "anime_parts.png").shape == (160, 160, 3)
    flat = tmp_path / "flat.png"
    save_image(flat, np.full((64, 64, 3), 200, np.uint8))
    assert main(["analyze", str(flat), "--out", str(tmp_path / "an2"), "--anime"]) == 3
    assert "no face found in" in capsys.readouterr().err


def test_batch_express_grid_and_manifest(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for s in (1, 2):
        save_image(src / f"f{s}.png", generate_anime_face(s, 128).image)
    save_image(src / "flat.png", np.full((64, 64, 3), 90, np.uint8))
    rc = main(["batch", "express", "--input", str(src), "--output", str(out),
               "--grid", "expression=smile,angry", "--grid", "intensity=0.5,1.0"])
    assert rc == 1  # the flat picture has no face: its tasks fail, the others are done
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    done = [r for r in rows if r["status"] == "done"]
    failed = [r for r in rows if r["status"] == "error"]
    assert len(done) == 8 and len(failed) == 4
    assert all("no anime face" in r["error"] for r in failed)
    img = load_image(out / done[0]["output"])
    assert img.shape == (128, 128, 3)
    assert not np.array_equal(img, load_image(src / done[0]["input"]))


def test_batch_express_params():
    from engine.studios.expression.batch import express_params

    assert express_params({"expression": "sad"})["expression"] == "sad"
    assert express_params({})["intensity"] == 1.0
    with pytest.raises(ValueError, match="unknown expression"):
        express_params({"expression": "happy"})
    with pytest.raises(ValueError, match="both"):
        express_params({"expression": "sad", "sad": 0.5})


def test_batch_express_procedural(tmp_path) -> None:
    import json

    import numpy as np

    from engine.cli import main
    from engine.imageio import load_image

    out = tmp_path / "out"
    rc = main(["batch", "express", "--procedural", "2", "--size", "96", "--output", str(out),
               "--grid", "expression=smile,surprised"])
    assert rc == 0
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and all(r["status"] == "done" and "seed" in r for r in lines)
    face = load_image(out / "seed000000__expressionsmile_face.png")
    result = load_image(out / "seed000000__expressionsmile_result.png")
    assert face.shape == result.shape == (96, 96, 3) and not np.array_equal(face, result)
    assert main(["batch", "express", "--procedural", "2", "--size", "96", "--output", str(out),
                 "--grid", "expression=smile,surprised"]) == 0  # resumes: nothing to redo


def test_express_backend_choice(tmp_path, capsys) -> None:
    from engine.cli import main

    face = tmp_path / "f.png"
    assert main(["anime", "generate", "--seed", "5", "--size", "256", "--out", str(face)]) == 0
    assert main(["express", str(face), "--out", str(tmp_path / "c.png"), "--smile", "1", "--backend", "classical"]) == 0
    assert "classical rig" in capsys.readouterr().out
    assert main(["express", str(face), "--out", str(tmp_path / "n.png"), "--smile", "1", "--backend", "neural"]) == 0
    assert "learned GAN" in capsys.readouterr().out  # the shipped demo checkpoint, chosen explicitly
