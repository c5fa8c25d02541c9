"""The engine selector group every studio with a learned engine shows: a combo + a note line, bound
to a :class:`~engine.studios.base.Resolution`.

The studio decides what a choice means (resolve it, push an undoable parameter, refuse an
unavailable learned engine); :class:`EngineBox` shows a resolution: the requested entry selected,
the learned entry offered only when a usable checkpoint exists, and a note that says what runs —
worded from the resolution's fields (``backend``, ``requested``, ``available``, ``measured_better``)
— with the engine's own ``reason`` shown as text, never parsed.

Example:
    >>> box = EngineBox("Engine", ENGINE_CHOICES, {"classical": "rules", "neural": "a GAN"})  # doctest: +SKIP
    >>> box.bind(editor.resolution, offer=editor.learned.resolve("auto"))                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QVBoxLayout, QWidget

from engine.studios.base import CLASSICAL, LEARNED, Resolution

ENGINE_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto", "Auto (learned only if measured better)"),
    (CLASSICAL, "Classical"),
    (LEARNED, "Learned"),
)
"""The usual entries: ``(requested backend, label)``; studios pass their own labels."""


def runs_line(res: Resolution, names: Mapping[str, str]) -> str:
    """One sentence: which engine runs for ``res`` and the gist of why, from its fields only.

    Args:
        res: the resolution.
        names: how the engines are called, ``{"classical": ..., "neural": ...}``.

    Returns:
        E.g. ``"Auto runs classical region warping: the learned model did not measure better."``.
    """
    name = names.get(res.backend, res.backend)
    if res.requested == CLASSICAL:
        return f"Runs {name} (chosen)."
    if res.requested == LEARNED:
        if res.measured_better:
            return f"Runs {name} (chosen)."
        return f"Runs {name} (chosen; its card does not say it measured better — research use)."
    if res.learned:
        return f"Auto runs {name}: its card says it measured better."
    if res.available:
        return f"Auto runs {name}: the learned model did not measure better."
    return f"Auto runs {name}: no usable learned model."


class EngineBox(QGroupBox):
    """A titled engine combo with a word-wrapped note, bound to a resolution.

    Args:
        title: group title.
        choices: ``(key, text)`` per entry, in display order (keys: ``auto`` / ``classical`` /
            ``neural``).
        names: how the note calls each backend, ``{"classical": ..., "neural": ...}``.
        combo_name: object name of the combo (for tests and styles).
        note_name: object name of the note.
        note_lines: minimum height of the note in text lines (keeps the panel from jumping).
        parent: Qt parent.

    Signals:
        chosen(str): the key newly selected in the combo (not emitted by :meth:`set_current` or
            :meth:`bind`).
    """

    chosen = Signal(str)

    def __init__(self, title: str, choices: Sequence[tuple[str, str]], names: Mapping[str, str] | None = None,
                 combo_name: str = "engine_combo", note_name: str = "engine_note", note_lines: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.keys: list[str] = [k for k, _ in choices]
        self.names: dict[str, str] = dict(names or {CLASSICAL: "the classical engine", LEARNED: "the learned engine"})
        self.resolution: Resolution | None = None
        """The resolution shown (``None`` until :meth:`bind`)."""
        lay = QVBoxLayout(self)
        self._layout = lay
        self.combo = QComboBox()
        self.combo.setObjectName(combo_name)
        for key, text in choices:
            self.combo.addItem(text, key)
        self.combo.currentIndexChanged.connect(self._index_changed)
        lay.addWidget(self.combo)
        self.note = QLabel("")
        self.note.setObjectName(note_name)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #777;")
        if note_lines:
            self.note.setMinimumHeight(note_lines * self.note.fontMetrics().lineSpacing())
        lay.addWidget(self.note)

    def _index_changed(self, index: int) -> None:
        key = str(self.combo.itemData(index))
        tip = self.combo.itemData(index, Qt.ItemDataRole.ToolTipRole)
        self.combo.setToolTip(str(tip) if tip else "")
        self.chosen.emit(key)

    def add_widget(self, widget: QWidget) -> None:
        """Add a studio's own control under the note (e.g. a view option of the engine)."""
        self._layout.addWidget(widget)

    # -- binding ------------------------------------------------------------------------------------
    def bind(self, res: Resolution, offer: Resolution | None = None) -> None:
        """Show ``res``: select ``res.requested``, write the note (what runs, then ``res.reason``),
        and offer the learned entry when ``offer`` (the ``auto`` resolution, which reads the card)
        says a usable checkpoint exists.

        Args:
            res: the resolution of the current choice.
            offer: the ``auto`` resolution (default ``res`` when it is one).
        """
        self.resolution = res
        self.set_current(res.requested)
        self.set_note(f"{runs_line(res, self.names)}\nWhy: {res.reason}")
        probe = offer if offer is not None else (res if res.requested == "auto" else None)
        if probe is not None and LEARNED in self.keys:
            usable = probe.available or res.requested == LEARNED
            keep = usable and bool(self.tip(LEARNED))  # the studio's own tip (e.g. measured numbers)
            self.set_enabled(LEARNED, usable, None if keep else probe.reason)

    def refuse(self, message: str) -> None:
        """A choice was refused: say why in the note and go back to the shown resolution's entry."""
        if self.resolution is not None:
            self.set_current(self.resolution.requested)
        self.set_note(message)

    # -- entries ------------------------------------------------------------------------------------
    def index(self, key: str) -> int:
        """Position of ``key``.

        Raises:
            ValueError: ``key`` is not an entry (the message names the valid keys).
        """
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
        tip = self.tip(key)
        self.combo.setToolTip(tip)

    def set_note(self, text: str) -> None:
        """The grey text under the combo."""
        self.note.setText(text)

    def tip(self, key: str) -> str:
        """The tool tip of one entry (``""`` when none)."""
        tip = self.combo.itemData(self.index(key), Qt.ItemDataRole.ToolTipRole)
        return str(tip) if tip else ""

    def set_tip(self, key: str, tip: str) -> None:
        """Tool tip of one entry (and of the combo while that entry is selected)."""
        self.combo.setItemData(self.index(key), tip, Qt.ItemDataRole.ToolTipRole)
        if self.current() == key:
            self.combo.setToolTip(tip)

    def set_enabled(self, key: str, on: bool, tip: str | None = None) -> None:
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
