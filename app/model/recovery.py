"""Sessions on disk: the editable state of the window in one file, for "Save session" and for crash
recovery (autosave).

A session file (``*.masq``) is a zip archive holding ``state.json`` (format version, shown studio,
document path, every studio's parameters) and ``.npy`` arrays (the document image, the Opera sketch,
the Regenerate label map). Arrays are read with ``allow_pickle=False`` and parameters are plain JSON:
opening a session never runs code from the file. Files are written atomically (temporary file,
fsync, rename), so a kill or a full disk during an autosave leaves the previous file whole.

Crash recovery: every interactive window owns a :class:`RecoverySlot` in the recovery folder
(:func:`recovery_dir`, ``~/.masquerade/recovery`` unless ``MASQUERADE_RECOVERY_DIR`` says otherwise):
``<id>.masq`` (the autosave) beside ``<id>.lock``, which the running window holds locked
(``flock``). A clean exit removes both; after a crash or kill the lock is free again, and
:func:`orphaned_sessions` lists that session for the next start to offer.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SESSION_SUFFIX = ".masq"
"""File name ending of session files (saved or autosaved)."""
FORMAT_VERSION = 1
"""Version written in ``state.json``; a file of another version is refused."""
ENV_DIR = "MASQUERADE_RECOVERY_DIR"
"""Environment variable naming the recovery folder (default ``~/.masquerade/recovery``)."""
ENV_INTERVAL = "MASQUERADE_AUTOSAVE_S"
"""Environment variable giving the autosave interval in seconds (default :data:`AUTOSAVE_S`)."""
AUTOSAVE_S = 60.0
"""Seconds between autosaves of modified work."""
MAX_MEMBER_BYTES = 1 << 30
"""Largest array a session file may hold (uncompressed): a bigger member is refused, not read."""

_STATE = "state.json"


class SessionError(ValueError):
    """A session file cannot be written or read; the message is one line."""


@dataclass
class Session:
    """The editable state of the window.

    Args:
        studio: name of the studio on screen.
        path: the document's file, if it came from one (shown in the title).
        image: the document image (``uint8`` ``[H, W, 3]``), or ``None`` when none is open.
        params: ``{namespace: {key: value}}`` — every studio's parameters.
        layers: painted layers by name (``"opera.sketch"``, ``"regenerate.labels"``), ``uint8`` ``[H, W]``.
        saved_at: seconds since the epoch when the state was taken.
    """

    studio: str
    path: Path | None = None
    image: np.ndarray | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    saved_at: float = field(default_factory=time.time)


def recovery_dir(env: dict[str, str] | None = None) -> Path:
    """The recovery folder: ``MASQUERADE_RECOVERY_DIR`` or ``~/.masquerade/recovery`` (not created here).

    Args:
        env: environment to read (default ``os.environ``).
    """
    env = dict(os.environ) if env is None else env
    value = env.get(ENV_DIR)
    return Path(value) if value else Path.home() / ".masquerade" / "recovery"


def autosave_interval_s(env: dict[str, str] | None = None) -> float:
    """Seconds between autosaves: ``MASQUERADE_AUTOSAVE_S`` (0.1–86400) or :data:`AUTOSAVE_S`.

    Raises:
        SessionError: the variable is not a number in range.
    """
    env = dict(os.environ) if env is None else env
    text = env.get(ENV_INTERVAL)
    if not text:
        return AUTOSAVE_S
    try:
        value = float(text)
    except ValueError:
        raise SessionError(f"{ENV_INTERVAL} must be a number of seconds, got {text!r}") from None
    if not 0.1 <= value <= 86400:
        raise SessionError(f"{ENV_INTERVAL} must be 0.1–86400 seconds, got {text}")
    return value


# -- parameter values as JSON ---------------------------------------------------------------------
def _encode(value: Any) -> Any:
    """A parameter value as JSON (tuples tagged so they come back as tuples)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    raise SessionError(f"parameter value of type {type(value).__name__} cannot be saved")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"tuple"} or not isinstance(value["tuple"], list):
            raise SessionError("session file: malformed parameter value")
        return tuple(_decode(v) for v in value["tuple"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def encode_session(session: Session) -> bytes:
    """The bytes of a session file (a zip archive).

    Raises:
        SessionError: a parameter value is not plain data.
    """
    arrays = dict(session.layers)
    if session.image is not None:
        arrays["image"] = session.image
    state = {
        "version": FORMAT_VERSION,
        "studio": session.studio,
        "path": str(session.path) if session.path is not None else None,
        "saved_at": session.saved_at,
        "params": {ns: {k: _encode(v) for k, v in table.items()} for ns, table in session.params.items()},
        "arrays": sorted(arrays),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr(_STATE, json.dumps(state))
        for name, arr in arrays.items():
            z.writestr(f"{name}.npy", _npy(arr))
    return buf.getvalue()


def write_session(path: str | Path, session: Session) -> Path:
    """Write ``session`` to ``path`` atomically (the old file stays whole on any failure).

    Raises:
        SessionError: not writable (missing folder, permission, full disk) or not plain data.
    """
    from engine.errors import ImageSaveError
    from engine.imageio import atomic_write_bytes

    data = encode_session(session)
    try:
        return atomic_write_bytes(path, data)
    except ImageSaveError as exc:
        raise SessionError(str(exc)) from None


def read_session(path: str | Path) -> Session:
    """Read a session file written by :func:`write_session`.

    Raises:
        SessionError: missing, not a regular file, not a session file, another format version, or
            damaged (one line naming the file).
    """
    p = Path(path)
    if not p.is_file():
        raise SessionError(f"{p}: not a session file (missing or not a regular file)")
    try:
        with zipfile.ZipFile(p) as z:
            state = json.loads(z.read(_STATE))
            if not isinstance(state, dict) or state.get("version") != FORMAT_VERSION:
                raise SessionError(f"{p}: unsupported session format")
            arrays: dict[str, np.ndarray] = {}
            for name in state.get("arrays", []):
                info = z.getinfo(f"{name}.npy")
                if info.file_size > MAX_MEMBER_BYTES:
                    raise SessionError(f"{p}: {name} is too large ({info.file_size} bytes)")
                arr = np.load(io.BytesIO(z.read(info)), allow_pickle=False)
                if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or arr.size == 0:
                    raise SessionError(f"{p}: {name} is not an 8-bit image")
                arrays[str(name)] = arr
            raw_params = state.get("params", {})
            if not isinstance(raw_params, dict) or not all(isinstance(t, dict) for t in raw_params.values()):
                raise SessionError(f"{p}: malformed parameters")
            params = {str(ns): {str(k): _decode(v) for k, v in table.items()} for ns, table in raw_params.items()}
            image = arrays.pop("image", None)
            if image is not None and (image.ndim != 3 or image.shape[2] != 3):
                raise SessionError(f"{p}: the document image is not RGB")
            raw_path = state.get("path")
            return Session(studio=str(state.get("studio", "")), path=Path(raw_path) if raw_path else None,
                           image=image, params=params, layers=arrays, saved_at=float(state.get("saved_at", 0.0)))
    except SessionError:
        raise
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SessionError(f"{p}: damaged session file ({why})") from None


# -- crash recovery -------------------------------------------------------------------------------
def _lock_free(lock: Path) -> bool:
    """Nobody holds ``lock`` (its window exited or was killed); a missing lock file counts as free."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases the probe's lock
    return True


def orphaned_sessions(folder: str | Path) -> list[Path]:
    """Autosaves in ``folder`` whose window is gone (crashed or killed), newest first."""
    d = Path(folder)
    if not d.is_dir():
        return []
    found = [p for p in d.glob(f"*{SESSION_SUFFIX}") if p.is_file() and _lock_free(p.with_suffix(".lock"))]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def discard_orphan(path: str | Path) -> None:
    """Remove an orphaned autosave and its lock file (missing files are fine)."""
    p = Path(path)
    for f in (p, p.with_suffix(".lock")):
        f.unlink(missing_ok=True)


class RecoverySlot:
    """This window's place in the recovery folder: ``<id>.masq`` guarded by the locked ``<id>.lock``.

    Args:
        folder: the recovery folder (created, with the user's umask).

    Raises:
        SessionError: the folder cannot be created or the lock not taken.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        ident = f"session-{os.getpid()}-{time.time_ns()}"
        self.path = self.folder / f"{ident}{SESSION_SUFFIX}"
        self.lock_path = self.folder / f"{ident}.lock"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise SessionError(f"recovery folder {self.folder}: {exc.strerror or exc}") from None

    def save(self, session: Session) -> Path:
        """Autosave ``session`` (atomically) into this slot.

        Raises:
            SessionError: not written (the previous autosave stays).
        """
        return write_session(self.path, session)

    def clear(self) -> None:
        """Remove the autosave (nothing unsaved any more); the slot stays usable."""
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Clean exit: remove the autosave and the lock file, release the lock."""
        self.clear()
        if self._fd is not None:
            self.lock_path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None
