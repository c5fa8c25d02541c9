"""Project weights on disk: safetensors + card, save / load / find / probe.

A checkpoint is two files side by side::

    checkpoints/parser_v1.safetensors   # the state_dict, written with safetensors (no pickle)
    checkpoints/parser_v1.json          # the card: architecture name + kwargs, provenance, sha256

Models are rebuilt from the card alone (:func:`engine.models.registry.build_model`), then the
weights are loaded with ``strict=True``. Every failure raises
:class:`~engine.errors.CheckpointError` with a one-line message naming the file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from engine.errors import CheckpointError, ImageSaveError
from engine.imageio import atomic_write_bytes
from engine.labels import SCHEMES
from engine.weights.card import (
    CARD_SUFFIX,
    WEIGHTS_SUFFIX,
    ModelCard,
    Verdict,
    card_path_for,
    read_card,
)

if TYPE_CHECKING:  # torch is imported where a model is saved or loaded: finding and probing cards never does
    import torch
    from torch import nn

PathLike = Union[str, "os.PathLike[str]"]



ENV_VAR = "MASQUERADE_CHECKPOINTS"
"""Extra checkpoint folders (``os.pathsep``-separated), searched before the project's own."""

PROJECT_CHECKPOINTS: Path = Path(__file__).resolve().parents[2] / "checkpoints"
"""The repository's ``checkpoints/`` folder."""

SIZE_SLACK = 1_000_000
"""Elements a card's kwargs may build beyond 4 × its ``parameter_count`` before
:func:`load_checkpoint` refuses the card without allocating the model (a smaller mismatch is
reported by the strict shape check, which names the keys)."""





# -- files ---------------------------------------------------------------------------------------


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk_size`` pieces.

    Raises:
        CheckpointError: the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(chunk_size), b""):
                digest.update(chunk)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except ImageSaveError as exc:  # atomic_write_bytes speaks of images; re-badge it
        raise CheckpointError(str(exc)) from None


def save_checkpoint(
    model: nn.Module,
    path: PathLike,
    *,
    task: str = "",
    input_size: tuple[int, int] | None = None,
    label_scheme: str | None = None,
    training_data: str = "",
    licence: str = "",
    metrics: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
    verdict: Verdict | None = None,
) -> Path:
    """Write a model's weights (safetensors) and then its card (JSON), each atomically.

    The weights go first: if the process dies in between, an older card no longer matches the new
    weights' hash and loading fails loudly instead of pairing the wrong files. Tensors are copied
    to contiguous CPU memory, so tied (shared) and non-contiguous parameters save fine; nothing is
    written if the card cannot be serialised.

    Args:
        model: instance of a registered class (DDP / compiled wrappers are looked through).
        path: checkpoint stem (``checkpoints/parser_v1``, ``.safetensors``/``.json`` suffix
            optional) or an existing folder, in which case the stem is the model's registry name.
            Missing parent folders are created.
        task: studio or job the model serves.
        input_size: ``(height, width)`` the model was trained at.
        label_scheme: key of :data:`engine.labels.SCHEMES`, for parsing/label-conditioned models.
        training_data: free-text provenance of the training data.
        licence: free-text licence of weights and data.
        metrics: measured numbers to record.
        extra: further JSON-serialisable facts.
        verdict: how it measured against its classical twin; default: read from the older
            ``extra`` flags (``better_than_classical`` / ``better_than_keypoint``) when present.

    Returns:
        Path of the written card (the weights file is beside it).

    Raises:
        CheckpointError: unregistered model, arguments or metrics that JSON cannot hold, or a
            write failure (targets are left as they were).
        ValueError: unknown ``label_scheme``.
    """
    import safetensors.torch
    import torch

    from engine.device import CPU
    from engine.models.registry import _unwrap_module, model_spec

    if label_scheme is not None and label_scheme not in SCHEMES:
        raise ValueError(f"unknown label scheme {label_scheme!r} (known: {', '.join(SCHEMES)})")
    name, kwargs = model_spec(model)
    module = _unwrap_module(model)
    p = Path(path)
    card_path = card_path_for(p / name if p.is_dir() else p)
    weights_path = card_path.with_suffix(WEIGHTS_SUFFIX)

    state = {k: v.detach().to(CPU, copy=True).contiguous() for k, v in module.state_dict().items()}
    blob = safetensors.torch.save(state, metadata={"format": "pt", "model": name})
    card = ModelCard(
        model=name,
        kwargs=kwargs,
        task=task,
        input_size=(int(input_size[0]), int(input_size[1])) if input_size is not None else None,
        label_scheme=label_scheme,
        training_data=training_data,
        licence=licence,
        metrics=dict(metrics or {}),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        torch_version=torch.__version__,
        weights=weights_path.name,
        sha256=hashlib.sha256(blob).hexdigest(),
        weights_size=len(blob),
        tensor_count=len(state),
        parameter_count=sum(t.numel() for t in module.parameters()),
        extra=dict(extra or {}),
        verdict=verdict if verdict is not None else Verdict.from_legacy(dict(extra or {})),
    )
    text = card.to_json()
    card_path.parent.mkdir(parents=True, exist_ok=True)
    _write(weights_path, blob)
    _write(card_path, text.encode("utf-8"))
    return card_path






def _check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: Path) -> None:
    """Raise a :class:`CheckpointError` naming offending keys if ``state`` does not fit ``model``."""
    from engine.weights.thirdparty import MAX_NAMED

    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = sorted(k for k in state if k not in expected)
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items() if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
        if keys:
            more = f" (+{len(keys) - MAX_NAMED} more)" if len(keys) > MAX_NAMED else ""
            problems.append(f"{label}: {', '.join(keys[:MAX_NAMED])}{more}")
    if problems:
        raise CheckpointError(f"{source}: weights do not fit the model; " + "; ".join(problems))


def load_checkpoint(
    path: PathLike,
    device: str | torch.device | None = None,
    verify_hash: bool = True,
) -> tuple[nn.Module, ModelCard]:
    """Rebuild a model from its card and load its weights (``strict=True``), in eval mode.

    Args:
        path: card, weights file or stem of the checkpoint.
        device: where the model goes (``map_location``-style); ``None`` →
            :func:`engine.device.select_device`.
        verify_hash: compare the weights file's SHA-256 with the card before decoding it.

    Returns:
        ``(model, card)``; the model is in eval mode on ``device``.

    Raises:
        CheckpointError: card or weights missing; bad card; hash mismatch; corrupt or truncated
            weights; unknown architecture; kwargs out of range, or a model far larger than the card's
            ``parameter_count`` (checked on the ``meta`` device before any memory is allocated); weights that do not fit the architecture (the message names missing /
            unexpected / mis-shaped keys).
    """
    import torch

    from engine.device import select_device
    from engine.models.registry import build_model, model_size
    from engine.weights.thirdparty import load_safetensors_bytes, read_bytes

    card = read_card(path)
    weights_path = card_path_for(path).parent / card.weights
    data = read_bytes(weights_path)
    if verify_hash and hashlib.sha256(data).hexdigest() != card.sha256:
        raise CheckpointError(f"{weights_path}: hash mismatch, file corrupt or replaced")
    _params, elements = model_size(card.model, **card.kwargs)  # meta device: no memory yet
    if card.parameter_count and elements > 4 * card.parameter_count + SIZE_SLACK:
        raise CheckpointError(f"{card_path_for(path).name}: its kwargs make a model of {elements:,} parameters, far "
                              f"more than the {card.parameter_count:,} the card records (card edited or corrupt)")
    state = load_safetensors_bytes(data, weights_path)
    del data
    model = build_model(card.model, **card.kwargs)
    _check_state_dict(model, state, weights_path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied into a parameter
        raise CheckpointError(f"{weights_path}: cannot load weights ({exc})") from None
    target = select_device().device if device is None else torch.device(device)
    return model.to(target).eval(), card



# -- discovery -----------------------------------------------------------------------------------


def checkpoint_roots() -> list[Path]:
    """Folders searched for checkpoints: ``$MASQUERADE_CHECKPOINTS`` entries, then the project's."""
    extra = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return extra + [PROJECT_CHECKPOINTS]


def find_checkpoint(name: str, roots: list[PathLike] | None = None) -> Path | None:
    """First card (in root order, then path order) whose ``model`` field is ``name``.

    Folders are searched recursively; JSON files that are not valid cards are skipped.

    Args:
        name: architecture registry name.
        roots: folders to search; default :func:`checkpoint_roots`.

    Returns:
        Path of the card, or ``None``.
    """
    for root in (checkpoint_roots() if roots is None else [Path(r) for r in roots]):
        if not root.is_dir():
            continue
        for candidate in sorted(root.rglob("*" + CARD_SUFFIX)):
            if _model_of_card(candidate) == name:
                return candidate
    return None


_CARD_MODELS: dict[Path, tuple[tuple[int, int, int], str | None]] = {}
""":func:`_model_of_card`'s answers, with the version of the file each was read from."""


def _model_of_card(path: Path) -> str | None:
    """The ``model`` of the valid card at ``path``, or ``None`` (not a valid card, or gone); read
    again only when the file changed (size, modification time or inode), so the ``auto`` backends
    that resolve per image (a batch's mask-wear fit) do not re-read every card of the folder."""
    try:
        st = path.stat()
    except OSError:
        return None
    version = (st.st_mtime_ns, st.st_size, st.st_ino)
    known = _CARD_MODELS.get(path)
    if known is not None and known[0] == version:
        return known[1]
    try:
        model: str | None = read_card(path).model
    except CheckpointError:
        model = None
    _CARD_MODELS[path] = (version, model)
    return model


@dataclass(frozen=True)
class CheckpointStatus:
    """Whether a checkpoint can be used, and why not, for ``auto`` backends and the status bar.

    Args:
        path: the card looked at (``None`` when nothing was found).
        present: a card file exists.
        loadable: card valid, architecture registered, weights present with the recorded size
            (and hash, when checked).
        reason: one short sentence for logs and the GUI.
        card: the parsed card when it could be read.
    """

    path: Path | None
    present: bool
    loadable: bool
    reason: str
    card: ModelCard | None = None


def _registered_models() -> list[str]:
    from engine.models.registry import registered_models

    return registered_models()


def probe_checkpoint(path: PathLike | None, verify_hash: bool = False,
                     check_architecture: bool = True) -> CheckpointStatus:
    """Cheaply check whether :func:`load_checkpoint` should succeed, without building the model.

    Args:
        path: card, weights file or stem, e.g. the result of :func:`find_checkpoint` (``None``
            means nothing was found).
        verify_hash: also hash the weights (reads the whole file).
        check_architecture: the card's architecture must be registered (imports every built-in
            model, and torch with them); off for a model run without torch, whose loader checks
            the architecture itself.

    Returns:
        A :class:`CheckpointStatus`; never raises for bad files.
    """
    if path is None:
        return CheckpointStatus(None, False, False, "no checkpoint found")
    card_path = card_path_for(path)
    if not card_path.is_file():
        return CheckpointStatus(card_path, False, False, f"{card_path.name} not found")
    try:
        card = read_card(card_path)
    except CheckpointError as exc:
        return CheckpointStatus(card_path, True, False, str(exc))
    weights = card_path.parent / card.weights
    try:
        if check_architecture and card.model not in _registered_models():
            reason = f"architecture {card.model!r} is not part of this build"
        elif not weights.is_file():
            reason = f"{weights.name} not found"
        elif card.weights_size and weights.stat().st_size != card.weights_size:
            reason = f"{weights.name} has the wrong size (truncated or replaced)"
        elif verify_hash and sha256_file(weights) != card.sha256:
            reason = f"{weights.name}: hash mismatch, file corrupt or replaced"
        else:
            return CheckpointStatus(card_path, True, True, f"{card.model} checkpoint ready", card)
    except (OSError, CheckpointError) as exc:
        reason = f"{weights.name}: cannot read ({exc})"
    return CheckpointStatus(card_path, True, False, reason, card)

