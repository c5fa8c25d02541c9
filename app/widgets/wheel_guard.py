"""The mouse wheel over a panel scrolls the panel, not the control that happens to be under the cursor.

Spin boxes, sliders and combo boxes change their value on the wheel even without the keyboard focus,
so scrolling a long panel silently edits whatever passes under the cursor. :func:`guard_wheel`
gives such controls a click/Tab focus policy and a filter that passes an unfocused wheel on to the
parent (the panel's scroll area); once clicked (focused), the wheel edits the control as usual.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSlider, QAbstractSpinBox, QComboBox, QScrollBar, QWidget

GUARDED = "wheel_guarded"
"""Dynamic property set on a control once its filter is installed."""


class WheelGuard(QObject):
    """Event filter: a wheel event over an unfocused control is ignored there, so Qt hands it to the
    control's parent (``event.ignore()`` + ``True``: the control never sees it, the parent does)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()
            return True
        return False


def is_value_control(w: QWidget) -> bool:
    """Spin boxes, combo boxes and sliders (not scroll bars: the wheel is what they are for)."""
    return isinstance(w, (QAbstractSpinBox, QComboBox)) or (
        isinstance(w, QAbstractSlider) and not isinstance(w, QScrollBar))


def guard_wheel(root: QWidget, guard: WheelGuard | None = None) -> WheelGuard:
    """Guard every value control under ``root`` (again on later calls: new controls are added,
    guarded ones are left alone).

    Args:
        root: the panel.
        guard: the filter to install (default: a new one, child of ``root``).

    Returns:
        The filter (keep passing it to later calls).
    """
    guard = guard if guard is not None else WheelGuard(root)
    for w in root.findChildren(QWidget):
        if is_value_control(w) and not w.property(GUARDED):
            if w.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel must not give it the focus
            w.installEventFilter(guard)
            w.setProperty(GUARDED, True)
    return guard
