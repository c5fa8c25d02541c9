"""HED port (engine.models.hed + engine.studios.opera.hed): the package's weights load strictly, the
outputs are what the package describes (shape, range, side outputs), edges of a synthetic picture
sit on its step edges, thinning gives one-pixel lines, bad weights fail in one line, and the
extractor choice reaches the editor, the CLI and the batch op. The 59 MB weights load once."""

from __future__ import annotations

import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.errors import CheckpointError
from engine.models.hed import HED, preprocess, state_dict_from_keras
from engine.studios.opera.hed import (
    clean_lines,
    edge_probability,
    extract_line_art,
    hed_line_art,
    load_hed,
    thin_edges,
)
from engine.studios.opera.params import XDoGParams


@pytest.fixture(scope="module")
def net() -> HED:
    return load_hed()  # cached: every test of the module shares one load


def step_picture(side: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A dark rectangle on light paper and the mask of its step edges (±1 px)."""
    img = np.full((side, side, 3), 235, np.uint8)
    a, b = side // 4, 3 * side // 4
    img[a:b, a:b] = (40, 60, 150)
    edge = np.zeros((side, side), np.uint8)
    cv2.rectangle(edge, (a, a), (b - 1, b - 1), 1, 1)
    cv2.rectangle(edge, (a - 1, a - 1), (b, b), 1, 1)
    return img, edge > 0


def test_output_shape_range_and_side_outputs(net: HED) -> None:
    img, _ = step_picture(70)
    x = preprocess(img[:45, :67])  # odd sizes: "same" pooling keeps every side output aligned
    with torch.inference_mode():
        prob = net(x)
        sides = net(x, sides=True)
    assert isinstance(prob, torch.Tensor) and prob.shape == (1, 1, 45, 67)
    assert float(prob.min()) >= 0.0 and float(prob.max()) <= 1.0
    assert isinstance(sides, tuple) and len(sides) == 6 and all(s.shape == (1, 1, 45, 67) for s in sides)
    assert torch.allclose(torch.sigmoid(sides[-1]), prob)  # fused output = sigmoid of the fuse logits
    with pytest.raises(ValueError, match="N, 3, H, W"):
        net(torch.zeros(1, 1, 8, 8))


def test_edges_of_a_synthetic_picture_lie_on_its_step_edges(net: HED) -> None:
    img, edge = step_picture(96)
    prob = edge_probability(img, net)
    assert prob.shape == (96, 96) and prob.dtype == np.float32
    near = cv2.dilate(edge.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert prob[edge].mean() > 0.5
    assert prob[~near].mean() < 0.1
    assert prob[40:56, 40:56].max() < 0.2  # the flat inside has no edges
    ink = thin_edges(prob)  # what hed_line_art draws (at one pixel wide for this size)
    assert (near[ink]).mean() > 0.95  # lines on the steps
    assert ink[edge].any() and ink.sum() < 0.75 * edge.sum()  # about one pixel wide (edge is two)


def test_thin_edges_is_one_pixel_across() -> None:
    p = np.zeros((32, 32), np.float32)
    p[:, 13:19] = np.array([0.2, 0.5, 0.9, 0.95, 0.5, 0.2], np.float32)
    out = thin_edges(p)
    assert (out[4:-4].sum(axis=1) == 1).all()
    with pytest.raises(ValueError, match="low"):
        thin_edges(p, 0.5, 0.2)


def test_keras_conversion_refuses_missing_and_unknown_variables(tmp_path: Path) -> None:
    net = HED(widths=(2, 2, 2, 2, 2))
    from engine.models.hed import _keras_names

    arrays = {}
    for keras, torch_name in _keras_names():
        w = net.state_dict()[f"{torch_name}.weight"].numpy()
        arrays[f"{keras}/vars/0"] = w.transpose(2, 3, 1, 0)
        arrays[f"{keras}/vars/1"] = net.state_dict()[f"{torch_name}.bias"].numpy()
    sd = state_dict_from_keras(arrays)
    for k, v in net.state_dict().items():
        assert torch.equal(sd[k], v)  # the layout round-trips
    with pytest.raises(KeyError, match="fuse"):
        state_dict_from_keras({k: v for k, v in arrays.items() if not k.startswith("fuse")})
    with pytest.raises(ValueError, match="unknown"):
        state_dict_from_keras({**arrays, "block9/layers/conv2d/vars/0": np.zeros((1, 1, 1, 1), np.float32)})
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(CheckpointError, match="bad.weights.h5"):
        load_hed(str(bad))


def test_extractor_choice_in_editor_cli_and_batch(net: HED, tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    from engine.studios.opera import hed as hed_module

    monkeypatch.setattr(hed_module, "MIN_HED_SIDE", 64)  # run at the picture's own 96² (fast)
    from engine.cli import main
    from engine.imageio import load_grey
    from engine.studios.opera.editor import LineArtEditor

    img, _ = step_picture(96)
    hed = extract_line_art(img, XDoGParams(extractor="hed"))
    assert set(np.unique(hed)) == {0, 255} and np.array_equal(hed, hed_line_art(img, net=net))
    ed = LineArtEditor()
    ed.set_image(img)
    res = ed.edit(XDoGParams(extractor="hed"))
    assert np.array_equal(res.image, hed) and res.info["backend"] == "neural" and "hed" in res.info["method"]
    assert ed.edit(XDoGParams()).info["method"] == "xdog"
    with pytest.raises(ValueError, match="extractor"):
        XDoGParams(extractor="canny").validate()
    assert XDoGParams.from_dict({"extractor": "hed"}).extractor == "hed"
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(img).save(src / "a.png")
    assert main(["lineart", str(src / "a.png"), "--extractor", "hed", "--out", str(tmp_path / "a.png")]) == 0
    assert np.array_equal(load_grey(tmp_path / "a.png"), hed)
    out = tmp_path / "out"
    assert main(["batch", "lineart", "--input", str(src), "--output", str(out), "--extractor", "hed"]) == 0
    written = sorted(out.glob("*.png"))
    assert len(written) == 1 and np.array_equal(load_grey(written[0]), hed)


def test_unjoined_lines_keep_close_parallel_strokes_apart() -> None:
    # a thin stroke gives HED two edges 4 px apart: joining (the old default) merged them into one
    # centre line, so the stroke and the regions beside it were lost; hed_line_art no longer joins
    e = np.zeros((60, 60), bool)
    e[10:50, 20] = e[10:50, 24] = True
    joined = clean_lines(e, gap=3, min_length=4)
    kept = clean_lines(e, gap=0, min_length=4)
    assert joined[30].sum() == 1 and kept[30].sum() == 2
    assert inspect.signature(hed_line_art).parameters["gap"].default == 0


def test_reference_analysed_once_per_extractor() -> None:
    from engine.procedural.lianpu import generate_lianpu
    from engine.studios.opera.classical import ColorizeParams, analyse_reference

    ref = generate_lianpu(4, size=96).image
    a = analyse_reference(ref)
    assert analyse_reference(ref.copy()) is a  # same content: cached, while only the sketch changes
    assert not a.ink.flags.writeable and a.face.any() and a.rgb.shape == ref.shape
    other = ref.copy()
    other[40, 40] = 0
    assert analyse_reference(other) is not a
    with pytest.raises(ValueError, match="extractor"):
        ColorizeParams(extractor="canny").validate()
