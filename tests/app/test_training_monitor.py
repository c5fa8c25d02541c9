"""Training monitor (offscreen): incremental JSONL reading, partial lines, truncation, live curves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.dialogs.training_monitor import (
    JsonlLog,
    TrainingMonitorDialog,
    ema,
    resolve_log_path,
)


def _line(rec: dict) -> str:
    return json.dumps(rec) + "\n"


def test_reader_waits_for_the_file_and_for_the_end_of_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = JsonlLog(path)
    assert not log.poll() and not log.exists and log.keys == []
    first = _line({"step": 10, "elapsed_s": 1.5, "d_loss": 0.5, "p": 0.0, "note": "text", "ok": True})
    second = _line({"step": 20, "elapsed_s": 3.0, "d_loss": 0.4, "p": 0.01})
    path.write_text(first + second[:17])  # the trainer is mid-write
    assert log.poll()
    assert log.records == 1 and log.keys == ["elapsed_s", "d_loss", "p"]  # strings and bools skipped
    assert log.series["d_loss"] == ([10.0], [0.5])
    assert not log.poll()  # nothing new: the partial line still waits
    with open(path, "a") as fh:
        fh.write(second[17:] + "not json\n" + "[1, 2]\n")
    assert log.poll()
    assert log.records == 2 and log.bad_lines == 2
    assert log.series["p"] == ([10.0, 20.0], [0.0, 0.01]) and log.last_x == 20.0


def test_reader_restarts_when_the_file_shrinks_or_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("".join(_line({"step": s, "loss": 1.0 / s}) for s in (1, 2, 3)))
    log = JsonlLog(path)
    log.poll()
    assert log.records == 3
    path.write_text(_line({"step": 1, "g_loss": 2.0}))  # a new run in the same folder
    assert log.poll()
    assert log.resets == 1 and log.records == 1 and log.keys == ["g_loss"]
    path.unlink()
    assert log.poll() and log.records == 0
    # records without a step are plotted over their index
    path.write_text(_line({"loss": 3.0}) + _line({"loss": 2.0}))
    log.poll()
    assert log.series["loss"] == ([0.0, 1.0], [3.0, 2.0])


def test_ema_and_paths(tmp_path: Path) -> None:
    y = np.array([1.0, 0.0, 0.0, float("nan"), 0.0])
    assert np.array_equal(ema(y, 0.0)[:3], y[:3])
    s = ema(y, 0.5)
    assert s[0] == pytest.approx(1.0) and s[1] == pytest.approx(1 / 3) and np.isfinite(s[3])  # NaN carried over
    assert s[4] < s[2] < s[1]
    with pytest.raises(ValueError):
        ema(y, 1.0)
    assert resolve_log_path(tmp_path) == tmp_path / "log.jsonl"
    assert resolve_log_path(tmp_path / "other.jsonl") == tmp_path / "other.jsonl"


def test_dialog_follows_a_growing_log(qtbot, clean_settings, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    dlg = TrainingMonitorDialog(run, poll_ms=20)
    qtbot.addWidget(dlg)
    dlg.show()
    assert "Waiting" in dlg.status_label.text() and dlg.plots == {}
    log = run / "log.jsonl"
    recs = [{"step": s, "elapsed_s": 0.1 * s, "d_loss": 1.0 / s, "real_sign": 0.1 * s, "p": 0.001 * s}
            for s in range(1, 6)]
    log.write_text("".join(_line(r) for r in recs[:3]) + _line(recs[3])[:9])
    qtbot.waitUntil(lambda: "d_loss" in dlg.plots, timeout=3000)
    # elapsed_s is listed but unchecked; the losses and ADA's p are plotted
    assert sorted(dlg.plots) == ["d_loss", "p", "real_sign"]
    keys = {dlg.key_list.item(i).text(): dlg.key_list.item(i).checkState() for i in range(dlg.key_list.count())}
    assert keys["elapsed_s"] == Qt.CheckState.Unchecked and keys["p"] == Qt.CheckState.Checked
    x, y = dlg._curves["p"][1].getData()
    assert list(x) == [1, 2, 3] and np.allclose(y, [0.001, 0.002, 0.003])
    with open(log, "a") as fh:
        fh.write(_line(recs[3])[9:] + _line(recs[4]))
    qtbot.waitUntil(lambda: len(dlg._curves["p"][1].getData()[0]) == 5, timeout=3000)
    assert "5 records" in dlg.status_label.text() and "last step 5" in dlg.status_label.text()
    # hide / show a key
    dlg.set_key_visible("d_loss", False)
    assert "d_loss" not in dlg.plots and "p" in dlg.plots
    dlg.set_key_visible("elapsed_s", True)
    assert "elapsed_s" in dlg.plots
    # smoothing changes the drawn curve and shows the raw one faintly
    raw_y = dlg._curves["real_sign"][1].getData()[1].copy()
    dlg.smooth_slider.setValue(80)
    smooth_y = dlg._curves["real_sign"][1].getData()[1]
    assert smooth_y[-1] < raw_y[-1] and dlg._curves["real_sign"][0].isVisible()
    # not following: appended records wait until polled
    dlg.follow_check.setChecked(False)
    with open(log, "a") as fh:
        fh.write(_line({"step": 6, "p": 0.006}))
    qtbot.wait(100)
    assert dlg.log.records == 5
    assert dlg.poll() and dlg.log.records == 6


def test_help_menu_opens_the_monitor(qtbot, clean_settings) -> None:
    from PySide6.QtGui import QAction

    from app.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    act = w.findChild(QAction, "action_training_monitor")
    assert act is not None and act.text() == "&Training monitor…"
    act.trigger()
    dlgs = w.findChildren(TrainingMonitorDialog)
    assert len(dlgs) == 1 and dlgs[0].isVisible() and dlgs[0].log is None
    dlgs[0].close()
    w.close()
