"""Exception types shared by the engine. Each carries a one-line, user-facing message."""

from __future__ import annotations


class MasqueradeError(Exception):
    """Base class of every error the engine raises on purpose (bad input, bad file, ...)."""


class ImageLoadError(MasqueradeError):
    """An image could not be read: missing, unreadable, unsupported, corrupt or too large."""


class ImageSaveError(MasqueradeError):
    """An image could not be written (bad extension, disk full, permission denied ...)."""


class CheckpointError(MasqueradeError):
    """A weight file or its card is missing, corrupt, mismatched or unsafe to load."""


class EditorStateError(MasqueradeError):
    """An editor was used out of order, e.g. ``edit`` before ``set_image``."""


class Cancelled(MasqueradeError):
    """Work was cancelled cooperatively (a newer request arrived or the user pressed Cancel)."""


class NoFaceError(MasqueradeError):
    """The image has no face the operation can work on (message: ``no face found ...``)."""


class LearnedBackendError(MasqueradeError, ValueError):
    """A learned engine was asked for explicitly but cannot run (no usable checkpoint, or it failed
    to load); one line saying why. A ``ValueError`` too, like every other bad backend request."""
