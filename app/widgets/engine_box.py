"""The engine selector group every studio with a learned engine shows: a combo + a note line.

The studio decides what a choice means (build an editor, push an undoable parameter, refuse an
unavailable learned engine); :class:`EngineBox` only holds the widgets: the entries as
``(key, text)`` pairs, per-entry tool tips and enabled states, and the grey note under the combo.

Example:
    >>> box = EngineBox("Engine", (("auto", "Auto"), ("classical", "Classical")))  # doctest: +SKIP
    >>> box.chosen.connect(print)                                                    # doctest: +SKIP
"""

from __future__ import annotations

from typing import Optional, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QVBoxLayout, QWidget


class EngineBox(QGroupBox):
    """A titled engine combo with a word-wrapped note.

    Args:
        title: group title.
        choices: ``(key, text)`` per entry, in display order.
        combo_name / note_name: object names of the combo and the note (for tests and styles).
        note_lines: minimum height of the note in text lines (keeps the panel from jumping).

    Signals:
        chosen(str): the key newly selected in the combo (not emitted by :meth:`set_current`).
    """

    chosen = Signal(str)

    def __init__(self, title: str, choices: Sequence[tuple[str, str]], combo_name: str = "engine_combo",
                 note_name: str = "engine_note", note_lines: int = 0, parent: Optional[QWidget] = None) -> None:
        super().__init__(title, parent)
        self.keys: list[str] = [k for k, _ in choices]
        lay = QVBoxLayout(self)
        self.combo = QComboBox()
        self.combo.setObjectName(combo_name)
        for key, text in choices:
            self.combo.addItem(text, key)
        self.combo.currentIndexChanged.connect(lambda i: self.chosen.emit(str(self.combo.itemData(i))))
        lay.addWidget(self.combo)
        self.note = QLabel("")
        self.note.setObjectName(note_name)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #777;")
        if note_lines:
            self.note.setMinimumHeight(note_lines * self.note.fontMetrics().lineSpacing())
        lay.addWidget(self.note)

    def index(self, key: str) -> int:
        """Position of ``key``; ``ValueError`` naming the valid keys otherwise."""
        if key not in self.keys:
            raise ValueError(f"engine must be one of {', '.join(self.keys)}, got {key!r}")
        return self.keys.index(key)

    def current(self) -> str:
        """The selected key."""
        return str(self.combo.currentData())

    def set_current(self, key: str) -> None:
        """Select ``key`` without emitting :attr:`chosen`."""
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(self.index(key))
        self.combo.blockSignals(False)

    def set_note(self, text: str) -> None:
        """The grey line under the combo."""
        self.note.setText(text)

    def set_tip(self, key: str, tip: str) -> None:
        """Tool tip of one entry (and of the combo while that entry is selected)."""
        self.combo.setItemData(self.index(key), tip, Qt.ItemDataRole.ToolTipRole)
        if self.current() == key:
            self.combo.setToolTip(tip)

    def set_enabled(self, key: str, on: bool, tip: Optional[str] = None) -> None:
        """Enable or grey out one entry (a greyed entry cannot be picked), optionally with its tool tip."""
        model = self.combo.model()
        if isinstance(model, QStandardItemModel):
            model.item(self.index(key)).setEnabled(on)
        if tip is not None:
            self.set_tip(key, tip)

    def is_enabled(self, key: str) -> bool:
        """Whether ``key`` can be picked."""
        model = self.combo.model()
        item = model.item(self.index(key)) if isinstance(model, QStandardItemModel) else None
        return True if item is None else item.isEnabled()
