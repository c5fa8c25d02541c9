"""Model weights: safetensors files, one JSON card per model, a registry of architectures.

A checkpoint is two files side by side::

    checkpoints/parser_v1.safetensors   # the state_dict, written with safetensors (no pickle)
    checkpoints/parser_v1.json          # the card: architecture name + kwargs, provenance, sha256

Models are rebuilt from the card alone: the architecture name is a key of the model registry
(:func:`register_model`) and the card's ``kwargs`` are passed to that class's constructor, then the
weights are loaded with ``strict=True``. The registry records the constructor arguments of every
registered model when it is built (as stylegan2-ada's ``persistence`` does), so
:func:`save_checkpoint` needs only the model and its provenance.

Nothing here unpickles untrusted data: project weights are safetensors, and third-party ``.pth``
files are read by :func:`load_state_dict_file` with ``torch.load(weights_only=True)`` only. Every
failure (missing, corrupt, replaced, mismatched or unsafe file) raises
:class:`~engine.errors.CheckpointError` with a one-line message naming the file.

Example:
    >>> @register_model("tiny_net")  # doctest: +SKIP
    ... class TinyNet(nn.Module):
    ...     def __init__(self, width: int = 8) -> None: ...
    >>> save_checkpoint(TinyNet(width=16), "checkpoints/tiny", task="opera")  # doctest: +SKIP
    >>> model, card = load_checkpoint("checkpoints/tiny.json")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, Union

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from engine.device import select_device
from engine.errors import CheckpointError, ImageSaveError
from engine.imageio import atomic_write_bytes
from engine.labels import SCHEMES

PathLike = Union[str, os.PathLike]
M = TypeVar("M", bound=type[nn.Module])

CARD_SCHEMA_VERSION: int = 1
"""Version of the card layout this build writes and reads."""

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
TORCH_SUFFIXES: tuple[str, ...] = (".pth", ".pt", ".bin", ".ckpt")
"""Extensions :func:`load_state_dict_file` reads with ``torch.load(weights_only=True)``."""

ENV_VAR = "MASQUERADE_CHECKPOINTS"
"""Extra checkpoint folders (``os.pathsep``-separated), searched before the project's own."""

PROJECT_CHECKPOINTS: Path = Path(__file__).resolve().parent.parent / "checkpoints"
"""The repository's ``checkpoints/`` folder."""

CONTAINER_KEYS: tuple[str, ...] = ("state_dict", "model", "params_ema", "params", "net")
"""Keys under which training scripts nest a state_dict (Lightning, BasicSR/GFPGAN, ...)."""

_MAX_NAMED = 5  # keys quoted in an error message


# -- registry ------------------------------------------------------------------------------------

_REGISTRY: dict[str, type[nn.Module]] = {}
_INIT_KWARGS_ATTR = "_checkpoint_kwargs"
_RECORDING_MARK = "_records_checkpoint_kwargs"


def register_model(name: str) -> Callable[[M], M]:
    """Class decorator registering an ``nn.Module`` under an architecture name.

    The class's ``__init__`` is wrapped so every instance remembers its constructor arguments
    (positional ones bound to their names, defaults filled in); :func:`save_checkpoint` writes them
    to the card. Constructor arguments must therefore be JSON-serialisable (numbers, strings,
    bools, ``None``, lists, dicts); tuples come back as lists.

    Args:
        name: registry key written to cards, e.g. ``"bisenet_parser"``.

    Returns:
        The decorator; it returns the class itself.

    Raises:
        ValueError: ``name`` is taken by a different class, or the class is already registered
            under another name.
        TypeError: not an ``nn.Module`` subclass, or its ``__init__`` takes ``*args``.
    """

    def decorator(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"register_model({name!r}) expects an nn.Module subclass, got {cls!r}")
        old = _REGISTRY.get(name)
        if old is not None and _qualname(old) != _qualname(cls):
            raise ValueError(f"model name {name!r} is already registered by {_qualname(old)}")
        for other, registered in _REGISTRY.items():
            if registered is cls and other != name:
                raise ValueError(f"{_qualname(cls)} is already registered as {other!r}")
        init = cls.__init__
        if not getattr(init, _RECORDING_MARK, False):  # an inherited recording __init__ will do
            sig = inspect.signature(init)
            if any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
                raise TypeError(f"{_qualname(cls)}.__init__ takes *args; give it named arguments")
            cls.__init__ = _recording_init(init, sig)  # type: ignore[method-assign]
        _REGISTRY[name] = cls
        return cls

    return decorator


def _recording_init(init: Callable[..., None], sig: inspect.Signature) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        recorded: dict[str, Any] = {}
        for pname, value in list(bound.arguments.items())[1:]:
            if sig.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
                recorded.update(value)
            else:
                recorded[pname] = value
        # A registered subclass's wrapper runs last, so the most derived class's arguments win.
        object.__setattr__(self, _INIT_KWARGS_ATTR, recorded)

    setattr(__init__, _RECORDING_MARK, True)
    return __init__


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_builtin_models() -> None:
    """Import ``engine.models`` (if it exists) so its ``@register_model`` decorators have run."""
    try:
        importlib.import_module("engine.models")
    except ModuleNotFoundError as exc:
        if exc.name != "engine.models":
            raise


def registered_models() -> list[str]:
    """Sorted architecture names known to the registry (``engine.models`` included)."""
    _import_builtin_models()
    return sorted(_REGISTRY)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Construct a registered architecture.

    Args:
        name: registry key (a card's ``model`` field).
        **kwargs: constructor arguments (a card's ``kwargs``).

    Returns:
        A freshly initialised module on the CPU.

    Raises:
        CheckpointError: unknown name (the message lists the known ones), or the constructor
            rejected ``kwargs``.
    """
    if name not in _REGISTRY:
        _import_builtin_models()
    cls = _REGISTRY.get(name)
    if cls is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise CheckpointError(f"unknown model architecture {name!r} (known: {known})")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot build {name!r} with kwargs {kwargs}: {exc}") from None


def model_spec(model: nn.Module) -> tuple[str, dict[str, Any]]:
    """Registry name and constructor kwargs of a model built from a registered class.

    DDP / DataParallel (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers are looked
    through.

    Raises:
        CheckpointError: the model's class is not registered.
    """
    model = _unwrap_module(model)
    for name, cls in _REGISTRY.items():
        if type(model) is cls:
            kwargs = getattr(model, _INIT_KWARGS_ATTR, None)
            if kwargs is None:
                raise CheckpointError(f"{_qualname(cls)} instance was created before it was registered")
            return name, dict(kwargs)
    raise CheckpointError(
        f"{_qualname(type(model))} is not a registered model; decorate it with @register_model(name)"
    )


def _unwrap_module(model: nn.Module) -> nn.Module:
    """Look through DDP/DataParallel (``.module``) and compiled (``._orig_mod``) wrappers."""
    registered = set(_REGISTRY.values())
    while type(model) not in registered:
        inner = getattr(model, "_orig_mod", None)
        if inner is None:
            inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            break
        model = inner
    return model


# -- card ----------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ModelCard:
    """Everything needed to rebuild a model and judge where it came from; stored as JSON.

    Args:
        schema_version: card layout version (:data:`CARD_SCHEMA_VERSION`).
        model: registry key of the architecture.
        kwargs: constructor arguments of the architecture.
        task: studio or job the model serves, e.g. ``"opera"``, ``"makeup"``, ``"parsing"``.
        input_size: ``(height, width)`` the model was trained at, or ``None`` if size-agnostic.
        label_scheme: name in :data:`engine.labels.SCHEMES` for models that read or emit label
            maps, else ``None``.
        training_data: free text: data sets used, how they were made or obtained.
        licence: free text: licence of the weights and of the data they were trained on.
        metrics: measured numbers, e.g. ``{"fid": 23.1, "miou": 0.71}``; may be empty.
        created: ISO-8601 UTC time the checkpoint was written.
        torch_version: ``torch.__version__`` that wrote it.
        weights: file name of the safetensors file, in the card's folder.
        sha256: hex SHA-256 of the weights file.
        weights_size: size of the weights file in bytes.
        tensor_count: number of tensors in the state_dict.
        parameter_count: number of parameter elements, trainable or not (buffers excluded).
        extra: any further facts (training steps, config, notes).
    """

    schema_version: int = CARD_SCHEMA_VERSION
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    task: str = ""
    input_size: Optional[tuple[int, int]] = None
    label_scheme: Optional[str] = None
    training_data: str = ""
    licence: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    created: str = ""
    torch_version: str = ""
    weights: str
    sha256: str
    weights_size: int = 0
    tensor_count: int = 0
    parameter_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Indented JSON text in field order (strict JSON: NaN/inf are refused).

        Raises:
            CheckpointError: a field (``kwargs``, ``metrics``, ``extra``) holds something JSON
                cannot represent.
        """
        try:
            return json.dumps(asdict(self), indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"card for {self.model!r} is not JSON-serialisable: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any, source: str = "card") -> "ModelCard":
        """Validate and build a card from parsed JSON.

        Args:
            data: the parsed JSON object.
            source: where it came from, for error messages (usually the card path).

        Raises:
            CheckpointError: not an object, unsupported schema version, unknown or missing
                fields, or fields of the wrong type.
        """
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: card must be a JSON object")
        version = data.get("schema_version")
        if type(version) is not int or version != CARD_SCHEMA_VERSION:
            raise CheckpointError(
                f"{source}: card schema version {version!r} not supported (expected {CARD_SCHEMA_VERSION})"
            )
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise CheckpointError(f"{source}: unknown card fields {unknown} (put free-form facts in 'extra')")
        data = {k: v for k, v in data.items() if v is not None}  # null means "default"
        missing = sorted(n for n in ("model", "weights", "sha256") if n not in data)
        if missing:
            raise CheckpointError(f"{source}: card lacks required fields {missing}")
        for name, kind in _FIELD_TYPES.items():
            value = data.get(name)
            if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is int)):
                raise CheckpointError(f"{source}: card field {name!r} has the wrong type ({type(value).__name__})")
        if not re.fullmatch(r"[0-9a-f]{64}", data["sha256"]):
            raise CheckpointError(f"{source}: card field 'sha256' is not a hex SHA-256 digest")
        if Path(data["weights"]).name != data["weights"] or data["weights"] in ("", ".", ".."):
            raise CheckpointError(f"{source}: card field 'weights' must be a bare file name")
        size = data.get("input_size")
        if size is not None:
            if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
                raise CheckpointError(f"{source}: card field 'input_size' must be [height, width]")
            data = {**data, "input_size": tuple(size)}
        return cls(**data)


_FIELD_TYPES: dict[str, type] = {
    "model": str, "kwargs": dict, "task": str, "input_size": list, "label_scheme": str,
    "training_data": str, "licence": str, "metrics": dict, "created": str, "torch_version": str,
    "weights": str, "sha256": str, "weights_size": int, "tensor_count": int,
    "parameter_count": int, "extra": dict,
}  # JSON types of the card fields; ``null`` is accepted for every one and means "default"


def card_path_for(path: PathLike) -> Path:
    """The card of a checkpoint given its card, its weights file or its stem.

    ``x.json`` → itself; ``x.safetensors`` → ``x.json``; ``x`` (any other name, dots allowed)
    → ``x.json`` beside it.
    """
    p = Path(path)
    if p.suffix == CARD_SUFFIX:
        return p
    if p.suffix == WEIGHTS_SUFFIX:
        return p.with_suffix(CARD_SUFFIX)
    return p.with_name(p.name + CARD_SUFFIX)


def read_card(path: PathLike) -> ModelCard:
    """Read and validate a checkpoint's card.

    Args:
        path: card, weights file or stem (see :func:`card_path_for`).

    Returns:
        The validated :class:`ModelCard`.

    Raises:
        CheckpointError: the card is missing, unreadable, not JSON or fails validation.
    """
    card_path = card_path_for(path)
    if not card_path.is_file():
        hint = " (weights without a card cannot be loaded)" if card_path.with_suffix(WEIGHTS_SUFFIX).exists() else ""
        raise CheckpointError(f"{card_path}: checkpoint card not found{hint}")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{card_path}: unreadable card ({exc})") from None
    return ModelCard.from_dict(data, source=str(card_path))


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
    input_size: Optional[tuple[int, int]] = None,
    label_scheme: Optional[str] = None,
    training_data: str = "",
    licence: str = "",
    metrics: Optional[Mapping[str, float]] = None,
    extra: Optional[Mapping[str, Any]] = None,
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

    Returns:
        Path of the written card (the weights file is beside it).

    Raises:
        CheckpointError: unregistered model, arguments or metrics that JSON cannot hold, or a
            write failure (targets are left as they were).
        ValueError: unknown ``label_scheme``.
    """
    if label_scheme is not None and label_scheme not in SCHEMES:
        raise ValueError(f"unknown label scheme {label_scheme!r} (known: {', '.join(SCHEMES)})")
    name, kwargs = model_spec(model)
    module = _unwrap_module(model)
    p = Path(path)
    card_path = card_path_for(p / name if p.is_dir() else p)
    weights_path = card_path.with_suffix(WEIGHTS_SUFFIX)

    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}
    blob = safetensors.torch.save(state, metadata={"format": "pt", "model": name})
    card = ModelCard(
        model=name,
        kwargs=kwargs,
        task=task,
        input_size=tuple(input_size) if input_size is not None else None,  # type: ignore[arg-type]
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
    )
    text = card.to_json()
    card_path.parent.mkdir(parents=True, exist_ok=True)
    _write(weights_path, blob)
    _write(card_path, text.encode("utf-8"))
    return card_path


def _load_safetensors_bytes(data: bytes, source: Path) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: corrupt or truncated safetensors file ({exc})") from None


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: Path) -> None:
    """Raise a :class:`CheckpointError` naming offending keys if ``state`` does not fit ``model``."""
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
            more = f" (+{len(keys) - _MAX_NAMED} more)" if len(keys) > _MAX_NAMED else ""
            problems.append(f"{label}: {', '.join(keys[:_MAX_NAMED])}{more}")
    if problems:
        raise CheckpointError(f"{source}: weights do not fit the model; " + "; ".join(problems))


def load_checkpoint(
    path: PathLike,
    device: Union[str, torch.device, None] = None,
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
            weights; unknown architecture; weights that do not fit the architecture (the message
            names missing / unexpected / mis-shaped keys).
    """
    card = read_card(path)
    weights_path = card_path_for(path).parent / card.weights
    data = _read_bytes(weights_path)
    if verify_hash and hashlib.sha256(data).hexdigest() != card.sha256:
        raise CheckpointError(f"{weights_path}: hash mismatch, file corrupt or replaced")
    state = _load_safetensors_bytes(data, weights_path)
    del data
    model = build_model(card.model, **card.kwargs)
    _check_state_dict(model, state, weights_path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied into a parameter
        raise CheckpointError(f"{weights_path}: cannot load weights ({exc})") from None
    target = select_device().device if device is None else torch.device(device)
    return model.to(target).eval(), card


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
        raise CheckpointError(f"{source}: not a state_dict (non-tensor entries: {', '.join(odd[:_MAX_NAMED])})")
    state = {str(k): v for k, v in obj.items()}
    for prefix in ("module.", "_orig_mod."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_state_dict_file(path: PathLike, unwrap: bool = True) -> dict[str, torch.Tensor]:
    """Read third-party weights safely onto the CPU.

    ``.safetensors`` is decoded by safetensors; ``.pth``/``.pt``/``.bin``/``.ckpt`` by
    ``torch.load(map_location="cpu", weights_only=True)``, which only rebuilds tensors and plain
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
        obj: Any = _load_safetensors_bytes(_read_bytes(p), p)
    elif suffix in TORCH_SUFFIXES:
        if not p.is_file():
            raise CheckpointError(f"{p}: weights file not found")
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
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


# -- discovery -----------------------------------------------------------------------------------


def checkpoint_roots() -> list[Path]:
    """Folders searched for checkpoints: ``$MASQUERADE_CHECKPOINTS`` entries, then the project's."""
    extra = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return extra + [PROJECT_CHECKPOINTS]


def find_checkpoint(name: str, roots: Optional[list[PathLike]] = None) -> Optional[Path]:
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
            try:
                if read_card(candidate).model == name:
                    return candidate
            except CheckpointError:
                continue
    return None


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

    path: Optional[Path]
    present: bool
    loadable: bool
    reason: str
    card: Optional[ModelCard] = None


def probe_checkpoint(path: Optional[PathLike], verify_hash: bool = False) -> CheckpointStatus:
    """Cheaply check whether :func:`load_checkpoint` should succeed, without building the model.

    Args:
        path: card, weights file or stem, e.g. the result of :func:`find_checkpoint` (``None``
            means nothing was found).
        verify_hash: also hash the weights (reads the whole file).

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
        if card.model not in registered_models():
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
