"""``masquerade regenerate`` / ``parse-edit``: outputs, mask orders, no face → exit 3, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.imageio import load_image, save_image
from engine.labels import CELEBAMASK_HQ
from engine.studios.regenerate.edits import load_label_map, save_label_map


@pytest.fixture(scope="module")
def astro(tmp_path_factory):
    from skimage import data

    d = tmp_path_factory.mktemp("regen")
    img = data.astronaut()[:320, 64:384]
    save_image(d / "a.png", img)
    return d / "a.png", img


def test_parse_edit_then_regenerate(astro, tmp_path, capsys) -> None:
    src, img = astro
    mask = tmp_path / "m.png"
    assert main(["parse-edit", str(src), "--out", str(mask), "--edits", "scale:l_eye+r_eye:1.3",
                 "--color-out", str(tmp_path / "c.png")]) == 0
    lab = load_label_map(mask)
    assert lab.shape == img.shape[:2] and (tmp_path / "c.png").exists()
    out = tmp_path / "r.png"
    assert main(["regenerate", str(src), "--mask", str(mask), "--out", str(out)]) == 0
    res = load_image(out)
    assert res.shape == img.shape and not np.array_equal(res, img)
    assert "l_eye" in capsys.readouterr().out
    # unchanged mask → unchanged image
    assert main(["parse-edit", str(src), "--out", str(tmp_path / "p.png")]) == 0
    assert main(["regenerate", str(src), "--mask", str(tmp_path / "p.png"), "--out", str(tmp_path / "i.png")]) == 0
    assert np.array_equal(load_image(tmp_path / "i.png"), img)


def test_bisenet_order_mask_and_reference(astro, tmp_path) -> None:
    src, img = astro
    assert main(["parse-edit", str(src), "--out", str(tmp_path / "b.png"), "--mask-order", "bisenet",
                 "--edits", "dilate:hair:6"]) == 0
    raw = np.asarray(Image.open(tmp_path / "b.png"))
    assert (raw == 17).any()  # hair is 17 in BiSeNet order
    ref = np.clip(img * np.array([1.0, 0.85, 0.5]), 0, 255).astype(np.uint8)  # a warmer reference
    save_image(tmp_path / "ref.png", ref)
    out = tmp_path / "r.png"
    assert main(["regenerate", str(src), "--mask", str(tmp_path / "b.png"), "--mask-order", "bisenet",
                 "--reference", str(tmp_path / "ref.png"), "--regions", "hair", "--out", str(out),
                 "--mask-out", str(tmp_path / "used.png")]) == 0
    used = load_label_map(tmp_path / "used.png")
    hair = used == CELEBAMASK_HQ.index("hair")
    res = load_image(out)
    assert abs(float(res[hair][:, 2].mean()) - float(ref[hair][:, 2].mean())) < \
        0.5 * abs(float(img[hair][:, 2].mean()) - float(ref[hair][:, 2].mean()))


def test_edits_without_mask(astro, tmp_path) -> None:
    src, img = astro
    assert main(["regenerate", str(src), "--edits", "add:glasses", "--out", str(tmp_path / "g.png")]) == 0
    assert not np.array_equal(load_image(tmp_path / "g.png"), img)


def test_no_face_exit_3(tmp_path, capsys) -> None:
    blank = tmp_path / "blank.png"
    save_image(blank, np.full((80, 80, 3), 120, np.uint8))
    save_label_map(tmp_path / "m.png", np.zeros((80, 80), np.uint8))
    assert main(["regenerate", str(blank), "--mask", str(tmp_path / "m.png"), "--out", str(tmp_path / "o.png")]) == 3
    assert f"no face found in {blank}" in capsys.readouterr().err
    assert main(["parse-edit", str(blank), "--out", str(tmp_path / "o.png")]) == 3
    assert not (tmp_path / "o.png").exists()


def test_bad_input(astro, tmp_path, capsys) -> None:
    src, _ = astro
    assert main(["regenerate", str(src), "--edits", "grow:hair:2", "--out", str(tmp_path / "o.png")]) == 1
    assert "unknown label edit" in capsys.readouterr().err
    assert main(["regenerate", str(src), "--regions", "hair", "--out", str(tmp_path / "o.png")]) == 1
    assert main(["regenerate", str(src), "--mask", str(tmp_path / "none.png"), "--out", str(tmp_path / "o.png")]) == 1
    save_label_map(tmp_path / "wide.png", np.zeros((10, 80), np.uint8))
    assert main(["regenerate", str(src), "--mask", str(tmp_path / "wide.png"), "--out", str(tmp_path / "o.png")]) == 1
    assert "aspect" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_stderr_is_clean(astro, tmp_path) -> None:
    import subprocess
    import sys

    src, _ = astro
    r = subprocess.run([sys.executable, "-m", "engine", "regenerate", str(src), "--edits", "smile:3",
                        "--out", str(tmp_path / "o.png")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ""


def test_batch_regenerate_params_and_run(astro, tmp_path) -> None:
    from engine.studios.regenerate.batch import regenerate_params

    p = regenerate_params({"edits": " dilate:hair:4 ; add:glasses"})
    assert p == {"edits": "dilate:hair:4;add:glasses", "reference": "", "regions": "", "blend": 1.0}
    for bad, msg in (({"edits": "grow:x"}, "unknown label edit"), ({"regions": "hair"}, "reference"),
                     ({"reference": "r.png", "regions": "hairs"}, "region"), ({"blend": 3}, "blend"),
                     ({"colour": 1}, "unknown regenerate parameter")):
        with pytest.raises(ValueError, match=msg):
            regenerate_params(bad)
    src, img = astro
    inp = tmp_path / "in"
    inp.mkdir()
    save_image(inp / "a.png", img)
    save_image(inp / "blank.png", np.full((48, 48, 3), 90, np.uint8))
    out = tmp_path / "out"
    rc = main(["batch", "regenerate", "--input", str(inp), "--output", str(out), "--workers", "1",
               "--grid", "edits=dilate:hair:6,add:glasses"])
    assert rc == 1  # the blank image has no face: recorded, the rest done
    results = sorted(out.glob("a__*_result.png"))
    assert len(results) == 2
    assert all(not np.array_equal(load_image(r), img) for r in results)
    for r in results:  # each task writes the (image, edited mask, result) triple
        assert np.array_equal(load_image(r.with_name(r.name.replace("_result", "_image"))), img)
        mask = load_label_map(r.with_name(r.name.replace("_result", "_mask")))
        assert mask.ndim == 2 and mask.shape == img.shape[:2] and mask.max() <= 18
    manifest = (out / "manifest.jsonl").read_text()
    assert manifest.count('"status":"done"') == 2 and "no face found" in manifest
