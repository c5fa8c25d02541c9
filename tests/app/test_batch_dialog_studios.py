"""Ctrl+B in every studio opens the batch dialog built from that studio's ops, seeded with its
settings; the generated form runs a grid, a procedural op, and words errors for the dialog."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.dialogs.batch_dialog import BatchDialog, default_params, parse_value, studio_ops
from engine.batch import read_manifest
from engine.imageio import save_image
from testkit import shapes_image

SHOTS = Path(os.environ.get("MASQUERADE_SHOTS", "/tmp"))

STUDIOS = {  # studio: (op Ctrl+B opens, other ops offered, a field the studio's value fills)
    "opera": ("lineart", {"colorize", "opera-dataset"}, "sigma"),
    "makeup": ("makeup", set(), "intensity"),
    "maskwear": ("wear-mask", set(), "template"),
    "expression": ("express", {"express-procedural"}, "smile"),
    "regenerate": ("regenerate", set(), "blend"),
}


def dialogs_opened(monkeypatch) -> list[BatchDialog]:
    opened: list[BatchDialog] = []
    monkeypatch.setattr(BatchDialog, "exec", lambda self: opened.append(self) or 0)
    return opened


def test_ctrl_b_opens_each_studios_batch_dialog(make_window, monkeypatch, qtbot) -> None:
    win = make_window((1100, 760), persist=False)
    opened = dialogs_opened(monkeypatch)
    win.doc.set_param("maskwear", "template", "kn95")  # a studio setting the dialog must show
    for studio, (op, others, key) in STUDIOS.items():
        win.set_studio(studio)
        assert win.batch_action.isEnabled() and win.batch_action.shortcut().toString() == "Ctrl+B"
        win.batch_action.trigger()
        assert len(opened) == 1, f"{studio}: Ctrl+B opened nothing ({win.notice.text})"
        d = opened.pop()
        qtbot.addWidget(d)
        ops = [d.op_box.itemData(i) for i in range(d.op_box.count())]
        assert ops[0] == op == d.op and set(ops[1:]) == others, studio
        assert key in d.fields, (studio, list(d.fields))
        d.resize(d.sizeHint().width(), d.sizeHint().height())
        d.show()
        assert d.grab().save(str(SHOTS / f"batch_dialog_{studio}.png"))
        d.close()
    assert d.fields["blend"].value() == win.doc.param("regenerate", "blend")
    win.set_studio("maskwear")
    win.batch_action.trigger()
    assert opened.pop().fields["template"].value() == "kn95"
    # Opera's colour tab: batch colorize from the chosen reference file
    win.set_studio("opera")
    win.panels["opera"].set_mode("colour")
    win.batch_action.trigger()
    d = opened.pop()
    qtbot.addWidget(d)
    assert d.op == "colorize" and set(d.fields) == {"reference", "gap", "extractor"}
    d.show()
    d.grab().save(str(SHOTS / "batch_dialog_opera_colour.png"))
    d.close()


def test_form_runs_a_grid_then_resumes_and_words_errors_for_the_dialog(qtbot, clean_settings, tmp_path) -> None:
    (tmp_path / "in").mkdir()
    for i in range(2):
        save_image(tmp_path / "in" / f"img{i}.png", shapes_image(40, 48, seed=i))
    d = BatchDialog("lineart", {"sigma": 1.0})
    qtbot.addWidget(d)
    d.input_edit.setText(str(tmp_path / "in"))
    d.output_edit.setText(str(tmp_path / "out"))
    d.workers.setValue(1)
    d.grid_edit.setPlainText("sigma=0.6,1.2\n")
    d.licence_edit.setText("CC0-1.0")
    d.start()
    qtbot.waitUntil(lambda: not d.running(), timeout=30000)
    assert d.summary is not None and d.summary.done == 4, d.status.text()
    recs = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert sorted(r["params"]["sigma"] for r in recs.values()) == [0.6, 0.6, 1.2, 1.2]
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["licence"] == "CC0-1.0"
    d.start()
    qtbot.waitUntil(lambda: not d.running(), timeout=30000)
    assert d.summary.skipped == 4 and d.summary.done == 0
    d.grid_edit.setPlainText("sigma")
    d.start()
    assert not d.running() and "NAME=V1" in d.status.text()
    # colorize without a reference: the op's CLI words become the dialog's field
    d.set_op("colorize")
    d.grid_edit.setPlainText("")
    d.start()
    assert not d.running() and "the “reference” field" in d.status.text() and "--" not in d.status.text()


def test_procedural_op_takes_a_count_instead_of_a_folder(qtbot, clean_settings, tmp_path) -> None:
    d = BatchDialog("opera-dataset", default_params("opera-dataset"))
    qtbot.addWidget(d)
    d.show()
    assert d.input_row.isHidden() and not d.count.isHidden()
    d.output_edit.setText(str(tmp_path / "gen"))
    d.count.setValue(2)
    d.fields["size"].edit.setText("64")
    d.workers.setValue(1)
    d.start()
    qtbot.waitUntil(lambda: not d.running(), timeout=60000)
    assert d.summary is not None and d.summary.done == 2, d.status.text()
    assert (tmp_path / "gen" / "dataset.json").exists()


def test_engine_choice_shows_the_address_and_allows_one_actor_per_cpu(qtbot, clean_settings) -> None:
    d = BatchDialog("lineart", {})
    qtbot.addWidget(d)
    d.show()
    assert d.address_edit.isHidden() and d.workers.minimum() == 1
    d.engine_box.setCurrentIndex(d.engine_box.findData("ray"))
    assert not d.address_edit.isHidden() and d.workers.minimum() == 0
    d.workers.setValue(0)
    assert d.workers.text() == "one per cluster CPU"


def test_studio_ops_and_values() -> None:
    assert studio_ops("express-procedural") == ["express-procedural", "express"]
    assert studio_ops("no-such-op") == ["no-such-op"]
    assert default_params("colorize") == {"reference": None, "gap": None, "extractor": "xdog"}
    assert parse_value("0.5", 1.0) == 0.5 and parse_value("", None) is None and parse_value("3", None) == 3
    assert parse_value("kn95", "random") == "kn95" and parse_value("x", 1.0) == "x"


@pytest.mark.parametrize("key", [Qt.Key.Key_Escape])
def test_escape_cancels_a_running_job(qtbot, clean_settings, tmp_path, key) -> None:
    (tmp_path / "in").mkdir()
    for i in range(40):
        save_image(tmp_path / "in" / f"img{i:02d}.png", shapes_image(40, 48, seed=i))
    d = BatchDialog("lineart", {})
    qtbot.addWidget(d)
    d.input_edit.setText(str(tmp_path / "in"))
    d.output_edit.setText(str(tmp_path / "out"))
    d.workers.setValue(1)
    d.start()
    qtbot.keyClick(d, key)
    assert not d.running()
    assert len(read_manifest(tmp_path / "out" / "manifest.jsonl")) < 40
