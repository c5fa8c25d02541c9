"""Undoable edits. Every change to the document goes through one of these ``QUndoCommand`` s."""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtGui import QUndoCommand

from app.model.document import Document


class SetParamCommand(QUndoCommand):
    """Set one studio parameter.

    Commands that share a non-``None`` ``merge_key`` (one slider drag) merge into one undo step.

    Args:
        doc: the document.
        studio: studio name, e.g. ``"opera"``.
        key: parameter name.
        value: new value.
        merge_key: identifier of a continuous gesture (slider drag); ``None`` = its own step.
        label: text shown in undo history (defaults to ``"Change <key>"``).
    """

    ID = 0x5E7

    def __init__(self, doc: Document, studio: str, key: str, value: Any,
                 merge_key: Optional[int] = None, label: Optional[str] = None) -> None:
        super().__init__(label or f"Change {key}")
        self.doc = doc
        self.studio = studio
        self.key = key
        self.old = doc.param(studio, key)
        self.new = value
        self.merge_key = merge_key
        if merge_key is None and _same(self.old, value):
            self.setObsolete(True)  # e.g. "Reset colour" twice: QUndoStack.push drops it, no empty undo step

    def redo(self) -> None:
        self.doc.set_param(self.studio, self.key, self.new)

    def undo(self) -> None:
        self.doc.set_param(self.studio, self.key, self.old)

    def id(self) -> int:  # noqa: A003 - Qt API
        return self.ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, SetParamCommand):
            return False
        if (other.merge_key, other.studio, other.key) != (self.merge_key, self.studio, self.key):
            return False
        self.new = other.new
        if self.new == self.old:
            self.setObsolete(True)
        return True


class SetParamsCommand(QUndoCommand):
    """Set several parameters of one studio in one step (e.g. "Reset to defaults")."""

    def __init__(self, doc: Document, studio: str, values: dict[str, Any], label: str = "Set parameters") -> None:
        super().__init__(label)
        self.doc = doc
        self.studio = studio
        self.new = dict(values)
        self.old = {k: doc.param(studio, k) for k in values}
        if all(_same(self.old[k], v) for k, v in self.new.items()):
            self.setObsolete(True)  # nothing would change: not pushed

    def redo(self) -> None:
        for k, v in self.new.items():
            self.doc.set_param(self.studio, k, v)

    def undo(self) -> None:
        for k, v in self.old.items():
            self.doc.set_param(self.studio, k, v)


def _same(a: Any, b: Any) -> bool:
    """``a == b`` as one bool (False where the comparison is not a plain truth value, e.g. arrays)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
