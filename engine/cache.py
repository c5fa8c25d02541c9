"""A per-user cache of arrays that are slow to make and quick to read back.

The drawn and photographed mask templates cost ~25 ms each to make; a batch that draws a random
template per face made all sixteen in every run (~0.45 s of a 3-second, 100-photo job). Read back
from here they cost well under a millisecond each.

Entries are ``.npz`` files (no pickles: read with ``allow_pickle=False``) written atomically under
:func:`cache_dir`. A key must change whenever what it names would be made differently (callers hash
their code and inputs into it). Nothing here ever fails a caller: an unreadable entry is made again
and replaced, an unwritable folder is simply not used.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

CACHE_ENV = "MASQUERADE_CACHE_DIR"
"""The cache's root folder; ``off`` turns the cache off. Default: ``$XDG_CACHE_HOME/masquerade``,
else ``~/.cache/masquerade``."""


def cache_dir(kind: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder of one kind of cached thing (not created here), or ``None`` when the cache is off.

    Args:
        kind: the sub-folder.
        environ: the environment read (default ``os.environ``).

    Example:
        >>> str(cache_dir("templates", {"MASQUERADE_CACHE_DIR": "/tmp/x"}))
        '/tmp/x/templates'
        >>> cache_dir("templates", {"MASQUERADE_CACHE_DIR": "off"}) is None
        True
        >>> str(cache_dir("templates", {"XDG_CACHE_HOME": "/c"}))
        '/c/masquerade/templates'
    """
    env = os.environ if environ is None else environ
    root = env.get(CACHE_ENV, "").strip()
    if root.lower() == "off":
        return None
    try:
        if not root:
            xdg = env.get("XDG_CACHE_HOME", "").strip()
            root = str(Path(xdg) / "masquerade") if xdg else str(Path.home() / ".cache" / "masquerade")
        return Path(root).expanduser() / kind
    except RuntimeError:  # no home folder to be found (a bare container): no cache
        return None


def load_arrays(kind: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays saved under ``key``, or ``None`` when there are none (or they cannot be read).

    Args:
        kind: the cache folder (:func:`cache_dir`).
        key: the entry's file-name-safe key.
    """
    folder = cache_dir(kind)
    if folder is None:
        return None
    path = folder / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # none yet, or a damaged entry: made (again)
        return None


def save_arrays(kind: str, key: str, arrays: Mapping[str, np.ndarray]) -> bool:
    """Save ``arrays`` under ``key`` (atomically: a reader sees the old entry or the whole new one).

    Returns:
        Whether the entry was written (``False``: cache off, or the folder is not writable).
    """
    folder = cache_dir(kind)
    if folder is None:
        return False
    tmp = ""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=folder)
        savez: Callable[..., None] = np.savez  # named arrays only (its allow_pickle is never passed)
        with os.fdopen(fd, "wb") as fh:
            savez(fh, **{name: np.asarray(a) for name, a in arrays.items()})
        os.replace(tmp, folder / f"{key}.npz")
        return True
    except OSError:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False
