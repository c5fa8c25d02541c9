"""One place that chooses the torch device: CUDA → MPS → CPU, overridable.

Override with the ``MASQUERADE_DEVICE`` environment variable (``cpu``, ``cuda``, ``cuda:1``, ``mps``)
or the ``prefer`` argument. A requested device that is not available falls back to the CPU and the
returned :class:`DeviceChoice` says why, so the status bar can show it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

ENV_VAR = "MASQUERADE_DEVICE"

CLASSICAL_DEVICE = "cpu"
"""Where the classical (numpy / OpenCV) engines run, as ``EditResult.info["device"]`` names it."""


@dataclass(frozen=True)
class DeviceChoice:
    """The device chosen and the reason, for logs and the status bar.

    Args:
        device: the torch device to use.
        reason: one short sentence, e.g. ``"cuda requested but not available; using cpu"``.
    """

    device: torch.device
    reason: str

    @property
    def label(self) -> str:
        """Short human name: ``"CPU"``, ``"CUDA 0 (NVIDIA H100)"``, ``"MPS"``."""
        if self.device.type == "cuda":
            idx = self.device.index or 0
            try:
                return f"CUDA {idx} ({torch.cuda.get_device_name(idx)})"
            except Exception:  # pragma: no cover - depends on drivers
                return f"CUDA {idx}"
        return self.device.type.upper()


def _available(dev: torch.device) -> bool:
    if dev.type == "cpu":
        return True
    if dev.type == "cuda":
        return torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    return False


def select_device(prefer: str | None = None) -> DeviceChoice:
    """Pick the device models run on.

    Args:
        prefer: ``"auto"``/``None`` (CUDA, then MPS, then CPU) or an explicit torch device string.
            When ``None`` the ``MASQUERADE_DEVICE`` environment variable is read first.

    Returns:
        A :class:`DeviceChoice`; never raises for an unavailable device (falls back to CPU).

    Example:
        >>> select_device("cpu").device
        device(type='cpu')
    """
    req = prefer if prefer is not None else os.environ.get(ENV_VAR, "auto")
    req = (req or "auto").strip().lower()
    if req == "auto":
        for cand in ("cuda", "mps"):
            dev = torch.device(cand)
            if _available(dev):
                return DeviceChoice(dev, f"auto: {cand} available")
        return DeviceChoice(torch.device("cpu"), "auto: no GPU found; using cpu")
    try:
        dev = torch.device(req)
    except (RuntimeError, ValueError):
        return DeviceChoice(torch.device("cpu"), f"unknown device {req!r}; using cpu")
    if _available(dev):
        return DeviceChoice(dev, f"{req} requested")
    return DeviceChoice(torch.device("cpu"), f"{req} requested but not available; using cpu")


def module_device(module: torch.nn.Module) -> torch.device:
    """Device of a module's first parameter or buffer (CPU for a module with neither)."""
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")


def module_device_name(module: Any) -> str:
    """The device a model's parameters live on, as a string (``"cpu"``, ``"cuda:0"``, ``"mps:0"``);
    :data:`CLASSICAL_DEVICE` for anything that is not a torch module (a classical engine)."""
    if isinstance(module, torch.nn.Module):
        return str(module_device(module))
    inner = getattr(module, "model", None)
    if isinstance(inner, torch.nn.Module):
        return str(module_device(inner))
    return CLASSICAL_DEVICE
