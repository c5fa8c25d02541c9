"""Opera panel, Colour tab (offscreen): workspace, gallery, generate, colouring, fill, undo, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, QSize, Qt, QUrl
from PySide6.QtGui import QDropEvent, QUndoStack
from PySide6.QtWidgets import QSplitter

from app.document import Document
from app.studios.opera_panel import COLOUR, GALLERY_SEEDS, OperaPanel
from app.widgets.canvas import ImageCanvas
from app.worker import WorkerThread
from engine.imageio import save_image
from engine.procedural.lianpu import generate_lianpu
from engine.studios.opera import OPERA_COLOUR_MEANINGS, colorize


class Shell:
    """What the main window gives a panel: document, undo stack, worker, canvas in a splitter."""

    def __init__(self) -> None:
        self.doc = Document()
        self.undo = QUndoStack()
        self.thread = WorkerThread()
        self.canvas = ImageCanvas()
        self.panel = OperaPanel(self.doc, self.undo, self.thread.worker, self.canvas)
        self.split = QSplitter()
        self.split.addWidget(self.canvas)
        self.split.addWidget(self.panel)
        self.split.resize(1200, 800)


@pytest.fixture
def shell(qtbot, clean_settings):
    s = Shell()
    qtbot.addWidget(s.split)
    s.split.show()
    s.panel.activate()
    yield s
    s.thread.stop()


def idle(qtbot, shell: Shell) -> None:
    qtbot.waitUntil(shell.panel.is_idle, timeout=15000)


def colour_mode(qtbot, shell: Shell) -> OperaPanel:
    p = shell.panel
    p.set_mode("colour")
    qtbot.waitUntil(lambda: len(p.references) >= len(GALLERY_SEEDS), timeout=15000)
    idle(qtbot, shell)
    return p


def test_colour_tab_shows_sketch_and_result_in_place_of_the_canvas(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    assert p.tabs.currentIndex() == 1
    assert p.workspace.isVisible() and not shell.canvas.isVisible()
    assert p.sketch.isVisible() and p.result_view.isVisible()
    assert p.doc.param(COLOUR, "reference") == f"gen:{GALLERY_SEEDS[0]}:any"
    assert p.gallery.count() == len(GALLERY_SEEDS)
    assert p.colour_result is None and "empty" in p.colour_info.text()  # blank sketch: nothing to colour
    p.set_mode("lineart")
    assert shell.canvas.isVisible() and not p.workspace.isVisible()
    p.tabs.setCurrentIndex(1)
    assert p.mode == "colour" and p.workspace.isVisible()


def test_trace_colour_fill_undo_and_classify(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    ref = p.current_reference()
    p.trace_reference()
    qtbot.waitUntil(lambda: p.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    design = generate_lianpu(GALLERY_SEEDS[0], None, 512)
    assert np.array_equal(p.sketch.line_art(), design.line_art)
    expected = colorize(design.line_art, ref.image)
    assert np.array_equal(p.colour_result.image, expected.image)
    assert p.colour_class is not None and p.colour_class.colour == design.colour
    assert OPERA_COLOUR_MEANINGS[design.colour] in p.class_label.text()
    # fill a region by hand: one undo step, only that region changes
    y, x = 262, 256
    rid = p.colour_result.regions[y, x]
    p.fill_check.setChecked(True)
    p._set_fill_colour((10, 200, 30))
    p.result_view.clicked.emit(float(x), float(y), False)
    idle(qtbot, shell)
    img = p.colour_result.image
    region = p.colour_result.regions == rid
    assert len(p.doc.param(COLOUR, "fills")) == 1
    assert np.abs(img[region & (design.line_art == 255)].astype(int) - (10, 200, 30)).max() <= 1
    assert np.array_equal(img[~region], expected.image[~region])
    assert p.undo.text(p.undo.count() - 1) == "Fill region"
    p.undo.undo()
    idle(qtbot, shell)
    assert np.array_equal(p.colour_result.image, expected.image)
    # Ctrl+click picks the colour under the cursor
    p.result_view.clicked.emit(float(x), float(y), True)
    assert p.fill_rgb == tuple(int(v) for v in expected.image[y, x])


def test_outside_the_face_fill_is_refused_without_an_undo_step(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    p.trace_reference()
    qtbot.waitUntil(lambda: p.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    n = p.undo.count()
    msgs: list[str] = []
    p.message.connect(msgs.append)
    p.fill_check.setChecked(True)
    p.result_view.clicked.emit(2.0, 2.0, False)
    assert p.undo.count() == n and "outside the face" in msgs[-1]


def test_generate_reference_selection_is_undoable_and_recolours(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    p.trace_reference()
    qtbot.waitUntil(lambda: p.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    first_key = p.doc.param(COLOUR, "reference")
    p.seed_spin.setValue(77)
    p.colour_combo.setCurrentIndex(p.colour_combo.findData("blue"))
    p.generate_button.click()
    qtbot.waitUntil(lambda: p.doc.param(COLOUR, "reference") == "gen:77:blue", timeout=15000)
    idle(qtbot, shell)
    assert p.gallery.currentItem().data(Qt.ItemDataRole.UserRole) == "gen:77:blue"
    assert p.colour_class.colour == "blue"
    p.undo.undo()
    assert p.doc.param(COLOUR, "reference") == first_key
    assert p.gallery.currentItem().data(Qt.ItemDataRole.UserRole) == first_key
    idle(qtbot, shell)
    assert p.colour_class.colour != "blue"
    # clicking a gallery item chooses it (one step)
    n = p.undo.index()
    item = p.gallery.item_for("gen:77:blue")
    p.gallery.itemClicked.emit(item)
    assert p.undo.index() == n + 1 and p.undo.text(n) == "Choose reference" and p.doc.param(COLOUR, "reference") == "gen:77:blue"


def test_drop_pictures_on_the_gallery(qtbot, shell, tmp_path: Path) -> None:
    p = colour_mode(qtbot, shell)
    good = save_image(tmp_path / "mine.png", generate_lianpu(9, "green", 200).image)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    msgs: list[str] = []
    p.message.connect(msgs.append)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bad)), QUrl.fromLocalFile(str(good))])
    ev = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    p.gallery.dropEvent(ev)
    key = f"file:{good.resolve()}"
    qtbot.waitUntil(lambda: p.doc.param(COLOUR, "reference") == key, timeout=15000)
    assert p.gallery.item_for(key) is not None and p.gallery.count() == len(GALLERY_SEEDS) + 1
    assert any("broken.png" in m for m in msgs)


def test_export_is_transparent_outside_the_face(qtbot, shell, tmp_path: Path) -> None:
    p = colour_mode(qtbot, shell)
    assert not p.has_result()
    p.trace_reference()
    qtbot.waitUntil(lambda: p.has_result(), timeout=15000)
    idle(qtbot, shell)
    out = tmp_path / "mask.png"
    assert p.suggested_export_name().endswith(".png")
    p.export_result(str(out))
    qtbot.waitUntil(lambda: out.exists(), timeout=15000)
    idle(qtbot, shell)
    rgba = np.asarray(Image.open(out))
    res = p.colour_result
    assert rgba.shape == (512, 512, 4)
    assert np.array_equal(rgba[..., 3] > 0, res.face_mask)
    assert np.array_equal(rgba[..., :3], res.image)


def test_strokes_recolour_and_import_opened_image(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    # a closed mirrored outline drawn on the canvas colours inside it
    s = p.sketch
    s.set_brush_size(4)
    s.set_smoothing(0.0)
    pts = [(256 + 150 * np.sin(t), 256 - 200 * np.cos(t)) for t in np.linspace(0, np.pi, 40)]
    s.begin_stroke(*pts[0])
    for q in pts[1:]:
        s.stroke_to(*q)
    s.end_stroke()
    qtbot.waitUntil(lambda: p.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    assert p.colour_result.face_mask[256, 256] and not p.colour_result.face_mask[5, 5]
    assert p.undo.text(p.undo.count() - 1) == "Stroke"
    # the opened image becomes line art through XDoG (one step) and joins the gallery
    img = generate_lianpu(4, "red", 300).image
    shell.doc.set_image(img)
    idle(qtbot, shell)
    assert any(k.startswith("doc:") for k in p.gallery.keys())
    n = p.undo.count()
    p.import_document_image()
    qtbot.waitUntil(lambda: p.undo.count() == n + 1, timeout=15000)
    assert p.undo.text(n) == "Import opened image" and p.sketch.line_art().shape == (512, 512)
    p.view_ref_check.setChecked(True)
    idle(qtbot, shell)
    assert p.result_view.document_size == QSize(512, 512)
