"""One makeup region's controls: an on/off check box, a style picker and an intensity slider."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout

from app.widgets.param_slider import ParamSlider


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
