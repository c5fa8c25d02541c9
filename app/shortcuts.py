"""One table of actions → keys (ARCHITECTURE.md conventions). Widgets look their keys up here.

:data:`SHORTCUTS` holds the window's actions (menus bind them through :func:`key`), :data:`GESTURES`
the canvas gestures every studio shares, and :data:`STUDIO_KEYS` the keys each studio's own
widgets answer (the sketch canvas, the mask painter ...). :func:`help_groups` puts them together,
grouped by studio, for *Help → Keyboard shortcuts* (F1).
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

SHORTCUTS: dict[str, tuple[str, str]] = {
    # action id: (key sequence, description)
    "open": ("Ctrl+O", "Open an image"),
    "save": ("Ctrl+S", "Export the result"),
    "batch": ("Ctrl+B", "Batch export a folder"),
    "save_session": ("Ctrl+Shift+S", "Save the session (image, sketch, mask, anchors, parameters)"),
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
    ("Wheel / Shift+wheel over the canvas", "Scroll the picture up-down / sideways"),
    ("Space+drag / middle-drag", "Pan (Space works whenever the cursor is over the canvas)"),
    ("Hold \\", "Show the original (before)"),
    ("Drag the split line", "Move the before/after split"),
    ("Wheel over a panel", "Scroll the panel (a slider, spin box or list changes only once clicked)"),
    ("Drop an image on the window", "Open it"),
)
"""Gestures of the shared image canvas and the studio panels."""

STUDIO_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "Opera — Colour tab (sketch canvas)": (
        ("B", "Brush"),
        ("E", "Eraser"),
        ("[ / ]", "Smaller / larger brush"),
        ("M", "Mirror symmetry on / off (on by default)"),
        ("F", "Fill tool on / off (click the coloured result to repaint a region)"),
        ("Ctrl+click the result", "Pick the fill colour under the cursor"),
        ("Left-drag", "Draw (one undo step per stroke)"),
    ),
    "Regenerate (mask painter)": (
        ("B", "Brush"),
        ("E", "Eraser (paints background)"),
        ("F", "Fill"),
        ("R", "Rectangle fill"),
        ("L", "Lasso fill"),
        ("[ / ]", "Smaller / larger brush"),
        ("- / =", "Previous / next label"),
        ("I, Ctrl+click", "Pick the label under the cursor"),
    ),
    "Mask-wear": (
        ("Drag an anchor", "Move that template anchor (one undo step per drag)"),
    ),
    "Makeup": (
        ("Click a region's check box", "Paint that region on / off (one undo step)"),
    ),
}
"""Keys and gestures each studio's own widgets answer, by studio (group title → ``(key, action)``).
The widgets that implement them: :mod:`app.widgets.sketch_canvas`, :mod:`app.studios.opera.colour`,
:mod:`app.widgets.mask_painter`, :mod:`app.widgets.canvas` (anchor handles)."""

ALL_STUDIOS = "All studios"
"""Title of the group holding :data:`SHORTCUTS` and :data:`GESTURES`."""


def help_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every key the window answers, grouped for the F1 table: the window's actions and the shared
    gestures first (:data:`ALL_STUDIOS`), then each studio's own keys.

    Returns:
        ``[(group title, [(key, action), ...]), ...]``.
    """
    shared = [(k, d) for k, d in SHORTCUTS.values()] + list(GESTURES)
    return [(ALL_STUDIOS, shared)] + [(title, list(rows)) for title, rows in STUDIO_KEYS.items()]


def key(action: str) -> QKeySequence:
    """The key sequence of ``action``; ``KeyError`` for an unknown action."""
    return QKeySequence(SHORTCUTS[action][0])


def redo_keys() -> list[QKeySequence]:
    """Redo answers both Ctrl+Shift+Z and the platform's standard redo key."""
    return [key("redo"), QKeySequence(QKeySequence.StandardKey.Redo)]
