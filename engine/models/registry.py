"""The architecture registry: ``@register_model`` records constructor kwargs, ``build_model`` rebuilds.

Persistence lives in :mod:`engine.weights`; this module only knows classes and their kwargs
(as timm keeps its registry beside the models).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from engine.errors import CheckpointError

M = TypeVar("M", bound=type[nn.Module])

MAX_PARAMETERS = 100_000_000
"""Most parameter + buffer elements :func:`build_model` allocates (400 MB of float32); the
project's models have a few million. A card asking for more is refused before any memory is used."""

MAX_KWARG_INT = 1 << 16
"""Largest magnitude of an integer constructor argument (channel widths, layer counts, sizes);
checked before the architecture is even sized, so a tampered card cannot make it loop for ever."""

MAX_KWARG_ITEMS = 1024
"""Most items in one list / dict constructor argument."""

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


def _registered(name: str) -> type[nn.Module]:
    if name not in _REGISTRY:
        _import_builtin_models()
    cls = _REGISTRY.get(name)
    if cls is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise CheckpointError(f"unknown model architecture {name!r} (known: {known})")
    return cls


def _check_kwarg(name: str, key: str, value: Any, depth: int = 0) -> None:
    """Refuse constructor arguments no real model has: huge integers, non-finite floats, deep or long
    containers, types JSON cannot hold."""
    where = f"cannot build {name!r}: kwargs {key!r}"
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > MAX_KWARG_INT:
            raise CheckpointError(f"{where} = {value} is out of range (|value| <= {MAX_KWARG_INT})")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CheckpointError(f"{where} = {value} is not a finite number")
        return
    if isinstance(value, (list, tuple, dict)):
        if depth >= 4 or len(value) > MAX_KWARG_ITEMS:
            raise CheckpointError(f"{where} is too large or too deeply nested")
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            _check_kwarg(name, key, item, depth + 1)
        return
    raise CheckpointError(f"{where} has an unsupported type {type(value).__name__}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def model_size(name: str, **kwargs: Any) -> tuple[int, int]:
    """``(parameters, parameters + buffers)`` element counts of an architecture, without allocating it.

    The model is built on torch's ``meta`` device (shapes only, no memory, no initialisation).

    Args:
        name: registry key (a card's ``model`` field).
        **kwargs: constructor arguments (a card's ``kwargs``).

    Returns:
        The parameter count (what a card's ``parameter_count`` records) and the number of tensor
        elements the real model would allocate.

    Raises:
        CheckpointError: unknown name, arguments out of range, or the constructor failed (any
            exception, in one line).

    Example:
        >>> model_size("no_such_model")
        Traceback (most recent call last):
        ...
        engine.errors.CheckpointError: unknown model architecture 'no_such_model' (known: ...)
    """
    cls = _registered(name)
    for key, value in kwargs.items():
        _check_kwarg(name, key, value)
    try:
        with torch.device("meta"):
            model = cls(**kwargs)
    except Exception as exc:  # a tampered card must never surface as a traceback
        raise CheckpointError(f"cannot build {name!r} with kwargs {kwargs}: {_first_line(exc)}") from None
    params = sum(p.numel() for p in model.parameters())
    return params, params + sum(b.numel() for b in model.buffers())


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Construct a registered architecture, refusing one too large to be real.

    The architecture is first sized on the ``meta`` device (:func:`model_size`); more than
    :data:`MAX_PARAMETERS` elements is refused before any memory is allocated. Every failure —
    unknown name, arguments out of range or rejected by the constructor — is one
    :class:`CheckpointError` line.

    Args:
        name: registry key (a card's ``model`` field).
        **kwargs: constructor arguments (a card's ``kwargs``).

    Returns:
        A freshly initialised module on the CPU.

    Raises:
        CheckpointError: unknown name (the message lists the known ones), arguments out of range,
            a model over :data:`MAX_PARAMETERS` elements, or the constructor failed.
    """
    cls = _registered(name)
    _params, elements = model_size(name, **kwargs)
    if elements > MAX_PARAMETERS:
        raise CheckpointError(f"cannot build {name!r} with kwargs {kwargs}: {elements:,} parameters "
                              f"is over the limit of {MAX_PARAMETERS:,}")
    try:
        return cls(**kwargs)
    except MemoryError:
        raise CheckpointError(f"cannot build {name!r} with kwargs {kwargs}: out of memory") from None
    except Exception as exc:  # a tampered card must never surface as a traceback
        raise CheckpointError(f"cannot build {name!r} with kwargs {kwargs}: {_first_line(exc)}") from None


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


