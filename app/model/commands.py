"""Undoable parameter edits, and the undo stacks they go on.

Every change to a studio parameter goes through :class:`SetParamCommand` (one value; a slider drag
merges into one step) or :class:`SetParamsCommand` (several values at once, e.g. "Reset makeup").
Painted pixels have their own commands in :mod:`app.model.raster`. Undo texts are in the words a
user reads ("Change lip intensity", "Move mask anchor"), never parameter names: the commands take
their text from the caller.

Each studio has its own stack (:func:`new_undo_stack`); the window groups them in a ``QUndoGroup``
so Edit → Undo follows the studio on screen.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.model.document import Document

UNDO_LIMIT = 100
"""Steps kept per studio stack. Parameter steps are a few bytes; paint steps keep only the changed
box; whole-image steps (load, import, reset of a sketch or label map up to 2048² and beyond) keep
both images, compressed (:mod:`app.model.raster`) — so 100 steps stay within tens of megabytes in
practice, and the oldest steps are dropped instead of being kept for ever."""


def new_undo_stack(parent: QObject | None = None, limit: int = UNDO_LIMIT) -> QUndoStack:
    """A ``QUndoStack`` with the undo limit every studio stack has.

    Args:
        parent: Qt parent.
        limit: steps kept (``QUndoStack`` drops the oldest beyond it).

    Returns:
        The empty stack.

    Raises:
        ValueError: ``limit`` below 1.
    """
    if limit < 1:
        raise ValueError(f"undo limit must be at least 1, got {limit}")
    stack = QUndoStack(parent)
    stack.setUndoLimit(int(limit))
    return stack


class SetParamCommand(QUndoCommand):
    """Set one studio parameter.

    Commands with the same non-``None`` ``merge_key`` (one slider drag) on the same parameter merge
    into one undo step; a merged drag that ends where it started disappears.

    Args:
        doc: the document.
        studio: parameter namespace, e.g. ``"opera"``.
        key: parameter name.
        value: new value.
        text: undo-history text in the user's words, e.g. ``"Change lip intensity"``.
        merge_key: identifier of a continuous gesture (slider drag); ``None`` = its own step.
    """

    ID = 0x5E7

    def __init__(self, doc: Document, studio: str, key: str, value: Any, text: str,
                 merge_key: int | None = None) -> None:
        super().__init__(text)
        self.doc = doc
        self.studio = studio
        self.key = key
        self.old = doc.param(studio, key)
        self.new = value
        self.merge_key = merge_key
        if merge_key is None and same_value(self.old, value):
            self.setObsolete(True)  # e.g. "Reset colour" twice: QUndoStack.push drops it, no empty undo step

    def redo(self) -> None:
        self.doc.set_param(self.studio, self.key, self.new)

    def undo(self) -> None:
        self.doc.set_param(self.studio, self.key, self.old)

    def id(self) -> int:
        return self.ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParamCommand):
            return False
        if (other.merge_key, other.studio, other.key) != (self.merge_key, self.studio, self.key):
            return False
        self.new = other.new
        if same_value(self.new, self.old):
            self.setObsolete(True)
        return True


class SetParamsCommand(QUndoCommand):
    """Set several parameters of one studio in one step (e.g. "Reset makeup").

    Args:
        doc: the document.
        studio: parameter namespace.
        values: ``{key: new value}``.
        text: undo-history text in the user's words.
    """

    def __init__(self, doc: Document, studio: str, values: dict[str, Any], text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.studio = studio
        self.new = dict(values)
        self.old = {k: doc.param(studio, k) for k in values}
        if all(same_value(self.old[k], v) for k, v in self.new.items()):
            self.setObsolete(True)  # nothing would change: not pushed

    def redo(self) -> None:
        for k, v in self.new.items():
            self.doc.set_param(self.studio, k, v)

    def undo(self) -> None:
        for k, v in self.old.items():
            self.doc.set_param(self.studio, k, v)


def same_value(a: Any, b: Any) -> bool:
    """``a == b`` as one bool (False where the comparison is not a plain truth value, e.g. arrays).

    Args:
        a: a parameter value.
        b: another.

    Returns:
        Whether they are equal.
    """
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
