"""Opera panel, Colour tab (offscreen): workspace, gallery, generate, colouring, fill, undo, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, QSize, Qt, QUrl
from PySide6.QtGui import QDropEvent, QUndoStack
from PySide6.QtWidgets import QSplitter

from app.model.document import Document
from app.studios.opera.colour import COLOUR, GALLERY_SEEDS
from app.studios.opera.panel import OperaPanel
from app.widgets.canvas import ImageCanvas
from app.worker import WorkerThread
from engine.imageio import save_image
from engine.procedural.lianpu import generate_lianpu
from engine.studios.base import forget_learned
from engine.studios.opera.classical import OPERA_COLOUR_MEANINGS, colorize


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


@pytest.fixture
def fake_generator(request, monkeypatch):
    """A :class:`FakeGenerator` served by the strip's loader (ask for it before ``shell``); an
    indirect parameter sets its ``quality_warning``."""
    from app.widgets import generation_strip

    fake = FakeGenerator()
    fake.quality_warning = getattr(request, "param", None)
    monkeypatch.setattr(generation_strip, "default_loader", lambda: (fake, "StyleGAN2 32² (test)"))
    return fake


def idle(qtbot, shell: Shell) -> None:
    qtbot.waitUntil(shell.panel.is_idle, timeout=15000)


def colour_mode(qtbot, shell: Shell) -> OperaPanel:
    p = shell.panel
    p.set_mode("colour")
    qtbot.waitUntil(lambda: len(p.colour.references) >= len(GALLERY_SEEDS), timeout=15000)
    idle(qtbot, shell)
    return p


def test_colour_tab_shows_sketch_and_result_in_place_of_the_canvas(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    assert p.tabs.currentIndex() == 1
    assert p.workspace.isVisible() and not shell.canvas.isVisible()
    assert p.colour.sketch.isVisible() and p.colour.result_view.isVisible()
    assert p.doc.param(COLOUR, "reference") == f"gen:{GALLERY_SEEDS[0]}:any"
    assert p.colour.gallery.count() == len(GALLERY_SEEDS)
    assert p.colour.colour_result is None and "empty" in p.colour.colour_info.text()  # blank sketch: nothing to colour
    p.set_mode("lineart")
    assert shell.canvas.isVisible() and not p.workspace.isVisible()
    p.tabs.setCurrentIndex(1)
    assert p.mode == "colour" and p.workspace.isVisible()


def test_trace_colour_fill_undo_and_classify(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    ref = p.colour.current_reference()
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: p.colour.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    design = generate_lianpu(GALLERY_SEEDS[0], None, 512)
    assert np.array_equal(p.colour.sketch.line_art(), design.line_art)
    expected = colorize(design.line_art, ref.image)
    assert np.array_equal(p.colour.colour_result.image, expected.image)
    assert p.colour.colour_class is not None and p.colour.colour_class.colour == design.colour
    assert OPERA_COLOUR_MEANINGS[design.colour] in p.colour.class_label.text()
    # fill a region by hand: one undo step, only that region changes
    y, x = 262, 256
    rid = p.colour.colour_result.regions[y, x]
    p.colour.fill_check.setChecked(True)
    p.colour.set_fill_colour((10, 200, 30))
    p.colour.result_view.clicked.emit(float(x), float(y), False)
    idle(qtbot, shell)
    img = p.colour.colour_result.image
    region = p.colour.colour_result.regions == rid
    assert len(p.doc.param(COLOUR, "fills")) == 1
    assert np.abs(img[region & (design.line_art == 255)].astype(int) - (10, 200, 30)).max() <= 1
    assert np.array_equal(img[~region], expected.image[~region])
    assert p.undo.text(p.undo.count() - 1) == "Fill region"
    p.undo.undo()
    idle(qtbot, shell)
    assert np.array_equal(p.colour.colour_result.image, expected.image)
    # Ctrl+click picks the colour under the cursor
    p.colour.result_view.clicked.emit(float(x), float(y), True)
    assert p.colour.fill_rgb == tuple(int(v) for v in expected.image[y, x])


def test_outside_the_face_fill_is_refused_without_an_undo_step(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: p.colour.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    n = p.undo.count()
    msgs: list[str] = []
    p.message.connect(msgs.append)
    p.colour.fill_check.setChecked(True)
    p.colour.result_view.clicked.emit(2.0, 2.0, False)
    assert p.undo.count() == n and "outside the face" in msgs[-1]


def test_generate_reference_selection_is_undoable_and_recolours(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: p.colour.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    first_key = p.doc.param(COLOUR, "reference")
    p.colour.seed_spin.setValue(77)
    p.colour.colour_combo.setCurrentIndex(p.colour.colour_combo.findData("blue"))
    assert p.colour.role_combo.currentData() == "any"  # the window draws role types by default
    assert "blue: valour" in p.colour.meaning_label.text()
    p.colour.role_combo.setCurrentIndex(p.colour.role_combo.findData(None))  # the classic template
    p.colour.generate_button.click()
    qtbot.waitUntil(lambda: p.doc.param(COLOUR, "reference") == "gen:77:blue", timeout=15000)
    idle(qtbot, shell)
    assert p.colour.gallery.currentItem().data(Qt.ItemDataRole.UserRole) == "gen:77:blue"
    assert p.colour.colour_class.colour == "blue"
    p.undo.undo()
    assert p.doc.param(COLOUR, "reference") == first_key
    assert p.colour.gallery.currentItem().data(Qt.ItemDataRole.UserRole) == first_key
    idle(qtbot, shell)
    assert p.colour.colour_class.colour != "blue"
    # clicking a gallery item chooses it (one step)
    n = p.undo.index()
    item = p.colour.gallery.item_for("gen:77:blue")
    p.colour.gallery.itemClicked.emit(item)
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
    p.colour.gallery.dropEvent(ev)
    key = f"file:{good.resolve()}"
    qtbot.waitUntil(lambda: p.doc.param(COLOUR, "reference") == key, timeout=15000)
    assert p.colour.gallery.item_for(key) is not None and p.colour.gallery.count() == len(GALLERY_SEEDS) + 1
    assert any("broken.png" in m for m in msgs)


def test_export_is_transparent_outside_the_face(qtbot, shell, tmp_path: Path) -> None:
    p = colour_mode(qtbot, shell)
    assert not p.has_result()
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: p.has_result(), timeout=15000)
    idle(qtbot, shell)
    out = tmp_path / "mask.png"
    assert p.suggested_export_name().endswith(".png")
    p.export_result(str(out))
    qtbot.waitUntil(lambda: out.exists(), timeout=15000)
    idle(qtbot, shell)
    rgba = np.asarray(Image.open(out))
    res = p.colour.colour_result
    assert rgba.shape == (512, 512, 4)
    assert np.array_equal(rgba[..., 3] > 0, res.face_mask)
    assert np.array_equal(rgba[..., :3], res.image)


def test_strokes_recolour_and_import_opened_image(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    # a closed mirrored outline drawn on the canvas colours inside it
    s = p.colour.sketch
    s.set_brush_size(4)
    s.set_smoothing(0.0)
    pts = [(256 + 150 * np.sin(t), 256 - 200 * np.cos(t)) for t in np.linspace(0, np.pi, 40)]
    s.begin_stroke(*pts[0])
    for q in pts[1:]:
        s.stroke_to(*q)
    s.end_stroke()
    qtbot.waitUntil(lambda: p.colour.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    assert p.colour.colour_result.face_mask[256, 256] and not p.colour.colour_result.face_mask[5, 5]
    assert p.undo.text(p.undo.count() - 1) == "Stroke"
    # the opened image becomes line art through XDoG (one step) and joins the gallery
    img = generate_lianpu(4, "red", 300).image
    shell.doc.set_image(img)
    idle(qtbot, shell)
    assert any(k.startswith("doc:") for k in p.colour.gallery.keys())
    n = p.undo.count()
    p.colour.import_document_image()
    qtbot.waitUntil(lambda: p.undo.count() == n + 1, timeout=15000)
    assert p.undo.text(n) == "Import opened image" and p.colour.sketch.line_art().shape == (512, 512)
    p.colour.view_ref_check.setChecked(True)
    idle(qtbot, shell)
    assert p.colour.result_view.document_size == QSize(512, 512)


# ------------------------------------------------------------------------------------------------
# Learned engines: colouring engine selector, warped exemplar view, generation strip
# ------------------------------------------------------------------------------------------------

def _pixels(canvas: ImageCanvas) -> np.ndarray:
    """What a canvas shows as its result, as ``uint8`` RGB."""
    from PySide6.QtGui import QImage

    img = canvas._after.toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    return np.frombuffer(img.constBits(), np.uint8).reshape(h, img.bytesPerLine())[:, :w * 3].reshape(h, w, 3).copy()


def _fabricated_cocosnet(folder: Path, better: bool) -> Path:
    """A tiny CoCosNet card + weights (random weights: this tests the wiring, not the colouring)."""
    import torch

    from engine.models.cocosnet import CoCosNet
    from engine.weights.store import save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(CoCosNet(width=4, feat_channels=8, corr_down=2), folder / "cocosnet_g", task="test",
                           input_size=(32, 32), metrics={"ssim_neural": 0.5, "ssim_classical": 0.6},
                           extra={"steps": 3, "better_than_classical": better})


def traced(qtbot, shell: Shell) -> OperaPanel:
    p = colour_mode(qtbot, shell)
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: p.colour.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    return p


def test_engine_selector_without_a_learned_checkpoint(qtbot, roots, shell) -> None:
    from PySide6.QtGui import QStandardItemModel

    p = traced(qtbot, shell)
    assert p.colour.backend_combo.currentData() == "auto"
    assert not p.colour.backend_enabled("neural") and p.colour.backend_enabled("classical") and p.colour.backend_enabled("auto")
    i = p.colour.backend_combo.findData("neural")
    assert "no trained cocosnet checkpoint" in p.colour.backend_combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
    assert isinstance(p.colour.backend_combo.model(), QStandardItemModel)
    assert p.colour.backend_info.text().startswith("Auto runs classical: no usable learned model.")
    assert p.colour.colour_info.text().startswith("Engine: auto → classical (region-correspondence) ·")
    assert "no trained cocosnet checkpoint" in p.colour.colour_info.text()  # the engine's reason, as text
    n = p.undo.count()
    with pytest.raises(ValueError, match="not available"):
        p.colour.set_backend("neural")
    assert p.undo.count() == n and p.doc.param(COLOUR, "backend") == "auto"
    # the warped exemplar pane (off by default: the sketch and the result get the room) shows the
    # classical engine's aligned reference beside the result
    assert not p.colour.warped_view.isVisible()
    p.colour.warped_check.setChecked(True)
    assert p.colour.warped_view.isVisible() and "classical" in p.colour.warped_caption.text()
    assert np.array_equal(_pixels(p.colour.warped_view), p.colour.colour_result.warped_reference)
    p.colour.warped_check.setChecked(False)
    assert not p.colour.warped_view.isVisible()
    p.colour.warped_check.setChecked(True)
    # choosing classical is one undo step and the info line names it
    p.colour.set_backend("classical")
    idle(qtbot, shell)
    assert p.undo.text(p.undo.count() - 1) == "Colouring engine"
    assert p.colour.colour_info.text().startswith("Engine: classical (region-correspondence) ·")
    p.undo.undo()
    assert p.colour.backend_combo.currentData() == "auto"


def test_learned_engine_with_a_fabricated_checkpoint(qtbot, roots, shell) -> None:
    from engine.studios.opera.editor import ColorizeEditor, ColorizeParams

    _fabricated_cocosnet(roots, better=False)
    p = traced(qtbot, shell)
    assert p.colour.backend_enabled("neural")
    assert p.colour.backend_info.text().startswith("Auto runs classical: the learned model did not measure better.")
    assert "did not measure better" in p.colour.colour_info.text()  # auto stays classical and says why
    classical = p.colour.colour_result.image.copy()
    p.colour.backend_combo.setCurrentIndex(p.colour.backend_combo.findData("neural"))  # as a user pick does
    idle(qtbot, shell)
    assert p.doc.param(COLOUR, "backend") == "neural"
    assert p.colour.backend_info.text().startswith("Runs learned (CoCosNet) (chosen; its card does not say it measured")
    assert p.colour.colour_info.text().startswith("Engine: learned (CoCosNet) (cocosnet")
    assert "learned" in p.colour.warped_caption.text()
    ed = ColorizeEditor("neural")
    ed.set_image(p.colour.sketch.line_art())
    ed.set_reference(p.colour.current_reference().image)
    expected = ed.edit(ColorizeParams())
    res = p.colour.colour_result
    assert np.array_equal(res.image, expected.image) and not np.array_equal(res.image, classical)
    assert np.array_equal(res.warped_reference, expected.info["warped_reference"])
    assert np.array_equal(_pixels(p.colour.warped_view), res.warped_reference)
    # the fill tool repaints one closed region of the learned result and nothing else
    y, x = 262, 256
    region = res.regions == res.regions[y, x]
    p.colour.fill_region(x, y, (10, 200, 30))
    idle(qtbot, shell)
    img = p.colour.colour_result.image
    assert np.array_equal(img[~region], res.image[~region])
    assert np.abs(img[region & (p.colour.sketch.line_art() == 255)].astype(int) - (10, 200, 30)).max() <= 1
    # a card that says the network measured better makes auto pick it
    _fabricated_cocosnet(roots, better=True)
    forget_learned()
    p.colour.set_backend("auto")
    p.colour.refresh_engines()
    idle(qtbot, shell)
    assert p.colour.backend_info.text().startswith("Auto runs learned (CoCosNet): its card says it measured better.")
    assert p.colour.colour_info.text().startswith("Engine: auto → learned (CoCosNet)")


class FakeGenerator:
    """Stands in for a trained LianpuGenerator: flat designs whose colour encodes the call."""

    resolution = 32
    num_layers = 6
    card: dict = {}

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def _img(self, *key) -> np.ndarray:
        self.calls.append(key)
        rng = np.random.default_rng(abs(hash(key)) % 2**32)
        img = np.full((32, 32, 3), 255, np.uint8)
        img[4:28, 6:26] = rng.integers(0, 255, 3, dtype=np.uint8)
        return img

    def generate(self, seed: int, psi: float = 0.7) -> np.ndarray:
        return self._img("g", seed, psi)

    def mix(self, seed_a: int, seed_b: int, crossover: int, psi: float = 0.7) -> np.ndarray:
        assert 1 <= crossover <= self.num_layers - 1
        return self._img("m", seed_a, seed_b, crossover, psi)

    def interpolate(self, seed_a: int, seed_b: int, t: float, psi: float = 0.7) -> np.ndarray:
        return self._img("i", seed_a, seed_b, t, psi)


def test_generation_strip_is_off_without_a_trained_generator(qtbot, roots, shell) -> None:
    p = colour_mode(qtbot, shell)
    g = p.colour.generation
    qtbot.waitUntil(lambda: "No trained generator" in g.status.text(), timeout=15000)
    assert not g.available and g.strip.count() == 0 and not g.seed_spin.isEnabled()
    assert not g.psi_slider.isEnabled() and not g.strip.isEnabled() and "stylegan2" in g.status.text()


def test_generation_strip_with_a_generator(qtbot, fake_generator, shell) -> None:
    fake = fake_generator
    p = colour_mode(qtbot, shell)
    g = p.colour.generation
    qtbot.waitUntil(lambda: len(g.samples) == 6, timeout=15000)
    idle(qtbot, shell)
    assert g.available and g.seed_spin.isEnabled() and "StyleGAN2 32² (test)" in g.status.text()
    assert [g.strip.item(i).text() for i in range(6)] == [f"GAN #{k}" for k in range(6)]
    assert fake.calls[-6:] == [("g", k, 0.7) for k in range(6)]
    assert not g.seed_b_spin.isEnabled() and not g.crossover_slider.isEnabled()
    # ψ, seed, style mixing and interpolation re-render the strip in the worker
    g.seed_spin.setValue(40)
    g.psi_slider.setValue(50)
    idle(qtbot, shell)
    assert fake.calls[-6:] == [("g", k, 0.5) for k in range(40, 46)]
    g.set_mode("mix")
    g.seed_b_spin.setValue(7)
    g.crossover_slider.setValue(2)
    idle(qtbot, shell)
    assert g.crossover_slider.maximum() == 5 and g.seed_b_spin.isEnabled()
    assert fake.calls[-6:] == [("m", k, 7, 2, 0.5) for k in range(40, 46)]
    assert g.strip.item(0).text() == "GAN 40×7/2"
    g.set_mode("interpolate")
    g.t_slider.setValue(25)
    idle(qtbot, shell)
    assert fake.calls[-6:] == [("i", k, 7, 0.25, 0.5) for k in range(40, 46)]
    g.random_button.click()
    idle(qtbot, shell)
    assert g.samples[0].seed == g.seed_spin.value()
    # clicking a thumbnail makes that design the colour reference (one undo step)
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: p.colour.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    n = p.undo.index()
    g.strip.itemClicked.emit(g.strip.item(2))
    idle(qtbot, shell)
    key = g.samples[2].key
    assert p.doc.param(COLOUR, "reference") == key and p.colour.gallery.item_for(key) is not None
    assert p.undo.index() == n + 1 and p.undo.text(n) == "Choose reference"
    assert np.array_equal(p.colour.current_reference().image, g.samples[2].image)
    assert np.array_equal(p.colour.colour_result.warped_reference.shape, (512, 512, 3))


@pytest.mark.parametrize("fake_generator", ["demo quality: FID 43.9 vs 2.8 between two real sets"], indirect=True)
def test_generation_strip_hides_demo_quality_samples_until_asked(qtbot, fake_generator, shell) -> None:
    fake = fake_generator
    p = colour_mode(qtbot, shell)
    g = p.colour.generation
    qtbot.waitUntil(lambda: g.available, timeout=15000)
    idle(qtbot, shell)
    assert "Not usable yet" in g.status.text() and "FID 43.9" in g.status.text()
    assert g.demo_check.isVisibleTo(g) and not g.demo_check.isChecked()
    assert g.strip.count() == 0 and not g.seed_spin.isEnabled() and fake.calls == []
    g.demo_check.setChecked(True)
    qtbot.waitUntil(lambda: len(g.samples) == 6, timeout=15000)
    assert g.seed_spin.isEnabled() and fake.calls[-6:] == [("g", k, 0.7) for k in range(6)]
    g.demo_check.setChecked(False)
    idle(qtbot, shell)
    assert g.strip.count() == 0 and not g.seed_spin.isEnabled()


def test_click_to_match_pins_are_numbered_undoable_and_honoured(qtbot, shell) -> None:
    p = colour_mode(qtbot, shell)
    ref = p.colour.current_reference()
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: p.colour.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    before = p.colour.colour_result
    # pin the sketch's cheek (a region) to a point of the reference with another paint
    y, x = 262, 256
    rid = before.regions[y, x]
    h, w = ref.image.shape[:2]
    from engine.studios.opera.classical import pin_paint, reference_lines

    ink = reference_lines(ref.image)
    target = None
    for ry in range(h // 8, h - h // 8, 8):  # a reference point whose paint differs from the region's
        for rx in range(w // 8, w - w // 8, 8):
            paint = pin_paint(ref.image, ink, rx, ry)
            if np.abs(paint.astype(int) - before.colours[rid]).max() > 60:
                target = (rx, ry, paint)
                break
        if target is not None:
            break
    assert target is not None
    rx, ry, paint = target
    p.colour.pin_check.setChecked(True)
    assert p.colour.warped_pane.isVisible()
    n = p.undo.count()
    p.colour.result_view.clicked.emit(float(x), float(y), False)  # no reference point yet: nothing
    assert p.undo.count() == n
    p.colour.warped_view.clicked.emit(float(rx), float(ry), False)
    assert p.colour.warped_view.handles is not None and len(p.colour.warped_view.handles) == 1
    p.colour.result_view.clicked.emit(float(x), float(y), False)
    idle(qtbot, shell)
    assert p.undo.count() == n + 1 and p.undo.text(n) == "Pin colour match 1"
    res = p.colour.colour_result
    assert tuple(res.colours[res.regions[y, x]]) == tuple(int(v) for v in paint)
    assert p.colour.result_view.handles is not None and len(p.colour.result_view.handles) == 1
    assert "1 pins" in p.colour.colour_info.text()
    p.undo.undo()
    idle(qtbot, shell)
    assert p.doc.param(COLOUR, "pins") == ()
    assert np.array_equal(p.colour.colour_result.image, before.image)
    assert p.colour.result_view.handles is None
    # the reference-strength slider: 0 % gives the sketch's own (white) paper back
    p.colour.strength_slider.setValue(0)
    idle(qtbot, shell)
    res = p.colour.colour_result
    assert p.doc.param(COLOUR, "strength") == 0.0
    assert (res.image[res.face_mask & (p.colour.sketch.line_art() == 255)] >= 250).all()
    p.undo.undo()
    idle(qtbot, shell)
    assert p.colour.strength_slider.value() == 100
    assert np.array_equal(p.colour.colour_result.image, before.image)


def test_line_extractor_choice_is_an_undoable_step(qtbot, shell, monkeypatch) -> None:
    from engine.studios.opera import hed as hed_module

    monkeypatch.setattr(hed_module, "MIN_HED_SIDE", 64)  # HED at the picture's own size (fast)
    p = shell.panel
    shell.doc.set_image(generate_lianpu(4, "red", 128).image)
    idle(qtbot, shell)
    qtbot.waitUntil(lambda: p.result is not None and p.result.info.get("method") == "xdog", timeout=15000)
    combo = p.lineart.extractor_combo
    combo.activated.emit(combo.findData("hed"))
    assert p.doc.param("opera", "extractor") == "hed"
    assert p.undo.text(p.undo.count() - 1) == "Line extractor HED"
    assert not p.lineart.sliders["sigma"].isEnabled()
    qtbot.waitUntil(lambda: p.result is not None and "hed" in str(p.result.info.get("method")), timeout=30000)
    assert p.result.info["backend"] == "neural" and set(np.unique(p.result.image)) <= {0, 255}
    p.undo.undo()
    assert combo.currentData() == "xdog" and p.lineart.sliders["sigma"].isEnabled()
    qtbot.waitUntil(lambda: p.result is not None and p.result.info.get("method") == "xdog", timeout=15000)


def test_generate_a_role_type_and_show_it_large(qtbot, shell) -> None:
    from engine.procedural.lianpu import ROLE_TYPES

    p = colour_mode(qtbot, shell)
    assert not p.colour.warped_pane.isVisible()
    p.colour.role_combo.setCurrentIndex(p.colour.role_combo.findData("shizimen"))
    assert ROLE_TYPES["shizimen"].title in p.colour.meaning_label.text()
    assert ROLE_TYPES["shizimen"].name == p.colour.meaning_label.toolTip()
    p.colour.seed_spin.setValue(5)
    p.colour.generate_button.click()
    qtbot.waitUntil(lambda: p.doc.param(COLOUR, "reference") == "gen:5:any:shizimen", timeout=15000)
    idle(qtbot, shell)
    ref = p.colour.current_reference()
    assert ref.role == "shizimen" and ROLE_TYPES["shizimen"].title in ref.label
    assert p.colour.warped_caption.text() == f"Reference — {ref.label}"
    assert np.array_equal(ref.image, generate_lianpu(5, None, 512, role="shizimen").image)
    # shown large: the right pane holds the design itself, at its full size
    assert p.colour.show_reference_check.isChecked() and p.colour.warped_pane.isVisible()
    assert np.array_equal(_pixels(p.colour.warped_view), ref.image)
    assert p.colour.warped_view.width() >= 0.9 * p.colour.sketch.width()
    # tracing it gives its own line art
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: np.array_equal(p.colour.sketch.line_art(),
                                           generate_lianpu(5, None, 512, role="shizimen").line_art), timeout=15000)
    p.colour.show_reference_check.setChecked(False)
    assert not p.colour.warped_pane.isVisible()


def test_extractor_choice_reaches_the_imports_and_the_colouring(qtbot, shell, monkeypatch) -> None:
    """HED chosen (in either tab) imports pictures with HED and colours with ``extractor="hed"``; the
    net is replaced by a recording stand-in (this tests the wiring; HED itself is in test_hed)."""
    from engine.studios.opera import hed as hed_module
    from engine.studios.opera.classical import xdog
    from engine.studios.opera.params import ColorizeParams, XDoGParams

    calls: list[tuple[int, ...]] = []

    def fake_hed(image: np.ndarray, *args, **kwargs) -> np.ndarray:
        calls.append(image.shape)
        return xdog(image, XDoGParams(sigma=2.0, threshold=0.5))  # not the XDoG the colouring would use

    monkeypatch.setattr(hed_module, "hed_line_art", fake_hed)
    p = colour_mode(qtbot, shell)
    p.colour.sketch.new_canvas(256)  # small: quick colourings
    p.colour.trace_reference()
    qtbot.waitUntil(lambda: p.colour.colour_result is not None, timeout=15000)
    idle(qtbot, shell)
    ref = p.colour.current_reference()
    sketch = p.colour.sketch.line_art()
    xdog_result = p.colour.colour_result.image.copy()
    assert not calls
    combo = p.colour.extractor_combo
    combo.activated.emit(combo.findData("hed"))
    assert p.doc.param("opera", "extractor") == "hed" and p.colour.extractor == "hed"
    assert p.lineart.extractor_combo.currentData() == "hed"  # one choice for both tabs
    assert p.undo.text(p.undo.count() - 1) == "Line extractor HED"
    qtbot.waitUntil(lambda: bool(calls) and p.colour.colour_result is not None
                    and not np.array_equal(p.colour.colour_result.image, xdog_result), timeout=15000)
    idle(qtbot, shell)
    expected = colorize(sketch, ref.image, ColorizeParams(extractor="hed"))
    assert np.array_equal(p.colour.colour_result.image, expected.image)
    assert p.batch_params()["extractor"] == "hed"
    # a picture imported now is HED line art
    shell.doc.set_image(generate_lianpu(4, "red", 300).image)
    idle(qtbot, shell)
    n, seen = p.undo.count(), len(calls)
    p.colour.import_document_image()
    qtbot.waitUntil(lambda: p.undo.count() == n + 1, timeout=15000)
    assert (256, 256, 3) in calls[seen:]
    # undo the import and the choice: back to XDoG, shown in the Colour tab too
    idle(qtbot, shell)
    p.undo.undo()
    p.undo.undo()
    idle(qtbot, shell)
    assert p.doc.param("opera", "extractor") == "xdog" and combo.currentData() == "xdog"
    assert np.array_equal(p.colour.colour_result.image, xdog_result)
