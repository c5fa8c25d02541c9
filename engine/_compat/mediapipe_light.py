"""Import one MediaPipe solution without the rest of the ``mediapipe`` package.

``import mediapipe`` runs the package's ``__init__``, which imports every legacy solution and the
Tasks API; the solutions package imports ``drawing_utils``, which imports ``matplotlib.pyplot``.
That is ~0.37 s of a 0.6 s start on this machine (``python -X importtime -c "import mediapipe"``),
paid again by every batch worker, for plotting code the engine never calls.

:func:`solution` imports just ``mediapipe.python.solutions.<name>``: the two package ``__init__``
files on the way (``mediapipe`` and ``mediapipe.python.solutions``) are registered as modules whose
own code runs only when an attribute they would define is first asked for. ``import mediapipe as
mp; mp.solutions.drawing_utils`` later in the same process therefore still works (that attribute
access runs the real ``__init__`` then), and the solution classes are the same objects either way.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_LOCK = threading.RLock()

_DEFERRED = ("mediapipe", "mediapipe.python.solutions")
"""Packages whose ``__init__`` is put off (in import order)."""

SOLUTIONS = ("face_detection", "face_mesh", "selfie_segmentation", "hands", "pose", "holistic", "objectron")
"""Every solution module the package's ``__init__`` imports except the drawing ones, all imported
on the first call. Their imports register calculator option types (protobuf extensions) that the
graphs' configurations refer to: with only ``face_detection`` imported, the first detector graph
of a process found the astronaut's face 0.7 px off the box every later graph (and the whole
package) gives, so a one-worker and a two-worker batch wrote different files."""


def _deferred_package(name: str, submodule_shortcut: bool) -> None:
    """Register package ``name`` in ``sys.modules`` without running its ``__init__``; the first
    lookup of an attribute it lacks runs it (once; other threads wait for it). With
    ``submodule_shortcut``, ``from package import submodule`` imports just that submodule instead
    (for ``mediapipe.python.solutions``, whose ``__init__`` binds its submodules unchanged; the top
    package's binds other objects, e.g. ``tasks`` is ``mediapipe.tasks.python``)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"no package {name!r}")
    module = importlib.util.module_from_spec(spec)
    state = {"run": False}

    def lookup(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        with _LOCK:  # re-entrant: the real __init__ running in this thread may look itself up
            if not state["run"]:
                if submodule_shortcut and importlib.util.find_spec(f"{name}.{attr}") is not None:
                    return importlib.import_module(f"{name}.{attr}")
                state["run"] = True
                assert spec.loader is not None
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    state["run"] = False  # the next lookup tries again (and raises the real error)
                    raise
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    module.__dict__["__getattr__"] = lookup  # the module-level attribute hook (PEP 562)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def solution(name: str) -> ModuleType:
    """The module ``mediapipe.python.solutions.<name>`` (``face_detection``, ``face_mesh``,
    ``selfie_segmentation``), imported without the rest of ``mediapipe``.

    Args:
        name: the solution's module name.

    Returns:
        The module (the one ``mediapipe.solutions.<name>`` is, when the whole package is imported).

    Raises:
        ImportError: MediaPipe is not installed, or has no such solution.
    """
    full = f"mediapipe.python.solutions.{name}"
    with _LOCK:
        if full in sys.modules:
            return sys.modules[full]
        for package in _DEFERRED:
            if package not in sys.modules:
                _deferred_package(package, submodule_shortcut=package != "mediapipe")
        for other in SOLUTIONS:
            importlib.import_module(f"mediapipe.python.solutions.{other}")
        return importlib.import_module(full)
