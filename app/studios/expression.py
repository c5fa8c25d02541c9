"""Expression studio panel: four label sliders + intensity on an anime face.

Engine choice: Auto (the learned GAN only when its card measured it better than the classical rig,
else the rig), Classical rig, or Learned GAN (refused with a message when no checkpoint exists). The
panel says which engine ran and why; the third view shows the rig's warp field or the GAN's attention
mask.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.model.commands import SetParamCommand, SetParamsCommand
from app.model.document import Document
from app.qt_image import to_qimage
from app.studios.base import StudioPanel
from app.widgets.canvas import ImageCanvas
from app.widgets.engine_box import EngineBox
from app.widgets.param_slider import ParamSlider
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.faces.anime import AnimeFaceParts
from engine.procedural.anime_faces import EXPRESSION_LABELS
from engine.studios.base import EditResult
from engine.studios.expression.classical import flow_to_rgb
from engine.studios.expression.editor import ExpressionEditor
from engine.studios.expression.params import ExpressionParams

STUDIO = "expression"
RENDER = "expression.render"
EXPORT = "expression.export"
RANDOM = "expression.random"

DEFAULTS: dict[str, Any] = {**{name: 0.0 for name in EXPRESSION_LABELS}, "intensity": 1.0}
TIPS = {
    "angry": "Brows lowered and tilted inward, inner upper lids down",
    "sad": "Inner brows raised, outer lids drooping, mouth corners down",
    "smile": "Mouth corners up, eyes narrowed",
    "surprised": "Brows raised, eyes and mouth opened",
    "intensity": "Overall strength applied to all four labels",
}
VIEWS = ("Result", "Original", "Warp field", "Regions")
VIEW_TIPS = ("The edited face", "The opened image, unchanged",
             "Where each pixel moved (hue = direction, brightness = distance); the learned GAN shows its "
             "attention mask here", "The warped regions tinted, part boxes green (located) or orange (estimated)")
ENGINES = (("auto", "Auto (learned only if measured better)"), ("classical", "Classical warp rig"),
           ("neural", "Learned GAN (attention mask)"))


def params_from_dict(d: dict[str, Any]) -> ExpressionParams:
    """Document parameters → validated :class:`ExpressionParams`."""
    return ExpressionParams(**{k: float(d[k]) for k in DEFAULTS}).validate()


def draw_part_boxes(image: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """Outline the located parts on a copy of ``image``: green = found, orange = estimated."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    found = info.get("parts_found", {})
    t = max(1, round(max(out.shape[:2]) / 300))
    for name, b in info.get("part_boxes", {}).items():
        colour = (40, 200, 60) if found.get(name, True) else (255, 140, 0)
        cv2.rectangle(out, (int(round(b[0])), int(round(b[1]))), (int(round(b[2])), int(round(b[3]))), colour, t)
    return out


class ExpressionPanel(StudioPanel):
    """Label sliders bound to the document; the rig runs in the worker with previews."""

    name = STUDIO
    title = "Expression"
    icon = "mdi6.emoticon-happy-outline"
    export_suffix = "expression"
    view_channels = (RENDER,)

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.editor = ExpressionEditor()  # used only inside worker jobs (replaced when the engine changes)
        self.result: Optional[EditResult] = None
        self.view = 0
        self._known: Optional[tuple[np.ndarray, AnimeFaceParts]] = None  # parts of a generated face
        doc.declare(STUDIO, DEFAULTS)
        self._build()
        doc.param_changed.connect(self._on_param_changed)
        doc.image_changed.connect(self._on_image_changed)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        box = QGroupBox("Expression (anime faces)")
        form = QVBoxLayout(box)
        self.sliders: dict[str, ParamSlider] = {}
        for key in DEFAULTS:
            hi = 2.0 if key == "intensity" else 1.0
            s = ParamSlider(key.capitalize(), 0.0, hi, decimals=2, tooltip=TIPS[key])
            s.label.setMinimumWidth(72)
            s.setObjectName(f"slider_{key}")
            s.set_value(self.doc.param(STUDIO, key))
            s.edited.connect(lambda v, mk, key=key: self._push(key, v, mk))
            form.addWidget(s)
            self.sliders[key] = s
        reset = QPushButton("Reset")
        reset.setObjectName("reset_button")
        reset.clicked.connect(self._reset)
        form.addWidget(reset)
        lay.addWidget(box)

        self.assume_face = QCheckBox("Whole picture is the face (tight crops)")
        self.assume_face.setObjectName("assume_face")
        self.assume_face.setToolTip("When no anime face is detected, use the whole picture as the face box; "
                                    "parts are then located (or estimated) inside it")
        self.assume_face.toggled.connect(self._on_assume_face)
        lay.addWidget(self.assume_face)

        self.random_button = QPushButton("Random anime face")
        self.random_button.setObjectName("random_button")
        self.random_button.setToolTip("Draw a new procedural anime face to try the sliders on")
        self.random_button.clicked.connect(self.random_face)
        lay.addWidget(self.random_button)

        view = QGroupBox("Show")
        grid = QGridLayout(view)
        self.view_group = QButtonGroup(self)
        self.view_buttons: list[QRadioButton] = []
        for i, text in enumerate(VIEWS):
            r = QRadioButton(text)
            r.setToolTip(VIEW_TIPS[i])
            r.setChecked(i == 0)
            self.view_group.addButton(r, i)
            self.view_buttons.append(r)
            grid.addWidget(r, i // 2, i % 2)
        self.view_group.idToggled.connect(lambda i, on: on and self.set_view(i))
        if self.editor.backend == "neural":
            self.view_buttons[2].setText("Attention mask")
        lay.addWidget(view)

        self._add_export_and_info(lay, "Export result…", "Open an anime face or press “Random anime face”.",
                                  info_lines=3)
        eng = EngineBox("Engine", ENGINES, note_lines=4)
        eng.chosen.connect(self._on_engine_changed)
        eng.set_note(self._engine_text())
        self.engine_box, self.engine_combo, self.engine_note = eng, eng.combo, eng.note
        lay.addWidget(eng)
        lay.addStretch(1)

    def _engine_text(self) -> str:
        name = "learned GAN" if self.editor.backend == "neural" else "classical warp rig"
        return f"Runs: {name} — {self.editor.backend_reason}."

    def _on_engine_changed(self, key: str) -> None:
        try:
            editor = ExpressionEditor(backend=key, assume_crop=self.assume_face.isChecked())
        except ValueError as exc:
            self.message.emit(f"Expression: {exc}")
            self.engine_box.set_note(str(exc))
            self.engine_box.set_current(self.editor.requested_backend)
            return
        self.editor = editor
        self.engine_note.setText(self._engine_text())
        self.view_buttons[2].setText("Attention mask" if editor.backend == "neural" else "Warp field")
        self.render()

    def _on_assume_face(self, on: bool) -> None:
        # a fresh editor re-runs detection on the next render with the new setting
        self.editor = ExpressionEditor(backend=self.editor.requested_backend, assume_crop=on)
        self.render()

    # -- document binding -------------------------------------------------------------------------
    def _push(self, key: str, value: Any, merge_key: Optional[int]) -> None:
        self.undo.push(SetParamCommand(self.doc, STUDIO, key, value, merge_key))

    def _reset(self) -> None:
        self.undo.push(SetParamsCommand(self.doc, STUDIO, DEFAULTS, "Reset expression"))

    def _on_param_changed(self, studio: str, key: str, value: Any) -> None:
        if studio != STUDIO:
            return
        if key in self.sliders:
            self.sliders[key].set_value(value)
        if self.isVisible() or self.result is not None:
            self.render()

    def _on_image_changed(self) -> None:
        self._forget_result()
        if not self.isVisible():
            return
        self._show_document()
        self.render()

    # -- engine -----------------------------------------------------------------------------------
    def render(self) -> None:
        """Send the current image + sliders to the worker (newest request wins)."""
        image = self.doc.image
        if image is None:
            return
        try:
            params = params_from_dict(self.doc.params(STUDIO))
        except ValueError as exc:
            self.message.emit(f"Expression: {exc}")
            return
        known = self._known[1] if self._known is not None and self._known[0] is image else None
        load = None if known is None else (lambda editor, img: editor.set_face(img, known))
        self._submit_edit(RENDER, self.editor, image, params, load)

    def random_face(self) -> None:
        """Generate a procedural anime face (in the worker) and open it as the document."""
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))

        def job(token: CancelToken) -> tuple[np.ndarray, AnimeFaceParts, int]:
            from engine.procedural.anime_faces import generate_anime_face
            from engine.studios.expression.editor import parts_from_generated

            face = generate_anime_face(seed, 512)
            return face.image, parts_from_generated(face), seed

        self.submit(RANDOM, job)

    def _on_result(self, channel: str, gen: int, value: object) -> None:
        if channel == RANDOM:
            image, parts, seed = value  # type: ignore[misc]
            self._known = (image, parts)
            self.undo.clear()
            self.doc.set_image(image, None)
            self.message.emit(f"Random anime face, seed {seed}")
            return
        if channel != RENDER or gen != self.worker.latest_generation(RENDER):
            return
        assert isinstance(value, EditResult)
        if not value.is_preview:
            self.result = value
            self.export_button.setEnabled(True)
        if not self.isVisible():  # switched away meanwhile: the canvas is another studio's now
            return
        self._show(value)
        info = value.info
        size = "preview" if value.is_preview else "full"
        h, w = value.image.shape[:2]
        found = sum(bool(v) for v in info.get("parts_found", {}).values())
        est = info.get("parts_estimated") or []
        text = (f"Engine: {info.get('backend')} ({info.get('method', '')}) · {size} {w}×{h} · "
                f"{info.get('elapsed_ms', 0):.1f} ms · parts located {found}/5"
                + (f"; estimated (warped gently, orange in Regions): {', '.join(p.replace('_', ' ') for p in est)}"
                   if est else ""))
        self.engine_status.emit(text)
        self.info_label.setText(text)

    def _show(self, res: Optional[EditResult]) -> None:
        if self.view == 1 and self.doc.image is not None:
            self.canvas.set_after(to_qimage(self.doc.image))
        elif res is None:
            return
        elif self.view == 2 and "attention" in res.masks:
            self.canvas.set_after(to_qimage(np.repeat(res.masks["attention"][:, :, None], 3, axis=2)))
        elif self.view == 2:
            self.canvas.set_after(to_qimage(flow_to_rgb(res.info["flow"], res.masks["weight"] / 255.0)))
        elif self.view == 3:
            tint = res.image.copy()
            m = res.masks["weight"].astype(np.float32)[:, :, None] / 255.0
            tint = (tint * (1 - 0.5 * m) + np.array([255, 60, 140]) * 0.5 * m).astype(np.uint8)
            self.canvas.set_after(to_qimage(draw_part_boxes(tint, res.info)))
        else:
            self.canvas.set_after(to_qimage(res.image))

    def _on_error(self, channel: str, gen: int, message: str) -> None:
        if channel in (RENDER, EXPORT, RANDOM):
            self.message.emit(f"Expression: {message}")
            self.info_label.setText(message)

    # -- view -------------------------------------------------------------------------------------
    def set_view(self, index: int) -> None:
        """0 result, 1 original, 2 warp field / attention mask, 3 regions with the part boxes (green
        found, orange estimated); the canvas split still works."""
        self.view = index
        if not self.view_buttons[index].isChecked():
            self.view_buttons[index].setChecked(True)
        self._show(self.result)

    def toggle_view(self) -> None:
        self.set_view(1 if self.view != 1 else 0)

    def activate(self) -> None:
        self._show_document()
        self.render()

    # -- export -----------------------------------------------------------------------------------
