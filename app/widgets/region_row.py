"""One makeup region's controls: an on/off check box, a style picker and an intensity slider;
optionally a reference-photo target (a "Photo…" button that image files can be dropped on,
showing the photo's thumbnail)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QToolButton, QWidget

from app.qt_image import to_qimage
from app.widgets.file_drop import accept_local_files, take_local_files
from app.widgets.param_slider import ParamSlider

REFERENCE_THUMB = 40
"""Side of a reference thumbnail on a region row (pixels)."""


class ReferenceDrop(QToolButton):
    """A "Photo…" button that takes image files dropped on it and shows the photo's thumbnail.

    Args:
        text: the button text without a photo.
        tooltip: what it does.
        parent: Qt parent.

    Signals:
        file_dropped(str): a local file was dropped on the button (the first one, when several).
    """

    file_dropped = Signal(str)

    def __init__(self, text: str = "Photo…", tooltip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text, self._tooltip = text, tooltip
        self.setText(text)
        self.setToolTip(tooltip)
        self.setAcceptDrops(True)
        self.setIconSize(QSize(REFERENCE_THUMB, REFERENCE_THUMB))
        self.has_thumbnail = False

    def set_thumbnail(self, thumb: np.ndarray | None, caption: str = "") -> None:
        """Show ``thumb`` (``uint8`` RGB, long side :data:`REFERENCE_THUMB`) with ``caption``, or
        the plain button for ``None``."""
        if thumb is None:
            self.setIcon(QIcon())
            self.setText(self._text)
            self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            self.setToolTip(self._tooltip)
            self.has_thumbnail = False
            return
        self.setIcon(QIcon(QPixmap.fromImage(to_qimage(thumb))))
        self.setText(caption)  # read by screen readers and tests; the tooltip shows it too
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.setToolTip(f"{caption}: {self._tooltip}" if caption else self._tooltip)
        self.has_thumbnail = True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        accept_local_files(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        accept_local_files(event)

    def dropEvent(self, event: QDropEvent) -> None:
        files = take_local_files(event)
        if files:
            self.file_dropped.emit(files[0])


class RegionRow:
    """Check box + style combo on one grid row, the intensity slider on the next.

    Args:
        region: region name (object names ``check_<region>``, ``style_<region>``, ``slider_<region>``).
        title: what the user reads, e.g. ``"Cheek / blush"``.
        styles: style names that define this region.
        grid: layout to add the rows to.
        row: index of the first of the two grid rows.
    """

    def __init__(self, region: str, title: str, styles: Sequence[str], grid: QGridLayout, row: int) -> None:
        self.region = region
        self.check = QCheckBox(title)
        self.check.setObjectName(f"check_{region}")
        self.check.setToolTip(f"Paint the {title.lower()}")
        self.combo = QComboBox()
        self.combo.setObjectName(f"style_{region}")
        self.combo.addItems(list(styles))
        self.combo.setToolTip(f"Style of the {title.lower()} (from the style files)")
        self.slider = ParamSlider("", 0.0, 1.0, decimals=2, tooltip=f"{title} intensity")
        self.slider.setObjectName(f"slider_{region}")
        grid.addWidget(self.check, row, 0)
        grid.addWidget(self.combo, row, 1)
        grid.addWidget(self.slider, row + 1, 0, 1, 2)
        self.grid, self.row = grid, row
        self.reference: ReferenceDrop | None = None

    def add_reference_target(self, tooltip: str = "") -> ReferenceDrop:
        """Add a :class:`ReferenceDrop` beside the row (object name ``reference_<region>``), once.

        Args:
            tooltip: what the button does.

        Returns:
            The button (its ``clicked`` and ``file_dropped`` signals are the caller's to connect).
        """
        if self.reference is None:
            self.reference = ReferenceDrop(tooltip=tooltip)
            self.reference.setObjectName(f"reference_{self.region}")
            self.grid.addWidget(self.reference, self.row, 2, 2, 1)
        return self.reference

    def show_values(self, on: bool, style: str, intensity: float) -> None:
        """Show the document's values without emitting edits (an off region greys its controls)."""
        for w in (self.check, self.combo):
            w.blockSignals(True)
        self.check.setChecked(on)
        self.combo.setCurrentText(style)
        for w in (self.check, self.combo):
            w.blockSignals(False)
        self.slider.set_value(intensity)
        self.combo.setEnabled(on)
        self.slider.setEnabled(on)

    def add_style(self, name: str) -> None:
        """Offer ``name`` in the style picker (no signal; nothing when it is already there)."""
        if self.combo.findText(name) < 0:
            self.combo.blockSignals(True)
            self.combo.addItem(name)
            self.combo.blockSignals(False)
