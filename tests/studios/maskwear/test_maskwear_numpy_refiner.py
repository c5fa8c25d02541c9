"""The mask refiner run without torch (NumpyRefiner): the same targets as the torch model, the same
checks on its checkpoint, and a batch worker that refines never imports torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from engine.errors import CheckpointError
from engine.models.maskwear_stn import MaskWearGenerator, warp_rgba
from engine.studios.maskwear.learned import (
    CROP,
    MASK_REFINER,
    LearnedRefiner,
    NumpyRefiner,
    load_numpy_refiner,
    warp_template_numpy,
)
from engine.weights.store import save_checkpoint

SHIPPED = Path(__file__).resolve().parents[3] / "checkpoints" / "maskwear_stn_g.json"


def _random_generator(seed: int = 0) -> MaskWearGenerator:
    """A refiner whose head is not zero (an untrained one predicts nothing to compare)."""
    torch.manual_seed(seed)
    g = MaskWearGenerator(width=8)
    with torch.no_grad():
        g.head.weight.normal_(0, 0.5)
        g.head.bias.normal_(0, 0.1)
    return g.eval()


def _saved(tmp_path: Path, g: MaskWearGenerator) -> Path:
    return save_checkpoint(g, tmp_path / "maskwear_stn_g", task="t", training_data="t")


def test_forward_matches_the_torch_model(tmp_path: Path) -> None:
    g = _random_generator()
    refiner = load_numpy_refiner(_saved(tmp_path, g))
    x = torch.rand(1, 7, CROP, CROP)
    with torch.no_grad():
        want = g(x)[0].numpy()
    got = refiner.residual(np.ascontiguousarray(x[0].numpy().transpose(1, 2, 0)))  # channels last
    assert np.abs(want).max() > 1e-3  # the comparison means something
    assert np.allclose(got, want, atol=1e-5)
    # an input in another memory order is the same picture
    fortran = np.asfortranarray(x[0].numpy().transpose(1, 2, 0))
    assert np.allclose(refiner.residual(fortran), want, atol=1e-5)


def test_warp_matches_grid_sample() -> None:
    rng = np.random.default_rng(0)
    tmpl = rng.random((40, 52, 4)).astype(np.float32)
    h = np.array([[1.1, 0.08, 0.05], [-0.04, 0.95, 0.1], [0.02, -0.03, 1.0]])
    want = warp_rgba(torch.from_numpy(tmpl).permute(2, 0, 1)[None], torch.from_numpy(h).float()[None], 64)
    want_np = want[0].permute(1, 2, 0).numpy()
    got = warp_template_numpy(tmpl, h, 64)
    # OpenCV places its bilinear taps to 1/32 pixel: on pixel noise that is ~0.005 on average
    assert np.abs(got - want_np).mean() < 0.01
    assert np.abs(warp_template_numpy(tmpl, np.eye(3), 64) - want_np).mean() > 0.1  # the test can fail


def test_refined_targets_match_the_torch_refiner(tmp_path: Path) -> None:
    from engine.faces import FaceAnalyzer
    from engine.procedural.mask_templates import get_template
    from engine.studios.maskwear.classical import face_targets

    img = data.astronaut()
    face = FaceAnalyzer().analyze(img, parse=False).faces[0]
    kp = np.asarray(face_targets(face), np.float32)
    g = _random_generator(1)
    numpy_refiner = load_numpy_refiner(_saved(tmp_path, g))
    for name in ("surgical-blue", "kn95", "cloth-checkered"):
        t = get_template(name)
        want = LearnedRefiner(g).refine(img, face, t, kp)
        got = numpy_refiner.refine(img, face, t, kp)
        assert np.abs(want - kp).max() > 0.5  # the refiner moved the targets
        assert np.abs(got - want).max() < 0.05


def test_the_backend_loads_the_numpy_refiner() -> None:
    if not SHIPPED.exists():
        pytest.skip("no shipped refiner")
    from engine.studios.maskwear.learned import method_resolution

    r = method_resolution("learned")
    model = MASK_REFINER.load(r)
    assert isinstance(model, NumpyRefiner)
    from engine.device import module_device_name

    assert module_device_name(model) == "cpu"


def test_checkpoint_checks(tmp_path: Path) -> None:
    card = _saved(tmp_path, _random_generator())
    weights = card.with_suffix(".safetensors")
    data_ = bytearray(weights.read_bytes())
    data_[-1] ^= 1
    weights.write_bytes(bytes(data_))
    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_numpy_refiner(card)
    wide = save_checkpoint(MaskWearGenerator(width=16), tmp_path / "other" / "maskwear_stn_g", task="t", training_data="t")
    text = wide.read_text().replace('"width": 16', '"width": 8')
    wide.write_text(text)
    with pytest.raises(CheckpointError):
        load_numpy_refiner(wide)  # the weights do not fit the architecture the card describes


def test_a_refining_worker_never_imports_torch() -> None:
    if not SHIPPED.exists():
        pytest.skip("no shipped refiner")
    code = textwrap.dedent("""
        import sys
        from skimage import data
        from engine.studios.maskwear.batch import WearMaskRunner, wear_mask_params, wear_mask_engine
        params = wear_mask_params({"method": "learned", "size": 64})
        out = WearMaskRunner()(data.astronaut(), params)
        print(wear_mask_engine(params).backend, out["masked"].shape, "torch" in sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "neural (64, 64, 3) False"
