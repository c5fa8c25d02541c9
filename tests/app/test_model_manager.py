"""Model manager: registry listing, verify, import (good / wrong shape / wrong hash / pickled code),
the ``weights`` CLI, the dialog, and the packaging files (spec, entry, desktop entry) without a build."""

from __future__ import annotations

import ast
import configparser
import hashlib
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.cli import main as cli_main
from engine.errors import CheckpointError
from engine.models.registry import register_model
from engine.weights import catalog as mr
from engine.weights.store import save_checkpoint

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Isolated search folders: third-party files and project checkpoints go to tmp."""
    third, ckpt, src = tmp_path / "third_party", tmp_path / "ckpt", tmp_path / "downloads"
    for d in (third, ckpt, src):
        d.mkdir()
    monkeypatch.setenv("MASQUERADE_FACEXLIB_DIR", str(third))
    monkeypatch.setenv("MASQUERADE_CHECKPOINTS", str(ckpt))
    # the repository's own checkpoints/ (and any third-party files a developer keeps there) stay out
    monkeypatch.setattr("engine.weights.store.PROJECT_CHECKPOINTS", tmp_path / "project")
    monkeypatch.setattr("engine.weights.known_files.THIRD_PARTY_DIR", tmp_path / "project" / "third_party")
    monkeypatch.setattr("engine.weights.known_files.WEIGHT_PACKAGES", ())  # weights inside installed packages
    return third, ckpt, src


def lpips_state(channels=(64, 128, 256, 512, 512)) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return mr._LpipsHeads(channels).state_dict()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class Evil:
    """Pickles to a call of ``os.system`` (what a malicious .pth does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# -- import: good files -------------------------------------------------------------------------


def test_import_recognises_lpips_by_its_tensors_and_renames(dirs) -> None:
    third, _, src = dirs
    f = src / "vgg.pth"  # the lpips package's file name: not a known name, found by its tensor names
    torch.save(lpips_state(), f)
    res = mr.import_weights(f)
    assert res.key == "lpips_vgg" and res.copied
    assert res.destination == third / "lpips_vgg_v0.1.pth"
    assert res.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    assert files_in(third) == ["lpips_vgg_v0.1.pth"]
    assert mr.import_weights(f).copied is False  # same file again: nothing to do


def test_import_retinaface_then_listed_and_verified(dirs) -> None:
    third, _, src = dirs
    f = src / "detection_mobilenet0.25_Final.pth"
    torch.save(mr._retinaface().state_dict(), f)
    res = mr.import_weights(f)
    assert res.key == "retinaface" and res.destination == third / f.name
    entry = next(e for e in mr.list_models() if e.key == "retinaface")
    assert entry.present and entry.size == f.stat().st_size and entry.state == "present"
    entry = next(e for e in mr.list_models(verify=True) if e.key == "retinaface")
    assert entry.loadable is True and entry.sha256_ok is None and entry.state == "verified"


def test_import_with_expected_sha(dirs) -> None:
    third, _, src = dirs
    f = src / "lpips_vgg_v0.1.pth"
    torch.save(lpips_state(), f)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert mr.import_weights(f, expected_sha256=digest[:10]).sha256 == digest
    with pytest.raises(CheckpointError, match="does not match the expected"):
        mr.import_weights(f, dest=third / "other", expected_sha256="0" * 64)
    assert not (third / "other").exists()


# -- import: rejections leave nothing behind ---------------------------------------------------------


def test_reject_wrong_shape(dirs) -> None:
    third, _, src = dirs
    f = src / "lpips_vgg_v0.1.pth"
    torch.save(lpips_state((64, 128, 256, 512, 256)), f)  # last head has the wrong width
    with pytest.raises(CheckpointError, match=r"wrong shape: lin4\.model\.1\.weight") as exc:
        mr.import_weights(f)
    assert "\n" not in str(exc.value)
    assert files_in(third) == []


def test_reject_wrong_hash_from_hub_file_name(dirs) -> None:
    third, _, src = dirs
    f = src / "vgg16-397923af.pth"  # torch.hub names carry their SHA-256 prefix
    torch.save(lpips_state(), f)
    with pytest.raises(CheckpointError, match="does not match the '397923af' in its file name"):
        mr.import_weights(f)
    plain = f.rename(src / "x.pth")
    with pytest.raises(CheckpointError, match="397923af"):  # it would be named vgg16-397923af.pth
        mr.import_weights(plain, as_key="vgg16")
    assert files_in(third) == []


def test_reject_pickle_with_code_without_running_it(dirs, tmp_path) -> None:
    third, _, src = dirs
    marker = tmp_path / "pwned"
    f = src / "parsing_parsenet.pth"
    torch.save({"weight": torch.zeros(2), "payload": Evil(marker)}, f)
    with pytest.raises(CheckpointError, match="refused as unsafe.*system"):
        mr.import_weights(f)
    assert not marker.exists()
    assert files_in(third) == []


def test_reject_unknown_tensors_and_bad_files(dirs) -> None:
    third, _, src = dirs
    f = src / "mystery.pth"
    torch.save({"a.weight": torch.zeros(3, 3)}, f)
    with pytest.raises(CheckpointError, match="match no known model"):
        mr.import_weights(f)
    (src / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError, match="unsupported file type"):
        mr.import_weights(src / "notes.txt")
    with pytest.raises(CheckpointError, match="not found"):
        mr.import_weights(src / "absent.pth")
    bad = src / "parsing_bisenet.pth"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="corrupt"):
        mr.import_weights(bad)
    with pytest.raises(CheckpointError, match="unknown model 'nope'"):
        mr.import_weights(f, as_key="nope")
    assert files_in(third) == []


def test_destination_with_different_file_is_kept(dirs) -> None:
    third, _, src = dirs
    (third / "lpips_vgg_v0.1.pth").write_bytes(b"someone else's file")
    f = src / "lpips_vgg_v0.1.pth"
    torch.save(lpips_state(), f)
    with pytest.raises(CheckpointError, match="already exists"):
        mr.import_weights(f)
    assert (third / "lpips_vgg_v0.1.pth").read_bytes() == b"someone else's file"
    assert mr.import_weights(f, overwrite=True).copied
    assert files_in(third) == ["lpips_vgg_v0.1.pth"]


# -- project checkpoints ---------------------------------------------------------------------------


@register_model("model_manager_test_tiny")
class TinyNet(nn.Module):
    """A two-layer test model.

    Args:
        width: hidden channels.
    """

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.out = nn.Conv2d(width, 1, 1)


def test_import_project_checkpoint_and_quality_column(dirs) -> None:
    _, ckpt, src = dirs
    save_checkpoint(TinyNet(width=4), src / "tiny", task="opera", licence="CC0 (test)",
                    metrics={"miou": 0.7123, "fid": 23.14})
    res = mr.import_weights(src / "tiny.json")
    assert res.key == "checkpoint:model_manager_test_tiny" and res.copied
    assert files_in(ckpt) == ["tiny.json", "tiny.safetensors"]
    entry = next(e for e in mr.list_models(verify=True) if e.key == "checkpoint:model_manager_test_tiny")
    assert entry.state == "verified" and entry.sha256_ok is True and entry.studio == "opera"
    assert entry.quality == "fid=23.14, miou=0.7123" and entry.licence == "CC0 (test)"


def test_reject_checkpoint_with_replaced_weights(dirs) -> None:
    _, ckpt, src = dirs
    save_checkpoint(TinyNet(width=4), src / "tiny", task="opera")
    other = src / "other"
    save_checkpoint(TinyNet(width=4), other)
    (src / "tiny.safetensors").write_bytes((src / "other.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="does not match its card"):
        mr.import_weights(src / "tiny.safetensors")
    assert files_in(ckpt) == []


def test_registered_architecture_without_checkpoint_is_listed_missing(dirs) -> None:
    entry = next(e for e in mr.list_models() if e.key == "checkpoint:model_manager_test_tiny")
    assert entry.state == "missing" and "classical" in entry.status


# -- listing, verify, CLI --------------------------------------------------------------------------


def test_list_knows_every_third_party_model(dirs) -> None:
    entries = {e.key: e for e in mr.list_models()}
    for key in ("retinaface", "parsenet", "bisenet", "inception_fid", "inception_v3", "vgg16", "vgg19", "lpips_vgg"):
        assert entries[key].state in ("missing", "optional, missing")
        assert entries[key].licence
    assert entries["vgg16"].optional and not entries["parsenet"].optional


@pytest.mark.parametrize("key", [k.key for k in mr.KNOWN_WEIGHTS])
def test_every_known_architecture_builds_on_meta(key) -> None:
    model = mr.build_architecture(mr.known_weights(key))
    assert len(model.state_dict()) > 0


def test_cli_list_verify_import(dirs, capsys) -> None:
    third, _, src = dirs
    assert cli_main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "ParseNet" in out and "VGG-19 (torchvision)" in out and "optional, missing" in out

    good = src / "vgg.pth"
    torch.save(lpips_state(), good)
    assert cli_main(["weights", "import", str(good), "--as", "lpips_vgg"]) == 0
    assert "imported LPIPS" in capsys.readouterr().out
    assert cli_main(["weights", "verify"]) == 0
    assert "verified 1 present file(s): 0 failed" in capsys.readouterr().out

    # a file that was replaced behind the app's back: verify fails
    torch.save(lpips_state((64, 128, 256, 512, 256)), third / "lpips_vgg_v0.1.pth")
    assert cli_main(["weights", "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and "1 failed" in out

    bad = src / "vgg16-397923af.pth"
    torch.save(lpips_state(), bad)
    assert cli_main(["weights", "import", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("masquerade: error: vgg16-397923af.pth")


def test_cli_json(dirs, capsys) -> None:
    import json

    assert cli_main(["weights", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"key", "state", "licence", "quality", "sha256_ok"} <= set(rows[0])


def test_user_weights_dir_added_to_search_path(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MASQUERADE_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.delenv("MASQUERADE_CHECKPOINTS", raising=False)
    monkeypatch.setenv("MASQUERADE_FACEXLIB_DIR", str(tmp_path / "mine"))
    mr.add_user_weights_to_search_path()
    mr.add_user_weights_to_search_path()  # idempotent
    assert os.environ["MASQUERADE_CHECKPOINTS"] == str(tmp_path / "w" / "checkpoints")
    assert os.environ["MASQUERADE_FACEXLIB_DIR"] == os.pathsep.join([str(tmp_path / "mine"),
                                                                      str(tmp_path / "w" / "third_party")])
    from engine.faces import thirdparty

    assert thirdparty.search_dirs()[0] == tmp_path / "mine"  # the user's explicit folder stays first


# -- dialog ------------------------------------------------------------------------------------------


def test_dialog_lists_imports_and_refuses(qtbot, dirs) -> None:
    from app.dialogs.model_manager import COLUMNS, ModelManagerDialog

    third, _, src = dirs
    dlg = ModelManagerDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(dlg.is_idle, timeout=30000)
    assert dlg.table.rowCount() == len(mr.list_models()) and dlg.table.columnCount() == len(COLUMNS)
    names = [dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())]
    assert "ParseNet" in names

    good = src / "lpips_vgg_v0.1.pth"
    torch.save(lpips_state(), good)
    dlg.import_path(str(good))
    qtbot.waitUntil(dlg.is_idle, timeout=30000)
    assert dlg.last_error is None and dlg.status.text().startswith("Imported")
    row = names.index("LPIPS v0.1 heads (VGG)")
    assert dlg.table.item(row, COLUMNS.index("State")).text() == "present"

    dlg.verify()
    qtbot.waitUntil(dlg.is_idle, timeout=30000)
    assert dlg.table.item(row, COLUMNS.index("State")).text() == "verified"
    assert "0 failed" in dlg.status.text()

    bad = src / "parsing_parsenet.pth"
    torch.save(lpips_state(), bad)
    dlg.import_path(str(bad))
    qtbot.waitUntil(dlg.is_idle, timeout=30000)
    assert dlg.last_error and "does not fit ParseNet" in dlg.status.text()
    assert files_in(third) == ["lpips_vgg_v0.1.pth"]
    dlg.grab().save(str(Path(os.environ.get("MASQUERADE_SHOT_DIR", src)) / "model_manager.png"))
    dlg.close()


def test_main_window_menu_opens_model_manager(qtbot, dirs, clean_settings) -> None:
    from PySide6.QtGui import QAction

    from app.dialogs.model_manager import ModelManagerDialog
    from app.main_window import MainWindow

    win = MainWindow()  # not given to qtbot: the test deletes it
    win.persist_settings = False
    act = win.findChild(QAction, "action_models")
    assert act is not None
    act.trigger()
    dlg = win.findChild(ModelManagerDialog)
    assert dlg is not None and dlg.isVisible()
    qtbot.waitUntil(dlg.is_idle, timeout=30000)
    thread = dlg._thread.thread
    win.close()
    assert thread.isRunning()
    win.deleteLater()  # the open dialog goes with its window: its worker thread must stop first
    qtbot.waitUntil(lambda: not thread.isRunning(), timeout=10000)


# -- packaging files (no build) ---------------------------------------------------------------------


def _spec_literals() -> dict[str, object]:
    tree = ast.parse((REPO / "packaging" / "masquerade.spec").read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def test_spec_parses_and_references_existing_paths() -> None:
    lit = _spec_literals()
    for key in ("ENTRY", "ICON", "BUNDLED", "EXCLUDED_MODULES", "DROPPED_FILES", "CPU_ONLY_DROPPED_FILES", "NAME"):
        assert key in lit, key
    assert (REPO / lit["ENTRY"]).is_file() and (REPO / lit["ICON"]).is_file()
    for src, _dest in lit["BUNDLED"]:
        assert (REPO / src).exists(), src
    bundled = {src for src, _ in lit["BUNDLED"]}
    assert {"resources", "checkpoints"} <= bundled
    # nothing the app needs at run time is excluded or dropped
    for needed in ("engine", "app", "torch", "PySide6", "cv2", "mediapipe", "facexlib", "matplotlib", "torchvision"):
        assert needed not in lit["EXCLUDED_MODULES"]
    for part in lit["DROPPED_FILES"] + lit["CPU_ONLY_DROPPED_FILES"]:
        for keep in ("resources/", "checkpoints/", "mediapipe/modules/face_detection/",
                     "mediapipe/modules/face_landmark/", "mediapipe/modules/selfie_segmentation/",
                     "torch/lib/libtorch_cpu", "PySide6/Qt/plugins/platforms/libqoffscreen",
                     "PySide6/Qt/plugins/platforms/libqxcb"):
            assert part not in keep and not keep.startswith(part), (part, keep)


def test_entry_script_freezes_multiprocessing_first() -> None:
    tree = ast.parse((REPO / "packaging" / "masquerade_entry.py").read_text())
    main_if = next(n for n in tree.body if isinstance(n, ast.If))
    first = main_if.body[0]
    assert isinstance(first, ast.Expr) and ast.unparse(first) == "multiprocessing.freeze_support()"
    assert "from app.launcher import main" in ast.unparse(main_if)


def test_desktop_entry_and_icon() -> None:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(REPO / "packaging" / "masquerade.desktop")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Icon"] == "masquerade"
    assert entry["Exec"].split()[0].endswith("/masquerade") and "%" not in entry["Exec"]
    from PIL import Image

    icon = Image.open(REPO / "packaging" / "masquerade.png")
    assert icon.size == (256, 256) and icon.mode == "RGBA"
    alpha = icon.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((128, 128)) == 255


def test_packaging_requirements_pinned_and_out_of_make_test() -> None:
    lines = [ln.strip() for ln in (REPO / "requirements-packaging.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert any(ln.startswith("pyinstaller==") for ln in lines) and all("==" in ln for ln in lines)
    assert "pyinstaller" not in (REPO / "requirements.txt").read_text().lower()
    make = (REPO / "Makefile").read_text()
    test_recipe = make.split("\ntest:")[1].split("\n\n")[0]
    assert "package" not in test_recipe and "pyinstaller" not in test_recipe
