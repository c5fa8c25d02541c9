"""Dropping image files from the desktop onto a widget: the event handling the drop targets share."""

from __future__ import annotations

from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent


def local_files(event: QDropEvent | QDragEnterEvent | QDragMoveEvent) -> list[str]:
    """The local file paths a drag carries (URLs that are not local files left out)."""
    return [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]


def accept_local_files(event: QDragEnterEvent | QDragMoveEvent) -> None:
    """Accept a drag that carries local files, ignore any other (for drag-enter and drag-move)."""
    if local_files(event):
        event.acceptProposedAction()
    else:
        event.ignore()


def take_local_files(event: QDropEvent) -> list[str]:
    """The dropped local files; the drop is accepted when there are some, ignored otherwise."""
    files = local_files(event)
    if files:
        event.acceptProposedAction()
    else:
        event.ignore()
    return files
