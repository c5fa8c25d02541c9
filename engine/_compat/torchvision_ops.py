"""Make ``import torchvision`` work next to a CPU-only torch build.

Some torchvision wheels carry C++ ops built for another torch (e.g. a CUDA build). Importing such a
torchvision fails with ``operator torchvision::nms does not exist`` because its Python side registers
fake kernels for ops its extension never defined. :func:`ensure_torchvision` first tries to load the
package's own extension; only when that fails does it define ``torchvision::nms`` and
``torchvision::qnms`` with pure-torch CPU implementations, then imports torchvision.

Call :func:`ensure_torchvision` (or ``import_torchvision``) instead of ``import torchvision``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import torch

_LIB: torch.library.Library | None = None
_STATE: dict[str, object] = {"done": False, "fallback": False}


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression in plain torch.

    Args:
        boxes: ``[N, 4]`` boxes as ``(x1, y1, x2, y2)``.
        scores: ``[N]`` scores.
        iou_threshold: boxes overlapping a kept box with IoU above this are dropped.

    Returns:
        ``int64`` indices of the kept boxes, by decreasing score (torchvision's contract).
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    b = boxes.float()
    x1, y1, x2, y2 = b.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    xx1 = torch.maximum(x1[:, None], x1[None, :])
    yy1 = torch.maximum(y1[:, None], y1[None, :])
    xx2 = torch.minimum(x2[:, None], x2[None, :])
    yy2 = torch.minimum(y2[:, None], y2[None, :])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    iou = inter / (areas[:, None] + areas[None, :] - inter).clamp(min=1e-12)
    suppressed = torch.zeros(b.shape[0], dtype=torch.bool, device=b.device)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)


def _extension_loads() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    folder = list(spec.submodule_search_locations)[0]
    for name in os.listdir(folder):
        if name.startswith("_C") and name.endswith((".so", ".pyd")):
            try:
                torch.ops.load_library(os.path.join(folder, name))
                return True
            except (OSError, RuntimeError, ImportError):
                return False
    return False


def _register_fallback() -> None:
    global _LIB
    if _LIB is not None:
        return
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", nms_reference, "CompositeExplicitAutograd")
    lib.impl("qnms", lambda d, s, t: nms_reference(d.dequantize(), s.dequantize(), t), "CompositeExplicitAutograd")
    _LIB = lib


def ensure_torchvision() -> ModuleType:
    """Import and return torchvision, registering pure-torch ops only if its extension fails.

    Raises:
        ImportError: torchvision is not installed.
    """
    if not _STATE["done"]:
        if importlib.util.find_spec("torchvision") is None:
            raise ImportError("torchvision is not installed")
        try:
            _ = torch.ops.torchvision.nms  # already defined (extension loaded earlier)
        except (AttributeError, RuntimeError):
            if not _extension_loads():
                _register_fallback()
                _STATE["fallback"] = True
        _STATE["done"] = True
    tv = importlib.import_module("torchvision")
    if _STATE["fallback"]:
        # torchvision.ops.nms asserts that the C++ extension loaded; ours now stands in for the
        # ops defined above. Ops we do not provide (roi_align ...) still fail with torch's
        # "no such operator" error when called.
        ext = importlib.import_module("torchvision.extension")
        ext._has_ops = lambda: True  # type: ignore[attr-defined]
    return tv


def using_fallback_ops() -> bool:
    """True when torchvision runs on the pure-torch ``nms`` of this module."""
    ensure_torchvision()
    return bool(_STATE["fallback"])
