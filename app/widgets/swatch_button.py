"""A push button that shows a colour (its background) and keeps it as an RGB triple."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QWidget


def swatch_style(rgb: tuple[int, int, int]) -> str:
    """Style sheet of a button filled with ``rgb``, its text black or white to stay readable."""
    r, g, b = rgb
    fg = "#000" if (0.299 * r + 0.587 * g + 0.114 * b) > 140 else "#fff"
    return f"background: rgb({r},{g},{b}); color: {fg}; border: 1px solid #333; padding: 4px;"


class SwatchButton(QPushButton):
    """A button painted in its colour :attr:`rgb` (set with :meth:`set_rgb`).

    Args:
        text: the button text.
        rgb: the initial colour.
        parent: Qt parent.
    """

    def __init__(self, text: str, rgb: tuple[int, int, int], parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.rgb: tuple[int, int, int] = (0, 0, 0)
        self.set_rgb(rgb)

    def set_rgb(self, rgb: tuple[int, int, int]) -> None:
        """Show and keep ``rgb`` (each 0–255)."""
        r, g, b = (int(v) for v in rgb)
        self.rgb = (r, g, b)
        self.setStyleSheet(swatch_style(self.rgb))
