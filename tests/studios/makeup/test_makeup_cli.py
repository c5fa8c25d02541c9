"""``masquerade makeup`` and ``masquerade batch makeup``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

from engine.batch import JobSpec, run_batch
from engine.cli import main
from engine.imageio import load_image, save_image


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("makeup_in")
    save_image(d / "astro.png", cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA))
    save_image(d / "flat.png", np.full((64, 64, 3), 128, np.uint8))
    return d


def test_makeup_cli_writes_result_and_masks(folder, tmp_path, capfd):
    out, masks = tmp_path / "out.png", tmp_path / "masks"
    rc = main(["makeup", str(folder / "astro.png"), "--out", str(out), "--lips", "retro",
               "--eyeshadow", "smoky", "--cheek", "korean", "--base", "bare", "--intensity", "0.8",
               "--masks-out", str(masks)])
    cap = capfd.readouterr()
    assert rc == 0, cap.err
    assert cap.err == ""  # MediaPipe's native log lines are kept off stderr
    assert "lips=retro" in cap.out
    src, res = load_image(folder / "astro.png"), load_image(out)
    assert res.shape == src.shape and (res != src).any()
    names = sorted(p.name for p in masks.glob("*.png"))
    assert names == ["base.png", "changed.png", "cheek.png", "eyeshadow.png", "lips.png"]
    changed = load_image(masks / "changed.png")[..., 0] > 0
    assert np.array_equal(res[~changed], src[~changed])
    assert load_image(masks / "lips.png").max() > 200  # soft masks, 255 = full strength


def test_makeup_cli_style_shortcut_and_intensity_zero(folder, tmp_path):
    out = tmp_path / "zero.png"
    assert main(["makeup", str(folder / "astro.png"), "--out", str(out), "--style", "colorful",
                 "--intensity", "0"]) == 0
    assert np.array_equal(load_image(out), load_image(folder / "astro.png"))


def test_makeup_cli_errors(folder, tmp_path, capfd):
    assert main(["makeup", str(folder / "flat.png"), "--out", str(tmp_path / "x.png"), "--lips", "retro"]) == 3
    assert "no face found" in capfd.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert main(["makeup", str(folder / "astro.png"), "--out", str(tmp_path / "x.png"), "--lips", "disco"]) == 1
    assert "unknown makeup style 'disco'" in capfd.readouterr().err
    assert main(["makeup", str(folder / "astro.png"), "--out", str(tmp_path / "x.png")]) == 1
    assert "no region enabled" in capfd.readouterr().err
    assert main(["makeup", str(tmp_path / "missing.png"), "--out", str(tmp_path / "x.png"), "--lips", "retro"]) == 1


def test_makeup_cli_list_and_styles_file(folder, tmp_path, capfd):
    assert main(["makeup", "--list-styles"]) == 0
    listed = capfd.readouterr().out
    for s in ("retro", "korean", "japanese", "bare", "smoky", "colorful"):
        assert s in listed
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"schema": 1, "styles": {"ink": {"regions": {"lips": {"color": [[10, 10, 80]], "opacity": 1}}}}}))
    out = tmp_path / "ink.png"
    assert main(["makeup", str(folder / "astro.png"), "--out", str(out), "--lips", "ink", "--styles-file", str(f)]) == 0


def test_batch_makeup_grid_and_no_face(folder, tmp_path):
    out = tmp_path / "batch"
    spec = JobSpec("makeup", folder, out, grid={"style": ["retro", "smoky"], "regions": ["lips", "lips+eyeshadow"]})
    summary = run_batch(spec)
    assert (summary.total, summary.done, summary.failed) == (8, 4, 4)
    assert {reason for _, reason in summary.errors} == {"no face found"}
    files = sorted(p.name for p in out.glob("astro__*.png"))
    assert files == ["astro__regionslips+eyeshadow_styleretro.png", "astro__regionslips+eyeshadow_stylesmoky.png",
                     "astro__regionslips_styleretro.png", "astro__regionslips_stylesmoky.png"]
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sum(r["status"] == "error" and r["error"] == "no face found" for r in rows) == 4
    a = load_image(out / "astro__regionslips_styleretro.png")
    b = load_image(out / "astro__regionslips+eyeshadow_styleretro.png")
    assert (a != b).any()


def test_batch_makeup_cli(folder, tmp_path, capfd):
    out = tmp_path / "b2"
    rc = main(["batch", "makeup", "--input", str(folder), "--output", str(out), "--intensity", "0.7",
               "--grid", "lips=korean,none", "--eyeshadow", "colorful"])
    cap = capfd.readouterr()
    assert rc == 1  # the flat grey picture has no face
    assert "no face found" in cap.err
    assert "W0000" not in cap.err
    params = json.loads((out / "job.json").read_text())
    assert "makeup" in json.dumps(params)
    assert len(list(out.glob("astro__*.png"))) == 2


def test_batch_makeup_bad_grid_value():
    from engine.batch.ops import get_op

    with pytest.raises(ValueError, match="unknown makeup style"):
        get_op("makeup").normalize({"lips": "disco"})


def test_batch_styles_regions_combinations_grid() -> None:
    from engine.batch.cli import spec_from_args
    from engine.cli import build_parser

    args = build_parser().parse_args(["batch", "makeup", "--input", "in", "--output", "out",
                                      "--styles", "retro,smoky", "--regions", "lips,eyeshadow,cheek", "--combinations"])
    spec = spec_from_args(args)
    assert spec.grid["style"] == ["retro", "smoky"]
    assert len(spec.grid["regions"]) == 7 and "lips+eyeshadow+cheek" in spec.grid["regions"]
    args = build_parser().parse_args(["batch", "makeup", "--input", "in", "--output", "out",
                                      "--styles", "korean", "--regions", "lips,cheek"])
    assert spec_from_args(args).grid == {"style": ["korean"], "regions": ["lips+cheek"]}
