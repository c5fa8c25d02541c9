"""Batch wear-mask: multi-output file op, params record, no-face errors, resume, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from engine.batch import JobSpec, read_manifest, run_batch
from engine.errors import ImageLoadError
from engine.imageio import load_grey, load_image, save_image
from engine.studios.maskwear.batch import wear_mask_params
from engine.studios.maskwear.learned import method_resolution


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("in")
    img = data.astronaut()
    save_image(d / "a.png", img)
    save_image(d / "b.png", np.ascontiguousarray(img[:, ::-1]))
    save_image(d / "c_wall.png", np.full((64, 64, 3), 90, np.uint8))
    return d


def test_dataset_export_and_resume(inputs: Path, tmp_path: Path) -> None:
    spec = JobSpec("wear-mask", inputs, tmp_path / "out", params={"augment": "translate,rotate,scale", "size": 96})
    s = run_batch(spec)
    assert (s.done, s.failed) == (2, 1)
    rec = read_manifest(tmp_path / "out" / "manifest.jsonl")
    wall = [r for r in rec.values() if r["input"] == "c_wall.png"][0]
    assert wall["status"] == "error" and wall["error"] == "no face found"
    for stem in ("a", "b"):
        face = load_image(tmp_path / "out" / f"{stem}_face.png")
        masked = load_image(tmp_path / "out" / f"{stem}_masked.png")
        alpha = load_grey(tmp_path / "out" / f"{stem}_alpha.png")
        assert face.shape == masked.shape == (96, 96, 3) and alpha.shape == (96, 96)
        changed = np.abs(face.astype(int) - masked.astype(int)).max(axis=2) > 10
        assert changed[alpha > 200].mean() > 0.5 and changed[alpha == 0].mean() < 0.05
        meta = json.loads((tmp_path / "out" / f"{stem}_params.json").read_text())
        assert meta["template"] != "random" and len(meta["anchors_crop"]) == 6 and len(meta["offsets"]) == 6
        # the mask sits in the lower half of the aligned crop, below the eyes
        assert min(y for _, y in meta["anchors_crop"]) > 96 * 0.4
        # the record says which fit placed it (auto: what the refiner's card decides), anchors to 0.01 px
        assert meta["method"] == "auto" and meta["fit"] == ("learned" if method_resolution("auto").learned else "keypoint")
        assert all(round(v, 2) == v for point in meta["anchors_image"] + meta["anchors_crop"] for v in point)
    again = run_batch(spec)
    assert (again.skipped, again.done, again.failed) == (2, 0, 1)  # the no-face image is retried


def test_the_record_names_the_key_point_fit_when_asked_for(inputs: Path, tmp_path: Path) -> None:
    s = run_batch(JobSpec("wear-mask", inputs, tmp_path / "kp", params={"size": 64, "method": "keypoint"}))
    assert s.done == 2
    assert {json.loads((tmp_path / "kp" / f"{stem}_params.json").read_text())["fit"] for stem in ("a", "b")} == {"keypoint"}


def test_same_choices_with_two_workers(inputs: Path, tmp_path: Path) -> None:
    a = run_batch(JobSpec("wear-mask", inputs, tmp_path / "w1", params={"size": 64}, workers=1))
    b = run_batch(JobSpec("wear-mask", inputs, tmp_path / "w2", params={"size": 64}, workers=2))
    assert a.done == b.done == 2
    for stem in ("a", "b"):
        assert (tmp_path / "w1" / f"{stem}_params.json").read_text() == (tmp_path / "w2" / f"{stem}_params.json").read_text()
        assert (tmp_path / "w1" / f"{stem}_masked.png").read_bytes() == (tmp_path / "w2" / f"{stem}_masked.png").read_bytes()


@pytest.mark.parametrize("bad,match", [
    ({"template": "gas"}, "unknown template"), ({"augment": "shear"}, "augmentation"),
    ({"size": 8}, "size"), ({"colour": "#fff"}, "unknown wear-mask parameter"), ({"color": "red"}, "RRGGBB"),
])
def test_bad_parameters(bad, match) -> None:
    with pytest.raises(ValueError, match=match):
        wear_mask_params(bad)


def test_template_list_draws_one_per_face_and_cli_flags(inputs: Path, tmp_path: Path) -> None:
    from engine.cli import main

    p = wear_mask_params({"template": "kn95,n95"})
    assert p["template"] == "kn95+n95"
    with pytest.raises(ValueError, match="unknown template"):
        wear_mask_params({"template": "random+kn95"})
    out = tmp_path / "o"
    rc = main(["batch", "wear-mask", "--input", str(inputs), "--output", str(out), "--templates", "kn95,n95",
               "--size", "64", "--resume"])
    assert rc == 1  # the wall image has no face
    used = {json.loads((out / f"{s}_params.json").read_text())["template"] for s in ("a", "b")}
    assert used <= {"kn95", "n95"}


def test_user_template_and_no_ear_loops(tmp_path: Path) -> None:
    """A template made by ``mask-template`` (here: its format, a red mask) is used for every face;
    ``--no-ear-loops`` leaves the loops out; parameters not used keep old jobs' identity."""
    import cv2

    from engine.cli import main
    from engine.procedural.mask_templates import get_template

    assert set(wear_mask_params({})) == {"template", "color", "size", "augment", "lighting", "method"}
    base = get_template("surgical-blue", (200, 30, 30), ear_loops=False)
    png = tmp_path / "mine.png"
    save_image(png, base.rgba)
    (tmp_path / "mine.json").write_text(json.dumps({k: list(v) for k, v in base.anchors.items()}))
    p = wear_mask_params({"template_file": str(png), "ear_loops": "false"})
    assert p["template"] == "user" and p["ear_loops"] is False and len(p["template_sha256"]) == 64
    (tmp_path / "in").mkdir()
    save_image(tmp_path / "in" / "a.png", cv2.resize(data.astronaut(), (320, 320), interpolation=cv2.INTER_AREA))
    with pytest.raises(ImageLoadError, match="alpha channel"):
        wear_mask_params({"template_file": str(tmp_path / "in" / "a.png")})
    out = tmp_path / "o"
    rc = main(["batch", "wear-mask", "--input", str(tmp_path / "in"), "--output", str(out), "--template", str(png),
               "--no-ear-loops", "--size", "64", "--method", "keypoint"])
    assert rc == 0
    assert json.loads((out / "a_params.json").read_text())["template"] == "user"
    masked, alpha = load_image(out / "a_masked.png"), load_grey(out / "a_alpha.png")
    red = masked[alpha > 250].astype(int)
    assert (red[:, 0] - red[:, 2]).mean() > 60  # the user's red mask, not a built-in
    one = {"template": "surgical-blue", "size": 96, "method": "keypoint"}
    loops = run_batch(JobSpec("wear-mask", tmp_path / "in", tmp_path / "loops", params=one))
    plain = run_batch(JobSpec("wear-mask", tmp_path / "in", tmp_path / "plain", params={**one, "ear_loops": False}))
    assert loops.done == plain.done == 1
    a1, a0 = load_grey(tmp_path / "loops" / "a_alpha.png"), load_grey(tmp_path / "plain" / "a_alpha.png")
    assert (a1 > 128).sum() > (a0 > 128).sum()  # the loops are part of the mask label
