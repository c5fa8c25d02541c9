"""Dropping files on the reference targets: local files are taken, anything else is ignored."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.widgets.reference_gallery import ReferenceGallery
from app.widgets.region_row import ReferenceDrop


def _drop(urls: list[QUrl]) -> tuple[QDropEvent, QMimeData]:
    """A drop event and its mime data (the event does not own it: keep both alive)."""
    mime = QMimeData()
    mime.setUrls(urls)
    return QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier), mime


def test_drop_targets_take_local_files_only(qtbot, tmp_path: Path) -> None:
    files = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    button, gallery = ReferenceDrop(), ReferenceGallery()
    qtbot.addWidget(button)
    qtbot.addWidget(gallery)
    got: list = []
    button.file_dropped.connect(got.append)
    gallery.files_dropped.connect(got.append)
    local = [QUrl.fromLocalFile(f) for f in files]
    for widget in (button, gallery):
        event, _mime = _drop(local)
        widget.dropEvent(event)
        assert event.isAccepted()
        event, _mime = _drop([QUrl("https://example.org/x.png")])
        widget.dropEvent(event)
        assert not event.isAccepted()
    assert got == [files[0], files]  # the button takes the first file, the gallery all of them
