"""The F1 table: every key the window answers, grouped by studio (data: :mod:`app.shortcuts`)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from app import shortcuts


class ShortcutTable(QTableWidget):
    """Two columns (key, action); each group starts with a bold title row spanning both columns.

    Args:
        groups: ``[(group title, [(key, action), ...]), ...]``; default
            :func:`app.shortcuts.help_groups`.
        parent: parent widget.
    """

    def __init__(self, groups: Sequence[tuple[str, Sequence[tuple[str, str]]]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Key", "Action"])
        self.group_rows: dict[str, int] = {}  # group title → its title row
        bold = QFont(self.font())
        bold.setBold(True)
        for title, rows in (shortcuts.help_groups() if groups is None else groups):
            r = self.rowCount()
            self.insertRow(r)
            head = QTableWidgetItem(title)
            head.setFont(bold)
            self.setItem(r, 0, head)
            self.setSpan(r, 0, 1, 2)
            self.group_rows[title] = r
            for k, d in rows:
                r = self.rowCount()
                self.insertRow(r)
                self.setItem(r, 0, QTableWidgetItem(k))
                self.setItem(r, 1, QTableWidgetItem(d))
        self.resizeColumnToContents(0)
        self.verticalHeader().hide()  # row numbers mean nothing here
        # the action column takes the rest of the width and long actions wrap (never cut off)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Re-wrap the actions to the new width."""
        super().resizeEvent(event)
        self.resizeRowsToContents()

    def rows_of(self, title: str) -> list[tuple[str, str]]:
        """The ``(key, action)`` rows shown under the group ``title`` (``KeyError`` if absent)."""
        start = self.group_rows[title] + 1
        ends = [r for r in self.group_rows.values() if r >= start] + [self.rowCount()]
        out = []
        for r in range(start, min(ends)):
            k, d = self.item(r, 0), self.item(r, 1)
            out.append((k.text() if k else "", d.text() if d else ""))
        return out
