"""The shared engine selector widget."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.widgets.engine_box import EngineBox

CHOICES = (("auto", "Auto"), ("classical", "Classical"), ("neural", "Learned"))


def test_engine_box_selection_tips_and_disabled_entries(qtbot) -> None:
    box = EngineBox("Engine", CHOICES, note_lines=2)
    qtbot.addWidget(box)
    picked: list[str] = []
    box.chosen.connect(picked.append)
    assert box.current() == "auto" and box.combo.count() == 3
    box.set_current("classical")  # programmatic: no signal
    assert box.current() == "classical" and picked == []
    box.combo.setCurrentIndex(2)  # as a user pick
    assert picked == ["neural"]
    box.set_enabled("neural", False, "no trained checkpoint")
    assert not box.is_enabled("neural") and box.is_enabled("auto")
    assert box.combo.itemData(2, Qt.ItemDataRole.ToolTipRole) == "no trained checkpoint"
    assert box.combo.toolTip() == "no trained checkpoint"  # the selected entry's tip shows on the combo
    box.set_tip("auto", "picks by the card")
    assert box.combo.toolTip() == "no trained checkpoint"
    box.set_note("Runs: classical")
    assert box.note.text() == "Runs: classical" and box.note.minimumHeight() > 0
    with pytest.raises(ValueError, match="auto, classical, neural"):
        box.set_current("gan")
