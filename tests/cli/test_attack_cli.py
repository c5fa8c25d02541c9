"""Issue 21 through the real command line (``python -m engine`` in a subprocess): tampered cards on
``auto`` and explicit, the ``engine:`` line, ``--out`` equal to the input, and ``weights import``
(all-or-none pair, permissions, third-party safetensors).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from engine.imageio import save_image
from engine.weights.store import PROJECT_CHECKPOINTS

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "samples" / "opera_sample.png"


def masquerade(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=240,
                          env=full, cwd=cwd or REPO)


def assert_one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("masquerade: error: "), proc.stderr
    return lines[0]


def override(folder: Path, stem: str, *, kwarg: tuple[str, object] | None = None, flip: bool = False) -> dict[str, str]:
    """A ``MASQUERADE_CHECKPOINTS`` override holding ``stem`` marked better, tampered as asked."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".safetensors"):
        shutil.copyfile(PROJECT_CHECKPOINTS / f"{stem}{suffix}", folder / f"{stem}{suffix}")
    card = json.loads((folder / f"{stem}.json").read_text())
    card["verdict"] = dict(card.get("verdict") or {"compared_with": "classical", "measure": "test"}, better=True)
    if kwarg is not None:
        card["kwargs"][kwarg[0]] = kwarg[1]
    (folder / f"{stem}.json").write_text(json.dumps(card))
    if flip:
        w = folder / f"{stem}.safetensors"
        data = bytearray(w.read_bytes())
        data[-100] ^= 0xFF
        w.write_bytes(bytes(data))
    return {"MASQUERADE_CHECKPOINTS": str(folder)}


# --- defects 1, 2, 9: tampered cards, auto falls back and says so --------------------------------

@pytest.mark.parametrize("tamper", [{"kwarg": ("num_classes", -5)}, {"kwarg": ("num_classes", 10 ** 6)},
                                    {"flip": True}], ids=["negative", "huge", "hash_mismatch"])
def test_opera_classify_auto_falls_back_explicit_fails(tmp_path: Path, tamper: dict) -> None:
    env = override(tmp_path / "ck", "opera_colour_resnet18", **tamper)
    auto = masquerade("opera", "classify", str(SAMPLE), env=env)
    assert auto.returncode == 0 and "Traceback" not in auto.stderr, auto.stderr
    assert "[classical]" in auto.stdout
    engine = [ln for ln in auto.stdout.splitlines() if ln.startswith("engine: ")]
    assert len(engine) == 1 and engine[0].startswith("engine: classical (") and "cannot be loaded" in engine[0]
    assert_one_line_error(masquerade("opera", "classify", str(SAMPLE), "--backend", "learned", env=env))


@pytest.fixture(scope="module")
def sketch_and_reference(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("opera")
    assert masquerade("opera", "generate", "--seed", "3", "--size", "128", "--out", str(d / "ref.png"),
                      "--lineart", str(d / "sketch.png")).returncode == 0
    return d / "sketch.png", d / "ref.png"


@pytest.mark.parametrize("tamper", [{"kwarg": ("width", 10 ** 6)}, {"flip": True}], ids=["huge", "hash_mismatch"])
def test_opera_colorize_auto_falls_back_explicit_fails(tmp_path: Path, sketch_and_reference, tamper: dict) -> None:
    sketch, ref = sketch_and_reference
    env = override(tmp_path / "ck", "cocosnet_g", **tamper)
    out = tmp_path / "c.png"
    auto = masquerade("opera", "colorize", str(sketch), "--reference", str(ref), "--out", str(out), env=env)
    assert auto.returncode == 0 and "Traceback" not in auto.stderr, auto.stderr
    assert out.is_file()
    assert any(ln.startswith("engine: classical (") and "cannot be loaded" in ln for ln in auto.stdout.splitlines())
    out.unlink()
    assert_one_line_error(masquerade("opera", "colorize", str(sketch), "--reference", str(ref), "--out", str(out),
                                     "--backend", "neural", env=env))
    assert not out.exists()


def test_express_neural_with_a_negative_width_fails_in_one_line(tmp_path: Path) -> None:
    env = override(tmp_path / "ck", "expression_gan_g", kwarg=("width", -5))
    face = tmp_path / "anime.png"
    assert masquerade("anime", "generate", "--seed", "2", "--size", "256", "--out", str(face)).returncode == 0
    line = assert_one_line_error(masquerade("express", str(face), "--out", str(tmp_path / "e.png"), "--smile", "1",
                                            "--backend", "neural", env=env))
    assert "cannot be loaded" in line
    auto = masquerade("express", str(face), "--out", str(tmp_path / "e.png"), "--smile", "1", env=env)
    assert auto.returncode == 0 and "Traceback" not in auto.stderr, auto.stderr
    assert any(ln.startswith("engine: classical (") for ln in auto.stdout.splitlines())


def test_weights_verify_reports_a_tampered_card_without_traceback(tmp_path: Path) -> None:
    env = override(tmp_path / "ck", "maskwear_stn_g", kwarg=("width", -5))
    proc = masquerade("weights", "verify", env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "BROKEN" in proc.stdout and "negative dimension" in proc.stdout


# --- defect 8: --out equal to the input ----------------------------------------------------------

def test_out_equal_to_input_is_refused_unless_overwrite(tmp_path: Path) -> None:
    img = tmp_path / "in.png"
    shutil.copyfile(SAMPLE, img)
    before = img.read_bytes()
    line = assert_one_line_error(masquerade("lineart", "in.png", "--out", "./in.png", cwd=tmp_path))
    assert "--out is the input file" in line and "--overwrite" in line
    assert img.read_bytes() == before
    proc = masquerade("lineart", "in.png", "--out", "in.png", "--overwrite", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert img.read_bytes() != before


@pytest.mark.parametrize("argv", [
    ["opera", "colorize", "{img}", "--reference", "{ref}", "--out", "{ref}"],
    ["wear-mask", "{img}", "--out", "{img}"],
    ["express", "{img}", "--out", "{img}"],
    ["makeup", "{img}", "--out", "{img}", "--style", "retro"],
    ["regenerate", "{img}", "--out", "{img}"],
    ["parse-edit", "{img}", "--out", "{img}"],
], ids=lambda a: a[0] if a[0] != "opera" else "colorize")
def test_every_command_refuses_to_replace_its_input(tmp_path: Path, argv: list[str]) -> None:
    img, ref = tmp_path / "in.png", tmp_path / "ref.png"
    save_image(img, np.full((64, 64, 3), 200, np.uint8))
    save_image(ref, np.full((64, 64, 3), 90, np.uint8))
    before = img.read_bytes(), ref.read_bytes()
    proc = masquerade(*[a.format(img=img, ref=ref) for a in argv])
    assert "is the input file" in assert_one_line_error(proc)
    assert (img.read_bytes(), ref.read_bytes()) == before


# --- defects 4, 5, 7: weights import -------------------------------------------------------------

def _pair(folder: Path, stem: str = "maskwear_stn_g") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".json", ".safetensors"):
        shutil.copyfile(PROJECT_CHECKPOINTS / f"{stem}{suffix}", folder / f"{stem}{suffix}")
    return folder / f"{stem}.json"


def test_import_writes_with_the_umask(tmp_path: Path) -> None:
    card = _pair(tmp_path / "src")
    dest = tmp_path / "dest"
    old = os.umask(0o022)
    try:
        proc = masquerade("weights", "import", str(card), "--dest", str(dest))
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    for name in ("maskwear_stn_g.json", "maskwear_stn_g.safetensors"):
        assert (dest / name).stat().st_mode & 0o777 == 0o644


def test_import_overwrite_is_all_or_none(tmp_path: Path, monkeypatch) -> None:
    from engine.weights import catalog

    dest = tmp_path / "dest"
    _pair(dest)
    old = {p.name: p.read_bytes() for p in dest.iterdir()}
    src = tmp_path / "src"
    card = _pair(src)
    data = json.loads(card.read_text())
    data["licence"] = "changed card"  # same weights, another card: both are rewritten
    card.write_text(json.dumps(data))
    w = src / "maskwear_stn_g.safetensors"
    from engine.weights.store import load_checkpoint, save_checkpoint

    model, _ = load_checkpoint(card, device="cpu")
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    save_checkpoint(model, src / "maskwear_stn_g", licence="new weights")
    assert w.read_bytes() != old["maskwear_stn_g.safetensors"]

    real_stage = catalog._stage_copy

    def stage(src_file: Path, dst: Path, digest: str) -> str:
        if dst.suffix == ".json":  # room for the weights, not for the card
            raise catalog.CheckpointError(f"cannot write {dst} (No space left on device); nothing was changed")
        return real_stage(src_file, dst, digest)

    monkeypatch.setattr(catalog, "_stage_copy", stage)
    with pytest.raises(catalog.CheckpointError, match="No space left"):
        catalog.import_weights(card, dest, overwrite=True)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == old  # the old pair, and no temporary file
    monkeypatch.setattr(catalog, "_stage_copy", real_stage)
    res = catalog.import_weights(card, dest, overwrite=True)
    assert res.copied and (dest / "maskwear_stn_g.safetensors").read_bytes() == w.read_bytes()
    assert masquerade("weights", "verify", env={"MASQUERADE_CHECKPOINTS": str(dest)}).returncode == 0


def test_third_party_safetensors_is_refused_in_one_line(tmp_path: Path) -> None:
    f = tmp_path / "parsing_parsenet.safetensors"
    safetensors.torch.save_file({"a": torch.zeros(3)}, f)
    dest = tmp_path / "dest"
    line = assert_one_line_error(masquerade("weights", "import", str(f), "--as", "parsenet", "--dest", str(dest)))
    assert ".pth" in line
    assert not dest.exists() or not any(dest.iterdir())
