"""Bad input on every ``masquerade`` command: one clear error line, the right exit code, nothing lost.

Most checks call :func:`engine.cli.main` in-process; the few subprocess checks run the real
``python -m engine`` entry point (traceback-free stderr, exit code).
"""

from __future__ import annotations

import errno
import io
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import imageio
from engine.cli import main
from engine.errors import ImageLoadError, ImageSaveError
from engine.imageio import load_image, load_rgba, save_image

REPO = Path(__file__).resolve().parents[2]


# --- inputs -------------------------------------------------------------------------------------

def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A 69-byte PNG whose header claims ``side``×``side`` RGB pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"\0" * 100)) + _png_chunk(b"IEND", b""))
    return path


def picture(h: int = 48, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), np.full_like(xx, 90)], -1).astype(np.uint8)
    img[h // 4: h // 2, w // 4: w // 2] = (250, 30, 30)
    return img


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


BROKEN: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zero_bytes": (lambda d: _write(d / "zero.png", b""), "not an image"),
    "truncated_jpeg": (lambda d: _write(d / "t.jpg", _half(_encode(Image.fromarray(picture()), "JPEG"))),
                       "truncated"),
    "truncated_png": (lambda d: _write(d / "t.png", _half(_encode(Image.fromarray(picture()).convert("RGBA"), "PNG"))),
                      "truncated"),
    "text_as_png": (lambda d: _write(d / "notes.png", b"hello, not an image\n"), "not an image"),
    "folder": (lambda d: _mkdir(d / "photos.png"), "is a folder"),
    "missing": (lambda d: d / "nope.png", "file not found"),
    "bomb_20000": (lambda d: bomb_png(d / "bomb.png"), "over the 64 mp limit"),
}
"""Unreadable inputs: name → (make it under a folder, text the error line must contain)."""


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def odd_image(kind: str, d: Path) -> tuple[Path, np.ndarray]:
    """An unusual but valid image file and the RGB picture it must load as (up to codec loss)."""
    rgb = picture()
    grey = np.round(rgb.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    p = d / f"{kind}.png"
    if kind == "grey16":
        Image.fromarray(grey.astype(np.uint16) * 257).save(p)  # mode I;16
        return p, np.repeat(grey[:, :, None], 3, 2)
    if kind == "rgb48":
        import cv2

        cv2.imwrite(str(p), rgb[:, :, ::-1].astype(np.uint16) * 257)
        return p, rgb
    if kind == "cmyk_jpeg":
        p = d / "cmyk.jpg"
        Image.fromarray(rgb).convert("CMYK").save(p, "JPEG", quality=98)
        return p, rgb
    if kind == "palette_transparent":
        pal = Image.fromarray(rgb).quantize(8)
        idx = np.asarray(pal)
        clear = int(idx[0, 0])
        pal.save(p, transparency=clear)
        expect = np.asarray(pal.convert("RGB")).copy()
        expect[idx == clear] = 255  # transparent pixels read as white paper
        return p, expect
    if kind == "one_bit":
        Image.fromarray(grey > 128).save(p)
        return p, np.repeat(np.where(grey > 128, 255, 0).astype(np.uint8)[:, :, None], 3, 2)
    if kind == "grey_alpha":
        la = np.dstack([grey, np.full_like(grey, 255)])
        la[:10] = 0  # a transparent band
        Image.fromarray(la, "LA").save(p)
        expect = np.repeat(grey[:, :, None], 3, 2)
        expect[:10] = 255
        return p, expect
    if kind == "rgba_fully_transparent":
        Image.fromarray(np.dstack([rgb, np.zeros_like(grey)]), "RGBA").save(p)
        return p, np.full_like(rgb, 255)
    if kind == "exif_rotated":
        p = d / "rot.jpg"
        stored = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, 1)))  # orientation 6 shows it turned back
        exif = stored.getexif()
        exif[0x0112] = 6
        stored.save(p, "JPEG", quality=98, exif=exif.tobytes())
        return p, rgb
    if kind == "one_pixel":
        Image.new("RGB", (1, 1), (120, 60, 30)).save(p)
        return p, np.array([[[120, 60, 30]]], np.uint8)
    if kind == "3x3000":
        strip = np.random.default_rng(0).integers(0, 255, (3000, 3, 3), dtype=np.uint8)
        Image.fromarray(strip).save(p)
        return p, strip
    raise AssertionError(kind)


ODD = ("grey16", "rgb48", "cmyk_jpeg", "palette_transparent", "one_bit", "grey_alpha", "rgba_fully_transparent",
       "exif_rotated", "one_pixel", "3x3000")


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def files_under(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


# --- every command that reads an image refuses unreadable files ----------------------------------

READERS: dict[str, list[str]] = {
    "lineart": ["lineart", "{img}", "--out", "{d}/o.png"],
    "makeup": ["makeup", "{img}", "--out", "{d}/o.png", "--style", "retro"],
    "parse-edit": ["parse-edit", "{img}", "--out", "{d}/o.png"],
    "regenerate": ["regenerate", "{img}", "--out", "{d}/o.png"],
    "regenerate --mask": ["regenerate", "{ok}", "--mask", "{img}", "--out", "{d}/o.png"],
    "regenerate --reference": ["regenerate", "{ok}", "--reference", "{img}", "--regions", "hair", "--out", "{d}/o.png"],
    "analyze": ["analyze", "{img}", "--out", "{d}/an"],
    "wear-mask": ["wear-mask", "{img}", "--out", "{d}/o.png"],
    "wear-mask --template": ["wear-mask", "{ok}", "--template", "{img}", "--out", "{d}/o.png"],
    "express": ["express", "{img}", "--out", "{d}/o.png", "--smile", "0.5"],
    "opera colorize": ["opera", "colorize", "{img}", "--reference", "{ok}", "--out", "{d}/o.png"],
    "opera colorize --reference": ["opera", "colorize", "{ok}", "--reference", "{img}", "--out", "{d}/o.png"],
    "opera classify": ["opera", "classify", "{img}"],
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
@pytest.mark.parametrize("command", sorted(READERS))
def test_unreadable_input_is_one_line_and_writes_nothing(tmp_path: Path, capfd, command: str, broken: str) -> None:
    if command == "wear-mask --template" and broken == "truncated_jpeg":
        pytest.skip("a --template not ending in .png is a built-in template name")
    src = tmp_path / "in"
    src.mkdir()
    ok = save_image(src / "ok.png", picture())
    make, needle = BROKEN[broken]
    img = make(src)
    if command == "wear-mask --template":  # valid anchors beside it: only the picture is bad
        img.with_suffix(".json").write_text('{"a": [0, 0], "b": [1, 0], "c": [2, 0], "d": [0, 1], "e": [1, 1], '
                                            '"f": [2, 1]}')
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.format(img=img, ok=ok, d=out) for a in READERS[command]]
    rc = main(argv)
    line = one_error_line(capfd.readouterr().err)
    assert rc == 1, line
    assert line.startswith("masquerade: error: ") and needle in line.lower() and str(img) in line, line
    assert files_under(out) == set()


# --- unusual but valid images load right and go through ------------------------------------------

@pytest.mark.parametrize("kind", ODD)
def test_odd_modes_load_as_rgb(tmp_path: Path, kind: str) -> None:
    path, expect = odd_image(kind, tmp_path)
    got = load_image(path)
    assert got.dtype == np.uint8 and got.shape == expect.shape
    lossy = path.suffix == ".jpg"
    assert np.abs(got.astype(int) - expect.astype(int)).mean() <= (4.0 if lossy else 0.0), kind


@pytest.mark.parametrize("kind", ODD)
def test_odd_modes_through_lineart(tmp_path: Path, capfd, kind: str) -> None:
    path, expect = odd_image(kind, tmp_path)
    out = tmp_path / "line.png"
    assert main(["lineart", str(path), "--out", str(out)]) == 0, capfd.readouterr().err
    assert load_image(out).shape == expect.shape


def test_exif_rotated_is_shown_upright(tmp_path: Path) -> None:
    path, expect = odd_image("exif_rotated", tmp_path)
    with Image.open(path) as raw:
        assert raw.size == (expect.shape[0], expect.shape[1])  # stored sideways
    assert np.abs(load_image(path).astype(int) - expect).mean() < 4


def test_load_rgba_keeps_alpha(tmp_path: Path) -> None:
    path, _ = odd_image("palette_transparent", tmp_path)
    with Image.open(path) as im:
        clear = np.asarray(im) == im.info["transparency"]
    rgba = load_rgba(path)
    assert rgba.shape[2] == 4 and np.array_equal(rgba[:, :, 3] == 0, clear)
    path, _ = odd_image("exif_rotated", tmp_path)
    assert load_rgba(path).shape == (48, 64, 4) and (load_rgba(path)[:, :, 3] == 255).all()
    with pytest.raises(ImageLoadError, match="over the"):
        load_rgba(bomb_png(tmp_path / "b.png"))


# --- output paths: refused before any work, nothing written --------------------------------------

WRITERS: dict[str, list[str]] = {
    "lineart": ["lineart", "{ok}", "--out", "{out}"],
    "makeup": ["makeup", "{ok}", "--out", "{out}", "--style", "retro"],
    "makeup --masks-out": ["makeup", "{ok}", "--out", "{good}", "--style", "retro", "--masks-out", "{dir}"],
    "parse-edit": ["parse-edit", "{ok}", "--out", "{out}"],
    "parse-edit --color-out": ["parse-edit", "{ok}", "--out", "{good}", "--color-out", "{out}"],
    "regenerate": ["regenerate", "{ok}", "--out", "{out}"],
    "regenerate --mask-out": ["regenerate", "{ok}", "--out", "{good}", "--mask-out", "{out}"],
    "analyze": ["analyze", "{ok}", "--out", "{dir}"],
    "wear-mask": ["wear-mask", "{ok}", "--out", "{out}"],
    "wear-mask --alpha-out": ["wear-mask", "{ok}", "--out", "{good}", "--alpha-out", "{out}"],
    "express": ["express", "{ok}", "--out", "{out}"],
    "express --attention-out": ["express", "{ok}", "--out", "{good}", "--attention-out", "{out}"],
    "opera colorize": ["opera", "colorize", "{ok}", "--reference", "{ok}", "--out", "{out}"],
    "opera colorize --warped": ["opera", "colorize", "{ok}", "--reference", "{ok}", "--out", "{good}",
                                "--warped", "{out}"],
    "opera generate": ["opera", "generate", "--seed", "1", "--size", "64", "--out", "{out}"],
    "opera generate --lineart": ["opera", "generate", "--seed", "1", "--size", "64", "--out", "{good}",
                                 "--lineart", "{out}"],
    "anime generate": ["anime", "generate", "--seed", "1", "--size", "64", "--out", "{out}"],
}

BAD_TARGETS = ("missing_folder", "read_only_folder", "target_is_folder", "under_a_file")


@pytest.mark.parametrize("target", BAD_TARGETS)
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_bad_output_path_fails_first_and_writes_nothing(tmp_path: Path, capfd, monkeypatch, command: str,
                                                        target: str) -> None:
    folder_output = "{dir}" in WRITERS[command]
    if folder_output and target == "missing_folder":
        pytest.skip("output folders are created when missing")
    ok = save_image(tmp_path / "ok.png", picture())
    good = tmp_path / "good.png"
    ro = tmp_path / "ro"
    ro.mkdir()
    (tmp_path / "taken.png").mkdir()
    (tmp_path / "file").write_bytes(b"x")
    out_file, out_dir, needle = {
        "missing_folder": (tmp_path / "no" / "such" / "o.png", None, "does not exist"),
        "read_only_folder": (ro / "o.png", ro / "sub", "cannot write"),
        "target_is_folder": (tmp_path / "taken.png", tmp_path / "file", "folder"),
        "under_a_file": (tmp_path / "file" / "o.png", tmp_path / "file" / "sub", "not a folder"),
    }[target]
    if target == "read_only_folder":
        os.chmod(ro, 0o555)
        real_access = os.access
        # root ignores permission bits: make the check see the folder as a user would
        monkeypatch.setattr(imageio.os, "access",
                            lambda p, mode, *a, **k: False if Path(p) == ro else real_access(p, mode, *a, **k))
    before = files_under(tmp_path)
    argv = [a.format(ok=ok, good=good, out=out_file, dir=out_dir) for a in WRITERS[command]]
    try:
        rc = main(argv)
    finally:
        os.chmod(ro, 0o755)
    line = one_error_line(capfd.readouterr().err)
    assert rc == 1, line
    assert line.startswith("masquerade: error: ") and needle in line, line
    assert files_under(tmp_path) == before  # the main output of a two-file command is not written either


def test_label_maps_refuse_lossy_formats(tmp_path: Path, capfd) -> None:
    from engine.studios.regenerate.edits import save_label_map

    ok = save_image(tmp_path / "ok.png", picture())
    for argv in (["parse-edit", str(ok), "--out", str(tmp_path / "m.jpg")],
                 ["regenerate", str(ok), "--out", str(tmp_path / "o.png"), "--mask-out", str(tmp_path / "m.webp")],
                 ["opera", "generate", "--seed", "1", "--out", str(tmp_path / "g.png"),
                  "--regions", str(tmp_path / "r.jpg")]):
        assert main(argv) == 1
        assert "lossless" in one_error_line(capfd.readouterr().err)
    with pytest.raises(ImageSaveError, match="lossless"):
        save_label_map(tmp_path / "m.jpeg", np.zeros((4, 4), np.uint8))
    assert files_under(tmp_path) == {"ok.png"}


# --- disk full: the old file survives, the message says so ---------------------------------------

def test_disk_full_keeps_the_previous_output(tmp_path: Path, capfd, monkeypatch) -> None:
    ok = save_image(tmp_path / "ok.png", picture())
    out = tmp_path / "line.png"
    out.write_bytes(b"previous result")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(imageio.os, "fsync", full)
    rc = main(["lineart", str(ok), "--out", str(out)])
    line = one_error_line(capfd.readouterr().err)
    assert rc == 1 and "disk full" in line and "unchanged" in line and str(out) in line, line
    assert out.read_bytes() == b"previous result"
    assert files_under(tmp_path) == {"ok.png", "line.png"}  # no temporary file left


def test_stray_os_errors_become_one_line(tmp_path: Path, capfd, monkeypatch) -> None:
    import engine.cli as cli

    def denied(args) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "x"))

    args = cli.build_parser().parse_args(["analyze", "whatever.png", "--out", str(tmp_path)])
    args.func = denied
    assert cli.run(args) == 1
    assert one_error_line(capfd.readouterr().err) == f"masquerade: error: {tmp_path / 'x'}: Permission denied"


# --- no face: documented exit code 3 --------------------------------------------------------------

@pytest.mark.parametrize("command", ["analyze", "parse-edit", "express"])
def test_no_face_exit_code(tmp_path: Path, capfd, command: str) -> None:
    flat = save_image(tmp_path / "flat.png", np.full((64, 64, 3), 128, np.uint8))
    out = tmp_path / ("an" if command == "analyze" else "o.png")
    rc = main([command, str(flat), "--out", str(out)])
    assert rc == 3
    assert one_error_line(capfd.readouterr().err) == f"no face found in {flat}"
    assert not out.exists()


# --- weights import ------------------------------------------------------------------------------

def test_weights_import_refuses_bad_files(tmp_path: Path, capfd, monkeypatch) -> None:
    import torch

    monkeypatch.setenv("MASQUERADE_WEIGHTS_DIR", str(tmp_path / "user"))
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "zero.pth").write_bytes(b"")
    (tmp_path / "text.pth").write_text("not weights")
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    cases = {"zero.pth": "corrupt", "text.pth": "corrupt", "cut.safetensors": "corrupt",
             "evil.pth": "unsafe", "missing.pth": "not found", "folder.pth": "is a folder"}
    (tmp_path / "folder.pth").mkdir()
    for name, needle in cases.items():
        assert main(["weights", "import", str(tmp_path / name), "--dest", str(dest)]) == 1, name
        assert needle in one_error_line(capfd.readouterr().err), name
    assert not (tmp_path / "pwned").exists()
    assert files_under(dest) == set()


# --- end to end through the real entry point ------------------------------------------------------

def _engine(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=env)


def test_end_to_end_bomb_and_missing_folder(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")
    r = _engine("analyze", str(bomb), "--out", str(tmp_path / "an"))
    assert r.returncode == 1
    assert one_error_line(r.stderr) == (f"masquerade: error: {bomb}: image is 20000x20000 = 400.0 MP, "
                                        "over the 64 MP limit")
    ok = save_image(tmp_path / "ok.png", picture())
    r = _engine("lineart", str(ok), "--out", str(tmp_path / "nowhere" / "o.png"))
    assert r.returncode == 1 and "does not exist" in one_error_line(r.stderr)
    assert files_under(tmp_path) == {"bomb.png", "ok.png"}


# --- label maps given to regenerate --mask ----------------------------------------------------------

def test_a_photo_is_not_a_label_map(tmp_path: Path, capfd) -> None:
    from engine.labels import colorize_labels
    from engine.studios.regenerate.edits import load_label_map

    ok = save_image(tmp_path / "ok.png", picture())
    assert main(["regenerate", str(ok), "--mask", str(ok), "--out", str(tmp_path / "o.png")]) == 1
    line = one_error_line(capfd.readouterr().err)
    assert "not a label map" in line and str(ok) in line
    assert not (tmp_path / "o.png").exists()
    yy, xx = np.mgrid[0:96, 0:128]
    labels = ((yy // 24) * 8 + xx // 16).astype(np.uint8) % 19  # 19 blocks of 24x16 like a mask's regions
    view = Image.fromarray(colorize_labels(labels))
    view.save(tmp_path / "view.png")
    view.save(tmp_path / "view.jpg", quality=80)
    assert np.array_equal(load_label_map(tmp_path / "view.png"), labels)
    assert (load_label_map(tmp_path / "view.jpg") == labels).mean() > 0.9  # JPEG noise stays within tolerance


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory) -> Path:
    import cv2
    from skimage import data

    d = tmp_path_factory.mktemp("astro")
    return save_image(d / "astro.png", cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("label", ["nose", "l_eye"])
def test_regenerate_a_region_over_the_whole_image(tmp_path: Path, capfd, astronaut: Path, label: str) -> None:
    """A painted map where one part covers everything (> 32767 pixels) used to crash cv2.remap."""
    from engine.labels import CELEBAMASK_HQ
    from engine.studios.regenerate.edits import save_label_map

    mask = save_label_map(tmp_path / "m.png", np.full((256, 256), CELEBAMASK_HQ.index(label), np.uint8))
    out = tmp_path / "o.png"
    rc = main(["regenerate", str(astronaut), "--mask", str(mask), "--out", str(out)])
    assert rc == 0, capfd.readouterr().err
    assert load_image(out).shape == (256, 256, 3)


@pytest.mark.parametrize("argv,needle", [
    (["anime", "generate", "--seed", "1", "--size", "100000"], "size must be in [16, 4096]"),
    (["anime", "generate", "--seed", "1", "--size", "3"], "size must be in [16, 4096]"),
    (["opera", "generate", "--seed", "1", "--size", "100000"], "in [64, 4096]"),
])
def test_generators_refuse_huge_sizes(tmp_path: Path, capfd, argv: list[str], needle: str) -> None:
    assert main([*argv, "--out", str(tmp_path / "g.png")]) == 1
    assert needle in one_error_line(capfd.readouterr().err)
    assert files_under(tmp_path) == set()


# --- commands that write several files: all or none -----------------------------------------------

def _fsync_fails_on_call(monkeypatch, n: int) -> None:
    real = os.fsync
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(imageio.os, "fsync", fsync)


def test_atomic_write_files_is_all_or_nothing(tmp_path: Path, monkeypatch) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"old a")
    _fsync_fails_on_call(monkeypatch, 2)
    with pytest.raises(ImageSaveError, match="disk full.*no file of this set was changed"):
        imageio.atomic_write_files({a: b"new a", b: b"new b"})
    assert a.read_bytes() == b"old a" and not b.exists()
    assert files_under(tmp_path) == {"a.bin"}
    monkeypatch.undo()
    assert imageio.atomic_write_files({a: b"new a", b: b"new b"}) == [a, b]
    assert a.read_bytes() == b"new a" and b.read_bytes() == b"new b"


def test_disk_full_on_the_second_file_keeps_both_old_files(tmp_path: Path, capfd, monkeypatch) -> None:
    out, line_art = tmp_path / "g.png", tmp_path / "line.png"
    out.write_bytes(b"old result")
    line_art.write_bytes(b"old line art")
    _fsync_fails_on_call(monkeypatch, 2)
    rc = main(["opera", "generate", "--seed", "2", "--size", "64", "--out", str(out), "--lineart", str(line_art)])
    line = one_error_line(capfd.readouterr().err)
    assert rc == 1 and "disk full" in line and str(line_art) in line, line
    assert out.read_bytes() == b"old result" and line_art.read_bytes() == b"old line art"
    assert files_under(tmp_path) == {"g.png", "line.png"}


# --- batch: a bad shared input stops the job before it starts; bad images are per-task errors -------

@pytest.mark.parametrize("broken", ["text_as_png", "bomb_20000", "folder", "missing"])
def test_batch_colorize_checks_its_reference_first(tmp_path: Path, capfd, broken: str) -> None:
    sketches = tmp_path / "sketches"
    sketches.mkdir()
    save_image(sketches / "a.png", np.full((32, 32), 255, np.uint8))
    make, needle = BROKEN[broken]
    ref = make(tmp_path)
    out = tmp_path / "out"
    assert main(["batch", "colorize", "--input", str(sketches), "--reference", str(ref), "--output", str(out)]) == 1
    assert needle in one_error_line(capfd.readouterr().err).lower()
    assert not out.exists()


def test_batch_records_each_bad_image_and_writes_the_good_ones(tmp_path: Path, capfd) -> None:
    import json

    src = tmp_path / "in"
    src.mkdir()
    save_image(src / "good.png", picture())
    for name in ("zero_bytes", "truncated_png", "text_as_png", "bomb_20000"):
        BROKEN[name][0](src)
    out = tmp_path / "out"
    assert main(["batch", "lineart", "--input", str(src), "--output", str(out)]) == 1
    err = capfd.readouterr().err
    assert "Traceback" not in err
    rows = [json.loads(ln) for ln in (out / "manifest.jsonl").read_text().splitlines()]
    status = {Path(r["input"]).name: (r["status"], r.get("error") or "") for r in rows}
    assert status["good.png"][0] == "done"
    assert {k for k, (s, _) in status.items() if s == "error"} == {"zero.png", "t.png", "notes.png", "bomb.png"}
    assert "over the 64 MP limit" in status["bomb.png"][1]
    assert sorted(p.name for p in out.glob("*.png")) == ["good.png"]  # nothing partial for the bad ones


def test_png_encoding_refuses_what_it_cannot_write() -> None:
    """An empty array or a zlib level outside 0–9 is one ImageSaveError, not an OpenCV error."""
    for arr, level in ((np.zeros((0, 4, 3), np.uint8), 1), (np.zeros((4, 4, 3), np.uint8), 12)):
        with pytest.raises(ImageSaveError, match="cannot encode"):
            imageio.encode_image(arr, "PNG", png_level=level)
