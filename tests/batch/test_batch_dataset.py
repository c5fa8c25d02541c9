"""Dataset files of a batch folder: the wear-mask record (478 landmarks, head pose, COCO fields), the
``annotations.json`` / ``dataset.json`` the driver writes, the train/val split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from engine.batch import JobSpec, run_batch
from engine.batch.dataset import split_of
from engine.batch.plan import DatasetOptions
from engine.imageio import load_grey, save_image
from engine.studios.maskwear.batch import mask_coco


def test_mask_coco_box_polygon_area_and_keypoints() -> None:
    alpha = np.zeros((40, 50), np.uint8)
    alpha[10:20, 5:25] = 255
    alpha[10:20, 25] = 100  # below half coverage: outside the label
    out = mask_coco(alpha, np.array([[6.0, 11.0], [60.0, 5.0]]))
    assert out["bbox"] == [5.0, 10.0, 20.0, 10.0] and out["area"] == 200.0
    xs, ys = out["segmentation"][0][0::2], out["segmentation"][0][1::2]
    assert (min(xs), max(xs), min(ys), max(ys)) == (5, 24, 10, 19)
    assert out["keypoints"] == [6.0, 11.0, 2.0, 0.0, 0.0, 0.0]  # the second is outside: unlabelled
    assert mask_coco(np.zeros((8, 8), np.uint8), np.zeros((0, 2)))["bbox"] == [0.0, 0.0, 0.0, 0.0]


def test_split_is_by_input_name_and_near_the_fraction() -> None:
    names = [f"img{i:04d}.jpg" for i in range(2000)]
    val = sum(split_of(n, 0.2) == "val" for n in names)
    assert 340 < val < 460
    assert all(split_of(n, 0.0) == "train" for n in names[:50])
    assert [split_of(n, 0.2) for n in names[:50]] == [split_of(n, 0.2) for n in names[:50]]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("faces")
    img = data.astronaut()
    save_image(d / "a.png", img)
    save_image(d / "b.png", np.ascontiguousarray(img[:, ::-1]))
    save_image(d / "c_wall.png", np.full((64, 64, 3), 90, np.uint8))
    return d


def test_wear_mask_set_has_labels_records_coco_and_card(faces: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    opts = DatasetOptions(licence="CC BY 4.0", val_fraction=0.5)
    # shard 0 of 2 first, then the whole job: the set-level files end as one whole run's
    run_batch(JobSpec("wear-mask", faces, out, params={"size": 96, "template": "kn95"}, dataset=opts, shard=(0, 2)))
    s = run_batch(JobSpec("wear-mask", faces, out, params={"size": 96, "template": "kn95"}, dataset=opts))
    assert s.done + s.skipped == 2
    whole = tmp_path / "whole"
    run_batch(JobSpec("wear-mask", faces, whole, params={"size": 96, "template": "kn95"}, dataset=opts))
    for name in ("annotations.json", "annotations_train.json", "annotations_val.json", "dataset.json"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name

    rec = {stem: json.loads((out / f"{stem}_params.json").read_text()) for stem in ("a", "b")}
    for r in rec.values():
        assert np.array(r["landmarks_image"]).shape == (478, 2) and np.array(r["landmarks_crop"]).shape == (478, 2)
        assert r["template"] == "kn95" and r["augment"] == "none" and set(r["head_pose"]) == {"yaw", "pitch", "roll"}
        # she faces the camera: little yaw and roll (pitch from a generic head is rougher: not checked)
        assert abs(r["head_pose"]["yaw"]) < 15 and abs(r["head_pose"]["roll"]) < 10
    # the mirror image: yaw and roll change sign, pitch stays (within the mesh's own asymmetry: the
    # mirrored photo's mesh is not the mirrored mesh, a few pixels apart)
    pa, pb = rec["a"]["head_pose"], rec["b"]["head_pose"]
    assert pa["yaw"] == pytest.approx(-pb["yaw"], abs=4)
    assert pa["roll"] == pytest.approx(-pb["roll"], abs=4)
    assert pa["pitch"] == pytest.approx(pb["pitch"], abs=4)

    coco = json.loads((out / "annotations.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == ["a_masked.png", "b_masked.png"]
    assert [i["label_file"] for i in coco["images"]] == ["a_alpha.png", "b_alpha.png"]
    assert coco["licenses"] == [{"id": 1, "name": "CC BY 4.0", "url": ""}]
    assert coco["categories"][0]["name"] == "face_mask" and len(coco["categories"][0]["keypoints"]) == 6
    for img, ann in zip(coco["images"], coco["annotations"], strict=True):
        assert ann["image_id"] == img["id"] and (img["width"], img["height"]) == (96, 96)
        alpha = load_grey(out / img["label_file"])
        ys, xs = np.nonzero(alpha >= 128)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        assert ann["area"] == (alpha >= 128).sum() > 96 * 96 * 0.1 and ann["segmentation"]
        assert ann["num_keypoints"] >= 4 and ann["attributes"]["template"] == "kn95"
        assert ann["attributes"]["fit"] in ("learned", "keypoint")
    parts = {i["input"]: i["split"] for i in coco["images"]}
    assert parts == {n: split_of(n, 0.5) for n in ("a.png", "b.png")}
    for part in ("train", "val"):
        sub = json.loads((out / f"annotations_{part}.json").read_text())
        assert [i["input"] for i in sub["images"]] == [n for n, p in parts.items() if p == part]

    card = json.loads((out / "dataset.json").read_text())
    assert card["op"] == "wear-mask" and card["licence"] == "CC BY 4.0" and card["masquerade_version"]
    assert card["counts"] == {"tasks": 3, "done": 2, "failed": 1, "inputs": 2, "files": 8, "annotations": 2}
    assert card["complete"] is False  # the wall has no face
    assert card["params"]["template"] == "kn95" and card["outputs_per_task"] == ["face", "masked", "alpha",
                                                                                 "params.json"]
    # a finished job run again leaves its files alone
    mtime = (out / "dataset.json").stat().st_mtime_ns
    run_batch(JobSpec("wear-mask", faces, out, params={"size": 96, "template": "kn95"}, dataset=opts))
    assert (out / "dataset.json").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("value", [
    [[1.5, -2], [], [3]],
    [[1, None, True], [2.25]],
    [[1, [2, 3]], [4]],  # nested: each item on its own line, the inner list kept whole
    [["], [", 1], [2]],  # a string holding the separator
    [[{"a": 1}], [{}]],
    [1, [2, 3]],
])
def test_readable_json_puts_each_list_item_on_its_own_line(value: list) -> None:
    from engine.batch.plan import readable_json

    text = readable_json({"k": value})
    assert json.loads(text) == {"k": value}
    lines = text.splitlines()
    assert lines[:2] == ["{", ' "k": ['] and lines[-2:] == [" ]", "}"]
    assert [json.loads(line.strip().rstrip(",")) for line in lines[2:-2]] == value
