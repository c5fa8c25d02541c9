"""Batch line-art dialog drives the batch core: progress, summary, resume, cancel, bad folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.dialogs.batch_dialog import BatchDialog, format_eta
from engine.batch import read_manifest
from engine.imageio import save_image
from engine.studios.opera.params import XDoGParams
from testkit import shapes_image


def make_inputs(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        save_image(folder / f"img{i:03d}.png", shapes_image(48, 64, seed=i))


@pytest.fixture
def dialog(qtbot, clean_settings):
    d = BatchDialog("lineart", XDoGParams(sigma=1.0).to_dict())
    qtbot.addWidget(d)
    yield d
    d.close()


def test_run_to_completion_then_resume(qtbot, dialog, tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 5)
    dialog.input_edit.setText(str(tmp_path / "in"))
    dialog.output_edit.setText(str(tmp_path / "out"))
    dialog.workers.setValue(1)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=30000)
    assert dialog.summary.done == 5 and dialog.summary.failed == 0
    assert dialog.bar.value() == dialog.bar.maximum() == 5
    assert "Done: 5 written" in dialog.status.text()
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert len(records) == 5 and all(r["status"] == "done" for r in records.values())
    assert all(r["params"]["sigma"] == 1.0 for r in records.values())
    dialog.summary = None
    dialog.start()  # same folders again: everything is skipped
    qtbot.waitUntil(lambda: dialog.summary is not None, timeout=30000)
    assert dialog.summary.skipped == 5 and dialog.summary.done == 0


def test_cancel_keeps_finished_outputs(qtbot, dialog, tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 60)
    dialog.input_edit.setText(str(tmp_path / "in"))
    dialog.output_edit.setText(str(tmp_path / "out"))
    dialog.workers.setValue(1)
    dialog.start()
    token = dialog.runner.token
    # Cancel from inside the job's thread after two images, as a click on Cancel would.
    dialog.runner.progress.connect(lambda p: p.done >= 2 and token.cancel(), Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: not dialog.running(), timeout=30000)
    assert "Cancelled" in dialog.status.text()
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert 2 <= len(records) < 60
    for r in records.values():
        assert (tmp_path / "out" / r["output"]).exists()
    assert dialog.start_button.isEnabled()


def test_bad_folders_are_explained(qtbot, dialog, tmp_path: Path) -> None:
    dialog.input_edit.setText(str(tmp_path / "missing"))
    dialog.output_edit.setText(str(tmp_path / "out"))
    dialog.start()
    assert not dialog.running() and "not found" in dialog.status.text()
    (tmp_path / "empty").mkdir()
    dialog.input_edit.setText(str(tmp_path / "empty"))
    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running(), timeout=30000)
    assert dialog.status.text().startswith("Batch failed:")


def test_format_eta() -> None:
    assert format_eta(None) == "–"
    assert format_eta(float("nan")) == "–"
    assert format_eta(65) == "1:05"
    assert format_eta(3725) == "1:02:05"


def test_a_different_job_in_the_folder_is_refused_unless_replace_is_ticked(qtbot, clean_settings, tmp_path: Path) -> None:
    make_inputs(tmp_path / "in", 2)
    for sigma, tick, ok in ((1.0, False, True), (1.5, False, False), (1.5, True, True)):
        d = BatchDialog("lineart", XDoGParams(sigma=sigma).to_dict())
        qtbot.addWidget(d)
        d.input_edit.setText(str(tmp_path / "in"))
        d.output_edit.setText(str(tmp_path / "out"))
        d.workers.setValue(1)
        d.replace_box.setChecked(tick)
        d.start()
        qtbot.waitUntil(lambda d=d: not d.running(), timeout=30000)
        if ok:
            assert d.summary is not None and d.summary.done == 2, d.status.text()
        else:
            assert d.summary is None and "Batch failed" in d.status.text() and "tick “Replace" in d.status.text()
            assert "--force" not in d.status.text()
        d.close()
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert all(r["params"]["sigma"] == 1.5 for r in records.values())
    assert (tmp_path / "out" / "manifest.jsonl.old").is_file()
