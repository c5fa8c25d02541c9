"""Third-party weight files: ``.pth`` / ``.pt`` / ``.bin`` / ``.ckpt`` read with
``torch.load(weights_only=True)`` only (never unpickling code), and state_dict unwrapping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import safetensors.torch
import torch
from safetensors import SafetensorError

from engine.device import CPU
from engine.errors import CheckpointError
from engine.weights.card import WEIGHTS_SUFFIX

PathLike = Union[str, "os.PathLike[str]"]


TORCH_SUFFIXES: tuple[str, ...] = (".pth", ".pt", ".bin", ".ckpt")
"""Extensions :func:`load_state_dict_file` reads with ``torch.load(weights_only=True)``."""



CONTAINER_KEYS: tuple[str, ...] = ("state_dict", "model", "params_ema", "params", "net")
"""Keys under which training scripts nest a state_dict (Lightning, BasicSR/GFPGAN, ...)."""

MAX_NAMED = 5  # keys quoted in an error message



def unwrap_state_dict(obj: Any, source: str = "weights") -> dict[str, torch.Tensor]:
    """Dig the state_dict out of a training checkpoint and drop wrapper prefixes.

    Descends through :data:`CONTAINER_KEYS` (``{"state_dict": ...}``, ``{"model": ...}``,
    ``{"params_ema": ...}`` ...) until it reaches a mapping of tensors, then strips a
    ``module.`` (DataParallel/DDP) or ``_orig_mod.`` (``torch.compile``) prefix shared by all keys.

    Args:
        obj: what ``torch.load`` / safetensors returned.
        source: name for error messages.

    Returns:
        A flat ``{name: tensor}`` dict.

    Raises:
        CheckpointError: no mapping of tensors found.
    """
    for _ in range(len(CONTAINER_KEYS) + 1):  # bounded: a pickle can hold reference cycles
        if not isinstance(obj, Mapping) or all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in CONTAINER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{source}: no tensors found (got {type(obj).__name__})")
    odd = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise CheckpointError(f"{source}: not a state_dict (non-tensor entries: {', '.join(odd[:MAX_NAMED])})")
    state = {str(k): v for k, v in obj.items()}
    for prefix in ("module.", "_orig_mod."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_state_dict_file(path: PathLike, unwrap: bool = True) -> dict[str, torch.Tensor]:
    """Read third-party weights safely onto the CPU.

    ``.safetensors`` is decoded by safetensors; ``.pth``/``.pt``/``.bin``/``.ckpt`` by
    ``torch.load(map_location=CPU, weights_only=True)``, which only rebuilds tensors and plain
    containers. A pickle that references any other Python object (a class, ``os.system`` ...) is
    refused; there is deliberately no fallback to full unpickling.

    Args:
        path: the weights file.
        unwrap: apply :func:`unwrap_state_dict` (containers, ``module.`` prefixes).

    Returns:
        ``{name: tensor}`` on the CPU.

    Raises:
        CheckpointError: missing file, unsupported extension, corrupt data, or a pickle refused as
            unsafe.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == WEIGHTS_SUFFIX:
        obj: Any = load_safetensors_bytes(read_bytes(p), p)
    elif suffix in TORCH_SUFFIXES:
        if not p.is_file():
            raise CheckpointError(f"{p}: weights file not found")
        try:
            obj = torch.load(p, map_location=CPU, weights_only=True)
        except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError ... all refused
            msg = str(exc)
            found = re.search(r"GLOBAL ([\w.]+)", msg)
            if found or "Unsupported global" in msg:
                what = found.group(1) if found else "a Python object"
                raise CheckpointError(
                    f"{p}: refused as unsafe: the pickle references {what!r}, which could run code; "
                    "convert it to safetensors from a trusted environment"
                ) from None
            raise CheckpointError(f"{p}: corrupt or not a PyTorch weights file ({type(exc).__name__})") from None
    else:
        known = ", ".join((WEIGHTS_SUFFIX,) + TORCH_SUFFIXES)
        raise CheckpointError(f"{p}: unsupported weights extension {p.suffix!r} (use {known})")
    if unwrap:
        return unwrap_state_dict(obj, str(p))
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{p}: not a flat dict of tensors (try unwrap=True)")
    return dict(obj)


def load_safetensors_bytes(data: bytes, source: Path) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: corrupt or truncated safetensors file ({exc})") from None


def read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
