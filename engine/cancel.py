"""Cooperative cancellation shared by editors, batch jobs and the GUI worker."""

from __future__ import annotations

import threading
from collections.abc import Callable

from engine.errors import Cancelled


class CancelToken:
    """A thread-safe flag that long work checks between steps.

    Args:
        parent: optional extra predicate; the token also counts as cancelled while it returns True
            (the GUI worker uses it for "a newer request arrived on this channel").

    Example:
        >>> tok = CancelToken()
        >>> tok.raise_if_cancelled()   # no-op
        >>> tok.cancel(); tok.cancelled
        True
    """

    def __init__(self, parent: Callable[[], bool] | None = None) -> None:
        self._event = threading.Event()
        self._parent = parent

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called or the parent predicate says so."""
        return self._event.is_set() or (self._parent is not None and bool(self._parent()))

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~engine.errors.Cancelled` if cancelled; otherwise do nothing."""
        if self.cancelled:
            raise Cancelled("cancelled")

