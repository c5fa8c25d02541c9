"""One table of actions → keys (ARCHITECTURE.md conventions). Widgets look their keys up here."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

SHORTCUTS: dict[str, tuple[str, str]] = {
    # action id: (key sequence, description)
    "open": ("Ctrl+O", "Open an image"),
    "save": ("Ctrl+S", "Export the result"),
    "batch": ("Ctrl+B", "Batch export a folder"),
    "quit": ("Ctrl+Q", "Quit"),
    "undo": ("Ctrl+Z", "Undo"),
    "redo": ("Ctrl+Shift+Z", "Redo"),
    "zoom_in": ("Ctrl+=", "Zoom in"),
    "zoom_out": ("Ctrl+-", "Zoom out"),
    "fit": ("Ctrl+0", "Fit to window"),
    "actual": ("Ctrl+1", "Actual size (100 %)"),
    "split": ("Ctrl+\\", "Toggle the before/after split"),
    "toggle_view": ("Tab", "Toggle result / original"),
    "face_overlay": ("Ctrl+L", "Show face landmarks and parsing"),
    "shortcuts": ("F1", "Show this table"),
}
"""Every application action with its key. Canvas gestures are listed in :data:`GESTURES`."""

GESTURES: tuple[tuple[str, str], ...] = (
    ("Ctrl+wheel", "Zoom about the cursor"),
    ("Space+drag / middle-drag", "Pan"),
    ("Hold \\", "Show the original (before)"),
    ("Drag the split line", "Move the before/after split"),
    ("Drop an image on the window", "Open it"),
)


def key(action: str) -> QKeySequence:
    """The key sequence of ``action``; ``KeyError`` for an unknown action."""
    return QKeySequence(SHORTCUTS[action][0])


def redo_keys() -> list[QKeySequence]:
    """Redo answers both Ctrl+Shift+Z and the platform's standard redo key."""
    return [key("redo"), QKeySequence(QKeySequence.StandardKey.Redo)]
