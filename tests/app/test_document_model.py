"""The document model without widgets: parameter commands and raster commands on bare QUndoStacks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from app.model.commands import UNDO_LIMIT, SetParamCommand, SetParamsCommand, new_undo_stack
from app.model.document import Document
from app.model.raster import PatchCommand, RasterLayer, ReplaceCommand
from app.model.sketch import PAPER, sketch_layer


@pytest.fixture
def doc(qapp) -> Document:
    d = Document()
    d.declare("makeup", {"lips_intensity": 1.0, "lips_on": True})
    return d


def test_a_drag_merges_into_one_step_and_undo_restores(doc) -> None:
    stack = QUndoStack()
    seen: list[tuple[str, str, object]] = []
    doc.param_changed.connect(lambda *a: seen.append(a))
    for v in (0.9, 0.7, 0.4, 0.2):  # one drag: the same merge key
        stack.push(SetParamCommand(doc, "makeup", "lips_intensity", v, "Change lip intensity", merge_key=7))
    assert stack.count() == 1 and stack.text(0) == "Change lip intensity"
    assert doc.param("makeup", "lips_intensity") == 0.2 and len(seen) == 4
    stack.push(SetParamCommand(doc, "makeup", "lips_intensity", 0.5, "Change lip intensity", merge_key=8))
    assert stack.count() == 2  # a second drag is a second step
    stack.undo()
    assert doc.param("makeup", "lips_intensity") == 0.2
    stack.undo()
    assert doc.param("makeup", "lips_intensity") == 1.0  # the whole first drag in one step
    stack.redo()
    assert doc.param("makeup", "lips_intensity") == 0.2


def test_a_drag_back_to_its_start_and_a_no_op_leave_no_step(doc) -> None:
    stack = QUndoStack()
    for v in (0.6, 1.0):  # dragged away and back
        stack.push(SetParamCommand(doc, "makeup", "lips_intensity", v, "Change lip intensity", merge_key=3))
    assert stack.count() == 0 and doc.param("makeup", "lips_intensity") == 1.0
    stack.push(SetParamCommand(doc, "makeup", "lips_on", True, "Turn on lips"))  # already on
    stack.push(SetParamsCommand(doc, "makeup", {"lips_on": True, "lips_intensity": 1.0}, "Reset makeup"))
    assert stack.count() == 0


def test_different_parameters_never_merge(doc) -> None:
    stack = QUndoStack()
    stack.push(SetParamCommand(doc, "makeup", "lips_intensity", 0.3, "Change lip intensity", merge_key=1))
    stack.push(SetParamCommand(doc, "makeup", "lips_on", False, "Turn off lips", merge_key=1))
    assert stack.count() == 2 and [stack.text(i) for i in range(2)] == ["Change lip intensity", "Turn off lips"]


def test_undo_stacks_keep_at_most_the_limit(doc) -> None:
    stack = new_undo_stack(limit=3)
    assert new_undo_stack().undoLimit() == UNDO_LIMIT
    for v in (0.1, 0.2, 0.3, 0.4, 0.5):
        stack.push(SetParamCommand(doc, "makeup", "lips_intensity", v, "Change lip intensity"))
    assert stack.count() == 3  # the oldest steps were dropped
    while stack.canUndo():
        stack.undo()
    assert doc.param("makeup", "lips_intensity") == 0.2
    with pytest.raises(ValueError, match="at least 1"):
        new_undo_stack(limit=0)


def test_whole_image_steps_of_2048_pixels_are_kept_compressed(qapp) -> None:
    layer = sketch_layer(2048)
    art = np.full((2048, 2048), PAPER, np.uint8)
    art[900:1100, 300:1700] = 0
    stack = QUndoStack()
    cmd = ReplaceCommand(layer, art, "Import picture")
    assert cmd.nbytes < 1_000_000  # two 4 MB images, flat enough to pack small
    stack.push(cmd)
    assert np.array_equal(layer.pixels, art)
    stack.undo()
    assert layer.is_uniform(PAPER)
    stack.redo()
    assert np.array_equal(layer.pixels, art)


def test_one_layer_serves_labels_and_sketch_with_their_rules(qapp) -> None:
    labels = RasterLayer(np.zeros((20, 30), np.uint8))  # a label map: any size
    changed: list[tuple[int, int, int, int]] = []
    labels.changed.connect(lambda *box: changed.append(box))
    after = labels.pixels.copy()
    after[5:8, 10:12] = 13
    cmd = PatchCommand.from_maps(labels, labels.pixels, after, "Paint hair")
    assert cmd is not None and cmd.box == (10, 5, 2, 3)
    stack = QUndoStack()
    stack.push(cmd)
    assert changed == [(10, 5, 2, 3)] and (labels.pixels == after).all()
    stack.push(ReplaceCommand(labels, np.ones((10, 10), np.uint8), "Load mask"))
    assert labels.shape == (10, 10)
    sketch = sketch_layer(256)
    with pytest.raises(ValueError, match="256–2048"):
        ReplaceCommand(sketch, np.zeros((100, 100), np.uint8), "Load sketch")
    with pytest.raises(ValueError, match="grey"):
        RasterLayer(np.zeros((4, 4, 3), np.uint8))
