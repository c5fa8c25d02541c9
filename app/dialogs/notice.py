"""A persistent notification bar: failures of an action the user asked for (open, export, save,
batch start) stay on screen, with their one-line reason, until dismissed or replaced — unlike the
status bar, whose next message would hide them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget


class NoticeBar(QFrame):
    """A red-framed line over the canvas with a close button; hidden while there is nothing to say.

    Args:
        parent: Qt parent.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice_bar")
        self.setStyleSheet("#notice_bar { background: #fdecea; border: 1px solid #e0a0a0; }"
                           "#notice_bar QLabel { color: #8a1f11; }")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel("")
        self.label.setObjectName("notice_text")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setObjectName("notice_close")
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        row.addWidget(self.label, 1)
        row.addWidget(self.close_button)
        self.hide()

    @property
    def text(self) -> str:
        """What the bar says ("" when dismissed)."""
        return "" if self.isHidden() else self.label.text()

    def show_notice(self, text: str) -> None:
        """Show ``text`` (one line) until dismissed or replaced."""
        self.label.setText(text)
        self.setToolTip(text)
        self.show()

    def dismiss(self) -> None:
        """Hide the bar and forget its text."""
        self.label.setText("")
        self.hide()
