"""The architecture registry: ``@register_model`` records constructor kwargs, ``build_model`` rebuilds.

Persistence lives in :mod:`engine.weights`; this module only knows classes and their kwargs
(as timm keeps its registry beside the models).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from engine.errors import CheckpointError

M = TypeVar("M", bound=type[nn.Module])









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


