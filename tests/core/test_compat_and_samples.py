"""torchvision import shim, device selection label, bundled samples regenerate identically."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from engine._compat.torchvision_ops import ensure_torchvision, nms_reference
from engine.imageio import load_image
from engine.procedural.samples import OPERA_SAMPLE, opera_sample, write_samples


def test_nms_reference_matches_greedy_definition() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 9, 10]], dtype=torch.float)
    scores = torch.tensor([0.8, 0.9, 0.7, 0.95])
    keep = nms_reference(boxes, scores, 0.5)
    # 3 (0.95) suppresses 0 (IoU 0.9); 1 (0.9) overlaps 3 with IoU < 0.5? (1,1)-(11,11) vs (0,0)-(9,10)
    inter = 8 * 9
    iou_13 = inter / (100 + 90 - inter)
    expected = [3, 1, 2] if iou_13 <= 0.5 else [3, 2]
    assert keep.tolist() == expected
    assert nms_reference(torch.zeros((0, 4)), torch.zeros(0), 0.5).numel() == 0


def test_torchvision_imports_in_a_fresh_process() -> None:
    code = (
        "from engine._compat.torchvision_ops import ensure_torchvision\n"
        "tv = ensure_torchvision()\n"
        "import torch\n"
        "from torchvision.ops import nms\n"
        "b = torch.tensor([[0., 0, 10, 10], [1, 1, 11, 11]]); s = torch.tensor([0.9, 0.8])\n"
        "print(nms(b, s, 0.5).tolist())\n"
        "import torchvision.models as m; print(type(m.resnet18(num_classes=7)).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[0]", "ResNet"]


def test_ensure_torchvision_idempotent() -> None:
    assert ensure_torchvision() is ensure_torchvision()


def test_bundled_sample_is_generated_by_the_project(tmp_path: Path) -> None:
    # The shipped PNG is exactly what the generator draws (no foreign pixels in the repo).
    shipped = load_image(OPERA_SAMPLE)
    written = write_samples(tmp_path)
    assert np.array_equal(load_image(written[0]), shipped)
    img = opera_sample(256)
    assert img.shape == (256, 256, 3)
    # symmetric about the vertical axis, like a lianpu
    assert np.abs(img.astype(int) - img[:, ::-1].astype(int)).mean() < 3.0
