"""Expression studio panel: four emotion sliders + intensity, the low-level sliders (blink, eye
openness, gaze, brows, mouth, vowels, head roll), presets and "copy expression from a picture" on an
anime face.

Engine choice: Auto (the learned GAN only when its card measured it better than the classical rig,
else the rig), Classical rig, or Learned GAN (refused with a message when no checkpoint exists). The
engine box shows the choice's resolution from the GAN's card (nothing is loaded on the GUI thread);
the info line says what ran; the third view shows the rig's warp field or the GAN's attention mask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.model.document import Document
from app.qt_image import to_qimage
from app.studios.base import StudioPanel, WorkerEditor, edit_summary
from app.widgets.canvas import ImageCanvas
from app.widgets.engine_box import EngineBox
from app.widgets.param_slider import ParamSlider
from app.worker import EngineWorker
from engine.cancel import CancelToken
from engine.faces.anime import AnimeFaceParts
from engine.procedural.anime_faces import EXPRESSION_LABELS
from engine.studios.base import EditResult, Resolution
from engine.studios.expression.classical import flow_to_rgb
from engine.studios.expression.editor import ExpressionEditor
from engine.studios.expression.params import LOW_LEVEL, ExpressionParams
from engine.studios.expression.presets import builtin_presets

STUDIO = "expression"
RENDER = "expression.render"
RANDOM = "expression.random"
COPY = "expression.copy"

DEFAULTS: dict[str, Any] = {**{name: 0.0 for name in EXPRESSION_LABELS}, "intensity": 1.0,
                            **{name: 0.0 for name in LOW_LEVEL}}
TIPS = {
    "blink_left": "Close (+) or open wide (−) the eye on the left of the picture",
    "blink_right": "Close (+) or open wide (−) the eye on the right of the picture",
    "eye_open": "Both eyes wider (+) or narrower (−)",
    "gaze_x": "Irises move right (+) or left (−) inside the eyes",
    "gaze_y": "Irises move down (+) or up (−) inside the eyes",
    "brow_raise": "Brows up (+) or down (−)",
    "brow_furrow": "Inner brow ends down and together (+), up and apart (−)",
    "mouth_open": "Open (+) or close (−) the mouth",
    "mouth_width": "Wider (+) or narrower (−) mouth",
    "aaa": "Vowel mouth shape “aaa”: tall open mouth (− presses it closed)",
    "eee": "Vowel mouth shape “eee”: wide, teeth showing (− narrower)",
    "ooo": "Vowel mouth shape “ooo”: small round mouth (− wider)",
    "head_roll": "Tilt the head clockwise (+) or anticlockwise (−), up to 12°",
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
ENGINE_NAMES = {"classical": "the classical warp rig", "neural": "the learned GAN"}


def params_from_dict(d: dict[str, Any]) -> ExpressionParams:
    """Document parameters → validated :class:`ExpressionParams`.

    Raises:
        ValueError: a value out of range.
    """
    return ExpressionParams(**{k: float(d[k]) for k in DEFAULTS}).validate()


def make_editor(key: tuple[str, bool] | None) -> ExpressionEditor:
    """The editor for ``(requested backend, whole picture is the face)`` (made in the worker)."""
    backend, assume_crop = key if key is not None else ("auto", False)
    return ExpressionEditor(backend=backend, assume_crop=assume_crop)


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
    """Label sliders bound to the document; the rig (or the GAN) runs in the worker with previews."""

    name = STUDIO
    title = "Expression"
    icon = "mdi6.emoticon-happy-outline"
    export_suffix = "expression"
    view_channels = (RENDER,)
    param_texts = {"angry": "anger", "sad": "sadness", "smile": "smile", "surprised": "surprise",
                   "intensity": "expression intensity", "blink_left": "left blink", "blink_right": "right blink",
                   "eye_open": "eye openness", "gaze_x": "gaze left / right", "gaze_y": "gaze up / down",
                   "brow_raise": "brow raise", "brow_furrow": "brow furrow", "mouth_open": "mouth opening",
                   "mouth_width": "mouth width", "aaa": "vowel “aaa”", "eee": "vowel “eee”", "ooo": "vowel “ooo”",
                   "head_roll": "head roll"}
    batch_op = "express"

    def batch_params(self) -> dict[str, Any]:
        """The label sliders and "whole picture is the face" in ``batch express``'s form.

        Raises:
            ValueError: a slider value out of range.
        """
        p = params_from_dict(self.doc.params(STUDIO))
        return {**{k: float(getattr(p, k)) for k in DEFAULTS}, "assume_crop": self.assume_face.isChecked()}

    def __init__(self, doc: Document, undo: QUndoStack, worker: EngineWorker, canvas: ImageCanvas,
                 parent: QWidget | None = None) -> None:
        super().__init__(doc, undo, worker, canvas, parent)
        self.engine = "auto"
        """The requested engine: ``auto``, ``classical`` or ``neural``."""
        self.editor: WorkerEditor[tuple[str, bool], ExpressionEditor] = WorkerEditor(make_editor)
        self.result: EditResult | None = None
        self.view = 0
        self._known: tuple[np.ndarray, AnimeFaceParts] | None = None  # parts of a generated face
        doc.declare(STUDIO, DEFAULTS)
        self._build()

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        box = QGroupBox("Expression (anime faces)")
        form = QVBoxLayout(box)
        self.sliders: dict[str, ParamSlider] = {}
        fine = QGroupBox("Fine controls (−1 … 1, 0 = unchanged)")
        fine_form = QVBoxLayout(fine)
        for key in DEFAULTS:
            hi = 2.0 if key == "intensity" else 1.0
            lo = -1.0 if key in LOW_LEVEL else 0.0
            s = ParamSlider(key.replace("_", " ").capitalize(), lo, hi, decimals=2, tooltip=TIPS[key])
            s.label.setMinimumWidth(72)
            s.setObjectName(f"slider_{key}")
            s.set_value(self.doc.param(STUDIO, key))
            s.edited.connect(lambda v, mk, key=key: self.push_param(key, v, mk))
            (fine_form if key in LOW_LEVEL else form).addWidget(s)
            self.sliders[key] = s
        presets = QHBoxLayout()
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("preset_combo")
        self.preset_combo.setToolTip("Apply a built-in expression preset")
        self.preset_combo.addItem("Preset…")
        self.preset_combo.addItems([n.replace("_", " ") for n in builtin_presets()])
        self.preset_combo.activated.connect(self._preset_chosen)
        presets.addWidget(self.preset_combo, 1)
        presets.addWidget(_button("Load…", "load_preset_button", "Apply an expression preset from a JSON file",
                                  self._load_preset_dialog))
        presets.addWidget(_button("Save…", "save_preset_button",
                                  "Save the current sliders as an expression preset (JSON)", self._save_preset_dialog))
        form.addLayout(presets)
        self.copy_button = _button("Copy expression from a picture…", "copy_expression_button",
                                   "Give this face the expression of another anime picture (slider values read "
                                   "back from both pictures' eyes, brows and mouth)", self._copy_dialog)
        form.addWidget(self.copy_button)
        reset = QPushButton("Reset")
        reset.setObjectName("reset_button")
        reset.clicked.connect(lambda: self.push_params(DEFAULTS, "Reset expression"))
        form.addWidget(reset)
        lay.addWidget(box)
        lay.addWidget(fine)

        self.assume_face = QCheckBox("Whole picture is the face (tight crops)")
        self.assume_face.setObjectName("assume_face")
        self.assume_face.setToolTip("Tight crops with a face-like layout of eyes, brows and mouth are found "
                                    "without this; tick it to use the whole picture as the face box even "
                                    "when its parts are not recognised (they are then estimated)")
        self.assume_face.toggled.connect(lambda _on: self.request_render())  # a new editor detects again
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
        self.view_group.idToggled.connect(self._view_chosen)
        lay.addWidget(view)

        self.add_export_and_info(lay, "Export result…", "Open an anime face or press “Random anime face”.",
                                 info_lines=3)
        self.engine_box = EngineBox("Engine", ENGINES, ENGINE_NAMES, note_lines=4)
        self.engine_box.chosen.connect(self.set_engine)
        self.engine_combo, self.engine_note = self.engine_box.combo, self.engine_box.note
        lay.addWidget(self.engine_box)
        lay.addStretch(1)
        self.refresh_engines()

    # -- presets and copying ----------------------------------------------------------------------
    def apply_preset(self, name_or_path: str) -> None:
        """Set every slider from a preset (a built-in name or a JSON file) as one undo step."""
        from engine.studios.expression.presets import load_preset

        try:
            name, params = load_preset(name_or_path)
        except ValueError as exc:
            self.report_error(str(exc))
            return
        self.push_params({k: getattr(params, k) for k in DEFAULTS}, f"Expression preset {name}")

    def save_preset(self, path: str) -> None:
        """Write the current sliders as a preset file."""
        from pathlib import Path

        from engine.studios.expression.presets import save_preset

        try:
            written = save_preset(path, params_from_dict(self.doc.params(STUDIO)), Path(path).stem)
        except (OSError, ValueError) as exc:
            self.report_error(f"could not save the preset: {exc}")
            return
        self.message.emit(f"Saved expression preset {written}")

    def _preset_chosen(self, index: int) -> None:
        if index > 0:
            self.apply_preset(self.preset_combo.itemText(index).replace(" ", "_"))
        self.preset_combo.setCurrentIndex(0)

    def _load_preset_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load expression preset", "", "Expression preset (*.json)")
        if path:
            self.apply_preset(path)

    def _save_preset_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save expression preset", "expression.json",
                                              "Expression preset (*.json)")
        if path:
            self.save_preset(path if path.endswith(".json") else path + ".json")

    def _copy_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Copy the expression of", "",
                                              "Images (*.png *.jpg *.jpeg *.webp *.bmp)")
        if path:
            self.copy_expression_from(path)

    def copy_expression_from(self, path: str) -> None:
        """Analyse ``path`` and this picture in the worker and set the low-level sliders so this face
        gets that picture's expression (one undo step)."""
        image = self.doc.image
        if image is None:
            self.report_error("open an anime face first")
            return
        assume = self.assume_face.isChecked()

        def job(token: CancelToken) -> dict[str, float]:
            from engine.faces.anime import analyze_anime
            from engine.imageio import load_image
            from engine.studios.expression.presets import copy_expression

            src = analyze_anime(load_image(path), assume_crop=assume)
            if not src:
                raise ValueError(f"no anime face found in {path}")
            dst = analyze_anime(image, assume_crop=assume)
            if not dst:
                raise ValueError("no anime face found in this picture")
            return copy_expression(src[0], dst[0]).low_level()

        self.submit(COPY, job, self._copied, self._render_failed)

    def _copied(self, value: object) -> None:
        assert isinstance(value, dict)
        self.push_params({k: float(v) for k, v in value.items()}, "Copy expression")
        self.message.emit("Expression copied")

    def _view_chosen(self, index: int, on: bool) -> None:
        if on:
            self.set_view(index)

    # -- engine choice ----------------------------------------------------------------------------
    def refresh_engines(self) -> None:
        """Show the current choice's resolution (from the GAN's card only)."""
        res = self.rebind_engine(self.engine_box, ExpressionEditor.learned, self.engine)
        self.engine = res.requested
        self._show_view_names(res)

    def _show_view_names(self, res: Resolution) -> None:
        self.view_buttons[2].setText("Attention mask" if res.learned else "Warp field")

    def set_engine(self, key: str) -> None:
        """Choose ``auto`` / ``classical`` / ``neural``; an unavailable learned GAN is refused with a
        message and the previous choice stays."""
        res = self.choose_engine(self.engine_box, ExpressionEditor.learned, key)
        if res is None:
            return
        self.engine = key
        self._show_view_names(res)
        self.request_render()

    # -- document binding -------------------------------------------------------------------------
    def on_param_changed(self, studio: str, key: str, value: Any) -> None:
        if key in self.sliders:
            self.sliders[key].set_value(value)
        self.request_render()

    # -- engine -----------------------------------------------------------------------------------
    def request_render(self) -> None:
        """Send the current image + sliders to the worker (newest request wins)."""
        image = self.doc.image
        if image is None or not self.isVisible():
            return
        try:
            params = params_from_dict(self.doc.params(STUDIO))
        except ValueError as exc:
            self.report_error(str(exc))
            return
        known = self._known[1] if self._known is not None and self._known[0] is image else None
        load = None if known is None else (lambda editor, img: editor.set_face(img, known))
        key = (self.engine, self.assume_face.isChecked())
        self.submit_edit(RENDER, lambda: self.editor.get(key), image, params, self._show_result,
                         self._render_failed, load)

    def random_face(self) -> None:
        """Generate a procedural anime face (in the worker) and open it as the document (after the
        window has asked about unsaved work)."""
        if not self.confirm_discard("making a random anime face"):
            return
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))

        def job(token: CancelToken) -> tuple[np.ndarray, AnimeFaceParts, int]:
            from engine.procedural.anime_faces import generate_anime_face
            from engine.studios.expression.editor import parts_from_generated

            face = generate_anime_face(seed, 512)
            return face.image, parts_from_generated(face), seed

        self.submit(RANDOM, job, self._random_made, self._render_failed)

    def _random_made(self, value: object) -> None:
        assert isinstance(value, tuple)
        image, parts, seed = value
        self._known = (image, parts)
        self.doc.set_image(image, None)
        self.message.emit(f"Random anime face, seed {seed}")

    def _show_result(self, value: object) -> None:
        assert isinstance(value, EditResult)
        if not self.take_result(value):  # switched away meanwhile: the canvas is another studio's now
            return
        self._show(value)
        info = value.info
        found = sum(bool(v) for v in info.get("parts_found", {}).values())
        est = info.get("parts_estimated") or []
        text = (edit_summary(value) + f" · parts located {found}/5"
                + (f"; estimated (warped gently, orange in Regions): {', '.join(p.replace('_', ' ') for p in est)}"
                   if est else ""))
        self.report_engine(value, text)
        self.info_label.setText(text)

    def _render_failed(self, message: str) -> None:
        self.report_error(message)
        self.info_label.setText(message)

    def _show(self, res: EditResult | None) -> None:
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
        self.show_document()
        self.request_render()


def _button(text: str, name: str, tip: str, slot: Callable[[], object]) -> QPushButton:
    """A push button with its object name and tooltip, connected to ``slot``."""
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button
